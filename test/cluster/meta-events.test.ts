// Meta events across a cluster (issue 12): three clustered routers (pub/sub and RPC
// over one nats-server); a meta subscriber on one node gets the session, subscription
// and registration meta events of a session on another node, each exactly once, with
// the ids that session got.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { filterFor, subjectsKnown } from '../helpers/cluster';
import { suiteCleanup } from '../helpers/cluster-rpc';
import { startNats, type NatsNode } from '../helpers/nats';
import { startRouter, type TestRouter } from '../helpers/router';
import { ClientPool, rpcTransports, within, type AutobahnClient } from '../helpers/rpc-clients';
import { waitFor, WAIT_MS } from '../helpers/wait';

const TOPICS = [
  'wamp.session.on_join',
  'wamp.session.on_leave',
  'wamp.subscription.on_create',
  'wamp.subscription.on_subscribe',
  'wamp.subscription.on_unsubscribe',
  'wamp.subscription.on_delete',
  'wamp.registration.on_create',
  'wamp.registration.on_register',
  'wamp.registration.on_unregister',
  'wamp.registration.on_delete',
] as const;

let nats: NatsNode;
let m1: TestRouter;
let m2: TestRouter;
let m3: TestRouter;
const pools = new Map<TestRouter, ClientPool>();
const cleanup = suiteCleanup(after);

before(async () => {
  nats = await startNats(cleanup);
  const nodes = await Promise.all(
    ['m1', 'm2', 'm3'].map((node) =>
      startRouter({
        store: { engine: 'sqlite', path: ':memory:' },
        cluster: { nats: [nats.url], node, rpc: { heartbeatMs: 100, leaseMs: 600 } },
      }),
    ),
  );
  cleanup.after(async () => {
    await Promise.all(nodes.map((n) => n.close()));
  });
  [m1, m2, m3] = nodes as [TestRouter, TestRouter, TestRouter];
  const joined = nodes.map((n) => {
    const cluster = n.router.cluster;
    if (!cluster) throw new Error('a node without its cluster');
    return cluster.whenConnected();
  });
  await within(Promise.all(joined), WAIT_MS * 3, 'nodes joined the cluster');
  for (const n of nodes) pools.set(n, new ClientPool(n));
});
afterEach(async () => {
  await Promise.all([...pools.values()].map((p) => p.closeAll()));
});

function autobahn(n: TestRouter): Promise<AutobahnClient> {
  const tr = rpcTransports(n).find((x) => x.name === 'websocket/json');
  const pool = pools.get(n);
  if (!tr || !pool) throw new Error('no websocket/json transport');
  return pool.autobahn(tr);
}

type Seen = { topic: string; args: unknown[] };

/** A meta subscriber on `n` for every topic in TOPICS, once NATS routes each of them to `n`. */
async function watch(n: TestRouter): Promise<Seen[]> {
  const seen: Seen[] = [];
  const w = await autobahn(n);
  for (const topic of TOPICS) await w.session.subscribe(topic, (args: unknown[]) => void seen.push({ topic, args }));
  // subscriptions reach the NATS server asynchronously: publish only once it routes them
  await waitFor(async () => {
    const known = await subjectsKnown(nats);
    return TOPICS.every((t) => known.has(filterFor(t)));
  }, 'NATS to route the meta topics');
  return seen;
}

function count(seen: Seen[], topic: string, pred: (args: unknown[]) => boolean): number {
  return seen.filter((e) => e.topic === topic && pred(e.args)).length;
}

void describe('cluster meta events', () => {
  void test('cluster meta events - a session on one node: its session, subscription and registration meta events reach a meta subscriber on another node once each', async () => {
    const seen = await watch(m2);
    const j = await autobahn(m1);
    const sub = await j.session.subscribe('test.cluster.metaev.t', () => undefined);
    const reg = await j.session.register('test.cluster.metaev.p', () => 1);
    const local = await autobahn(m2);
    // autobahn forgets its session id once closed
    const jid = j.session.id;
    await j.close();
    // a later event of node m1: all that m1 published before it has arrived by then
    const marker = await autobahn(m1);
    await waitFor(
      () => count(seen, 'wamp.session.on_join', (a) => (a[0] as Record<string, unknown>)['session'] === marker.session.id) === 1,
      "the marker session's on_join",
    );
    const byJ = (a: unknown[]): boolean => a[0] === jid;
    assert.equal(
      count(seen, 'wamp.session.on_join', (a) => (a[0] as Record<string, unknown>)['session'] === jid),
      1,
      'on_join',
    );
    assert.equal(count(seen, 'wamp.session.on_leave', byJ), 1, 'on_leave');
    assert.equal(
      count(seen, 'wamp.subscription.on_create', (a) => byJ(a) && (a[1] as Record<string, unknown>)['id'] === sub.id),
      1,
      'subscription on_create, under the SUBSCRIBED id',
    );
    for (const topic of ['wamp.subscription.on_subscribe', 'wamp.subscription.on_unsubscribe', 'wamp.subscription.on_delete']) {
      assert.equal(
        count(seen, topic, (a) => byJ(a) && a[1] === sub.id),
        1,
        topic,
      );
    }
    assert.equal(
      count(seen, 'wamp.registration.on_create', (a) => byJ(a) && (a[1] as Record<string, unknown>)['id'] === reg.id),
      1,
      'registration on_create, under the REGISTERED id',
    );
    for (const topic of ['wamp.registration.on_register', 'wamp.registration.on_unregister', 'wamp.registration.on_delete']) {
      assert.equal(
        count(seen, topic, (a) => byJ(a) && a[1] === reg.id),
        1,
        topic,
      );
    }
    // a session of the subscriber's own node: published there, not again through the cluster
    assert.equal(
      count(seen, 'wamp.session.on_join', (a) => (a[0] as Record<string, unknown>)['session'] === local.session.id),
      1,
      'on_join of a session of m2',
    );
  });

  void test('cluster meta events - a meta subscriber on every node hears of a session on one node once; the node asked by wamp.subscription.lookup names the id the events carried', async () => {
    const [s1, s2, s3] = await Promise.all([watch(m1), watch(m2), watch(m3)]);
    const j = await autobahn(m3);
    const sub = await j.session.subscribe('test.cluster.metaev.u', () => undefined);
    const isJ = (a: unknown[]): boolean => a[0] === j.session.id && a[1] === sub.id;
    for (const [name, seen] of [
      ['m1', s1],
      ['m2', s2],
      ['m3', s3],
    ] as const) {
      await waitFor(() => count(seen, 'wamp.subscription.on_subscribe', isJ) > 0, `on_subscribe on ${name}`);
    }
    const asker = await autobahn(m1);
    assert.equal(
      await within(asker.session.call<number>('wamp.subscription.lookup', ['test.cluster.metaev.u']), WAIT_MS, 'lookup on m1'),
      sub.id,
    );
    // one more event of m3 after it: the first one had its chance to come twice by then
    await j.session.unsubscribe(sub);
    for (const [name, seen] of [
      ['m1', s1],
      ['m2', s2],
      ['m3', s3],
    ] as const) {
      await waitFor(() => count(seen, 'wamp.subscription.on_unsubscribe', isJ) === 1, `on_unsubscribe on ${name}`);
      assert.equal(count(seen, 'wamp.subscription.on_subscribe', isJ), 1, `on_subscribe once on ${name}`);
    }
  });
});
