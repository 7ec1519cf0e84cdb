/**
 * STOMP throughput and latency: Gatehouse against RabbitMQ's STOMP plugin (Debian's
 * rabbitmq-server), same run, same load generator.
 *
 *   npx tsx bench/stomp-bench.ts [--runs 3] [--duration 5] [--warmup 2]
 *        [--scenarios topic,topic-lat,queue,queue-lat] [--brokers gatehouse,rabbitmq]
 *        [--producers 4] [--consumers 4] [--body 64] [--window 512] [--rate 5000]
 *        [--queue-window 64] [--backlog 1000] [--prefetch 100] [--queue-rate 5000]
 *        [--sync full|normal] [--no-pin] [--profile] [--cpu-prof]
 *        [--gatehouse-runtime tsc|tsx] [--no-install] [--rabbit-start-timeout 90]
 *        [--quiet-wait 20] [--max-other 30] [--retries 3] [--no-results] [--no-profile-pass]
 *
 * Scenarios (STOMP 1.2, 64-byte bodies, 4 producers, 4 consumers):
 *   topic      topic publish -> subscribe throughput, closed loop: producer i SENDs to
 *              /topic/bench.p<i>, which consumer i subscribes to (ack auto); each producer
 *              keeps --window messages sent but not yet received
 *   topic-lat  the same flows, open loop at --rate msg/s in total: latency
 *   queue      durable work queue: producers SEND to /queue/bench (persistent:true) with a
 *              receipt each, at most --queue-window without their RECEIPT (and at most
 *              --backlog sent but not yet received); consumers SUBSCRIBE with ack
 *              client-individual and prefetch-count --prefetch and ACK every MESSAGE;
 *              throughput, end-to-end latency (queueing under saturation), zero loss
 *   queue-lat  the same queue, open loop at --queue-rate msg/s in total: latency
 * See bench/lib/stomp-scenarios.ts for the exact rules of each loop.
 *
 * Brokers run in child processes, a fresh one for every run of every scenario:
 * Gatehouse (compiled by tsc into bench/out/build-stomp, as production runs dist/) with
 * its store on a fresh temporary file, SQLite synchronous --sync (full: the daemon's
 * default, a RECEIPT means fsync'd); RabbitMQ as a private node (own node name, ports,
 * epmd, data and config in a temporary directory; /queue/bench is a durable classic
 * queue, persistent messages; a RECEIPT is a publisher confirm). When RabbitMQ is not
 * installed the script tries `apt-get update; apt-get install -y rabbitmq-server`
 * (unless --no-install); when that fails or the node does not start within
 * --rabbit-start-timeout seconds, it says so and reports Gatehouse alone.
 *
 * The broker is pinned to CPU 1 and this process, the load generator (a lean STOMP
 * client on `net`, bench/lib/stomp-lean-client.ts), to CPU 0, so on a 2-core machine
 * each has one core (RabbitMQ's Erlang VM then runs one scheduler). Runs rotate the
 * order of the brokers; tables show medians over runs. The machine may be shared:
 * before each run the driver waits (up to --quiet-wait s) for other processes' CPU use
 * to drop; a run whose measured window saw others use more than --max-other % of a core
 * is redone (up to --retries times).
 *
 * `--profile` samples Gatehouse over the measured window with V8's CPU profiler (the one
 * `node --cpu-prof` uses, driven over the child's stdin, 100 µs interval); `--cpu-prof`
 * starts the child with `node --cpu-prof` itself (whole life of the child: start-up and
 * warm-up included). Either writes .cpuprofile files to bench/out/prof/ and appends the
 * top self-time functions. Profiling slows the broker: take numbers from unprofiled runs.
 * Unless --no-profile-pass (or either of those), one extra profiled run of Gatehouse per
 * throughput scenario follows the measured ones, and the report says where its time went.
 *
 * Output: a markdown report on stdout and in bench/out/stomp-<time>.md, every run's raw
 * numbers in bench/out/stomp-<time>.json, and (unless --no-results, or profiled) the
 * section "STOMP" of bench/RESULTS.md, replaced if this script wrote one before and
 * appended otherwise; the other sections are left as they are. Exit code 2 when a
 * queue run lost messages.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { selfTimeTable } from './lib/cpuprofile-sources';
import { summarizeProfile } from './lib/cpuprofile-top';
import { hasTaskset, machineBusySeconds, pinSelf } from './lib/router-process';
import { fmtInt, fmtPct, fmtRatio, fmtUs, median, waitForQuiet } from './lib/stats';
import {
  buildGatehouseForStomp,
  findRabbitmq,
  installRabbitmq,
  StompBrokerProcess,
  STOMP_BROKERS,
  STOMP_BUILD_DIR,
  type GatehouseRuntime,
  type GatehouseStats,
  type RabbitInstall,
  type StompBrokerName,
} from './lib/stomp-broker-process';
import { runLoad, type LoadConfig, type LoadResult } from './lib/stomp-scenarios';

type ScenarioName = 'topic' | 'topic-lat' | 'queue' | 'queue-lat';
const SCENARIOS: readonly ScenarioName[] = ['topic', 'topic-lat', 'queue', 'queue-lat'];
const isQueue = (s: ScenarioName): boolean => s === 'queue' || s === 'queue-lat';

interface Options {
  duration: number;
  warmup: number;
  runs: number;
  scenarios: ScenarioName[];
  brokers: StompBrokerName[];
  producers: number;
  consumers: number;
  body: number;
  window: number;
  rate: number;
  queueWindow: number;
  backlog: number;
  prefetch: number;
  queueRate: number;
  sync: 'full' | 'normal';
  pin: boolean;
  profile: boolean;
  cpuProf: boolean;
  gatehouseRuntime: GatehouseRuntime;
  install: boolean;
  rabbitStartTimeout: number;
  quietWait: number;
  maxOther: number;
  retries: number;
  results: boolean;
  profilePass: boolean;
}

const fmtMs = (n: number): string => (Number.isNaN(n) ? '-' : n < 10 ? n.toFixed(3) : n.toFixed(1));

function title(o: Options, s: ScenarioName): string {
  switch (s) {
    case 'topic':
      return `Topic closed loop (window ${o.window})`;
    case 'topic-lat':
      return `Topic open loop ${fmtInt(o.rate)} msg/s`;
    case 'queue':
      return `Queue closed loop (receipt window ${o.queueWindow}, prefetch ${o.prefetch})`;
    case 'queue-lat':
      return `Queue open loop ${fmtInt(o.queueRate)} msg/s (prefetch ${o.prefetch})`;
  }
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    duration: 5,
    warmup: 2,
    runs: 3,
    scenarios: [...SCENARIOS],
    brokers: [...STOMP_BROKERS],
    producers: 4,
    consumers: 4,
    body: 64,
    window: 512,
    rate: 5000,
    queueWindow: 64,
    backlog: 1000,
    prefetch: 100,
    queueRate: 5000,
    sync: 'full',
    pin: true,
    profile: false,
    cpuProf: false,
    gatehouseRuntime: 'tsc',
    install: true,
    rabbitStartTimeout: 90,
    quietWait: 20,
    maxOther: 30,
    retries: 3,
    results: true,
    profilePass: true,
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
      case '--duration':
        o.duration = num();
        break;
      case '--warmup':
        o.warmup = Number(value());
        break;
      case '--runs':
        o.runs = num();
        break;
      case '--scenarios':
        o.scenarios = value().split(',') as ScenarioName[];
        break;
      case '--brokers':
        o.brokers = value().split(',') as StompBrokerName[];
        break;
      case '--producers':
        o.producers = num();
        break;
      case '--consumers':
        o.consumers = num();
        break;
      case '--body':
        o.body = num();
        break;
      case '--window':
        o.window = num();
        break;
      case '--rate':
        o.rate = num();
        break;
      case '--queue-window':
        o.queueWindow = num();
        break;
      case '--backlog':
        o.backlog = num();
        break;
      case '--prefetch':
        o.prefetch = Number(value());
        break;
      case '--queue-rate':
        o.queueRate = num();
        break;
      case '--sync':
        o.sync = value() as 'full' | 'normal';
        break;
      case '--no-pin':
        o.pin = false;
        break;
      case '--profile':
        o.profile = true;
        break;
      case '--cpu-prof':
        o.cpuProf = true;
        break;
      case '--gatehouse-runtime':
        o.gatehouseRuntime = value() as GatehouseRuntime;
        break;
      case '--no-install':
        o.install = false;
        break;
      case '--rabbit-start-timeout':
        o.rabbitStartTimeout = num();
        break;
      case '--quiet-wait':
        o.quietWait = Number(value());
        break;
      case '--max-other':
        o.maxOther = Number(value());
        break;
      case '--retries':
        o.retries = Number(value());
        break;
      case '--no-results':
        o.results = false;
        break;
      case '--no-profile-pass':
        o.profilePass = false;
        break;
      default:
        throw new Error(`unknown option ${String(flag)}`);
    }
  }
  for (const s of o.scenarios) if (!SCENARIOS.includes(s)) throw new Error(`unknown scenario ${s} (${SCENARIOS.join(', ')})`);
  for (const b of o.brokers) if (!STOMP_BROKERS.includes(b)) throw new Error(`unknown broker ${b} (${STOMP_BROKERS.join(', ')})`);
  if (o.sync !== 'full' && o.sync !== 'normal') throw new Error('--sync is full or normal');
  if (o.gatehouseRuntime !== 'tsc' && o.gatehouseRuntime !== 'tsx') throw new Error('--gatehouse-runtime is tsc or tsx');
  if (o.body < 16) throw new Error('--body must be at least 16 (the header the generator needs)');
  if (o.scenarios.some((s) => !isQueue(s)) && o.producers !== o.consumers)
    throw new Error('topic scenarios need --producers equal to --consumers');
  if (!Number.isInteger(o.prefetch) || o.prefetch < 0) throw new Error('--prefetch is a non-negative integer (0: unlimited)');
  if (o.profile && o.cpuProf) throw new Error('--profile or --cpu-prof, not both');
  return o;
}

interface Run {
  scenario: ScenarioName;
  broker: StompBrokerName;
  run: number;
  result: LoadResult;
  rssEndMiB: number;
  rssPeakMiB: number;
  startupMs: number;
  diskMiB: number;
  /** Gatehouse only: store commits and event-loop delay in the measured window */
  stats: GatehouseStats | undefined;
  /** runs of this slot thrown away because others loaded the machine */
  discarded: number;
}

interface Env {
  gatehouseEntry: string | undefined;
  rabbitmq: RabbitInstall | undefined;
}

function loadConfig(o: Options, s: ScenarioName, port: number): LoadConfig {
  const queue = isQueue(s);
  return {
    connect: { port, login: 'guest', passcode: 'guest', host: '/' },
    kind: queue ? 'queue' : 'topic',
    producers: o.producers,
    consumers: o.consumers,
    bodyBytes: o.body,
    prefetch: o.prefetch,
    mode:
      s === 'topic'
        ? { kind: 'closed', window: o.window, backlog: Infinity }
        : s === 'queue'
          ? { kind: 'closed', window: o.queueWindow, backlog: o.backlog }
          : { kind: 'open', rate: s === 'topic-lat' ? o.rate : o.queueRate },
    stallMs: 500,
  };
}

type ProfileMode = 'none' | 'window' | 'cpu-prof';

async function runOne(
  o: Options,
  env: Env,
  s: ScenarioName,
  b: StompBrokerName,
  run: number,
  profile: ProfileMode,
  profDir: string | undefined,
): Promise<Omit<Run, 'discarded'>> {
  const profFile =
    profDir && profile === 'window' && b === 'gatehouse' ? join(profDir, `${s}-${b}-${run}.cpuprofile`) : undefined;
  const nodeArgs =
    profDir && profile === 'cpu-prof'
      ? [
          '--cpu-prof',
          '--cpu-prof-interval',
          '100',
          '--cpu-prof-dir',
          profDir,
          '--cpu-prof-name',
          `${s}-gatehouse-${run}.cpuprofile`,
        ]
      : [];
  const proc = await StompBrokerProcess.start(b, {
    cpu: o.pin ? 1 : undefined,
    gatehouseRuntime: o.gatehouseRuntime,
    gatehouseEntry: env.gatehouseEntry,
    sync: o.sync,
    nodeArgs,
    rabbitmq: env.rabbitmq,
    rabbitStartTimeoutMs: o.rabbitStartTimeout * 1000,
  });
  let stats: GatehouseStats | undefined;
  const measureWindow = async (open: boolean): Promise<void> => {
    if (b !== 'gatehouse') return;
    if (open) {
      await proc.startStats();
      if (profFile) await proc.startProfile();
    } else {
      if (profFile) await proc.stopProfile(profFile);
      stats = await proc.stopStats();
    }
  };
  try {
    const result = await runLoad(
      loadConfig(o, s, proc.port),
      { warmupMs: o.warmup * 1000, durationMs: o.duration * 1000, drainIdleMs: 3000 },
      {
        brokerCpuSeconds: () => proc.cpuSeconds(),
        machineCpuSeconds: machineBusySeconds,
        brokerRssMiB: () => proc.rssMiB(),
        measureWindow,
      },
    );
    if (!proc.alive) throw new Error(`${b} died during the run: ${proc.stderr}`);
    const diskMiB = proc.diskBytes() / 2 ** 20;
    // let the broker see the disconnects before reading its memory
    await new Promise((r) => setTimeout(r, 200));
    return {
      scenario: s,
      broker: b,
      run,
      result,
      rssEndMiB: proc.rssMiB(),
      rssPeakMiB: proc.peakRssMiB(),
      startupMs: proc.startupMs,
      diskMiB,
      stats,
    };
  } finally {
    await proc.stop();
  }
}

interface Summary {
  rate: number;
  p50: number;
  p99: number;
  sent: number;
  lost: number;
  duplicates: number;
  redelivered: number;
  outOfOrder: number;
  stalls: number;
  unreceipted: number;
  errors: number;
  firstError: string | undefined;
  brokerCpu: number;
  brokerUs: number;
  generatorCpu: number;
  otherCpu: number;
  rssEnd: number;
  rssPeak: number;
  startupS: number;
  runs: number;
}

/** Broker CPU time per message received in the measured window, µs. */
function usPerMessage(r: LoadResult): number {
  return r.rate > 0 ? (r.brokerCpu * 1e4) / r.rate : NaN;
}

function summarize(runs: Run[]): Summary {
  const r = runs.map((x) => x.result);
  const sum = (f: (x: LoadResult) => number): number => r.reduce((a, x) => a + f(x), 0);
  return {
    rate: median(r.map((x) => x.rate)),
    p50: median(r.map((x) => x.p50)),
    p99: median(r.map((x) => x.p99)),
    sent: sum((x) => x.sent),
    lost: sum((x) => x.lost),
    duplicates: sum((x) => x.duplicates),
    redelivered: sum((x) => x.redelivered),
    outOfOrder: sum((x) => x.outOfOrder),
    stalls: sum((x) => x.stalls),
    unreceipted: sum((x) => x.unreceipted),
    errors: sum((x) => x.errors),
    firstError: r.map((x) => x.firstError).find((e) => e !== undefined),
    brokerCpu: median(r.map((x) => x.brokerCpu)),
    brokerUs: median(r.map((x) => usPerMessage(x))),
    generatorCpu: median(r.map((x) => x.generatorCpu)),
    otherCpu: median(r.map((x) => x.otherCpu)),
    rssEnd: median(runs.map((x) => x.rssEndMiB)),
    rssPeak: median(runs.map((x) => Math.max(x.rssPeakMiB, x.result.sampledPeakRssMiB))),
    startupS: median(runs.map((x) => x.startupMs / 1000)),
    runs: runs.length,
  };
}

function lossCell(s: Summary): string {
  const parts: string[] = [];
  parts.push(s.lost === 0 ? '0' : `**${fmtInt(s.lost)}** of ${fmtInt(s.sent)}`);
  if (s.duplicates) parts.push(`${fmtInt(s.duplicates)} dup`);
  if (s.outOfOrder) parts.push(`${fmtInt(s.outOfOrder)} reordered`);
  if (s.stalls) parts.push(`${s.stalls} stalls`);
  if (s.unreceipted) parts.push(`${fmtInt(s.unreceipted)} without receipt`);
  if (s.errors) parts.push(`${s.errors} errors`);
  return parts.join(', ');
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

/** What the numbers say, in sentences: ratios, what bounded each side, caveats the data raises. */
function interpret(o: Options, sums: Map<string, Summary>, rabbitNote: string | undefined): string[] {
  const out: string[] = [];
  const g = (s: ScenarioName): Summary | undefined => sums.get(`${s}/gatehouse`);
  const r = (s: ScenarioName): Summary | undefined => sums.get(`${s}/rabbitmq`);
  if (rabbitNote) out.push(`RabbitMQ is not in this comparison: ${rabbitNote}. The figures below are Gatehouse's alone.`);
  for (const s of o.scenarios) {
    const gs = g(s);
    const rs = r(s);
    const name = title(o, s);
    if (gs && rs) {
      if (s === 'topic' || s === 'queue') {
        out.push(
          `${name}: Gatehouse ${fmtInt(gs.rate)} msg/s vs RabbitMQ ${fmtInt(rs.rate)} msg/s (${fmtRatio(gs.rate / rs.rate)}); ` +
            `broker CPU per message ${fmtUs(gs.brokerUs)} µs vs ${fmtUs(rs.brokerUs)} µs (${fmtRatio(gs.brokerUs / rs.brokerUs)}); ` +
            `broker core use ${fmtPct(gs.brokerCpu)} vs ${fmtPct(rs.brokerCpu)}.`,
        );
      } else {
        out.push(
          `${name}: p50 ${fmtMs(gs.p50)} ms vs ${fmtMs(rs.p50)} ms, p99 ${fmtMs(gs.p99)} ms vs ${fmtMs(rs.p99)} ms (Gatehouse vs RabbitMQ); ` +
            `broker CPU per message ${fmtUs(gs.brokerUs)} µs vs ${fmtUs(rs.brokerUs)} µs.`,
        );
      }
    } else if (gs) {
      out.push(
        s === 'topic' || s === 'queue'
          ? `${name}: Gatehouse ${fmtInt(gs.rate)} msg/s at ${fmtPct(gs.brokerCpu)} of its core, ${fmtUs(gs.brokerUs)} µs broker CPU per message.`
          : `${name}: Gatehouse p50 ${fmtMs(gs.p50)} ms, p99 ${fmtMs(gs.p99)} ms.`,
      );
    }
    for (const [b, x] of [
      ['Gatehouse', gs],
      ['RabbitMQ', rs],
    ] as const) {
      if (!x) continue;
      if ((s === 'topic' || s === 'queue') && x.generatorCpu >= 90)
        out.push(
          `Caveat (${name}, ${b}): the load generator used ${fmtPct(x.generatorCpu)} of its core, so it may have been the limit; the broker's rate is a lower bound.`,
        );
      if ((s === 'topic' || s === 'queue') && x.brokerCpu < 70 && x.generatorCpu < 90)
        out.push(
          `${name}, ${b}: neither the broker (${fmtPct(x.brokerCpu)} of its core) nor the generator (${fmtPct(x.generatorCpu)}) was CPU-bound: ` +
            (isQueue(s)
              ? 'the rate is set by waiting, on the disk (durable commits) or on the windows.'
              : 'the rate is set by the windows and round trips.'),
        );
      if ((s === 'topic-lat' || s === 'queue-lat') && x.brokerCpu >= 80)
        out.push(
          `${name}, ${b}: the broker's core was ${fmtPct(x.brokerCpu)} busy at this rate, close to its capacity, so its latency includes queueing; ` +
            'at a lower rate it would be lower.',
        );
      if (x.lost > 0 || x.unreceipted > 0 || x.errors > 0)
        out.push(`**${name}, ${b}: ${lossCell(x)}${x.firstError ? ` (first ERROR: ${x.firstError})` : ''}.**`);
    }
  }
  for (const s of ['queue', 'queue-lat'] as const) {
    for (const [b, x] of [
      ['Gatehouse', g(s)],
      ['RabbitMQ', r(s)],
    ] as const) {
      if (x && x.lost === 0 && x.unreceipted === 0)
        out.push(
          `${title(o, s)}, ${b}: zero loss (${fmtInt(x.sent)} messages over ${x.runs} runs, every one received and receipted).`,
        );
    }
  }
  return out;
}

function report(
  o: Options,
  runs: Run[],
  machine: string,
  command: string,
  versions: string,
  rabbitNote: string | undefined,
): { md: string; section: string } {
  const L: string[] = [];
  const S: string[] = [];
  const both = (...lines: string[]): void => {
    L.push(...lines);
    S.push(...lines);
  };
  L.push(`## STOMP benchmark, ${new Date().toISOString()}`, '');
  S.push(
    '## STOMP',
    '',
    `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC by \`bench/stomp-bench.ts\` (this section is rewritten by each full run of it).`,
    '',
  );
  both(`Command: \`${command}\``, '');
  both(`Machine: ${machine}`, '');
  both(`Brokers: ${versions}`, '');
  if (rabbitNote) both(`**RabbitMQ absent from this comparison: ${rabbitNote}.**`, '');
  both(`Gatehouse sources: sha256 ${sourceFingerprint(join(__dirname, '..'))} over index.ts, lib/, gates/, schemas/`, '');
  if (o.profile || o.cpuProf)
    both('**Profiled runs: the V8 sampling profiler was running in Gatehouse, so its numbers are lower than unprofiled.**', '');
  both(
    `Load: STOMP 1.2, ${o.producers} producers and ${o.consumers} consumers on their own connections, ${o.body}-byte bodies; ` +
      `topic: producer i -> /topic/bench.p<i> -> consumer i (ack auto), closed loop ${o.window} in flight per producer, open loop ${fmtInt(o.rate)} msg/s in total; ` +
      `queue: all producers -> /queue/bench (persistent:true, receipt on every SEND, at most ${o.queueWindow} unreceipted and ${fmtInt(o.backlog)} unreceived per producer) -> ` +
      `consumers with ack client-individual, prefetch-count ${o.prefetch}, an ACK per message; open loop ${fmtInt(o.queueRate)} msg/s in total; ` +
      `Gatehouse store: SQLite file in ${tmpdir()} (ext4 on the same disk), synchronous ${o.sync}; RabbitMQ: durable classic queue, data in ${tmpdir()}; ` +
      `${o.warmup} s warm-up + ${o.duration} s measured; ${o.runs} runs, fresh broker per run; ` +
      (o.pin ? 'broker pinned to CPU 1, generator to CPU 0.' : 'no CPU pinning.'),
    '',
  );
  both(`### Medians of ${o.runs} runs`, '');
  both(
    '| Scenario | Broker | Msgs/s | p50 ms | p99 ms | Loss etc. (all runs) | Broker CPU | Broker µs/msg | Generator CPU | Other CPU | RSS end MiB | RSS peak MiB |',
  );
  both('| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  const sums = new Map<string, Summary>();
  for (const s of o.scenarios) {
    for (const b of o.brokers) {
      const mine = runs.filter((x) => x.scenario === s && x.broker === b);
      if (mine.length === 0) continue;
      const sum = summarize(mine);
      sums.set(`${s}/${b}`, sum);
      both(
        `| ${title(o, s)} | ${b} | ${fmtInt(sum.rate)} | ${fmtMs(sum.p50)} | ${fmtMs(sum.p99)} | ${lossCell(sum)} | ` +
          `${fmtPct(sum.brokerCpu)} | ${fmtUs(sum.brokerUs)} | ${fmtPct(sum.generatorCpu)} | ${fmtPct(sum.otherCpu)} | ${sum.rssEnd.toFixed(0)} | ${sum.rssPeak.toFixed(0)} |`,
      );
    }
  }
  both(
    '',
    'Msgs/s: unique messages received by all consumers together per second of the measured window. ' +
      'Latency: SEND (stamp written into the body when the generator queues the frame) to MESSAGE read by the consumer, in the generator process; ' +
      'closed-loop latencies are queueing under saturation (they follow from the windows), open-loop ones are the latency figures. ' +
      'Loss: messages sent over the whole run minus unique ones received after a drain (3 s without progress). ' +
      'Stalls: topic windows written off after 500 ms without progress. Without receipt: queue SENDs never confirmed. ' +
      `CPU: % of one core in the measured window (RabbitMQ: all its processes); broker µs/msg is broker CPU time per message received, its cost per message, less sensitive to a shared machine than rates; Other CPU is what processes outside the benchmark used meanwhile (redone above ${o.maxOther}%). ` +
      "RSS end: after the clients disconnected; RSS peak: the kernel's high-water mark (VmHWM) of the broker's processes, fresh for each run.",
    '',
  );
  const gRuns = runs.filter((x) => x.broker === 'gatehouse' && x.stats);
  if (gRuns.length > 0) {
    both('### Gatehouse inside (medians)', '');
    both('| Scenario | Store commits/s | Msgs per commit | Event-loop delay p50 ms | p99 ms | max ms |');
    both('| --- | ---: | ---: | ---: | ---: | ---: |');
    for (const s of o.scenarios) {
      const mine = gRuns.filter((x) => x.scenario === s);
      if (mine.length === 0) continue;
      const st = (f: (x: GatehouseStats, r: LoadResult) => number): number => median(mine.map((x) => f(x.stats!, x.result)));
      const cps = st((x) => x.commits / x.seconds);
      both(
        `| ${title(o, s)} | ${fmtInt(cps)} | ${cps > 0 ? st((x, r) => r.rate / (x.commits / x.seconds)).toFixed(1) : '-'} | ` +
          `${fmtMs(st((x) => x.loopDelayP50Ms))} | ${fmtMs(st((x) => x.loopDelayP99Ms))} | ${fmtMs(st((x) => x.loopDelayMaxMs))} |`,
      );
    }
    both(
      '',
      'Store commits: SQLite transactions of the group commit in the measured window (with synchronous full, one fsync each; they run on the event loop). ' +
        'Event-loop delay: how late a 10 ms timer fired (perf_hooks.monitorEventLoopDelay), i.e. how long the loop was held by synchronous work.',
      '',
    );
  }
  const notes = interpret(o, sums, rabbitNote);
  if (notes.length > 0) both('### What the numbers say', '', ...notes.map((n) => `- ${n}`), '');
  both(
    'Semantics compared: a Gatehouse queue RECEIPT follows the SQLite commit of the message (group commit: one transaction, one fsync per event-loop turn); ' +
      'a RabbitMQ RECEIPT is its publisher confirm, sent once a persistent message is written to disk or already delivered and acknowledged ' +
      '(RabbitMQ batches its fsyncs and may skip writing messages consumed before the write). ' +
      'Both brokers may deliver a queue message before its RECEIPT. Topic messages are not persisted by either.',
    '',
  );
  if (o.pin && sums.has(`${o.scenarios[0]!}/rabbitmq`)) {
    both(
      'What one core means: each broker had one core, the fair split of a 2-core machine whose other core drives the load. ' +
        'That is all a Gatehouse process can use anyway (one event loop; its store commits run on it too), ' +
        "whereas RabbitMQ's Erlang VM runs a scheduler per core and spreads connections, channels and queues over them: " +
        'on a bigger machine its throughput grows with cores and Gatehouse per process does not, so the throughput ratios here hold per core, not per machine. ' +
        "Broker µs/msg is the per-core cost either way. RabbitMQ ran with Debian's defaults (classic queues, its 3.10 message store), untuned.",
      '',
    );
  }
  L.push('### Every run', '');
  L.push(
    '| Scenario | Broker | Run | Msgs/s | Sends/s | p50 ms | p99 ms | p99.9 ms | max ms | Sent | Received | Lost | Dup | Redelivered | Unreceipted | Errors | Broker CPU | µs/msg | Gen CPU | Other CPU | RSS end | RSS peak | Disk MiB | Start s | Commits/s | Loop max ms | Redone |',
  );
  L.push(`|${' --- |'.repeat(2)}${' ---: |'.repeat(25)}`);
  for (const x of runs) {
    const r = x.result;
    L.push(
      `| ${title(o, x.scenario)} | ${x.broker} | ${x.run} | ${fmtInt(r.rate)} | ${fmtInt(r.sendRate)} | ${fmtMs(r.p50)} | ${fmtMs(r.p99)} | ${fmtMs(r.p999)} | ${fmtMs(r.max)} | ` +
        `${fmtInt(r.sent)} | ${fmtInt(r.received)} | ${fmtInt(r.lost)} | ${fmtInt(r.duplicates)} | ${fmtInt(r.redelivered)} | ${fmtInt(r.unreceipted)} | ${r.errors} | ` +
        `${fmtPct(r.brokerCpu)} | ${fmtUs(usPerMessage(r))} | ${fmtPct(r.generatorCpu)} | ${fmtPct(r.otherCpu)} | ${x.rssEndMiB.toFixed(0)} | ${Math.max(x.rssPeakMiB, r.sampledPeakRssMiB).toFixed(0)} | ${x.diskMiB.toFixed(1)} | ${(x.startupMs / 1000).toFixed(1)} | ` +
        `${x.stats ? fmtInt(x.stats.commits / x.stats.seconds) : '-'} | ${x.stats ? fmtMs(x.stats.loopDelayMaxMs) : '-'} | ${x.discarded} |`,
    );
  }
  L.push('');
  S.push(`Every run's numbers: bench/out/stomp-<time>.md and .json.`, '');
  return { md: L.join('\n'), section: S.join('\n') };
}

/**
 * Writes `section` (starting with "## STOMP") into bench/RESULTS.md: in place of the
 * STOMP section this script wrote before, else appended. The file is read right before
 * writing and everything else in it is kept as it is.
 */
function writeResultsSection(file: string, section: string): void {
  const before = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const body = section.trimEnd() + '\n';
  let after: string;
  const lines = before.split('\n');
  const start = lines.findIndex((l) => l.trim() === '## STOMP');
  if (start >= 0) {
    let end = lines.findIndex((l, i) => i > start && /^## /.test(l));
    if (end < 0) end = lines.length;
    const head = lines.slice(0, start).join('\n');
    const tail = lines.slice(end).join('\n');
    after = (head ? head.replace(/\n*$/, '\n\n') : '') + body + (tail ? '\n' + tail : '');
  } else if (before.trim() === '') {
    after = '# Benchmark results\n\n' + body;
  } else {
    after = before.replace(/\n*$/, '\n\n') + body;
  }
  const tmp = `${file}.stomp-${process.pid}.tmp`;
  writeFileSync(tmp, after);
  renameSync(tmp, file);
}

/** RabbitMQ to compare with: found, or installed now, or why not. */
function prepareRabbit(o: Options): { install: RabbitInstall | undefined; note: string | undefined } {
  let found = findRabbitmq();
  if (typeof found === 'string' && o.install) {
    process.stderr.write(`RabbitMQ: ${found}; trying apt-get update; apt-get install -y rabbitmq-server ...\n`);
    const why = installRabbitmq(10 * 60_000);
    if (why) return { install: undefined, note: `it could not be installed (${why})` };
    found = findRabbitmq();
  }
  if (typeof found === 'string') return { install: undefined, note: `${found}${o.install ? '' : ' (--no-install)'}` };
  return { install: found, note: undefined };
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const root = join(__dirname, '..');
  const outDir = join(root, 'bench', 'out');
  mkdirSync(outDir, { recursive: true });
  const command = `npx tsx bench/stomp-bench.ts ${process.argv.slice(2).join(' ')}`.trim();

  let rabbit: { install: RabbitInstall | undefined; note: string | undefined } = { install: undefined, note: undefined };
  if (o.brokers.includes('rabbitmq')) {
    rabbit = prepareRabbit(o);
    if (rabbit.install) {
      // one trial start: a node that does not come up is reported, not fatal
      try {
        const p = await StompBrokerProcess.start('rabbitmq', {
          cpu: undefined,
          gatehouseRuntime: o.gatehouseRuntime,
          gatehouseEntry: undefined,
          sync: o.sync,
          nodeArgs: [],
          rabbitmq: rabbit.install,
          rabbitStartTimeoutMs: o.rabbitStartTimeout * 1000,
        });
        process.stderr.write(
          `RabbitMQ ${rabbit.install.version}: a private node took a STOMP CONNECT after ${(p.startupMs / 1000).toFixed(1)} s\n`,
        );
        await p.stop();
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        rabbit = { install: undefined, note: `it is installed but the node did not start: ${msg.split('\n')[0]!.slice(0, 300)}` };
      }
    }
    if (rabbit.note) {
      process.stderr.write(`\n*** RabbitMQ comparison unavailable: ${rabbit.note}. Reporting Gatehouse alone. ***\n\n`);
      o.brokers = o.brokers.filter((b) => b !== 'rabbitmq');
    }
  }
  if (o.brokers.length === 0) throw new Error('no broker to measure');

  const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-');
  const profDir = o.profile || o.cpuProf ? join(outDir, 'prof', `stomp-${stamp}`) : undefined;
  if (profDir) mkdirSync(profDir, { recursive: true });
  let gatehouseEntry: string | undefined;
  if (o.brokers.includes('gatehouse') && o.gatehouseRuntime === 'tsc') {
    process.stderr.write('compiling Gatehouse with tsc into bench/out/build-stomp ...\n');
    gatehouseEntry = buildGatehouseForStomp();
  }

  // before pinning: availableParallelism() follows this process's CPU affinity
  const machine = `nproc ${availableParallelism()} (${cpus()[0]?.model.trim() ?? '?'}), Node ${process.version}, Linux ${release()} ${process.arch}`;
  const versions = [
    o.brokers.includes('gatehouse')
      ? `Gatehouse (working tree, ${o.gatehouseRuntime === 'tsc' ? 'compiled by tsc' : 'through tsx'}, store synchronous ${o.sync})`
      : '',
    rabbit.install
      ? `RabbitMQ ${rabbit.install.version} with rabbitmq_stomp (Debian package, Erlang ${rabbit.install.erlang}, default settings)`
      : '',
  ]
    .filter(Boolean)
    .join('; ');
  if (o.pin && (availableParallelism() < 2 || !hasTaskset() || !pinSelf(0))) {
    process.stderr.write('CPU pinning unavailable (needs taskset and 2 CPUs); running unpinned\n');
    o.pin = false;
  }
  const env: Env = { gatehouseEntry, rabbitmq: rabbit.install };

  const runs: Run[] = [];
  for (let run = 1; run <= o.runs; run++) {
    for (const s of o.scenarios) {
      // rotate which broker goes first, so none always gets the warmer (or cooler) machine
      const k = (run - 1) % o.brokers.length;
      const order = [...o.brokers.slice(k), ...o.brokers.slice(0, k)];
      for (const b of order) {
        let discarded = 0;
        let one: Omit<Run, 'discarded'>;
        for (;;) {
          const busy = await waitForQuiet(o.quietWait);
          if (busy >= 25)
            process.stderr.write(`machine still busy (others use ${Math.round(busy)}% of a core); running anyway\n`);
          one = await runOne(o, env, s, b, run, o.profile ? 'window' : o.cpuProf ? 'cpu-prof' : 'none', profDir);
          if (one.result.otherCpu <= o.maxOther || discarded >= o.retries) break;
          discarded++;
          process.stderr.write(`run ${run} ${s} ${b}: others used ${fmtPct(one.result.otherCpu)} of a core, redoing\n`);
        }
        runs.push({ ...one, discarded });
        const r = one.result;
        process.stderr.write(
          `run ${run} ${title(o, s)} ${b}: ${fmtInt(r.rate)} msg/s (sent ${fmtInt(r.sendRate)}/s), p50 ${fmtMs(r.p50)} ms, p99 ${fmtMs(r.p99)} ms, ` +
            `lost ${r.lost}/${r.sent}, dup ${r.duplicates}, stalls ${r.stalls}, unreceipted ${r.unreceipted}, errors ${r.errors}${r.firstError ? ` (${r.firstError})` : ''}, ` +
            `broker CPU ${fmtPct(r.brokerCpu)}, gen CPU ${fmtPct(r.generatorCpu)} (sys ${fmtPct(r.generatorSysCpu)}), other ${fmtPct(r.otherCpu)}, ` +
            `RSS ${one.rssEndMiB.toFixed(0)}/${one.rssPeakMiB.toFixed(0)} MiB, started in ${(one.startupMs / 1000).toFixed(1)} s\n`,
        );
      }
    }
  }

  // one profiled run of Gatehouse per throughput scenario, after the measured ones: where its time goes
  let passDir: string | undefined;
  if (o.profilePass && !profDir && o.brokers.includes('gatehouse')) {
    passDir = join(outDir, 'prof', `stomp-${stamp}-pass`);
    mkdirSync(passDir, { recursive: true });
    for (const s of o.scenarios.filter((x) => x === 'topic' || x === 'queue')) {
      process.stderr.write(`profile pass: ${title(o, s)}, gatehouse\n`);
      await waitForQuiet(o.quietWait);
      const one = await runOne(o, env, s, 'gatehouse', 0, 'window', passDir);
      process.stderr.write(`  (profiled: ${fmtInt(one.result.rate)} msg/s)\n`);
    }
  }

  const srcRoot = o.gatehouseRuntime === 'tsc' ? STOMP_BUILD_DIR : root;
  const profiles = (dir: string, s: ScenarioName): string[] =>
    readdirSync(dir)
      .filter((f) => f.endsWith('.cpuprofile') && f.startsWith(`${s}-gatehouse-`))
      .map((f) => join(dir, f));
  const { md: base, section: baseSection } = report(o, runs, machine, command, versions, rabbit.note);
  let md = base;
  let section = baseSection;
  for (const dir of [profDir, passDir]) {
    if (!dir) continue;
    for (const s of o.scenarios) {
      const mine = profiles(dir, s);
      if (mine.length === 0) continue;
      const what =
        dir === passDir
          ? 'one profiled run after the measured ones'
          : o.cpuProf
            ? `whole child life, ${mine.length} runs`
            : `measured windows of ${mine.length} runs`;
      md += `\n### CPU profile: gatehouse, ${title(o, s)} (${what})\n\n`;
      md += summarizeProfile(mine, 25, srcRoot);
      // self time again, placed in the TypeScript sources through the build's source maps
      const bySource = selfTimeTable(mine, 25, STOMP_BUILD_DIR, root);
      md += `\nBy TypeScript source:\n\n${bySource}`;
      if (dir === passDir) {
        section +=
          `\n### Where Gatehouse spends its time: ${title(o, s)}\n\n` +
          'V8 CPU profile (100 µs sampling) of one extra run, over its measured window: top self time, each function placed in its TypeScript source ' +
          '(native frames as V8 names them: `run` is better-sqlite3 executing a statement, COMMIT and its fsync included; `writev` the socket writes). ' +
          `Profiled runs are slower than the measured ones.\n\n${selfTimeTable(mine, 12, STOMP_BUILD_DIR, root).trimEnd()}\n`;
      }
    }
    md += `\nProfiles: ${dir}\n`;
  }
  process.stdout.write(md);
  const file = join(outDir, `stomp-${stamp}.md`);
  writeFileSync(file, md);
  writeFileSync(
    join(outDir, `stomp-${stamp}.json`),
    JSON.stringify({ command, machine, versions, rabbitNote: rabbit.note, options: o, runs }, null, 2),
  );
  process.stderr.write(`written to ${file} (and .json)\n`);
  if (o.results && !o.profile && !o.cpuProf) {
    const results = join(root, 'bench', 'RESULTS.md');
    writeResultsSection(results, section);
    process.stderr.write(`section "STOMP" written to ${results}\n`);
  }
  if (runs.some((x) => isQueue(x.scenario) && (x.result.lost !== 0 || x.result.unreceipted !== 0))) process.exitCode = 2;
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
