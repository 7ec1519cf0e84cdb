/**
 * The two store scenarios of bench/store-sync-bench.ts, run against any router that
 * speaks fox-wamp's publish options (retain / when / watch / will) over WAMP JSON.
 *
 * throughput: `connections` sessions each keep `window` acknowledged retained
 *   publishes in flight, each slot on its own key; every PUBLISHED sends that slot's
 *   next write. Rate = PUBLISHED received per second in the measured window; latency =
 *   PUBLISH sent to its PUBLISHED received. Optionally the router is killed (SIGKILL)
 *   at the end with the window still full, and the caller checks that every write
 *   whose PUBLISHED arrived is in the store.
 *
 * handoff: a lock passed back and forth between two sessions. The holder H has the
 *   key (written with when: null); the waiter W publishes
 *   {retain, when: null, watch: true, will: null, acknowledge} and is queued; an
 *   acknowledged plain publish from W (a fence: a router handles one session's
 *   messages in order) proves the router has queued W. Then H releases (an empty
 *   retained publish, acknowledged) and the hand-off time is from sending that release
 *   to W receiving its PUBLISHED, which the router sends once W's write is durable.
 *   Then the roles swap.
 */
import { performance } from 'node:perf_hooks';
import { LatencyHistogram } from './latency-histogram';
import { StoreSyncClient } from './store-sync-client';

export interface Probe {
  routerCpuSeconds(): number;
  /** busy CPU seconds of the whole machine (for what other processes used) */
  machineCpuSeconds(): number;
}

export interface ThroughputOptions {
  url: string;
  realm: string;
  connections: number;
  /** acknowledged publishes in flight per connection (= keys per connection) */
  window: number;
  payloadBytes: number;
  warmupMs: number;
  durationMs: number;
  /**
   * Each write is a compare-and-set: `when` the key still holds the slot's last
   * acknowledged value (`when: null` for the first), so the store checks a condition on
   * every write (the shared engine: a conditional put)
   */
  cas?: boolean;
  /** called at the end instead of draining: kills the router with the window full */
  killAtEnd?: () => Promise<void>;
}

export interface ThroughputResult {
  rate: number;
  p50: number;
  p99: number;
  max: number;
  acked: number;
  errors: number;
  firstError: string | undefined;
  routerCpu: number;
  generatorCpu: number;
  otherCpu: number;
  /** per key, the highest `seq` whose PUBLISHED arrived */
  lastAcked: Map<string, number>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function throughputKey(connection: number, slot: number): string {
  return `bench.store.c${connection}.k${slot}`;
}

export async function runThroughput(o: ThroughputOptions, probe: Probe): Promise<ThroughputResult> {
  const clients = await Promise.all(Array.from({ length: o.connections }, () => StoreSyncClient.connect(o.url, o.realm)));
  const hist = new LatencyHistogram();
  const lastAcked = new Map<string, number>();
  const pad = 'x'.repeat(o.payloadBytes);
  let measuring = false;
  let stopping = false;
  let killed = false;
  let acked = 0;
  let errors = 0;
  let firstError: string | undefined;
  let inFlight = 0;

  clients.forEach((client, c) => {
    for (let s = 0; s < o.window; s++) {
      const key = throughputKey(c, s);
      let seq = 0;
      const send = (): void => {
        const mySeq = ++seq;
        const sentAt = performance.now();
        inFlight++;
        const options = o.cas === true ? { retain: true, when: mySeq === 1 ? null : { seq: mySeq - 1 } } : { retain: true };
        client.publish(key, [{ seq: mySeq, pad }], options, (err) => {
          inFlight--;
          if (err !== undefined) {
            // after a deliberate kill, "connection closed" is the expected end
            if (!killed) {
              errors++;
              firstError ??= err;
            }
            return;
          }
          if (mySeq > (lastAcked.get(key) ?? 0)) lastAcked.set(key, mySeq);
          if (measuring) {
            acked++;
            hist.record(performance.now() - sentAt);
          }
          if (!stopping) send();
        });
      };
      send();
    }
  });

  await sleep(o.warmupMs);
  const r0 = probe.routerCpuSeconds();
  const m0 = probe.machineCpuSeconds();
  const g0 = process.cpuUsage();
  const t0 = performance.now();
  measuring = true;
  await sleep(o.durationMs);
  measuring = false;
  const seconds = (performance.now() - t0) / 1000;
  const g = process.cpuUsage(g0);
  const routerCpu = probe.routerCpuSeconds() - r0;
  const machine = probe.machineCpuSeconds() - m0;
  const generatorCpu = (g.user + g.system) / 1e6;
  stopping = true;

  if (o.killAtEnd) {
    killed = true;
    await o.killAtEnd();
    // every connection sees its socket close; pending callbacks settle with an error
    const deadline = Date.now() + 5000;
    while (inFlight > 0 && Date.now() < deadline) await sleep(10);
  } else {
    const deadline = Date.now() + 10_000;
    while (inFlight > 0 && Date.now() < deadline) await sleep(5);
    if (inFlight > 0) {
      errors += inFlight;
      firstError ??= `${inFlight} publishes never acknowledged`;
    }
  }
  await Promise.all(clients.map((c) => c.close()));

  return {
    rate: acked / seconds,
    p50: hist.quantileMs(0.5),
    p99: hist.quantileMs(0.99),
    max: hist.maxMs(),
    acked,
    errors,
    firstError,
    routerCpu: (100 * routerCpu) / seconds,
    generatorCpu: (100 * generatorCpu) / seconds,
    otherCpu: (100 * Math.max(0, machine - routerCpu - generatorCpu)) / seconds,
    lastAcked,
  };
}

export interface HandoffOptions {
  url: string;
  realm: string;
  warmup: number;
  handoffs: number;
  /** a hand-off that takes longer than this fails the scenario */
  timeoutMs: number;
}

export interface HandoffResult {
  count: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
  /** the holder's release publish to its own PUBLISHED */
  releaseP50: number;
  /** every acquisition's Publication ID larger than the previous one (a fencing token) */
  tokensIncreasing: boolean;
  error: string | undefined;
  /** % of one core over the measured hand-offs */
  routerCpu: number;
  otherCpu: number;
}

interface Acked {
  err: string | undefined;
  id: number;
  at: number;
}

function ackedPublish(
  c: StoreSyncClient,
  topic: string,
  args: unknown[] | undefined,
  options: Record<string, unknown>,
): Promise<Acked> {
  return new Promise((resolve) => c.publish(topic, args, options, (err, id) => resolve({ err, id, at: performance.now() })));
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

const LOCK_KEY = 'bench.lock';
const lockOptions = (): Record<string, unknown> => ({ retain: true, when: null, watch: true, will: null });

export async function runHandoff(o: HandoffOptions, probe: Probe): Promise<HandoffResult> {
  const a = await StoreSyncClient.connect(o.url, o.realm);
  const b = await StoreSyncClient.connect(o.url, o.realm);
  const hist = new LatencyHistogram();
  const release = new LatencyHistogram();
  let tokensIncreasing = true;
  let error: string | undefined;
  let r0 = 0;
  let m0 = 0;
  let g0 = process.cpuUsage();
  let t0Measure = 0;
  try {
    const first = await within(
      ackedPublish(a, LOCK_KEY, [{ owner: a.sessionId }], lockOptions()),
      o.timeoutMs,
      'the first acquisition',
    );
    if (first.err !== undefined) throw new Error(`first acquisition: ${first.err}`);
    let lastToken = first.id;
    let holder = a;
    let waiter = b;
    for (let i = 0; i < o.warmup + o.handoffs; i++) {
      if (i === o.warmup) {
        r0 = probe.routerCpuSeconds();
        m0 = probe.machineCpuSeconds();
        g0 = process.cpuUsage();
        t0Measure = performance.now();
      }
      const acquired = ackedPublish(waiter, LOCK_KEY, [{ owner: waiter.sessionId, i }], lockOptions());
      const fence = await within(ackedPublish(waiter, 'bench.fence', [i], {}), o.timeoutMs, 'the fence publish');
      if (fence.err !== undefined) throw new Error(`fence: ${fence.err}`);
      const t0 = performance.now();
      const released = ackedPublish(holder, LOCK_KEY, [], { retain: true });
      const got = await within(acquired, o.timeoutMs, `hand-off ${i}`);
      if (got.err !== undefined) throw new Error(`hand-off ${i}: ${got.err}`);
      const rel = await within(released, o.timeoutMs, `release ${i}`);
      if (rel.err !== undefined) throw new Error(`release ${i}: ${rel.err}`);
      if (got.id <= lastToken) tokensIncreasing = false;
      lastToken = got.id;
      if (i >= o.warmup) {
        hist.record(got.at - t0);
        release.record(rel.at - t0);
      }
      [holder, waiter] = [waiter, holder];
    }
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
  }
  const seconds = (performance.now() - t0Measure) / 1000;
  const g = process.cpuUsage(g0);
  const routerCpu = probe.routerCpuSeconds() - r0;
  const other = probe.machineCpuSeconds() - m0 - routerCpu - (g.user + g.system) / 1e6;
  await Promise.all([a.close(), b.close()]);
  const measured = t0Measure > 0 && seconds > 0;
  return {
    count: hist.count,
    p50: hist.quantileMs(0.5),
    p99: hist.quantileMs(0.99),
    max: hist.maxMs(),
    mean: hist.meanMs(),
    releaseP50: release.quantileMs(0.5),
    tokensIncreasing,
    error,
    routerCpu: measured ? (100 * routerCpu) / seconds : NaN,
    otherCpu: measured ? (100 * Math.max(0, other)) / seconds : NaN,
  };
}
