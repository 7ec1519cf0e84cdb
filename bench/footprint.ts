/**
 * Footprint: what a router costs in memory, Gatehouse (the `gatehouse` daemon on its
 * defaults, compiled by tsc) against Mosquitto and Aedes in the same run.
 *
 *   npx tsx bench/footprint.ts [--runs 3] [--connections 10000] [--load-seconds 5]
 *        [--brokers gatehouse,aedes,mosquitto] [--node-flags "<flags for the daemon's node>"]
 *        [--no-build]   (use dist/ as it is instead of running `tsc -p .` first)
 *        [--dist DIR]   (run DIR/lib/cli.js, e.g. another checkout's build, for a before/after)
 *
 * Each broker, each run, in fresh processes:
 *   idle      RSS 5 s after start with no client (and its private dirty part, which
 *             leaves out the pages of the node binary every node process shares)
 *   per conn  (RSS holding N idle MQTT 3.1.1 connections - idle RSS) / N, in KiB
 *   load      peak RSS (the kernel's VmHWM) of a fresh broker under the MQTT QoS 0
 *             closed-loop 4 -> 4 load of bench/mqtt-bench.ts (64-byte payloads), with the
 *             deliveries/s it reached (CPU and rates on a shared machine are noisy; the
 *             memory figures are not)
 *
 * The daemon's config changes only what N connections need: limits.maxConnections,
 * maxConnectionsPerIp and maxSessions are raised to N + 100 (defaults 10,000, 1,000 and
 * 10,000). Connections come from 127.0.0.1, .2, ... (at most 20,000 per address, as
 * the ephemeral port range allows). `--connections 100000` needs file descriptors: the
 * bench raises its own limit and the brokers' with prlimit (root, or a hard limit high
 * enough).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqttPacket from 'mqtt-packet';
import {
  BROKERS,
  BrokerProcess,
  aedesVersion,
  findMosquitto,
  mosquittoVersion,
  type BrokerName,
} from './lib/mqtt-broker-process';
import { runLoad, type LoadResult } from './lib/mqtt-scenarios';
import { procMemory } from './lib/proc-memory';
import { machineBusySeconds } from './lib/router-process';
import { fmtInt, fmtRatio, median } from './lib/stats';

interface Options {
  runs: number;
  connections: number;
  loadSeconds: number;
  brokers: BrokerName[];
  nodeFlags: string[];
  build: boolean;
  /** the compiled daemon to run: <dist>/lib/cli.js */
  dist: string;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    runs: 3,
    connections: 10_000,
    loadSeconds: 5,
    brokers: [...BROKERS],
    nodeFlags: [],
    build: true,
    dist: join(ROOT, 'dist'),
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${String(flag)} needs a value`);
      return v;
    };
    switch (flag) {
      case '--runs':
        o.runs = Number(value());
        break;
      case '--connections':
        o.connections = Number(value());
        break;
      case '--load-seconds':
        o.loadSeconds = Number(value());
        break;
      case '--brokers':
        o.brokers = value().split(',') as BrokerName[];
        break;
      case '--node-flags':
        o.nodeFlags = value().split(' ').filter(Boolean);
        break;
      case '--no-build':
        o.build = false;
        break;
      case '--dist':
        o.dist = value();
        o.build = false;
        break;
      default:
        throw new Error(`unknown option ${String(flag)}`);
    }
  }
  for (const b of o.brokers) if (!BROKERS.includes(b)) throw new Error(`unknown broker ${b}`);
  if (!(o.runs >= 1 && o.connections >= 1 && o.loadSeconds > 0))
    throw new Error('--runs, --connections and --load-seconds must be positive');
  return o;
}

const ROOT = join(__dirname, '..');

/** `tsc -p .`: dist/ as `npm start` builds and runs it. */
function buildDist(): void {
  const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', ROOT], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`tsc -p . failed:\n${r.stdout}${r.stderr}`);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Raises the open-files limit of a process (this one by default) to `n`, when allowed. */
function raiseNoFile(n: number, pid = process.pid): void {
  const r = spawnSync('prlimit', ['--pid', String(pid), `--nofile=${n}:${n}`], { encoding: 'utf8' });
  if (r.status !== 0) process.stderr.write(`note: prlimit --nofile=${n} for ${pid} failed: ${r.stderr.trim()}\n`);
}

/** A broker under test: its pid, MQTT port and how to stop it. */
interface Broker {
  pid: number;
  port: number;
  stop(): Promise<void>;
}

/** The gatehouse daemon, compiled, on its defaults but for the connection limits. */
async function startDaemon(o: Options, dir: string): Promise<Broker> {
  const limit = o.connections + 100;
  const config = join(dir, `footprint-${Date.now().toString(36)}.json`);
  writeFileSync(
    config,
    JSON.stringify({
      http: { port: 0 },
      mqtt: { port: 0 },
      stomp: { port: 0 },
      store: { path: join(dir, `store-${Date.now().toString(36)}.db`) },
      log: { level: 'info' },
      limits: { maxConnections: limit, maxConnectionsPerIp: limit, maxSessions: limit },
    }),
  );
  const child: ChildProcess = spawn(process.execPath, [...o.nodeFlags, join(o.dist, 'lib', 'cli.js'), '-c', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (err += s));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`daemon did not listen within 30 s: ${err}`)), 30_000);
    child.once('exit', (code) => reject(new Error(`daemon exited (${String(code)}): ${err}`)));
    child.stdout?.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      for (const line of out.split('\n')) {
        if (!line.includes('"listening"')) continue;
        const url = (JSON.parse(line) as { mqtt?: { url?: string } }).mqtt?.url;
        if (url) {
          clearTimeout(timer);
          resolve(Number(new URL(url).port));
        }
      }
    });
  });
  child.stdout?.removeAllListeners('data');
  child.stdout?.resume();
  if (o.connections > 20_000) raiseNoFile(limit + 1000, child.pid);
  return {
    pid: child.pid ?? 0,
    port,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await once(child, 'exit');
        clearTimeout(timer);
      }
    },
  };
}

async function startBroker(name: BrokerName, o: Options, dir: string, mosquitto: string): Promise<Broker> {
  if (name === 'gatehouse') return startDaemon(o, dir);
  const proc = await BrokerProcess.start(
    name,
    {
      cpu: undefined,
      gatehouseRuntime: 'tsc',
      mosquittoPath: mosquitto,
      workDir: dir,
      mosquittoNoDelay: false,
      aedesNoDelay: false,
    },
    undefined,
  );
  if (o.connections > 20_000) raiseNoFile(o.connections + 1100, proc.pid);
  return { pid: proc.pid, port: proc.port, stop: () => proc.stop() };
}

const PER_ADDRESS = 20_000;

/** Opens `n` idle MQTT 3.1.1 connections (keep-alive off) and waits for every CONNACK. */
async function openIdle(port: number, n: number, tag: string): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  let next = 0;
  const one = async (i: number): Promise<void> => {
    const localAddress = `127.0.0.${1 + Math.floor(i / PER_ADDRESS)}`;
    const s = net.connect({ port, host: '127.0.0.1', localAddress });
    s.setNoDelay(true);
    sockets.push(s);
    await once(s, 'connect');
    s.write(
      mqttPacket.generate({
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 4,
        clean: true,
        clientId: `${tag}-${i}`,
        keepalive: 0,
      }),
    );
    const [chunk] = (await once(s, 'data')) as [Buffer];
    if (chunk[0] !== 0x20 || chunk[3] !== 0)
      throw new Error(`connection ${i}: no CONNACK 0 (got ${chunk.subarray(0, 4).toString('hex')})`);
    s.pause();
  };
  const worker = async (): Promise<void> => {
    while (next < n) await one(next++);
  };
  await Promise.all(Array.from({ length: Math.min(200, n) }, worker));
  return sockets;
}

async function closeAll(sockets: net.Socket[]): Promise<void> {
  for (const s of sockets) s.destroy();
  await sleep(500);
}

/** RSS after it stops moving: the last of `samples` readings a second apart. */
async function settledRss(pid: number, samples = 3): Promise<{ rss: number; privateDirty: number }> {
  let m = procMemory(pid);
  for (let i = 1; i < samples; i++) {
    await sleep(1000);
    m = procMemory(pid);
  }
  return { rss: m.rss, privateDirty: m.privateDirty };
}

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** User + system CPU seconds a process has used. */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return NaN;
  }
}

interface Measure {
  idleRss: number;
  idlePrivate: number;
  kibPerConnection: number;
  loadPeakRss: number;
  loadRate: number;
  loadLost: number;
  /** broker CPU microseconds per delivery under the load: steadier than rates on a busy machine */
  loadUsPerDelivery: number;
}

async function measure(name: BrokerName, o: Options, dir: string, mosquitto: string, run: number): Promise<Measure> {
  // idle, then N idle connections, in one fresh process
  const a = await startBroker(name, o, dir, mosquitto);
  let idle: { rss: number; privateDirty: number };
  let perConn: number;
  try {
    await sleep(2000);
    idle = await settledRss(a.pid);
    const sockets = await openIdle(a.port, o.connections, `fp-${name}-${run}`);
    const held = await settledRss(a.pid);
    perConn = ((held.rss - idle.rss) * 1024) / o.connections;
    await closeAll(sockets);
  } finally {
    await a.stop();
  }
  // the load, in another fresh process
  const b = await startBroker(name, o, dir, mosquitto);
  let result: LoadResult;
  let peak = 0;
  try {
    result = await runLoad(
      {
        port: b.port,
        publishers: 4,
        subscribers: 4,
        topology: 'pair',
        payloadBytes: 64,
        qos: 0,
        mode: { kind: 'closed', window: 512, deliveryCap: 512 },
        stallMs: 500,
        tag: `fp-${name}-${run}-${Date.now().toString(36)}`,
      },
      { warmupMs: 1000, durationMs: o.loadSeconds * 1000, drainIdleMs: 2000 },
      {
        brokerCpuSeconds: () => cpuSeconds(b.pid),
        machineCpuSeconds: machineBusySeconds,
        brokerRssMiB: () => {
          const m = procMemory(b.pid);
          peak = Math.max(peak, m.rss);
          return m.rss;
        },
      },
    );
    peak = Math.max(peak, procMemory(b.pid).hwm);
  } finally {
    await b.stop();
  }
  return {
    idleRss: idle.rss,
    idlePrivate: idle.privateDirty,
    kibPerConnection: perConn,
    loadPeakRss: peak,
    loadRate: result.rate,
    loadLost: result.lost,
    loadUsPerDelivery: ((result.brokerCpu / 100) * 1e6) / result.rate,
  };
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (o.connections > 20_000) raiseNoFile(o.connections + 2000);
  const mosquitto = findMosquitto() ?? '';
  if (o.brokers.includes('mosquitto') && !mosquitto) throw new Error('mosquitto is not installed: bash bench/setup.sh');
  if (o.brokers.includes('gatehouse') && o.build) buildDist();
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-footprint-'));
  mkdirSync(dir, { recursive: true });
  const results = new Map<BrokerName, Measure[]>();
  try {
    for (let run = 1; run <= o.runs; run++) {
      for (const name of o.brokers) {
        const m = await measure(name, o, dir, mosquitto, run);
        process.stderr.write(
          `run ${run} ${name}: idle ${m.idleRss.toFixed(1)} MiB (private ${m.idlePrivate.toFixed(1)}), ${m.kibPerConnection.toFixed(2)} KiB/connection, load peak ${m.loadPeakRss.toFixed(1)} MiB at ${fmtInt(m.loadRate)} deliveries/s (${m.loadUsPerDelivery.toFixed(2)} µs CPU each), lost ${m.loadLost}\n`,
        );
        results.set(name, [...(results.get(name) ?? []), m]);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const med = (name: BrokerName, f: (m: Measure) => number): number => median((results.get(name) ?? []).map(f));
  const versions: Record<BrokerName, string> = {
    gatehouse: `daemon${o.nodeFlags.length ? ` (node ${o.nodeFlags.join(' ')})` : ''}`,
    aedes: aedesVersion(),
    mosquitto: mosquitto ? mosquittoVersion(mosquitto) : '-',
  };
  process.stdout.write(
    `\nFootprint, median of ${o.runs} runs; ${fmtInt(o.connections)} idle MQTT connections; load: MQTT QoS 0 closed loop 4 -> 4, 64 B, ${o.loadSeconds} s\n\n`,
  );
  process.stdout.write(
    '| Broker | Idle RSS (MiB) | Idle private (MiB) | KiB per idle connection | Peak RSS under load (MiB) | Deliveries/s under load | Broker CPU µs/delivery |\n',
  );
  process.stdout.write('| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n');
  for (const name of o.brokers) {
    process.stdout.write(
      `| ${name} ${versions[name]} | ${med(name, (m) => m.idleRss).toFixed(1)} | ${med(name, (m) => m.idlePrivate).toFixed(1)} | ${med(name, (m) => m.kibPerConnection).toFixed(2)} | ${med(name, (m) => m.loadPeakRss).toFixed(1)} | ${fmtInt(med(name, (m) => m.loadRate))} | ${med(name, (m) => m.loadUsPerDelivery).toFixed(2)} |\n`,
    );
  }
  if (o.brokers.includes('gatehouse')) {
    for (const peer of o.brokers.filter((b) => b !== 'gatehouse')) {
      process.stdout.write(
        `\nGatehouse / ${peer}: idle ${fmtRatio(med('gatehouse', (m) => m.idleRss) / med(peer, (m) => m.idleRss))}, per connection ${fmtRatio(med('gatehouse', (m) => m.kibPerConnection) / med(peer, (m) => m.kibPerConnection))}, under load ${fmtRatio(med('gatehouse', (m) => m.loadPeakRss) / med(peer, (m) => m.loadPeakRss))}`,
      );
    }
    process.stdout.write('\n');
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`footprint: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
