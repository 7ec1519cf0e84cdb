/**
 * Durable throughput of the queue store with group commit.
 *
 *   npx tsx bench/queue-throughput.ts [--runs 5] [--seconds 3] [--clients 1,16,64,256,1024]
 *                                      [--sync full,normal] [--size 100,4096]
 *                                      [--retained no,shared,separate]
 *                                      [--dir /path]
 *
 * Each of N clients runs a closed loop on its own queue, the way a QoS 1 delivery to a
 * persistent MQTT session goes: enqueue a message, wait for `committed` (the point the
 * router acks the publisher), remove it (the subscriber's PUBACK), wait for `committed`,
 * repeat. A pair is counted once both are durable. With `--retained shared` or
 * `separate`, every client also writes a retained key with each enqueue and waits for it
 * too: `shared` puts the retained store on the same database (one transaction, one fsync
 * per turn for both), `separate` on a database of its own (two). Each run uses a fresh
 * database file; the printed figure is the median of the runs. `cpu us/pair` is the
 * process's CPU time (user + system) per pair: unlike pairs/s, it hardly moves when
 * other processes compete for the CPU.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createStore, createStores, SqliteQueueStore, type QueueStore, type RetainedStore } from '../lib/store';
import { median } from './lib/stats';

type RetainedMode = 'no' | 'shared' | 'separate';

interface Options {
  runs: number;
  seconds: number;
  clients: number[];
  sync: ('full' | 'normal')[];
  sizes: number[];
  retained: RetainedMode[];
  dir: string | undefined;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = {
    runs: 5,
    seconds: 3,
    clients: [1, 16, 64, 256, 1024],
    sync: ['full', 'normal'],
    sizes: [100, 4096],
    retained: ['no'],
    dir: undefined,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const value = argv[i + 1] ?? '';
    switch (argv[i]) {
      case '--runs':
        opts.runs = Number(value);
        break;
      case '--seconds':
        opts.seconds = Number(value);
        break;
      case '--clients':
        opts.clients = value.split(',').map(Number);
        break;
      case '--sync':
        opts.sync = value.split(',') as ('full' | 'normal')[];
        break;
      case '--size':
        opts.sizes = value.split(',').map(Number);
        break;
      case '--retained':
        opts.retained = value.split(',') as RetainedMode[];
        break;
      case '--dir':
        opts.dir = value;
        break;
      default:
        throw new Error(`unknown option ${String(argv[i])}`);
    }
  }
  return opts;
}

interface RunResult {
  pairsPerSec: number;
  commitsPerSec: number;
  /** durable writes per commit (2 per pair, 3 with a retained write) */
  avgBatch: number;
  commitP50: number;
  commitP99: number;
  cpuUsPerPair: number;
}

const LIMITS = { maxMessages: 1000, maxBytes: 64 * 1024 * 1024 };

async function run(
  dir: string,
  sync: 'full' | 'normal',
  clients: number,
  size: number,
  mode: RetainedMode,
  seconds: number,
): Promise<RunResult> {
  const path = join(dir, `bench-${sync}-${clients}-${size}-${Date.now()}.db`);
  let queues: QueueStore;
  let retained: RetainedStore | undefined;
  if (mode === 'shared') {
    const both = createStores({ engine: 'sqlite', path, synchronous: sync });
    queues = both.queues;
    retained = both.retained;
  } else {
    queues = new SqliteQueueStore({ path, synchronous: sync });
    if (mode === 'separate') retained = createStore({ engine: 'sqlite', path: `${path}.retained`, synchronous: sync });
  }
  await retained?.open();
  await queues.open();
  let pairs = 0;
  let stop = false;
  const commitMs: number[] = [];
  const bytes = Buffer.alloc(size, 0x5a);

  async function client(id: number): Promise<void> {
    const queue = `mqtt/client-${id}`;
    for (let n = 0; !stop; n++) {
      const { seq, committed } = queues.enqueue(
        queue,
        { topic: `sensors/${id}/reading`, payload: { bytes }, attrs: { qos: 1, packetId: 1 + (n % 65535) } },
        LIMITS,
      );
      const write = retained?.write('bench', `sensors/${id}`, { args: [n] }).committed;
      await committed;
      await write;
      await queues.remove(queue, seq);
      pairs++;
      // every client's write joins the same batch: one sample per commit is enough
      if (id === 0) commitMs.push(queues.stats.lastCommitMs);
    }
  }

  // in a shared database both stores count the same commits
  const allCommits = (): number => queues.stats.commits + (mode === 'separate' ? (retained?.stats.commits ?? 0) : 0);
  const commits0 = allCommits();
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  const all = Array.from({ length: clients }, (_, id) => client(id));
  const timer = setTimeout(() => (stop = true), seconds * 1000);
  await Promise.all(all);
  clearTimeout(timer);
  const elapsed = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const commits = allCommits() - commits0;
  await queues.close();
  await retained?.close();
  for (const suffix of ['', '-wal', '-shm', '.retained', '.retained-wal', '.retained-shm'])
    rmSync(path + suffix, { force: true });
  commitMs.sort((a, b) => a - b);
  const pct = (p: number): number => commitMs[Math.floor(p * (commitMs.length - 1))] ?? 0;
  return {
    pairsPerSec: pairs / elapsed,
    commitsPerSec: commits / elapsed,
    avgBatch: (pairs * (mode === 'no' ? 2 : 3)) / Math.max(1, commits),
    commitP50: pct(0.5),
    commitP99: pct(0.99),
    cpuUsPerPair: (cpu.user + cpu.system) / Math.max(1, pairs),
  };
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'gatehouse-queue-bench-'));
  console.log(
    `queue throughput (enqueue -> ack -> remove -> ack): ${opts.runs} runs x ${opts.seconds}s, db in ${dir}, node ${process.version}`,
  );
  console.log(
    'sync    size  retained  clients  median pairs/s  (each run)                               commits/s  writes/commit  cpu us/pair  commit ms p50/p99',
  );
  try {
    for (const sync of opts.sync) {
      for (const size of opts.sizes) {
        for (const mode of opts.retained) {
          for (const clients of opts.clients) {
            const results: RunResult[] = [];
            for (let r = 0; r < opts.runs; r++) results.push(await run(dir, sync, clients, size, mode, opts.seconds));
            const pps = results.map((x) => x.pairsPerSec);
            console.log(
              `${sync.padEnd(7)} ${String(size).padStart(5)}  ${mode.padEnd(8)} ${String(clients).padStart(7)}  ` +
                `${Math.round(median(pps)).toLocaleString('en').padStart(14)}  ` +
                `(${pps.map((x) => (x >= 10_000 ? Math.round(x / 1000) + 'k' : Math.round(x))).join(' ')})`.padEnd(41) +
                `${Math.round(median(results.map((x) => x.commitsPerSec)))
                  .toLocaleString('en')
                  .padStart(9)}  ` +
                `${median(results.map((x) => x.avgBatch))
                  .toFixed(1)
                  .padStart(13)}  ` +
                `${median(results.map((x) => x.cpuUsPerPair))
                  .toFixed(1)
                  .padStart(11)}  ` +
                `${median(results.map((x) => x.commitP50)).toFixed(2)}/${median(results.map((x) => x.commitP99)).toFixed(2)}`,
            );
          }
        }
      }
    }
  } finally {
    if (opts.dir === undefined) rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
