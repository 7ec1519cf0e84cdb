/**
 * One Gatehouse cluster node for bench/cluster-bench.ts: a router with a WAMP WebSocket
 * listener on a free port, joined to the cluster's RPC over NATS. Prints `PORT <n>` once
 * it accepts connections and exits on SIGTERM/SIGINT.
 *
 *   node --import tsx bench/servers/cluster-node.ts <nats url> <node id>
 */
import { connect } from '@nats-io/transport-node';
import { Router } from '../../index';
import { ClusterRpc } from '../../lib/cluster/rpc';

async function main(): Promise<void> {
  const [natsUrl, node] = process.argv.slice(2);
  if (!natsUrl || !node) throw new Error('usage: cluster-node.ts <nats url> <node id>');
  const router = new Router({ log: { level: 'silent' }, store: { path: ':memory:' } });
  await router.start();
  const nc = await connect({ servers: natsUrl });
  const rpc = new ClusterRpc({ nc, node, router, log: router.log, metrics: router.metrics });
  await rpc.start();
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
