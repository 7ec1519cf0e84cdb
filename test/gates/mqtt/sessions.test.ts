// MQTT gate, persistent sessions, with mqtt.js: subscriptions kept and QoS 1/2
// messages queued while the client is offline (3.1.1 clean session 0, MQTT 5 session
// expiry), QoS 0 not queued, the bounded queue (oldest dropped, counted), session
// expiry (on the interval, and set to 0 on DISCONNECT), and the offline queue across a
// router restart on the same store file.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { IClientOptions, MqttClient } from 'mqtt';
import { connectMqtt, endAll, MessageLog, metricValue, publish, subscribe, uniqueId } from '../../helpers/mqtt-clients';
import { ManualClock } from '../../helpers/clock';
import { startRouter, type TestRouter } from '../../helpers/router';

let router: TestRouter;
/** session expiry runs on it: the tests move it instead of sleeping through an interval */
const clock = new ManualClock();
const clients: MqttClient[] = [];
before(async () => {
  router = await startRouter({ mqtt: { sysIntervalSeconds: 0, maxQueuedMessages: 3 } }, { clock });
});
after(async () => {
  await endAll(clients);
  await router.close();
});

async function open(
  url: string,
  opts: IClientOptions,
  log?: MessageLog,
): Promise<{ client: MqttClient; sessionPresent: boolean }> {
  const { client, connack } = await connectMqtt(url, opts, log);
  clients.push(client);
  return { client, sessionPresent: connack.sessionPresent };
}

/** A clean DISCONNECT (mqtt.js `end(false)`): the session stays, no will. */
function disconnect(c: MqttClient, opts: Record<string, unknown> = {}): Promise<void> {
  return new Promise((r) => c.end(false, opts, () => r()));
}

const persistent: Record<'v4' | 'v5', (id: string) => IClientOptions> = {
  v4: (clientId) => ({ protocolVersion: 4, clientId, clean: false }),
  v5: (clientId) => ({ protocolVersion: 5, clientId, clean: false, properties: { sessionExpiryInterval: 60 } }),
};

for (const [name, opts] of Object.entries(persistent)) {
  void describe(`mqtt persistent session [${name}]`, () => {
    void it(`mqtt - an offline persistent session keeps its subscription and gets QoS 1/2 messages on return, not QoS 0 [${name}]`, async () => {
      const id = uniqueId(`ps-${name}`);
      const topic = `ps/${name}/x`;
      const first = await open(router.mqttUrl, opts(id));
      await subscribe(first.client, topic, { qos: 2 });
      await disconnect(first.client);
      const pub = await open(router.mqttWsUrl, { protocolVersion: 4, clientId: uniqueId('ps-pub') });
      const drops0 = await metricValue(router, 'gatehouse_drops_total', { gate: 'mqtt', reason: 'offline_qos0' });
      await publish(pub.client, topic, 'q0', { qos: 0 });
      await publish(pub.client, topic, 'q1', { qos: 1 });
      // PUBCOMP of q2 comes after the router routed q0 and q1 (one connection, in order)
      await publish(pub.client, topic, 'q2', { qos: 2 });
      const log = new MessageLog();
      const back = await open(router.mqttUrl, opts(id), log);
      assert.equal(back.sessionPresent, true);
      const got = await log.count(2, 'the queued messages');
      assert.deepEqual(
        got.map((m) => [m.payload.toString(), m.packet.qos]),
        [
          ['q1', 1],
          ['q2', 2],
        ],
      );
      await log.quiet(2, 200, 'QoS 0 is not queued');
      assert.equal(await metricValue(router, 'gatehouse_drops_total', { gate: 'mqtt', reason: 'offline_qos0' }), drops0 + 1);
      // the subscription is live again, no SUBSCRIBE needed
      await publish(pub.client, topic, 'live', { qos: 1 });
      await log.count(3, 'a live message to the resumed session');
      await endAll([back.client, pub.client]);
    });

    void it(`mqtt - the offline queue is bounded: the oldest messages are dropped and counted as queue_full [${name}]`, async () => {
      const id = uniqueId(`pq-${name}`);
      const topic = `pq/${name}`;
      const first = await open(router.mqttUrl, opts(id));
      await subscribe(first.client, topic, { qos: 1 });
      await disconnect(first.client);
      const before = await metricValue(router, 'gatehouse_drops_total', { gate: 'mqtt', reason: 'queue_full' });
      const pub = await open(router.mqttUrl, { protocolVersion: 5, clientId: uniqueId('pq-pub') });
      for (let i = 0; i < 6; i++) await publish(pub.client, topic, `m${i}`, { qos: 1 });
      const log = new MessageLog();
      const back = await open(router.mqttUrl, opts(id), log);
      assert.equal(back.sessionPresent, true);
      await log.count(3, 'the newest three (mqtt.maxQueuedMessages = 3)');
      await log.quiet(3, 200, 'bounded queue');
      assert.deepEqual(log.texts(), ['m3', 'm4', 'm5']);
      assert.equal(await metricValue(router, 'gatehouse_drops_total', { gate: 'mqtt', reason: 'queue_full' }), before + 3);
      await endAll([back.client, pub.client]);
    });
  });
}

void describe('mqtt session end', () => {
  void it('mqtt - a v4 clean session is not kept after the connection', async () => {
    const id = uniqueId('clean4');
    const a = await open(router.mqttUrl, { protocolVersion: 4, clientId: id, clean: true });
    await subscribe(a.client, 'clean4/x', { qos: 1 });
    await disconnect(a.client);
    const log = new MessageLog();
    const b = await open(router.mqttUrl, { protocolVersion: 4, clientId: id, clean: false }, log);
    assert.equal(b.sessionPresent, false);
    const pub = await open(router.mqttUrl, { protocolVersion: 4, clientId: uniqueId('clean4-pub') });
    await publish(pub.client, 'clean4/x', 'nobody', { qos: 1 });
    await log.quiet(0, 200, 'the old subscription is gone');
    await endAll([b.client, pub.client]);
  });

  void it('mqtt - a v5 session ends when its expiry interval passes: messages queued meanwhile are gone', async () => {
    const id = uniqueId('expiry');
    const topic = 'expiry/x';
    const a = await open(router.mqttUrl, {
      protocolVersion: 5,
      clientId: id,
      clean: false,
      properties: { sessionExpiryInterval: 1 },
    });
    await subscribe(a.client, topic, { qos: 1 });
    const expiring = clock.nextTimer(1000, 'the session expiry');
    await disconnect(a.client);
    await expiring;
    const pub = await open(router.mqttUrl, { protocolVersion: 5, clientId: uniqueId('expiry-pub') });
    await publish(pub.client, topic, 'queued-then-expired', { qos: 1 });
    clock.advance(1000);
    const log = new MessageLog();
    const b = await open(
      router.mqttUrl,
      { protocolVersion: 5, clientId: id, clean: false, properties: { sessionExpiryInterval: 1 } },
      log,
    );
    assert.equal(b.sessionPresent, false, 'the session expired');
    await publish(pub.client, topic, 'after', { qos: 1 });
    await log.quiet(0, 300, 'expired session: no queue, no subscription');
    await endAll([b.client, pub.client]);
  });

  void it('mqtt - a v5 session resumed within its expiry interval is present', async () => {
    const id = uniqueId('expiry-ok');
    const opts: IClientOptions = { protocolVersion: 5, clientId: id, clean: false, properties: { sessionExpiryInterval: 2 } };
    const a = await open(router.mqttUrl, opts);
    await subscribe(a.client, 'expiry-ok/x', { qos: 1 });
    const expiring = clock.nextTimer(2000, 'the session expiry');
    await disconnect(a.client);
    await expiring;
    clock.advance(1999);
    const b = await open(router.mqttUrl, opts);
    assert.equal(b.sessionPresent, true);
    await endAll([b.client]);
  });

  void it('mqtt - v5 DISCONNECT with session expiry interval 0 ends the session at once', async () => {
    const id = uniqueId('disc0');
    const opts: IClientOptions = { protocolVersion: 5, clientId: id, clean: false, properties: { sessionExpiryInterval: 60 } };
    const a = await open(router.mqttUrl, opts);
    await subscribe(a.client, 'disc0/x', { qos: 1 });
    // resolves on the socket's close: the router read the DISCONNECT before its FIN
    await disconnect(a.client, { properties: { sessionExpiryInterval: 0 } });
    const b = await open(router.mqttUrl, opts);
    assert.equal(b.sessionPresent, false);
    await endAll([b.client]);
  });

  void it('mqtt - v5 clean start true discards a stored session', async () => {
    const id = uniqueId('cleanstart');
    const a = await open(router.mqttUrl, {
      protocolVersion: 5,
      clientId: id,
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    });
    await subscribe(a.client, 'cleanstart/x', { qos: 1 });
    await disconnect(a.client);
    const pub = await open(router.mqttUrl, { protocolVersion: 5, clientId: uniqueId('cleanstart-pub') });
    await publish(pub.client, 'cleanstart/x', 'queued', { qos: 1 });
    const log = new MessageLog();
    const b = await open(
      router.mqttUrl,
      { protocolVersion: 5, clientId: id, clean: true, properties: { sessionExpiryInterval: 60 } },
      log,
    );
    assert.equal(b.sessionPresent, false);
    await log.quiet(0, 250, 'clean start: the queue went with the session');
    await endAll([b.client, pub.client]);
  });
});

void describe('mqtt session across a router restart', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-mqtt-sessions-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  void it('mqtt - an offline persistent session and its queued QoS 1 messages survive a router restart', async () => {
    const file = path.join(dir, 'store.db');
    const id = uniqueId('durable');
    const opts: IClientOptions = { protocolVersion: 5, clientId: id, clean: false, properties: { sessionExpiryInterval: 300 } };
    let r = await startRouter({ store: { path: file }, mqtt: { sysIntervalSeconds: 0 } });
    const opened: MqttClient[] = [];
    try {
      const a = await connectMqtt(r.mqttUrl, opts);
      opened.push(a.client);
      await subscribe(a.client, 'durable/x', { qos: 1 });
      await disconnect(a.client);
      const pub = await connectMqtt(r.mqttUrl, { protocolVersion: 5, clientId: uniqueId('durable-pub') });
      opened.push(pub.client);
      await publish(pub.client, 'durable/x', 'before-restart-1', { qos: 1 });
      await publish(pub.client, 'durable/x', 'before-restart-2', { qos: 1 });
      await endAll([pub.client]);
      await r.close();
      r = await startRouter({ store: { path: file }, mqtt: { sysIntervalSeconds: 0 } });
      const log = new MessageLog();
      const b = await connectMqtt(r.mqttUrl, opts, log);
      opened.push(b.client);
      assert.equal(b.connack.sessionPresent, true, 'the session survived the restart');
      await log.count(2, 'the messages queued before the restart');
      assert.deepEqual(log.texts(), ['before-restart-1', 'before-restart-2']);
      // and the subscription itself survived
      const pub2 = await connectMqtt(r.mqttUrl, { protocolVersion: 5, clientId: uniqueId('durable-pub2') });
      opened.push(pub2.client);
      await publish(pub2.client, 'durable/x', 'after-restart', { qos: 1 });
      await log.count(3, 'a live message after the restart');
    } finally {
      await endAll(opened);
      await r.close();
    }
  });
});
