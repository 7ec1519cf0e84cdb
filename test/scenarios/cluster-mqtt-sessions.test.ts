// Issue 12, MQTT persistent sessions shared by the cluster (lib/cluster/mqtt-sessions.ts,
// gates/mqtt/cluster-sessions.ts): Gatehouse nodes (in-process routers with their own
// SQLite, and one child process to SIGKILL) on one nats-server with JetStream. A session
// is the cluster's: a client reconnecting to another node finds its subscriptions and
// its queued QoS 1 messages; the same client id on a second node takes the session over.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { encodeToken } from '../../lib/cluster/subjects';
import { spawnChildRouter } from '../helpers/child-router';
import { suiteCleanup } from '../helpers/cluster-rpc';
import { CLUSTER_PREFIX, filterFor, startClusterNode, waitInterest } from '../helpers/cluster';
import { freePorts, natsClient, startNats, type NatsCluster } from '../helpers/nats';
import { startRouter, type TestRouter } from '../helpers/router';
import { JetStreamKvEngine } from '../../lib/store/jetstream/kv-engine';
import {
  connectMqtt,
  connectRefusedFrom,
  metricValue,
  endAll,
  joinWamp,
  MessageLog,
  publish,
  serverDisconnect,
  subscribe,
  uniqueId,
  waitFor,
  withTimeout,
} from '../helpers/mqtt-clients';
import { closeAllRaw, nextPublish, RawMqtt, subscribe as rawSubscribe, text } from '../helpers/mqtt-raw';
import type { MqttClient } from 'mqtt';

const FIXTURE = path.join(__dirname, '..', 'fixtures', 'cluster-mqtt-router.ts');
/** a takeover: a NATS round trip or two and a stream read, on a loaded machine */
const CLUSTER_MS = 15_000;
/** the killed node's lease: a takeover from it waits for this to lapse */
const KILL_LEASE_MS = 1500;

describe('cluster - MQTT persistent sessions shared by the nodes', { timeout: 240_000 }, () => {
  const cleanup = suiteCleanup();
  const clients: MqttClient[] = [];
  let nats: NatsCluster;
  let a: TestRouter;
  let b: TestRouter;
  /** every in-process node started, any of which may adopt a dead node's sessions */
  const routers: TestRouter[] = [];

  const node = (id: string): Promise<TestRouter> =>
    startClusterNode(nats.servers, id, (r) => {
      cleanup.after(() => r.close());
      routers.push(r);
    });

  /** an mqtt.js client, ended after the suite; long enough a deadline for a takeover */
  const mqttOn = async (
    r: TestRouter | number,
    clientId: string,
    opts: Record<string, unknown> = {},
    log?: MessageLog,
  ): Promise<{ client: MqttClient; present: boolean }> => {
    const url = typeof r === 'number' ? `mqtt://127.0.0.1:${r}` : r.mqttUrl;
    const { client, connack } = await withTimeout(
      connectMqtt(url, { clientId, clean: false, connectTimeout: CLUSTER_MS, ...opts }, log),
      CLUSTER_MS,
      `CONNACK for ${clientId}`,
    );
    clients.push(client);
    return { client, present: connack.sessionPresent };
  };

  /** messages the cluster's stream holds for a session */
  const stored = async (clientId: string): Promise<number> => {
    const nc = await natsClient(cleanup, nats.servers);
    const jsm = await jetstreamManager(nc);
    const subject = `${CLUSTER_PREFIX}.ms.${encodeToken('realm1')}.${encodeToken(clientId)}`;
    const info = await jsm.streams.info(`${CLUSTER_PREFIX}_mqtt`, { subjects_filter: subject });
    await nc.close();
    return info.state.subjects?.[subject] ?? 0;
  };

  before(async () => {
    const one = await startNats(cleanup);
    nats = { nodes: [one], servers: [one.url] };
    a = await node('ma1');
    b = await node('mb1');
  });
  after(async () => {
    await endAll(clients);
    await closeAllRaw();
    await cleanup.run();
  });

  it('an offline session resumed on another node: present, its 5 queued messages in order, then live ones, none twice', async () => {
    const id = uniqueId('cms1');
    const { client: first } = await mqttOn(a, id);
    await subscribe(first, 'cms/one', { qos: 1 });
    await waitInterest(nats, filterFor('cms.one'));
    await withTimeout(first.endAsync(), CLUSTER_MS, 'DISCONNECT');
    // acknowledged publications on node B: three over MQTT, two over WAMP
    const { client: pub } = await mqttOn(b, uniqueId('pub'), { clean: true });
    for (const m of ['m1', 'm2', 'm3']) await publish(pub, 'cms/one', m, { qos: 1 });
    const wamp = await joinWamp(b);
    for (const m of ['m4', 'm5']) await wamp.session.publish('cms.one', [m], {}, { acknowledge: true });
    await wamp.close();
    await waitFor(async () => (await stored(id)) === 5, 'the 5 messages stored for the session', CLUSTER_MS);

    const log = new MessageLog();
    const { present } = await mqttOn(b, id, {}, log);
    assert.equal(present, true, 'session present on the other node');
    const got = await log.count(5, 'the queued messages on node B', CLUSTER_MS);
    assert.deepEqual(
      got.slice(0, 3).map((m) => m.payload.toString()),
      ['m1', 'm2', 'm3'],
    );
    assert.match(got[3]?.payload.toString() ?? '', /m4/);
    assert.match(got[4]?.payload.toString() ?? '', /m5/);
    // live, published on the node that held the session before
    const { client: pubA } = await mqttOn(a, uniqueId('pubA'), { clean: true });
    await waitInterest(nats, filterFor('cms.one'));
    await publish(pubA, 'cms/one', 'live', { qos: 1 });
    await log.count(6, 'the live message on node B', CLUSTER_MS);
    assert.equal(log.messages[5]?.payload.toString(), 'live');
    await log.quiet(6, 300, 'nothing twice');
    // the acknowledged messages leave the stream
    await waitFor(async () => (await stored(id)) === 0, 'acknowledged messages purged', CLUSTER_MS);
  });

  it('the same client id on a second node takes the session over: the first connection gets 0x8E, the subscriptions come along', async () => {
    const id = uniqueId('cms2');
    const v5 = { protocolVersion: 5, properties: { sessionExpiryInterval: 300 } } as const;
    const { client: onA } = await mqttOn(a, id, v5);
    await subscribe(onA, 'cms/two', { qos: 1 });
    // A's record is written after its CONNACK: a CONNECT elsewhere before that finds none
    await waitFor(async () => (await recordOf(id)) !== undefined, 'the session recorded', CLUSTER_MS);
    const kicked = serverDisconnect(onA, CLUSTER_MS);
    const log = new MessageLog();
    const { present } = await mqttOn(b, id, v5, log);
    assert.equal(present, true);
    assert.equal((await kicked).reasonCode, 0x8e, 'session taken over');
    const { client: pubA } = await mqttOn(a, uniqueId('pubA'), { clean: true });
    await waitInterest(nats, filterFor('cms.two'));
    await publish(pubA, 'cms/two', 'after', { qos: 1 });
    await log.count(1, 'the subscription works on node B', CLUSTER_MS);
    assert.equal(log.messages[0]?.payload.toString(), 'after');
  });

  it("a takeover that read an old record (a SUBSCRIBE on A not yet recorded) still gets the holder's subscriptions", async () => {
    const id = uniqueId('cms3');
    const v5 = { protocolVersion: 5, properties: { sessionExpiryInterval: 300 } } as const;
    const { client: onA } = await mqttOn(a, id, v5);
    await subscribe(onA, 'cms/stale', { qos: 1 });
    const key = `s.realm1.${encodeToken(id)}`;
    const nc = await natsClient(cleanup, nats.servers);
    const kv = await JetStreamKvEngine.open(nc, { bucket: `${CLUSTER_PREFIX}_mqtt` });
    const recorded = (): Promise<{ holder: string; record: { subscriptions: unknown[] } } | undefined> =>
      kv.get(key).then((e) => e?.value.kwargs as { holder: string; record: { subscriptions: unknown[] } } | undefined);
    await waitFor(async () => (await recorded())?.record.subscriptions.length === 1, 'the subscription recorded', CLUSTER_MS);
    // what B reads when A's record write for the SUBSCRIBE is still under way
    const now = await recorded();
    assert.ok(now);
    await kv.put(key, { kwargs: { ...now, record: { ...now.record, subscriptions: [] } } });
    await nc.close();
    const kicked = serverDisconnect(onA, CLUSTER_MS);
    const log = new MessageLog();
    const { present } = await mqttOn(b, id, v5, log);
    assert.equal(present, true);
    assert.equal((await kicked).reasonCode, 0x8e, 'session taken over');
    const { client: pubA } = await mqttOn(a, uniqueId('pubA'), { clean: true });
    await waitInterest(nats, filterFor('cms.stale'));
    await publish(pubA, 'cms/stale', 'after', { qos: 1 });
    await log.count(1, "the holder's subscription works on node B", CLUSTER_MS);
  });

  it('a QoS 1 message delivered on A and not acknowledged comes again with DUP and its packet id on B', async () => {
    const id = uniqueId('cms4');
    const { client: raw } = await RawMqtt.connect(a.mqttPort, 4, { clientId: id, clean: false });
    await rawSubscribe(raw, [{ topic: 'cms/four', qos: 1 }]);
    await waitInterest(nats, filterFor('cms.four'));
    const { client: pub } = await mqttOn(b, uniqueId('pub'), { clean: true });
    await publish(pub, 'cms/four', 'unacked', { qos: 1 });
    const first = await nextPublish(raw, 'cms/four', CLUSTER_MS);
    assert.equal(first.packet.cmd === 'publish' && first.packet.dup, false);
    await raw.destroy();
    const { client: again, connack } = await RawMqtt.connect(b.mqttPort, 4, { clientId: id, clean: false });
    assert.equal(connack.sessionPresent, true);
    const resent = await nextPublish(again, 'cms/four', CLUSTER_MS);
    assert.equal(text(resent), 'unacked');
    assert.ok(resent.packet.cmd === 'publish' && first.packet.cmd === 'publish');
    assert.equal(resent.packet.dup, true, 'DUP set');
    assert.equal(resent.packet.messageId, first.packet.messageId, 'the same packet identifier');
  });

  it('clean start on B discards the session held on A: A no longer queues for it', async () => {
    const id = uniqueId('cms5');
    const { client: onA } = await mqttOn(a, id);
    await subscribe(onA, 'cms/five', { qos: 1 });
    await waitInterest(nats, filterFor('cms.five'));
    await withTimeout(onA.endAsync(), CLUSTER_MS, 'DISCONNECT');
    const { client: clean, present } = await mqttOn(b, id, { clean: true });
    assert.equal(present, false);
    await withTimeout(clean.endAsync(), CLUSTER_MS, 'DISCONNECT');
    // the subscription is gone from the cluster: nobody queues cms/five any more
    await waitInterest(nats, filterFor('cms.five'), false);
    const { client: pub } = await mqttOn(b, uniqueId('pub'), { clean: true });
    await publish(pub, 'cms/five', 'lost', { qos: 1 });
    const log = new MessageLog();
    const back = await mqttOn(a, id, {}, log);
    assert.equal(back.present, false, 'no session left on A');
    await log.quiet(0, 300, 'nothing queued');
    assert.equal(await stored(id), 0);
  });

  /** the client id's record in the cluster's KV bucket, if any */
  const recordOf = async (clientId: string): Promise<unknown> => {
    const nc = await natsClient(cleanup, nats.servers);
    const kv = await JetStreamKvEngine.open(nc, { bucket: `${CLUSTER_PREFIX}_mqtt` });
    const e = await kv.get(`s.realm1.${encodeToken(clientId)}`);
    await nc.close();
    return e?.value;
  };

  it('a clean v5 client id connected on A, then on B: A gets DISCONNECT 0x8E and closes, B stays, counted', async () => {
    const id = uniqueId('cmc1');
    const v5 = { protocolVersion: 5, clean: true } as const;
    const { client: onA } = await mqttOn(a, id, v5);
    await waitFor(async () => (await recordOf(id)) !== undefined, 'the clean session recorded', CLUSTER_MS);
    const before = await metricValue(b, 'gatehouse_cluster_mqtt_takeovers_total', { kind: 'clean' });
    const kicked = serverDisconnect(onA, CLUSTER_MS);
    const { client: onB } = await mqttOn(b, id, v5);
    assert.equal((await kicked).reasonCode, 0x8e, 'session taken over');
    await waitFor(() => Promise.resolve(!onA.connected), 'A closed', CLUSTER_MS);
    assert.equal(await metricValue(b, 'gatehouse_cluster_mqtt_takeovers_total', { kind: 'clean' }), before + 1);
    assert.equal(onB.connected, true, 'B stays');
  });

  it('a clean 3.1.1 client id connected on A, then on B: A just closes', async () => {
    const id = uniqueId('cmc2');
    const { client: onA } = await RawMqtt.connect(a.mqttPort, 4, { clientId: id, clean: true });
    await waitFor(async () => (await recordOf(id)) !== undefined, 'the clean session recorded', CLUSTER_MS);
    const { client: onB } = await RawMqtt.connect(b.mqttPort, 4, { clientId: id, clean: true });
    await onA.waitClosed('A closed', CLUSTER_MS);
    assert.equal(onB.isClosed, false, 'B stays');
  });

  it('persistent X on A, clean X on B: A closed, the session gone', async () => {
    const id = uniqueId('cmc3');
    const { client: onA } = await RawMqtt.connect(a.mqttPort, 4, { clientId: id, clean: false });
    await rawSubscribe(onA, [{ topic: 'cmc/three', qos: 1 }]);
    // A's record is written after its CONNACK: a CONNECT elsewhere before that finds none
    // (README "MQTT persistent sessions across nodes")
    await waitFor(async () => (await recordOf(id)) !== undefined, 'the session recorded', CLUSTER_MS);
    const { client: onB } = await RawMqtt.connect(b.mqttPort, 4, { clientId: id, clean: true });
    await onA.waitClosed('A closed', CLUSTER_MS);
    await onB.disconnect();
    const { connack } = await RawMqtt.connect(b.mqttPort, 4, { clientId: id, clean: false });
    assert.equal(connack.sessionPresent, false, 'no session present');
  });

  it('a clean client disconnecting leaves no record: a persistent connect elsewhere is not delayed', async () => {
    const id = uniqueId('cmc4');
    const { client: onA } = await mqttOn(a, id, { clean: true });
    await waitFor(async () => (await recordOf(id)) !== undefined, 'the clean session recorded', CLUSTER_MS);
    await withTimeout(onA.endAsync(), CLUSTER_MS, 'DISCONNECT');
    await waitFor(async () => (await recordOf(id)) === undefined, 'the clean record removed', CLUSTER_MS);
    const { present } = await mqttOn(b, id);
    assert.equal(present, false);
  });

  it('a node restarted under the same node id takes its offline sessions back: they queue again before their client returns', async () => {
    const id = uniqueId('cms7');
    const first = await node('mr1');
    const { client } = await mqttOn(first, id);
    await subscribe(client, 'cms/seven', { qos: 1 });
    await withTimeout(client.endAsync(), CLUSTER_MS, 'DISCONNECT');
    await first.close();
    const again = await node('mr1');
    await waitInterest(nats, filterFor('cms.seven'));
    const { client: pub } = await mqttOn(b, uniqueId('pub'), { clean: true });
    await publish(pub, 'cms/seven', 'while away', { qos: 1 });
    await waitFor(async () => (await stored(id)) === 1, 'the message stored for the session', CLUSTER_MS);
    const log = new MessageLog();
    const { present } = await mqttOn(again, id, {}, log);
    assert.equal(present, true);
    await log.count(1, 'the message queued after the restart', CLUSTER_MS);
    assert.equal(log.messages[0]?.payload.toString(), 'while away');
  });

  it('a holder alive but silent: CONNACK server unavailable (3.1.1 return code 3) within the bound, counted', async () => {
    const id = uniqueId('cms6');
    const nc = await natsClient(cleanup, nats.servers);
    // a node 'ghost' with a live lease holds the session and never answers
    const kv = await JetStreamKvEngine.open(nc, { bucket: `${CLUSTER_PREFIX}_mqtt` });
    await kv.put('lease.ghost', { kwargs: { expiresAt: Date.now() + 600_000 } });
    const record = { realm: 'realm1', clientId: id, authid: id, expirySeconds: 300, subscriptions: [], qos2: [] };
    await kv.put(`s.realm1.${encodeToken(id)}`, { kwargs: { holder: 'ghost', record } });
    nc.subscribe(`${CLUSTER_PREFIX}.mqs.ghost`);
    await nc.flush();
    const failures = await metricValue(b, 'gatehouse_cluster_mqtt_handover_failures_total', {});
    const started = Date.now();
    const code = await connectRefusedFrom(b.mqttPort, '127.0.0.1', { clientId: id, clean: false }, CLUSTER_MS);
    assert.equal(code, 3, 'server unavailable');
    assert.ok(Date.now() - started < CLUSTER_MS, 'answered, not hung');
    assert.equal(await metricValue(b, 'gatehouse_cluster_mqtt_handover_failures_total', {}), failures + 1);
    // nothing of it stayed on node B: the record is still the ghost's
    assert.equal((await kv.get(`s.realm1.${encodeToken(id)}`))?.value.kwargs?.['holder'], 'ghost');
  });

  it('a node that cannot reach NATS: a clean session is served at once, one to resume gets server unavailable', async () => {
    const [port = 0] = await freePorts(1);
    // nothing listens there: the node stays 'connecting'
    const lonely = await startRouter({
      store: { engine: 'sqlite', path: ':memory:' },
      cluster: { nats: [`nats://127.0.0.1:${port}`], node: 'lonely' },
    });
    cleanup.after(() => lonely.close());
    const { client } = await connectMqtt(lonely.mqttUrl, { clientId: uniqueId('clean'), clean: true });
    clients.push(client);
    const code = await connectRefusedFrom(lonely.mqttPort, '127.0.0.1', { clientId: uniqueId('kept'), clean: false }, CLUSTER_MS);
    assert.equal(code, 3, 'server unavailable');
  });

  it('the node holding an offline session is SIGKILLed after its messages were acknowledged: a survivor adopts it and delivers them all, and what came after', async () => {
    const child = await spawnChildRouter<{ mqttPort: number }>(FIXTURE, [nats.servers[0] ?? '', 'mk1', String(KILL_LEASE_MS)]);
    cleanup.after(() => child.kill().then(() => undefined));
    const id = uniqueId('cms3');
    const { client: onChild } = await mqttOn(child.ready.mqttPort, id);
    await subscribe(onChild, 'cms/three', { qos: 1 });
    await waitInterest(nats, filterFor('cms.three'));
    await withTimeout(onChild.endAsync(), CLUSTER_MS, 'DISCONNECT');
    const { client: pub } = await mqttOn(b, uniqueId('pub'), { clean: true });
    for (const m of ['k1', 'k2', 'k3']) await publish(pub, 'cms/three', m, { qos: 1 });
    await waitFor(async () => (await stored(id)) === 3, 'the 3 messages stored for the session', CLUSTER_MS);
    const adopted = async (): Promise<number> => {
      let n = 0;
      for (const r of routers) n += await metricValue(r, 'gatehouse_cluster_mqtt_takeovers_total', { kind: 'dead' });
      return n;
    };
    const before = await adopted();
    await child.kill();
    // a survivor claims the lapsed lease and adopts the session: it queues again
    await waitFor(async () => (await adopted()) > before, 'the session adopted by a survivor', CLUSTER_MS);
    await publish(pub, 'cms/three', 'k4', { qos: 1 });
    await waitFor(async () => (await stored(id)) === 4, 'the message after the crash stored too', CLUSTER_MS);
    const log = new MessageLog();
    const { present } = await mqttOn(b, id, {}, log);
    assert.equal(present, true);
    await log.count(4, 'the messages of the dead node, and the one after', CLUSTER_MS);
    assert.deepEqual(log.texts(), ['k1', 'k2', 'k3', 'k4']);
  });
  it('the stream keeps the mqtt mailbox bound per session, following a changed mqtt.maxQueuedMessages', async () => {
    const r = await startRouter({
      store: { engine: 'sqlite', path: ':memory:' },
      mqtt: { maxQueuedMessages: 7 },
      cluster: { nats: nats.servers, node: 'mq7' },
    });
    cleanup.after(() => r.close());
    const nc = await natsClient(cleanup, nats.servers);
    const jsm = await jetstreamManager(nc);
    await waitFor(
      async () => (await jsm.streams.info(`${CLUSTER_PREFIX}_mqtt`)).config.max_msgs_per_subject === 7,
      'the per-session bound of the stream',
      CLUSTER_MS,
    );
  });
});
