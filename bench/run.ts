/**
 * The one entry point of the benchmarks: `npm run bench` runs each benchmark of bench/ in
 * a short mode (Gatehouse alone, one run, about a second of load) and prints one summary;
 * the full comparisons against the peers are the commands bench/README.md lists, which
 * back the lines of bench/RESULTS.md.
 *
 *   npm run bench                     every benchmark, short
 *   npm run bench -- wamp mqtt        only these (by name)
 *   npm run bench -- --list           the table: name, peer, full command
 *
 * Each benchmark runs as its own child process (its own CPU pinning and router children
 * stay its business); its output goes to bench/out/run-<name>.log, and the summary shows
 * its exit status, wall time and last lines of output (where its result table ends).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Benchmark {
  /** what `npm run bench -- <name>` selects */
  readonly name: string;
  readonly file: string;
  /** what it measures */
  readonly what: string;
  /** the brokers it is compared with in a full run ('' for none) */
  readonly peer: string;
  /** the bench/RESULTS.md section its full run backs */
  readonly results: string;
  /** arguments of the short run */
  readonly short: readonly string[];
  /** arguments of the full run, as RESULTS.md quotes them */
  readonly full: readonly string[];
  /** node flags the benchmark needs */
  readonly nodeFlags?: readonly string[];
}

const QUICK = ['--runs', '1', '--duration', '1', '--warmup', '1', '--quiet-wait', '0'];

export const BENCHMARKS: readonly Benchmark[] = [
  {
    name: 'wamp',
    file: 'wamp-bench.ts',
    what: 'WAMP pub/sub fan-out and RPC throughput, latency at equal load',
    peer: 'fox-wamp',
    results: 'WAMP pub/sub and RPC vs fox-wamp',
    short: [...QUICK, '--routers', 'gatehouse', '--scenarios', 'fanout1,rpc', '--retries', '1'],
    full: ['--retries', '6', '--quiet-wait', '180'],
  },
  {
    name: 'mqtt',
    file: 'mqtt-bench.ts',
    what: 'MQTT QoS 0/1 throughput, latency, memory',
    peer: 'Aedes, Mosquitto',
    results: 'MQTT vs Aedes and Mosquitto',
    short: [...QUICK, '--brokers', 'gatehouse', '--scenarios', 'qos0,qos1', '--retries', '1'],
    full: ['--runs', '3', '--duration', '5'],
  },
  {
    name: 'stomp',
    file: 'stomp-bench.ts',
    what: 'STOMP topic and queue throughput and latency',
    peer: 'RabbitMQ (STOMP plugin)',
    results: 'STOMP',
    short: [
      ...QUICK,
      '--brokers',
      'gatehouse',
      '--scenarios',
      'topic,queue',
      '--retries',
      '1',
      '--no-results',
      '--no-profile-pass',
    ],
    full: ['--runs', '3', '--duration', '5', '--quiet-wait', '300', '--retries', '6'],
  },
  {
    name: 'store-sync',
    file: 'store-sync-bench.ts',
    what: 'acknowledged retained publishes/s, lock hand-off latency (when / watch / will)',
    peer: 'fox-wamp',
    results: 'Retained store and sync',
    short: [...QUICK, '--routers', 'gatehouse', '--handoffs', '200', '--handoff-warmup', '20', '--retries', '1'],
    full: ['--retries', '8', '--quiet-wait', '180'],
  },
  {
    name: 'http',
    file: 'http-bench.ts',
    what: 'HTTP API publish and call against WAMP on the same router',
    peer: 'WAMP (same router)',
    results: 'HTTP API against WAMP',
    short: [...QUICK, '--concurrency', '16'],
    full: ['--runs', '3'],
  },
  {
    name: 'replay',
    file: 'replay-bench.ts',
    what: 'retained replay of a large store to a # subscriber, WAMP and MQTT',
    peer: '',
    results: 'Retained replay',
    short: ['--runs', '1', '--keys', '10000', '--quiet-wait', '0'],
    full: ['--runs', '3', '--quiet-wait', '30'],
  },
  {
    name: 'aggregate',
    file: 'aggregate-bench.ts',
    what: 'validated events/s through a two-level aggregate propagation, over WAMP',
    peer: '',
    results: 'Aggregate tables',
    short: ['--duration', '2', '--clients', '2'],
    full: ['--duration', '3'],
  },
  {
    name: 'cluster',
    file: 'cluster-bench.ts',
    what: 'cluster: fan-out 10 over 1-3 nodes against one router, same- vs cross-node pub/sub and RPC',
    peer: 'Gatehouse, cluster off',
    results: 'Cluster: pub/sub and RPC across nodes, one run',
    short: ['--runs', '1', '--duration', '1', '--warmup', '1', '--warmup-rounds', '0'],
    full: ['--runs', '3', '--duration', '3', '--warmup', '1'],
  },
  {
    name: 'footprint',
    file: 'footprint.ts',
    what: 'daemon memory: idle, per connection, under load',
    peer: 'Mosquitto, Aedes',
    results: 'Footprint',
    short: ['--runs', '1', '--connections', '1000', '--load-seconds', '1', '--brokers', 'gatehouse'],
    full: ['--runs', '3', '--connections', '10000'],
  },
  {
    name: 'store-throughput',
    file: 'store-throughput.ts',
    what: 'retained store durable writes/s with group commit (in-process)',
    peer: '',
    results: 'Retained store and sync (store engine)',
    short: ['--runs', '1', '--seconds', '1', '--clients', '1,64', '--sync', 'normal'],
    full: [],
  },
  {
    name: 'queue-throughput',
    file: 'queue-throughput.ts',
    what: 'queue store durable enqueue/remove pairs/s with group commit (in-process)',
    peer: '',
    results: '(none: printed only)',
    short: ['--runs', '1', '--seconds', '1', '--clients', '1,64', '--sync', 'normal'],
    full: [],
  },
  {
    name: 'queue-memory',
    file: 'queue-memory.ts',
    what: 'heap per queued message, read cost from memory and SQLite',
    peer: '',
    results: '(none: printed only)',
    short: ['--messages', '20000', '--queues', '100', '--size', '100'],
    full: [],
    nodeFlags: ['--expose-gc'],
  },
  {
    name: 'aggregate-engine',
    file: 'aggregate-engine.ts',
    what: 'aggregate engine events per CPU-second (in-process)',
    peer: '',
    results: 'Aggregate tables (performance pass)',
    short: ['--turns', '20', '--runs', '1'],
    full: [],
  },
  {
    name: 'codec',
    file: 'codec-speed.ts',
    what: 'topic notation, STOMP frame parser, RawSocket decoder (micro)',
    peer: '',
    results: '(none: printed only)',
    short: ['1'],
    full: [],
  },
  {
    name: 'topic-index',
    file: 'topic-index.ts',
    what: 'subscription index matches/s with 100k patterns per policy (micro)',
    peer: '',
    results: '(none: printed only)',
    short: ['10000'],
    full: [],
  },
];

const TAIL_LINES = 4;

function command(b: Benchmark, args: readonly string[]): string {
  const flags = b.nodeFlags ? `node ${b.nodeFlags.join(' ')} --import tsx` : 'npx tsx';
  return [flags, `bench/${b.file}`, ...args].join(' ');
}

function list(): void {
  for (const b of BENCHMARKS) {
    console.log(`${b.name.padEnd(17)} ${b.what}`);
    console.log(`${''.padEnd(17)} peer: ${b.peer || '-'}; RESULTS.md: ${b.results}`);
    console.log(`${''.padEnd(17)} full:  ${command(b, b.full)}`);
    console.log(`${''.padEnd(17)} short: ${command(b, b.short)}`);
  }
}

function run(selected: readonly Benchmark[]): number {
  const out = join(__dirname, 'out');
  mkdirSync(out, { recursive: true });
  const rows: { name: string; status: string; seconds: string; tail: string[] }[] = [];
  for (const b of selected) {
    process.stdout.write(`${b.name}: ${command(b, b.short)} ... `);
    const started = Date.now();
    const r = spawnSync(process.execPath, [...(b.nodeFlags ?? []), '--import', 'tsx', join(__dirname, b.file), ...b.short], {
      cwd: join(__dirname, '..'),
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const output = `${r.stdout}${r.stderr}`;
    writeFileSync(join(out, `run-${b.name}.log`), output);
    const status = r.error ? `error: ${r.error.message}` : r.status === 0 ? 'ok' : `exit ${r.status ?? r.signal ?? '?'}`;
    console.log(`${status} (${seconds} s)`);
    const tail = output
      .split('\n')
      .filter((l) => l.trim() !== '')
      .slice(-TAIL_LINES);
    rows.push({ name: b.name, status, seconds, tail });
  }
  console.log('\n=== summary (short runs: Gatehouse alone, one run; see bench/README.md for the full ones) ===');
  for (const row of rows) {
    console.log(`\n${row.name} - ${row.status}, ${row.seconds} s (bench/out/run-${row.name}.log)`);
    for (const line of row.tail) console.log(`  ${line}`);
  }
  return rows.every((row) => row.status === 'ok') ? 0 : 1;
}

function main(): void {
  const args = process.argv.slice(2);
  if (args.includes('--list')) return list();
  const unknown = args.filter((a) => !BENCHMARKS.some((b) => b.name === a));
  if (unknown.length > 0) {
    console.error(`unknown benchmark: ${unknown.join(', ')} (npm run bench -- --list)`);
    process.exitCode = 2;
    return;
  }
  process.exitCode = run(args.length === 0 ? BENCHMARKS : BENCHMARKS.filter((b) => args.includes(b.name)));
}

main();
