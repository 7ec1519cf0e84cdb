// MQTT 5.0 conformance (OASIS Standard, 7 March 2019): the statements whose behaviour
// differs from 3.1.1 (reason codes, session expiry, topic aliases, flow control, packet
// size limits, subscription options and identifiers, message expiry, will delay), each
// named in its test and checked on the wire with a raw client (test/helpers/mqtt-raw.ts).
// Statements the 3.1.1 suite already covers unchanged are not repeated here.
// Where the router takes one side of a MAY or SHOULD, the test name says which.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type {
  IConnackPacket,
  IConnectPacket,
  IDisconnectPacket,
  IPublishPacket,
  ISubackPacket,
  IUnsubackPacket,
} from 'mqtt-packet';
import {
  clientId,
  closeAllRaw,
  connectBytes,
  frame,
  lengthPrefixed,
  nextPublish,
  publish,
  RawMqtt,
  pace,
  str,
  subscribe,
  text,
  varint,
  type Received,
} from '../../helpers/mqtt-raw';
import { ManualClock } from '../../helpers/clock';
import { startRouter, type TestRouter } from '../../helpers/router';

const V = 5;
const CLOSE_MS = 1000;
const QUIET_MS = 300;
/** the router's limits in this file, announced in CONNACK */
const SERVER_RECEIVE_MAXIMUM = 4;
const SERVER_TOPIC_ALIAS_MAXIMUM = 3;
const SERVER_MAX_PACKET = 4096;

let router: TestRouter;
/** the router's timeouts (keep alive, session and message expiry, will delay) run on it */
const clock = new ManualClock();
before(async () => {
  router = await startRouter(
    {
      mqtt: { sysIntervalSeconds: 0, receiveMaximum: SERVER_RECEIVE_MAXIMUM, topicAliasMaximum: SERVER_TOPIC_ALIAS_MAXIMUM },
      limits: { maxMessageSize: SERVER_MAX_PACKET },
    },
    { clock },
  );
});
afterEach(closeAllRaw);
after(async () => {
  await closeAllRaw();
  await router.close();
});

let topicSeq = 0;
function topic(tag: string): string {
  return `conf5/${tag}/${++topicSeq}`;
}

async function client(connect: Partial<IConnectPacket> = {}): Promise<RawMqtt> {
  const { client: c, connack } = await RawMqtt.connect(router.mqttPort, V, connect);
  assert.equal(connack.reasonCode, 0, 'CONNACK reason code');
  return c;
}

function socket(): Promise<RawMqtt> {
  return RawMqtt.open(router.mqttPort, V);
}

function cmds(rs: readonly Received[]): string[] {
  return rs.map((r) => r.packet.cmd);
}

/**
 * The router sends DISCONNECT with `reason` and closes, within CLOSE_MS, nothing else
 * after the first `from` packets; the DISCONNECT carries no Session Expiry Interval
 * ([MQTT-3.14.2-2]).
 */
async function disconnectedWith(c: RawMqtt, reason: number, what: string, from = 1): Promise<IDisconnectPacket> {
  await c.waitClosed(what, CLOSE_MS);
  const rest = c.received.slice(from);
  assert.deepEqual(cmds(rest), ['disconnect'], `${what}: one DISCONNECT, then close`);
  const d = rest[0]?.packet as IDisconnectPacket;
  assert.equal(
    d.reasonCode,
    reason,
    `${what}: DISCONNECT reason 0x${(d.reasonCode ?? 0).toString(16)}, expected 0x${reason.toString(16)}`,
  );
  assert.equal(d.properties?.sessionExpiryInterval, undefined, '[MQTT-3.14.2-2] no Session Expiry Interval from the server');
  return d;
}

async function closedWithoutReply(c: RawMqtt, what: string, from = 0): Promise<void> {
  await c.waitClosed(what, CLOSE_MS);
  assert.deepEqual(cmds(c.received.slice(from)), [], `${what}: closed without an answer`);
}

/** PUBLISH by hand (5.0 layout): `props` are the encoded properties. */
function publishBytes(opts: {
  topic: readonly number[];
  qos?: number;
  id?: number;
  retain?: boolean;
  props?: readonly number[];
  payload?: string | Buffer;
  header?: number;
}): Buffer {
  const qos = opts.qos ?? 0;
  const first = opts.header ?? 0x30 | (qos << 1) | (opts.retain ? 1 : 0);
  const id = opts.id ?? 1;
  const props = opts.props ?? [];
  return frame(first, [
    ...opts.topic,
    ...(qos > 0 ? [id >> 8, id & 0xff] : []),
    ...varint(props.length),
    ...props,
    ...Buffer.from(opts.payload ?? 'x'),
  ]);
}

/** Topic Alias property (0x23). */
function alias(n: number): number[] {
  return [0x23, n >> 8, n & 0xff];
}

function pub(r: Received): IPublishPacket {
  assert.equal(r.packet.cmd, 'publish');
  return r.packet;
}

void describe('mqtt conformance 5.0', () => {
  // ----- CONNECT / CONNACK -----

  void it('mqtt conformance - [MQTT-3.1.0-2] a second CONNECT is a Protocol Error: DISCONNECT 0x82, then close', async () => {
    const c = await client();
    c.write(Buffer.concat([connectBytes({ clientId: clientId('second'), level: 5 }), Buffer.from([0xc0, 0x00])]));
    await disconnectedWith(c, 0x82, 'a second CONNECT');
  });

  void it('mqtt conformance - [MQTT-3.1.2-1] a protocol name other than "MQTT": closed without CONNACK (the MAY-CONNACK 0x84 not sent)', async () => {
    const c = await socket();
    c.write(connectBytes({ clientId: clientId('name'), name: 'MQTX', level: 5 }));
    await closedWithoutReply(c, 'protocol name MQTX');
  });

  void it("mqtt conformance - [MQTT-3.1.2-2] a Protocol Version the server does not speak (6): a refusing CONNACK, then close; ours is the 3.1.1 layout with return code 0x01 rather than 0x84 (the client's packet layout is unknown; what 3.1.1 [MQTT-3.1.2-2] requires)", async () => {
    const c = await socket();
    c.write(connectBytes({ clientId: clientId('level6'), level: 6 }));
    await c.waitClosed('the close after CONNACK', CLOSE_MS);
    assert.deepEqual(
      c.received.map((r) => [...r.raw]),
      [[0x20, 0x02, 0x00, 0x01]],
    );
  });

  void it('mqtt conformance - [MQTT-3.1.2-3] CONNECT reserved flag set is a Malformed Packet: closed without CONNACK', async () => {
    const c = await socket();
    c.write(connectBytes({ clientId: clientId('reserved'), level: 5, flags: 0x03 }));
    await closedWithoutReply(c, 'CONNECT flags 0x03');
  });

  void it("mqtt conformance - [MQTT-3.2.2-2] CONNACK for clean start 1: reason 0x00, session present 0, with the server's Receive Maximum, Topic Alias Maximum and Maximum Packet Size", async () => {
    const { client: c, connack } = await RawMqtt.connect(router.mqttPort, V, { clientId: clientId('connack') });
    assert.deepEqual(
      [...(c.received[0]?.raw.subarray(0, 4) ?? [])].slice(2, 4),
      [0x00, 0x00],
      'acknowledge flags 0, reason 0x00',
    );
    assert.equal(connack.sessionPresent, false);
    assert.equal(connack.properties?.receiveMaximum, SERVER_RECEIVE_MAXIMUM);
    assert.equal(connack.properties?.topicAliasMaximum, SERVER_TOPIC_ALIAS_MAXIMUM);
    assert.equal(connack.properties?.maximumPacketSize, SERVER_MAX_PACKET);
  });

  void it('mqtt conformance - [MQTT-3.1.2-4] [MQTT-3.2.2-2] clean start 1 discards an existing session: session present 0, its subscriptions gone', async () => {
    const id = clientId('cs1');
    const t = topic('cs1');
    const first = await client({ clientId: id, clean: false, properties: { sessionExpiryInterval: 60 } });
    await subscribe(first, [{ topic: t, qos: 1 }]);
    await first.disconnect();
    const { client: again, connack } = await RawMqtt.connect(router.mqttPort, V, {
      clientId: id,
      clean: true,
      properties: { sessionExpiryInterval: 60 },
    });
    assert.equal(connack.sessionPresent, false);
    const p = await client();
    await publish(p, t, 'x', { qos: 1 });
    assert.deepEqual(cmds(await again.quiet(QUIET_MS, 'publish')), []);
  });

  void it('mqtt conformance - [MQTT-3.1.2-5] [MQTT-3.2.2-3] clean start 0 with a stored session resumes it: session present 1, subscriptions kept, queued messages sent', async () => {
    const id = clientId('cs0');
    const t = topic('cs0');
    const first = await client({ clientId: id, clean: false, properties: { sessionExpiryInterval: 60 } });
    await subscribe(first, [{ topic: t, qos: 1 }]);
    await first.disconnect();
    const p = await client();
    await publish(p, t, 'queued', { qos: 1 });
    const { client: again, connack } = await RawMqtt.connect(router.mqttPort, V, {
      clientId: id,
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    });
    assert.equal(connack.sessionPresent, true);
    assert.equal(text(await nextPublish(again, t)), 'queued');
  });

  void it('mqtt conformance - [MQTT-3.1.2-6] [MQTT-3.2.2-3] clean start 0 without a stored session: a new session, session present 0', async () => {
    const { connack } = await RawMqtt.connect(router.mqttPort, V, {
      clientId: clientId('fresh'),
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    });
    assert.equal(connack.reasonCode, 0);
    assert.equal(connack.sessionPresent, false);
  });

  void it('mqtt conformance - [MQTT-3.1.2-23] no Session Expiry Interval (0): the session ends with the connection', async () => {
    const id = clientId('exp0');
    const first = await client({ clientId: id, clean: false });
    await first.disconnect();
    const { connack } = await RawMqtt.connect(router.mqttPort, V, { clientId: id, clean: false });
    assert.equal(connack.sessionPresent, false);
  });

  void it('mqtt conformance - [MQTT-3.1.2-23] Session Expiry Interval 1 s: the session and its QoS 1 messages are kept while it runs, and gone after it', async () => {
    const id = clientId('exp1');
    const t = topic('exp1');
    const first = await client({ clientId: id, clean: false, properties: { sessionExpiryInterval: 1 } });
    await subscribe(first, [{ topic: t, qos: 1 }]);
    await first.destroy();
    const p = await client();
    await publish(p, t, 'kept', { qos: 1 });
    const { client: second, connack } = await RawMqtt.connect(router.mqttPort, V, {
      clientId: id,
      clean: false,
      properties: { sessionExpiryInterval: 1 },
    });
    assert.equal(connack.sessionPresent, true, 'within the interval');
    const m = await nextPublish(second, t);
    assert.equal(text(m), 'kept');
    second.send({ cmd: 'puback', messageId: m.packet.messageId ?? 0 });
    const expiring = clock.nextTimer(1000, 'the session expiry, armed at the close');
    await second.destroy();
    await expiring;
    clock.advance(999);
    const { client: back, connack: early } = await RawMqtt.connect(router.mqttPort, V, {
      clientId: id,
      clean: false,
      properties: { sessionExpiryInterval: 1 },
    });
    assert.equal(early.sessionPresent, true, '1 ms before the interval ends');
    const expiringAgain = clock.nextTimer(1000, 'the session expiry, armed again');
    await back.destroy();
    await expiringAgain;
    clock.advance(1000);
    const { connack: late } = await RawMqtt.connect(router.mqttPort, V, {
      clientId: id,
      clean: false,
      properties: { sessionExpiryInterval: 1 },
    });
    assert.equal(late.sessionPresent, false, 'after the interval');
  });

  void it('mqtt conformance - [§3.14.2.2.2] a Session Expiry Interval of 0 on DISCONNECT ends a session that would have been kept', async () => {
    const id = clientId('disc0');
    const first = await client({ clientId: id, clean: false, properties: { sessionExpiryInterval: 60 } });
    await first.disconnect({ reasonCode: 0, properties: { sessionExpiryInterval: 0 } });
    const { connack } = await RawMqtt.connect(router.mqttPort, V, { clientId: id, clean: false });
    assert.equal(connack.sessionPresent, false);
  });

  void it('mqtt conformance - [§3.14.2.2.2] [MQTT-3.14.2-2] a non-zero Session Expiry Interval on DISCONNECT after 0 on CONNECT is a Protocol Error: DISCONNECT 0x82 without a Session Expiry Interval', async () => {
    const c = await client({ clientId: clientId('disc-bad') });
    c.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 30 } });
    await disconnectedWith(c, 0x82, 'DISCONNECT with session expiry 30 after 0');
  });

  void it('mqtt conformance - [MQTT-3.1.3-6] [MQTT-3.1.3-7] [MQTT-3.2.2-16] a zero-length ClientID gets a unique Assigned Client Identifier in CONNACK, with clean start 0 too, and the session is found under it', async () => {
    // by hand: mqtt-packet will not encode an empty ClientID with clean start 0
    const a = await socket();
    a.write(connectBytes({ clientId: '', level: 5, flags: 0x00, v5Props: [0x11, 0x00, 0x00, 0x00, 60] }));
    const ca = (await a.take('connack')).packet as IConnackPacket;
    assert.equal(ca.reasonCode, 0);
    const { connack: cb } = await RawMqtt.connect(router.mqttPort, V, { clientId: '', clean: true });
    const ida = ca.properties?.assignedClientIdentifier;
    const idb = cb.properties?.assignedClientIdentifier;
    assert.ok(typeof ida === 'string' && ida.length > 0 && typeof idb === 'string' && ida !== idb, `assigned ${ida} and ${idb}`);
    await a.disconnect();
    const { connack } = await RawMqtt.connect(router.mqttPort, V, {
      clientId: ida,
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    });
    assert.equal(connack.sessionPresent, true);
    assert.equal(connack.properties?.assignedClientIdentifier, undefined, 'none assigned for a ClientID the client gave');
  });

  void it('mqtt conformance - [MQTT-3.1.4-3] a second connection with the same ClientID: the existing one gets DISCONNECT 0x8E and is closed', async () => {
    const id = clientId('takeover');
    const old = await client({ clientId: id });
    const fresh = await client({ clientId: id });
    await disconnectedWith(old, 0x8e, 'the session takeover');
    fresh.write([0xc0, 0x00]);
    await fresh.take('pingresp');
  });

  void it('mqtt conformance - [MQTT-3.1.2-22] keep alive 1 s: a silent client gets DISCONNECT 0x8D and is closed after one and a half times it', async () => {
    const armed = clock.nextTimer(1500, 'the keep alive timer');
    const c = await client({ keepalive: 1 });
    await armed;
    clock.advance(1499);
    assert.equal(clock.hasTimer(1500), true, 'still waiting 1 ms before one and a half times keep alive');
    clock.advance(1);
    await disconnectedWith(c, 0x8d, 'the keep alive timeout');
  });

  for (const [what, props] of [
    ['Receive Maximum 0', [0x21, 0x00, 0x00]],
    ['Maximum Packet Size 0', [0x27, 0x00, 0x00, 0x00, 0x00]],
  ] as const) {
    void it(`mqtt conformance - [MQTT-3.2.2-6] [MQTT-3.2.2-7] ${what} is a Protocol Error: CONNACK 0x82 with session present 0, then close`, async () => {
      const c = await socket();
      c.write(connectBytes({ clientId: clientId('refuse'), level: 5, v5Props: props }));
      await c.waitClosed('the close after a refusing CONNACK', CLOSE_MS);
      assert.deepEqual(cmds(c.received), ['connack']);
      const ack = c.received[0]?.packet as IConnackPacket;
      assert.equal(ack.reasonCode, 0x82);
      assert.equal(ack.sessionPresent, false);
      assert.equal(c.received[0]?.raw[2], 0x00, 'acknowledge flags byte');
    });
  }

  // ----- PUBLISH, reason codes -----

  void it('mqtt conformance - [MQTT-3.3.4-1] [§3.4.2.1] PUBACK and PUBREC carry the packet identifier: reason 0x10 (No matching subscribers) with nobody subscribed, 0x00 otherwise', async () => {
    const t = topic('reasons');
    const c = await client();
    c.write(publishBytes({ topic: str(t), qos: 1, id: 11 }));
    c.write(publishBytes({ topic: str(t), qos: 2, id: 12 }));
    const none1 = (await c.take('puback')).packet;
    const none2 = (await c.take('pubrec')).packet;
    assert.deepEqual([none1.messageId, (none1 as { reasonCode?: number }).reasonCode], [11, 0x10]);
    assert.deepEqual([none2.messageId, (none2 as { reasonCode?: number }).reasonCode], [12, 0x10]);
    c.write([0x62, 0x02, 0x00, 12]);
    assert.equal(((await c.take('pubcomp')).packet as { reasonCode?: number }).reasonCode ?? 0, 0);
    const sub = await client();
    await subscribe(sub, [{ topic: t, qos: 0 }]);
    c.write(publishBytes({ topic: str(t), qos: 1, id: 13 }));
    c.write(publishBytes({ topic: str(t), qos: 2, id: 14 }));
    const ok1 = await c.take('puback');
    const ok2 = await c.take('pubrec');
    assert.deepEqual([ok1.packet.messageId, (ok1.packet as { reasonCode?: number }).reasonCode ?? 0], [13, 0]);
    assert.deepEqual([ok2.packet.messageId, (ok2.packet as { reasonCode?: number }).reasonCode ?? 0], [14, 0]);
  });

  void it('mqtt conformance - [MQTT-3.3.1-4] a PUBLISH with both QoS bits set is a Malformed Packet: DISCONNECT 0x81, then close', async () => {
    const c = await client();
    c.write(publishBytes({ topic: str(topic('qos3')), header: 0x36 }));
    await disconnectedWith(c, 0x81, 'PUBLISH QoS 3');
  });

  void it('mqtt conformance - [MQTT-3.3.2-2] a wildcard in the Topic Name: DISCONNECT 0x90 (Topic Name invalid), then close', async () => {
    const c = await client();
    c.write(publishBytes({ topic: str('conf5/+/x'), qos: 1 }));
    await disconnectedWith(c, 0x90, 'PUBLISH to conf5/+/x');
  });

  void it('mqtt conformance - [§3.3.2.1] a zero-length Topic Name without a Topic Alias is a Protocol Error: DISCONNECT 0x82', async () => {
    const c = await client();
    c.write(publishBytes({ topic: str(''), qos: 1 }));
    await disconnectedWith(c, 0x82, 'PUBLISH with an empty topic and no alias');
  });

  for (const [what, bytes] of [
    ['ill-formed UTF-8 in a Topic Name [MQTT-1.5.4-1]', publishBytes({ topic: lengthPrefixed([0x61, 0x2f, 0xff]), qos: 1 })],
    [
      'an encoded surrogate in a Topic Name [MQTT-1.5.4-1]',
      publishBytes({ topic: lengthPrefixed([0x61, 0xed, 0xa0, 0x80]), qos: 1 }),
    ],
    ['U+0000 in a Topic Name [MQTT-1.5.4-2]', publishBytes({ topic: str('a/\u0000'), qos: 1 })],
    ['U+0000 in a Topic Filter [MQTT-1.5.4-2]', frame(0x82, [0x00, 0x01, 0x00, ...str('a/\u0000'), 0x00])],
    [
      'ill-formed UTF-8 in a User Property [MQTT-1.5.4-1]',
      publishBytes({ topic: str('conf5/utf8prop'), qos: 1, props: [0x26, ...str('k'), ...lengthPrefixed([0xc3])] }),
    ],
  ] as const) {
    void it(`mqtt conformance - ${what} is a Malformed Packet: DISCONNECT 0x81, then close`, async () => {
      const c = await client();
      c.write(bytes);
      await disconnectedWith(c, 0x81, what);
    });
  }

  // ----- topic aliases -----

  void it("mqtt conformance - [MQTT-3.3.2-12] Topic Alias 1 to the server's maximum (3) are accepted: a PUBLISH with the alias alone reaches subscribers under the full Topic Name", async () => {
    const base = topic('alias');
    const sub = await client();
    await subscribe(sub, [{ topic: `${base}/#`, qos: 0 }]);
    const c = await client();
    for (const n of [1, 2, 3])
      c.write(publishBytes({ topic: str(`${base}/${n}`), qos: 1, id: n, props: alias(n), payload: `set${n}` }));
    for (const n of [3, 1, 2]) c.write(publishBytes({ topic: str(''), qos: 1, id: 10 + n, props: alias(n), payload: `use${n}` }));
    const got: string[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await nextPublish(sub);
      got.push(`${pub(r).topic}=${text(r)}`);
    }
    assert.deepEqual(got, [
      `${base}/1=set1`,
      `${base}/2=set2`,
      `${base}/3=set3`,
      `${base}/3=use3`,
      `${base}/1=use1`,
      `${base}/2=use2`,
    ]);
  });

  void it('mqtt conformance - [MQTT-3.3.2-8] Topic Alias 0: DISCONNECT 0x94 (Topic Alias invalid)', async () => {
    const c = await client();
    c.write(publishBytes({ topic: str(topic('alias0')), qos: 1, props: alias(0) }));
    await disconnectedWith(c, 0x94, 'Topic Alias 0');
  });

  void it("mqtt conformance - [MQTT-3.3.2-9] a Topic Alias above the server's Topic Alias Maximum: DISCONNECT 0x94", async () => {
    const c = await client();
    c.write(publishBytes({ topic: str(topic('alias4')), qos: 1, props: alias(SERVER_TOPIC_ALIAS_MAXIMUM + 1) }));
    await disconnectedWith(c, 0x94, 'Topic Alias above the maximum');
  });

  void it('mqtt conformance - [§3.3.2.3.4] a Topic Alias with an empty Topic Name and no mapping is a Protocol Error: DISCONNECT 0x82', async () => {
    const c = await client();
    c.write(publishBytes({ topic: str(''), qos: 1, props: alias(2) }));
    await disconnectedWith(c, 0x82, 'an unknown Topic Alias');
  });

  void it('mqtt conformance - [MQTT-3.3.2-7] Topic Alias mappings do not carry over to a new connection: DISCONNECT 0x82', async () => {
    const id = clientId('alias-carry');
    const first = await client({ clientId: id, clean: false, properties: { sessionExpiryInterval: 60 } });
    first.write(publishBytes({ topic: str(topic('alias-carry')), qos: 1, props: alias(1) }));
    await first.take('puback');
    await first.disconnect();
    const second = await client({ clientId: id, clean: false, properties: { sessionExpiryInterval: 60 } });
    second.write(publishBytes({ topic: str(''), qos: 1, props: alias(1) }));
    await disconnectedWith(second, 0x82, 'an alias of the previous connection');
  });

  void it('mqtt conformance - [MQTT-3.1.2-27] without a Topic Alias Maximum from the client the server sends no Topic Alias', async () => {
    const t = topic('no-alias');
    const sub = await client();
    await subscribe(sub, [{ topic: t, qos: 0 }]);
    const p = await client();
    await publish(p, t, 'a', { qos: 1 });
    await publish(p, t, 'b', { qos: 1 });
    const rs = [await nextPublish(sub, t), await nextPublish(sub, t)];
    assert.deepEqual(
      rs.map((r) => pub(r).properties?.topicAlias),
      [undefined, undefined],
    );
  });

  void it("mqtt conformance - [MQTT-3.1.2-26] [MQTT-3.3.2-11] the server's Topic Aliases stay within the client's Topic Alias Maximum (1)", async () => {
    const base = topic('out-alias');
    const sub = await client({ properties: { topicAliasMaximum: 1 } });
    await subscribe(sub, [{ topic: `${base}/#`, qos: 0 }]);
    const p = await client();
    for (const leaf of ['a', 'b', 'a', 'b', 'a']) await publish(p, `${base}/${leaf}`, leaf, { qos: 1 });
    const seen = new Map<number, string>();
    const got: string[] = [];
    for (let i = 0; i < 5; i++) {
      const m = pub(await nextPublish(sub));
      const a = m.properties?.topicAlias;
      if (a !== undefined) {
        assert.ok(a >= 1 && a <= 1, `alias ${a} within 1..1`);
        if (m.topic !== '') seen.set(a, m.topic);
      }
      const name = m.topic !== '' ? m.topic : a !== undefined ? seen.get(a) : undefined;
      assert.ok(name !== undefined, 'an alias alone only after it was set');
      got.push(name);
    }
    assert.deepEqual(
      got,
      ['a', 'b', 'a', 'b', 'a'].map((l) => `${base}/${l}`),
    );
  });

  // ----- flow control: Receive Maximum -----

  void it(`mqtt conformance - [MQTT-3.3.4-7] [§3.3.4] more unacknowledged QoS 2 PUBLISH (awaiting PUBREL) than the server's Receive Maximum (${SERVER_RECEIVE_MAXIMUM}): DISCONNECT 0x93`, async () => {
    const t = topic('recvmax');
    const c = await client();
    for (let i = 1; i <= SERVER_RECEIVE_MAXIMUM; i++) c.write(publishBytes({ topic: str(t), qos: 2, id: i }));
    for (let i = 1; i <= SERVER_RECEIVE_MAXIMUM; i++)
      await c.take((r) => r.packet.cmd === 'pubrec' && r.packet.messageId === i, `PUBREC #${i}`);
    const n = c.received.length;
    c.write(publishBytes({ topic: str(t), qos: 2, id: 99 }));
    await disconnectedWith(c, 0x93, 'one PUBLISH over the Receive Maximum', n);
  });

  void it('mqtt conformance - [§3.3.4] a QoS 2 exchange completed by PUBREL/PUBCOMP frees its Receive Maximum slot', async () => {
    const t = topic('recvmax-free');
    const c = await client();
    for (let i = 1; i <= SERVER_RECEIVE_MAXIMUM; i++) c.write(publishBytes({ topic: str(t), qos: 2, id: i }));
    for (let i = 1; i <= SERVER_RECEIVE_MAXIMUM; i++)
      await c.take((r) => r.packet.cmd === 'pubrec' && r.packet.messageId === i, `PUBREC #${i}`);
    c.write([0x62, 0x02, 0x00, 0x01]);
    await c.take('pubcomp');
    c.write(publishBytes({ topic: str(t), qos: 2, id: 50 }));
    await c.take((r) => r.packet.cmd === 'pubrec' && r.packet.messageId === 50, 'PUBREC #50');
    // a QoS 1 PUBLISH counts as well: one more slot first
    c.write([0x62, 0x02, 0x00, 0x02]);
    await c.take((r) => r.packet.cmd === 'pubcomp' && r.packet.messageId === 2, 'PUBCOMP #2');
    c.write(publishBytes({ topic: str(t), qos: 1, id: 51 }));
    await c.take('puback');
    assert.equal(c.isClosed, false);
  });

  void it("mqtt conformance - [MQTT-3.3.4-9] the server sends at most the client's Receive Maximum (2) unacknowledged QoS 1/2 PUBLISH; PUBACK, a PUBREC >= 0x80 and PUBCOMP free a slot", async () => {
    const t = topic('client-recvmax');
    const sub = await client({ properties: { receiveMaximum: 2 } });
    await subscribe(sub, [{ topic: t, qos: 2 }]);
    const p = await client();
    for (const m of ['a', 'b', 'c', 'd', 'e']) await publish(p, t, m, { qos: 2 });
    const a = await nextPublish(sub, t);
    const b = await nextPublish(sub, t);
    assert.deepEqual(cmds(await sub.quiet(QUIET_MS, 'publish')), [], 'two in flight');
    sub.send({ cmd: 'pubrec', messageId: a.packet.messageId ?? 0, reasonCode: 0x80 } as never);
    const c = await nextPublish(sub, t);
    sub.send({ cmd: 'pubrec', messageId: b.packet.messageId ?? 0 } as never);
    await sub.take('pubrel');
    assert.deepEqual(cmds(await sub.quiet(QUIET_MS, 'publish')), [], 'b (released, awaiting PUBCOMP) and c still count');
    sub.send({ cmd: 'pubcomp', messageId: b.packet.messageId ?? 0 } as never);
    const d = await nextPublish(sub, t);
    assert.deepEqual([a, b, c, d].map(text), ['a', 'b', 'c', 'd']);
  });

  // ----- Maximum Packet Size -----

  void it("mqtt conformance - [MQTT-3.1.2-24] the server sends no packet larger than the client's Maximum Packet Size (200)", async () => {
    const t = topic('client-max');
    const sub = await client({ properties: { maximumPacketSize: 200 } });
    await subscribe(sub, [{ topic: t, qos: 0 }]);
    const p = await client();
    await publish(p, t, 'x'.repeat(500), { qos: 1 });
    await publish(p, t, 'small', { qos: 1 });
    const r = await nextPublish(sub, t);
    assert.equal(text(r), 'small');
    assert.ok(
      sub.received.every((x) => x.raw.length <= 200),
      'every packet within 200 bytes',
    );
  });

  void it("mqtt conformance - [MQTT-3.1.2-25] a QoS 1 message too large for the client is discarded as if sent: it does not hold the client's only Receive Maximum slot", async () => {
    const t = topic('client-max-q1');
    const sub = await client({ properties: { maximumPacketSize: 200, receiveMaximum: 1 } });
    await subscribe(sub, [{ topic: t, qos: 1 }]);
    const p = await client();
    await publish(p, t, 'x'.repeat(500), { qos: 1 });
    await publish(p, t, 'small', { qos: 1 });
    assert.equal(text(await nextPublish(sub, t)), 'small');
  });

  void it('mqtt conformance - [MQTT-3.1.2-25] [MQTT-3.3.2-11] a PUBLISH discarded as too large sets no Topic Alias: the next message on its topic carries the Topic Name', async () => {
    const t = topic('client-max-alias');
    const sub = await client({ properties: { maximumPacketSize: 200, topicAliasMaximum: 2 } });
    await subscribe(sub, [{ topic: t, qos: 0 }]);
    const p = await client();
    await publish(p, t, 'x'.repeat(500), { qos: 1 });
    await publish(p, t, 'small', { qos: 1 });
    const r = pub(await nextPublish(sub));
    assert.equal(r.topic, t, 'the Topic Name, not an alias the client never learnt');
  });

  void it(`mqtt conformance - [MQTT-3.2.2-15] [§3.2.2.3.6] a packet larger than the server's Maximum Packet Size (${SERVER_MAX_PACKET}) in one piece: DISCONNECT 0x95, not routed`, async () => {
    const t = topic('server-max');
    const sub = await client();
    await subscribe(sub, [{ topic: t, qos: 0 }]);
    const c = await client();
    c.write(publishBytes({ topic: str(t), qos: 1, payload: 'y'.repeat(SERVER_MAX_PACKET + 100) }));
    await disconnectedWith(c, 0x95, 'an oversized PUBLISH');
    assert.deepEqual(cmds(await sub.quiet(QUIET_MS, 'publish')), []);
  });

  void it(`mqtt conformance - [MQTT-3.2.2-15] [§3.2.2.3.6] a packet larger than the server's Maximum Packet Size arriving in pieces: DISCONNECT 0x95`, async () => {
    const t = topic('server-max-pieces');
    const c = await client();
    const bytes = publishBytes({ topic: str(t), qos: 1, payload: 'y'.repeat(SERVER_MAX_PACKET * 3) });
    c.write(bytes.subarray(0, 1000));
    await pace(50); // in pieces: the first one is read before the rest is sent
    c.write(bytes.subarray(1000, SERVER_MAX_PACKET + 500));
    await disconnectedWith(c, 0x95, 'an oversized PUBLISH in pieces');
  });

  void it("mqtt conformance - [§3.2.2.3.6] a packet of exactly the server's Maximum Packet Size is accepted", async () => {
    const t = topic('server-max-exact');
    const c = await client();
    const overhead = publishBytes({ topic: str(t), qos: 1, payload: '' }).length;
    // the remaining length takes 2 bytes for both sizes
    const bytes = publishBytes({ topic: str(t), qos: 1, payload: 'z'.repeat(SERVER_MAX_PACKET - overhead - 1) });
    assert.equal(bytes.length, SERVER_MAX_PACKET);
    c.write(bytes);
    await c.take('puback');
  });

  // ----- subscription options -----

  void it("mqtt conformance - [MQTT-3.8.3-3] No Local: the client's own messages are not sent to its No Local subscription, other clients' are", async () => {
    const t = topic('nolocal');
    const c = await client();
    await subscribe(c, [{ topic: t, qos: 1, nl: true }]);
    await publish(c, t, 'mine', { qos: 1 });
    const other = await client();
    await publish(other, t, 'theirs', { qos: 1 });
    assert.equal(text(await nextPublish(c, t)), 'theirs');
    assert.deepEqual(cmds(await c.quiet(QUIET_MS, 'publish')), []);
  });

  void it('mqtt conformance - [MQTT-3.8.3-4] No Local on a Shared Subscription is a Protocol Error: DISCONNECT 0x82', async () => {
    const c = await client();
    c.send({
      cmd: 'subscribe',
      messageId: 1,
      subscriptions: [{ topic: `$share/g/${topic('nlshare')}`, qos: 0, nl: true }],
    } as never);
    await disconnectedWith(c, 0x82, 'No Local on $share');
  });

  void it('mqtt conformance - [MQTT-3.3.1-12] [MQTT-3.3.1-13] Retain As Published 0: RETAIN 0 when forwarding; 1: RETAIN as the publisher set it', async () => {
    const t = topic('rap');
    const rap0 = await client();
    await subscribe(rap0, [{ topic: t, qos: 0, rap: false }]);
    const rap1 = await client();
    await subscribe(rap1, [{ topic: t, qos: 0, rap: true }]);
    const p = await client();
    await publish(p, t, 'r1', { qos: 1, retain: true });
    await publish(p, t, 'r0', { qos: 1, retain: false });
    const flags = async (c: RawMqtt): Promise<string[]> =>
      [await nextPublish(c, t), await nextPublish(c, t)].map((r) => `${text(r)}:${r.header & 1}`);
    assert.deepEqual(await flags(rap0), ['r1:0', 'r0:0']);
    assert.deepEqual(await flags(rap1), ['r1:1', 'r0:0']);
  });

  void it('mqtt conformance - [MQTT-3.3.1-9] [MQTT-3.3.1-10] [MQTT-3.3.1-11] Retain Handling 0: retained messages at every SUBSCRIBE; 1: only for a new subscription; 2: never', async () => {
    const t = topic('rh');
    const p = await client();
    await publish(p, t, 'kept', { qos: 1, retain: true });
    const count = async (rh: number): Promise<number[]> => {
      const c = await client();
      const n: number[] = [];
      for (let i = 0; i < 2; i++) {
        await subscribe(c, [{ topic: t, qos: 0, rh }]);
        n.push((await c.quiet(QUIET_MS, 'publish')).length);
        for (const r of c.received)
          if (r.packet.cmd === 'publish') assert.equal(r.header & 1, 1, 'sent for a subscription: RETAIN 1');
        c.received.length = 0;
      }
      return n;
    };
    assert.deepEqual(await count(0), [1, 1], 'rh 0');
    assert.deepEqual(await count(1), [1, 0], 'rh 1');
    assert.deepEqual(await count(2), [0, 0], 'rh 2');
  });

  void it('mqtt conformance - [§4.8.2] a Shared Subscription is sent no retained messages', async () => {
    const t = topic('share-retained');
    const p = await client();
    await publish(p, t, 'kept', { qos: 1, retain: true });
    const c = await client();
    const ack = await subscribe(c, [{ topic: `$share/g1/${t}`, qos: 1 }]);
    assert.deepEqual((ack.packet as ISubackPacket).granted, [1]);
    assert.deepEqual(cmds(await c.quiet(QUIET_MS, 'publish')), []);
  });

  void it('mqtt conformance - [§3.9.3] SUBACK reason codes: the granted QoS per filter, in order, 0x8F (Topic Filter invalid) for an invalid one', async () => {
    const base = topic('suback');
    const c = await client();
    const ack = await subscribe(c, [
      { topic: `${base}/2`, qos: 2 },
      { topic: `${base}/#/x`, qos: 1 },
      { topic: `${base}/0`, qos: 0 },
      { topic: `${base}/1`, qos: 1 },
      { topic: '$share/a+b/x', qos: 1 },
    ]);
    assert.deepEqual((ack.packet as ISubackPacket).granted, [0x02, 0x8f, 0x00, 0x01, 0x8f]);
  });

  void it('mqtt conformance - [MQTT-3.8.3-2] a SUBSCRIBE without a Topic Filter is a Protocol Error: DISCONNECT 0x82', async () => {
    const c = await client();
    c.write([0x82, 0x03, 0x00, 0x01, 0x00]);
    await disconnectedWith(c, 0x82, 'SUBSCRIBE with no payload');
  });

  void it('mqtt conformance - [MQTT-3.10.3-2] an UNSUBSCRIBE without a Topic Filter is a Protocol Error: DISCONNECT 0x82', async () => {
    const c = await client();
    c.write([0xa2, 0x03, 0x00, 0x01, 0x00]);
    await disconnectedWith(c, 0x82, 'UNSUBSCRIBE with no payload');
  });

  void it('mqtt conformance - [MQTT-3.8.3-5] reserved bits of the Subscription Options set: Malformed Packet, DISCONNECT 0x81', async () => {
    const c = await client();
    c.write(frame(0x82, [0x00, 0x01, 0x00, ...str(topic('subopts')), 0x40]));
    await disconnectedWith(c, 0x81, 'Subscription Options 0x40');
  });

  void it('mqtt conformance - [§2.2.1] a QoS 1 PUBLISH or a SUBSCRIBE with Packet Identifier 0 is a Protocol Error: DISCONNECT 0x82', async () => {
    const a = await client();
    a.write(publishBytes({ topic: str(topic('id0')), qos: 1, id: 0 }));
    await disconnectedWith(a, 0x82, 'PUBLISH QoS 1 with Packet Identifier 0');
    const b = await client();
    b.write(frame(0x82, [0x00, 0x00, 0x00, ...str(topic('id0')), 0x00]));
    await disconnectedWith(b, 0x82, 'SUBSCRIBE with Packet Identifier 0');
  });

  void it('mqtt conformance - [§3.11.3] UNSUBACK: the packet identifier, reason 0x00 for a removed subscription and 0x11 (No subscription existed) in order', async () => {
    const base = topic('unsuback');
    const c = await client();
    await subscribe(c, [{ topic: `${base}/a`, qos: 0 }]);
    c.send({ cmd: 'unsubscribe', messageId: 77, unsubscriptions: [`${base}/none`, `${base}/a`, `${base}/a`] } as never);
    const r = await c.take('unsuback');
    assert.equal(r.packet.messageId, 77);
    assert.deepEqual((r.packet as IUnsubackPacket).granted, [0x11, 0x00, 0x11]);
  });

  // ----- subscription identifiers -----

  void it('mqtt conformance - [MQTT-3.3.4-3] [MQTT-3.3.4-4] one copy for overlapping subscriptions carries the Subscription Identifiers of all of them; a subscription without one adds none', async () => {
    const base = topic('subid');
    const c = await client();
    await subscribe(c, [{ topic: `${base}/+`, qos: 0 }], { subscriptionIdentifier: 7 });
    await subscribe(c, [{ topic: `${base}/#`, qos: 1 }], { subscriptionIdentifier: 300 });
    await subscribe(c, [{ topic: `${base}/x`, qos: 0 }]);
    const p = await client();
    await publish(p, `${base}/x`, 'm', { qos: 1 });
    const r = pub(await nextPublish(c));
    const ids = r.properties?.subscriptionIdentifier;
    assert.deepEqual(
      (Array.isArray(ids) ? [...ids] : [ids]).sort((x, y) => (x ?? 0) - (y ?? 0)),
      [7, 300],
    );
    assert.deepEqual(cmds(await c.quiet(QUIET_MS, 'publish')), [], 'one copy');
    await publish(p, `${base}/x/y`, 'n', { qos: 1 });
    assert.equal(pub(await nextPublish(c)).properties?.subscriptionIdentifier, 300);
  });

  void it('mqtt conformance - [MQTT-3.3.4-3] retained messages sent for a subscription carry its Subscription Identifier', async () => {
    const t = topic('subid-retained');
    const p = await client();
    await publish(p, t, 'kept', { qos: 1, retain: true });
    const c = await client();
    await subscribe(c, [{ topic: t, qos: 0 }], { subscriptionIdentifier: 42 });
    assert.equal(pub(await nextPublish(c, t)).properties?.subscriptionIdentifier, 42);
  });

  void it('mqtt conformance - [§3.8.2.1.2] a Subscription Identifier of 0 is a Protocol Error: DISCONNECT 0x82', async () => {
    const c = await client();
    c.write(frame(0x82, [0x00, 0x01, 0x02, 0x0b, 0x00, ...str(topic('subid0')), 0x00]));
    await disconnectedWith(c, 0x82, 'Subscription Identifier 0');
  });

  // ----- message expiry -----

  void it('mqtt conformance - [MQTT-3.3.2-5] a message whose expiry passed while the session was offline is not sent', async () => {
    const id = clientId('expiry');
    const t = topic('expiry');
    const first = await client({ clientId: id, clean: false, properties: { sessionExpiryInterval: 60 } });
    await subscribe(first, [{ topic: t, qos: 1 }]);
    await first.disconnect();
    const p = await client();
    await publish(p, t, 'short', { qos: 1, properties: { messageExpiryInterval: 1 } });
    await publish(p, t, 'long', { qos: 1, properties: { messageExpiryInterval: 60 } });
    clock.advance(2100);
    const again = await client({ clientId: id, clean: false, properties: { sessionExpiryInterval: 60 } });
    const r = pub(await nextPublish(again, t));
    assert.equal(Buffer.from(r.payload).toString(), 'long');
    assert.deepEqual(cmds(await again.quiet(QUIET_MS, 'publish')), []);
  });

  void it('mqtt conformance - [MQTT-3.3.2-6] the Message Expiry Interval sent on is the received value minus the time the message waited in the server', async () => {
    const id = clientId('expiry-left');
    const t = topic('expiry-left');
    const first = await client({ clientId: id, clean: false, properties: { sessionExpiryInterval: 60 } });
    await subscribe(first, [{ topic: t, qos: 1 }]);
    const p = await client();
    await publish(p, t, 'live', { qos: 1, properties: { messageExpiryInterval: 10 } });
    const live = pub(await nextPublish(first, t));
    assert.equal(live.properties?.messageExpiryInterval, 10, 'no time waited');
    first.send({ cmd: 'puback', messageId: live.messageId ?? 0 } as never);
    await first.disconnect();
    await publish(p, t, 'waited', { qos: 1, properties: { messageExpiryInterval: 10 } });
    clock.advance(2100);
    const again = await client({ clientId: id, clean: false, properties: { sessionExpiryInterval: 60 } });
    const left = pub(await nextPublish(again, t)).properties?.messageExpiryInterval;
    assert.equal(left, 8, '7.9 s left of 10 after waiting 2.1 s, rounded up');
  });

  void it('mqtt conformance - [MQTT-3.3.2-5] a retained message whose expiry passed is not sent to a new subscriber', async () => {
    const t = topic('retained-expiry');
    const p = await client();
    await publish(p, t, 'short', { qos: 1, retain: true, properties: { messageExpiryInterval: 1 } });
    clock.advance(2100);
    const c = await client();
    await subscribe(c, [{ topic: t, qos: 1 }]);
    assert.deepEqual(cmds(await c.quiet(QUIET_MS, 'publish')), []);
  });

  void it('mqtt conformance - [MQTT-3.3.2-6] a retained message is sent with what is left of its Message Expiry Interval', async () => {
    const t = topic('retained-expiry-left');
    const p = await client();
    await publish(p, t, 'kept', { qos: 1, retain: true, properties: { messageExpiryInterval: 60 } });
    const c = await client();
    await subscribe(c, [{ topic: t, qos: 1 }]);
    const left = pub(await nextPublish(c, t)).properties?.messageExpiryInterval;
    assert.ok(left !== undefined && left <= 60 && left >= 58, `Message Expiry Interval ${left}`);
  });

  // ----- QoS 2 and acknowledgements -----

  void it('mqtt conformance - [MQTT-4.3.3-10] [MQTT-4.3.3-11] QoS 2 receiver: a duplicate PUBLISH before PUBREL gets PUBREC and is not delivered twice; PUBREL gets PUBCOMP 0x00', async () => {
    const t = topic('qos2');
    const sub = await client();
    await subscribe(sub, [{ topic: t, qos: 0 }]);
    const c = await client();
    c.write(publishBytes({ topic: str(t), qos: 2, id: 9, payload: 'once' }));
    await c.take('pubrec');
    c.write(publishBytes({ topic: str(t), qos: 2, id: 9, payload: 'once', header: 0x3c }));
    assert.equal((await c.take('pubrec')).packet.messageId, 9);
    c.write([0x62, 0x02, 0x00, 0x09]);
    const comp = await c.take('pubcomp');
    assert.deepEqual([comp.packet.messageId, (comp.packet as { reasonCode?: number }).reasonCode ?? 0], [9, 0]);
    assert.equal(text(await nextPublish(sub, t)), 'once');
    assert.deepEqual(cmds(await sub.quiet(QUIET_MS, 'publish')), []);
  });

  void it('mqtt conformance - [§3.7.2.1] a PUBREL for an unknown Packet Identifier gets PUBCOMP 0x92 (Packet Identifier not found)', async () => {
    const c = await client();
    c.write([0x62, 0x02, 0x03, 0x04]);
    const r = await c.take('pubcomp');
    assert.deepEqual([r.packet.messageId, (r.packet as { reasonCode?: number }).reasonCode], [0x0304, 0x92]);
  });

  void it('mqtt conformance - [§3.6.2.1] a PUBREC for an unknown Packet Identifier gets PUBREL 0x92', async () => {
    const c = await client();
    c.write([0x50, 0x02, 0x05, 0x06]);
    const r = await c.take('pubrel');
    assert.equal(r.header, 0x62);
    assert.deepEqual([r.packet.messageId, (r.packet as { reasonCode?: number }).reasonCode], [0x0506, 0x92]);
  });

  void it('mqtt conformance - [MQTT-3.12.4-1] PINGREQ is answered by PINGRESP', async () => {
    const c = await client();
    c.write([0xc0, 0x00]);
    assert.deepEqual([...(await c.take('pingresp')).raw], [0xd0, 0x00]);
  });

  // ----- will -----

  function will(t: string, payload: string, delay?: number): IConnectPacket['will'] {
    return {
      topic: t,
      payload: Buffer.from(payload),
      qos: 0,
      retain: false,
      ...(delay !== undefined ? { properties: { willDelayInterval: delay } } : {}),
    };
  }

  async function watch(t: string): Promise<RawMqtt> {
    const w = await client();
    await subscribe(w, [{ topic: t, qos: 0 }]);
    return w;
  }

  void it('mqtt conformance - [MQTT-3.1.2-8] the will is published when the connection closes without DISCONNECT (no delay, session ends: at once)', async () => {
    const t = topic('will');
    const w = await watch(t);
    const c = await client({ will: will(t, 'gone', 5) });
    const closed = Date.now();
    await c.destroy();
    await nextPublish(w, t, 1000);
    assert.ok(Date.now() - closed < 1000, 'a delay longer than the session (0) does not hold it back');
  });

  void it('mqtt conformance - [MQTT-3.1.2-10] DISCONNECT with reason 0x00 discards the will', async () => {
    const t = topic('will-discard');
    const w = await watch(t);
    const c = await client({ will: will(t, 'no') });
    await c.disconnect({ reasonCode: 0 });
    assert.deepEqual(cmds(await w.quiet(QUIET_MS, 'publish')), []);
  });

  void it('mqtt conformance - [§3.14.2.1] DISCONNECT with reason 0x04 (Disconnect with Will Message) publishes the will', async () => {
    const t = topic('will-04');
    const w = await watch(t);
    const c = await client({ will: will(t, 'asked') });
    await c.disconnect({ reasonCode: 0x04 });
    assert.equal(text(await nextPublish(w, t)), 'asked');
  });

  void it('mqtt conformance - [MQTT-3.1.2-8] a will with Will Delay 1 s is published once the delay has passed, not before', async () => {
    const t = topic('will-delay');
    const w = await watch(t);
    const c = await client({ will: will(t, 'late', 1), properties: { sessionExpiryInterval: 60 } });
    const delayed = clock.nextTimer(1000, 'the will delay');
    await c.destroy();
    await delayed;
    clock.advance(999);
    assert.equal(clock.hasTimer(1000), true, 'not published 1 ms before the delay ends');
    clock.advance(1);
    assert.equal(text(await nextPublish(w, t)), 'late');
  });

  void it('mqtt conformance - [MQTT-3.1.3-9] a new connection to the session before the Will Delay passes: the will is not sent', async () => {
    const t = topic('will-cancel');
    const id = clientId('willcancel');
    const w = await watch(t);
    const c = await client({
      clientId: id,
      clean: false,
      will: will(t, 'cancelled', 1),
      properties: { sessionExpiryInterval: 60 },
    });
    const delayed = clock.nextTimer(1000, 'the will delay');
    await c.destroy();
    await delayed;
    await client({ clientId: id, clean: false, properties: { sessionExpiryInterval: 60 } });
    clock.advance(1000);
    assert.deepEqual(cmds(await w.quiet(QUIET_MS, 'publish')), []);
  });

  void it('mqtt conformance - [MQTT-3.1.2-8] a Will Delay longer than the session: the will is published when the session ends', async () => {
    const t = topic('will-session-end');
    const w = await watch(t);
    const c = await client({ will: will(t, 'session-over', 30), properties: { sessionExpiryInterval: 1 } });
    const expiring = clock.nextTimer(1000, 'the session expiry');
    await c.destroy();
    await expiring;
    clock.advance(999);
    assert.equal(clock.hasTimer(30_000), true, 'the will waits 1 ms before the session ends');
    clock.advance(1);
    await nextPublish(w, t);
  });
});
