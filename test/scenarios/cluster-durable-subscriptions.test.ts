// Issue 12, STOMP durable subscriptions shared by the cluster (lib/durable-subscriptions.ts
// with lib/work-queues/jetstream-bindings.ts and lib/work-queues/jetstream.ts): two
// Gatehouse nodes (in-process routers, own SQLite each) on one nats-server with
// JetStream. The binding is in the cluster's KV and its queue in JetStream, so a client
// finds its durable subscription and its messages on any node; each publication is
// queued once, by the node it was published on.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { spawnChildRouter } from '../helpers/child-router';
import { suiteCleanup } from '../helpers/cluster-rpc';
import { connectMqtt, endAll, joinWamp, metricValue, publish, sessionsOfRole } from '../helpers/mqtt-clients';
import { natsClient, startNats, type NatsNode } from '../helpers/nats';
import { startClusterNode } from '../helpers/cluster';
import type { TestRouter } from '../helpers/router';
import { expectQuiet } from '../helpers/wait';
import {
  Inbox,
  StompjsClients,
  stop,
  subscribeConfirmed,
  waitFor,
  withReceipt,
  type StompClient,
  type StompHeaders,
} from '../helpers/stomp-clients';
import type { MqttClient } from 'mqtt';

/** a node in its own process (default prefix `gatehouse`), for the SIGKILL test */
const FIXTURE = path.join(__dirname, '..', 'fixtures', 'cluster-queue-router.ts');
/** a pull across a loaded machine and a NATS round trip or two */
const CLUSTER_MS = 15_000;

describe('cluster - STOMP durable subscriptions shared by two nodes', { timeout: 240_000 }, () => {
  const cleanup = suiteCleanup();
  const stomp = new StompjsClients();
  const mqtts: MqttClient[] = [];
  let nats: NatsNode;
  let nc: NatsConnection;
  const routers: TestRouter[] = [];

  /**
   * A node of cluster `prefix`: each test has its own (its own streams, bucket and
   * meta API), so what it counts is its two nodes' alone.
   */
  const node = (prefix: string, id: string, config: Record<string, unknown> = {}): Promise<TestRouter> =>
    startClusterNode([nats.url], id, (r) => routers.push(r), { cluster: { prefix }, config });

  /** a durable subscriber: its client id is the owner, the SUBSCRIBE names the subscription */
  const subscriber = async (
    r: TestRouter,
    clientId: string,
    topic: string,
    headers: StompHeaders,
    onMessage: Inbox | Parameters<typeof subscribeConfirmed>[2] = new Inbox(),
  ): Promise<StompClient> => {
    const { client } = await stomp.tcp(r.stompPort, { connectHeaders: { 'client-id': clientId } });
    await subscribeConfirmed(client, topic, onMessage, headers);
    return client;
  };

  const mqttPublisher = async (r: TestRouter): Promise<MqttClient> => {
    const { client } = await connectMqtt(r.mqttUrl);
    mqtts.push(client);
    return client;
  };

  /**
   * Every node has a feed (a router-side session) for every binding it knows; the meta
   * API counts the sessions of every node of the cluster (lib/cluster/rpc/session-meta.ts).
   */
  const feedsReach = async (r: TestRouter, n: number, what: string): Promise<void> => {
    await waitFor(async () => (await sessionsOfRole(r, 'router')) === n, what, CLUSTER_MS);
  };

  /** sessions of every node subscribed to exactly `topic` (feeds: one per node) */
  const subscribersOf = async (r: TestRouter, topic: string): Promise<number> => {
    const w = await joinWamp(r);
    try {
      const id = await w.session.call<number | null>('wamp.subscription.lookup', [topic]);
      return id === null ? 0 : await w.session.call<number>('wamp.subscription.count_subscribers', [id]);
    } finally {
      await w.close();
    }
  };

  /** messages cluster `prefix`'s durable stream holds */
  const stored = async (prefix: string): Promise<number> => {
    const jsm = await jetstreamManager(nc);
    return (await jsm.streams.info(`${prefix}_durable`)).state.messages;
  };

  before(async () => {
    nats = await startNats(cleanup);
    nc = await natsClient(cleanup, nats.url);
  });
  after(async () => {
    await stomp.closeAll();
    await endAll(mqtts);
    await Promise.all(routers.map((r) => r.close()));
    await cleanup.run();
  });

  it('cluster durable - made on node A, resumed on node B: all 7 published on both nodes, once each, in order, acks work', async () => {
    const prefix = 'cdur1';
    const [a, b] = [await node(prefix, 'da1'), await node(prefix, 'db1')];
    const topic = '/topic/cdur.resume';
    const headers = { id: 'sub-1', 'durable-subscription-name': 'resume-1', ack: 'client-individual' };
    const first = await subscriber(a, 'durable-client-1', topic, headers);
    await feedsReach(b, 2, 'node B feeds the binding made on node A (and node A)');
    await stop(first);

    const onB = await mqttPublisher(b);
    for (let i = 1; i <= 5; i++) await publish(onB, 'cdur/resume', `b${i}`, { qos: 1 });
    const onA = await mqttPublisher(a);
    for (let i = 1; i <= 2; i++) await publish(onA, 'cdur/resume', `a${i}`, { qos: 1 });

    const inbox = new Inbox();
    const back = await subscriber(b, 'durable-client-1', topic, headers, (m) => {
      inbox.push(m);
      m.ack();
    });
    const got = await inbox.count(7, 'everything published while away, on both nodes', CLUSTER_MS);
    const bodies = got.map((m) => m.body);
    assert.deepEqual([...bodies].sort(), ['a1', 'a2', 'b1', 'b2', 'b3', 'b4', 'b5']);
    assert.deepEqual(
      bodies.filter((x) => x.startsWith('b')),
      ['b1', 'b2', 'b3', 'b4', 'b5'],
      "node B's publisher's order",
    );
    assert.deepEqual(
      bodies.filter((x) => x.startsWith('a')),
      ['a1', 'a2'],
      "node A's publisher's order",
    );
    assert.ok(
      got.every((m) => m.headers['destination'] === topic && m.headers['redelivered'] === undefined),
      'to the topic, first deliveries',
    );
    await inbox.quiet(7, 500, 'each once');
    // the ACKs reached JetStream: the stream holds nothing of it any more
    await waitFor(async () => (await stored(prefix)) === 0, 'acknowledged in the stream', CLUSTER_MS);
    await stop(back);

    // acknowledged: gone for good, also for a subscriber on the other node
    const again = new Inbox();
    const third = await subscriber(a, 'durable-client-1', topic, headers, again);
    await again.quiet(0, 1500, 'acknowledged messages do not come back');
    await stop(third);
  });

  it('cluster durable - a publication is queued once although both nodes know the binding', async () => {
    const prefix = 'cdur2';
    const [a, b] = [await node(prefix, 'da2'), await node(prefix, 'db2')];
    const topic = '/topic/cdur.once';
    const headers = { id: 'sub-2', 'durable-subscription-name': 'once-2' };
    const client = await subscriber(a, 'durable-client-2', topic, headers);
    await feedsReach(b, 2, 'node B feeds the binding (and node A)');
    await stop(client);

    await publish(await mqttPublisher(a), 'cdur/once', 'from-a', { qos: 1 });
    await publish(await mqttPublisher(b), 'cdur/once', 'from-b', { qos: 1 });
    await waitFor(async () => (await stored(prefix)) >= 2, 'both publications stored', CLUSTER_MS);
    await expectQuiet(500);
    assert.equal(await stored(prefix), 2, 'each stored once');
    // the other node's feed saw each of them too (over the cluster), and did not queue it
    const inbox = new Inbox();
    const back = await subscriber(b, 'durable-client-2', topic, headers, inbox);
    await inbox.count(2, 'the two publications', CLUSTER_MS);
    await inbox.quiet(2, 1000, 'each queued once');
    assert.deepEqual(inbox.bodies().sort(), ['from-a', 'from-b']);
    await stop(back);
  });

  it('cluster durable - UNSUBSCRIBE with durable: true on node B deletes the subscription made on node A, everywhere', async () => {
    const prefix = 'cdur3';
    const [a, b] = [await node(prefix, 'da3'), await node(prefix, 'db3')];
    const topic = '/topic/cdur.unbind';
    const headers = { id: 'unbind-3', durable: 'true' };
    const client = await subscriber(a, 'durable-client-3', topic, headers);
    await feedsReach(b, 2, 'node B feeds the binding (and node A)');
    await stop(client);
    await publish(await mqttPublisher(a), 'cdur/unbind', 'before', { qos: 1 });
    await waitFor(async () => (await stored(prefix)) === 1, 'queued before the unbind', CLUSTER_MS);

    // not consuming it on B: named by the id with durable: true (README "STOMP")
    const { client: remover } = await stomp.tcp(b.stompPort, { connectHeaders: { 'client-id': 'durable-client-3' } });
    await withReceipt(remover, 'UNSUBSCRIBE durable: true', (receipt) =>
      remover.unsubscribe('unbind-3', { receipt, durable: 'true' }),
    );
    await feedsReach(a, 0, 'the feeds of both nodes stopped');
    await waitFor(async () => (await stored(prefix)) === 0, 'its messages deleted', CLUSTER_MS);

    // a new subscription of that name on A starts empty and gets nothing published meanwhile
    await publish(await mqttPublisher(a), 'cdur/unbind', 'after', { qos: 1 });
    const inbox = new Inbox();
    const back = await subscriber(a, 'durable-client-3', topic, headers, inbox);
    await inbox.quiet(0, 1500, 'nothing from before or while unbound');
    await publish(await mqttPublisher(b), 'cdur/unbind', 'new', { qos: 1 });
    await inbox.count(1, 'the new subscription works', CLUSTER_MS);
    assert.deepEqual(inbox.bodies(), ['new']);
    await stop(back);
  });

  it('cluster durable - the node the binding was made on closes: the survivor still queues and delivers', async () => {
    const prefix = 'cdur4';
    const [a, b] = [await node(prefix, 'da4'), await node(prefix, 'db4')];
    const topic = '/topic/cdur.survive';
    const headers = { id: 'sub-4', 'activemq.subscriptionName': 'survive-4', ack: 'client' };
    const client = await subscriber(a, 'durable-client-4', topic, headers);
    await feedsReach(b, 2, 'node B feeds the binding (and node A)');
    await stop(client);
    await a.close();
    routers.splice(routers.indexOf(a), 1);

    const onB = await mqttPublisher(b);
    for (const body of ['s1', 's2', 's3']) await publish(onB, 'cdur/survive', body, { qos: 1 });
    const inbox = new Inbox();
    const back = await subscriber(b, 'durable-client-4', topic, headers, inbox);
    const got = await inbox.count(3, 'published after node A closed', CLUSTER_MS);
    assert.deepEqual(
      got.map((m) => m.body),
      ['s1', 's2', 's3'],
    );
    // `client` acks cumulatively: the last one settles all three
    await withReceipt(back, 'cumulative ACK', (receipt) => got[2]?.ack({ receipt }));
    await waitFor(async () => (await stored(prefix)) === 0, 'acknowledged in the stream', CLUSTER_MS);
    await stop(back);
  });

  it('cluster durable - a full durable subscription drops the newest event, counted (stomp.maxQueueMessages per subscription)', async () => {
    const prefix = 'cdur5';
    const bounded = { stomp: { maxQueueMessages: 2 } };
    const [a, b] = [await node(prefix, 'da5', bounded), await node(prefix, 'db5', bounded)];
    const topic = '/topic/cdur.full';
    const headers = { id: 'sub-5', 'durable-subscription-name': 'full-5' };
    const client = await subscriber(a, 'durable-client-5', topic, headers);
    await feedsReach(b, 2, 'node B feeds the binding (and node A)');
    await stop(client);
    const onB = await mqttPublisher(b);
    for (const body of ['f1', 'f2', 'f3']) await publish(onB, 'cdur/full', body, { qos: 1 });
    const drops = { gate: 'queues', reason: 'queue_full' };
    await waitFor(
      async () => (await metricValue(b, 'gatehouse_drops_total', drops)) === 1,
      'the third event dropped',
      CLUSTER_MS,
    );
    const inbox = new Inbox();
    const back = await subscriber(a, 'durable-client-5', topic, headers, inbox);
    await inbox.count(2, 'what the subscription holds', CLUSTER_MS);
    await inbox.quiet(2, 1000, 'no more than its bound');
    assert.deepEqual(inbox.bodies(), ['f1', 'f2']);
    await stop(back);
  });

  it('cluster durable - the node the binding was made on is SIGKILLed: the survivor still queues and delivers', async () => {
    // the fixture's cluster prefix is the default one: no other test here uses it
    const child = await spawnChildRouter<{ stompPort: number }>(FIXTURE, [nats.url, 'dk6', '2000']);
    cleanup.after(() => child.kill().then(() => undefined));
    const b = await node('gatehouse', 'db6');
    const topic = '/topic/cdur.killed';
    const headers = { id: 'sub-6', 'durable-subscription-name': 'killed-6', ack: 'client-individual' };
    const { client } = await stomp.tcp(child.ready.stompPort, {
      connectHeaders: { 'client-id': 'durable-client-6' },
      onWebSocketClose: () => undefined,
    });
    await subscribeConfirmed(client, topic, new Inbox(), headers);
    await feedsReach(b, 2, 'node B feeds the binding (and the node to kill)');
    await child.kill();

    const onB = await mqttPublisher(b);
    for (const body of ['k1', 'k2']) await publish(onB, 'cdur/killed', body, { qos: 1 });
    const inbox = new Inbox();
    const back = await subscriber(b, 'durable-client-6', topic, headers, (m) => {
      inbox.push(m);
      m.ack();
    });
    const got = await inbox.count(2, 'published after the binding node died', CLUSTER_MS);
    assert.deepEqual(
      got.map((m) => m.body),
      ['k1', 'k2'],
    );
    await waitFor(async () => (await stored('gatehouse')) === 0, 'acknowledged in the stream', CLUSTER_MS);
    await stop(back);
  });

  it('cluster durable - rebound to another topic on node B: starts over on every node', async () => {
    const prefix = 'cdur7';
    const [a, b] = [await node(prefix, 'da7'), await node(prefix, 'db7')];
    const headers = { id: 'sub-7', 'durable-subscription-name': 'rebind-7' };
    const client = await subscriber(a, 'durable-client-7', '/topic/cdur.old', headers);
    await waitFor(async () => (await subscribersOf(b, 'cdur.old')) === 2, 'both nodes feed cdur.old', CLUSTER_MS);
    await stop(client);
    await publish(await mqttPublisher(a), 'cdur/old', 'old1', { qos: 1 });
    await waitFor(async () => (await stored(prefix)) === 1, 'queued for the old topic', CLUSTER_MS);

    // the same name on another topic: the old messages go, and node A follows the new topic
    const inbox = new Inbox();
    const back = await subscriber(b, 'durable-client-7', '/topic/cdur.new', headers, inbox);
    await waitFor(async () => (await subscribersOf(b, 'cdur.new')) === 2, 'both nodes feed cdur.new', CLUSTER_MS);
    await waitFor(async () => (await subscribersOf(b, 'cdur.old')) === 0, 'no node feeds cdur.old', CLUSTER_MS);
    const onA = await mqttPublisher(a);
    await publish(onA, 'cdur/old', 'old2', { qos: 1 });
    await publish(onA, 'cdur/new', 'new1', { qos: 1 });
    await inbox.count(1, 'the new topic, published on node A', CLUSTER_MS);
    await inbox.quiet(1, 1000, 'nothing of the old topic');
    assert.deepEqual(inbox.bodies(), ['new1']);
    await stop(back);
  });
});
