/**
 * WAMP testaments and MQTT wills with `store.engine: "jetstream"` (issue 12): each one a
 * session sets is recorded in the meta bucket (lib/store/leases.ts) so that another node
 * fires it when its node dies. Two in-process routers on one nats-server; router 1
 * "dies" by stopping its lease renewal (its sessions stay connected).
 *
 * What ended while router 1 lived (a WAMP session's normal end, an MQTT connection lost,
 * a clean MQTT DISCONNECT) leaves no record behind: fired once locally, or not at all,
 * and nothing fires again when router 1's lease lapses. A testament still standing then
 * fires once, on router 2; the session ending afterwards on router 1 does not fire it a
 * second time (router 1's claim of the record fails). An MQTT 5 will with a Will Delay
 * Interval fired by another node waits its delay from the claim, payload bytes intact.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Kvm, type KV } from '@nats-io/kv';
import { wsOptions } from '../helpers/autobahn';
import { connectMqtt, MessageLog, uniqueId } from '../helpers/mqtt-clients';
import { natsClient, startNats, type Cleanup } from '../helpers/nats';
import { startRouter, type TestRouter } from '../helpers/router';
import { expectQuiet, waitFor } from '../helpers/wait';
import { closeAll, connectAs, EventLog, subscribeLog, withTimeout, type Client } from '../helpers/wamp-clients';

const LEASE_MS = 1000;

const stops: (() => Promise<void>)[] = [];
const suite: Cleanup = { after: (fn) => stops.push(fn) };
const routers: TestRouter[] = [];
const clients: Client[] = [];
let meta: KV;

before(async () => {
  const nats = await startNats(suite);
  const config = {
    store: { path: ':memory:', engine: 'jetstream', nats: { servers: [nats.url], bucket: 'testaments', leaseMs: LEASE_MS } },
  };
  // router 3 dies in the second test
  routers.push(await startRouter(config), await startRouter(config), await startRouter(config));
  const nc = await natsClient(suite, nats.url);
  meta = await new Kvm(nc).open('testaments__meta');
});
after(async () => {
  await closeAll(clients);
  for (const r of routers) await r.close();
  for (const stop of stops.reverse()) await stop();
});

function router(i: number): TestRouter {
  const r = routers[i];
  assert.ok(r, `router ${i}`);
  return r;
}

async function client(on: number, authid: string): Promise<Client> {
  const c = await connectAs(wsOptions(router(on).wsUrl, 'json'), authid);
  clients.push(c);
  return c;
}

/** The testament records (`will.<node>.<session>._t<id>`) router `on`'s node has in the meta bucket. */
async function records(on: number): Promise<string[]> {
  const node = router(on).router.storeNode?.node;
  assert.ok(node, 'the jetstream engine runs');
  const found = new Set<string>();
  for await (const k of await meta.keys(`will.${node}.>`)) if (/\._t[^.]*$/.test(k)) found.add(k);
  return [...found];
}

const topics = (log: EventLog): string[] => log.events.map((e) => String(e.details['topic'])).sort();

test('jetstream testaments - what ended while its node lived leaves no record; a lapse fires only what still stands, once', async () => {
  // no cluster between the two routers here: what router 1 fires is seen on router 1,
  // what router 2 fires on router 2
  const [here, there] = await Promise.all([client(0, 'watcher-1'), client(1, 'watcher-2')]);
  const log = new EventLog();
  const remote = new EventLog();
  await subscribeLog(here.session, 'jt.gone', log, { match: 'prefix' });
  await subscribeLog(there.session, 'jt.gone', remote, { match: 'prefix' });

  // a WAMP session with a testament, then its normal end: fired once, here
  const ended = await client(0, 'ended');
  await withTimeout(ended.session.call('wamp.session.add_testament', ['jt.gone.ended', ['wamp'], {}]), 10_000, 'add_testament');
  // an MQTT will whose connection is lost: fired once, here
  const lost = await connectMqtt(router(0).mqttUrl, {
    will: { topic: 'jt/gone/lost', payload: Buffer.from('lost'), qos: 1, retain: false },
  });
  // an MQTT will cancelled by a clean DISCONNECT: never fired
  const clean = await connectMqtt(router(0).mqttUrl, {
    will: { topic: 'jt/gone/clean', payload: Buffer.from('clean'), qos: 1, retain: false },
  });
  // a testament still standing when router 1 dies
  const standing = await client(0, 'standing');
  await withTimeout(
    standing.session.call('wamp.session.add_testament', ['jt.gone.standing', ['wamp'], {}]),
    10_000,
    'add_testament',
  );
  await waitFor(async () => (await records(0)).length === 4, 'four records in the meta bucket', 10_000);

  await withTimeout(ended.close(), 10_000, 'WAMP GOODBYE');
  lost.client.stream.destroy();
  await withTimeout(new Promise<void>((resolve) => clean.client.end(false, {}, () => resolve())), 10_000, 'MQTT DISCONNECT');
  await log.count(2, 'the ended testament and the lost will', 10_000);
  assert.deepEqual(topics(log), ['jt.gone.ended', 'jt.gone.lost']);
  await waitFor(async () => (await records(0)).length === 1, 'only the standing testament is left recorded', 10_000);

  const node = router(0).router.storeNode;
  assert.ok(node);
  node.stopRenewing(); // router 1 "dies": its sessions stay connected, its lease lapses
  await remote.count(1, 'the standing testament, from router 2', 3 * LEASE_MS + 8000);
  assert.deepEqual(topics(remote), ['jt.gone.standing']);
  assert.deepEqual(await records(0), [], 'the lapse claimed every record');

  // the standing session now ends on router 1: its claim fails, it does not fire again
  await withTimeout(standing.close(), 10_000, 'WAMP GOODBYE');
  await router(1).router.storeNode?.check();
  await expectQuiet(LEASE_MS);
  assert.deepEqual(topics(log), ['jt.gone.ended', 'jt.gone.lost'], "fired once on router 1, the clean DISCONNECT's will never");
  assert.deepEqual(topics(remote), ['jt.gone.standing'], 'fired once on router 2');
});

test('jetstream testaments - an MQTT 5 will with a delay, its node dead: another node publishes it once its delay ran out after the claim', async () => {
  const watcher = await connectMqtt(router(1).mqttUrl, { protocolVersion: 5, clientId: uniqueId('jt-watch') });
  const log = new MessageLog(watcher.client);
  await new Promise<void>((resolve, reject) =>
    watcher.client.subscribe('jt/delayed', { qos: 1 }, (err) => (err ? reject(err) : resolve())),
  );
  const payload = Buffer.from([0, 1, 2, 0xff, 0xfe]);
  const { client } = await connectMqtt(router(2).mqttUrl, {
    protocolVersion: 5,
    clientId: uniqueId('jt-will'),
    properties: { sessionExpiryInterval: 60 },
    will: { topic: 'jt/delayed', payload, qos: 1, retain: false, properties: { willDelayInterval: 2 } },
  });
  await waitFor(async () => (await records(2)).length === 1, 'the will recorded', 10_000);
  const node = router(2).router.storeNode;
  assert.ok(node);
  const stoppedAt = Date.now();
  node.stopRenewing(); // router 3 "dies" with its client connected
  const [m] = await log.count(1, 'the delayed will, from router 2', 3 * LEASE_MS + 2000 + 8000);
  const waited = Date.now() - stoppedAt;
  // the lease lapses at least 2/3 lease after the stop (renewed every third); then 2 s
  assert.ok(waited >= 2000 + (2 * LEASE_MS) / 3, `published ${waited} ms after the stop: the delay counts from the claim`);
  assert.deepEqual(m?.payload, payload);
  assert.deepEqual(await records(2), []);
  client.end(true);
  watcher.client.end(true);
});
