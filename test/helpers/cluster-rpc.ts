/**
 * A cluster for the RPC tests (issue 12) in one process: one nats-server
 * (helpers/nats.ts), N routers on port 0 (helpers/router.ts), each with its own NATS
 * connection and a ClusterRpc attached. Clients connect to different routers. Heartbeat
 * and lease are short, so a node that stops answering is noticed within a test.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { ClusterRpc } from '../../lib/cluster/rpc';
import type { MatchPolicy } from '../../lib/topic';
import { natsClient, startNats, type Cleanup, type NatsNode } from './nats';
import { startRouter, type TestRouter } from './router';
import { waitFor, WAIT_MS } from './wait';

export const HEARTBEAT_MS = 100;
export const LEASE_MS = 600;

export interface RpcNode {
  name: string;
  t: TestRouter;
  nc: NatsConnection;
  rpc: ClusterRpc;
}

export interface RpcCluster {
  nats: NatsNode;
  nodes: RpcNode[];
  /** the node's dealer: how many callees (local and remote) `uri` has there */
  callees(node: RpcNode, uri: string, match?: MatchPolicy, realm?: string): number;
  /** waits until every node sees `n` callees of `uri` (the directory has spread) */
  waitCallees(uri: string, n: number, match?: MatchPolicy, realm?: string): Promise<void>;
}

/** A node: router, NATS connection and ClusterRpc; closed when the test ends. */
export async function startRpcNode(
  t: Cleanup,
  natsUrl: string,
  name: string,
  config: Record<string, unknown> = {},
): Promise<RpcNode> {
  const router = await startRouter(config);
  const nc = await natsClient(t, natsUrl);
  const rpc = new ClusterRpc({
    nc,
    node: name,
    router: router.router,
    log: router.router.log,
    metrics: router.router.metrics,
    heartbeatMs: HEARTBEAT_MS,
    leaseMs: LEASE_MS,
    metaTimeoutMs: 500,
  });
  await rpc.start();
  t.after(async () => {
    await rpc.stop();
    await router.close();
  });
  return { name, t: router, nc, rpc };
}

export async function startRpcCluster(t: Cleanup, n: number, config: Record<string, unknown> = {}): Promise<RpcCluster> {
  const nats = await startNats(t);
  const nodes: RpcNode[] = [];
  for (let i = 1; i <= n; i++) nodes.push(await startRpcNode(t, nats.url, `node-${i}`, config));
  await waitFor(() => nodes.every((x) => x.rpc.peerNodes().length === n - 1), `${n} nodes to see each other`, WAIT_MS * 3);
  const callees = (node: RpcNode, uri: string, match: MatchPolicy = 'exact', realm = 'realm1'): number =>
    node.t.router.findRealm(realm)?.dealer.lookup(uri, match)?.callees.length ?? 0;
  return {
    nats,
    nodes,
    callees,
    waitCallees: (uri, count, match = 'exact', realm = 'realm1') =>
      waitFor(() => nodes.every((x) => callees(x, uri, match, realm) === count), `every node to see ${count} callees of ${uri}`),
  };
}

/**
 * node:test's suite `after` as a Cleanup (helpers/nats.ts): hooks run in reverse order of
 * registration. Without `after`, the suite calls `run()` from its own `after` hook (when its
 * clients must be closed before the nodes the cleanups stop).
 */
export function suiteCleanup(after?: (fn: () => Promise<void>) => void): Cleanup & { run(): Promise<void> } {
  const fns: (() => Promise<void>)[] = [];
  const c = {
    after: (fn: () => Promise<void>) => void fns.push(fn),
    run: async () => {
      for (const fn of fns.splice(0).reverse()) await fn().catch(() => undefined);
    },
  };
  after?.(() => c.run());
  return c;
}
