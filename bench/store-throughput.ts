/**
 * Durable write throughput of the retained store with group commit.
 *
 *   npx tsx bench/store-throughput.ts [--runs 5] [--seconds 3] [--clients 1,16,64,256,1024]
 *                                      [--sync full,normal] [--keys 100000] [--dir /path]
 *
 * Each of N clients runs a closed loop: write a key, wait for `committed` (the point a
 * router would send its ack), write the next. So a batch holds at most N writes and
 * every counted write was acknowledged durable. Each run uses a fresh database file;
 * the printed figure is the median of the runs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createStore } from '../lib/store';
import { median } from './lib/stats';

interface Options {
  runs: number;
  seconds: number;
  clients: number[];
  sync: ('full' | 'normal')[];
  keys: number;
  dir: string | undefined;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = {
    runs: 5,
    seconds: 3,
    clients: [1, 16, 64, 256, 1024],
    sync: ['full', 'normal'],
    keys: 100_000,
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
      case '--keys':
        opts.keys = Number(value);
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
  writesPerSec: number;
  commitsPerSec: number;
  avgBatch: number;
  /** commit duration percentiles (ms): how long each commit blocks the event loop */
  commitP50: number;
  commitP99: number;
}

async function run(dir: string, sync: 'full' | 'normal', clients: number, seconds: number, keys: number): Promise<RunResult> {
  const path = join(dir, `bench-${sync}-${clients}-${Date.now()}.db`);
  const store = createStore({ engine: 'sqlite', path, synchronous: sync });
  await store.open();
  let acked = 0;
  let stop = false;
  const commitMs: number[] = [];
  const perClient = Math.max(1, Math.floor(keys / clients));

  async function client(id: number): Promise<void> {
    for (let n = 0; !stop; n++) {
      const key = `sensors/${id}/${n % perClient}`;
      // a typical retained reading: a few numbers and strings, ~80 bytes encoded
      const value = { args: [n, 21.5 + (n % 10) / 10, 'ok'], kwargs: { unit: 'C', ts: Date.now(), id } };
      await store.write('bench', key, value).committed;
      acked++;
      // every client's write joins the same batch: one sample per commit is enough
      if (id === 0) commitMs.push(store.stats.lastCommitMs);
    }
  }

  const commits0 = store.stats.commits;
  const started = performance.now();
  const all = Array.from({ length: clients }, (_, id) => client(id));
  const timer = setTimeout(() => (stop = true), seconds * 1000);
  await Promise.all(all);
  clearTimeout(timer);
  const elapsed = (performance.now() - started) / 1000;
  const commits = store.stats.commits - commits0;
  await store.close();
  for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
  commitMs.sort((a, b) => a - b);
  const pct = (p: number): number => commitMs[Math.floor(p * (commitMs.length - 1))] ?? 0;
  return {
    writesPerSec: acked / elapsed,
    commitsPerSec: commits / elapsed,
    avgBatch: acked / Math.max(1, commits),
    commitP50: pct(0.5),
    commitP99: pct(0.99),
  };
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'gatehouse-store-bench-'));
  console.log(`store throughput: ${opts.runs} runs x ${opts.seconds}s, db in ${dir}, node ${process.version}`);
  console.log('sync    clients  median writes/s  (each run)                               commits/s  batch  commit ms p50/p99');
  try {
    for (const sync of opts.sync) {
      for (const clients of opts.clients) {
        const results: RunResult[] = [];
        for (let r = 0; r < opts.runs; r++) results.push(await run(dir, sync, clients, opts.seconds, opts.keys));
        const wps = results.map((x) => x.writesPerSec);
        console.log(
          `${sync.padEnd(7)} ${String(clients).padStart(7)}  ${Math.round(median(wps)).toLocaleString('en').padStart(15)}  ` +
            `(${wps.map((x) => Math.round(x / 1000) + 'k').join(' ')})`.padEnd(41) +
            `${Math.round(median(results.map((x) => x.commitsPerSec)))
              .toLocaleString('en')
              .padStart(9)}  ` +
            `${median(results.map((x) => x.avgBatch))
              .toFixed(1)
              .padStart(5)}  ` +
            `${median(results.map((x) => x.commitP50)).toFixed(2)}/${median(results.map((x) => x.commitP99)).toFixed(2)}`,
        );
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
