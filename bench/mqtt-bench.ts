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
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, release } from 'node:os';
import { join } from 'node:path';
import { summarizeProfile } from './lib/cpuprofile-top';
import {
  aedesVersion,
  BrokerProcess,
  buildGatehouseForMqtt,
  findMosquitto,
  mosquittoVersion,
  MQTT_BUILD_DIR,
  type BrokerName,
} from './lib/mqtt-broker-process';
import { runLoad, type LoadConfig } from './lib/mqtt-scenarios';
import { hasTaskset, machineBusySeconds, pinSelf } from './lib/router-process';
import { fmtInt, fmtPct, waitForQuiet } from './lib/stats';
import { parseArgs, title, type Options, type ScenarioName } from './lib/mqtt-bench-options';
import { fmtMs, report, type Run } from './lib/mqtt-bench-report';

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
    mode:
      s === 'qos0' || s === 'qos1'
        ? { kind: 'closed', window: s === 'qos0' ? o.window : o.qos1Window, deliveryCap: cap }
        : { kind: 'open', rate: o.rate },
    stallMs: 500,
    tag,
  };
}

async function runOne(
  o: Options,
  env: Env,
  s: ScenarioName,
  b: BrokerName,
  run: number,
  profFile: string | undefined,
): Promise<Omit<Run, 'discarded'>> {
  const proc = await BrokerProcess.start(
    b,
    {
      cpu: o.pin ? 1 : undefined,
      gatehouseRuntime: o.gatehouseRuntime,
      mosquittoPath: env.mosquittoPath,
      workDir: env.workDir,
      mosquittoNoDelay: o.mosquittoNoDelay,
      aedesNoDelay: o.aedesNoDelay,
      gatehouseNodeFlags: o.gatehouseNodeFlags,
    },
    env.gatehouseEntry,
  );
  try {
    const result = await runLoad(
      loadConfig(o, s, proc.port, `bench-${b}-${s}-${run}-${Date.now().toString(36)}`),
      { warmupMs: o.warmup * 1000, durationMs: o.duration * 1000, drainIdleMs: 2000 },
      {
        brokerCpuSeconds: () => proc.cpuSeconds(),
        machineCpuSeconds: machineBusySeconds,
        brokerRssMiB: () => proc.rssMiB(),
        measureWindow:
          profFile && proc.profilable
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

/** `--from-json bench/out/mqtt-<time>.json`: renders the report of a finished run again. */
function rerender(file: string): void {
  const saved = JSON.parse(readFileSync(file, 'utf8')) as {
    command: string;
    machine: string;
    versions: string;
    options: Options;
    runs: Run[];
  };
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
        'ERROR: the mosquitto binary was not found' +
          (o.mosquitto ? ` at ${o.mosquitto}` : ' (looked for /usr/sbin/mosquitto and mosquitto on PATH)') +
          '.\n' +
          "Install Debian's package with `bash bench/setup.sh` (apt-get install mosquitto), or leave it out with --brokers gatehouse,aedes.\n",
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
    o.brokers.includes('gatehouse')
      ? `Gatehouse (working tree, ${o.gatehouseRuntime === 'tsc' ? 'compiled by tsc' : 'through tsx'})`
      : '',
    o.brokers.includes('aedes') ? `Aedes ${aedesVersion()} (default options, in-memory persistence)` : '',
    o.brokers.includes('mosquitto') ? `Mosquitto ${mosquittoVersion(mosquittoPath)} (Debian package, ${mosquittoPath})` : '',
  ]
    .filter(Boolean)
    .join('; ');
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
          if (busy >= 25)
            process.stderr.write(`machine still busy (others use ${Math.round(busy)}% of a core); running anyway\n`);
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
  writeFileSync(
    join(outDir, `mqtt-${stamp}.json`),
    JSON.stringify({ command, machine, versions, options: o, targets, runs }, null, 2),
  );
  process.stderr.write(`written to ${file} (and .json)\n`);
  if (runs.some((x) => (x.scenario === 'qos1' || x.scenario === 'lat1') && (x.result.lost !== 0 || x.result.unacked !== 0)))
    process.exitCode = 2;
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
