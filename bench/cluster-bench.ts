/**
 * Cluster benchmark (issue 12): what crossing nodes over NATS costs, in one run.
 *
 *   npx tsx bench/cluster-bench.ts [--duration 3] [--warmup 1] [--parts rpc]
 *        [--callers 4] [--window 16] [--rate 2000] [--payload 64] [--nats /usr/sbin/nats-server]
 *        [--cpu-prof]   (each node writes its profiles into bench/out/prof/cluster-node-<n>/)
 *
 * One nats-server (no JetStream: RPC uses core subjects only) and two Gatehouse nodes,
 * each in its own process (bench/servers/cluster-node.ts, through tsx), on loopback;
 * this process is the load generator (bench/lib/wamp-client.ts). Parts:
 *
 * - `rpc`: an echo callee on node A; callers on node A (same-node) and on node B
 *   (cross-node: CALL -> node B -> NATS -> node A -> callee, and back), measured one
 *   after the other against the same processes. Closed loop (`--callers` x `--window`
 *   calls in flight): calls/s. Open loop at `--rate` calls/s in total: p50 / p99 from
 *   CALL sent to RESULT received. Every call must be answered (zero loss).
 *
 * On the 2-core test machine four processes share two cores: the point is the
 * overhead of the extra hops, not the scaling. Parts are a list (PARTS below): a new
 * part (pub/sub fan-out across nodes, ...) is a function that gets the running
 * cluster and returns rows of the same table.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { LatencyHistogram } from './lib/latency-histogram';
import { fmtInt } from './lib/stats';
import { WampClient } from './lib/wamp-client';

interface Options {
  durationMs: number;
  warmupMs: number;
  parts: string[];
  callers: number;
  window: number;
  rate: number;
  payloadBytes: number;
  nats: string;
}

/** One line of the report. */
export interface Row {
  part: string;
  scenario: string;
  /** calls (deliveries) per second; NaN when not measured */
  rate: number;
  p50Ms: number;
  p99Ms: number;
  sent: number;
  lost: number;
  errors: number;
}

/** What a part gets: the running cluster. */
export interface ClusterUnderTest {
  natsUrl: string;
  /** each node's WAMP WebSocket URL, in node order */
  wsUrls: string[];
  opts: Options;
}

type Part = (cluster: ClusterUnderTest) => Promise<Row[]>;

const PARTS: Record<string, Part> = {
  rpc: rpcPart,
};

function parseArgs(argv: string[]): Options {
  const get = (name: string, dflt: string): string => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? (argv[i + 1] ?? dflt) : dflt;
  };
  return {
    durationMs: Number(get('duration', '3')) * 1000,
    warmupMs: Number(get('warmup', '1')) * 1000,
    parts: get('parts', Object.keys(PARTS).join(',')).split(','),
    callers: Number(get('callers', '4')),
    window: Number(get('window', '16')),
    rate: Number(get('rate', '2000')),
    payloadBytes: Number(get('payload', '64')),
    nats: get('nats', process.env['NATS_SERVER'] ?? '/usr/sbin/nats-server'),
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const nowMs = (): number => performance.now();

// ----- the cluster -----

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Starts `cmd` and resolves with the first stdout line matching `ready`. */
function startProcess(cmd: string, args: string[], ready: RegExp, what: string): Promise<{ child: ChildProcess; match: RegExpMatchArray }> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start: ${err}`)), 30_000);
    const check = (): void => {
      const m = ready.exec(out + err);
      if (!m) return;
      clearTimeout(timer);
      resolve({ child, match: m });
    };
    child.stdout?.on('data', (d: Buffer) => ((out += d.toString()), check()));
    child.stderr?.on('data', (d: Buffer) => ((err += d.toString()), check()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${String(code)}): ${err}`));
    });
  });
}

async function startCluster(opts: Options, nodes: number): Promise<{ cluster: ClusterUnderTest; stop: () => void }> {
  const port = await freePort();
  const nats = await startProcess(opts.nats, ['-a', '127.0.0.1', '-p', String(port)], /Server is ready/, 'nats-server');
  const natsUrl = `nats://127.0.0.1:${port}`;
  const server = path.join(__dirname, 'servers', 'cluster-node.ts');
  const started = await Promise.all(
    Array.from({ length: nodes }, (_, i) => startProcess(process.execPath, [...nodeArgs(i), '--import', 'tsx', server, natsUrl, `bench-${i + 1}`], /PORT (\d+)/, `node ${i + 1}`)),
  );
  const children = [nats.child, ...started.map((s) => s.child)];
  return {
    cluster: { natsUrl, wsUrls: started.map((s) => `ws://127.0.0.1:${s.match[1] ?? 0}/ws`), opts },
    stop: () => {
      for (const c of children) c.kill('SIGTERM');
    },
  };
}

/** `--cpu-prof` (profiling): each node writes its profiles into bench/out/prof/cluster-node-<n>/ on exit */
function nodeArgs(i: number): string[] {
  if (!process.argv.includes('--cpu-prof')) return [];
  // default file names: tsx's loader thread writes a profile of its own
  return ['--cpu-prof', '--cpu-prof-dir', path.join(__dirname, 'out', 'prof', `cluster-node-${i + 1}`), '--cpu-prof-interval', '100'];
}

// ----- part: rpc -----

const PROCEDURE = 'bench.cluster.echo';

async function rpcPart(cluster: ClusterUnderTest): Promise<Row[]> {
  const [a, b] = cluster.wsUrls;
  if (!a || !b) throw new Error('the rpc part needs two nodes');
  const callee = await WampClient.connect({ url: a, realm: 'realm1' });
  await callee.register(PROCEDURE, (args) => args ?? []);
  await known(b, PROCEDURE);
  const rows: Row[] = [];
  for (const [scenario, url] of [
    ['same-node', a],
    ['cross-node', b],
  ] as const) {
    rows.push(await rpcRun(url, cluster.opts, `${scenario}, closed loop (${cluster.opts.callers} x ${cluster.opts.window} in flight)`, undefined));
    rows.push(await rpcRun(url, cluster.opts, `${scenario}, open loop at ${fmtInt(cluster.opts.rate)} calls/s`, cluster.opts.rate));
  }
  await callee.close();
  return rows;
}

/** Waits until a node routes `procedure` (the directory has reached it). */
async function known(url: string, procedure: string): Promise<void> {
  const c = await WampClient.connect({ url, realm: 'realm1' });
  try {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const id = await new Promise<unknown>((resolve) => c.call('wamp.registration.lookup', [procedure], (args) => resolve(args?.[0])));
      if (typeof id === 'number') return;
      if (Date.now() > deadline) throw new Error(`${procedure} not known at ${url}`);
      await sleep(50);
    }
  } finally {
    await c.close();
  }
}

/**
 * Calls from `callers` sessions on `url`: closed loop (a window per caller) when `rate`
 * is undefined, else open loop at `rate` calls/s in total (sent in 1 ms ticks).
 */
async function rpcRun(url: string, opts: Options, scenario: string, rate: number | undefined): Promise<Row> {
  const callers = await Promise.all(Array.from({ length: opts.callers }, () => WampClient.connect({ url, realm: 'realm1' })));
  const pad = 'x'.repeat(opts.payloadBytes);
  const hist = new LatencyHistogram();
  let measuring = false;
  let sent = 0;
  let done = 0;
  let doneInWindow = 0;
  let running = true;
  const inflight = new Array<number>(callers.length).fill(0);
  const onResult = (i: number) => (args: unknown[] | undefined) => {
    done++;
    inflight[i] = (inflight[i] ?? 1) - 1;
    if (measuring) {
      doneInWindow++;
      const t = args?.[0];
      if (typeof t === 'number') hist.record(nowMs() - t);
    }
    if (running && rate === undefined) send(i);
  };
  const handlers = callers.map((_, i) => onResult(i));
  const send = (i: number): void => {
    const c = callers[i];
    const h = handlers[i];
    if (!c || !h) return;
    c.call(PROCEDURE, [nowMs(), pad], h);
    inflight[i] = (inflight[i] ?? 0) + 1;
    sent++;
  };
  let ticker: NodeJS.Timeout | undefined;
  if (rate === undefined) {
    for (let i = 0; i < callers.length; i++) for (let w = 0; w < opts.window; w++) send(i);
  } else {
    // open loop: what is due by now goes out each tick, whatever is in flight
    const start = nowMs();
    let next = 0;
    ticker = setInterval(() => {
      const due = Math.floor(((nowMs() - start) / 1000) * rate);
      while (next < due) send(next++ % callers.length);
    }, 1);
  }
  await sleep(opts.warmupMs);
  measuring = true;
  const t0 = nowMs();
  await sleep(opts.durationMs);
  measuring = false;
  const elapsed = (nowMs() - t0) / 1000;
  running = false;
  if (ticker) clearInterval(ticker);
  // drain: every call answered
  const deadline = Date.now() + 10_000;
  while (done < sent && Date.now() < deadline) await sleep(10);
  const errors = callers.reduce((n, c) => n + c.errors, 0);
  await Promise.all(callers.map((c) => c.close()));
  return { part: 'rpc', scenario, rate: doneInWindow / elapsed, p50Ms: hist.quantileMs(0.5), p99Ms: hist.quantileMs(0.99), sent, lost: sent - done, errors };
}

// ----- report -----

const fmtMs = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : '-');

function report(rows: Row[]): string {
  const lines = ['| Part | Scenario | Calls/s | p50 ms | p99 ms | Sent | Lost | Errors |', '|---|---|---:|---:|---:|---:|---:|---:|'];
  for (const r of rows) lines.push(`| ${r.part} | ${r.scenario} | ${fmtInt(r.rate)} | ${fmtMs(r.p50Ms)} | ${fmtMs(r.p99Ms)} | ${fmtInt(r.sent)} | ${r.lost} | ${r.errors} |`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const { cluster, stop } = await startCluster(opts, 2);
  try {
    const rows: Row[] = [];
    for (const name of opts.parts) {
      const part = PARTS[name];
      if (!part) throw new Error(`unknown part ${name} (parts: ${Object.keys(PARTS).join(', ')})`);
      rows.push(...(await part(cluster)));
    }
    process.stdout.write(`${report(rows)}\n`);
    if (rows.some((r) => r.lost > 0 || r.errors > 0)) process.exitCode = 1;
  } finally {
    stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`cluster-bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
