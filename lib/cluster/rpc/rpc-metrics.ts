/**
 * Cluster RPC's metrics, in the router's own registry (lib/metrics.ts). Registered once
 * per registry: a ClusterRpc started again on the same router (after a stop) counts on.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Metrics } from '../../metrics';

export interface ClusterRpcMetrics {
  /** out: to a callee on another node; in: from a caller on another node */
  calls: Counter<'direction'>;
  /** node_lost, callee_gone, conflict, bad_message */
  failures: Counter<'reason'>;
  /** what the peers gauge reads when scraped: the ClusterRpc running now */
  peers: { count: () => number };
}

const byRegistry = new WeakMap<Registry, ClusterRpcMetrics>();

export function clusterRpcMetrics(metrics: Metrics): ClusterRpcMetrics {
  const registry = metrics.registry;
  const known = byRegistry.get(registry);
  if (known) return known;
  const registers = [registry];
  const peers = { count: (): number => 0 };
  const m: ClusterRpcMetrics = {
    calls: new Counter({
      name: 'gatehouse_cluster_rpc_calls_total',
      help: 'Calls between cluster nodes (out: to a callee on another node, in: from a caller on another node)',
      labelNames: ['direction'],
      registers,
    }),
    failures: new Counter({
      name: 'gatehouse_cluster_rpc_failures_total',
      help: 'Cluster RPC refusals and losses (node_lost: calls failed because their callee node went away; callee_gone: an invocation for a callee that had left; conflict: registrations revoked for an earlier one on another node; bad_message)',
      labelNames: ['reason'],
      registers,
    }),
    peers,
  };
  new Gauge({
    name: 'gatehouse_cluster_rpc_peers',
    help: 'Other cluster nodes alive now (heard of within the lease)',
    registers,
    collect() {
      this.set(peers.count());
    },
  });
  byRegistry.set(registry, m);
  return m;
}
