// STOMP <-> MQTT <-> WAMP through one router (README "Topic notation", "Payloads across
// protocols"; gates/stomp/payload.ts): a STOMP SEND to /topic/a.b reaches MQTT a/b (the
// exact bytes, headers as MQTT 5 properties) and WAMP a.b (a JSON body as args[0], other
// bytes as binary); MQTT publishes reach STOMP /topic/ wildcard subscriptions byte-exact
// with their properties as headers; WAMP publishes reach STOMP as JSON with
// content-type application/json (a single binary argument as its raw bytes).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import type { AutobahnSession } from '../../helpers/autobahn';
import { connectMqtt, endAll, joinWamp, MessageLog, publish, subscribe, uniqueId } from '../../helpers/mqtt-clients';
import { RawWampClient } from '../../helpers/wamp-clients';
import {
  Inbox,
  sendWithReceipt,
  StompjsClients,
  subscribeConfirmed,
  waitFor,
  withReceipt,
  withTimeout,
  WAIT_MS,
  type StompClient,
} from '../../helpers/stomp-clients';
import { startRouter, type TestRouter } from '../../helpers/router';

let router: TestRouter;
let wamp: Awaited<ReturnType<typeof joinWamp>>;
let wampMsgpack: Awaited<ReturnType<typeof joinWamp>>;
const mqttClients: MqttClient[] = [];
const stompjs = new StompjsClients();

before(async () => {
  router = await startRouter({ mqtt: { sysIntervalSeconds: 0 } });
  wamp = await joinWamp(router);
  wampMsgpack = await joinWamp(router, 'realm1', 'msgpack');
});
after(async () => {
  await endAll(mqttClients);
  await stompjs.closeAll();
  await wamp.close();
  await wampMsgpack.close();
  await router.close();
});

async function mqttClient(version: 4 | 5 = 5): Promise<{ client: MqttClient; log: MessageLog }> {
  const log = new MessageLog();
  const { client } = await connectMqtt(router.mqttUrl, { clientId: uniqueId('stomp-x'), protocolVersion: version }, log);
  mqttClients.push(client);
  return { client, log };
}

interface WampEvent {
  args: unknown[];
  kwargs: Record<string, unknown>;
  details: Record<string, unknown>;
}

async function wampLog(s: AutobahnSession, topic: string, options?: Record<string, unknown>): Promise<WampEvent[]> {
  const events: WampEvent[] = [];
  await withTimeout(
    s.subscribe(topic, (args, kwargs, details) => events.push({ args: args ?? [], kwargs: kwargs ?? {}, details }), options),
    WAIT_MS,
    `WAMP subscribe ${topic}`,
  );
  return events;
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

async function stompSubscriber(destination: string): Promise<{ client: StompClient; inbox: Inbox }> {
  const { client } = await stompjs.ws(router.stompWsUrl);
  const inbox = new Inbox();
  await subscribeConfirmed(client, destination, inbox, { id: 'x' });
  return { client, inbox };
}

describe('stomp cross-protocol', () => {
  it('stomp - a STOMP SEND to /topic/a.b reaches MQTT a/b (exact bytes, MQTT 5 properties) and WAMP a.b (JSON as args[0])', async () => {
    const { client: m, log } = await mqttClient(5);
    await subscribe(m, 'xp/s2o/temp', { qos: 1 });
    const { client: m4, log: log4 } = await mqttClient(4);
    await subscribe(m4, 'xp/s2o/#', { qos: 0 });
    const events = await wampLog(wamp.session, 'xp.s2o.temp');
    const { client } = await stompjs.tcp(router.stompPort);
    const body = '{"c":21.5,"ok":true}';
    await sendWithReceipt(client, '/topic/xp.s2o.temp', body, {
      'content-type': 'application/json',
      'correlation-id': 'corr-9',
      'x-trace': 't1',
      'reply-to': '/topic/xp.s2o.replies',
    });
    const [got] = await log.count(1, 'MQTT 5 message');
    assert.equal(got?.topic, 'xp/s2o/temp');
    assert.equal(got?.payload.toString(), body, 'the exact bytes');
    const props = got?.packet.properties ?? {};
    assert.equal(props.contentType, 'application/json');
    assert.equal(Buffer.from(props.correlationData ?? []).toString(), 'corr-9');
    assert.equal(props.responseTopic, 'xp/s2o/replies');
    assert.deepEqual({ ...props.userProperties }, { 'x-trace': 't1' });
    const [got4] = await log4.count(1, 'MQTT 3.1.1 message over #');
    assert.equal(got4?.payload.toString(), body);
    await waitFor(() => events.length >= 1, 'WAMP event');
    assert.deepEqual(events[0]?.args, [{ c: 21.5, ok: true }]);
  });

  it('stomp - non-JSON STOMP bytes (NULs included) reach MQTT byte-exact and WAMP as binary', async () => {
    const { client: m, log } = await mqttClient(5);
    await subscribe(m, 'xp/bin', { qos: 1 });
    const json = await wampLog(wamp.session, 'xp.bin');
    const packed = await wampLog(wampMsgpack.session, 'xp.bin');
    const { client } = await stompjs.ws(router.stompWsUrl);
    const bytes = Buffer.from([0xde, 0xad, 0x00, 0xbe, 0xef, 0x00]);
    await withReceipt(client, 'binary SEND', (receipt) =>
      client.publish({ destination: '/topic/xp.bin', binaryBody: bytes, headers: { receipt } }),
    );
    const [got] = await log.count(1, 'MQTT binary');
    assert.deepEqual(got?.payload, bytes);
    await waitFor(() => json.length >= 1 && packed.length >= 1, 'WAMP binary events');
    assert.deepEqual(json[0]?.args, ['\u0000' + bytes.toString('base64')], 'JSON carries bytes as "\\u0000" + base64');
    assert.deepEqual(Buffer.from(packed[0]?.args[0] as Uint8Array), bytes, 'msgpack carries bytes natively');
  });

  it('stomp - STOMP headers appear in WAMP EVENT details (content_type, user_properties)', async () => {
    // autobahn hides EVENT details it does not know: read the wire
    const raw = await RawWampClient.open(router.wsUrl);
    try {
      const sub = await raw.subscribe('xp.details');
      const { client } = await stompjs.ws(router.stompWsUrl);
      await sendWithReceipt(client, '/topic/xp.details', '[1,2]', { 'content-type': 'application/json', 'x-a': 'b' });
      const ev = await raw.event(sub, 'WAMP EVENT');
      assert.deepEqual(ev[4], [[1, 2]]);
      const details = (ev[3] ?? {}) as Record<string, unknown>;
      assert.equal(details['content_type'], 'application/json');
      assert.deepEqual(details['user_properties'], { 'x-a': 'b' });
    } finally {
      await raw.close();
    }
  });

  it('stomp - an MQTT publish reaches STOMP subscribers of /topic/a.* and /topic/a.#, byte-exact, with its properties as headers', async () => {
    const star = await stompSubscriber('/topic/xp.m2s.*');
    const hash = await stompSubscriber('/topic/xp.#');
    const { client: m } = await mqttClient(5);
    const bytes = Buffer.from([1, 0, 2, 255]);
    await publish(m, 'xp/m2s/room1', bytes, {
      qos: 1,
      properties: {
        contentType: 'application/x-raw',
        userProperties: { unit: 'C' },
        correlationData: Buffer.from('cd-1'),
        responseTopic: 'xp/m2s/answers',
      },
    });
    await publish(m, 'xp/m2s/room1/deeper', 'not for *', { qos: 1 });
    const [s] = await star.inbox.count(1, 'STOMP /topic/a.* message');
    assert.equal(s?.headers['destination'], '/topic/xp.m2s.room1');
    assert.deepEqual([...(s?.binaryBody ?? [])], [...bytes]);
    assert.equal(s?.headers['content-type'], 'application/x-raw');
    assert.equal(s?.headers['unit'], 'C');
    assert.equal(s?.headers['correlation-id'], 'cd-1');
    assert.equal(s?.headers['reply-to'], '/topic/xp.m2s.answers');
    const got = await hash.inbox.count(2, 'STOMP /topic/a.# messages');
    assert.deepEqual(
      got.map((x) => x.headers['destination']),
      ['/topic/xp.m2s.room1', '/topic/xp.m2s.room1.deeper'],
    );
    await star.inbox.quiet(1, 100, '* matches one word only');
  });

  it('stomp - a WAMP publish reaches STOMP as JSON with content-type application/json; a binary argument as its bytes', async () => {
    const { inbox } = await stompSubscriber('/topic/xp.w2s.#');
    await wampPublish(wamp.session, 'xp.w2s.one', [{ x: 1 }]);
    await wampPublish(wamp.session, 'xp.w2s.many', [1, 'two', null]);
    await wampPublish(wamp.session, 'xp.w2s.kw', [], { k: 'v' });
    await wampPublish(wamp.session, 'xp.w2s.both', [1], { k: 'v' });
    const bytes = Buffer.from([0, 1, 2, 3]);
    await wampPublish(wampMsgpack.session, 'xp.w2s.bin', [bytes]);
    const got = await inbox.count(5, 'WAMP events over STOMP');
    assert.deepEqual(
      got.slice(0, 4).map((m) => [m.headers['destination'], m.headers['content-type'], m.body]),
      [
        ['/topic/xp.w2s.one', 'application/json', '{"x":1}'],
        ['/topic/xp.w2s.many', 'application/json', '[1,"two",null]'],
        ['/topic/xp.w2s.kw', 'application/json', '{"k":"v"}'],
        ['/topic/xp.w2s.both', 'application/json', '{"args":[1],"kwargs":{"k":"v"}}'],
      ],
    );
    const bin = got[4];
    assert.equal(bin?.headers['destination'], '/topic/xp.w2s.bin');
    assert.deepEqual([...(bin?.binaryBody ?? [])], [...bytes]);
    assert.equal(bin?.headers['content-type'], undefined, 'raw bytes are not labelled JSON');
  });

  it('stomp - a WAMP publish with content_type keeps it; a STOMP SEND reaches a WAMP prefix subscription', async () => {
    const { inbox } = await stompSubscriber('/topic/xp.ct');
    await wampPublish(wamp.session, 'xp.ct', ['<b/>'], undefined, { content_type: 'text/xml' });
    const [m] = await inbox.count(1, 'WAMP event with content_type');
    assert.equal(m?.headers['content-type'], 'text/xml');
    const prefix = await wampLog(wamp.session, 'xp.pre', { match: 'prefix' });
    const { client } = await stompjs.ws(router.stompWsUrl);
    await sendWithReceipt(client, '/topic/xp.pre.a.b', '"s"');
    await waitFor(() => prefix.length >= 1, 'WAMP prefix event');
    assert.equal(prefix[0]?.details['topic'], 'xp.pre.a.b');
    assert.deepEqual(prefix[0]?.args, ['s']);
  });
});
