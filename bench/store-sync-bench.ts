/**
 * Retained store and sync primitives: durable acknowledged retained publishes per
 * second, and lock hand-off latency (when / watch / will), Gatehouse against fox-wamp,
 * same run, same load generator.
 *
 *   npx tsx bench/store-sync-bench.ts [--runs 3] [--duration 5] [--warmup 1]
 *        [--connections 4] [--window 256] [--payload 64]
 *        [--handoffs 2000] [--handoff-warmup 200]
 *        [--routers gatehouse,gatehouse-normal,gatehouse-mem,gatehouse-jetstream,fox-wamp] [--no-pin]
 *        [--engine jetstream] [--cas]
 *        [--quiet-wait 60] [--max-other 30] [--retries 3] [--gatehouse-runtime tsc|tsx]
 *
 * Routers (bench/lib/store-sync-servers.ts): `gatehouse` keeps its store in a temporary
 * file with SQLite synchronous 'full' (PUBLISHED = fsynced); `gatehouse-normal` the same
 * with synchronous 'normal' (in the WAL, no fsync: survives kill -9, not power loss);
 * `gatehouse-mem` is the same router on a ':memory:' store, to show what the disk costs; `fox-wamp` 0.7.28 runs its
 * in-memory key-value engine (its SQLite engine ships as TypeScript sources that plain
 * node cannot load), so its acks are not durable.
 *
 * `--engine jetstream` runs `gatehouse` (SQLite, synchronous full) and `gatehouse-jetstream`
 * (the retained store in JetStream KV on a loopback nats-server) in the same run; `--cas`
 * makes every throughput write a compare-and-set (`when` on the slot's last value).
 *
 * Each run starts a fresh router child pinned to CPU 1 (this process, the load
 * generator, to CPU 0), runs the hand-off scenario, then the throughput scenario. For
 * the file-backed Gatehouse routers the throughput scenario ends with SIGKILL of the router while the window
 * is full; the store file is then opened again and every write whose PUBLISHED had
 * arrived must be there ("lost after kill -9" must be 0). The tables show medians of
 * the runs. Prints the markdown section for bench/RESULTS.md on stdout.
 *
 * Gatehouse is compiled once with tsc at the start (bench/lib/store-sync-build.ts) and
 * runs as plain JavaScript, as production runs dist/; `--gatehouse-runtime tsx` runs the
 * sources through tsx instead.
 *
 * The machine may be shared: before each run the driver waits (up to --quiet-wait
 * seconds) for other processes' CPU use to drop, measures what others used during each
 * measured window ("Other CPU"), and redoes a run in which others used more than
 * --max-other % of a core, up to --retries times.
 */
import { availableParallelism, cpus } from 'node:os';
import { buildGatehouse, sourceFingerprint, type GatehouseBuild } from './lib/store-sync-build';
import { hasTaskset, machineBusySeconds, pinSelf } from './lib/router-process';
import { fmtInt, fmtPct, median, waitForQuiet } from './lib/stats';
import { runHandoff, runThroughput, type HandoffResult, type ThroughputResult } from './lib/store-sync-scenarios';
import { DEFAULT_STORE_ROUTERS, STORE_ROUTERS, StoreRouterProcess, type StoreRouterName } from './lib/store-sync-servers';

const REALM = 'realm1';

interface Options {
  runs: number;
  duration: number;
  warmup: number;
  connections: number;
  window: number;
  payload: number;
  handoffs: number;
  handoffWarmup: number;
  routers: StoreRouterName[];
  pin: boolean;
  quietWait: number;
  /** a run in which other processes used more than this % of a core is redone */
  maxOther: number;
  retries: number;
  gatehouseRuntime: 'tsc' | 'tsx';
  /** compare-and-set writes in the throughput scenario */
  cas: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    runs: 3,
    duration: 5,
    warmup: 1,
    connections: 4,
    window: 256,
    payload: 64,
    handoffs: 2000,
    handoffWarmup: 200,
    routers: [...DEFAULT_STORE_ROUTERS],
    pin: true,
    quietWait: 60,
    maxOther: 30,
    retries: 3,
    gatehouseRuntime: 'tsc',
    cas: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${String(flag)} needs a value`);
      return v;
    };
    const num = (min = 1): number => {
      const n = Number(value());
      if (!Number.isFinite(n) || n < min) throw new Error(`${String(flag)} needs a number >= ${min}`);
      return n;
    };
    switch (flag) {
      case '--runs':
        o.runs = num();
        break;
      case '--duration':
        o.duration = num();
        break;
      case '--warmup':
        o.warmup = num(0);
        break;
      case '--connections':
        o.connections = num();
        break;
      case '--window':
        o.window = num();
        break;
      case '--payload':
        o.payload = num(0);
        break;
      case '--handoffs':
        o.handoffs = num();
        break;
      case '--handoff-warmup':
        o.handoffWarmup = num(0);
        break;
      case '--routers':
        o.routers = value()
          .split(',')
          .map((r) => (r === 'fox' ? 'fox-wamp' : r)) as StoreRouterName[];
        break;
      case '--engine': {
        // the JetStream engine beside SQLite (synchronous full) in the same run
        const v = value();
        if (v !== 'jetstream' && v !== 'sqlite') throw new Error('--engine is sqlite or jetstream');
        o.routers = v === 'jetstream' ? ['gatehouse', 'gatehouse-jetstream'] : ['gatehouse'];
        break;
      }
      case '--cas':
        o.cas = true;
        break;
      case '--no-pin':
        o.pin = false;
        break;
      case '--quiet-wait':
        o.quietWait = num(0);
        break;
      case '--max-other':
        o.maxOther = num(0);
        break;
      case '--retries':
        o.retries = num(0);
        break;
      case '--gatehouse-runtime': {
        const v = value();
        if (v !== 'tsc' && v !== 'tsx') throw new Error('--gatehouse-runtime is tsc or tsx');
        o.gatehouseRuntime = v;
        break;
      }
      default:
        throw new Error(`unknown option ${String(flag)}`);
    }
  }
  for (const r of o.routers) if (!STORE_ROUTERS.includes(r)) throw new Error(`unknown router ${String(r)}`);
  return o;
}

interface Run {
  router: StoreRouterName;
  run: number;
  handoff: HandoffResult;
  throughput: ThroughputResult;
  /** acknowledged writes missing from the store after kill -9; undefined = not checked */
  lostAfterKill: number | undefined;
  /** why the check could not be made */
  checkError?: string;
  keysChecked: number;
  rssMiB: number;
  /** attempts thrown away because other processes were busy */
  redone: number;
}

async function runOne(
  o: Options,
  build: GatehouseBuild | undefined,
  router: StoreRouterName,
  run: number,
  redone: number,
): Promise<Run> {
  const proc = await StoreRouterProcess.start(router, o.pin ? 1 : undefined, build);
  try {
    const probe = { routerCpuSeconds: () => proc.cpuSeconds(), machineCpuSeconds: machineBusySeconds };
    const handoff = await runHandoff(
      { url: proc.url, realm: REALM, warmup: o.handoffWarmup, handoffs: o.handoffs, timeoutMs: 5000 },
      probe,
    );
    const durable = proc.storePath !== undefined;
    let rssMiB = NaN;
    const throughput = await runThroughput(
      {
        url: proc.url,
        realm: REALM,
        connections: o.connections,
        window: o.window,
        payloadBytes: o.payload,
        warmupMs: o.warmup * 1000,
        durationMs: o.duration * 1000,
        cas: o.cas,
        killAtEnd: durable
          ? async () => {
              rssMiB = proc.rssMiB();
              await proc.stop('SIGKILL');
            }
          : undefined,
      },
      probe,
    );
    if (!durable) rssMiB = proc.rssMiB();
    let lostAfterKill: number | undefined;
    let checkError: string | undefined;
    if (proc.storePath !== undefined) {
      try {
        lostAfterKill = proc.countLost(throughput.lastAcked, build).lost;
      } catch (err) {
        checkError = err instanceof Error ? err.message : String(err);
      }
    }
    return {
      router,
      run,
      handoff,
      throughput,
      lostAfterKill,
      checkError,
      keysChecked: throughput.lastAcked.size,
      rssMiB,
      redone,
    };
  } finally {
    await proc.stop();
    proc.cleanup();
  }
}

const fmtMs = (n: number): string => (Number.isNaN(n) ? '-' : n < 1 ? n.toFixed(3) : n < 10 ? n.toFixed(2) : n.toFixed(1));

const DURABILITY: Record<StoreRouterName, string> = {
  gatehouse: 'file, synchronous full (fsync per group commit)',
  'gatehouse-normal': 'file, synchronous normal (WAL written, no fsync)',
  'gatehouse-mem': 'none (:memory:)',
  'gatehouse-jetstream': 'JetStream KV acknowledged (R1, loopback nats-server)',
  'fox-wamp': 'none (in-memory)',
};

function lostCell(rs: Run[]): string {
  const failed = rs.find((x) => x.checkError !== undefined);
  if (failed) return `check failed: ${failed.checkError ?? ''}`;
  const checked = rs.filter((x) => x.lostAfterKill !== undefined);
  if (checked.length === 0) return 'n/a';
  return `${checked.reduce((a, x) => a + (x.lostAfterKill ?? 0), 0)} of ${checked.reduce((a, x) => a + x.keysChecked, 0)} keys`;
}

function report(o: Options, runs: Run[], machine: string, command: string, sources: { atStart: string; atEnd: string }): string {
  const L: string[] = [];
  L.push(`## Retained store and sync`, '');
  L.push(`Run ${new Date().toISOString()}. Command: \`${command}\``, '');
  L.push(`Machine: ${machine}`, '');
  L.push(
    `Code: Gatehouse ${o.gatehouseRuntime === 'tsc' ? 'compiled once by tsc at the start, run as plain JavaScript' : 'run from the sources through tsx'}; ` +
      `sources ${sources.atStart}` +
      (sources.atEnd === sources.atStart
        ? ' (unchanged at the end).'
        : `; ${sources.atEnd} by the end (others' edits${o.gatehouseRuntime === 'tsc' ? '; the build measured is the first' : ''}).`) +
      ' fox-wamp 0.7.28 from node_modules, started by bench/servers/foxwamp-server.js.',
    '',
  );
  L.push(
    `Load: (a) ${o.connections} connections x ${o.window} acknowledged retained publishes in flight ` +
      `(${o.connections * o.window} keys, one per slot, value \`{seq, pad}\` with ${o.payload} B of padding` +
      (o.cas ? '; each a compare-and-set, `when: {seq: <last acknowledged>}`' : '') +
      '), ' +
      `${o.warmup} s warm-up + ${o.duration} s measured; (b) ${o.handoffs} lock hand-offs between two sessions ` +
      `after ${o.handoffWarmup} warm-up ones. WAMP JSON over WebSocket, lean generator (bench/lib/store-sync-client.ts). ` +
      `${o.runs} runs, fresh router per run, medians shown; ` +
      (o.pin ? 'router pinned to CPU 1, generator to CPU 0.' : 'no CPU pinning.'),
    '',
  );
  L.push('### (a) Acknowledged retained publishes', '');
  L.push(
    '| Router | PUBLISHED means | Acked publishes/s | p50 ms | p99 ms | Errors | Lost after kill -9 | Router CPU | Acks per router CPU-second | Generator CPU | Other CPU |',
  );
  L.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of o.routers) {
    const rs = runs.filter((x) => x.router === r);
    const t = rs.map((x) => x.throughput);
    const errors = t.reduce((a, x) => a + x.errors, 0);
    L.push(
      `| ${r} | ${DURABILITY[r]} | ${fmtInt(median(t.map((x) => x.rate)))} | ${fmtMs(median(t.map((x) => x.p50)))} | ${fmtMs(median(t.map((x) => x.p99)))} | ` +
        `${errors} | ${lostCell(rs)} | ${fmtPct(median(t.map((x) => x.routerCpu)))} | ${fmtInt(median(t.map((x) => (100 * x.rate) / x.routerCpu)))} | ` +
        `${fmtPct(median(t.map((x) => x.generatorCpu)))} | ${fmtPct(median(t.map((x) => x.otherCpu)))} |`,
    );
  }
  L.push('', "### (b) Lock hand-off: release sent -> next holder's PUBLISHED received", '');
  L.push(
    '| Router | Hand-offs per run | p50 ms | p99 ms | max ms (worst run) | Release ack p50 ms | Fencing tokens increasing | Router CPU | Other CPU |',
  );
  L.push('| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |');
  for (const r of o.routers) {
    const h = runs.filter((x) => x.router === r).map((x) => x.handoff);
    const failed = h.filter((x) => x.error !== undefined);
    const note = failed.length > 0 ? ` (**${failed.length} run(s) failed: ${failed[0]?.error ?? ''}**)` : '';
    L.push(
      `| ${r} | ${fmtInt(median(h.map((x) => x.count)))}${note} | ${fmtMs(median(h.map((x) => x.p50)))} | ${fmtMs(median(h.map((x) => x.p99)))} | ` +
        `${fmtMs(Math.max(...h.map((x) => x.max)))} | ${fmtMs(median(h.map((x) => x.releaseP50)))} | ${h.every((x) => x.tokensIncreasing) ? 'yes' : 'no'} | ` +
        `${fmtPct(median(h.map((x) => x.routerCpu)))} | ${fmtPct(median(h.map((x) => x.otherCpu)))} |`,
    );
  }
  L.push('', '### Every run', '');
  L.push(
    '| Router | Run | Redone | Acked/s | p50 ms | p99 ms | max ms | Errors | Lost after kill -9 | Router CPU | Other CPU | RSS MiB | Hand-off p50 ms | p99 ms | max ms | Other CPU |',
  );
  L.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const x of runs) {
    const t = x.throughput;
    const h = x.handoff;
    const lost =
      x.checkError !== undefined ? 'check failed' : x.lostAfterKill === undefined ? 'n/a' : `${x.lostAfterKill}/${x.keysChecked}`;
    L.push(
      `| ${x.router} | ${x.run} | ${x.redone} | ${fmtInt(t.rate)} | ${fmtMs(t.p50)} | ${fmtMs(t.p99)} | ${fmtMs(t.max)} | ${t.errors} | ` +
        `${lost} | ${fmtPct(t.routerCpu)} | ${fmtPct(t.otherCpu)} | ${x.rssMiB.toFixed(0)} | ` +
        `${fmtMs(h.p50)}${h.error ? ' (failed)' : ''} | ${fmtMs(h.p99)} | ${fmtMs(h.max)} | ${fmtPct(h.otherCpu)} |`,
    );
  }
  L.push('');
  L.push(
    'Acked publishes/s: PUBLISHED received per second in the measured window. Latency: PUBLISH sent to its PUBLISHED received, in the generator. ' +
      "Acks per router CPU-second: the rate divided by the router's CPU use, which other load disturbs less than the rate; time a durable router spends waiting in fsync is not CPU time. " +
      'Lost after kill -9: the router is SIGKILLed with the window full, its store file opened again, and every key whose stored `seq` is older than the last one acknowledged counts as lost. ' +
      'Hand-off: from the holder sending its release (an empty retained publish) to the waiting session receiving the PUBLISHED for its `when: null, watch: true` publish. ' +
      `CPU: % of one core over the measured window; Other CPU is what processes outside the benchmark used meanwhile (a shared machine); a run where it exceeded ${o.maxOther}% was redone, up to ${o.retries} times (Redone).`,
  );
  L.push('');
  return L.join('\n');
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  // before pinning: availableParallelism() follows this process's CPU affinity
  const machine = `nproc ${availableParallelism()} (${cpus()[0]?.model.trim() ?? '?'}), Node ${process.version}, ${process.platform}/${process.arch}`;
  if (o.pin && (availableParallelism() < 2 || !hasTaskset() || !pinSelf(0))) {
    process.stderr.write('CPU pinning unavailable (needs taskset and 2 CPUs); running unpinned\n');
    o.pin = false;
  }
  const command = `npx tsx bench/store-sync-bench.ts ${process.argv.slice(2).join(' ')}`.trim();
  const usesGatehouse = o.routers.some((r) => r !== 'fox-wamp');
  let build: GatehouseBuild | undefined;
  if (usesGatehouse && o.gatehouseRuntime === 'tsc') {
    process.stderr.write('compiling Gatehouse with tsc into a temporary directory ...\n');
    build = buildGatehouse();
  }
  const sourcesAtStart = build?.sources ?? sourceFingerprint();
  const runs: Run[] = [];
  process.once('SIGINT', () => {
    // the router children get the same SIGINT from the terminal; the build goes too
    build?.cleanup();
    process.exit(130);
  });
  try {
    await runAll(o, build, runs);
  } finally {
    build?.cleanup();
  }
  const sources = { atStart: sourcesAtStart, atEnd: sourceFingerprint() };
  process.stdout.write(report(o, runs, machine, command, sources));
  const bad = runs.some(
    (x) =>
      (x.lostAfterKill ?? 0) > 0 ||
      x.checkError !== undefined ||
      x.throughput.errors > 0 ||
      (x.router !== 'fox-wamp' && x.handoff.error !== undefined),
  );
  if (bad) process.exitCode = 2;
}

async function runAll(o: Options, build: GatehouseBuild | undefined, runs: Run[]): Promise<void> {
  for (let run = 1; run <= o.runs; run++) {
    // alternate which router goes first, so none always gets the warmer machine
    const order = run % 2 === 1 ? o.routers : [...o.routers].reverse();
    for (const router of order) {
      let r: Run;
      for (let redone = 0; ; redone++) {
        const busy = await waitForQuiet(o.quietWait, 4);
        if (busy >= 25) process.stderr.write(`machine still busy (others use ${Math.round(busy)}% of a core); running anyway\n`);
        r = await runOne(o, build, router, run, redone);
        const other = Math.max(r.throughput.otherCpu, r.handoff.otherCpu);
        if (!(other > o.maxOther) || redone >= o.retries) break;
        process.stderr.write(`run ${run} ${router}: others used ${fmtPct(other)} of a core, redoing\n`);
      }
      runs.push(r);
      const t = r.throughput;
      const h = r.handoff;
      process.stderr.write(
        `run ${run} ${router}: ${fmtInt(t.rate)} acked/s p50 ${fmtMs(t.p50)} p99 ${fmtMs(t.p99)} ms, errors ${t.errors}${t.firstError ? ` (${t.firstError})` : ''}, ` +
          `lost after kill ${r.lostAfterKill ?? r.checkError ?? 'n/a'}, router CPU ${fmtPct(t.routerCpu)}, other ${fmtPct(t.otherCpu)}; ` +
          `hand-off ${h.count} p50 ${fmtMs(h.p50)} p99 ${fmtMs(h.p99)} max ${fmtMs(h.max)} ms, other ${fmtPct(h.otherCpu)}${h.error ? ` FAILED: ${h.error}` : ''}\n`,
      );
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
