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
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { summarizeProfile } from './lib/cpuprofile-top';
import { buildGatehouse, hasTaskset, machineBusySeconds, pinSelf, RouterProcess, type RouterName } from './lib/router-process';
import { sourceFingerprint } from './lib/source-fingerprint';
import { fmtInt, fmtPct, waitForQuiet } from './lib/stats';
import { fmtMs, parseArgs, parseScenario, title, unit, type Options, type ScenarioName } from './lib/wamp-bench-options';
import { report, type Run, type RunRecord } from './lib/wamp-bench-report';
import { runPubSub, runRpc, type ScenarioResult, type Timing } from './lib/wamp-scenarios';

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
  const atBuild = sourceFingerprint();
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
    sources: { atBuild, atEnd: sourceFingerprint() },
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
