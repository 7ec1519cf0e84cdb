// MQTT 3.1.1 conformance (OASIS Standard, 29 October 2014): each test checks one or a
// few normative statements, named in the test, on the wire with a raw client
// (test/helpers/mqtt-raw.ts): the exact packets the router sends back (type, flags,
// return code, packet identifier) or that it closes the connection, and by when.
// Where the router takes one side of a MAY or SHOULD, the test name says which.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { IConnectPacket, IPublishPacket, ISubackPacket } from 'mqtt-packet';
import {
  clientId,
  closeAllRaw,
  connectBytes,
  frame,
  lengthPrefixed,
  nextPublish,
  publish,
  RawMqtt,
  str,
  subscribe,
  text,
  type Received,
} from '../../helpers/mqtt-raw';
import { ManualClock } from '../../helpers/clock';
import { startRouter, type TestRouter } from '../../helpers/router';

const V = 4;
/** how soon a connection must close once the router has a reason to close it */
const CLOSE_MS = 1000;
/** how long "nothing arrives" is watched for */
const QUIET_MS = 300;

let router: TestRouter;
/** keep alive runs on it: the tests move it instead of waiting through the interval */
const clock = new ManualClock();
before(async () => {
  // no $SYS publications: they would reach '$SYS/#' subscribers at their own pace
  router = await startRouter({ mqtt: { sysIntervalSeconds: 0 } }, { clock });
});
afterEach(closeAllRaw);
after(async () => {
  await closeAllRaw();
  await router.close();
});

let topicSeq = 0;
/** A topic no other test uses (retained messages outlive tests). */
function topic(tag: string): string {
  return `conf311/${tag}/${++topicSeq}`;
}

/** PINGREQ -> PINGRESP: the router has handled every packet `c` sent before (one connection, in order) */
async function handled(c: RawMqtt): Promise<void> {
  c.send({ cmd: 'pingreq' });
  await c.take('pingresp', 'PINGRESP behind the packets sent before');
}

/** A connected client; CONNACK must accept. */
async function client(connect: Partial<IConnectPacket> = {}): Promise<RawMqtt> {
  const { client: c, connack } = await RawMqtt.connect(router.mqttPort, V, connect);
  assert.equal(connack.returnCode, 0, 'CONNACK return code');
  return c;
}

/** A raw TCP connection, no CONNECT sent. */
function socket(): Promise<RawMqtt> {
  return RawMqtt.open(router.mqttPort, V);
}

/** The connection closes within CLOSE_MS and nothing was sent after the first `from` packets. */
async function closedWithoutReply(c: RawMqtt, what: string, from = 0): Promise<void> {
  await c.waitClosed(what, CLOSE_MS);
  assert.deepEqual(
    c.received.slice(from).map((r) => r.packet.cmd),
    [],
    `${what}: the router closes without answering`,
  );
}

function cmds(rs: readonly Received[]): string[] {
  return rs.map((r) => r.packet.cmd);
}

/** PUBLISH by hand (3.1.1 layout). */
function publishBytes(opts: {
  topic: readonly number[];
  qos?: number;
  id?: number;
  retain?: boolean;
  dup?: boolean;
  payload?: string;
  header?: number;
}): Buffer {
  const qos = opts.qos ?? 0;
  const first = opts.header ?? 0x30 | (opts.dup ? 0x08 : 0) | (qos << 1) | (opts.retain ? 1 : 0);
  const id = opts.id ?? 1;
  return frame(first, [...opts.topic, ...(qos > 0 ? [id >> 8, id & 0xff] : []), ...Buffer.from(opts.payload ?? 'x')]);
}

/** The will the tests use: on `willTopic`, QoS 0, not retained unless asked. */
function willOf(willTopic: string, payload: string, retain = false): IConnectPacket['will'] {
  return { topic: willTopic, payload: Buffer.from(payload), qos: 0, retain };
}

void describe('mqtt conformance 3.1.1', () => {
  // ----- CONNECT / CONNACK -----

  void it('mqtt conformance - [MQTT-3.1.0-1] a first packet other than CONNECT closes the connection unanswered', async () => {
    const ping = await socket();
    ping.write([0xc0, 0x00]);
    await closedWithoutReply(ping, 'PINGREQ before CONNECT');
    const sub = await socket();
    sub.write(frame(0x82, [0x00, 0x01, ...str('a/b'), 0x00]));
    await closedWithoutReply(sub, 'SUBSCRIBE before CONNECT');
  });

  void it('mqtt conformance - [MQTT-3.1.0-2] a second CONNECT is a protocol violation: the connection closes and nothing after it is processed', async () => {
    const c = await client();
    const n = c.received.length;
    c.write(Buffer.concat([connectBytes({ clientId: clientId('second') }), Buffer.from([0xc0, 0x00])]));
    await closedWithoutReply(c, 'a second CONNECT', n);
  });

  void it('mqtt conformance - [MQTT-3.1.2-1] [MQTT-3.1.4-1] a protocol name other than "MQTT": closed without CONNACK', async () => {
    const c = await socket();
    c.write(connectBytes({ clientId: clientId('name'), name: 'MQTX' }));
    await closedWithoutReply(c, 'protocol name MQTX');
  });

  for (const level of [2, 6]) {
    void it(`mqtt conformance - [MQTT-3.1.2-2] unsupported protocol level ${level}: CONNACK return code 0x01 with session present 0, then close`, async () => {
      const c = await socket();
      c.write(connectBytes({ clientId: clientId('level'), level }));
      await c.waitClosed(`CONNACK 0x01 for level ${level}`, CLOSE_MS);
      assert.deepEqual(
        c.received.map((r) => [...r.raw]),
        [[0x20, 0x02, 0x00, 0x01]],
      );
    });
  }

  void it('mqtt conformance - [MQTT-3.1.2-3] CONNECT reserved flag set: closed without CONNACK', async () => {
    const c = await socket();
    c.write(connectBytes({ clientId: clientId('reserved'), flags: 0x03 }));
    await closedWithoutReply(c, 'CONNECT flags 0x03');
  });

  void it('mqtt conformance - [MQTT-3.1.2-4] [MQTT-3.2.2-2] clean session 0 resumes the stored session: session present 1, subscriptions kept', async () => {
    const id = clientId('resume');
    const t = topic('resume');
    const first = await client({ clientId: id, clean: false });
    await subscribe(first, [{ topic: t, qos: 1 }]);
    await first.disconnect();
    const { client: again, connack } = await RawMqtt.connect(router.mqttPort, V, { clientId: id, clean: false });
    assert.equal(connack.returnCode, 0);
    assert.equal(connack.sessionPresent, true, 'session present');
    assert.equal(again.received[0]?.raw[2], 0x01, 'CONNACK acknowledge flags byte: session present bit');
    const pub = await client();
    await publish(pub, t, 'kept', { qos: 1 });
    assert.equal(text(await nextPublish(again, t)), 'kept');
  });

  void it('mqtt conformance - [MQTT-3.1.2-5] [MQTT-3.2.0-1] QoS 1 and 2 messages for an offline clean-session-0 client are kept and sent after CONNACK; QoS 0 are not (the MAY not taken)', async () => {
    const id = clientId('offline');
    const t = topic('offline');
    const first = await client({ clientId: id, clean: false });
    await subscribe(first, [{ topic: t, qos: 2 }]);
    await first.disconnect();
    const pub = await client();
    await publish(pub, t, 'q0', { qos: 0 });
    await publish(pub, t, 'q1', { qos: 1 });
    await publish(pub, t, 'q2', { qos: 2 });
    const { client: again } = await RawMqtt.connect(router.mqttPort, V, { clientId: id, clean: false });
    const m1 = await nextPublish(again, t);
    const m2 = await nextPublish(again, t);
    assert.equal(again.received[0]?.packet.cmd, 'connack', 'CONNACK is the first packet the server sends');
    assert.deepEqual(
      [m1, m2].map((r) => [text(r), (r.packet as IPublishPacket).qos]),
      [
        ['q1', 1],
        ['q2', 2],
      ],
    );
    assert.deepEqual(cmds(await again.quiet(QUIET_MS, 'publish')), [], 'the QoS 0 message was not stored');
  });

  void it('mqtt conformance - [MQTT-3.1.2-6] [MQTT-3.2.2-1] clean session 1 discards the stored session: session present 0, no subscriptions, nothing queued', async () => {
    const id = clientId('discard');
    const t = topic('discard');
    const first = await client({ clientId: id, clean: false });
    await subscribe(first, [{ topic: t, qos: 1 }]);
    await first.disconnect();
    const pub = await client();
    await publish(pub, t, 'queued', { qos: 1 });
    const { client: clean, connack } = await RawMqtt.connect(router.mqttPort, V, { clientId: id, clean: true });
    assert.equal(connack.sessionPresent, false, 'session present with clean session 1');
    assert.deepEqual([...(clean.received[0]?.raw ?? [])], [0x20, 0x02, 0x00, 0x00]);
    await publish(pub, t, 'live', { qos: 1 });
    assert.deepEqual(
      cmds(await clean.quiet(QUIET_MS, 'publish')),
      [],
      'neither the queued message nor the subscription survived',
    );
    await clean.disconnect();
    // [MQTT-3.1.2-6] the clean session lasted as long as its connection: nothing is stored
    const { connack: after } = await RawMqtt.connect(router.mqttPort, V, { clientId: id, clean: false });
    assert.equal(after.sessionPresent, false, 'no session stored after a clean session');
  });

  void it('mqtt conformance - [MQTT-3.2.2-3] clean session 0 with no stored session: session present 0', async () => {
    const { connack, client: c } = await RawMqtt.connect(router.mqttPort, V, { clientId: clientId('fresh'), clean: false });
    assert.equal(connack.returnCode, 0);
    assert.equal(connack.sessionPresent, false);
    assert.deepEqual([...(c.received[0]?.raw ?? [])], [0x20, 0x02, 0x00, 0x00]);
  });

  void it('mqtt conformance - [MQTT-3.1.3-5] client identifiers of 1 to 23 characters of 0-9a-zA-Z are accepted (longer and other UTF-8 ones too: the MAY taken)', async () => {
    for (const id of [
      'a',
      'abcdefghijklmnopqrstuvw',
      '0123456789ABCDEFGHIJKLM',
      'ünïcode/client-id.with+more#than-23-characters',
    ]) {
      const { connack, client: c } = await RawMqtt.connect(router.mqttPort, V, { clientId: id });
      assert.equal(connack.returnCode, 0, `client id ${JSON.stringify(id)}`);
      await c.disconnect();
    }
  });

  void it('mqtt conformance - [MQTT-3.1.3-4] [MQTT-1.5.3-1] a client identifier of ill-formed UTF-8 closes the connection without CONNACK', async () => {
    for (const bad of [
      [0xc3, 0x28],
      [0xed, 0xa0, 0x80],
    ]) {
      const c = await socket();
      c.write(frame(0x10, [...str('MQTT'), 4, 0x02, 0, 0, ...lengthPrefixed(bad)]));
      await closedWithoutReply(c, `client id bytes ${bad.map((b) => b.toString(16)).join(' ')}`);
    }
  });

  void it('mqtt conformance - [MQTT-3.1.3-6] a zero-byte client identifier with clean session 1 is accepted and treated as a unique identifier', async () => {
    const a = await client({ clientId: '' });
    const b = await client({ clientId: '' });
    // unique: the second did not take over the first
    a.write([0xc0, 0x00]);
    b.write([0xc0, 0x00]);
    await a.take('pingresp');
    await b.take('pingresp');
    assert.equal(a.isClosed, false);
  });

  void it('mqtt conformance - [MQTT-3.1.3-7] [MQTT-3.1.3-8] [MQTT-3.2.2-4] [MQTT-3.2.2-5] a zero-byte client identifier with clean session 0: CONNACK 0x02 with session present 0, then close', async () => {
    const c = await socket();
    c.write(connectBytes({ clientId: '', flags: 0x00 }));
    await c.waitClosed('the close after CONNACK 0x02', CLOSE_MS);
    assert.deepEqual(
      c.received.map((r) => [...r.raw]),
      [[0x20, 0x02, 0x00, 0x02]],
    );
  });

  void it('mqtt conformance - [MQTT-3.1.4-5] after a refused CONNECT nothing the client sent is processed', async () => {
    const c = await socket();
    c.write(
      Buffer.concat([
        connectBytes({ clientId: '', flags: 0x00 }),
        frame(0x82, [0x00, 0x01, ...str('a/b'), 0x00]),
        Buffer.from([0xc0, 0x00]),
      ]),
    );
    await c.waitClosed('the close after CONNACK 0x02', CLOSE_MS);
    assert.deepEqual(cmds(c.received), ['connack'], 'no SUBACK or PINGRESP after the refusal');
  });

  void it('mqtt conformance - [MQTT-3.1.2-24] keep alive 1 s: a silent client is closed after one and a half times it, and its will published [MQTT-3.1.2-8]', async () => {
    const willTopic = topic('keepalive-will');
    const watcher = await client();
    await subscribe(watcher, [{ topic: willTopic, qos: 0 }]);
    const armed = clock.nextTimer(1500, 'the keep alive timer');
    const c = await client({ keepalive: 1, will: willOf(willTopic, 'gone') });
    await armed;
    clock.advance(1499);
    assert.equal(clock.hasTimer(1500), true, 'still open 1 ms before one and a half times keep alive');
    clock.advance(1);
    await c.waitClosed('the keep alive timeout', CLOSE_MS);
    assert.deepEqual(cmds(c.received), ['connack'], 'the router just closes (3.1.1 has no DISCONNECT from the server)');
    assert.equal(text(await nextPublish(watcher, willTopic)), 'gone');
  });

  void it('mqtt conformance - [MQTT-3.1.2-24] a client that sends a packet within each keep alive period stays connected', async () => {
    const armed = clock.nextTimer(1500, 'the keep alive timer');
    const c = await client({ keepalive: 1 });
    await armed;
    for (let i = 0; i < 4; i++) {
      clock.advance(1400);
      c.write([0xc0, 0x00]);
      await c.take('pingresp', `PINGRESP ${i}`);
    }
    assert.equal(c.isClosed, false, 'still connected after 5.6 s of pings every 1.4 s');
    // the last ping, not the CONNECT, starts the period
    clock.advance(1499);
    assert.equal(clock.hasTimer(1500), true, 'open 1.499 s after the last ping');
    clock.advance(1);
    await c.waitClosed('the keep alive timeout after the pings stop', CLOSE_MS);
  });

  void it('mqtt conformance - [MQTT-3.1.4-2] a second connection with the same client identifier closes the existing one', async () => {
    const id = clientId('takeover');
    const old = await client({ clientId: id });
    const fresh = await client({ clientId: id });
    await old.waitClosed('the old connection to close', CLOSE_MS);
    assert.deepEqual(cmds(old.received), ['connack'], 'the old connection is just closed');
    fresh.write([0xc0, 0x00]);
    await fresh.take('pingresp');
  });

  // ----- PUBLISH -----

  void it('mqtt conformance - [MQTT-3.3.1-2] [MQTT-2.3.1-5] a QoS 0 PUBLISH from the server has DUP 0 and no packet identifier', async () => {
    const t = topic('dup0');
    const sub = await client();
    await subscribe(sub, [{ topic: t, qos: 0 }]);
    const pub = await client();
    pub.write(publishBytes({ topic: str(t), qos: 1, id: 9, dup: true, payload: 'x' }));
    const r = await nextPublish(sub, t);
    assert.equal(r.header, 0x30, 'fixed header: PUBLISH, DUP 0, QoS 0, RETAIN 0');
    assert.deepEqual([...r.raw], [0x30, 2 + t.length + 1, 0, t.length, ...Buffer.from(t), 0x78], 'no packet identifier');
  });

  void it('mqtt conformance - [MQTT-3.3.1-3] the DUP flag of an incoming PUBLISH is not propagated to subscribers', async () => {
    const t = topic('dup-prop');
    const sub = await client();
    await subscribe(sub, [{ topic: t, qos: 1 }]);
    const pub = await client();
    pub.write(publishBytes({ topic: str(t), qos: 1, id: 3, dup: true }));
    await pub.take('puback');
    const r = await nextPublish(sub, t);
    assert.equal(r.header, 0x32, 'fixed header: PUBLISH, DUP 0, QoS 1');
  });

  void it('mqtt conformance - [MQTT-3.3.1-4] a PUBLISH with both QoS bits set closes the connection', async () => {
    const t = topic('qos3');
    const sub = await client();
    await subscribe(sub, [{ topic: t, qos: 2 }]);
    const c = await client();
    c.write(publishBytes({ topic: str(t), header: 0x36, id: 1 }));
    await closedWithoutReply(c, 'PUBLISH QoS 3', 1);
    assert.deepEqual(cmds(await sub.quiet(QUIET_MS, 'publish')), [], 'not routed');
  });

  void it('mqtt conformance - [MQTT-3.3.1-5] [MQTT-3.3.1-8] a retained message is stored and sent to a new subscriber with RETAIN 1', async () => {
    const t = topic('retained');
    const pub = await client();
    await publish(pub, t, 'kept', { qos: 1, retain: true });
    const sub = await client();
    await subscribe(sub, [{ topic: t, qos: 1 }]);
    const r = await nextPublish(sub, t);
    assert.equal(text(r), 'kept');
    assert.equal(r.header & 0x01, 1, 'RETAIN 1 on a message sent for a new subscription');
  });

  void it('mqtt conformance - [MQTT-3.3.1-5] [MQTT-3.8.4-6] a retained message keeps its QoS: a QoS 0 retained message reaches a new QoS 1 subscriber at QoS 0', async () => {
    const t = topic('retained-qos');
    const pub = await client();
    await publish(pub, t, 'q0', { qos: 0, retain: true });
    await handled(pub);
    const sub = await client();
    await subscribe(sub, [{ topic: t, qos: 1 }]);
    const r = await nextPublish(sub, t);
    assert.equal((r.packet as IPublishPacket).qos, 0, 'min(QoS published, QoS granted)');
  });

  void it('mqtt conformance - [MQTT-3.3.1-5] a retained payload is stored as is: the 4 bytes "null" are a message, not a deletion (only zero bytes delete [MQTT-3.3.1-10])', async () => {
    const t = topic('retained-null');
    const pub = await client();
    await publish(pub, t, 'null', { qos: 1, retain: true });
    const sub = await client();
    await subscribe(sub, [{ topic: t, qos: 1 }]);
    assert.equal(text(await nextPublish(sub, t)), 'null');
  });

  void it('mqtt conformance - [MQTT-3.3.1-6] a new subscription receives the last retained message of every matching topic', async () => {
    const base = topic('retained-many');
    const pub = await client();
    await publish(pub, `${base}/a`, 'a1', { qos: 1, retain: true });
    await publish(pub, `${base}/a`, 'a2', { qos: 1, retain: true });
    await publish(pub, `${base}/b/c`, 'bc', { qos: 1, retain: true });
    const sub = await client();
    await subscribe(sub, [{ topic: `${base}/#`, qos: 1 }]);
    const got = [await nextPublish(sub), await nextPublish(sub)]
      .map((r) => `${(r.packet as IPublishPacket).topic}=${text(r)}`)
      .sort();
    assert.deepEqual(got, [`${base}/a=a2`, `${base}/b/c=bc`]);
    assert.deepEqual(cmds(await sub.quiet(QUIET_MS, 'publish')), [], 'only the last retained message per topic');
  });

  void it('mqtt conformance - [MQTT-3.3.1-7] a retained QoS 0 message replaces the retained message of its topic', async () => {
    const t = topic('retained-q0');
    const pub = await client();
    await publish(pub, t, 'old', { qos: 1, retain: true });
    await publish(pub, t, 'new', { qos: 0, retain: true });
    await handled(pub);
    const sub = await client();
    await subscribe(sub, [{ topic: t, qos: 0 }]);
    assert.equal(text(await nextPublish(sub, t)), 'new');
  });

  void it('mqtt conformance - [MQTT-3.3.1-9] RETAIN is 0 on messages sent to an established subscription, whatever the publisher set', async () => {
    const t = topic('retain-live');
    const sub = await client();
    await subscribe(sub, [{ topic: t, qos: 1 }]);
    const pub = await client();
    await publish(pub, t, 'live', { qos: 1, retain: true });
    const r = await nextPublish(sub, t);
    assert.equal(r.header & 0x01, 0, 'RETAIN 0');
  });

  void it('mqtt conformance - [MQTT-3.3.1-10] [MQTT-3.3.1-11] a zero-byte retained PUBLISH reaches current subscribers and removes the retained message, which is not stored', async () => {
    const t = topic('retained-delete');
    const pub = await client();
    await publish(pub, t, 'kept', { qos: 1, retain: true });
    const current = await client();
    await subscribe(current, [{ topic: t, qos: 1 }]);
    assert.equal(text(await nextPublish(current, t)), 'kept');
    await publish(pub, t, '', { qos: 1, retain: true });
    const live = await nextPublish(current, t);
    assert.equal((live.packet as IPublishPacket).payload.length, 0, 'processed as normal: delivered with its zero bytes');
    const later = await client();
    await subscribe(later, [{ topic: t, qos: 1 }]);
    assert.deepEqual(cmds(await later.quiet(QUIET_MS, 'publish')), [], 'no retained message any more');
  });

  void it('mqtt conformance - [MQTT-3.3.1-12] a PUBLISH with RETAIN 0 neither stores, removes nor replaces a retained message', async () => {
    const t = topic('retain0');
    const pub = await client();
    await publish(pub, t, 'kept', { qos: 1, retain: true });
    await publish(pub, t, 'not-kept', { qos: 1, retain: false });
    await publish(pub, t, '', { qos: 1, retain: false });
    const sub = await client();
    await subscribe(sub, [{ topic: t, qos: 1 }]);
    assert.equal(text(await nextPublish(sub, t)), 'kept');
    const other = topic('retain0-none');
    await publish(pub, other, 'plain', { qos: 1 });
    const sub2 = await client();
    await subscribe(sub2, [{ topic: other, qos: 1 }]);
    assert.deepEqual(cmds(await sub2.quiet(QUIET_MS, 'publish')), []);
  });

  for (const name of ['a/+', 'a/#', '#', 'a+b', 'a/b#']) {
    void it(`mqtt conformance - [MQTT-3.3.2-2] [MQTT-4.7.1-1] a topic name holding a wildcard character (${name}) closes the connection`, async () => {
      const c = await client();
      c.write(publishBytes({ topic: str(name), qos: 1, id: 1 }));
      await closedWithoutReply(c, `PUBLISH to ${name}`, 1);
    });
  }

  void it('mqtt conformance - [MQTT-3.3.4-1] [MQTT-2.3.1-6] QoS 0 gets no response, QoS 1 a PUBACK and QoS 2 a PUBREC carrying its packet identifier', async () => {
    const t = topic('responses');
    const c = await client();
    c.write(publishBytes({ topic: str(t), qos: 0 }));
    c.write(publishBytes({ topic: str(t), qos: 1, id: 0x1234 }));
    c.write(publishBytes({ topic: str(t), qos: 2, id: 0xbeef }));
    const puback = await c.take('puback');
    const pubrec = await c.take('pubrec');
    assert.deepEqual([...puback.raw], [0x40, 0x02, 0x12, 0x34]);
    assert.deepEqual([...pubrec.raw], [0x50, 0x02, 0xbe, 0xef]);
    assert.deepEqual(cmds(await c.quiet(QUIET_MS)), [], 'nothing for the QoS 0 PUBLISH');
  });

  void it('mqtt conformance - [MQTT-3.3.5-1] overlapping subscriptions: the message is delivered once, at the maximum QoS of the matching subscriptions (one copy is our choice)', async () => {
    const base = topic('overlap');
    const sub = await client();
    const suback = await subscribe(sub, [
      { topic: `${base}/+`, qos: 0 },
      { topic: `${base}/#`, qos: 2 },
      { topic: `${base}/x`, qos: 1 },
    ]);
    assert.deepEqual((suback.packet as ISubackPacket).granted, [0, 2, 1]);
    const pub = await client();
    await publish(pub, `${base}/x`, 'once', { qos: 2 });
    const r = await nextPublish(sub);
    assert.equal((r.packet as IPublishPacket).qos, 2);
    assert.deepEqual(cmds(await sub.quiet(QUIET_MS, 'publish')), [], 'one copy');
  });

  // ----- QoS 1 and 2 flows, packet identifiers -----

  void it('mqtt conformance - [MQTT-4.3.2-2] QoS 1 receiver: PUBACK with the identifier; after it the same identifier is a new publication, DUP or not', async () => {
    const t = topic('qos1-recv');
    const sub = await client();
    await subscribe(sub, [{ topic: t, qos: 0 }]);
    const pub = await client();
    pub.write(publishBytes({ topic: str(t), qos: 1, id: 7, payload: 'one' }));
    await pub.take((r) => r.packet.cmd === 'puback' && r.packet.messageId === 7);
    pub.write(publishBytes({ topic: str(t), qos: 1, id: 7, dup: true, payload: 'two' }));
    await pub.take((r) => r.packet.cmd === 'puback' && r.packet.messageId === 7);
    assert.deepEqual([text(await nextPublish(sub, t)), text(await nextPublish(sub, t))], ['one', 'two']);
  });

  void it('mqtt conformance - [MQTT-4.3.2-1] [MQTT-2.3.1-1] [MQTT-2.3.1-2] QoS 1 sender: non-zero unused identifiers, DUP 0; unacknowledged messages are resent with DUP 1 and the same identifier when the session resumes [MQTT-4.4.0-1] [MQTT-3.3.1-1]', async () => {
    const id = clientId('qos1-send');
    const t = topic('qos1-send');
    const sub = await client({ clientId: id, clean: false });
    await subscribe(sub, [{ topic: t, qos: 1 }]);
    const pub = await client();
    await publish(pub, t, 'a', { qos: 1 });
    await publish(pub, t, 'b', { qos: 1 });
    const a = await nextPublish(sub, t);
    const b = await nextPublish(sub, t);
    const ida = a.packet.messageId ?? 0;
    const idb = b.packet.messageId ?? 0;
    assert.ok(ida !== 0 && idb !== 0 && ida !== idb, `identifiers ${ida} and ${idb}`);
    assert.equal(a.header, 0x32, 'PUBLISH QoS 1 DUP 0');
    sub.send({ cmd: 'puback', messageId: ida });
    await handled(sub);
    await sub.destroy();
    const { client: again, connack } = await RawMqtt.connect(router.mqttPort, V, { clientId: id, clean: false });
    assert.equal(connack.sessionPresent, true);
    const resent = await nextPublish(again, t);
    assert.equal(resent.header, 0x3a, 'PUBLISH QoS 1 DUP 1');
    assert.equal(resent.packet.messageId, idb, 'the original identifier');
    assert.equal(text(resent), 'b');
    assert.deepEqual(cmds(await again.quiet(QUIET_MS, 'publish')), [], 'the acknowledged message is not resent');
  });

  void it('mqtt conformance - [MQTT-4.3.3-2] QoS 2 receiver: PUBREC with the identifier; a duplicate before PUBREL is acknowledged again but not delivered twice; PUBREL gets PUBCOMP; after PUBCOMP the identifier is a new publication', async () => {
    const t = topic('qos2-recv');
    const sub = await client();
    await subscribe(sub, [{ topic: t, qos: 2 }]);
    const pub = await client();
    pub.write(publishBytes({ topic: str(t), qos: 2, id: 42, payload: 'first' }));
    assert.deepEqual([...(await pub.take('pubrec')).raw], [0x50, 0x02, 0x00, 42]);
    pub.write(publishBytes({ topic: str(t), qos: 2, id: 42, dup: true, payload: 'first' }));
    assert.deepEqual([...(await pub.take('pubrec')).raw], [0x50, 0x02, 0x00, 42]);
    pub.write([0x62, 0x02, 0x00, 42]);
    assert.deepEqual([...(await pub.take('pubcomp')).raw], [0x70, 0x02, 0x00, 42]);
    pub.write(publishBytes({ topic: str(t), qos: 2, id: 42, payload: 'second' }));
    await pub.take('pubrec');
    pub.write([0x62, 0x02, 0x00, 42]);
    await pub.take('pubcomp');
    const got = [text(await nextPublish(sub, t)), text(await nextPublish(sub, t))];
    assert.deepEqual(got, ['first', 'second']);
    assert.deepEqual(cmds(await sub.quiet(QUIET_MS, 'publish')), [], 'the duplicate was not delivered');
  });

  void it('mqtt conformance - [MQTT-4.3.3-1] QoS 2 sender: PUBLISH QoS 2 DUP 0; PUBREC is answered with PUBREL (header 0x62) with the identifier; after PUBREL only PUBREL is resent [MQTT-4.4.0-1]', async () => {
    const id = clientId('qos2-send');
    const t = topic('qos2-send');
    const sub = await client({ clientId: id, clean: false });
    await subscribe(sub, [{ topic: t, qos: 2 }]);
    const pub = await client();
    await publish(pub, t, 'x', { qos: 2 });
    const p = await nextPublish(sub, t);
    assert.equal(p.header, 0x34, 'PUBLISH QoS 2 DUP 0');
    const mid = p.packet.messageId ?? 0;
    sub.send({ cmd: 'pubrec', messageId: mid });
    const rel = await sub.take('pubrel');
    assert.deepEqual([...rel.raw], [0x62, 0x02, mid >> 8, mid & 0xff]);
    await sub.destroy();
    const { client: again } = await RawMqtt.connect(router.mqttPort, V, { clientId: id, clean: false });
    const rel2 = await again.take('pubrel');
    assert.deepEqual([...rel2.raw], [0x62, 0x02, mid >> 8, mid & 0xff]);
    again.send({ cmd: 'pubcomp', messageId: mid });
    assert.deepEqual(cmds(await again.quiet(QUIET_MS, 'publish')), [], 'the PUBLISH is not resent after PUBREL');
  });

  void it('mqtt conformance - [MQTT-3.6.1-1] a PUBREL whose fixed header flags are not 0010 closes the connection', async () => {
    const t = topic('pubrel-flags');
    const c = await client();
    c.write(publishBytes({ topic: str(t), qos: 2, id: 5 }));
    await c.take('pubrec');
    const n = c.received.length;
    c.write([0x60, 0x02, 0x00, 0x05]);
    await closedWithoutReply(c, 'PUBREL with flags 0000', n);
  });

  void it('mqtt conformance - a PUBREL for an unknown identifier is answered with PUBCOMP [MQTT-4.3.3-2]', async () => {
    const c = await client();
    c.write([0x62, 0x02, 0x01, 0x02]);
    assert.deepEqual([...(await c.take('pubcomp')).raw], [0x70, 0x02, 0x01, 0x02]);
  });

  for (const [what, bytes] of [
    ['PUBLISH QoS 1', publishBytes({ topic: str('conf311/id0'), qos: 1, id: 0 })],
    ['PUBLISH QoS 2', publishBytes({ topic: str('conf311/id0'), qos: 2, id: 0 })],
    ['SUBSCRIBE', frame(0x82, [0x00, 0x00, ...str('conf311/id0'), 0x00])],
    ['UNSUBSCRIBE', frame(0xa2, [0x00, 0x00, ...str('conf311/id0')])],
  ] as const) {
    void it(`mqtt conformance - [MQTT-2.3.1-1] [MQTT-4.8.0-1] ${what} with packet identifier 0 is a protocol violation: the connection closes`, async () => {
      const c = await client();
      c.write(bytes);
      await closedWithoutReply(c, `${what} with packet identifier 0`, 1);
    });
  }

  // ----- SUBSCRIBE / SUBACK -----

  void it('mqtt conformance - [MQTT-3.8.1-1] a SUBSCRIBE whose fixed header flags are not 0010 closes the connection', async () => {
    const c = await client();
    c.write(frame(0x80, [0x00, 0x01, ...str('a/b'), 0x00]));
    await closedWithoutReply(c, 'SUBSCRIBE flags 0000', 1);
  });

  void it('mqtt conformance - [MQTT-3.8.3-3] a SUBSCRIBE without a topic filter is a protocol violation: the connection closes', async () => {
    const c = await client();
    c.write([0x82, 0x02, 0x00, 0x01]);
    await closedWithoutReply(c, 'SUBSCRIBE with no payload', 1);
  });

  for (const options of [0x03, 0x04, 0x80]) {
    void it(`mqtt conformance - [MQTT-3.8.3-4] a SUBSCRIBE with requested QoS byte 0x${options.toString(16)} (QoS 3 or reserved bits) closes the connection`, async () => {
      const c = await client();
      c.write(frame(0x82, [0x00, 0x01, ...str('a/b'), options]));
      await closedWithoutReply(c, `requested QoS byte 0x${options.toString(16)}`, 1);
    });
  }

  void it('mqtt conformance - [MQTT-3.8.4-1] [MQTT-3.8.4-2] [MQTT-2.3.1-7] SUBSCRIBE is answered by a SUBACK with its packet identifier', async () => {
    const c = await client();
    c.write(frame(0x82, [0xab, 0xcd, ...str(topic('suback')), 0x01]));
    assert.deepEqual([...(await c.take('suback')).raw], [0x90, 0x03, 0xab, 0xcd, 0x01]);
  });

  void it('mqtt conformance - [MQTT-3.8.4-4] [MQTT-3.8.4-5] [MQTT-3.9.3-1] [MQTT-3.9.3-2] several filters: one SUBACK, one return code per filter in order, 0x80 for the one that failed', async () => {
    const base = topic('multi');
    const c = await client();
    c.write(
      frame(0x82, [
        0x00,
        0x09,
        ...str(`${base}/two`),
        0x02,
        ...str(`${base}/#/bad`),
        0x01,
        ...str(`${base}/zero`),
        0x00,
        ...str(`${base}/one`),
        0x01,
      ]),
    );
    assert.deepEqual([...(await c.take('suback')).raw], [0x90, 0x06, 0x00, 0x09, 0x02, 0x80, 0x00, 0x01]);
    assert.deepEqual(cmds(await c.quiet(QUIET_MS)), [], 'one SUBACK only');
    const pub = await client();
    await publish(pub, `${base}/zero`, 'z', { qos: 2 });
    await publish(pub, `${base}/one`, 'o', { qos: 2 });
    await publish(pub, `${base}/two`, 't', { qos: 2 });
    const got = [await nextPublish(c), await nextPublish(c), await nextPublish(c)].map(
      (r) => `${text(r)}${(r.packet as IPublishPacket).qos}`,
    );
    assert.deepEqual(got, ['z0', 'o1', 't2'], 'each filter subscribed as if alone');
  });

  void it('mqtt conformance - [MQTT-3.8.4-3] subscribing again to an identical filter replaces the subscription (new QoS, one copy) and re-sends retained messages', async () => {
    const t = topic('replace');
    const pub = await client();
    await publish(pub, t, 'kept', { qos: 1, retain: true });
    const c = await client();
    await subscribe(c, [{ topic: t, qos: 0 }]);
    const first = await nextPublish(c, t);
    assert.equal((first.packet as IPublishPacket).qos, 0);
    const suback = await subscribe(c, [{ topic: t, qos: 1 }]);
    assert.deepEqual((suback.packet as ISubackPacket).granted, [1]);
    const again = await nextPublish(c, t);
    assert.deepEqual(
      [text(again), (again.packet as IPublishPacket).qos, again.header & 1],
      ['kept', 1, 1],
      'retained message re-sent at the new QoS',
    );
    c.send({ cmd: 'puback', messageId: again.packet.messageId ?? 0 });
    await publish(pub, t, 'live', { qos: 1 });
    const live = await nextPublish(c, t);
    assert.deepEqual([text(live), (live.packet as IPublishPacket).qos], ['live', 1]);
    assert.deepEqual(cmds(await c.quiet(QUIET_MS, 'publish')), [], 'one subscription, one copy');
  });

  void it('mqtt conformance - [MQTT-3.8.4-6] the QoS of a delivered message is the minimum of the published QoS and the granted QoS', async () => {
    const base = topic('minqos');
    const c = await client();
    await subscribe(c, [
      { topic: `${base}/g0`, qos: 0 },
      { topic: `${base}/g1`, qos: 1 },
      { topic: `${base}/g2`, qos: 2 },
    ]);
    const pub = await client();
    const got: string[] = [];
    for (const g of [0, 1, 2]) {
      for (const q of [0, 1, 2] as const) {
        await publish(pub, `${base}/g${g}`, `p${q}`, { qos: q });
        const r = await nextPublish(c, `${base}/g${g}`);
        got.push(`g${g}${text(r)}=${(r.packet as IPublishPacket).qos}`);
        if (r.packet.messageId)
          c.send({ cmd: (r.packet as IPublishPacket).qos === 1 ? 'puback' : 'pubcomp', messageId: r.packet.messageId });
      }
    }
    assert.deepEqual(got, ['g0p0=0', 'g0p1=0', 'g0p2=0', 'g1p0=0', 'g1p1=1', 'g1p2=1', 'g2p0=0', 'g2p1=1', 'g2p2=2']);
  });

  void it('mqtt conformance - [MQTT-3.9.3-2] [MQTT-4.7.1-2] [MQTT-4.7.1-3] [MQTT-4.7.3-1] invalid topic filters get return code 0x80 (our answer to an invalid filter; the connection stays open)', async () => {
    const c = await client();
    const filters = ['a/#/b', 'a/b#', 'a+', 'a/+b/c', ''];
    c.write(frame(0x82, [0x00, 0x02, ...filters.flatMap((f) => [...str(f), 0x01])]));
    assert.deepEqual([...(await c.take('suback')).raw], [0x90, 2 + filters.length, 0x00, 0x02, ...filters.map(() => 0x80)]);
    c.write([0xc0, 0x00]);
    await c.take('pingresp');
  });

  // ----- UNSUBSCRIBE / UNSUBACK -----

  void it('mqtt conformance - [MQTT-3.10.1-1] an UNSUBSCRIBE whose fixed header flags are not 0010 closes the connection', async () => {
    const c = await client();
    c.write(frame(0xa0, [0x00, 0x01, ...str('a/b')]));
    await closedWithoutReply(c, 'UNSUBSCRIBE flags 0000', 1);
  });

  void it('mqtt conformance - [MQTT-3.10.3-2] an UNSUBSCRIBE without a topic filter is a protocol violation: the connection closes', async () => {
    const c = await client();
    c.write([0xa2, 0x02, 0x00, 0x01]);
    await closedWithoutReply(c, 'UNSUBSCRIBE with no payload', 1);
  });

  void it('mqtt conformance - [MQTT-3.10.4-1] UNSUBSCRIBE compares filters character by character: a/+ does not remove a/b', async () => {
    const base = topic('unsub-exact');
    const c = await client();
    await subscribe(c, [{ topic: `${base}/b`, qos: 0 }]);
    c.write(frame(0xa2, [0x00, 0x05, ...str(`${base}/+`), ...str(`${base}/B`)]));
    await c.take('unsuback');
    const pub = await client();
    await publish(pub, `${base}/b`, 'still', { qos: 1 });
    assert.equal(text(await nextPublish(c, `${base}/b`)), 'still');
  });

  void it('mqtt conformance - [MQTT-3.10.4-2] [MQTT-3.10.4-4] UNSUBACK carries the packet identifier, and no new message is delivered after it', async () => {
    const t = topic('unsub');
    const c = await client();
    await subscribe(c, [{ topic: t, qos: 1 }]);
    c.write(frame(0xa2, [0x12, 0x34, ...str(t)]));
    assert.deepEqual([...(await c.take('unsuback')).raw], [0xb0, 0x02, 0x12, 0x34]);
    const pub = await client();
    await publish(pub, t, 'late', { qos: 1 });
    assert.deepEqual(cmds(await c.quiet(QUIET_MS, 'publish')), []);
  });

  void it('mqtt conformance - [MQTT-3.10.4-5] UNSUBACK even when no subscription matched', async () => {
    const c = await client();
    c.write(frame(0xa2, [0x00, 0x07, ...str(topic('never-subscribed'))]));
    assert.deepEqual([...(await c.take('unsuback')).raw], [0xb0, 0x02, 0x00, 0x07]);
  });

  void it('mqtt conformance - [MQTT-3.10.4-6] an UNSUBSCRIBE with several filters gets a single UNSUBACK', async () => {
    const base = topic('unsub-multi');
    const c = await client();
    await subscribe(c, [
      { topic: `${base}/a`, qos: 0 },
      { topic: `${base}/b`, qos: 0 },
    ]);
    c.write(frame(0xa2, [0x00, 0x08, ...str(`${base}/a`), ...str(`${base}/b`), ...str(`${base}/c`)]));
    assert.deepEqual([...(await c.take('unsuback')).raw], [0xb0, 0x02, 0x00, 0x08]);
    assert.deepEqual(cmds(await c.quiet(QUIET_MS)), [], 'one UNSUBACK');
  });

  void it('mqtt conformance - [MQTT-3.10.4-3] a QoS 2 delivery started before UNSUBSCRIBE is completed', async () => {
    const t = topic('unsub-inflight');
    const c = await client();
    await subscribe(c, [{ topic: t, qos: 2 }]);
    const pub = await client();
    await publish(pub, t, 'x', { qos: 2 });
    const p = await nextPublish(c, t);
    c.write(frame(0xa2, [0x00, 0x33, ...str(t)]));
    await c.take('unsuback');
    const mid = p.packet.messageId ?? 0;
    c.send({ cmd: 'pubrec', messageId: mid });
    assert.deepEqual([...(await c.take('pubrel')).raw], [0x62, 0x02, mid >> 8, mid & 0xff]);
  });

  // ----- PINGREQ, DISCONNECT, will -----

  void it('mqtt conformance - [MQTT-3.12.4-1] PINGREQ is answered by PINGRESP', async () => {
    const c = await client();
    c.write([0xc0, 0x00]);
    assert.deepEqual([...(await c.take('pingresp')).raw], [0xd0, 0x00]);
  });

  void it('mqtt conformance - [MQTT-3.14.4-3] [MQTT-3.1.2-10] DISCONNECT discards the will without publishing it', async () => {
    const willTopic = topic('will-discarded');
    const watcher = await client();
    await subscribe(watcher, [{ topic: willTopic, qos: 0 }]);
    const c = await client({ will: willOf(willTopic, 'should-not') });
    await c.disconnect();
    assert.deepEqual(cmds(await watcher.quiet(QUIET_MS, 'publish')), []);
  });

  void it('mqtt conformance - [MQTT-3.1.2-8] [MQTT-3.1.2-15] the will is published, not retained, when the connection closes without DISCONNECT', async () => {
    const willTopic = topic('will-close');
    const watcher = await client();
    await subscribe(watcher, [{ topic: willTopic, qos: 0 }]);
    const c = await client({ will: willOf(willTopic, 'bye') });
    await c.destroy();
    assert.equal(text(await nextPublish(watcher, willTopic)), 'bye');
    const later = await client();
    await subscribe(later, [{ topic: willTopic, qos: 0 }]);
    assert.deepEqual(cmds(await later.quiet(QUIET_MS, 'publish')), [], 'will retain 0: not retained');
  });

  void it('mqtt conformance - [MQTT-3.1.2-16] a will with Will Retain 1 is published as a retained message', async () => {
    const willTopic = topic('will-retained');
    const c = await client({ will: willOf(willTopic, 'last', true) });
    // stored as it is published: a live subscriber sees it go out
    const live = await client();
    await subscribe(live, [{ topic: willTopic, qos: 0 }]);
    await c.destroy();
    await nextPublish(live, willTopic);
    const later = await client();
    await subscribe(later, [{ topic: willTopic, qos: 0 }]);
    const r = await nextPublish(later, willTopic);
    assert.deepEqual([text(r), r.header & 1], ['last', 1]);
  });

  void it('mqtt conformance - [MQTT-3.1.2-8] the will is published when the server closes the connection for a protocol violation', async () => {
    const willTopic = topic('will-violation');
    const watcher = await client();
    await subscribe(watcher, [{ topic: willTopic, qos: 0 }]);
    const c = await client({ will: willOf(willTopic, 'violated') });
    c.write(publishBytes({ topic: str('a/+'), qos: 0 }));
    await c.waitClosed('the close for a wildcard topic name', CLOSE_MS);
    assert.equal(text(await nextPublish(watcher, willTopic)), 'violated');
  });

  void it('mqtt conformance - [MQTT-3.14.1-1] a DISCONNECT with reserved flags set closes the connection, and as no valid DISCONNECT was received the will is published', async () => {
    const willTopic = topic('will-bad-disconnect');
    const watcher = await client();
    await subscribe(watcher, [{ topic: willTopic, qos: 0 }]);
    const c = await client({ will: willOf(willTopic, 'malformed-bye') });
    c.write([0xe1, 0x00]);
    await c.waitClosed('the close for DISCONNECT flags 0001', CLOSE_MS);
    assert.equal(text(await nextPublish(watcher, willTopic)), 'malformed-bye');
  });

  // ----- topic names and filters -----

  /** Subscribes `filter`, publishes to each name, returns the names delivered. */
  async function matched(filter: string, names: readonly string[]): Promise<string[]> {
    const sub = await client();
    const suback = await subscribe(sub, [{ topic: filter, qos: 0 }]);
    assert.deepEqual((suback.packet as ISubackPacket).granted, [0], `filter ${filter} accepted`);
    const pub = await client();
    for (const n of names) await publish(pub, n, n, { qos: 1 });
    // only the names published here: a '#' subscriber also sees the realm's other traffic (WAMP meta events)
    const got = (await sub.quiet(QUIET_MS, 'publish'))
      .map((r) => (r.packet as IPublishPacket).topic)
      .filter((n) => names.includes(n));
    await Promise.all([sub.destroy(), pub.destroy()]);
    return got;
  }

  void it('mqtt conformance - [MQTT-4.7.1-2] "#" matches the parent level and any number of child levels', async () => {
    const b = topic('hash');
    assert.deepEqual(
      await matched(`${b}/tennis/p1/#`, [
        `${b}/tennis/p1`,
        `${b}/tennis/p1/ranking`,
        `${b}/tennis/p1/score/wimbledon`,
        `${b}/tennis/p2`,
        `${b}/tennis`,
      ]),
      [`${b}/tennis/p1`, `${b}/tennis/p1/ranking`, `${b}/tennis/p1/score/wimbledon`],
    );
  });

  void it('mqtt conformance - [MQTT-4.7.1-3] "+" matches exactly one level, an empty one included', async () => {
    const b = topic('plus');
    assert.deepEqual(
      await matched(`${b}/tennis/+`, [`${b}/tennis/p1`, `${b}/tennis/p1/ranking`, `${b}/tennis`, `${b}/tennis/`]),
      [`${b}/tennis/p1`, `${b}/tennis/`],
    );
    // a leading "+" and the empty first level of "/finance"
    const leading = await matched('+/+', ['/conf311finance', 'conf311finance']);
    assert.deepEqual(leading, ['/conf311finance']);
    assert.deepEqual(await matched('/+', ['/conf311finance2', 'conf311finance2']), ['/conf311finance2']);
  });

  void it('mqtt conformance - [MQTT-4.7.2-1] filters starting with a wildcard do not match topic names starting with "$"; "$x/#" and "$x/+" do', async () => {
    const d = `$conf311/${++topicSeq}`;
    const names = [`${d}/a`];
    assert.deepEqual(await matched('#', names), []);
    assert.deepEqual(await matched('+/a', names), []);
    assert.deepEqual(await matched(`+/${topicSeq}/a`, names), []);
    assert.deepEqual(await matched(`${d}/#`, names), names);
    assert.deepEqual(await matched(`${d}/+`, names), names);
  });

  void it('mqtt conformance - [MQTT-4.7.3-1] [MQTT-3.3.2-1] an empty topic name closes the connection', async () => {
    const c = await client();
    c.write(publishBytes({ topic: str(''), qos: 1, id: 1 }));
    await closedWithoutReply(c, 'PUBLISH with an empty topic name', 1);
  });

  void it('mqtt conformance - [MQTT-4.7.3-2] [MQTT-1.5.3-2] a topic name holding U+0000 closes the connection', async () => {
    const c = await client();
    c.write(publishBytes({ topic: str('a/\u0000/b'), qos: 1, id: 1 }));
    await closedWithoutReply(c, 'PUBLISH to a topic with U+0000', 1);
  });

  void it('mqtt conformance - [MQTT-4.7.3-2] [MQTT-1.5.3-2] a topic filter holding U+0000 closes the connection', async () => {
    const c = await client();
    c.write(frame(0x82, [0x00, 0x01, ...str('a/\u0000'), 0x00]));
    await closedWithoutReply(c, 'SUBSCRIBE to a filter with U+0000', 1);
  });

  for (const [what, bytes] of [
    ['a byte 0xff', [0x61, 0x2f, 0xff]],
    ['a truncated sequence', [0x61, 0x2f, 0xc3]],
    ['an encoded surrogate U+D800', [0x61, 0x2f, 0xed, 0xa0, 0x80]],
    ['an overlong encoding of "/"', [0x61, 0xc0, 0xaf, 0x62]],
  ] as const) {
    void it(`mqtt conformance - [MQTT-1.5.3-1] [MQTT-3.3.2-1] a topic name of ill-formed UTF-8 (${what}) closes the connection`, async () => {
      const c = await client();
      c.write(publishBytes({ topic: lengthPrefixed(bytes), qos: 1, id: 1 }));
      await closedWithoutReply(c, `PUBLISH topic with ${what}`, 1);
    });
  }

  void it('mqtt conformance - [MQTT-1.5.3-1] [MQTT-3.8.3-1] a topic filter of ill-formed UTF-8 closes the connection', async () => {
    const c = await client();
    c.write(frame(0x82, [0x00, 0x01, ...lengthPrefixed([0x61, 0x2f, 0xfe]), 0x00]));
    await closedWithoutReply(c, 'SUBSCRIBE to an ill-formed filter', 1);
  });

  void it('mqtt conformance - [MQTT-4.7.3-3] a topic name of 65535 bytes is accepted and delivered', async () => {
    const t = `conf311/long/${'x'.repeat(65535 - 'conf311/long/'.length - '/é'.length - 1)}/é`;
    assert.equal(Buffer.byteLength(t), 65535);
    const sub = await client();
    await subscribe(sub, [{ topic: t, qos: 1 }]);
    const pub = await client();
    await publish(pub, t, 'long', { qos: 1 });
    const r = await nextPublish(sub, t);
    assert.equal(text(r), 'long');
  });

  void it('mqtt conformance - [MQTT-4.7.3-4] matching does no normalization: case, trailing space and Unicode normalization form make different topics', async () => {
    const b = topic('norm');
    const nfc = `${b}/Caf\u00e9`;
    assert.deepEqual(await matched(nfc, [`${b}/caf\u00e9`, `${b}/Cafe\u0301`, `${nfc} `, nfc]), [nfc]);
  });

  void it('mqtt conformance - [MQTT-1.5.3-3] a U+FEFF at the start of a topic name is part of it, not skipped', async () => {
    const b = topic('bom');
    assert.deepEqual(await matched(b, [`\ufeff${b}`, b]), [b]);
    assert.deepEqual(await matched(`\ufeff${b}`, [b, `\ufeff${b}`]), [`\ufeff${b}`]);
  });

  // ----- order -----

  void it('mqtt conformance - [MQTT-4.6.0-5] [MQTT-4.6.0-6] messages of one QoS from one publisher reach the subscriber in the order published', async () => {
    const t = topic('order');
    const sub = await client();
    await subscribe(sub, [{ topic: t, qos: 2 }]);
    const pub = await client();
    const N = 30;
    const bytes: Buffer[] = [];
    for (let i = 0; i < N; i++) {
      bytes.push(publishBytes({ topic: str(t), qos: 0, payload: `0-${i}` }));
      bytes.push(publishBytes({ topic: str(t), qos: 1, id: 1000 + i, payload: `1-${i}` }));
      bytes.push(publishBytes({ topic: str(t), qos: 2, id: 2000 + i, payload: `2-${i}` }));
    }
    pub.write(Buffer.concat(bytes));
    const got: string[] = [];
    while (got.length < 3 * N) {
      const r = await nextPublish(sub, t);
      got.push(text(r));
      if (r.packet.messageId)
        sub.send({ cmd: (r.packet as IPublishPacket).qos === 1 ? 'puback' : 'pubrec', messageId: r.packet.messageId });
    }
    for (const q of ['0', '1', '2']) {
      const seq = got.filter((s) => s.startsWith(`${q}-`));
      assert.deepEqual(
        seq,
        Array.from({ length: N }, (_, i) => `${q}-${i}`),
        `QoS ${q} in order`,
      );
    }
    const acks = await pub.quiet(QUIET_MS);
    assert.equal(acks.filter((r) => r.packet.cmd === 'puback').length, N);
    assert.equal(acks.filter((r) => r.packet.cmd === 'pubrec').length, N);
  });
});
