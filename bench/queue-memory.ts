/**
 * What keeping queued payloads out of memory saves, and what it costs.
 *
 *   node --expose-gc --import tsx bench/queue-memory.ts [--messages 200000] [--queues 1000]
 *                                                       [--size 100,1000,16000] [--dir /path]
 *
 * For each payload size, fills a fresh store with `messages` messages spread over
 * `queues` queues, then reports:
 * - heap per message of the store as built (an index entry: seq, size, expiry), and of
 *   the same messages held as objects with their payloads, which is what a store keeping
 *   payloads in memory would hold at least;
 * - the cost of read() per message, from memory (messages of the pending batch) and from
 *   SQLite (committed messages: point lookups by seq, decoded);
 * - how long open() takes to load the index back.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { SqliteQueueStore, type QueuedMessage } from '../lib/store';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');

function args(argv: string[]): { messages: number; queues: number; sizes: number[]; dir: string | undefined } {
  const o = { messages: 200_000, queues: 1000, sizes: [100, 1000, 16000], dir: undefined as string | undefined };
  for (let i = 0; i < argv.length; i += 2) {
    const v = argv[i + 1] ?? '';
    if (argv[i] === '--messages') o.messages = Number(v);
    else if (argv[i] === '--queues') o.queues = Number(v);
    else if (argv[i] === '--size') o.sizes = v.split(',').map(Number);
    else if (argv[i] === '--dir') o.dir = v;
    else throw new Error(`unknown option ${String(argv[i])}`);
  }
  return o;
}

function heap(): number {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

const LIMITS = { maxMessages: 1e9, maxBytes: 1e15 };
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

async function measure(dir: string, messages: number, queues: number, size: number): Promise<void> {
  const path = join(dir, `mem-${size}.db`);
  const perQueue = Math.ceil(messages / queues);
  const attrs = { qos: 1 };

  // the store as built: an index entry per message
  let base = heap();
  let store = new SqliteQueueStore({ path, synchronous: 'normal' });
  await store.open();
  for (let i = 0; i < messages; i++) {
    // a fresh payload per message, as each publish brings its own
    store.enqueue(
      `mqtt/client-${i % queues}`,
      { topic: `sensors/${i % 5000}/reading`, payload: { bytes: Buffer.alloc(size, i & 255) }, attrs },
      LIMITS,
    );
    if (i % 1000 === 999) await turn();
  }
  await turn();
  const indexed = (heap() - base) / messages;

  // the same messages held whole, as a payloads-in-memory store would hold them
  base = heap();
  const held: QueuedMessage[][] = [];
  const t0 = performance.now();
  for (let q = 0; q < queues; q++) held.push(store.read(`mqtt/client-${q}`, 0, perQueue));
  const diskUs = ((performance.now() - t0) * 1000) / messages;
  const whole = (heap() - base) / messages;
  held.length = 0;

  // read() from memory: messages of the pending batch
  const fresh = `fresh-${size}`;
  for (let i = 0; i < 10_000; i++) store.enqueue(fresh, { topic: 't', payload: { bytes: Buffer.alloc(size, 1) }, attrs }, LIMITS);
  const t1 = performance.now();
  for (let r = 0; r < 10; r++) store.read(fresh, 0, 10_000);
  const memoryUs = ((performance.now() - t1) * 1000) / 100_000;
  await store.close();

  const t2 = performance.now();
  store = new SqliteQueueStore({ path, synchronous: 'normal' });
  await store.open();
  const openMs = performance.now() - t2;
  await store.close();
  for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });

  console.log(
    `${String(size).padStart(6)}  ${indexed.toFixed(0).padStart(13)}  ${whole.toFixed(0).padStart(14)}  ` +
      `${memoryUs.toFixed(2).padStart(14)}  ${diskUs.toFixed(2).padStart(12)}  ${openMs.toFixed(0).padStart(8)}`,
  );
}

async function main(): Promise<void> {
  const o = args(process.argv.slice(2));
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'gatehouse-queue-mem-'));
  console.log(`${o.messages} messages in ${o.queues} queues, node ${process.version}`);
  console.log('  size  index B/msg  payload B/msg  read mem us/msg  read disk us/msg  open ms');
  try {
    for (const size of o.sizes) await measure(dir, o.messages, o.queues, size);
  } finally {
    if (o.dir === undefined) rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
