/**
 * Starts a Gatehouse router with a durable retained store and one WAMP WebSocket
 * listener on a free port, for bench/store-sync-bench.ts. Prints one line `PORT <n>`
 * on stdout once it accepts connections, and exits cleanly on SIGTERM/SIGINT (the
 * store is closed first, so the last group commit is flushed).
 *
 *   node --import tsx bench/servers/gatehouse-store-server.ts <store file | :memory:> [full|normal]
 *
 * By default the store runs as the daemon's default configuration does: SQLite WAL with
 * `synchronous: 'full'`, so a PUBLISHED for a retained publish means the write reached
 * the disk (fsync). `normal` (no fsync per commit; survives a process crash, not a
 * power loss) is there to show what the fsync costs.
 */
import { Router } from '../../index';

async function main(): Promise<void> {
  const path = process.argv[2];
  const synchronous = process.argv[3] ?? 'full';
  if (path === undefined || (synchronous !== 'full' && synchronous !== 'normal')) {
    throw new Error('usage: gatehouse-store-server.ts <store file | :memory:> [full|normal]');
  }
  // GATEHOUSE_BENCH_NATS (bench/lib/store-sync-servers.ts, gatehouse-jetstream): the
  // retained store in JetStream KV on that server instead of SQLite
  const nats = process.env['GATEHOUSE_BENCH_NATS'];
  const store =
    nats === undefined
      ? { path, synchronous }
      : { path, synchronous, engine: 'jetstream', nats: { servers: [nats], bucket: 'bench' } };
  const router = new Router({ log: { level: 'silent' }, store });
  await router.start();
  const listener = await router.listenWAMP({ port: 0, host: '127.0.0.1' });
  process.stdout.write(`PORT ${listener.port}\n`);
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    // the driver has closed its sessions; close() flushes and closes the store
    const force = setTimeout(() => process.exit(1), 5000);
    void router.close().then(() => {
      clearTimeout(force);
      process.exit(0);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`gatehouse-store-server: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
