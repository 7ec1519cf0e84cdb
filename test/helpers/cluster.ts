/**
 * Gatehouse nodes in a cluster for tests: in-process routers (each with its own NATS
 * connection, each to its own server of a 3-node NATS cluster), and a wait for the
 * moment every NATS server knows a node's interest, so a test publishes only once
 * delivery is possible (NATS propagates subscriptions between servers asynchronously).
 */
import { interestSubject, realmSubjectPrefix, shareQueue } from '../../lib/cluster/subjects';
import { parseMqttFilter } from '../../lib/notation';
import { parsePattern, type MatchPolicy, type TopicPattern } from '../../lib/topic';
import type { Cleanup, NatsCluster, NatsNode } from './nats';
import { startRouter, type TestRouter } from './router';
import { waitFor, withTimeout } from './wait';

export const CLUSTER_PREFIX = 'gatehouse';
/** interest crossing three servers, on a loaded machine */
const INTEREST_MS = 10_000;

/** `count` routers, node i joining through NATS server i (mod the cluster's size). */
export async function startNodes(
  t: Cleanup,
  nats: NatsCluster,
  count = 3,
  config: Record<string, unknown> = {},
): Promise<TestRouter[]> {
  const nodes = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      // each node's own store unless the test asks for the shared one: these tests are
      // about routing (the shared JetStream store has test/scenarios/jetstream-sync.test.ts
      // and the daemons' test)
      startRouter({
        store: { engine: 'sqlite', path: ':memory:' },
        ...config,
        cluster: { nats: [nats.servers[i % nats.servers.length] ?? ''], node: `g${i + 1}` },
      }),
    ),
  );
  t.after(async () => {
    await Promise.all(nodes.map((n) => n.close()));
  });
  const joined = nodes.map((n) => {
    const cluster = n.router.cluster;
    if (!cluster) throw new Error('a node without its cluster');
    return cluster.whenConnected();
  });
  await withTimeout(Promise.all(joined), INTEREST_MS, 'nodes joined the cluster');
  return nodes;
}

/** The `i`-th of a suite's nodes (started by its `before`, startNodes). */
export function nodeAt(nodes: readonly TestRouter[], i: number): TestRouter {
  const r = nodes[i];
  if (!r) throw new Error(`no node ${i} (of ${nodes.length})`);
  return r;
}

/** a node joining the cluster on a loaded machine: a NATS round trip or two */
const JOIN_MS = 15_000;

/**
 * One node (an in-process router with its own SQLite) of the cluster on `nats`, returned
 * once its cluster connection is up. `started` gets it before that wait, so the suite
 * closes it even when it never joins; `cluster` adds to its cluster options (a prefix,
 * say), `config` to the router's.
 */
export async function startClusterNode(
  nats: string[],
  id: string,
  started: (r: TestRouter) => void,
  { cluster = {}, config = {} }: { cluster?: Record<string, unknown>; config?: Record<string, unknown> } = {},
): Promise<TestRouter> {
  const r = await startRouter({
    store: { engine: 'sqlite', path: ':memory:' },
    cluster: { nats, node: id, ...cluster },
    ...config,
  });
  started(r);
  await withTimeout(r.router.cluster?.whenConnected(), JOIN_MS, `${id} joined the cluster`);
  return r;
}

/** The NATS subject filter a node subscribes to for a pattern. */
export function filterFor(uri: string, match: MatchPolicy = 'exact', realm = 'realm1'): string {
  const pattern = parsePattern(uri, match);
  if (!pattern) throw new Error(`not a pattern: ${uri}`);
  return interestSubject(realmSubjectPrefix(CLUSTER_PREFIX, realm), pattern);
}

interface SubsList {
  subscriptions_list?: string[];
  subscriptions_list_detail?: { subject: string; qgroup?: string }[];
}

/** Every subject one NATS server routes for: its clients' and its routes' subscriptions. */
export async function subjectsKnown(node: NatsNode): Promise<Set<string>> {
  const base = `http://127.0.0.1:${node.monitorPort}`;
  const [connz, routez] = await Promise.all([
    fetch(`${base}/connz?subs=1`).then((r) => r.json() as Promise<{ connections?: SubsList[] }>),
    fetch(`${base}/routez?subs=1`).then((r) => r.json() as Promise<{ routes?: SubsList[] }>),
  ]);
  const out = new Set<string>();
  for (const c of [...(connz.connections ?? []), ...(routez.routes ?? [])])
    for (const s of c.subscriptions_list ?? []) out.add(s);
  return out;
}

/** Waits until every server of the cluster routes `filter` (or, with `present` false, none does). */
export async function waitInterest(nats: NatsCluster, filter: string, present = true): Promise<void> {
  await waitFor(
    async () => {
      const known = await Promise.all(nats.nodes.map((n) => subjectsKnown(n).catch(() => new Set<string>())));
      return known.every((k) => k.has(filter) === present);
    },
    `${filter} ${present ? 'known to' : 'gone from'} every NATS server`,
    INTEREST_MS,
  );
}

function mqttPattern(filter: string): TopicPattern {
  const pattern = parseMqttFilter(filter);
  if (!pattern) throw new Error(`not an MQTT filter: ${filter}`);
  return pattern;
}

/** The NATS subject filter a node subscribes to for an MQTT topic filter. */
export function mqttFilterFor(filter: string, realm = 'realm1'): string {
  return interestSubject(realmSubjectPrefix(CLUSTER_PREFIX, realm), mqttPattern(filter));
}

/** The NATS queue group of MQTT shared group `group` on a topic filter (lib/cluster/shares.ts). */
export function queueFor(group: string, filter: string, realm = 'realm1'): string {
  return shareQueue(realmSubjectPrefix(CLUSTER_PREFIX, realm), group, mqttPattern(filter));
}

/** Queue subscriptions in `queue` one NATS server routes to: its clients' and its routes'. */
async function queueMembersKnown(node: NatsNode, queue: string): Promise<number> {
  const base = `http://127.0.0.1:${node.monitorPort}`;
  const [connz, routez] = await Promise.all([
    fetch(`${base}/connz?subs=detail`).then((r) => r.json() as Promise<{ connections?: SubsList[] }>),
    fetch(`${base}/routez?subs=detail`).then((r) => r.json() as Promise<{ routes?: SubsList[] }>),
  ]);
  let n = 0;
  for (const c of [...(connz.connections ?? []), ...(routez.routes ?? [])])
    for (const s of c.subscriptions_list_detail ?? []) if (s.qgroup === queue) n++;
  return n;
}

/** Waits until every server of the cluster knows `count` members (nodes) of a queue group. */
export async function waitQueueMembers(nats: NatsCluster, queue: string, count: number): Promise<void> {
  await waitFor(
    async () => {
      const known = await Promise.all(nats.nodes.map((n) => queueMembersKnown(n, queue).catch(() => -1)));
      return known.every((k) => k === count);
    },
    `${count} members of queue group ${queue} known to every NATS server`,
    INTEREST_MS,
  );
}
