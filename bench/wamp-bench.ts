/**
 * WAMP pub/sub and RPC throughput and latency: Gatehouse against fox-wamp, same run,
 * same load generator.
 *
 *   npx tsx bench/wamp-bench.ts [--duration 5] [--runs 3] [--warmup 2]
 *        [--scenarios fanout1,fanout10,rpc,fanout1@20000,fanout10@4000,rpc@10000]
 *        [--routers gatehouse,fox-wamp]
 *        [--publishers 4] [--window 64] [--callers 4] [--rpc-window 64]
 *        [--payload 64] [--serializer json] [--no-pin] [--profile]
 *        [--gatehouse-runtime tsc|tsx] [--quiet-wait 60] [--max-other 20] [--retries 4]
 *        [--router-node-args "--trace-gc"]   (router output then goes to stderr)
 *   npx tsx bench/wamp-bench.ts --report bench/out/wamp-<date>.json   (re-render)
 *
 * Each router runs in its own child process, pinned to CPU 1 while this process (the
 * load generator) is pinned to CPU 0, so on a 2-core machine each gets one core. Every
 * run starts a fresh router; runs alternate the order of the routers. The table shows
 * medians over runs; every run must have zero loss.
 *
 * Scenarios: `fanout1` (4 publishers -> 1 subscriber), `fanout10` (4 publishers -> 10
 * subscribers on one topic), `rpc` (4 callers -> 1 callee). Plain, they run closed
 * loop with a window of messages in flight per publisher (caller): the router's
 * saturated throughput. With `@<rate>` they run open loop at that many publishes
 * (calls) per second in total: latency at equal load. See bench/lib/wamp-scenarios.ts.
 *
 * The machine may be shared (other people's test runs): before each run the driver
 * waits (up to --quiet-wait seconds) for other processes' CPU use to drop, and every
 * run reports the CPU that others used during its measured window ("Other CPU").
 *
 * fox-wamp 0.7.28 speaks only wamp.2.json, so the comparison is JSON; `--serializer
 * msgpack --routers gatehouse` measures Gatehouse alone with MessagePack.
 *
 * Gatehouse runs compiled by tsc (bench/tsconfig.build.json -> bench/out/build), as
 * production runs dist/: under tsx, esbuild's keepNames wraps every closure created at
 * run time in a defineProperty call, a cost no deployment pays. `--gatehouse-runtime
 * tsx` runs it through tsx instead.
 *
 * `--profile` samples each router over the measured window only (V8 profiler driven
 * over the child's stdin, 100 µs interval), writes the .cpuprofile files to
 * bench/out/prof/ and appends their top self-time functions to the report. Profiling
 * slows the router: use separate runs for numbers and for profiles.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { summarizeProfile } from './lib/cpuprofile-top';
import {
  buildGatehouse,
  hasTaskset,
  machineBusySeconds,
  pinSelf,
  RouterProcess,
  type GatehouseRuntime,
  type RouterName,
} from './lib/router-process';
import { fmtInt, fmtPct, fmtRatio, median, waitForQuiet } from './lib/stats';
import type { SerializerName } from './lib/wamp-client';
import { runPubSub, runRpc, type ScenarioResult, type Timing } from './lib/wamp-scenarios';

type ScenarioKind = 'fanout1' | 'fanout10' | 'rpc';
/** `fanout1`, `fanout10`, `rpc`: closed loop; with `@<rate>`: open loop at that many
 *  publishes (calls) per second, e.g. `fanout10@4000`. */
type ScenarioName = string;

const KIND_TITLE: Record<ScenarioKind, string> = {
  fanout1: 'pub/sub fan-out 1',
  fanout10: 'pub/sub fan-out 10',
  rpc: 'RPC, callers -> 1 callee',
};

function parseScenario(name: ScenarioName): { kind: ScenarioKind; rate: number | undefined } {
  const [kind, rate] = name.split('@');
  if (!kind || !(kind in KIND_TITLE)) throw new Error(`unknown scenario ${name}`);
  const r = rate === undefined ? undefined : Number(rate);
  if (r !== undefined && !(r > 0)) throw new Error(`bad rate in scenario ${name}`);
  return { kind: kind as ScenarioKind, rate: r };
}

function title(name: ScenarioName): string {
  const { kind, rate } = parseScenario(name);
  return rate === undefined
    ? `${KIND_TITLE[kind]}, saturated`
    : `${KIND_TITLE[kind]}, ${fmtInt(rate)} ${kind === 'rpc' ? 'calls' : 'publishes'}/s`;
}

interface Options {
  duration: number;
  warmup: number;
  runs: number;
  scenarios: ScenarioName[];
  routers: RouterName[];
  publishers: number;
  window: number;
  callers: number;
  rpcWindow: number;
  payload: number;
  serializer: SerializerName;
  pin: boolean;
  profile: boolean;
  /** before each run, wait up to this many seconds for other load to go away */
  quietWait: number;
  /** redo a run whose measured window saw others use more than this % of a core */
  maxOther: number;
  retries: number;
  gatehouseRuntime: GatehouseRuntime;
  /** extra node options for the router processes, space-separated */
  routerNodeArgs: string[];
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    duration: 5,
    warmup: 2,
    runs: 3,
    // saturated throughput, then latency at a load both routers sustain (fox-wamp
    // tops out near 70k, 90k deliveries/s and 30k calls/s here)
    scenarios: ['fanout1', 'fanout10', 'rpc', 'fanout1@20000', 'fanout10@4000', 'rpc@10000'],
    routers: ['gatehouse', 'fox-wamp'],
    publishers: 4,
    window: 64,
    callers: 4,
    rpcWindow: 64,
    payload: 64,
    serializer: 'json',
    pin: true,
    profile: false,
    quietWait: 60,
    maxOther: 20,
    retries: 4,
    gatehouseRuntime: 'tsc',
    routerNodeArgs: [],
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
        o.scenarios = value().split(',');
        break;
      case '--routers':
        o.routers = value()
          .split(',')
          .map((r) => (r === 'fox' ? 'fox-wamp' : r)) as RouterName[];
        break;
      case '--publishers':
        o.publishers = num();
        break;
      case '--window':
        o.window = num();
        break;
      case '--callers':
        o.callers = num();
        break;
      case '--rpc-window':
        o.rpcWindow = num();
        break;
      case '--payload':
        o.payload = Number(value());
        break;
      case '--serializer':
        o.serializer = value() as SerializerName;
        break;
      case '--no-pin':
        o.pin = false;
        break;
      case '--profile':
        o.profile = true;
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
      case '--gatehouse-runtime':
        o.gatehouseRuntime = value() as GatehouseRuntime;
        break;
      case '--router-node-args':
        o.routerNodeArgs = value().split(' ').filter(Boolean);
        break;
      default:
        throw new Error(`unknown option ${String(flag)}`);
    }
  }
  for (const s of o.scenarios) parseScenario(s);
  for (const r of o.routers) if (r !== 'gatehouse' && r !== 'fox-wamp') throw new Error(`unknown router ${String(r)}`);
  if (o.serializer !== 'json' && o.serializer !== 'msgpack') throw new Error(`unknown serializer ${String(o.serializer)}`);
  if (o.gatehouseRuntime !== 'tsc' && o.gatehouseRuntime !== 'tsx') throw new Error('--gatehouse-runtime is tsc or tsx');
  if (o.serializer !== 'json' && o.routers.includes('fox-wamp')) throw new Error('fox-wamp supports wamp.2.json only');
  return o;
}

interface Run {
  scenario: ScenarioName;
  router: RouterName;
  run: number;
  result: ScenarioResult;
  rssMiB: number;
  /** runs of this slot thrown away because others loaded the machine */
  discarded: number;
}

async function runOne(
  o: Options,
  scenario: ScenarioName,
  router: RouterName,
  profFile: string | undefined,
): Promise<{ result: ScenarioResult; rssMiB: number }> {
  const proc = await RouterProcess.start(router, {
    cpu: o.pin ? 1 : undefined,
    gatehouseRuntime: o.gatehouseRuntime,
    nodeArgs: o.routerNodeArgs,
    onOutput: (line) => process.stderr.write(`[${router}] ${line}\n`),
  });
  try {
    const timing: Timing = { warmupMs: o.warmup * 1000, durationMs: o.duration * 1000, drainTimeoutMs: 10_000 };
    const probe = {
      routerCpuSeconds: () => proc.cpuSeconds(),
      machineCpuSeconds: machineBusySeconds,
      measureWindow: profFile
        ? (open: boolean): Promise<void> => (open ? proc.startProfile() : proc.stopProfile(profFile))
        : undefined,
    };
    const { kind, rate } = parseScenario(scenario);
    const result =
      kind === 'rpc'
        ? await runRpc(
            { url: proc.url, serializer: o.serializer, callers: o.callers, window: o.rpcWindow, payloadBytes: o.payload, rate },
            timing,
            probe,
          )
        : await runPubSub(
            {
              url: proc.url,
              serializer: o.serializer,
              publishers: o.publishers,
              subscribers: kind === 'fanout10' ? 10 : 1,
              window: o.window,
              payloadBytes: o.payload,
              rate,
            },
            timing,
            probe,
          );
    return { result, rssMiB: proc.rssMiB() };
  } finally {
    await proc.stop();
  }
}

const fmtMs = (n: number): string => (Number.isNaN(n) ? '-' : n < 10 ? n.toFixed(2) : n.toFixed(1));

interface Summary {
  rate: number;
  p50: number;
  p99: number;
  lost: number;
  outOfOrder: number;
  errors: number;
  routerCpu: number;
  generatorCpu: number;
  otherCpu: number;
  rss: number;
  runs: number;
  /** runs whose measured window the rest of the machine left alone */
  clean: number;
}

/**
 * Medians over the clean runs (others used at most maxOther % of a core meanwhile)
 * when there is any, else over all; loss is summed over every run, clean or not.
 */
function summarize(runs: Run[], maxOther: number): Summary {
  const clean = runs.filter((x) => x.result.otherCpu <= maxOther);
  const used = clean.length > 0 ? clean : runs;
  const r = used.map((x) => x.result);
  const all = runs.map((x) => x.result);
  return {
    rate: median(r.map((x) => x.rate)),
    p50: median(r.map((x) => x.p50)),
    p99: median(r.map((x) => x.p99)),
    lost: all.reduce((a, x) => a + x.lost, 0),
    outOfOrder: all.reduce((a, x) => a + x.outOfOrder, 0),
    errors: all.reduce((a, x) => a + x.errors, 0),
    routerCpu: median(r.map((x) => x.routerCpu)),
    generatorCpu: median(r.map((x) => x.generatorCpu)),
    otherCpu: median(r.map((x) => x.otherCpu)),
    rss: median(used.map((x) => x.rssMiB)),
    runs: runs.length,
    clean: clean.length,
  };
}

/**
 * A fingerprint of the router sources measured (index.ts, lib/, gates/): the tree
 * changes under concurrent work and has no commit to name, so results name this.
 */
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

function foxVersion(): string {
  return (require('fox-wamp/package.json') as { version: string }).version;
}

function unit(s: ScenarioName): string {
  return parseScenario(s).kind === 'rpc' ? 'calls/s' : 'deliveries/s';
}

interface RunRecord {
  options: Options;
  runs: Run[];
  machine: string;
  command: string;
  /** sourceFingerprint() when the build was made, and after the last run */
  sources: { atBuild: string; atEnd: string };
  date: string;
}

function report(rec: RunRecord): string {
  const { options: o, runs, machine, command } = rec;
  const lines: string[] = [];
  lines.push(`## WAMP benchmark, ${rec.date}`, '');
  lines.push(`Command: \`${command}\``, '');
  lines.push(`Machine: ${machine}`, '');
  lines.push(
    `Gatehouse sources: sha256 ${rec.sources.atBuild} over index.ts, lib/, gates/, schemas/ when built` +
      (rec.sources.atEnd === rec.sources.atBuild
        ? ' (unchanged at the end).'
        : `; changed to ${rec.sources.atEnd} by the end (others' edits; the build measured is the first).`),
    '',
  );
  if (o.profile)
    lines.push(
      '**Profiled runs: the V8 sampling profiler was running in the routers, so rates are lower than in unprofiled runs.**',
      '',
    );
  lines.push(
    `Load: serializer ${o.serializer}; pub/sub ${o.publishers} publishers x window ${o.window} messages; ` +
      `RPC ${o.callers} callers x window ${o.rpcWindow} calls -> 1 callee; payload ${o.payload} B of padding; ` +
      `${o.warmup} s warm-up + ${o.duration} s measured per run; ${o.runs} runs, fresh router per run; ` +
      (o.pin ? 'router pinned to CPU 1, generator to CPU 0; ' : 'no CPU pinning; ') +
      `Gatehouse ${o.gatehouseRuntime === 'tsc' ? 'compiled by tsc' : 'run through tsx'}; fox-wamp ${foxVersion()}.`,
    '',
  );
  lines.push('### Medians', '');
  lines.push(
    '| Scenario | Router | Rate | p50 ms | p99 ms | Loss (all runs) | Router CPU | Generator CPU | Other CPU | Router RSS MiB | Clean runs |',
  );
  lines.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const sums = new Map<string, Summary>();
  for (const s of o.scenarios) {
    for (const r of o.routers) {
      const sum = summarize(
        runs.filter((x) => x.scenario === s && x.router === r),
        o.maxOther,
      );
      sums.set(`${s}/${r}`, sum);
      const loss =
        sum.lost === 0 && sum.outOfOrder === 0 && sum.errors === 0
          ? '0'
          : `**${fmtInt(sum.lost)}**${sum.outOfOrder ? ` (${sum.outOfOrder} out of order)` : ''}${sum.errors ? ` (${sum.errors} errors)` : ''}`;
      lines.push(
        `| ${title(s)} | ${r} | ${fmtInt(sum.rate)} ${unit(s)} | ${fmtMs(sum.p50)} | ${fmtMs(sum.p99)} | ${loss} | ` +
          `${fmtPct(sum.routerCpu)} | ${fmtPct(sum.generatorCpu)} | ${fmtPct(sum.otherCpu)} | ${sum.rss.toFixed(0)} | ${sum.clean}/${sum.runs} |`,
      );
    }
  }
  if (o.routers.includes('gatehouse') && o.routers.includes('fox-wamp')) {
    lines.push('', '### Gatehouse / fox-wamp', '');
    lines.push('| Scenario | Rate ratio (higher is better) | p50 ratio (lower is better) | p99 ratio (lower is better) |');
    lines.push('| --- | ---: | ---: | ---: |');
    for (const s of o.scenarios) {
      const g = sums.get(`${s}/gatehouse`)!;
      const f = sums.get(`${s}/fox-wamp`)!;
      lines.push(`| ${title(s)} | ${fmtRatio(g.rate / f.rate)} | ${fmtRatio(g.p50 / f.p50)} | ${fmtRatio(g.p99 / f.p99)} |`);
    }
  }
  lines.push('', '### Every run', '');
  lines.push(
    '| Scenario | Router | Run | Rate | p50 ms | p99 ms | max ms | Sent | Expected | Received | Lost | Router CPU | Gen CPU | Other CPU | RSS MiB | Redone |',
  );
  lines.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const x of runs) {
    const r = x.result;
    lines.push(
      `| ${title(x.scenario)} | ${x.router} | ${x.run} | ${fmtInt(r.rate)} | ${fmtMs(r.p50)} | ${fmtMs(r.p99)} | ${fmtMs(r.max)} | ` +
        `${fmtInt(r.sent)} | ${fmtInt(r.expected)} | ${fmtInt(r.received)} | ${fmtInt(r.lost)} | ${fmtPct(r.routerCpu)} | ${fmtPct(r.generatorCpu)} | ${fmtPct(r.otherCpu)} | ${x.rssMiB.toFixed(0)} | ${x.discarded} |`,
    );
  }
  lines.push('');
  lines.push(
    'Rate: deliveries per second in the measured window (pub/sub: events received by all subscribers together; RPC: results received). Latency: publish (call) to receipt, in the generator process. Loss: messages sent over the whole run times subscribers, minus those received after a drain. CPU: % of one core over the measured window; Other CPU is what processes outside the benchmark used meanwhile (a shared machine); a run where it exceeded ${o.maxOther}% of a core was thrown away and redone, up to ${o.retries} times (Redone); medians are over the clean runs (Clean runs) when there is any, loss over all runs.',
  );
  lines.push('');
  return lines.join('\n');
}

async function main(): Promise<void> {
  const root = join(__dirname, '..');
  const outDir = join(root, 'bench', 'out');
  const argv = process.argv.slice(2);
  if (argv[0] === '--report') {
    // re-render a saved run (e.g. after changing the report)
    const rec = JSON.parse(readFileSync(argv[1] ?? '', 'utf8')) as RunRecord;
    process.stdout.write(report(rec));
    return;
  }
  const o = parseArgs(argv);
  mkdirSync(outDir, { recursive: true });
  const atBuild = sourceFingerprint(root);
  const profDir = o.profile ? join(outDir, 'prof', `wamp-${Date.now()}`) : undefined;
  if (profDir) mkdirSync(profDir, { recursive: true });
  if (o.routers.includes('gatehouse') && o.gatehouseRuntime === 'tsc') {
    process.stderr.write('compiling Gatehouse with tsc into bench/out/build ...\n');
    buildGatehouse();
  }

  // before pinning: availableParallelism() follows this process's CPU affinity
  const machine = `${availableParallelism()} CPUs (${cpus()[0]?.model.trim() ?? '?'}), Node ${process.version}, ${process.platform}/${process.arch}`;
  if (o.pin && (availableParallelism() < 2 || !hasTaskset() || !pinSelf(0))) {
    process.stderr.write('CPU pinning unavailable (needs taskset and 2 CPUs); running unpinned\n');
    o.pin = false;
  }
  const command = `npx tsx bench/wamp-bench.ts ${process.argv.slice(2).join(' ')}`.trim();

  const runs: Run[] = [];
  for (let run = 1; run <= o.runs; run++) {
    for (const scenario of o.scenarios) {
      // alternate which router goes first, so neither always gets the warmer machine
      const order = run % 2 === 1 ? o.routers : [...o.routers].reverse();
      for (const router of order) {
        const profFile = profDir ? join(profDir, `${scenario}-${router}-${run}.cpuprofile`) : undefined;
        let discarded = 0;
        let one: { result: ScenarioResult; rssMiB: number };
        for (;;) {
          const busy = await waitForQuiet(o.quietWait);
          if (busy >= 25)
            process.stderr.write(`machine still busy (others use ${Math.round(busy)}% of a core); running anyway\n`);
          one = await runOne(o, scenario, router, profFile);
          if (one.result.otherCpu <= o.maxOther || discarded >= o.retries) break;
          discarded++;
          process.stderr.write(
            `run ${run} ${title(scenario)} ${router}: others used ${fmtPct(one.result.otherCpu)} of a core, redoing\n`,
          );
        }
        const { result, rssMiB } = one;
        runs.push({ scenario, router, run, result, rssMiB, discarded });
        process.stderr.write(
          `run ${run} ${title(scenario)} ${router}: ${fmtInt(result.rate)} ${unit(scenario)}, ` +
            `p50 ${fmtMs(result.p50)} ms, p99 ${fmtMs(result.p99)} ms, lost ${result.lost}, ooo ${result.outOfOrder}, ` +
            `errors ${result.errors}, full parses ${result.fullParses}, router CPU ${fmtPct(result.routerCpu)}, gen CPU ${fmtPct(result.generatorCpu)}, other CPU ${fmtPct(result.otherCpu)}, RSS ${rssMiB.toFixed(0)} MiB\n`,
        );
      }
    }
  }

  const rec: RunRecord = {
    options: o,
    runs,
    machine,
    command,
    sources: { atBuild, atEnd: sourceFingerprint(root) },
    date: new Date().toISOString(),
  };
  let md = report(rec);
  if (profDir) {
    const files = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'));
    for (const router of o.routers) {
      for (const s of o.scenarios) {
        const mine = files.filter((f) => f.startsWith(`${s}-${router}-`)).map((f) => join(profDir, f));
        if (mine.length === 0) continue;
        md += `\n### CPU profile: ${router}, ${title(s)} (measured windows of ${mine.length} runs)\n\n`;
        md += summarizeProfile(
          mine,
          25,
          router === 'gatehouse' && o.gatehouseRuntime === 'tsc' ? join(root, 'bench', 'out', 'build') : root,
        );
      }
    }
    md += `\nProfiles: ${profDir}\n`;
  }
  process.stdout.write(md);
  const file = join(outDir, `wamp-${new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-')}.md`);
  writeFileSync(file, md);
  writeFileSync(file.replace(/\.md$/, '.json'), JSON.stringify(rec, null, 1));
  process.stderr.write(`written to ${file} (raw runs: .json beside it; re-render with --report <json>)\n`);
  const lost = runs.some((x) => x.result.lost !== 0 || x.result.outOfOrder !== 0);
  if (lost) process.exitCode = 2;
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
