/**
 * The dashboard in a real browser: headless Chromium opens /dashboard on a router that
 * runs the aggregate engine with the fixture tables (fox-wamp's invoice/detail example),
 * the test publishes invoice lines over MQTT (mqtt.js) and WAMP (autobahn), and the page
 * must show the new per-customer totals, in the table and in the chart.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import express from 'express';
import type { Locator, Page } from 'playwright-core';
import { Router } from '../../index';
import { FIXTURE_DIR } from '../helpers/aggregate';
import { connect, wsOptions, type AutobahnSession } from '../helpers/autobahn';
import { launchChromium, waitForText, watchProblems } from '../helpers/chromium';
import { connectMqtt, endAll, publish } from '../helpers/mqtt-clients';

const ARTIFACTS = resolve(__dirname, '..', 'artifacts');
/** the page, the router and the browser share two cores with the rest of the suite */
const WAIT_MS = 20_000;

interface Served {
  base: string;
  port: number;
  wsUrl: string;
  mqttUrl: string;
  /** router.close() (GOODBYE to every session), then the HTTP server */
  close(): Promise<void>;
}

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-dashboard-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * The daemon's arrangement: one HTTP server carrying the dashboard and WAMP at /ws, the
 * store in `dir`, the tables of `tables` ('' runs no aggregate engine). `port` 0 picks one.
 */
async function serve(t: TestContext, dir: string, port = 0, tables = FIXTURE_DIR): Promise<Served> {
  const router = new Router({
    log: { level: process.env['GATEHOUSE_TEST_LOG'] ?? 'silent' },
    store: { path: join(dir, 'store.db') },
    aggregate: { dir: tables },
  });
  const app = express();
  app.use('/dashboard', router.dashboard());
  const server = http.createServer(app);
  await router.listenWAMP({ server, path: '/ws' });
  const mqtt = await router.listenMQTT({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      await router.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    })());
  t.after(close);
  const actual = (server.address() as AddressInfo).port;
  return {
    base: `http://127.0.0.1:${actual}`,
    port: actual,
    wsUrl: `ws://127.0.0.1:${actual}/ws`,
    mqttUrl: `mqtt://127.0.0.1:${mqtt.port}`,
    close,
  };
}

/** A row of the shown table, by its primary key values. */
function row(page: Page, ...key: unknown[]): Locator {
  return page.locator(`#rows-body tr[data-key='${JSON.stringify(key)}']`);
}

async function expectCustomer(page: Page, customer: string, revenue: string, invoices: string): Promise<void> {
  await waitForText(row(page, customer).locator('td[data-field="revenue"]'), revenue, `${customer} revenue`);
  await waitForText(row(page, customer).locator('td[data-field="invoices"]'), invoices, `${customer} invoices`);
}

function detail(
  invoice: string,
  line: number,
  customer: string,
  product: string,
  amount: number,
  type = 'sale',
): Record<string, unknown> {
  return { invoice, line, customer, product, type, amount };
}

async function wampPublish(session: AutobahnSession, topic: string, kwargs: Record<string, unknown>): Promise<void> {
  await session.publish(topic, [], kwargs, { acknowledge: true });
}

test(
  'dashboard - Chromium shows live per-customer totals from invoice lines published over MQTT and WAMP',
  { timeout: 180_000 },
  async (t) => {
    const served = await serve(t, tempDir(t));
    const wamp = await connect(wsOptions(served.wsUrl, 'json'));
    t.after(() => wamp.close());
    const { client: mqtt } = await connectMqtt(served.mqttUrl, { clientId: 'dashboard-test', protocolVersion: 5 });
    t.after(() => endAll([mqtt]));
    const mqttPublish = (row: Record<string, unknown>): Promise<void> =>
      publish(mqtt, 'table/detail', JSON.stringify(row), { qos: 1 });

    // a row that exists before the page opens: the change feed's retained replay shows it
    await wampPublish(wamp.session, 'table.detail', detail('I-1', 1, 'initech', 'stapler', 12.5));

    const browser = await launchChromium(t);
    const page = await browser.newPage();
    const problems = watchProblems(page);

    await page.goto(`${served.base}/dashboard/#view=tables`);
    await waitForText(page.locator('#connection'), `connected to ${served.wsUrl}`, 'connection state');
    assert.equal(await page.locator('#connection').getAttribute('data-state'), 'connected');
    await waitForText(page.locator('#realm'), 'realm1', 'realm');
    const names = await page.locator('#table-list button').evaluateAll((els) => els.map((e) => e.getAttribute('data-table')));
    assert.deepEqual([...names].sort(), ['customer', 'detail', 'invoice', 'product']);

    await page.locator('button[data-table="customer"]').click();
    await waitForText(page.locator('#table-title'), 'customer', 'the selected table');
    assert.equal(await page.locator('button[data-table="customer"]').getAttribute('aria-current'), 'true');
    await expectCustomer(page, 'initech', '12.5', '1');

    // invoice A-1 arrives over MQTT, G-1 over WAMP, A-2 over MQTT again
    await mqttPublish(detail('A-1', 1, 'acme', 'anvil', 100.25));
    await mqttPublish(detail('A-1', 2, 'acme', 'rocket', 50));
    await wampPublish(wamp.session, 'table.detail', detail('G-1', 1, 'globex', 'magnet', 75.5));
    await mqttPublish(detail('A-2', 1, 'acme', 'anvil', 20));
    // a refund line is filtered out of the sales tables: no change to acme
    await wampPublish(wamp.session, 'table.detail', detail('A-2', 2, 'acme', 'anvil', -20, 'refund'));
    await expectCustomer(page, 'acme', '170.25', '2');
    await expectCustomer(page, 'globex', '75.5', '1');

    // an update over MQTT and a delete over WAMP change the totals in place
    await mqttPublish(detail('G-1', 1, 'globex', 'magnet', 1080));
    await wampPublish(wamp.session, 'table.detail.delete', { invoice: 'A-1', line: 2 });
    await expectCustomer(page, 'globex', '1,080', '1');
    await expectCustomer(page, 'acme', '120.25', '2');
    assert.equal(await page.locator('#rows-body tr').count(), 3, 'one row per customer');
    // rows stay in key order however they arrived
    const order = await page.locator('#rows-body tr td[data-field="customer"]').allTextContents();
    assert.deepEqual(order, ['acme', 'globex', 'initech']);

    // the chart: one bar per customer, the selected aggregate field, largest first
    assert.equal(await page.locator('#chart-field').inputValue(), 'revenue');
    await waitForText(page.locator(`#chart g.bar[data-key='["acme"]'] .bar-value`), '120.25', 'acme bar');
    const bars = await page.locator('#chart g.bar .bar-label').allTextContents();
    assert.deepEqual(bars, ['globex', 'acme', 'initech']);
    const widths = await page.locator('#chart g.bar rect').evaluateAll((els) => els.map((e) => Number(e.getAttribute('width'))));
    assert.ok(widths[0]! > widths[1]! && widths[1]! > widths[2]!, `bar widths follow the values: ${widths.join(', ')}`);

    // another field of the aggregate in the chart
    await page.locator('#chart-field').selectOption('invoices');
    await waitForText(page.locator(`#chart g.bar[data-key='["acme"]'] .bar-value`), '2', 'acme invoices bar');

    // text from a publisher is shown as text, never as markup
    await wampPublish(wamp.session, 'table.detail', detail('X-1', 1, '<img src=x onerror=alert(1)>', 'trap', 1));
    await expectCustomer(page, '<img src=x onerror=alert(1)>', '1', '1');
    assert.equal(await page.locator('#rows-body img, #chart img').count(), 0);

    // a long label is shown whole in the chart, not cut off
    const long = 'Consolidated Widgets and Sprockets International Holdings GmbH & Co. KG';
    await wampPublish(wamp.session, 'table.detail', detail('X-2', 1, long, 'trap', 2));
    await expectCustomer(page, long, '2', '1');
    const label = page.locator(`#chart g.bar[data-key='${JSON.stringify([long])}'] .bar-label`);
    await waitForText(label, long, 'long chart label');
    const fits = await label.evaluate((el) => {
      const text = el as SVGTextElement;
      const box = text.getBBox();
      const view = (text.ownerSVGElement as SVGSVGElement).viewBox.baseVal;
      return box.x >= 0 && box.x + box.width <= view.width;
    });
    assert.ok(fits, 'the long label lies inside the chart');

    await page.locator('#chart-field').selectOption('revenue');
    await waitForText(page.locator(`#chart g.bar[data-key='["globex"]'] .bar-value`), '1,080', 'globex bar');
    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = join(ARTIFACTS, 'dashboard.png');
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok(statSync(shot).size > 1000, 'the screenshot was written');

    // a link to one table opens it directly, replaying its current rows
    await page.goto(`${served.base}/dashboard/#table=product`);
    await waitForText(page.locator('#table-title'), 'product', 'the table named in the URL');
    await waitForText(row(page, 'anvil').locator('td[data-field="revenue"]'), '120.25', 'anvil revenue');

    assert.deepEqual(problems, [], 'no console errors, page errors or failed requests');
  },
);

test(
  'dashboard - the page shows a router restart, reconnects by itself and shows the rows again',
  { timeout: 180_000 },
  async (t) => {
    const dir = tempDir(t);
    const first = await serve(t, dir);
    const wamp = await connect(wsOptions(first.wsUrl, 'json'));
    await wampPublish(wamp.session, 'table.detail', detail('A-1', 1, 'acme', 'anvil', 10));
    await wamp.close();

    const browser = await launchChromium(t);
    const page = await browser.newPage();
    // expected here: the browser logs each refused WebSocket attempt while the router is
    // away, and autobahn's GOODBYE reply to the router's GOODBYE finds the socket closing
    const problems = watchProblems(page, /WebSocket connection to .* failed|WebSocket is already in CLOSING or CLOSED state/);
    await page.goto(`${first.base}/dashboard/#table=customer`);
    await expectCustomer(page, 'acme', '10', '1');

    // a graceful shutdown says GOODBYE wamp.close.system_shutdown, after which autobahn
    // does not retry by itself: the page must
    await first.close();
    await page.locator('#connection[data-state="retrying"]').waitFor({ timeout: WAIT_MS });
    assert.match((await page.locator('#connection').textContent()) ?? '', /wamp\.close\.system_shutdown/);
    await waitForText(page.locator('#table-status'), 'not connected: the rows shown may be out of date', 'table status');
    await expectCustomer(page, 'acme', '10', '1');

    // the same store on the same port; a line arrives over MQTT while the page reconnects
    const second = await serve(t, dir, first.port);
    const { client: mqtt } = await connectMqtt(second.mqttUrl, { clientId: 'dashboard-restart', protocolVersion: 5 });
    t.after(() => endAll([mqtt]));
    await publish(mqtt, 'table/detail', JSON.stringify(detail('A-2', 1, 'acme', 'rocket', 5)), { qos: 1 });
    await waitForText(page.locator('#connection'), `connected to ${second.wsUrl}`, 'connection state after the restart');
    await expectCustomer(page, 'acme', '15', '2');
    assert.deepEqual(problems, [], 'no other console errors, page errors or failed requests');
  },
);

test('dashboard - without an aggregate engine the page says why there are no tables', { timeout: 120_000 }, async (t) => {
  const served = await serve(t, tempDir(t), 0, '');
  const browser = await launchChromium(t);
  const page = await browser.newPage();
  const problems = watchProblems(page);
  await page.goto(`${served.base}/dashboard/#view=tables`);
  await waitForText(page.locator('#connection'), `connected to ${served.wsUrl}`, 'connection state');
  await waitForText(
    page.locator('#tables-empty'),
    'This router has no aggregate tables. Start it with --aggregates DIR (or aggregate.dir in the config file) pointing at a folder of table definitions; see "Aggregate tables" in the README.',
    'tables message',
  );
  assert.equal(await page.locator('#table-list li').count(), 0);
  assert.deepEqual(problems, [], 'no console errors, page errors or failed requests');
});
