// MQTT gate, quality of service, with mqtt.js and a raw mqtt-packet client: QoS 0/1/2
// both directions (delivered at min(granted, published)),
// overlapping subscriptions (one copy at the highest granted QoS), packet identifiers
// wrapping past 65535, inbound QoS 2 exactly once across a reconnect, and outbound
// messages in flight resent with DUP when a persistent session resumes.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import mqttPacket, { type IConnackPacket, type IConnectPacket, type IPublishPacket } from 'mqtt-packet';
import {
  connectMqtt,
  endAll,
  joinWamp,
  MessageLog,
  mqttUrl,
  publish,
  subscribe,
  uniqueId,
  withTimeout,
  WAIT_MS,
} from '../../helpers/mqtt-clients';
import { nextPublish, RawMqtt, subscribe as rawSubscribe } from '../../helpers/mqtt-raw';
import { startRouter, type TestRouter } from '../../helpers/router';
import { expectQuiet } from '../../helpers/wait';

let router: TestRouter;
const clients: MqttClient[] = [];
const raws: RawMqtt[] = [];
before(async () => {
  router = await startRouter({ mqtt: { sysIntervalSeconds: 0 } });
});
after(async () => {
  for (const r of raws) void r.destroy();
  await endAll(clients);
  await router.close();
});

async function open(url: string, opts: Parameters<typeof connectMqtt>[1]): Promise<MqttClient> {
  const { client } = await connectMqtt(url, opts);
  clients.push(client);
  return client;
}

async function rawConnect(
  port: number,
  connect: Partial<IConnectPacket>,
  version: 4 | 5,
): Promise<{ raw: RawMqtt; connack: IConnackPacket }> {
  const { client: raw, connack } = await RawMqtt.connect(port, version, connect);
  raws.push(raw);
  return { raw, connack };
}

// over TCP: WebSocket clients are served by the same MqttConnection, and the scenario
// matrix runs MQTT over WebSocket (test/scenarios/matrix.test.ts, docs/test-coverage.md)
const t = 'tcp';
for (const version of [4, 5] as const) {
  void describe(`mqtt qos [${t} v${version}]`, () => {
    void it(`mqtt - QoS 0/1/2 publish reaches QoS 0/1/2 subscribers at min(granted, published) [${t} v${version}]`, async () => {
      const url = mqttUrl(router, t);
      const topic = `qos/${t}/${version}/matrix`;
      const subs = await Promise.all([0, 1, 2].map(() => open(url, { protocolVersion: version, clientId: uniqueId('qsub') })));
      const logs = subs.map((c) => new MessageLog(c));
      await Promise.all(subs.map((c, q) => subscribe(c, topic, { qos: q as 0 | 1 | 2 })));
      const pub = await open(url, { protocolVersion: version, clientId: uniqueId('qpub') });
      for (const q of [0, 1, 2] as const) await publish(pub, topic, `m${q}`, { qos: q });
      for (const [granted, log] of logs.entries()) {
        const got = await log.count(3, `subscriber QoS ${granted}`);
        const byPayload = new Map(got.map((m) => [m.payload.toString(), m.packet.qos]));
        for (const q of [0, 1, 2]) assert.equal(byPayload.get(`m${q}`), Math.min(q, granted), `sub QoS ${granted}, pub QoS ${q}`);
        await log.quiet(3, 0, `subscriber QoS ${granted}`);
      }
      await endAll([...subs, pub]);
    });

    void it(`mqtt - overlapping subscriptions deliver one copy at the highest granted QoS [${t} v${version}]`, async () => {
      const url = mqttUrl(router, t);
      const c = await open(url, { protocolVersion: version, clientId: uniqueId('overlap') });
      const log = new MessageLog(c);
      const base = `ov/${t}/${version}`;
      await subscribe(c, `${base}/+/x`, { qos: 0 });
      await subscribe(c, `${base}/#`, { qos: 2 });
      await subscribe(c, `${base}/a/x`, { qos: 1 });
      await publish(c, `${base}/a/x`, 'once', { qos: 2 });
      const [m] = await log.count(1, 'the one copy');
      assert.equal(m?.packet.qos, 2);
      await log.quiet(1, 250, 'overlapping subscriptions');
      // a topic only the QoS 0 and QoS 2 filters match: still QoS 2, still one copy
      await publish(c, `${base}/b/x`, 'twice-matched', { qos: 1 });
      const got = await log.count(2, 'second message');
      assert.equal(got[1]?.packet.qos, 1, 'min(QoS 2 granted, QoS 1 published)');
      await log.quiet(2, 250, 'overlapping subscriptions');
      await endAll([c]);
    });

    void it(`mqtt - a WAMP publication reaches an MQTT QoS 2 subscriber at QoS 1 [${t} v${version}]`, async () => {
      const c = await open(mqttUrl(router, t), { protocolVersion: version, clientId: uniqueId('wq') });
      const log = new MessageLog(c);
      await subscribe(c, `wq/${t}/${version}`, { qos: 2 });
      const wamp = await joinWamp(router);
      try {
        await withTimeout(
          wamp.session.publish(`wq.${t}.${version}`, [1], {}, { acknowledge: true }) ?? Promise.reject(new Error('no ack')),
          WAIT_MS,
          'PUBLISHED',
        );
        const [m] = await log.count(1, 'the WAMP event');
        assert.equal(m?.packet.qos, 1);
        assert.equal(m?.payload.toString(), '1');
      } finally {
        await wamp.close();
        await endAll([c]);
      }
    });
  });
}

void describe('mqtt packet identifiers', () => {
  void it('mqtt - outbound packet identifiers wrap after 65535 (70000 QoS 1 messages to one subscriber)', async () => {
    const N = 70000;
    const sub = await open(router.mqttUrl, { protocolVersion: 4, clientId: uniqueId('wrap-sub') });
    const ids: number[] = [];
    const seqs: number[] = [];
    let count = 0;
    let waiter: (() => void) | undefined;
    let want = 0;
    sub.on('message', (_t, payload, packet) => {
      ids.push(packet.messageId ?? 0);
      seqs.push(payload.readUInt32BE(0));
      count++;
      if (waiter && count >= want) {
        waiter();
        waiter = undefined;
      }
    });
    await subscribe(sub, 'wrap/t', { qos: 1 });
    const { raw } = await rawConnect(router.mqttPort, { clientId: uniqueId('wrap-pub') }, 4);
    const BATCH = 500; // below the router's offline/slow queue bound: nothing may drop
    const started = Date.now();
    for (let from = 0; from < N; from += BATCH) {
      const chunks: Buffer[] = [];
      const to = Math.min(N, from + BATCH);
      for (let i = from; i < to; i++) {
        const body = Buffer.alloc(4);
        body.writeUInt32BE(i);
        chunks.push(
          Buffer.from(
            mqttPacket.generate({
              cmd: 'publish',
              topic: 'wrap/t',
              payload: body,
              qos: 1,
              messageId: (i % 65535) + 1,
              dup: false,
              retain: false,
            }),
          ),
        );
      }
      raw.write(Buffer.concat(chunks));
      want = to;
      if (count < want) await withTimeout(new Promise<void>((r) => (waiter = r)), 10000, `messages up to ${to} (got ${count})`);
    }
    const elapsed = Date.now() - started;
    assert.equal(count, N);
    assert.deepEqual(seqs.slice(0, 5).concat(seqs.slice(-5)), [0, 1, 2, 3, 4, N - 5, N - 4, N - 3, N - 2, N - 1], 'in order');
    assert.ok(!ids.includes(0), 'QoS 1 messages never use packet id 0');
    assert.ok(
      ids.every((id) => id >= 1 && id <= 65535),
      'ids within 1..65535',
    );
    const at = ids.indexOf(65535);
    assert.ok(at >= 0, 'id 65535 was used');
    assert.equal(ids[at + 1], 1, 'after 65535 comes 1');
    assert.ok(elapsed < 20000, `took ${elapsed} ms`);
    void raw.destroy();
    await endAll([sub]);
  });
});

void describe('mqtt packet identifiers in use', () => {
  void it('mqtt - an acknowledgement with nothing queued does not use up a packet identifier: ids go 1, 2, 3', async () => {
    const { raw } = await rawConnect(router.mqttPort, { clientId: uniqueId('ids-sub') }, 4);
    await rawSubscribe(raw, [{ topic: 'ids/t', qos: 1 }]);
    const pub = await open(router.mqttUrl, { protocolVersion: 4, clientId: uniqueId('ids-pub') });
    const ids: number[] = [];
    for (let i = 0; i < 3; i++) {
      await publish(pub, 'ids/t', `m${i}`, { qos: 1 });
      const got = await nextPublish(raw, 'ids/t');
      const id = got.packet.cmd === 'publish' ? (got.packet.messageId ?? 0) : 0;
      ids.push(id);
      // the PUBACK arrives while the session has nothing queued
      raw.send({ cmd: 'puback', messageId: id });
    }
    assert.deepEqual(ids, [1, 2, 3]);
  });
});

void describe('mqtt QoS 2 and in-flight state across reconnects', () => {
  for (const version of [4, 5] as const) {
    void it(`mqtt - inbound QoS 2 is exactly once across a reconnect: PUBLISH, PUBREC, drop, PUBLISH again with DUP, PUBREL [v${version}]`, async () => {
      const topic = `eo/${version}`;
      const sub = await open(router.mqttUrl, { protocolVersion: 5, clientId: uniqueId('eo-sub') });
      const log = new MessageLog(sub);
      await subscribe(sub, topic, { qos: 2 });
      const id = uniqueId('eo-pub');
      const props = version === 5 ? { properties: { sessionExpiryInterval: 60 } } : {};
      const first = await rawConnect(router.mqttPort, { clientId: id, clean: false, ...props }, version);
      first.raw.send({
        cmd: 'publish',
        topic,
        payload: Buffer.from('exactly-once'),
        qos: 2,
        messageId: 7,
        dup: false,
        retain: false,
      });
      await first.raw.expect((p) => p.cmd === 'pubrec' && p.messageId === 7, 'PUBREC 7');
      void first.raw.destroy(); // gone before PUBREL
      await first.raw.waitClosed('the first connection to close');
      const second = await rawConnect(router.mqttPort, { clientId: id, clean: false, ...props }, version);
      assert.equal(second.connack.sessionPresent, true);
      second.raw.send({
        cmd: 'publish',
        topic,
        payload: Buffer.from('exactly-once'),
        qos: 2,
        messageId: 7,
        dup: true,
        retain: false,
      });
      await second.raw.expect((p) => p.cmd === 'pubrec' && p.messageId === 7, 'PUBREC 7 again');
      second.raw.send({ cmd: 'pubrel', messageId: 7 });
      const comp = await second.raw.expect((p) => p.cmd === 'pubcomp' && p.messageId === 7, 'PUBCOMP 7');
      assert.ok(!comp.reasonCode, `PUBCOMP reason ${comp.reasonCode}`);
      await log.count(1, 'the message');
      await log.quiet(1, 300, 'exactly once');
      // the id is free again: a new message with id 7 is a new message
      second.raw.send({ cmd: 'publish', topic, payload: Buffer.from('next'), qos: 2, messageId: 7, dup: false, retain: false });
      await second.raw.expect((p) => p.cmd === 'pubrec' && p.messageId === 7, 'PUBREC for the new message');
      second.raw.send({ cmd: 'pubrel', messageId: 7 });
      await log.count(2, 'the new message with the reused id');
      assert.deepEqual(log.texts(), ['exactly-once', 'next']);
      void second.raw.destroy();
      await endAll([sub]);
    });

    void it(`mqtt - an unacknowledged QoS 1 message is resent with DUP and its packet id when the session resumes [v${version}]`, async () => {
      const topic = `inflight/${version}`;
      const id = uniqueId('inflight');
      const props = version === 5 ? { properties: { sessionExpiryInterval: 60 } } : {};
      const first = await rawConnect(router.mqttPort, { clientId: id, clean: false, ...props }, version);
      await first.raw.subscribe(topic, 1);
      const pub = await open(router.mqttUrl, { protocolVersion: 4, clientId: uniqueId('inflight-pub') });
      await publish(pub, topic, 'unacked', { qos: 1 });
      const original = (await first.raw.expect((p) => p.cmd === 'publish', 'the PUBLISH')) as IPublishPacket;
      assert.equal(original.dup, false);
      void first.raw.destroy(); // no PUBACK
      await first.raw.waitClosed('the first connection to close');
      const second = await rawConnect(router.mqttPort, { clientId: id, clean: false, ...props }, version);
      assert.equal(second.connack.sessionPresent, true);
      const again = (await second.raw.expect((p) => p.cmd === 'publish', 'the resent PUBLISH')) as IPublishPacket;
      assert.equal(again.dup, true);
      assert.equal(again.messageId, original.messageId);
      assert.equal(again.qos, 1);
      assert.equal(again.payload.toString(), 'unacked');
      second.raw.send({ cmd: 'puback', messageId: again.messageId });
      await expectQuiet();
      assert.equal(second.raw.publishes().length, 1, 'acked: not sent again');
      void second.raw.destroy();
      await endAll([pub]);
    });

    void it(`mqtt - outbound QoS 2: after PUBREC and a reconnect the router resends PUBREL, not the message [v${version}]`, async () => {
      const topic = `out2/${version}`;
      const id = uniqueId('out2');
      const props = version === 5 ? { properties: { sessionExpiryInterval: 60 } } : {};
      const first = await rawConnect(router.mqttPort, { clientId: id, clean: false, ...props }, version);
      await first.raw.subscribe(topic, 2);
      const pub = await open(router.mqttUrl, { protocolVersion: 4, clientId: uniqueId('out2-pub') });
      await publish(pub, topic, 'two', { qos: 2 });
      const msg = (await first.raw.expect((p) => p.cmd === 'publish', 'the PUBLISH')) as IPublishPacket;
      assert.equal(msg.qos, 2);
      first.raw.send({ cmd: 'pubrec', messageId: msg.messageId });
      await first.raw.expect((p) => p.cmd === 'pubrel' && p.messageId === msg.messageId, 'PUBREL');
      void first.raw.destroy(); // no PUBCOMP
      await first.raw.waitClosed('the first connection to close');
      const second = await rawConnect(router.mqttPort, { clientId: id, clean: false, ...props }, version);
      await second.raw.expect((p) => p.cmd === 'pubrel' && p.messageId === msg.messageId, 'PUBREL resent');
      second.raw.send({ cmd: 'pubcomp', messageId: msg.messageId });
      await expectQuiet();
      assert.equal(second.raw.publishes().length, 0, 'the message itself is not sent again');
      void second.raw.destroy();
      await endAll([pub]);
    });
  }
});
