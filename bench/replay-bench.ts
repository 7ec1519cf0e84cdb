/**
 * Retained replay: how long a subscriber to everything (`#`) takes to receive a
 * retained store of 100,000 keys of 100 B, with the default outbound limits (1 MiB
 * high water, 4 MiB queue), over WAMP (`get_retained`, WebSocket, JSON) and MQTT 3.1.1
 * (QoS 0, and QoS 1 where the in-flight window of 100 paces it too). STOMP has no
 * retained replay.
 *
 *   npx tsx bench/replay-bench.ts [--runs 3] [--keys 100000] [--value-bytes 100]
 *        [--gatehouse-runtime tsc|tsx] [--quiet-wait 30] [--unbounded]
 *
 * `--unbounded` gives the router outbound limits of 1 GiB, so the pacing never waits:
 * what a replay costs when written in one go, for comparison.
 * One router child process (bench/servers/replay-gatehouse-server.js) seeds the store
 * once; each run connects a fresh subscriber per protocol, starts the clock at its
 * SUBSCRIBE and stops it at the last retained value. Clients are the lean bench clients
 * (bench/lib/wamp-client.ts, bench/lib/mqtt-lean-client.ts), which count frames without
 * decoding them. Gatehouse is compiled with tsc into bench/out/build-replay, as
 * production runs dist/. Prints the markdown section for bench/RESULTS.md on stdout.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { LeanMqttClient } from './lib/mqtt-lean-client';
import { fmtInt, fmtPct, median, waitForQuiet } from './lib/stats';
import { WampClient } from './lib/wamp-client';

const ROOT = join(__dirname, '..');
const BUILD_DIR = join(ROOT, 'bench', 'out', 'build-replay');
const REPLAY_TIMEOUT_MS = 60_000;

interface Options {
  runs: number;
  keys: number;
  valueBytes: number;
  runtime: 'tsc' | 'tsx';
  quietWait: number;
  /** outbound limits of 1 GiB instead of the defaults: the replay goes out nearly in one go */
  unbounded: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { runs: 3, keys: 100_000, valueBytes: 100, runtime: 'tsc', quietWait: 30, unbounded: false };
  for (let i = 0; i < argv.length; i += 2) {
    const v = argv[i + 1] ?? '';
    switch (argv[i]) {
      case '--unbounded':
        o.unbounded = true;
        i--;
        break;
      case '--runs':
        o.runs = Number(v);
        break;
      case '--keys':
        o.keys = Number(v);
        break;
      case '--value-bytes':
        o.valueBytes = Number(v);
        break;
      case '--gatehouse-runtime':
        o.runtime = v === 'tsx' ? 'tsx' : 'tsc';
        break;
      case '--quiet-wait':
        o.quietWait = Number(v);
        break;
      default:
        throw new Error(`unknown option ${String(argv[i])}`);
    }
  }
  return o;
}

type Scenario = 'WAMP get_retained' | 'MQTT QoS 0' | 'MQTT QoS 1';
const SCENARIOS: readonly Scenario[] = ['WAMP get_retained', 'MQTT QoS 0', 'MQTT QoS 1'];

function build(): string {
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(ROOT, 'bench', 'tsconfig.build.json'), '--outDir', BUILD_DIR], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  const entry = join(BUILD_DIR, 'index.js');
  if (!existsSync(entry)) throw new Error(`tsc build of Gatehouse failed:\n${r.stdout}${r.stderr}`);
  return entry;
}

/** Starts the router child; resolves with its ports once the store is seeded. */
function startRouter(o: Options, entry: string): Promise<{ child: ChildProcess; wamp: number; mqtt: number; seedMs: number }> {
  const server = join(ROOT, 'bench', 'servers', 'replay-gatehouse-server.js');
  const nodeArgs = o.runtime === 'tsx' ? ['--import', 'tsx', server] : [server];
  const t0 = Date.now();
  const args = [
    ...nodeArgs,
    '--keys',
    String(o.keys),
    '--value-bytes',
    String(o.valueBytes),
    ...(o.unbounded ? ['--unbounded'] : []),
  ];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, GATEHOUSE_ENTRY: entry },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      const m = /PORTS (\d+) (\d+)/.exec(out);
      if (m) resolve({ child, wamp: Number(m[1]), mqtt: Number(m[2]), seedMs: Date.now() - t0 });
    });
    child.once('exit', (code) => reject(new Error(`router exited (${String(code)}) before it was ready`)));
  });
}

/** Resolves when `done()` holds; rejects when the connection closes first or on timeout. */
function until(done: () => boolean, closed: Promise<unknown>, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: timed out`)), REPLAY_TIMEOUT_MS);
    const poll = setInterval(() => {
      if (!done()) return;
      clearInterval(poll);
      clearTimeout(timer);
      resolve();
    }, 1);
    void closed.then(() => {
      clearInterval(poll);
      clearTimeout(timer);
      reject(new Error(`${what}: the subscriber was disconnected`));
    });
  });
}

/** Milliseconds from SUBSCRIBE to the last of `keys` retained values. */
async function replayWamp(port: number, keys: number): Promise<number> {
  const client = await WampClient.connect({ url: `ws://127.0.0.1:${port}/ws`, realm: 'realm1' });
  let n = 0;
  let last = 0;
  // frames counted undecoded; meta events (another client joining) are not retained
  client.rawEvents = (data) => {
    if (data.includes('"retained":true')) {
      n++;
      if (n === keys) last = performance.now();
    }
    return true;
  };
  const closed = new Promise<void>(() => undefined);
  const t0 = performance.now();
  await client.subscribe('#', () => undefined, { get_retained: true });
  await until(() => n >= keys, closed, 'WAMP replay');
  await client.close();
  return last - t0;
}

async function replayMqtt(port: number, keys: number, qos: 0 | 1): Promise<number> {
  const client = await LeanMqttClient.connect(port, `replay-${qos}-${process.hrtime.bigint()}`);
  let n = 0;
  let last = 0;
  client.onPublish = (_data, _start, _end, q, packetId) => {
    if (q > 0) client.puback(packetId);
    n++;
    if (n === keys) last = performance.now();
  };
  const t0 = performance.now();
  await client.subscribe('#', qos);
  await until(() => n >= keys, new Promise<void>(() => undefined), `MQTT QoS ${qos} replay`);
  await client.close();
  return last - t0;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const entry = o.runtime === 'tsc' ? build() : join(ROOT, 'index.ts');
  const router = await startRouter(o, entry);
  const results = new Map<Scenario, number[]>(SCENARIOS.map((s) => [s, []]));
  const others: number[] = [];
  try {
    for (let run = 0; run < o.runs; run++) {
      others.push(await waitForQuiet(o.quietWait));
      for (const s of SCENARIOS) {
        const ms =
          s === 'WAMP get_retained'
            ? await replayWamp(router.wamp, o.keys)
            : await replayMqtt(router.mqtt, o.keys, s === 'MQTT QoS 0' ? 0 : 1);
        results.get(s)?.push(ms);
        process.stderr.write(`run ${run + 1} ${s}: ${ms.toFixed(0)} ms\n`);
      }
    }
  } finally {
    router.child.kill('SIGTERM');
  }
  const lines: string[] = [];
  lines.push(`Command: \`npx tsx bench/replay-bench.ts ${process.argv.slice(2).join(' ')}\`  `);
  lines.push(
    `${o.keys.toLocaleString('en-US')} keys of ${o.valueBytes} B, ${o.unbounded ? 'outbound limits of 1 GiB' : 'default outbound limits'}; ${o.runs} runs, medians; Gatehouse ${o.runtime === 'tsc' ? 'compiled by tsc' : 'through tsx'}; store seeded in ${fmtInt(router.seedMs)} ms; ${cpus().length} CPUs, Node ${process.version}; other processes used ${others.map(fmtPct).join(' / ')} of a core before the runs.`,
  );
  lines.push('');
  lines.push('| Subscriber to `#` | Replay ms (median) | Values/s | Runs (ms) |');
  lines.push('| --- | ---: | ---: | --- |');
  for (const s of SCENARIOS) {
    const xs = results.get(s) ?? [];
    const m = median(xs);
    lines.push(`| ${s} | ${fmtInt(m)} | ${fmtInt((o.keys * 1000) / m)} | ${xs.map(fmtInt).join(', ')} |`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
