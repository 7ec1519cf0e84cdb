/**
 * MQTT throughput, latency and memory: Gatehouse against Aedes (npm) and Mosquitto
 * (Debian), same run, same load generator.
 *
 *   npx tsx bench/mqtt-bench.ts [--runs 3] [--duration 5] [--warmup 2]
 *        [--scenarios qos0,qos1,lat0,lat1] [--brokers gatehouse,aedes,mosquitto]
 *        [--publishers 4] [--subscribers 4] [--topology pair|shared] [--payload 64]
 *        [--window 512] [--qos1-window 256] [--delivery-cap 512] [--rate 5000]
 *        [--no-pin] [--profile] [--gatehouse-runtime tsc|tsx] [--gatehouse-node-flags "..."] [--mosquitto PATH]
 *        [--mosquitto-nodelay false] [--aedes-nodelay false]
 *        [--quiet-wait 20] [--max-other 30] [--retries 3]
 *   npx tsx bench/mqtt-bench.ts --from-json bench/out/mqtt-<time>.json   (re-render a report)
 *
 * Scenarios (MQTT 3.1.1, clean sessions, 64-byte payloads, 4 publishers -> 4
 * subscribers, one topic per publisher/subscriber pair unless --topology shared):
 *   qos0  closed-loop QoS 0 throughput: each publisher keeps --window messages in flight
 *   qos1  closed-loop QoS 1 throughput: each publisher keeps --qos1-window PUBLISHes
 *         unacknowledged; subscribers PUBACK each delivery; zero loss required
 *   lat0  open loop at --rate msg/s in total, QoS 0: latency publish -> receive
 *   lat1  the same at QoS 1
 * See bench/lib/mqtt-scenarios.ts for the exact rules of each loop.
 *
 * Each broker runs in its own child process: Gatehouse (compiled by tsc into
 * bench/out/build-mqtt, as production runs dist/) and Aedes under node, Mosquitto as
 * Debian's binary with a generated config (loopback listener on a free port,
 * anonymous, no persistence; queue limits at their defaults). Socket options are each
 * broker's own: Gatehouse sets TCP_NODELAY; Aedes (served the way its README does,
 * `net.createServer(aedes.handle)`) and Mosquitto (set_tcp_nodelay false) leave Nagle
 * on, which measured better for both in throughput and no worse at 5k msg/s;
 * --aedes-nodelay / --mosquitto-nodelay true turn it off. The broker
 * is pinned to CPU 1 and this process, the load generator (a lean client on `net` and
 * `mqtt-packet`, bench/lib/mqtt-lean-client.ts), to CPU 0, so on a 2-core machine each
 * has one core. Every run of every scenario starts a fresh broker; runs rotate the
 * order of the brokers. Tables show medians over runs.
 *
 * The machine may be shared: before each run the driver waits (up to --quiet-wait s)
 * for other processes' CPU use to drop; a run whose measured window saw others use
 * more than --max-other % of a core is redone (up to --retries times).
 *
 * `--profile` samples the node brokers (Gatehouse, Aedes) over the measured window
 * with V8's CPU profiler (the one `node --cpu-prof` uses, driven over the child's
 * stdin, 100 µs interval), writes .cpuprofile files to bench/out/prof/ and appends
 * the top self-time functions. Profiling slows the broker: take numbers from
 * unprofiled runs.
 *
 * Mosquitto must be installed (bench/setup.sh does it: apt-get install mosquitto).
 * Output: a markdown report on stdout and in bench/out/mqtt-<time>.md, every run's raw
 * numbers in bench/out/mqtt-<time>.json. Exit code 2 when a QoS 1 run lost messages.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, release } from 'node:os';
import { join } from 'node:path';
import { summarizeProfile } from './lib/cpuprofile-top';
import {
  aedesVersion,
  BrokerProcess,
  BROKERS,
  buildGatehouseForMqtt,
  findMosquitto,
  mosquittoVersion,
  MQTT_BUILD_DIR,
  type BrokerName,
  type GatehouseRuntime,
} from './lib/mqtt-broker-process';
import { runLoad, type LoadConfig, type LoadResult, type Topology } from './lib/mqtt-scenarios';
import { hasTaskset, machineBusySeconds, pinSelf } from './lib/router-process';
import { fmtInt, fmtPct, fmtRatio, fmtUs, median, waitForQuiet } from './lib/stats';

type ScenarioName = 'qos0' | 'qos1' | 'lat0' | 'lat1';
const SCENARIOS: readonly ScenarioName[] = ['qos0', 'qos1', 'lat0', 'lat1'];

interface Options {
  duration: number;
  warmup: number;
  runs: number;
  scenarios: ScenarioName[];
  brokers: BrokerName[];
  publishers: number;
  subscribers: number;
  topology: Topology;
  payload: number;
  window: number;
  qos1Window: number;
  deliveryCap: number;
  rate: number;
  pin: boolean;
  profile: boolean;
  gatehouseRuntime: GatehouseRuntime;
  /** node flags for the Gatehouse process (tsc runtime) */
  gatehouseNodeFlags: string[];
  mosquitto: string | undefined;
  mosquittoNoDelay: boolean;
  aedesNoDelay: boolean;
  quietWait: number;
  maxOther: number;
  retries: number;
}

function title(o: Options, s: ScenarioName): string {
  switch (s) {
    case 'qos0':
      return `QoS 0 closed loop (window ${o.window})`;
    case 'qos1':
      return `QoS 1 closed loop (window ${o.qos1Window})`;
    case 'lat0':
      return `QoS 0 open loop ${o.rate.toLocaleString('en-US')} msg/s`;
    case 'lat1':
      return `QoS 1 open loop ${o.rate.toLocaleString('en-US')} msg/s`;
  }
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    duration: 5,
    warmup: 2,
    runs: 3,
    scenarios: [...SCENARIOS],
    brokers: [...BROKERS],
    publishers: 4,
    subscribers: 4,
    topology: 'pair',
    payload: 64,
    window: 512,
    qos1Window: 256,
    deliveryCap: 512,
    rate: 5000,
    pin: true,
    profile: false,
    gatehouseRuntime: 'tsc',
    gatehouseNodeFlags: [],
    mosquitto: undefined,
    mosquittoNoDelay: false,
    aedesNoDelay: false,
    quietWait: 20,
    maxOther: 30,
    retries: 3,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${String(flag)} needs a value`);
      return v;
    };
    const num = (): number => {
      const n = Number(value());
      if (!Number.isFinite(n) || n <= 0) throw new Error(`${String(flag)} needs a positive number`);
      return n;
    };
    switch (flag) {
      case '--duration': o.duration = num(); break;
      case '--warmup': o.warmup = Number(value()); break;
      case '--runs': o.runs = num(); break;
      case '--scenarios': o.scenarios = value().split(',') as ScenarioName[]; break;
      case '--brokers': o.brokers = value().split(',') as BrokerName[]; break;
      case '--publishers': o.publishers = num(); break;
      case '--subscribers': o.subscribers = num(); break;
      case '--topology': o.topology = value() as Topology; break;
      case '--payload': o.payload = num(); break;
      case '--window': o.window = num(); break;
      case '--qos1-window': o.qos1Window = num(); break;
      case '--delivery-cap': o.deliveryCap = num(); break;
      case '--rate': o.rate = num(); break;
      case '--no-pin': o.pin = false; break;
      case '--profile': o.profile = true; break;
      case '--gatehouse-runtime': o.gatehouseRuntime = value() as GatehouseRuntime; break;
      case '--gatehouse-node-flags': o.gatehouseNodeFlags = value().split(' ').filter(Boolean); break;
      case '--mosquitto': o.mosquitto = value(); break;
      case '--mosquitto-nodelay': o.mosquittoNoDelay = value() === 'true'; break;
      case '--aedes-nodelay': o.aedesNoDelay = value() === 'true'; break;
      case '--quiet-wait': o.quietWait = Number(value()); break;
      case '--max-other': o.maxOther = Number(value()); break;
      case '--retries': o.retries = Number(value()); break;
      default: throw new Error(`unknown option ${String(flag)}`);
    }
  }
  for (const s of o.scenarios) if (!SCENARIOS.includes(s)) throw new Error(`unknown scenario ${s} (${SCENARIOS.join(', ')})`);
  for (const b of o.brokers) if (!BROKERS.includes(b)) throw new Error(`unknown broker ${b} (${BROKERS.join(', ')})`);
  if (o.topology !== 'pair' && o.topology !== 'shared') throw new Error('--topology is pair or shared');
  if (o.topology === 'pair' && o.publishers !== o.subscribers) throw new Error('--topology pair needs --publishers equal to --subscribers');
  if (o.gatehouseRuntime !== 'tsc' && o.gatehouseRuntime !== 'tsx') throw new Error('--gatehouse-runtime is tsc or tsx');
  if (o.payload < 16) throw new Error('--payload must be at least 16 (the header the generator needs)');
  return o;
}

interface Run {
  scenario: ScenarioName;
  broker: BrokerName;
  run: number;
  result: LoadResult;
  /** broker RSS after the clients disconnected, and its peak (VmHWM), MiB */
  rssEndMiB: number;
  rssPeakMiB: number;
  /** runs of this slot thrown away because others loaded the machine */
  discarded: number;
}

interface Env {
  gatehouseEntry: string | undefined;
  mosquittoPath: string;
  workDir: string;
}

function loadConfig(o: Options, s: ScenarioName, port: number, tag: string): LoadConfig {
  const qos = s === 'qos0' || s === 'lat0' ? 0 : 1;
  // the delivery cap is per subscriber queue: in shared mode every publisher feeds every subscriber
  const cap = o.topology === 'pair' ? o.deliveryCap : Math.max(1, Math.floor(o.deliveryCap / o.publishers));
  return {
    port,
    publishers: o.publishers,
    subscribers: o.subscribers,
    topology: o.topology,
    payloadBytes: o.payload,
    qos,
    mode: s === 'qos0' || s === 'qos1'
      ? { kind: 'closed', window: s === 'qos0' ? o.window : o.qos1Window, deliveryCap: cap }
      : { kind: 'open', rate: o.rate },
    stallMs: 500,
    tag,
  };
}

async function runOne(o: Options, env: Env, s: ScenarioName, b: BrokerName, run: number, profFile: string | undefined): Promise<Omit<Run, 'discarded'>> {
  const proc = await BrokerProcess.start(b, { cpu: o.pin ? 1 : undefined, gatehouseRuntime: o.gatehouseRuntime, mosquittoPath: env.mosquittoPath, workDir: env.workDir, mosquittoNoDelay: o.mosquittoNoDelay, aedesNoDelay: o.aedesNoDelay, gatehouseNodeFlags: o.gatehouseNodeFlags }, env.gatehouseEntry);
  try {
    const result = await runLoad(
      loadConfig(o, s, proc.port, `bench-${b}-${s}-${run}-${Date.now().toString(36)}`),
      { warmupMs: o.warmup * 1000, durationMs: o.duration * 1000, drainIdleMs: 2000 },
      {
        brokerCpuSeconds: () => proc.cpuSeconds(),
        machineCpuSeconds: machineBusySeconds,
        brokerRssMiB: () => proc.rssMiB(),
        measureWindow: profFile && proc.profilable
          ? (open: boolean): Promise<void> => (open ? proc.startProfile() : proc.stopProfile(profFile))
          : undefined,
      },
    );
    if (!proc.alive) throw new Error(`${b} died during the run: ${proc.stderr}`);
    // let the broker see the disconnects before reading its memory
    await new Promise((r) => setTimeout(r, 200));
    return { scenario: s, broker: b, run, result, rssEndMiB: proc.rssMiB(), rssPeakMiB: proc.peakRssMiB() };
  } finally {
    await proc.stop();
  }
}

const fmtMs = (n: number): string => (Number.isNaN(n) ? '-' : n < 10 ? n.toFixed(3) : n.toFixed(1));

interface Summary {
  rate: number;
  p50: number;
  p99: number;
  lost: number;
  duplicates: number;
  outOfOrder: number;
  stalls: number;
  unacked: number;
  errors: number;
  lossPct: number;
  brokerCpu: number;
  /** broker CPU microseconds per delivery: its efficiency, less sensitive to a shared machine than rates */
  brokerUs: number;
  generatorCpu: number;
  otherCpu: number;
  rssEnd: number;
  rssPeak: number;
  runs: number;
  /** runs with Other CPU within --max-other: the medians are over these when any */
  cleanRuns: number;
}

/**
 * Medians over the runs whose measured window others left alone (Other CPU at most
 * maxOther), when there is any: a run that stayed contended after its retries says
 * more about the neighbours than about the broker. Loss counts use every run.
 */
function summarize(all: Run[], maxOther: number): Summary {
  const clean = all.filter((x) => x.result.otherCpu <= maxOther);
  const runs = clean.length > 0 ? clean : all;
  const r = runs.map((x) => x.result);
  const every = all.map((x) => x.result);
  const sum = (f: (x: LoadResult) => number): number => every.reduce((a, x) => a + f(x), 0);
  const expected = sum((x) => x.expected);
  return {
    rate: median(r.map((x) => x.rate)),
    p50: median(r.map((x) => x.p50)),
    p99: median(r.map((x) => x.p99)),
    lost: sum((x) => x.lost),
    duplicates: sum((x) => x.duplicates),
    outOfOrder: sum((x) => x.outOfOrder),
    stalls: sum((x) => x.stalls),
    unacked: sum((x) => x.unacked),
    errors: sum((x) => x.errors),
    lossPct: expected > 0 ? (100 * sum((x) => x.lost)) / expected : NaN,
    brokerCpu: median(r.map((x) => x.brokerCpu)),
    brokerUs: median(r.map((x) => usPerDelivery(x))),
    generatorCpu: median(r.map((x) => x.generatorCpu)),
    otherCpu: median(r.map((x) => x.otherCpu)),
    rssEnd: median(runs.map((x) => x.rssEndMiB)),
    rssPeak: median(runs.map((x) => Math.max(x.rssPeakMiB, x.result.sampledPeakRssMiB))),
    runs: all.length,
    cleanRuns: clean.length,
  };
}

/** A fingerprint of the router sources measured: the tree changes under concurrent work. */
function sourceFingerprint(root: string): string {
  const h = createHash('sha256');
  const walk = (rel: string): void => {
    const abs = join(root, rel);
    if (statSync(abs).isDirectory()) {
      for (const f of readdirSync(abs).sort()) walk(join(rel, f));
    } else if (rel.endsWith('.ts') || rel.endsWith('.json')) {
      h.update(rel).update('\0').update(readFileSync(abs)).update('\0');
    }
  };
  for (const top of ['index.ts', 'lib', 'gates', 'schemas']) walk(top);
  return h.digest('hex').slice(0, 12);
}

/** Broker CPU time per delivery in the measured window, µs. */
function usPerDelivery(r: LoadResult): number {
  return r.rate > 0 ? (r.brokerCpu * 1e4) / r.rate : NaN;
}

function lossCell(s: Summary): string {
  const parts: string[] = [];
  parts.push(s.lost === 0 ? '0' : `**${fmtInt(s.lost)}** (${s.lossPct < 0.01 ? s.lossPct.toExponential(1) : s.lossPct.toFixed(2)}%)`);
  if (s.duplicates) parts.push(`${fmtInt(s.duplicates)} dup`);
  if (s.outOfOrder) parts.push(`${fmtInt(s.outOfOrder)} reordered`);
  if (s.stalls) parts.push(`${s.stalls} stalls`);
  if (s.unacked) parts.push(`${fmtInt(s.unacked)} unacked`);
  if (s.errors) parts.push(`${s.errors} errors`);
  return parts.join(', ');
}

function report(o: Options, runs: Run[], machine: string, command: string, versions: string): { md: string; targets: string[] } {
  const L: string[] = [];
  L.push(`## MQTT benchmark, ${new Date().toISOString()}`, '');
  L.push(`Command: \`${command}\``, '');
  L.push(`Machine: ${machine}`, '');
  L.push(`Brokers: ${versions}`, '');
  L.push(`Gatehouse sources: sha256 ${sourceFingerprint(join(__dirname, '..'))} over index.ts, lib/, gates/, schemas/`, '');
  if (o.profile) L.push('**Profiled runs: the V8 sampling profiler was running in the node brokers, so their numbers are lower than unprofiled.**', '');
  L.push(
    `Load: MQTT 3.1.1, ${o.publishers} publishers -> ${o.subscribers} subscribers, ` +
      (o.topology === 'pair' ? 'one topic per publisher/subscriber pair' : `one shared topic (fan-out ${o.subscribers})`) +
      `, ${o.payload}-byte payloads; closed loop: QoS 0 window ${o.window}/publisher, QoS 1 ${o.qos1Window} unacked/publisher ` +
      `(and at most ${o.deliveryCap} routed-but-undelivered per subscriber); open loop ${fmtInt(o.rate)} msg/s in total; ` +
      `${o.warmup} s warm-up + ${o.duration} s measured; ${o.runs} runs, fresh broker per run; ` +
      `TCP_NODELAY: Gatehouse on (its own), Aedes ${o.aedesNoDelay ? 'on' : 'off (as served by its README)'}, Mosquitto ${o.mosquittoNoDelay ? 'on' : 'off (its default)'}; ` +
      (o.pin ? 'broker pinned to CPU 1, generator to CPU 0.' : 'no CPU pinning.'),
    '',
  );
  L.push('### Medians', '');
  L.push(`Medians over the runs whose Other CPU stayed within ${o.maxOther}% of a core ("Clean runs"; all runs when none did). Loss: all runs.`, '');
  L.push('| Scenario | Broker | Clean runs | Deliveries/s | p50 ms | p99 ms | Loss (all runs) | Broker CPU | Broker µs/delivery | Generator CPU | Other CPU | RSS end MiB | RSS peak MiB |');
  L.push('| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  const sums = new Map<string, Summary>();
  for (const s of o.scenarios) {
    for (const b of o.brokers) {
      const mine = runs.filter((x) => x.scenario === s && x.broker === b);
      if (mine.length === 0) continue;
      const sum = summarize(mine, o.maxOther);
      sums.set(`${s}/${b}`, sum);
      L.push(
        `| ${title(o, s)} | ${b} | ${sum.cleanRuns}/${sum.runs} | ${fmtInt(sum.rate)} | ${fmtMs(sum.p50)} | ${fmtMs(sum.p99)} | ${lossCell(sum)} | ` +
          `${fmtPct(sum.brokerCpu)} | ${fmtUs(sum.brokerUs)} | ${fmtPct(sum.generatorCpu)} | ${fmtPct(sum.otherCpu)} | ${sum.rssEnd.toFixed(0)} | ${sum.rssPeak.toFixed(0)} |`,
      );
    }
  }
  const targets: string[] = [];
  if (o.brokers.includes('gatehouse') && o.brokers.length > 1) {
    const others = o.brokers.filter((b) => b !== 'gatehouse');
    L.push('', '### Gatehouse relative to the others', '');
    L.push(`| Scenario | ${others.map((b) => `Rate vs ${b}`).join(' | ')} | ${others.map((b) => `CPU/delivery vs ${b}`).join(' | ')} | ${others.map((b) => `p99 vs ${b}`).join(' | ')} | ${others.map((b) => `Peak RSS vs ${b}`).join(' | ')} |`);
    L.push(`| --- |${' ---: |'.repeat(others.length * 4)}`);
    for (const s of o.scenarios) {
      const g = sums.get(`${s}/gatehouse`);
      if (!g) continue;
      const cells = (f: (x: Summary) => number): string[] => others.map((b) => {
        const x = sums.get(`${s}/${b}`);
        return x ? fmtRatio(f(g) / f(x)) : '-';
      });
      L.push(`| ${title(o, s)} | ${cells((x) => x.rate).join(' | ')} | ${cells((x) => x.brokerUs).join(' | ')} | ${cells((x) => x.p99).join(' | ')} | ${cells((x) => x.rssPeak).join(' | ')} |`);
    }
    L.push('', 'Rate: higher is better. CPU per delivery, p99 and RSS: lower is better.', '');
    // the product owner's targets
    const check = (ok: boolean, text: string): void => {
      targets.push(`${ok ? 'MET' : 'MISSED'}: ${text}`);
    };
    for (const s of ['qos0', 'qos1'] as const) {
      const g = sums.get(`${s}/gatehouse`);
      const a = sums.get(`${s}/aedes`);
      const m = sums.get(`${s}/mosquitto`);
      if (g && a) check(g.rate >= 1.5 * a.rate, `${title(o, s)} throughput >= 1.5x Aedes (${fmtRatio(g.rate / a.rate)})`);
      if (g && m) check(g.rate >= m.rate, `${title(o, s)} throughput >= Mosquitto (${fmtRatio(g.rate / m.rate)})`);
    }
    for (const s of ['lat0', 'lat1'] as const) {
      const g = sums.get(`${s}/gatehouse`);
      const m = sums.get(`${s}/mosquitto`);
      if (g && m) check(g.p99 <= m.p99, `${title(o, s)} p99 no worse than Mosquitto (${fmtMs(g.p99)} vs ${fmtMs(m.p99)} ms)`);
    }
    for (const s of ['qos1', 'lat1'] as const) {
      const g = sums.get(`${s}/gatehouse`);
      if (g) check(g.lost === 0 && g.unacked === 0, `${title(o, s)} zero loss (lost ${fmtInt(g.lost)}, unacked ${fmtInt(g.unacked)} over ${g.runs} runs)`);
    }
    if (targets.length > 0) L.push('### Targets', '', ...targets.map((t) => `- ${t}`), '');
  }
  L.push('### Every run', '');
  L.push('| Scenario | Broker | Run | Deliveries/s | Publishes/s | p50 ms | p99 ms | p99.9 ms | max ms | Sent | Expected | Received | Lost | Dup | Stalls | Broker CPU | µs/delivery | Gen CPU | Other CPU | RSS end | RSS peak | Redone |');
  L.push(`|${' --- |'.repeat(2)}${' ---: |'.repeat(20)}`);
  for (const x of runs) {
    const r = x.result;
    L.push(
      `| ${title(o, x.scenario)} | ${x.broker} | ${x.run} | ${fmtInt(r.rate)} | ${fmtInt(r.publishRate)} | ${fmtMs(r.p50)} | ${fmtMs(r.p99)} | ${fmtMs(r.p999)} | ${fmtMs(r.max)} | ` +
        `${fmtInt(r.sent)} | ${fmtInt(r.expected)} | ${fmtInt(r.received)} | ${fmtInt(r.lost)} | ${fmtInt(r.duplicates)} | ${r.stalls} | ` +
        `${fmtPct(r.brokerCpu)} | ${fmtUs(usPerDelivery(r))} | ${fmtPct(r.generatorCpu)} | ${fmtPct(r.otherCpu)} | ${x.rssEndMiB.toFixed(0)} | ${Math.max(x.rssPeakMiB, r.sampledPeakRssMiB).toFixed(0)} | ${x.discarded} |`,
    );
  }
  L.push('');
  L.push(
    'Deliveries/s: unique messages received by all subscribers together per second of the measured window. ' +
      'Latency: publish (stamp written into the payload when the generator queues the PUBLISH) to receipt by the subscriber, in the generator process; ' +
      'closed-loop latencies are queueing under saturation, open-loop ones are the latency figures. ' +
      'Loss: messages published over the whole run (times subscribers of each) minus unique ones received after a drain (2 s without progress). ' +
      'Stalls: QoS 0 windows written off after 500 ms without progress. Unacked: QoS 1 publications the broker never PUBACKed. ' +
      `CPU: % of one core in the measured window; broker µs/delivery is broker CPU time over deliveries, the cost of one message in the broker; Other CPU is what processes outside the benchmark used meanwhile (redone above ${o.maxOther}%). ` +
      'RSS end: after the clients disconnected; RSS peak: the kernel\'s high-water mark (VmHWM) for the broker process, which was fresh for this run.',
  );
  L.push('');
  return { md: L.join('\n'), targets };
}

/** `--from-json bench/out/mqtt-<time>.json`: renders the report of a finished run again. */
function rerender(file: string): void {
  const saved = JSON.parse(readFileSync(file, 'utf8')) as { command: string; machine: string; versions: string; options: Options; runs: Run[] };
  const { md } = report(saved.options, saved.runs, saved.machine, saved.command, saved.versions);
  process.stdout.write(md);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--from-json' && argv[1]) return rerender(argv[1]);
  const o = parseArgs(argv);
  const root = join(__dirname, '..');
  const outDir = join(root, 'bench', 'out');
  mkdirSync(outDir, { recursive: true });

  let mosquittoPath = '';
  if (o.brokers.includes('mosquitto')) {
    const found = findMosquitto(o.mosquitto);
    if (!found) {
      process.stderr.write(
        'ERROR: the mosquitto binary was not found' + (o.mosquitto ? ` at ${o.mosquitto}` : ' (looked for /usr/sbin/mosquitto and mosquitto on PATH)') + '.\n' +
          'Install Debian\'s package with `bash bench/setup.sh` (apt-get install mosquitto), or leave it out with --brokers gatehouse,aedes.\n',
      );
      process.exit(1);
    }
    mosquittoPath = found;
  }
  const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-');
  const profDir = o.profile ? join(outDir, 'prof', `mqtt-${stamp}`) : undefined;
  if (profDir) mkdirSync(profDir, { recursive: true });
  let gatehouseEntry: string | undefined;
  if (o.brokers.includes('gatehouse') && o.gatehouseRuntime === 'tsc') {
    process.stderr.write('compiling Gatehouse with tsc into bench/out/build-mqtt ...\n');
    gatehouseEntry = buildGatehouseForMqtt();
  }

  // before pinning: availableParallelism() follows this process's CPU affinity
  const machine = `nproc ${availableParallelism()} (${cpus()[0]?.model.trim() ?? '?'}), Node ${process.version}, Linux ${release()} ${process.arch}`;
  const versions = [
    o.brokers.includes('gatehouse') ? `Gatehouse (working tree, ${o.gatehouseRuntime === 'tsc' ? 'compiled by tsc' : 'through tsx'})` : '',
    o.brokers.includes('aedes') ? `Aedes ${aedesVersion()} (default options, in-memory persistence)` : '',
    o.brokers.includes('mosquitto') ? `Mosquitto ${mosquittoVersion(mosquittoPath)} (Debian package, ${mosquittoPath})` : '',
  ].filter(Boolean).join('; ');
  if (o.pin && (availableParallelism() < 2 || !hasTaskset() || !pinSelf(0))) {
    process.stderr.write('CPU pinning unavailable (needs taskset and 2 CPUs); running unpinned\n');
    o.pin = false;
  }
  const command = `npx tsx bench/mqtt-bench.ts ${process.argv.slice(2).join(' ')}`.trim();
  const env: Env = { gatehouseEntry, mosquittoPath, workDir: join(outDir, 'mqtt-work') };

  const runs: Run[] = [];
  for (let run = 1; run <= o.runs; run++) {
    for (const s of o.scenarios) {
      // rotate which broker goes first, so none always gets the warmer (or cooler) machine
      const k = (run - 1) % o.brokers.length;
      const order = [...o.brokers.slice(k), ...o.brokers.slice(0, k)];
      for (const b of order) {
        const profFile = profDir ? join(profDir, `${s}-${b}-${run}.cpuprofile`) : undefined;
        let discarded = 0;
        let one: Omit<Run, 'discarded'>;
        for (;;) {
          const busy = await waitForQuiet(o.quietWait);
          if (busy >= 25) process.stderr.write(`machine still busy (others use ${Math.round(busy)}% of a core); running anyway\n`);
          one = await runOne(o, env, s, b, run, profFile);
          if (one.result.otherCpu <= o.maxOther || discarded >= o.retries) break;
          discarded++;
          process.stderr.write(`run ${run} ${s} ${b}: others used ${fmtPct(one.result.otherCpu)} of a core, redoing\n`);
        }
        runs.push({ ...one, discarded });
        const r = one.result;
        process.stderr.write(
          `run ${run} ${title(o, s)} ${b}: ${fmtInt(r.rate)} deliveries/s (pub ${fmtInt(r.publishRate)}/s), p50 ${fmtMs(r.p50)} ms, p99 ${fmtMs(r.p99)} ms, ` +
            `lost ${r.lost}/${r.expected}, dup ${r.duplicates}, stalls ${r.stalls}, unacked ${r.unacked}, errors ${r.errors}, ` +
            `broker CPU ${fmtPct(r.brokerCpu)}, gen CPU ${fmtPct(r.generatorCpu)} (sys ${fmtPct(r.generatorSysCpu)}), other ${fmtPct(r.otherCpu)}, RSS ${one.rssEndMiB.toFixed(0)}/${one.rssPeakMiB.toFixed(0)} MiB\n`,
        );
      }
    }
  }

  const { md: base, targets } = report(o, runs, machine, command, versions);
  let md = base;
  if (profDir) {
    const files = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'));
    for (const b of o.brokers) {
      for (const s of o.scenarios) {
        const mine = files.filter((f) => f.startsWith(`${s}-${b}-`)).map((f) => join(profDir, f));
        if (mine.length === 0) continue;
        md += `\n### CPU profile: ${b}, ${title(o, s)} (measured windows of ${mine.length} runs)\n\n`;
        md += summarizeProfile(mine, 25, b === 'gatehouse' && o.gatehouseRuntime === 'tsc' ? MQTT_BUILD_DIR : root);
      }
    }
    md += `\nProfiles: ${profDir}\n`;
  }
  process.stdout.write(md);
  const file = join(outDir, `mqtt-${stamp}.md`);
  writeFileSync(file, md);
  writeFileSync(join(outDir, `mqtt-${stamp}.json`), JSON.stringify({ command, machine, versions, options: o, targets, runs }, null, 2));
  process.stderr.write(`written to ${file} (and .json)\n`);
  if (runs.some((x) => (x.scenario === 'qos1' || x.scenario === 'lat1') && (x.result.lost !== 0 || x.result.unacked !== 0))) process.exitCode = 2;
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
