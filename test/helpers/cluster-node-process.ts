/**
 * The body of a cluster node fixture (test/fixtures/cluster-*-router.ts), for tests that
 * SIGKILL a node: `node --import tsx test/fixtures/<name>.ts <nats url> <node id> [arg]`
 * starts a router in the cluster (in-memory store, its listener on a free loopback port)
 * and prints one line of JSON (what `listen` returns) once its cluster connection is up.
 * SIGTERM closes it cleanly. Each fixture keeps what differs: its cluster options (from
 * its third argument) and its listener.
 */
import { Router } from '../../index';

export function runClusterNode(
  name: string,
  usage: string,
  cluster: (arg: string | undefined) => Record<string, unknown>,
  listen: (router: Router) => Promise<Record<string, number>>,
): void {
  const main = async (): Promise<void> => {
    const [natsUrl, node, arg] = process.argv.slice(2);
    if (!natsUrl || !node) throw new Error(`usage: ${name}.ts ${usage}`);
    const router = new Router({
      log: { level: process.env['GATEHOUSE_TEST_LOG'] ?? 'silent' },
      store: { engine: 'sqlite', path: ':memory:' },
      cluster: { nats: [natsUrl], node, ...cluster(arg) },
    });
    await router.start();
    await router.cluster?.whenConnected();
    process.stdout.write(`${JSON.stringify(await listen(router))}\n`);
    process.once('SIGTERM', () => {
      router.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
  };
  main().catch((err: unknown) => {
    process.stderr.write(`${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
