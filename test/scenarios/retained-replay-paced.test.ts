/**
 * A retained replay larger than the outbound limit reaches the subscriber (issue 16,
 * item 5): the replay is paced by the subscriber's socket, so a WAMP subscriber of
 * 30,000 keys of 100 B or of five 1 MB values, and an MQTT `#` subscriber of 30,000
 * keys, receive every value with the default outbound limits and are not disconnected
 * as slow consumers. A live change during the replay arrives after it, exactly once:
 * a key replayed and then changed comes as replayed value then live change; a key
 * changed before its page was read is not delivered twice.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { IPublishPacket, MqttClient } from 'mqtt';
import { wsOptions, rawSocketTransport } from '../helpers/autobahn';
import { connectMqtt, endAll, publish, subscribe, uniqueId, waitFor } from '../helpers/mqtt-clients';
import { metricValue } from '../helpers/robustness';
import { destroyAllRawPeers, rawTransports } from '../helpers/raw-wamp';
import { publishAck } from '../helpers/retained';
import { startRouter, type TestRouter } from '../helpers/router';
import { closeAll, connectAs, withTimeout, type Client } from '../helpers/wamp-clients';

const KEYS = 30_000;
const VALUE = 'v'.repeat(100);
const BIG = 1_000_000;
const REPLAY_MS = 60_000;

let r: TestRouter;
const wamp: Client[] = [];
const mqttClients: MqttClient[] = [];

before(async () => {
  // default outbound limits: 1 MiB high water, 4 MiB queue
  r = await startRouter({ mqtt: { sysIntervalSeconds: 0 } });
  const realm = r.router.realm('realm1');
  assert.ok(realm, 'realm1');
  // seeded through the embedding API: the subject is the replay, not 30,000 publishes
  const writes: Promise<unknown>[] = [];
  for (let i = 0; i < KEYS; i++)
    writes.push(Promise.resolve(realm.publish(undefined, `many.k${pad(i)}`, { args: [VALUE] }, { retain: true })));
  const big = 'b'.repeat(BIG);
  for (let i = 0; i < 5; i++)
    writes.push(Promise.resolve(realm.publish(undefined, `big.v${i}`, { args: [`${i}${big}`] }, { retain: true })));
  await Promise.all(writes);
});

after(async () => {
  destroyAllRawPeers();
  await endAll(mqttClients);
  await closeAll(wamp);
  await r?.close();
});

function pad(i: number): string {
  return String(i).padStart(5, '0');
}

async function disconnectedSlowConsumers(gate: string): Promise<number> {
  return metricValue(await r.router.metrics.render(), 'gatehouse_slow_consumers_total', { gate, action: 'disconnected' });
}

interface Seen {
  topic: string;
  value: string;
  retained: boolean;
}

/**
 * The checks every replay shares. `seen` in arrival order; `changed` the keys a live
 * publish changed during the replay (to `live:<tag>:<key>`); `replayedBeforeChange` how many
 * retained values had arrived when those live publishes were acknowledged.
 */
function assertReplayThenLive(
  seen: readonly Seen[],
  keys: readonly string[],
  changed: readonly string[],
  replayedBeforeChange: number,
  tag: string,
): void {
  assert.ok(
    replayedBeforeChange < keys.length,
    `the live publishes came during the replay (${replayedBeforeChange} of ${keys.length} replayed)`,
  );
  let lastRetained = -1;
  seen.forEach((s, i) => {
    if (s.retained) lastRetained = i;
  });
  const firstLive = seen.findIndex((s) => !s.retained);
  assert.ok(
    firstLive > lastRetained,
    `live events after the replay (first live at ${firstLive}, last retained at ${lastRetained})`,
  );
  const retained = new Map<string, number>();
  for (const s of seen) if (s.retained) retained.set(s.topic, (retained.get(s.topic) ?? 0) + 1);
  for (const k of keys) {
    const n = retained.get(k) ?? 0;
    // the last key changed before its page was read: it comes live only; every other key once
    assert.equal(n, k === changed[1] ? 0 : 1, `${k} replayed ${n} times`);
  }
  for (const k of changed) {
    const live = seen.filter((s) => !s.retained && s.topic === k);
    assert.deepEqual(
      live.map((s) => s.value),
      [`live:${tag}:${k}`],
      `${k}: its live change exactly once`,
    );
    const replayed = seen.find((s) => s.retained && s.topic === k);
    if (replayed) assert.notEqual(replayed.value, `live:${tag}:${k}`, `${k}: the replay did not deliver the live value too`);
  }
}

for (const transport of ['websocket/json', 'rawsocket/json'] as const) {
  void test(`retained replay - a WAMP get_retained subscriber of ${KEYS} keys of 100 B receives all, then the live changes once [${transport}]`, async () => {
    const options =
      transport === 'websocket/json' ? wsOptions(r.wsUrl, 'json') : { transports: [rawSocketTransport(r.rawSocketUrl)] };
    const pub = await connectAs(wsOptions(r.wsUrl, 'msgpack'), 'publisher');
    const sub = await connectAs(options, 'subscriber');
    wamp.push(pub, sub);
    const dropsBefore = await disconnectedSlowConsumers('wamp');
    const keys = Array.from({ length: KEYS }, (_, i) => `many.k${pad(i)}`);
    // the first key is replayed before it changes; the last is changed before its page is read
    const changed = [keys[0] ?? '', keys[KEYS - 1] ?? ''];
    const seen: Seen[] = [];
    let firstEvent!: () => void;
    const started = new Promise<void>((resolve) => (firstEvent = resolve));
    await withTimeout(
      sub.session.subscribe(
        'many.',
        (args, _kw, details) => {
          seen.push({ topic: String(details['topic']), value: String(args[0]), retained: details['retained'] === true });
          firstEvent();
        },
        { match: 'prefix', get_retained: true },
      ),
      5000,
      'SUBSCRIBED',
    );
    await withTimeout(started, REPLAY_MS, 'the first replayed value');
    await Promise.all(
      changed.map((k) => publishAck(pub.session, k, [`live:${transport}:${k}`], undefined, { retain: true }, REPLAY_MS)),
    );
    const replayedBeforeChange = seen.filter((s) => s.retained).length;
    await waitFor(() => seen.filter((s) => !s.retained).length >= changed.length, 'the live changes', REPLAY_MS);
    assertReplayThenLive(seen, keys, changed, replayedBeforeChange, transport);
    assert.equal(await disconnectedSlowConsumers('wamp'), dropsBefore, 'no slow consumer disconnected');
    await sub.close();
  });
}

void test('retained replay - a WAMP wildcard get_retained subscriber of five 1 MB values receives all and stays connected', async () => {
  const sub = await connectAs(wsOptions(r.wsUrl, 'json'), 'subscriber');
  wamp.push(sub);
  const dropsBefore = await disconnectedSlowConsumers('wamp');
  const got = new Map<string, number>();
  await withTimeout(
    sub.session.subscribe(
      'big.*',
      (args, _kw, details) => {
        const v = String(args[0]);
        if (details['retained'] === true) got.set(String(details['topic']), v.length);
      },
      { match: 'exact', get_retained: true },
    ),
    5000,
    'SUBSCRIBED',
  );
  await waitFor(() => got.size === 5, 'five 1 MB values', REPLAY_MS);
  for (let i = 0; i < 5; i++) assert.equal(got.get(`big.v${i}`), BIG + 1);
  // still connected: a call goes through
  const sessions = await withTimeout(sub.session.call<number>('wamp.session.count'), 5000, 'wamp.session.count');
  assert.ok(sessions >= 1);
  assert.equal(await disconnectedSlowConsumers('wamp'), dropsBefore, 'no slow consumer disconnected');
  await sub.close();
});

for (const qos of [0, 1] as const) {
  void test(`retained replay - an MQTT subscriber of # (QoS ${qos}) receives ${KEYS} retained messages, then the live changes once`, async () => {
    const { client: pub } = await connectMqtt(r.mqttUrl, { protocolVersion: 4, clientId: uniqueId('rp') });
    const { client: sub } = await connectMqtt(r.mqttUrl, { protocolVersion: 5, clientId: uniqueId('rs') });
    mqttClients.push(pub, sub);
    const dropsBefore = await disconnectedSlowConsumers('mqtt');
    const keys = Array.from({ length: KEYS }, (_, i) => `many/k${pad(i)}`);
    const changed = [keys[0] ?? '', keys[KEYS - 1] ?? ''];
    const seen: Seen[] = [];
    let firstEvent!: () => void;
    const started = new Promise<void>((resolve) => (firstEvent = resolve));
    sub.on('message', (topic: string, payload: Buffer, packet: IPublishPacket) => {
      if (!topic.startsWith('many/')) return; // the five big values, other tests' keys
      seen.push({ topic, value: payload.toString(), retained: packet.retain });
      firstEvent();
    });
    await subscribe(sub, '#', { qos });
    await withTimeout(started, REPLAY_MS, 'the first replayed message');
    const closed = new Promise<void>((resolve) => sub.once('close', () => resolve()));
    await Promise.all(changed.map((k) => publish(pub, k, `live:mqtt${qos}:${k}`, { qos: 1, retain: true })));
    const replayedBeforeChange = seen.filter((s) => s.retained).length;
    await Promise.race([
      waitFor(() => seen.filter((s) => !s.retained).length >= changed.length, 'the live changes', REPLAY_MS),
      closed.then(() => assert.fail(`subscriber disconnected after ${seen.length} messages`)),
    ]);
    assertReplayThenLive(seen, keys, changed, replayedBeforeChange, `mqtt${qos}`);
    assert.equal(await disconnectedSlowConsumers('mqtt'), dropsBefore, 'no slow consumer disconnected');
    await endAll([pub, sub]);
  });
}

void test('retained replay - a subscriber that stops reading during its replay while live events pile up is disconnected as a slow consumer', async () => {
  const pub = await connectAs(wsOptions(r.wsUrl, 'msgpack'), 'publisher');
  wamp.push(pub);
  const dropsBefore = await disconnectedSlowConsumers('wamp');
  const transport = rawTransports(r.wsUrl, r.rawSocketPort).find((t) => t.name === 'rawsocket/json');
  assert.ok(transport);
  const peer = await transport.open();
  const sessionId = await peer.hello();
  // everything: ~9.5 MB of replay, more than the socket buffers take while it does not read
  peer.send([32, 1, { get_retained: true }, '#']);
  const subscribed = await peer.next(5000, 'SUBSCRIBED');
  assert.ok(Array.isArray(subscribed) && subscribed[0] === 33, `SUBSCRIBED, got ${JSON.stringify(subscribed)}`);
  peer.discard = true;
  peer.pauseReading();
  // live events for it are held until its replay is done: 24 x 256 KB is past the 4 MiB it may hold
  const blob = 'x'.repeat(256 * 1024);
  for (let i = 0; i < 24 && (await disconnectedSlowConsumers('wamp')) === dropsBefore; i++) {
    await publishAck(pub.session, 'flood.live', [i, blob], undefined, {}, 5000);
  }
  // (a peer that does not read does not see the close either: the router is asked)
  assert.ok((await disconnectedSlowConsumers('wamp')) > dropsBefore, 'counted as a slow consumer');
  const gone = await pub.session.call('wamp.session.get', [sessionId]).then(
    () => false,
    (err: { error?: string }) => err.error === 'wamp.error.no_such_session',
  );
  assert.ok(gone, 'the stalled session is gone');
});

void test('retained replay - UNSUBSCRIBE during a replay ends it: no EVENT for the subscription after UNSUBSCRIBED', async () => {
  const transport = rawTransports(r.wsUrl, r.rawSocketPort).find((t) => t.name === 'websocket/json');
  assert.ok(transport);
  const peer = await transport.open();
  await peer.hello();
  peer.send([32, 1, { match: 'prefix', get_retained: true }, 'many.']);
  const subscribed = await peer.next(5000, 'SUBSCRIBED');
  assert.ok(Array.isArray(subscribed) && subscribed[0] === 33, `SUBSCRIBED, got ${JSON.stringify(subscribed)}`);
  const subId = subscribed[2];
  const first = await peer.next(5000, 'the first replayed EVENT');
  assert.ok(Array.isArray(first) && first[0] === 36 && first[1] === subId);
  peer.send([34, 2, subId]);
  let events = 1;
  for (;;) {
    const m = await peer.next(REPLAY_MS, 'UNSUBSCRIBED');
    assert.ok(Array.isArray(m), JSON.stringify(m));
    if (m[0] === 35 && m[1] === 2) break;
    assert.equal(m[0], 36, `an EVENT before UNSUBSCRIBED, got ${JSON.stringify(m)}`);
    events++;
  }
  assert.ok(events < KEYS, `unsubscribed during the replay (${events} of ${KEYS} replayed)`);
  // the session goes on: a call is answered, and nothing of the replay came in between
  peer.send([48, 3, {}, 'wamp.session.count']);
  const result = await peer.next(5000, 'RESULT');
  assert.ok(Array.isArray(result) && result[0] === 50 && result[1] === 3, `RESULT, got ${JSON.stringify(result)}`);
  peer.destroy();
});
