/**
 * Aggregate tables over real sockets and real clients: rows published over WAMP
 * (autobahn), MQTT (mqtt.js, 3.1.1 and 5) and STOMP (stompjs) update the same tables;
 * invalid rows are refused with the validation message on each protocol and change
 * nothing; the query RPCs page in key order; the change feed gives a `retained`
 * subscriber the current rows, then the live changes, without gap or duplicate.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { MqttClient, Packet } from 'mqtt';
import { wsOptions } from '../helpers/autobahn';
import { FIXTURE_DIR, type Detail } from '../helpers/aggregate';
import {
  connectMqtt,
  endAll,
  MessageLog,
  metricValue,
  publish as mqttPublish,
  subscribe as mqttSubscribe,
  waitFor,
} from '../helpers/mqtt-clients';
import { startRouter, type TestRouter } from '../helpers/router';
import { StompjsClients, sendWithReceipt, type IFrame } from '../helpers/stomp-clients';
import { call, closeAll, connectAs, errorOf, EventLog, subscribeLog, withTimeout, type Client } from '../helpers/wamp-clients';

let r: TestRouter;
let wamp: Client;
const stomp = new StompjsClients();
const mqttClients: MqttClient[] = [];

before(async () => {
  r = await startRouter({ aggregate: { dir: FIXTURE_DIR } });
  wamp = await connectAs(wsOptions(r.wsUrl, 'json'));
});
after(async () => {
  await endAll(mqttClients);
  await stomp.closeAll();
  await closeAll([wamp]);
  await r.close();
});

const detail = (invoice: string, line: number, customer: string, amount: number, extra: Partial<Detail> = {}): Detail => ({
  invoice,
  line,
  customer,
  product: 'nut',
  type: 'sale',
  amount,
  ...extra,
});

function publishRow(topic: string, row: object): Promise<unknown> {
  const p = wamp.session.publish(topic, [], { ...row }, { acknowledge: true });
  if (!p) throw new Error('acknowledge: a promise is expected');
  return withTimeout(p, 3000, `ack of ${topic}`);
}

const getRow = (table: string, key: Record<string, unknown>): Promise<{ row: Record<string, unknown> | null }> =>
  call(wamp.session, 'gatehouse.table.get', [], { table, key });

async function mqtt(version: 4 | 5): Promise<MqttClient> {
  const { client } = await connectMqtt(r.mqttUrl, { protocolVersion: version, clientId: `agg-${version}-${mqttClients.length}` });
  mqttClients.push(client);
  return client;
}

void test('aggregate tables - rows published over WAMP, MQTT 3.1.1, MQTT 5 and STOMP update the same tables', async () => {
  await publishRow('table.detail', detail('x1', 1, 'multi', 10));
  const m5 = await mqtt(5);
  await mqttPublish(m5, 'table/detail', JSON.stringify(detail('x1', 2, 'multi', 2.5)), { qos: 1 });
  const m4 = await mqtt(4);
  await mqttPublish(m4, 'table/detail', JSON.stringify(detail('x2', 1, 'multi', 7)), { qos: 1 });
  const { client: st } = await stomp.tcp(r.stompPort);
  await sendWithReceipt(st, '/topic/table.detail', JSON.stringify(detail('x3', 1, 'multi', 0.5)), {
    'content-type': 'application/json',
  });

  assert.deepEqual(await getRow('invoice', { customer: 'multi', invoice: 'x1' }), {
    row: { customer: 'multi', invoice: 'x1', total: 12.5, lines: 2 },
  });
  assert.deepEqual(await getRow('customer', { customer: 'multi' }), {
    row: { customer: 'multi', revenue: 20, invoices: 3, largest: 12.5, smallest: 0.5, average: 20 / 3 },
  });

  // deletes by key, over MQTT and STOMP
  await mqttPublish(m5, 'table/detail/delete', JSON.stringify({ invoice: 'x1', line: 1 }), { qos: 1 });
  await sendWithReceipt(st, '/topic/table.detail.delete', JSON.stringify({ invoice: 'x3', line: 1 }));
  assert.deepEqual(await getRow('customer', { customer: 'multi' }), {
    row: { customer: 'multi', revenue: 9.5, invoices: 2, largest: 7, smallest: 2.5, average: 4.75 },
  });
});

void test('aggregate tables - an invalid row is refused with the validation message on each protocol and changes nothing', async () => {
  await publishRow('table.detail', detail('v1', 1, 'valid', 10));
  const bad = { ...detail('v1', 1, 'valid', 10), amount: 'ten' };
  const message = 'table detail: /amount must be number';
  const rejectedBefore = await metricValue(r, 'gatehouse_aggregate_events_total', { table: 'detail', outcome: 'rejected' });
  // rows are routed as ordinary events too: a subscriber of the table topic sees the valid ones only
  const routed = new EventLog();
  await subscribeLog(wamp.session, 'table.detail', routed);

  // WAMP with acknowledge: ERROR wamp.error.invalid_argument with ajv's message
  const err = await errorOf(wamp.session.publish('table.detail', [], bad, { acknowledge: true }), 'PUBLISH of a bad row');
  assert.deepEqual(err, { error: 'wamp.error.invalid_argument', args: [message] });
  // WAMP without acknowledge: dropped, counted
  void wamp.session.publish('table.detail', [], bad);

  // MQTT 5: PUBACK 0x99 Payload format invalid, with the reason string
  const m5 = await mqtt(5);
  const acks: Packet[] = [];
  m5.on('packetreceive', (p) => {
    if (p.cmd === 'puback') acks.push(p);
  });
  await assert.rejects(mqttPublish(m5, 'table/detail', JSON.stringify(bad), { qos: 1 }));
  assert.equal(acks.length, 1);
  assert.deepEqual(
    { reasonCode: (acks[0] as { reasonCode?: number }).reasonCode, properties: (acks[0] as { properties?: unknown }).properties },
    {
      reasonCode: 0x99,
      properties: { reasonString: message },
    },
  );
  // a body that is not JSON is no row either
  await assert.rejects(mqttPublish(m5, 'table/detail', Buffer.from([0xff, 0x00]), { qos: 1 }));
  assert.equal((acks[1] as { reasonCode?: number } | undefined)?.reasonCode, 0x99);

  // MQTT 3.1.1 cannot refuse: acked, dropped, and the connection stays
  const m4 = await mqtt(4);
  await mqttPublish(m4, 'table/detail', JSON.stringify(bad), { qos: 1 });
  assert.equal(m4.connected, true);
  await mqttPublish(m4, 'table/detail', JSON.stringify(detail('v2', 1, 'valid', 1)), { qos: 1 });

  // STOMP: ERROR "invalid payload" with the receipt-id of the SEND and the message in the body
  const errors: IFrame[] = [];
  const { client: st } = await stomp.tcp(r.stompPort, { onStompError: (f) => errors.push(f) });
  st.publish({ destination: '/topic/table.detail', body: JSON.stringify(bad), headers: { receipt: 'bad-row' } });
  await waitFor(() => errors.length > 0, 'STOMP ERROR');
  assert.equal(errors[0]?.headers['message'], 'invalid payload');
  assert.equal(errors[0]?.headers['receipt-id'], 'bad-row');
  assert.equal(errors[0]?.body.trim(), message);

  // nothing changed but the one valid line (v2), and only it was routed
  // (an MQTT body reaches a WAMP subscriber as one argument, README "Payloads across protocols")
  const rowOf = (e: { args: unknown[]; kwargs: Record<string, unknown> }): Record<string, unknown> =>
    (e.args[0] ?? e.kwargs) as Record<string, unknown>;
  await routed.until((e) => rowOf(e)['invoice'] === 'v2', 'the valid row routed as an event');
  assert.deepEqual(
    routed.events.map(rowOf).filter((row) => row['customer'] === 'valid'),
    [detail('v2', 1, 'valid', 1)],
  );
  assert.deepEqual(await getRow('detail', { invoice: 'v1', line: 1 }), { row: detail('v1', 1, 'valid', 10) });
  assert.deepEqual(await getRow('customer', { customer: 'valid' }), {
    row: { customer: 'valid', revenue: 11, invoices: 2, largest: 10, smallest: 1, average: 5.5 },
  });
  const rejected =
    (await metricValue(r, 'gatehouse_aggregate_events_total', { table: 'detail', outcome: 'rejected' })) - rejectedBefore;
  assert.equal(rejected, 6, 'WAMP x2, MQTT 5 x2, MQTT 3.1.1, STOMP');
});

void test('aggregate tables - aggregate tables and change feeds cannot be published to', async () => {
  const e1 = await errorOf(
    wamp.session.publish('table.customer', [], { customer: 'forged', revenue: 1e9 }, { acknowledge: true }),
    'publish to an aggregate',
  );
  assert.equal(e1.error, 'wamp.error.not_authorized');
  const e2 = await errorOf(
    wamp.session.publish('table.detail.changes', [], { table: 'detail' }, { acknowledge: true }),
    'publish to a feed',
  );
  assert.equal(e2.error, 'wamp.error.not_authorized');
  const m5 = await mqtt(5);
  const acks: { reasonCode?: number }[] = [];
  m5.on('packetreceive', (p) => {
    if (p.cmd === 'puback') acks.push(p);
  });
  await assert.rejects(mqttPublish(m5, 'table/customer/changes', '{}', { qos: 1 }));
  assert.equal(acks[0]?.reasonCode, 0x87);
  assert.deepEqual(await getRow('customer', { customer: 'forged' }), { row: null });
});

void test('aggregate tables - gatehouse.table.list, get and query: key order, prefix, desc, paging', async () => {
  const list = await call<{ tables: { name: string; topic: string; primary_key: string[]; aggregate: unknown }[] }>(
    wamp.session,
    'gatehouse.table.list',
  );
  const byName = new Map(list.tables.map((t) => [t.name, t]));
  assert.deepEqual(byName.get('detail'), {
    ...byName.get('detail'),
    topic: 'table.detail',
    primary_key: ['invoice', 'line'],
    aggregate: null,
  });
  assert.deepEqual(byName.get('customer')?.aggregate, {
    revenue: 'sum',
    invoices: 'count',
    largest: 'max',
    smallest: 'min',
    average: 'avg',
  });

  // lines 1..12 of invoice q1 and 3 of q2: numeric key order (10 after 9), prefix by invoice
  const acks: Promise<unknown>[] = [];
  for (let line = 12; line >= 1; line--) acks.push(publishRow('table.detail', detail('q1', line, 'pager', line)));
  for (let line = 1; line <= 3; line++) acks.push(publishRow('table.detail', detail('q2', line, 'pager', 1)));
  await Promise.all(acks);

  type Page = { rows: { invoice: string; line: number }[]; next: string | null };
  const lines: number[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page: Page = await call(wamp.session, 'gatehouse.table.query', [], {
      table: 'detail',
      prefix: { invoice: 'q1' },
      limit: 5,
      ...(cursor ? { after: cursor } : {}),
    });
    assert.ok(page.rows.every((row) => row.invoice === 'q1'));
    lines.push(...page.rows.map((row) => row.line));
    cursor = page.next;
    pages++;
  } while (cursor !== null);
  assert.deepEqual(lines, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  assert.equal(pages, 3);

  const desc: Page = await call(wamp.session, 'gatehouse.table.query', [], {
    table: 'detail',
    prefix: { invoice: 'q2' },
    order: 'desc',
  });
  assert.deepEqual(
    desc.rows.map((row) => row.line),
    [3, 2, 1],
  );
  assert.equal(desc.next, null);

  const inv: Page = await call(wamp.session, 'gatehouse.table.query', [], { table: 'invoice', prefix: { customer: 'pager' } });
  assert.deepEqual(inv.rows, [
    { customer: 'pager', invoice: 'q1', total: 78, lines: 12 },
    { customer: 'pager', invoice: 'q2', total: 3, lines: 3 },
  ]);

  const noTable = await errorOf(wamp.session.call('gatehouse.table.get', [], { table: 'nope', key: {} }), 'get of no table');
  assert.equal(noTable.error, 'wamp.error.invalid_argument');
  const badPrefix = await errorOf(
    wamp.session.call('gatehouse.table.query', [], { table: 'detail', prefix: { line: 1 } }),
    'prefix not leading',
  );
  assert.equal(badPrefix.error, 'wamp.error.invalid_argument');
});

interface Change {
  table: string;
  op: 'insert' | 'update' | 'delete';
  key: Record<string, unknown>;
  old: Record<string, unknown> | null;
  new: Record<string, unknown> | null;
  revision: number;
}

void test('aggregate tables - a retained subscriber to a change feed gets the current rows, then live changes, no gap, no duplicate', async () => {
  const writer = await connectAs(wsOptions(r.wsUrl, 'msgpack'));
  const reader = await connectAs(wsOptions(r.wsUrl, 'cbor'));
  try {
    // a writer keeps changing 20 invoices of customer "feed" while the reader subscribes
    let stop = false;
    let n = 0;
    const acks: Promise<unknown>[] = [];
    let acked = 0;
    const pump = async (): Promise<void> => {
      while (!stop) {
        for (let i = 0; i < 10; i++) {
          n++;
          const row = detail(`f${n % 20}`, 1 + (n % 3), 'feed', n % 7);
          const p = writer.session.publish('table.detail', [], { ...row }, { acknowledge: true });
          if (p) acks.push(p.then(() => acked++));
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    const pumping = pump();
    await waitFor(() => acked >= 50, "the writer's changes flowing");
    const log = new EventLog();
    await subscribeLog(reader.session, 'table.invoice.changes', log, { retained: true });
    // the writer goes on after the subscription: live changes follow the current rows
    const ackedAtSubscribe = acked;
    await waitFor(() => acked >= ackedAtSubscribe + 50, 'changes written after the subscription');
    stop = true;
    await pumping;
    await Promise.all(acks);
    const final = await call<{ rows: Record<string, unknown>[] }>(reader.session, 'gatehouse.table.query', [], {
      table: 'invoice',
      prefix: { customer: 'feed' },
      limit: 1000,
    });
    await log.until(() => {
      const latest = new Map<string, unknown>();
      for (const e of log.events)
        latest.set(JSON.stringify((e.kwargs as unknown as Change).key), (e.kwargs as unknown as Change).new);
      return final.rows.every(
        (row) =>
          JSON.stringify(latest.get(JSON.stringify({ customer: 'feed', invoice: row['invoice'] }))) === JSON.stringify(row),
      );
    }, 'the feed to reach the final rows');

    const events = log.events.map((e) => ({ change: e.kwargs as unknown as Change, retained: e.details['retained'] === true }));
    const replayed = events.filter((e) => e.retained);
    const live = events.filter((e) => !e.retained);
    assert.ok(replayed.length > 0, 'rows existed when the reader subscribed');
    assert.ok(live.length > 0, 'changes happened after it subscribed');
    // the replay comes first, all inserts; then live changes with higher revisions
    assert.ok(events.findIndex((e) => !e.retained) >= replayed.length);
    assert.ok(replayed.every((e) => e.change.op === 'insert' && e.change.old === null));
    const feed = new Map<string, { row: Record<string, unknown> | null; revision: number }>();
    for (const { change } of events) {
      const id = JSON.stringify(change.key);
      const had = feed.get(id);
      if (had) {
        assert.ok(change.revision > had.revision, `no duplicate or reordering for ${id}`);
        // no gap: each live change starts from the row the subscriber already has
        assert.deepEqual(change.old, had.row, `the change of ${id} follows from what was seen`);
      } else if (change.op !== 'insert') {
        assert.fail(`first event of ${id} is ${change.op}, not insert: a gap`);
      }
      feed.set(id, { row: change.new, revision: change.revision });
    }
    const fromFeed = [...feed.values()]
      .map((v) => v.row)
      .filter((row): row is Record<string, unknown> => row !== null && row['customer'] === 'feed')
      .sort((a, b) => (String(a['invoice']) < String(b['invoice']) ? -1 : 1));
    assert.deepEqual(fromFeed, final.rows);
  } finally {
    await closeAll([writer, reader]);
  }
});

void test('aggregate tables - an MQTT subscriber to a change feed gets the current rows retained, then changes', async () => {
  await publishRow('table.detail', detail('m1', 1, 'mqtt-feed', 4));
  const log = new MessageLog();
  const { client } = await connectMqtt(r.mqttUrl, { protocolVersion: 5, clientId: 'agg-feed' }, log);
  mqttClients.push(client);
  await mqttSubscribe(client, 'table/customer/changes', { qos: 1 });
  const first = await log.count(1, 'retained rows');
  assert.ok(
    first.every((m) => m.packet.retain),
    'replayed rows carry the retain flag',
  );
  const mine = (): Change[] =>
    log.messages.map((m) => JSON.parse(m.payload.toString()) as Change).filter((c) => c.key['customer'] === 'mqtt-feed');
  await waitFor(() => mine().length === 1, 'the replayed row of mqtt-feed');
  assert.deepEqual(mine()[0]?.new, { customer: 'mqtt-feed', revenue: 4, invoices: 1, largest: 4, smallest: 4, average: 4 });
  await publishRow('table.detail', detail('m1', 1, 'mqtt-feed', 6));
  await waitFor(() => mine().length === 2, 'the live change');
  const live = log.messages.find((m) => (JSON.parse(m.payload.toString()) as Change).revision === mine()[1]?.revision);
  assert.equal(live?.packet.retain, false);
  assert.deepEqual({ op: mine()[1]?.op, revenue: mine()[1]?.new?.['revenue'] }, { op: 'update', revenue: 6 });
});
