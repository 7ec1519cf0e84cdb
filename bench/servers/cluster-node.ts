/**
 * One Gatehouse node for bench/cluster-bench.ts: a router configured as a cluster node
 * (pub/sub and RPC over NATS, lib/cluster/) with a WAMP WebSocket listener on a free
 * port, or, without a NATS URL, the same router with the cluster off (the baseline).
 * Prints `PORT <n>` once it accepts connections and has joined (bench/lib/router-process.ts
 * waits for that line); exits on SIGTERM/SIGINT.
 *
 *   node --import tsx bench/servers/cluster-node.ts <node id> [<nats url>]
 *
 * The retained store stays SQLite in memory: the cluster's default store engine is
 * JetStream KV, which the benchmark neither measures nor gives its nats-server.
 */
import { Router } from '../../index';

async function main(): Promise<void> {
  const [node, natsUrl] = process.argv.slice(2);
  if (!node) throw new Error('usage: cluster-node.ts <node id> [<nats url>]');
  const router = new Router({
    log: { level: 'silent' },
    store: { engine: 'sqlite', path: ':memory:' },
    ...(natsUrl ? { cluster: { nats: [natsUrl], node } } : {}),
  });
  await router.start();
  // joined: the NATS connection is up and cluster RPC has its subscriptions
  if (natsUrl) await router.cluster?.whenConnected();
  const listener = await router.listenWAMP({ port: 0, host: '127.0.0.1' });
  process.stdout.write(`PORT ${listener.port}\n`);
  const stop = (): void => {
    // no graceful drain: the driver has already closed its sessions
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`cluster-node: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
