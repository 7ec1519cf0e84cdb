/**
 * The admin console in a real browser: headless Chromium opens every view of /dashboard
 * on a router serving WAMP, MQTT and STOMP; sessions of autobahn, mqtt.js and stompjs
 * appear and vanish live, two are kicked from the page (each client gets its protocol's
 * close), a retained key is browsed and deleted, a STOMP queue's depth changes and it is
 * purged. A role without gatehouse.admin.* sees the refusals in the page.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import express from 'express';
import type { Page } from 'playwright-core';
import { Router } from '../../index';
import { connect, wsOptions } from '../helpers/autobahn';
import { launchChromium, PAGE_WAIT_MS, waitForText, watchProblems } from '../helpers/chromium';
import { connectMqtt, endAll, publish, serverDisconnect, subscribe } from '../helpers/mqtt-clients';
import { sendWithReceipt, StompjsClients, transportClosed, type IFrame } from '../helpers/stomp-clients';
import { allowAllBut } from '../helpers/router';
import { closeAll, type Client } from '../helpers/wamp-clients';

const ARTIFACTS = resolve(__dirname, '..', 'artifacts');

interface Served {
  base: string;
  wsUrl: string;
  mqttUrl: string;
  stompPort: number;
}

/** The daemon's arrangement: the console and WAMP at /ws on one HTTP server; MQTT and STOMP on their own ports. */
async function serve(t: TestContext, config: Record<string, unknown> = {}): Promise<Served> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-console-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const router = new Router({
    log: { level: process.env['GATEHOUSE_TEST_LOG'] ?? 'silent' },
    store: { path: join(dir, 'store.db') },
    mqtt: { sysIntervalSeconds: 0 },
    ...config,
  });
  const app = express();
  app.use('/dashboard', router.dashboard());
  const server = http.createServer(app);
  await router.listenWAMP({ server, path: '/ws' });
  const mqtt = await router.listenMQTT({ port: 0, host: '127.0.0.1' });
  const stomp = await router.listenSTOMP({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(async () => {
    await router.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  const port = (server.address() as AddressInfo).port;
  return {
    base: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    mqttUrl: `mqtt://127.0.0.1:${mqtt.port}`,
    stompPort: stomp.port,
  };
}

async function openView(page: Page, view: string): Promise<void> {
  await page.locator(`nav.views a[data-view="${view}"]`).click();
  await page.locator(`#view-${view}`).waitFor({ state: 'visible', timeout: PAGE_WAIT_MS });
}

async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const shot = join(ARTIFACTS, `console-${name}.png`);
  await page.screenshot({ path: shot, fullPage: true });
  assert.ok(statSync(shot).size > 1000, `the ${name} screenshot was written`);
}

/** The Sessions view's row of the session with this authid. */
function sessionRow(page: Page, authid: string) {
  return page
    .locator('#sessions tbody tr')
    .filter({ has: page.locator('td[data-field="authid"]', { hasText: new RegExp(`^${authid}$`) }) });
}

async function gone(page: Page, selector: string, what: string): Promise<void> {
  await page
    .locator(selector)
    .first()
    .waitFor({ state: 'detached', timeout: PAGE_WAIT_MS })
    .catch(() => assert.fail(`${what} is still shown`));
}

test(
  'console - every view live over WAMP, MQTT and STOMP; kick, store delete and queue purge from the page',
  { timeout: 240_000 },
  async (t) => {
    const served = await serve(t);
    const wamps: Client[] = [];
    const stompjs = new StompjsClients();
    t.after(async () => {
      await closeAll(wamps);
      await stompjs.closeAll();
    });
    const browser = await launchChromium(t, { viewport: { width: 1400, height: 900 } });
    const page = await browser.newPage();
    const problems = watchProblems(page);

    // Overview: the default view
    await page.goto(`${served.base}/dashboard`);
    await waitForText(page.locator('#connection'), `connected to ${served.wsUrl}`, 'connection state');
    assert.equal(await page.locator('nav.views a[aria-current="page"]').getAttribute('data-view'), 'overview');
    await waitForText(page.locator('#overview-cards [data-card="version"] .card-value'), '0.1.0', 'version card');
    await page.locator('#overview-cards [data-card="commit-time"] .card-value').waitFor({ timeout: PAGE_WAIT_MS });
    await waitForText(
      page.locator('#overview-sessions tr[data-gate="wamp"] td.num'),
      '1',
      'the console itself in the sessions per gate',
    );
    // two samples make a rate: the chart gets its lines
    await page.locator('#chart-messages polyline.series.in').waitFor({ timeout: PAGE_WAIT_MS });
    await screenshot(page, 'overview');

    // Sessions: one per protocol appears live, and vanishes live
    await openView(page, 'sessions');
    const w = await connect({ ...wsOptions(served.wsUrl, 'json'), authid: 'wamp-user' });
    wamps.push(w);
    const { client: mqtt } = await connectMqtt(served.mqttUrl, { clientId: 'mqtt-user', protocolVersion: 5, reconnectPeriod: 0 });
    t.after(() => endAll([mqtt]));
    const { client: stomp } = await stompjs.tcp(served.stompPort, { connectHeaders: { login: 'stomp-user' } });
    for (const [authid, gate] of [
      ['wamp-user', 'wamp'],
      ['mqtt-user', 'mqtt'],
      ['stomp-user', 'stomp'],
    ] as const) {
      await sessionRow(page, authid).waitFor({ timeout: PAGE_WAIT_MS });
      assert.equal(await sessionRow(page, authid).getAttribute('data-gate'), gate);
    }
    assert.match((await sessionRow(page, 'mqtt-user').textContent()) ?? '', /127\.0\.0\.1:\d+/, 'the peer address is shown');

    // detail: the MQTT session's subscription, live
    await subscribe(mqtt, 'sensors/+/temp', { qos: 1 });
    for (const v of ['20', '21']) await publish(mqtt, 'elsewhere/temp', v, { qos: 1 });
    await sessionRow(page, 'mqtt-user').click();
    await page.locator('#session-detail-subs li[data-uri="sensors..temp"]').waitFor({ timeout: PAGE_WAIT_MS });
    await waitForText(page.locator('#session-detail-fields dd[data-field="gate"]'), 'mqtt', 'detail gate');
    await waitForText(page.locator('#session-detail-fields dd[data-field="messages in"]'), '2', 'messages the session published');
    await screenshot(page, 'sessions');

    // Subscriptions and registrations, with counts that follow the clients
    await w.session.register('com.example.add', (args?: unknown[]) => args);
    await openView(page, 'subscriptions');
    await waitForText(
      page.locator('#subscriptions tr[data-uri="sensors..temp"] td[data-field="count"]'),
      '1',
      'subscriber count',
    );
    await w.session.subscribe('sensors..temp', () => undefined, { match: 'wildcard' });
    await waitForText(
      page.locator('#subscriptions tr[data-uri="sensors..temp"] td[data-field="count"]'),
      '2',
      'subscriber count after a WAMP subscriber',
    );
    assert.equal(await page.locator('#subscriptions tr[data-uri="sensors..temp"] td').nth(1).textContent(), 'wildcard');
    await screenshot(page, 'subscriptions');
    await openView(page, 'registrations');
    await waitForText(page.locator('#registrations tr[data-uri="com.example.add"] td[data-field="count"]'), '1', 'callee count');
    await screenshot(page, 'registrations');

    // sessions vanish live
    await openView(page, 'sessions');
    await sessionRow(page, 'wamp-user').waitFor({ timeout: PAGE_WAIT_MS });
    await w.close();
    await endAll([mqtt]);
    await sessionRow(page, 'wamp-user').waitFor({ state: 'detached', timeout: PAGE_WAIT_MS });
    await sessionRow(page, 'mqtt-user').waitFor({ state: 'detached', timeout: PAGE_WAIT_MS });

    // a persistent MQTT session whose client went stays listed, marked offline, live
    const { client: sleeper } = await connectMqtt(served.mqttUrl, {
      clientId: 'sleeper',
      protocolVersion: 5,
      clean: false,
      properties: { sessionExpiryInterval: 600 },
    });
    await sessionRow(page, 'sleeper').waitFor({ timeout: PAGE_WAIT_MS });
    assert.equal(await sessionRow(page, 'sleeper').locator('.badge.offline').count(), 0);
    await endAll([sleeper]);
    await sessionRow(page, 'sleeper').locator('.badge.offline').waitFor({ timeout: PAGE_WAIT_MS });

    // kick from the page: MQTT 5 gets DISCONNECT 0x98 with the reason, STOMP an ERROR
    const { client: victim } = await connectMqtt(served.mqttUrl, { clientId: 'kick-me', protocolVersion: 5, reconnectPeriod: 0 });
    t.after(() => endAll([victim]));
    const disconnect = serverDisconnect(victim, PAGE_WAIT_MS);
    await sessionRow(page, 'kick-me').click();
    await waitForText(page.locator('#session-detail-fields dd[data-field="authid"]'), 'kick-me', 'the selected session');
    await page.locator('#kick-reason').fill('maintenance window');
    await page.locator('#kick').click();
    const packet = (await disconnect) as { reasonCode?: number; properties?: { reasonString?: string } };
    assert.equal(packet.reasonCode, 0x98);
    assert.equal(packet.properties?.reasonString, 'maintenance window');
    await sessionRow(page, 'kick-me').waitFor({ state: 'detached', timeout: PAGE_WAIT_MS });
    assert.equal(await page.locator('#kick-status').getAttribute('data-outcome'), 'ok');

    let error: IFrame | undefined;
    stomp.onStompError = (f) => (error = f);
    const stompClosed = transportClosed(stomp, 'the kicked STOMP connection to close', PAGE_WAIT_MS);
    await sessionRow(page, 'stomp-user').click();
    await page.locator('#kick-reason').fill('bye');
    await page.locator('#kick').click();
    await stompClosed;
    assert.equal(error?.headers['message'], 'killed');
    await sessionRow(page, 'stomp-user').waitFor({ state: 'detached', timeout: PAGE_WAIT_MS });

    // kicking an offline session ends it
    await sessionRow(page, 'sleeper').click();
    await waitForText(
      page.locator('#session-detail-fields dd[data-field="state"]'),
      'offline (kept for its client)',
      'offline state',
    );
    await page.locator('#kick').click();
    await sessionRow(page, 'sleeper').waitFor({ state: 'detached', timeout: PAGE_WAIT_MS });

    // Retained store: browse by pattern, page, see a value, delete a key
    const pub = await connect(wsOptions(served.wsUrl, 'json'));
    wamps.push(pub);
    await pub.session.publish('config.limits', [{ max: 10 }], {}, { retain: true, acknowledge: true });
    await pub.session.publish('config.name', ['gatehouse'], {}, { retain: true, acknowledge: true });
    for (let i = 0; i < 52; i++)
      await pub.session.publish(`page.k${String(i).padStart(2, '0')}`, [i], {}, { retain: true, acknowledge: true });
    await openView(page, 'store');
    await page.locator('#store-pattern').fill('config.');
    await page.locator('#store-form button[type="submit"]').click();
    await page.locator('#store tr[data-key="config.name"]').waitFor({ timeout: PAGE_WAIT_MS });
    assert.equal(await page.locator('#store tbody tr').count(), 2);
    await page.locator('#store tr[data-key="config.limits"]').click();
    await waitForText(page.locator('#store-detail-key'), 'config.limits', 'the key shown');
    assert.deepEqual(JSON.parse((await page.locator('#store-detail-value').textContent()) ?? ''), { max: 10 });
    assert.match((await page.locator('#store-detail-meta').textContent()) ?? '', /^revision \d+, TTL none/);
    await screenshot(page, 'store');
    await page.locator('#store button[data-delete="config.limits"]').click();
    await gone(page, '#store tr[data-key="config.limits"]', 'the deleted key');
    await waitForText(page.locator('#store-status'), 'Deleted config.limits.', 'delete status');
    assert.equal(await pub.session.call('gatehouse.store.get', ['config.limits']), null, 'the key is gone from the store');
    // paged
    await page.locator('#store-pattern').fill('page.');
    await page.locator('#store-form button[type="submit"]').click();
    await page.locator('#store tr[data-key="page.k49"]').waitFor({ timeout: PAGE_WAIT_MS });
    assert.equal(await page.locator('#store tbody tr').count(), 50);
    await page.locator('#store-next').click();
    await page.locator('#store tr[data-key="page.k51"]').waitFor({ timeout: PAGE_WAIT_MS });
    assert.equal(await page.locator('#store tbody tr').count(), 2);
    assert.equal(await page.locator('#store-next').isDisabled(), true);

    // Queues: a STOMP queue's depth changes in the page, then it is purged
    const { client: producer } = await stompjs.tcp(served.stompPort);
    await sendWithReceipt(producer, '/queue/jobs', 'one');
    await sendWithReceipt(producer, '/queue/jobs', 'two');
    await openView(page, 'queues');
    const depth = page.locator('#queues tr[data-kind="queue"][data-queue="jobs"] td[data-field="messages"]');
    await waitForText(depth, '2', 'queue depth');
    await waitForText(page.locator('#queues tr[data-queue="jobs"] td[data-field="consumers"]'), '0', 'nobody consumes jobs');
    await sendWithReceipt(producer, '/queue/jobs', 'three');
    await waitForText(depth, '3', 'queue depth after one more');
    await screenshot(page, 'queues');
    await page.locator('#queues button[data-purge="queue:jobs"]').click();
    await waitForText(page.locator('#queues-status'), 'Purged 3 messages from jobs.', 'purge status');
    await gone(page, '#queues tr[data-queue="jobs"]', 'the purged queue');

    // Tables: still there (this router runs no aggregate engine)
    await openView(page, 'tables');
    await page.locator('#tables-empty').waitFor({ timeout: PAGE_WAIT_MS });
    await screenshot(page, 'tables');

    assert.deepEqual(problems, [], 'no console errors, page errors or failed requests');
  },
);

test('console - a role without gatehouse.admin.* sees the refusals in the page', { timeout: 180_000 }, async (t) => {
  const served = await serve(t, {
    auth: allowAllBut('gatehouse.admin.', ['call']),
  });
  const { client: mqtt } = await connectMqtt(served.mqttUrl, {
    clientId: 'not-kickable',
    protocolVersion: 5,
    reconnectPeriod: 0,
  });
  t.after(() => endAll([mqtt]));
  let closed = false;
  mqtt.on('close', () => (closed = true));
  const stompjs = new StompjsClients();
  t.after(() => stompjs.closeAll());
  const { client: producer } = await stompjs.tcp(served.stompPort);
  await sendWithReceipt(producer, '/queue/jobs', 'one');

  const browser = await launchChromium(t);
  const page = await browser.newPage();
  const problems = watchProblems(page);
  await page.goto(`${served.base}/dashboard`);
  await waitForText(page.locator('#connection'), `connected to ${served.wsUrl}`, 'connection state');
  const overviewRefusal = page.locator('#view-overview .refusal[data-error="wamp.error.not_authorized"]');
  await overviewRefusal.waitFor({ timeout: PAGE_WAIT_MS });
  assert.match((await overviewRefusal.textContent()) ?? '', /^Not authorized to read the router statistics/);
  await screenshot(page, 'refused-overview');

  // the session list needs only the meta API: it works; the detail and the kick are refused
  await openView(page, 'sessions');
  await sessionRow(page, 'not-kickable').click();
  await page.locator('#session-detail-refusal[data-error="wamp.error.not_authorized"]').waitFor({ timeout: PAGE_WAIT_MS });
  await page.locator('#kick').click();
  await page.locator('#kick-status[data-outcome="refused"]').waitFor({ timeout: PAGE_WAIT_MS });
  assert.match((await page.locator('#kick-status').textContent()) ?? '', /^Not authorized to kick/);
  assert.equal(closed, false, 'the client is still connected');
  await screenshot(page, 'refused-kick');

  await openView(page, 'queues');
  await page.locator('#view-queues .refusal[data-error="wamp.error.not_authorized"]').waitFor({ timeout: PAGE_WAIT_MS });
  assert.equal(await page.locator('#queues tbody tr').count(), 0);

  assert.deepEqual(problems, [], 'no console errors, page errors or failed requests');
});
