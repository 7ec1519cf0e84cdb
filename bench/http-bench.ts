/**
 * HTTP API against WAMP on the same router, same run: acknowledged publish and call,
 * requests/s and latency at a fixed number of requests in flight.
 *
 *   npx tsx bench/http-bench.ts [--runs 3] [--duration 5] [--warmup 2]
 *        [--concurrency 16,64] [--payload 64] [--gatehouse-runtime tsc|tsx]
 *        [--quiet-wait 30] [--no-pin]
 *
 * One router child (bench/servers/http-gatehouse-server.ts) serves both protocols on one
 * port, as the daemon does: the HTTP API under /api (Express) and WAMP WebSocket on /ws.
 * It is compiled by tsc (bench/tsconfig.build.json), as production runs dist/, pinned to
 * CPU 1 while this process (the load generator, and the WAMP subscriber and callee) is
 * pinned to CPU 0. A fresh router per run; runs alternate which protocol goes first.
 *
 * Scenarios, each closed loop with N requests in flight (N = each of --concurrency):
 * - publish: HTTP `POST /api/publish {topic, args}` (answered once routed) against WAMP
 *   PUBLISH with `acknowledge: true` (answered by PUBLISHED), to a topic with one WAMP
 *   subscriber; every acknowledged publication must reach it (zero loss, checked);
 * - call: HTTP `POST /api/call {procedure, args}` against WAMP CALL, to a WAMP callee
 *   that returns its arguments.
 * HTTP runs over node:http with a keep-alive agent of N sockets (one request in flight
 * per socket: HTTP/1.1 has no multiplexing); WAMP runs the N requests over one session,
 * as a WAMP client would. The payload is one string argument of --payload bytes.
 *
 * Latency is per request, from sending it to its answer (LatencyHistogram). The
 * router's CPU time over the measured window (/proc/<pid>/stat) divided by the requests
 * answered gives its CPU µs per request: on a shared 2-core machine that is the steadier
 * figure, since requests/s also moves with what other processes take. Every phase
 * reports the CPU others used during it. Prints the markdown section for
 * bench/RESULTS.md on stdout; progress goes to stderr.
 */
import http from 'node:http';
import { cpus } from 'node:os';
import { LatencyHistogram } from './lib/latency-histogram';
import {
  buildGatehouse,
  hasTaskset,
  machineBusySeconds,
  pinSelf,
  RouterProcess,
  type GatehouseRuntime,
} from './lib/router-process';
import { fmtInt, fmtPct, fmtRatio, fmtUs, median, waitForQuiet } from './lib/stats';
import { WampClient } from './lib/wamp-client';

const TOPIC = 'bench.http.topic';
const PROCEDURE = 'bench.http.echo';
const DRAIN_TIMEOUT_MS = 10_000;

type Kind = 'publish' | 'call';
type Protocol = 'HTTP' | 'WAMP';
const KINDS: readonly Kind[] = ['publish', 'call'];

interface Options {
  runs: number;
  duration: number;
  warmup: number;
  concurrency: number[];
  payload: number;
  runtime: GatehouseRuntime;
  quietWait: number;
  pin: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    runs: 3,
    duration: 5,
    warmup: 2,
    concurrency: [16, 64],
    payload: 64,
    runtime: 'tsc',
    quietWait: 30,
    pin: true,
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
      if (!Number.isFinite(n) || n < 0) throw new Error(`${String(flag)} needs a number`);
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
        o.warmup = num();
        break;
      case '--concurrency':
        o.concurrency = value().split(',').map(Number);
        break;
      case '--payload':
        o.payload = num();
        break;
      case '--gatehouse-runtime':
        o.runtime = value() === 'tsx' ? 'tsx' : 'tsc';
        break;
      case '--quiet-wait':
        o.quietWait = num();
        break;
      case '--no-pin':
        o.pin = false;
        break;
      default:
        throw new Error(`unknown option ${String(flag)}`);
    }
  }
  if (!(o.runs >= 1 && o.duration > 0) || o.concurrency.some((n) => !(Number.isInteger(n) && n > 0)))
    throw new Error('bad --runs, --duration or --concurrency');
  return o;
}

interface PhaseResult {
  perSecond: number;
  p50: number;
  p99: number;
  cpuUsPerRequest: number;
  /** the same for this process: the HTTP or WAMP client side, plus the subscriber and callee */
  generatorUsPerRequest: number;
  /** % of a core other processes used during the measured window */
  other: number;
  errors: number;
  /** acknowledged publications the subscriber did not receive */
  lost: number;
}

/** Sends one request; calls `done(ok)` once its answer is in. */
type Issue = (done: (ok: boolean) => void) => void;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Keeps `concurrency` requests in flight for warm-up + duration; records the ones
 * answered within the measured window. Resolves once every request is answered.
 */
async function closedLoop(
  issue: Issue,
  concurrency: number,
  o: Options,
  router: RouterProcess,
): Promise<Omit<PhaseResult, 'lost'> & { answered: number }> {
  const hist = new LatencyHistogram();
  let measuring = false;
  let stopped = false;
  let inFlight = 0;
  let answered = 0; // all phases, for the loss check
  let counted = 0;
  let errors = 0;
  let drained: (() => void) | undefined;
  const next = (): void => {
    if (stopped) {
      if (inFlight === 0) drained?.();
      return;
    }
    inFlight++;
    const t0 = performance.now();
    issue((ok) => {
      inFlight--;
      answered++;
      if (!ok) errors++;
      else if (measuring) {
        hist.record(performance.now() - t0);
        counted++;
      }
      next();
    });
  };
  for (let i = 0; i < concurrency; i++) next();
  await sleep(o.warmup * 1000);
  const cpu0 = router.cpuSeconds();
  const busy0 = machineBusySeconds();
  const self0 = process.cpuUsage();
  const t0 = performance.now();
  measuring = true;
  await sleep(o.duration * 1000);
  measuring = false;
  const seconds = (performance.now() - t0) / 1000;
  const cpu = router.cpuSeconds() - cpu0;
  const self = process.cpuUsage(self0);
  const other = (100 * (machineBusySeconds() - busy0 - cpu - (self.user + self.system) / 1e6)) / seconds;
  stopped = true;
  await new Promise<void>((resolve, reject) => {
    drained = resolve;
    if (inFlight === 0) resolve();
    setTimeout(
      () => reject(new Error(`${inFlight} requests still unanswered after ${DRAIN_TIMEOUT_MS} ms`)),
      DRAIN_TIMEOUT_MS,
    ).unref();
  });
  return {
    perSecond: counted / seconds,
    p50: hist.quantileMs(0.5),
    p99: hist.quantileMs(0.99),
    cpuUsPerRequest: (cpu * 1e6) / counted,
    generatorUsPerRequest: (self.user + self.system) / counted,
    other,
    errors,
    answered: answered - errors,
  };
}

/** One POST with a JSON body over the keep-alive agent; ok when the answer is 200. */
function httpIssue(agent: http.Agent, port: number, path: string, body: Buffer): Issue {
  const headers = { 'content-type': 'application/json', 'content-length': String(body.length) };
  return (done) => {
    const req = http.request({ agent, host: '127.0.0.1', port, method: 'POST', path, headers }, (res) => {
      // the answer is read (and dropped) to the end so the socket goes back to the agent
      res.on('data', () => undefined);
      res.on('end', () => done(res.statusCode === 200));
    });
    req.on('error', () => done(false));
    req.end(body);
  };
}

interface Run {
  router: RouterProcess;
  subscriber: WampClient;
  callee: WampClient;
  client: WampClient;
  /** events the subscriber has received */
  events: () => number;
}

async function startRun(o: Options): Promise<Run> {
  const router = await RouterProcess.start('gatehouse', {
    cpu: o.pin ? 1 : undefined,
    gatehouseRuntime: o.runtime,
    server: 'http-gatehouse-server',
  });
  const connect = (): Promise<WampClient> => WampClient.connect({ url: router.url, realm: 'realm1' });
  const [subscriber, callee, client] = await Promise.all([connect(), connect(), connect()]);
  let events = 0;
  // counted undecoded: the subscriber is there to be delivered to, not to cost the generator
  subscriber.rawEvents = () => {
    events++;
    return true;
  };
  await subscriber.subscribe(TOPIC, () => undefined);
  await callee.register(PROCEDURE, (args) => args ?? []);
  return { router, subscriber, callee, client, events: () => events };
}

async function stopRun(r: Run): Promise<void> {
  await Promise.all([r.subscriber.close(), r.callee.close(), r.client.close()]);
  await r.router.stop();
}

async function phase(r: Run, o: Options, kind: Kind, protocol: Protocol, concurrency: number): Promise<PhaseResult> {
  const args = ['x'.repeat(o.payload)];
  let issue: Issue;
  let agent: http.Agent | undefined;
  if (protocol === 'HTTP') {
    agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
    const body = Buffer.from(JSON.stringify(kind === 'publish' ? { topic: TOPIC, args } : { procedure: PROCEDURE, args }));
    issue = httpIssue(agent, r.router.port, kind === 'publish' ? '/api/publish' : '/api/call', body);
  } else if (kind === 'publish') {
    issue = (done) => {
      r.client.publishAcknowledged(TOPIC, args).then(
        () => done(true),
        () => done(false),
      );
    };
  } else {
    issue = (done) => r.client.call(PROCEDURE, args, (result) => done(result !== undefined));
  }
  const events0 = r.events();
  const res = await closedLoop(issue, concurrency, o, r.router);
  agent?.destroy();
  let lost = 0;
  if (kind === 'publish') {
    // every acknowledged publication is owed to the subscriber; give the last ones time to land
    const deadline = Date.now() + DRAIN_TIMEOUT_MS;
    while (r.events() - events0 < res.answered && Date.now() < deadline) await sleep(10);
    lost = res.answered - (r.events() - events0);
  }
  return { ...res, lost };
}

const key = (kind: Kind, concurrency: number, protocol: Protocol): string => `${kind}/${concurrency}/${protocol}`;

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (o.pin && !hasTaskset()) {
    process.stderr.write('note: taskset not found, running unpinned\n');
    o.pin = false;
  }
  if (o.pin) pinSelf(0);
  if (o.runtime === 'tsc') buildGatehouse();
  const results = new Map<string, PhaseResult[]>();
  const before: number[] = [];
  for (let run = 0; run < o.runs; run++) {
    before.push(await waitForQuiet(o.quietWait));
    const r = await startRun(o);
    try {
      const protocols: Protocol[] = run % 2 === 0 ? ['HTTP', 'WAMP'] : ['WAMP', 'HTTP'];
      for (const kind of KINDS) {
        for (const n of o.concurrency) {
          for (const p of protocols) {
            const res = await phase(r, o, kind, p, n);
            const k = key(kind, n, p);
            results.set(k, [...(results.get(k) ?? []), res]);
            process.stderr.write(
              `run ${run + 1} ${k}: ${fmtInt(res.perSecond)}/s p50 ${res.p50.toFixed(2)} p99 ${res.p99.toFixed(2)} ms, ` +
                `router ${fmtUs(res.cpuUsPerRequest)} µs/req, generator ${fmtUs(res.generatorUsPerRequest)} µs/req, other ${fmtPct(res.other)}, errors ${res.errors}, lost ${res.lost}\n`,
            );
          }
        }
      }
    } finally {
      await stopRun(r);
    }
  }

  const med = (k: string, f: (x: PhaseResult) => number): number => median((results.get(k) ?? []).map(f));
  const sum = (k: string, f: (x: PhaseResult) => number): number => (results.get(k) ?? []).reduce((a, x) => a + f(x), 0);
  const ms = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : '-');
  const lines: string[] = [];
  lines.push(`Command: \`npx tsx bench/http-bench.ts ${process.argv.slice(2).join(' ')}\`  `);
  lines.push(
    `${o.runs} runs of ${o.warmup} s warm-up + ${o.duration} s per phase, medians; payload one ${o.payload} B string; ` +
      `Gatehouse ${o.runtime === 'tsc' ? 'compiled by tsc' : 'through tsx'}${o.pin ? ', router pinned to CPU 1, generator to CPU 0' : ', unpinned'}; ` +
      `${cpus().length} CPUs (${cpus()[0]?.model.trim() ?? '?'}), Node ${process.version}; other processes used ` +
      `${before.map(fmtPct).join(' / ')} of a core before the runs.`,
  );
  lines.push('');
  lines.push(
    '| Scenario | In flight | HTTP req/s | WAMP req/s | HTTP/WAMP | HTTP p50 / p99 ms | WAMP p50 / p99 ms | Router CPU µs/req HTTP / WAMP | Generator CPU µs/req HTTP / WAMP | Other CPU HTTP / WAMP | Errors, lost |',
  );
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const kind of KINDS) {
    for (const n of o.concurrency) {
      const h = key(kind, n, 'HTTP');
      const w = key(kind, n, 'WAMP');
      const title = kind === 'publish' ? 'publish, acknowledged, 1 subscriber' : 'call, echo callee';
      const bad = sum(h, (x) => x.errors + x.lost) + sum(w, (x) => x.errors + x.lost);
      lines.push(
        `| ${title} | ${n} | ${fmtInt(med(h, (x) => x.perSecond))} | ${fmtInt(med(w, (x) => x.perSecond))} | ` +
          `${fmtRatio(med(h, (x) => x.perSecond) / med(w, (x) => x.perSecond))} | ` +
          `${ms(med(h, (x) => x.p50))} / ${ms(med(h, (x) => x.p99))} | ${ms(med(w, (x) => x.p50))} / ${ms(med(w, (x) => x.p99))} | ` +
          `${fmtUs(med(h, (x) => x.cpuUsPerRequest))} / ${fmtUs(med(w, (x) => x.cpuUsPerRequest))} | ` +
          `${fmtUs(med(h, (x) => x.generatorUsPerRequest))} / ${fmtUs(med(w, (x) => x.generatorUsPerRequest))} | ` +
          `${fmtPct(med(h, (x) => x.other))} / ${fmtPct(med(w, (x) => x.other))} | ${bad} |`,
      );
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
