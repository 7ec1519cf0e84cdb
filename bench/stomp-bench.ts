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
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, release } from 'node:os';
import { join } from 'node:path';
import { selfTimeTable } from './lib/cpuprofile-sources';
import { summarizeProfile } from './lib/cpuprofile-top';
import { hasTaskset, machineBusySeconds, pinSelf } from './lib/router-process';
import { fmtInt, fmtPct, waitForQuiet } from './lib/stats';
import {
  buildGatehouseForStomp,
  findRabbitmq,
  installRabbitmq,
  StompBrokerProcess,
  STOMP_BUILD_DIR,
  type GatehouseStats,
  type RabbitInstall,
  type StompBrokerName,
} from './lib/stomp-broker-process';
import { runLoad, type LoadConfig } from './lib/stomp-scenarios';
import { fmtMs, isQueue, parseArgs, title, type Options, type ScenarioName } from './lib/stomp-bench-options';
import { report, writeResultsSection, type Run } from './lib/stomp-bench-report';

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
