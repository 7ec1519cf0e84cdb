// MQTT <-> WAMP through one router, mqtt.js (over TCP: the scenario matrix runs MQTT over
// WebSocket too, test/scenarios/matrix.test.ts) against autobahn:
// wildcard subscriptions on both sides (`+`/`#` <-> WAMP wildcard match, `a.*.c`,
// `a.#`, prefix), payload conversion (JSON bytes <-> args[0], other bytes <-> binary,
// WAMP args/kwargs -> JSON), the topic translation rule for a level holding `.`, and
// MQTT 5 properties (user properties, content type, correlation data) as EVENT details.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { IClientOptions, MqttClient } from 'mqtt';
import {
  connectMqtt,
  endAll,
  joinWamp,
  MessageLog,
  publish,
  subscribe,
  uniqueId,
  waitFor,
  withTimeout,
  WAIT_MS,
} from '../../helpers/mqtt-clients';
import { startRouter, type TestRouter } from '../../helpers/router';
import type { AutobahnSession } from '../../helpers/autobahn';
import { RawWampClient } from '../../helpers/wamp-clients';
import { expectQuiet } from '../../helpers/wait';

let router: TestRouter;
const clients: MqttClient[] = [];
let wamp: Awaited<ReturnType<typeof joinWamp>>;
let wampMsgpack: Awaited<ReturnType<typeof joinWamp>>;
before(async () => {
  router = await startRouter({ mqtt: { sysIntervalSeconds: 0 } });
  wamp = await joinWamp(router);
  wampMsgpack = await joinWamp(router, 'realm1', 'msgpack');
});
after(async () => {
  await endAll(clients);
  await wamp.close();
  await wampMsgpack.close();
  await router.close();
});

async function open(url: string, opts: IClientOptions = { protocolVersion: 5 }): Promise<MqttClient> {
  const { client } = await connectMqtt(url, { clientId: uniqueId('x'), ...opts });
  clients.push(client);
  return client;
}

interface WampEvent {
  args: unknown[];
  kwargs: Record<string, unknown>;
  details: Record<string, unknown>;
}

async function wampLog(
  s: AutobahnSession,
  topic: string,
  options?: Record<string, unknown>,
): Promise<{ events: WampEvent[]; unsubscribe(): Promise<unknown> }> {
  const events: WampEvent[] = [];
  const sub = await withTimeout(
    s.subscribe(topic, (args, kwargs, details) => events.push({ args: args ?? [], kwargs: kwargs ?? {}, details }), options),
    WAIT_MS,
    `WAMP subscribe ${topic}`,
  );
  return { events, unsubscribe: () => sub.unsubscribe() };
}

async function wampPublish(
  s: AutobahnSession,
  topic: string,
  args?: unknown[],
  kwargs?: Record<string, unknown>,
  options: Record<string, unknown> = {},
): Promise<void> {
  const p = s.publish(topic, args, kwargs, { ...options, acknowledge: true });
  if (!p) throw new Error('no PUBLISHED promise');
  await withTimeout(p, WAIT_MS, `PUBLISHED ${topic}`);
}

void describe('mqtt cross-protocol', () => {
  void it('mqtt - an MQTT publish reaches WAMP wildcard, in-URI wildcard, # and prefix subscribers with the JSON value as args[0]', async () => {
    const root = 'sensors';
    const wild = await wampLog(wamp.session, `${root}..temp`, { match: 'wildcard' });
    const star = await wampLog(wamp.session, `${root}.*.temp`);
    const hash = await wampLog(wamp.session, `${root}.#`);
    const prefix = await wampLog(wamp.session, root, { match: 'prefix' });
    const c = await open(router.mqttUrl);
    await publish(c, `${root}/room1/temp`, JSON.stringify({ c: 21.5, ok: true }), { qos: 1 });
    await publish(c, `${root}/room1/humidity`, '55', { qos: 1 });
    for (const [name, log, n] of [
      ['wildcard', wild, 1],
      ['a.*.c', star, 1],
      ['a.#', hash, 2],
      ['prefix', prefix, 2],
    ] as const) {
      await waitFor(() => log.events.length >= n, `${name} events`);
      assert.deepEqual(log.events[0]?.args, [{ c: 21.5, ok: true }], name);
      assert.equal(log.events[0]?.details['topic'], `${root}.room1.temp`, name);
    }
    assert.deepEqual(hash.events[1]?.args, [55]);
    await expectQuiet();
    assert.equal(wild.events.length, 1, 'the wildcard does not match humidity');
    for (const l of [wild, star, hash, prefix]) await l.unsubscribe();
    await endAll([c]);
  });

  void it('mqtt - a WAMP publish reaches MQTT + and # subscribers as JSON bytes', async () => {
    const root = 'w2m';
    const c = await open(router.mqttUrl);
    const log = new MessageLog(c);
    await subscribe(c, `${root}/+/temp`, { qos: 1 });
    await wampPublish(wamp.session, `${root}.room2.temp`, [{ c: 19 }]);
    const [m] = await log.count(1, 'the WAMP event over +');
    assert.equal(m?.topic, `${root}/room2/temp`);
    assert.deepEqual(JSON.parse(m?.payload.toString() ?? ''), { c: 19 });
    const c2 = await open(router.mqttUrl, { protocolVersion: 4 });
    const log2 = new MessageLog(c2);
    await subscribe(c2, `${root}/#`, { qos: 0 });
    await wampPublish(wamp.session, `${root}`, ['top']);
    await wampPublish(wamp.session, `${root}.a.b.c`, [1, 'two', null]);
    await wampPublish(wamp.session, `${root}.kw`, [], { k: 'v' });
    await wampPublish(wamp.session, `${root}.both`, [1], { k: 'v' });
    await wampPublish(wamp.session, `${root}.none`);
    const got = await log2.count(5, '# events');
    assert.deepEqual(
      got.map((x) => [x.topic, x.payload.toString()]),
      [
        [root, '"top"'],
        [`${root}/a/b/c`, '[1,"two",null]'],
        [`${root}/kw`, '{"k":"v"}'],
        [`${root}/both`, '{"args":[1],"kwargs":{"k":"v"}}'],
        [`${root}/none`, ''],
      ],
    );
    await endAll([c, c2]);
  });

  void it('mqtt - non-JSON MQTT bytes arrive in WAMP as binary, and a WAMP binary argument arrives in MQTT as the raw bytes', async () => {
    const root = 'bin';
    const bytes = Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0xff]);
    const json = await wampLog(wamp.session, `${root}.raw`);
    const packed = await wampLog(wampMsgpack.session, `${root}.raw`);
    const c = await open(router.mqttUrl);
    await publish(c, `${root}/raw`, bytes, { qos: 1 });
    await publish(c, `${root}/raw`, 'not json {', { qos: 1 });
    await waitFor(() => json.events.length >= 2 && packed.events.length >= 2, 'binary events');
    // JSON carries bytes as "\u0000" + base64; msgpack as native binary
    assert.deepEqual(json.events[0]?.args, ['\u0000' + bytes.toString('base64')]);
    assert.deepEqual(Buffer.from(packed.events[0]?.args[0] as Uint8Array), bytes);
    assert.deepEqual(Buffer.from(packed.events[1]?.args[0] as Uint8Array).toString(), 'not json {');
    const log = new MessageLog(c);
    await subscribe(c, `${root}/back`, { qos: 1 });
    await wampPublish(wampMsgpack.session, `${root}.back`, [bytes]);
    await wampPublish(wamp.session, `${root}.back`, ['\u0000' + bytes.toString('base64')]);
    const got = await log.count(2, 'binary from WAMP');
    assert.deepEqual(got[0]?.payload, bytes, 'msgpack binary');
    assert.deepEqual(got[1]?.payload, bytes, 'JSON "\\u0000"+base64 binary');
    await json.unsubscribe();
    await packed.unsubscribe();
    await endAll([c]);
  });

  void it("mqtt - a level holding '.' round-trips: MQTT a/b.c is WAMP a.b%2Ec", async () => {
    const root = 'dot';
    const w = await wampLog(wamp.session, `${root}.b%2Ec`);
    const c = await open(router.mqttUrl);
    const log = new MessageLog(c);
    await subscribe(c, `${root}/b.c`, { qos: 1 });
    await subscribe(c, `${root}/b/c`, { qos: 1 });
    await publish(c, `${root}/b.c`, '"from mqtt"', { qos: 1 });
    await waitFor(() => w.events.length >= 1, 'the WAMP event');
    assert.deepEqual(w.events[0]?.args, ['from mqtt']);
    await wampPublish(wamp.session, `${root}.b%2Ec`, ['from wamp']);
    await wampPublish(wamp.session, `${root}.b.c`, ['other topic']);
    const got = await log.count(3, 'MQTT messages');
    assert.deepEqual(
      got.map((m) => [m.topic, m.payload.toString()]),
      [
        [`${root}/b.c`, '"from mqtt"'],
        [`${root}/b.c`, '"from wamp"'],
        [`${root}/b/c`, '"other topic"'],
      ],
    );
    await w.unsubscribe();
    await endAll([c]);
  });
});

void describe('mqtt headers to WAMP', () => {
  void it('mqtt - MQTT 5 user properties, content type, response topic and correlation data appear in WAMP EVENT details', async () => {
    // autobahn hides EVENT details it does not know: read the wire with the raw client
    const raw = await RawWampClient.open(router.wsUrl);
    try {
      const subId = await raw.subscribe('hdr.x');
      const c = await open(router.mqttUrl);
      await publish(c, 'hdr/x', '{"a":1}', {
        qos: 1,
        properties: {
          userProperties: { source: 'sensor-7', tags: ['a', 'b'] },
          contentType: 'application/json',
          correlationData: Buffer.from('corr-1'),
          responseTopic: 'hdr/reply',
        },
      });
      const ev = await raw.event(subId, 'the EVENT');
      const d = (ev[3] ?? {}) as Record<string, unknown>;
      assert.deepEqual(ev[4], [{ a: 1 }]);
      assert.deepEqual(d['user_properties'], { source: 'sensor-7', tags: ['a', 'b'] });
      assert.equal(d['content_type'], 'application/json');
      assert.equal(d['response_topic'], 'hdr.reply');
      assert.equal(d['correlation_data'], '\u0000' + Buffer.from('corr-1').toString('base64'));
      await endAll([c]);
    } finally {
      await raw.close();
    }
  });

  void it('mqtt - WAMP publish options user_properties and content_type reach an MQTT 5 subscriber as properties', async () => {
    const c = await open(router.mqttUrl);
    const log = new MessageLog(c);
    await subscribe(c, 'hdr/fromwamp', { qos: 1 });
    await wampPublish(wamp.session, 'hdr.fromwamp', [1], undefined, { user_properties: { k: 'v' }, content_type: 'text/plain' });
    const [m] = await log.count(1, 'the MQTT message');
    assert.deepEqual({ ...m?.packet.properties?.userProperties }, { k: 'v' });
    assert.equal(m?.packet.properties?.contentType, 'text/plain');
    await endAll([c]);
  });

  void it('mqtt - a WAMP publish with empty user_properties still reaches an MQTT 5 QoS 1 subscriber, and the next one too', async () => {
    const c = await open(router.mqttUrl);
    const log = new MessageLog(c);
    await subscribe(c, 'hdr/empty', { qos: 1 });
    await wampPublish(wamp.session, 'hdr.empty', ['first'], undefined, { user_properties: {} });
    await wampPublish(wamp.session, 'hdr.empty', ['second']);
    await log.count(2, 'both messages');
    assert.deepEqual(log.texts(), ['"first"', '"second"']);
    assert.equal(log.messages[0]?.packet.properties?.userProperties, undefined);
    await endAll([c]);
  });
});
