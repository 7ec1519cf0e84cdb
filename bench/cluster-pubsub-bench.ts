/**
 * Cluster pub/sub benchmark (issue 12), standalone: the pub/sub part
 * (bench/lib/cluster-pubsub.ts) against three nodes, until bench/cluster-bench.ts
 * lists it among its parts.
 *
 *   npx tsx bench/cluster-pubsub-bench.ts [--duration 5] [--warmup 1] [--rate 5000] [--window 2000]
 *
 * A 3-node NATS JetStream cluster (Debian's nats-server, test/helpers/nats.ts) and
 * three `gatehouse` daemons (child processes through tsx, `--cluster <its server>
 * --node gN`), each joined through its own NATS server; this process is the load
 * generator. On the shared 2-core machine seven processes compete for the cores: the
 * numbers show the overhead of the NATS hop, not scaling. Exit code 2 when a scenario
 * lost messages.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { spawnGatehouse, tempDir, writeJson } from '../test/helpers/daemon';
import { startNatsCluster, type Cleanup } from '../test/helpers/nats';
import { pubsubPart, type PubSubRow } from './lib/cluster-pubsub';
import { fmtInt } from './lib/stats';

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    rate: { type: 'string', default: '5000' },
    window: { type: 'string', default: '2000' },
  },
});

/** Three daemons, node i joined through NATS server i; their WAMP URLs. */
async function startNodes(cleanup: Cleanup, servers: string[]): Promise<string[]> {
  const tmp = tempDir();
  cleanup.after(async () => tmp.remove());
  return Promise.all(
    servers.map(async (server, i) => {
      const name = `g${i + 1}`;
      const file = join(tmp.dir, `${name}.json`);
      writeJson(file, { log: { level: 'info', format: 'json' }, store: { path: join(tmp.dir, `${name}.db`) }, mqtt: { enabled: false }, stomp: { enabled: false } });
      const daemon = spawnGatehouse(['-c', file, '--port', '0', '--cluster', server, '--node', name]);
      cleanup.after(() => daemon.kill());
      const listening = await daemon.waitForLog((e) => e.msg === 'listening', `${name} listening`);
      await daemon.waitForLog((e) => e.msg === 'joined the cluster', `${name} joined`);
      return `ws://127.0.0.1:${Number((listening['http'] as { port?: unknown }).port)}/ws`;
    }),
  );
}

const fmtMs = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : '-');

function report(rows: PubSubRow[]): string {
  const lines = ['| Part | Scenario | Deliveries/s | p50 ms | p99 ms | Sent | Lost | Errors |', '|---|---|---:|---:|---:|---:|---:|---:|'];
  for (const r of rows) lines.push(`| ${r.part} | ${r.scenario} | ${fmtInt(r.rate)} | ${fmtMs(r.p50Ms)} | ${fmtMs(r.p99Ms)} | ${fmtInt(r.sent)} | ${r.lost} | ${r.errors} |`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup: Cleanup = { after: (fn) => void cleanups.push(fn) };
  let lost = 0;
  try {
    const nats = await startNatsCluster(cleanup);
    const wsUrls = await startNodes(cleanup, nats.servers);
    const rows = await pubsubPart(wsUrls, {
      durationMs: Number(flags.duration) * 1000,
      warmupMs: Number(flags.warmup) * 1000,
      rate: Number(flags.rate),
      window: Number(flags.window),
    });
    lost = rows.reduce((a, r) => a + r.lost, 0);
    process.stdout.write(`cluster-pubsub-bench ${new Date().toISOString()}: ${flags.duration} s (+${flags.warmup} s warm-up)\n\n${report(rows)}\n`);
  } finally {
    for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
  }
  process.exit(lost > 0 ? 2 : 0);
}

main().catch((err: unknown) => {
  process.stderr.write(`cluster-pubsub-bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
