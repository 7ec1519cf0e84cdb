/**
 * Demo: a sales dashboard fed over two protocols. Invoice lines (fox-wamp's README
 * invoice/detail example) go to the aggregate engine's `detail` table, one invoice over
 * MQTT, the next over WAMP; the engine keeps the per-invoice, per-product and
 * per-customer totals, and the dashboard page shows them change live.
 *
 *   npx tsx democli/sales-dashboard.ts --embedded [--port 8080] [--stay]
 *       starts a router with the fixture tables (test/fixtures/aggregate) and the
 *       dashboard on http://127.0.0.1:8080/dashboard, then feeds it
 *   npx tsx democli/sales-dashboard.ts [--url ws://127.0.0.1:8080/ws] [--mqtt-url mqtt://127.0.0.1:1883]
 *       feeds a running router whose config has aggregate.dir = test/fixtures/aggregate
 *
 * What goes over the wire (realm realm1):
 *   MQTT  PUBLISH table/detail          {"invoice":"…","line":1,"customer":"acme",…}  QoS 1
 *   MQTT  PUBLISH table/detail/delete   {"invoice":"…","line":1}                      QoS 1
 *   WAMP  PUBLISH table.detail          [] {invoice, line, customer, …}   { acknowledge: true }
 *   WAMP  PUBLISH table.detail.delete   [] {invoice, line}                { acknowledge: true }
 * Every few invoices an earlier line is corrected or cancelled, over the other protocol.
 * At the end the demo reads the `customer` table with CALL gatehouse.table.query and
 * checks each customer's revenue and invoice count against the lines it sent: exit 0
 * when they match, 1 when not.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import express from 'express';
import mqtt, { type MqttClient } from 'mqtt';
import { Router } from '../index';
import { type CustomerTotals, type FeedStep, SalesFeed } from './lib/sales-feed';
import {
  connect,
  describeError,
  flags,
  positiveInt,
  say,
  type Connected,
  type DemoSession,
  type FlagSpec,
} from './lib/wamp-session';

const TABLES_DIR = resolve(__dirname, '..', 'test', 'fixtures', 'aggregate');

const USAGE = `
usage: npx tsx democli/sales-dashboard.ts [--embedded [--port 8080] [--stay] | --url ws://127.0.0.1:8080/ws
       --mqtt-url mqtt://127.0.0.1:1883] [--realm realm1] [--invoices 30] [--interval 300]

  --embedded      start a router with the sales tables and the dashboard in this process
  --port N        its HTTP port (dashboard and WAMP at /ws); 0 picks a free one (default 8080)
  --stay          keep the embedded router running after the feed, until Ctrl-C
  --mqtt-url URL  the running router's MQTT listener (default mqtt://127.0.0.1:1883)
  --invoices N    invoices to send (default 30)
  --interval MS   pause between publishes, to watch the page change (default 300; 0: none)
`;

const FLAGS: FlagSpec = {
  embedded: { type: 'boolean' },
  port: { type: 'string' },
  stay: { type: 'boolean' },
  'mqtt-url': { type: 'string' },
  invoices: { type: 'string' },
  interval: { type: 'string' },
};

interface Customer {
  customer: string;
  revenue: number;
  invoices: number;
}

interface Embedded {
  url: string;
  mqttUrl: string;
  close(): Promise<void>;
}

/** A router like the daemon's, with the sales tables: dashboard + WAMP on one port, MQTT on its own. */
async function startEmbedded(port: number): Promise<Embedded> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-sales-'));
  const router = new Router({ log: { level: 'warn' }, store: { path: join(dir, 'store.db') }, aggregate: { dir: TABLES_DIR } });
  const app = express();
  app.use('/dashboard', router.dashboard());
  const server = http.createServer(app);
  await router.listenWAMP({ server, path: '/ws' });
  const mqttListener = await router.listenMQTT({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((ok, fail) => server.once('error', fail).listen(port, '127.0.0.1', ok));
  const actual = (server.address() as AddressInfo).port;
  say(`dashboard: http://127.0.0.1:${actual}/dashboard/#table=customer (the admin console's Tables view, on the customer table)`);
  return {
    url: `ws://127.0.0.1:${actual}/ws`,
    mqttUrl: `mqtt://127.0.0.1:${mqttListener.port}`,
    close: async () => {
      await router.close();
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function connectMqtt(url: string): Promise<MqttClient> {
  return new Promise((ok, fail) => {
    const client = mqtt.connect(url, { clientId: `sales-${process.pid}`, reconnectPeriod: 0, connectTimeout: 10_000 });
    client.once('connect', () => ok(client));
    client.once('error', (err) => {
      client.end(true);
      fail(new Error(`cannot connect to ${url}: ${err.message}`));
    });
  });
}

/** Every row of the customer table, page by page. */
async function customers(session: DemoSession): Promise<Map<string, Customer>> {
  const out = new Map<string, Customer>();
  let after: unknown = undefined;
  do {
    const page = await session.call<{ rows: Customer[]; next: unknown }>('gatehouse.table.query', [], {
      table: 'customer',
      limit: 500,
      ...(after === undefined ? {} : { after }),
    });
    for (const row of page.rows) out.set(row.customer, row);
    after = page.next ?? undefined;
  } while (after !== undefined);
  return out;
}

const cents = (amount: number): number => Math.round(amount * 100);
const money = (c: number): string => (c / 100).toFixed(2);

/** Sends one step over the protocol chosen for it, and waits for the router's ack. */
async function send(step: FeedStep, over: 'MQTT' | 'WAMP', client: MqttClient, session: DemoSession): Promise<void> {
  const topic = step.kind === 'upsert' ? 'table.detail' : 'table.detail.delete';
  const body = step.kind === 'upsert' ? step.row : step.key;
  if (over === 'MQTT') await client.publishAsync(topic.replace(/\./g, '/'), JSON.stringify(body), { qos: 1 });
  else await session.publish(topic, [], { ...body }, { acknowledge: true });
  const detail =
    step.kind === 'upsert' ? `  ${step.row.customer}  ${step.row.product}  ${step.row.type} ${step.row.amount.toFixed(2)}` : '';
  say(`${over}  ${step.why}${detail}`);
}

/** Prints each customer's totals next to what the lines say; true when all match. */
function check(before: Map<string, Customer>, after: Map<string, Customer>, sent: Map<string, CustomerTotals>): boolean {
  let ok = true;
  const names = [...new Set([...before.keys(), ...after.keys(), ...sent.keys()])].sort();
  say('customer      revenue   invoices   (expected)');
  for (const name of names) {
    const base = before.get(name);
    const add = sent.get(name) ?? { cents: 0, invoices: 0 };
    const wantCents = (base ? cents(base.revenue) : 0) + add.cents;
    const wantInvoices = (base?.invoices ?? 0) + add.invoices;
    const got = after.get(name);
    const gotCents = got ? cents(got.revenue) : 0;
    const gotInvoices = got?.invoices ?? 0;
    const match = gotCents === wantCents && gotInvoices === wantInvoices;
    if (!match) ok = false;
    say(
      `${name.padEnd(10)} ${money(gotCents).padStart(10)} ${String(gotInvoices).padStart(10)}   (${money(wantCents)}, ${wantInvoices})${match ? '' : '  MISMATCH'}`,
    );
  }
  return ok;
}

const pause = (ms: number): Promise<void> => new Promise((ok) => setTimeout(ok, ms));

async function main(): Promise<number> {
  const { url: givenUrl, realm, values } = flags(USAGE, FLAGS);
  const invoices = positiveInt('invoices', values['invoices'], 30);
  const interval = values['interval'] === '0' ? 0 : positiveInt('interval', values['interval'], 300);
  const port = values['port'] === '0' ? 0 : positiveInt('port', values['port'], 8080);

  const embedded = values['embedded'] === true ? await startEmbedded(port) : undefined;
  const url = embedded?.url ?? givenUrl;
  const mqttUrl = embedded?.mqttUrl ?? (typeof values['mqtt-url'] === 'string' ? values['mqtt-url'] : 'mqtt://127.0.0.1:1883');
  let wamp: Connected | undefined;
  let client: MqttClient | undefined;
  try {
    wamp = await connect(url, realm);
    client = await connectMqtt(mqttUrl);
    const before = await customers(wamp.session);
    // a prefix per run: invoices of earlier runs against the same router stay as they are
    const feed = new SalesFeed(`INV-${Date.now().toString(36).toUpperCase()}-`);
    const counts = { MQTT: 0, WAMP: 0 };
    say(`${invoices} invoices to ${url} (WAMP) and ${mqttUrl} (MQTT), realm ${realm}`);
    for (let i = 0; i < invoices; i++) {
      const over = i % 2 === 0 ? 'MQTT' : 'WAMP';
      const other = over === 'MQTT' ? 'WAMP' : 'MQTT';
      for (const step of feed.invoice()) {
        // corrections and cancellations travel over the other protocol than the invoice
        const via = step.late ? other : over;
        await send(step, via, client, wamp.session);
        counts[via]++;
        if (interval > 0) await pause(interval);
      }
    }
    say(`sent ${counts.MQTT} messages over MQTT and ${counts.WAMP} over WAMP`);
    const ok = check(before, await customers(wamp.session), feed.totals());
    say(ok ? 'customer totals match the invoice lines: OK' : 'customer totals do NOT match the invoice lines: FAILED');
    if (ok && embedded && values['stay'] === true) {
      say('the router keeps running for the dashboard; Ctrl-C to stop');
      await new Promise<void>((ok) => process.once('SIGINT', ok).once('SIGTERM', ok));
    }
    return ok ? 0 : 1;
  } finally {
    client?.end(true);
    await wamp?.close();
    await embedded?.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`sales-dashboard: ${describeError(err)}\n`);
    process.exit(1);
  },
);
