// MQTT gate, bad input: malformed bytes, a first packet that is not CONNECT, a second
// CONNECT, invalid topic filters and names, invalid UTF-8 and U+0000, packets from the
// wrong side, oversized packets, no CONNECT at all. The offending client gets the
// protocol's answer (reason code, SUBACK failure, DISCONNECT or close) and nobody else
// notices: a bystander MQTT client and a WAMP session keep working, the process lives.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import type { Packet } from 'mqtt-packet';
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
import { connectBytes, frame, lengthPrefixed, RawMqtt, varint } from '../../helpers/mqtt-raw';
import { startRouter, type TestRouter } from '../../helpers/router';
import { expectQuiet, pace } from '../../helpers/wait';

let router: TestRouter;
let bystander: MqttClient;
let bystanderLog: MessageLog;
let wamp: Awaited<ReturnType<typeof joinWamp>>;
const raws: RawMqtt[] = [];
let seq = 0;

before(async () => {
  router = await startRouter({ limits: { maxMessageSize: 4096 }, mqtt: { sysIntervalSeconds: 0, connectTimeoutMs: 500 } });
  bystanderLog = new MessageLog();
  bystander = (await connectMqtt(router.mqttUrl, { protocolVersion: 5, clientId: uniqueId('bystander') }, bystanderLog)).client;
  await subscribe(bystander, 'alive/#', { qos: 1 });
  wamp = await joinWamp(router);
});
after(async () => {
  for (const r of raws) void r.destroy();
  await endAll([bystander]);
  await wamp.close();
  await router.close();
});

/** After each bad client: the bystander still publishes and receives, WAMP still works. */
afterEach(async () => {
  const n = ++seq;
  await publish(bystander, `alive/${n}`, `ok-${n}`, { qos: 1 });
  await waitFor(() => bystanderLog.texts().includes(`ok-${n}`), `the bystander message ${n}`);
  const ack = wamp.session.publish('alive.wamp', [n], {}, { acknowledge: true });
  if (!ack) throw new Error('no PUBLISHED promise');
  await withTimeout(ack, WAIT_MS, 'WAMP still routes');
  assert.equal(bystander.connected, true);
});

async function rawConnected(version: 4 | 5): Promise<RawMqtt> {
  const { client: raw, connack } = await RawMqtt.connect(router.mqttPort, version, { clientId: uniqueId('bad') });
  raws.push(raw);
  assert.ok(!connack.returnCode && !connack.reasonCode, 'connected');
  return raw;
}

async function rawSocket(version: 4 | 5 = 4): Promise<RawMqtt> {
  const raw = await RawMqtt.socket(router.mqttPort, version);
  raws.push(raw);
  return raw;
}

/** The v5 DISCONNECT reason the router sent before closing (undefined on v4). */
async function closedWith(raw: RawMqtt, what: string): Promise<number | undefined> {
  await raw.waitClosed(what);
  const d = raw.packets.find((p) => p.cmd === 'disconnect');
  return d?.reasonCode;
}

/** A PUBLISH QoS 0 whose topic is the given raw bytes. */
function publishWithTopicBytes(topic: Buffer): Buffer {
  return frame(0x30, [...lengthPrefixed(topic), ...Buffer.from('payload')]);
}

/** A v5 PUBLISH QoS 0 (empty properties) whose topic is the given raw bytes. */
function publishWithTopicBytes5(topic: Buffer): Buffer {
  return frame(0x30, [...lengthPrefixed(topic), 0, ...Buffer.from('payload')]);
}

void describe('mqtt robustness - before CONNECT', () => {
  void it('mqtt - garbage bytes instead of CONNECT close the connection', async () => {
    const raw = await rawSocket();
    raw.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await raw.waitClosed('the garbage connection to close');
    assert.deepEqual(raw.packets, []);
  });

  void it('mqtt - a first packet that is not CONNECT closes the connection [MQTT-3.1.0-1]', async () => {
    const raw = await rawSocket();
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'x', qos: 0 }] });
    await raw.waitClosed('the connection to close');
    assert.deepEqual(raw.packets, []);
  });

  void it('mqtt - a connection that sends no CONNECT is closed after mqtt.connectTimeoutMs', async () => {
    const raw = await rawSocket();
    const started = Date.now();
    await raw.waitClosed('the connect timeout');
    assert.ok(Date.now() - started >= 400, 'not before the timeout');
  });

  void it('mqtt - a CONNECT fed one byte at a time is understood', async () => {
    const raw = await rawSocket();
    const bytes = connectBytes({ clientId: uniqueId('slow') });
    for (const b of bytes) {
      raw.write(Buffer.from([b]));
      await new Promise((r) => setImmediate(r));
    }
    const connack = await raw.expect((p) => p.cmd === 'connack', 'CONNACK');
    assert.equal((connack as { returnCode?: number }).returnCode, 0);
  });
});

for (const version of [4, 5] as const) {
  void describe(`mqtt robustness - connected [v${version}]`, () => {
    void it(`mqtt - malformed packet bytes close that connection (v5: DISCONNECT 0x81) [v${version}]`, async () => {
      const raw = await rawConnected(version);
      // remaining length with a fifth continuation byte: malformed [MQTT-1.5.5]
      raw.write(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f]));
      const reason = await closedWith(raw, 'close after malformed bytes');
      if (version === 5) assert.equal(reason, 0x81);
    });

    void it(`mqtt - a second CONNECT is a protocol violation (v5: DISCONNECT 0x82) [MQTT-3.1.0-2] [v${version}]`, async () => {
      const raw = await rawConnected(version);
      raw.write(connectBytes({ clientId: uniqueId('again'), level: version }));
      const reason = await closedWith(raw, 'close after a second CONNECT');
      if (version === 5) assert.equal(reason, 0x82);
    });

    void it(`mqtt - invalid topic filters get SUBACK failure codes, valid ones in the same SUBSCRIBE are granted, the connection stays [v${version}]`, async () => {
      const raw = await rawConnected(version);
      const filters = ['a/#/b', 'a/b#', 'a+/b', '', 'ok/+/fine'];
      raw.send({ cmd: 'subscribe', messageId: 5, subscriptions: filters.map((topic) => ({ topic, qos: 1 })) });
      const suback = (await raw.expect((p) => p.cmd === 'suback', 'SUBACK')) as Packet & { granted: number[] };
      const bad = version === 5 ? 0x8f : 0x80;
      assert.deepEqual(suback.granted, [bad, bad, bad, bad, 1]);
      raw.send({ cmd: 'pingreq' });
      await raw.expect((p) => p.cmd === 'pingresp', 'PINGRESP: still connected');
    });

    void it(`mqtt - PUBLISH to a topic name with wildcards closes the connection (v5: DISCONNECT 0x90) [MQTT-3.3.2-2] [v${version}]`, async () => {
      for (const topic of ['a/+/b', 'a/#']) {
        const raw = await rawConnected(version);
        raw.send({ cmd: 'publish', topic, payload: Buffer.from('x'), qos: 1, messageId: 1, dup: false, retain: false });
        const reason = await closedWith(raw, `close after PUBLISH to ${topic}`);
        if (version === 5) assert.equal(reason, 0x90, topic);
        assert.equal(
          raw.packets.some((p) => p.cmd === 'puback'),
          false,
          'not acknowledged',
        );
      }
    });

    void it(`mqtt - a topic with ill-formed UTF-8 or U+0000 closes the connection and is not routed [MQTT-1.5.3-1] [MQTT-1.5.3-2] [v${version}]`, async () => {
      const sub = await rawConnected(version);
      await sub.subscribe('a/#', 0);
      for (const topic of [
        Buffer.from([0x61, 0x2f, 0xc3, 0x28]),
        Buffer.from([0x61, 0x2f, 0xed, 0xa0, 0x80]),
        Buffer.from([0x61, 0x2f, 0x00, 0x62]),
      ]) {
        const raw = await rawConnected(version);
        raw.write(version === 5 ? publishWithTopicBytes5(topic) : publishWithTopicBytes(topic));
        const reason = await closedWith(raw, `close after topic ${topic.toString('hex')}`);
        if (version === 5) assert.ok(reason === 0x81 || reason === 0x90, `reason 0x${reason?.toString(16)}`);
      }
      await expectQuiet();
      assert.deepEqual(
        sub.publishes().map((p) => p.topic),
        [],
        'nothing was routed',
      );
    });

    void it(`mqtt - packets only a server sends (CONNACK, SUBACK) close the connection [v${version}]`, async () => {
      for (const packet of [
        { cmd: 'connack', returnCode: 0, reasonCode: 0, sessionPresent: false },
        { cmd: 'suback', messageId: 1, granted: [0] },
      ] as Packet[]) {
        const raw = await rawConnected(version);
        raw.send(packet);
        const reason = await closedWith(raw, `close after ${packet.cmd}`);
        if (version === 5) assert.equal(reason, 0x82, packet.cmd);
      }
    });

    void it(`mqtt - a packet declaring more than limits.maxMessageSize closes the connection before it is complete (v5: DISCONNECT 0x95) [v${version}]`, async () => {
      const raw = await rawConnected(version);
      const topic = Buffer.from('big/x');
      const declared = 100_000;
      raw.write(
        Buffer.concat([
          Buffer.from([0x30]),
          Buffer.from(varint(declared)),
          Buffer.from(lengthPrefixed(topic)),
          version === 5 ? Buffer.from([0]) : Buffer.alloc(0),
        ]),
      );
      for (let i = 0; i < 3 && !raw.isClosed; i++) {
        raw.write(Buffer.alloc(3000, 0x78));
        await pace(20); // the body in separate TCP segments, as a slow sender's arrives
      }
      const reason = await closedWith(raw, 'close on an oversized packet');
      if (version === 5) assert.equal(reason, 0x95);
    });

    void it(`mqtt - a fixed header declaring more than limits.maxMessageSize is refused at once, with no body sent (v5: DISCONNECT 0x95) [v${version}]`, async () => {
      const raw = await rawConnected(version);
      // remaining length 268,435,455, the largest the encoding allows; nothing follows
      raw.write(Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f]));
      const reason = await closedWith(raw, 'close on a header announcing an oversized packet');
      if (version === 5) assert.equal(reason, 0x95);
    });

    void it(`mqtt - a complete PUBLISH over limits.maxMessageSize in one write closes the connection and is not routed (v5: DISCONNECT 0x95) [v${version}]`, async () => {
      const sub = await rawConnected(version);
      await sub.subscribe('big/#', 0);
      const raw = await rawConnected(version);
      raw.send({ cmd: 'publish', topic: 'big/one', payload: Buffer.alloc(5000, 0x79), qos: 0, dup: false, retain: false });
      const reason = await closedWith(raw, 'close on an oversized packet');
      if (version === 5) assert.equal(reason, 0x95);
      await expectQuiet();
      assert.equal(sub.publishes().length, 0, 'not routed');
    });
  });
}

void describe('mqtt robustness - v5 acknowledgements', () => {
  void it('mqtt - PUBREL for an unknown packet id gets PUBCOMP 0x92 (v5) and the connection stays', async () => {
    const raw = await rawConnected(5);
    raw.send({ cmd: 'pubrel', messageId: 4242 });
    const comp = await raw.expect((p) => p.cmd === 'pubcomp' && p.messageId === 4242, 'PUBCOMP');
    assert.equal(comp.reasonCode, 0x92);
    raw.send({ cmd: 'pingreq' });
    await raw.expect((p) => p.cmd === 'pingresp', 'still connected');
  });

  void it('mqtt - PUBACK for an id never sent is ignored', async () => {
    const raw = await rawConnected(5);
    raw.send({ cmd: 'puback', messageId: 999 });
    raw.send({ cmd: 'pingreq' });
    await raw.expect((p) => p.cmd === 'pingresp', 'still connected');
  });
});
