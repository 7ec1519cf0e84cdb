/**
 * The load the WAMP benchmark puts on a router: pub/sub fan-out and RPC, closed loop
 * (saturating) or at a fixed rate.
 *
 * Closed loop: each publisher (caller) keeps at most `window` messages in flight, a
 * message being in flight until every subscriber has it (the result is back). So the
 * router is kept saturated while its queues stay bounded, and no router under test
 * has a reason to drop anything: every loss counted here is a real loss.
 *
 * Fixed rate (`rate` set): open loop instead; every millisecond the publishers (callers)
 * send what is due at `rate` messages/s, still capped by `window` (a router that falls
 * behind then shows as an achieved rate below the target). This is for comparing
 * latency at the same load, which the saturated closed loop cannot do: there latency
 * is mostly the window divided by the throughput.
 *
 * Sends are issued in batches, once per event-loop turn (the client corks each turn's
 * sends into one write per connection), so the generator's cost per message stays small.
 *
 * Latency: the publisher (caller) writes the time in whole microseconds (`nowUs`) into
 * the payload; publisher and subscriber live in this process, so the clocks are the
 * same. Integers, so the raw EVENT reader below never has to parse a fraction.
 *
 * Event payload: Arguments = [MARK + padding, publisher, seq, sentAt]. Both routers
 * pass Arguments through as they came, so with JSON the subscriber finds MARK in the
 * raw EVENT frame and reads the three numbers after it (see `readEventTail`) instead of
 * parsing the frame; anything it cannot read that way falls back to a full parse.
 */
import { performance } from 'node:perf_hooks';
import { LatencyHistogram } from './latency-histogram';
import type { SerializerName } from './wamp-client';
import { WampClient } from './wamp-client';

export interface Probe {
  /** CPU seconds the router process has used so far */
  routerCpuSeconds(): number;
  /** CPU seconds every process on the machine has used so far */
  machineCpuSeconds(): number;
  /** called as the measured window opens and closes (e.g. to profile just that) */
  measureWindow?(open: boolean): Promise<void>;
}

export interface Timing {
  warmupMs: number;
  durationMs: number;
  /** give up waiting for in-flight messages after this long */
  drainTimeoutMs: number;
}

export interface ScenarioResult {
  /** deliveries per second in the measured window: events received by all
   *  subscribers together, or RPC results received */
  rate: number;
  p50: number;
  p99: number;
  mean: number;
  max: number;
  /** messages sent over the whole run (warm-up included) */
  sent: number;
  /** deliveries expected over the whole run: sent × subscribers, or calls */
  expected: number;
  received: number;
  /** expected − received after the drain: must be 0 */
  lost: number;
  /** events that arrived out of per-publisher order (gaps or repeats) */
  outOfOrder: number;
  /** ERROR replies and undecodable messages seen by the generator */
  errors: number;
  /** EVENTs the subscribers had to parse in full (not read raw) */
  fullParses: number;
  /** router process CPU in the measured window, % of one core */
  routerCpu: number;
  /** this (generator) process's CPU in the measured window, % of one core */
  generatorCpu: number;
  /** CPU used by everything else on the machine in the measured window, % of one core:
   *  other people's processes competing with the benchmark */
  otherCpu: number;
}

export interface PubSubConfig {
  url: string;
  serializer: SerializerName;
  publishers: number;
  subscribers: number;
  /** messages in flight per publisher */
  window: number;
  payloadBytes: number;
  /** open loop at this many publishes/s in total; closed loop when undefined */
  rate?: number;
}

export interface RpcConfig {
  url: string;
  serializer: SerializerName;
  callers: number;
  /** calls in flight per caller */
  window: number;
  payloadBytes: number;
  /** open loop at this many calls/s in total; closed loop when undefined */
  rate?: number;
}

const TOPIC = 'bench.fanout';
const PROCEDURE = 'bench.echo';
const MARK = '~bench~';
const MARK_BYTES = Buffer.from('"' + MARK);

/** Index just past the number the last `readInteger` call read. */
let numberEnd = 0;

/** Parses the non-negative JSON integer at data[i..] and sets `numberEnd`; NaN if
 *  there is none (or it goes on as a fraction or exponent). No allocation. */
function readInteger(data: Buffer, i: number): number {
  const start = i;
  let v = 0;
  let c = data[i];
  while (c !== undefined && c >= 0x30 && c <= 0x39) {
    v = v * 10 + (c - 0x30);
    c = data[++i];
  }
  if (i === start || c === 0x2e || c === 0x65 || c === 0x45) return NaN;
  numberEnd = i;
  return v;
}

/** Reads `,publisher,seq,sentAt]` after the padding string of an EVENT frame. */
export function readEventTail(data: Buffer, padLength: number, out: Float64Array): boolean {
  const at = data.indexOf(MARK_BYTES);
  if (at < 0) return false;
  let i = at + MARK_BYTES.length + padLength;
  if (data[i] !== 0x22 || data[i + 1] !== 0x2c) return false; // '"' ','
  i += 2;
  for (let k = 0; k < 3; k++) {
    const v = readInteger(data, i);
    if (Number.isNaN(v)) return false;
    out[k] = v;
    i = numberEnd;
    if (data[i] !== (k < 2 ? 0x2c : 0x5d)) return false; // ',' then ']'
    i++;
  }
  return true;
}

function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** performance.now() in whole microseconds */
function nowUs(): number {
  return Math.round(performance.now() * 1000);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Runs the warm-up / measure / drain phases shared by both scenarios. */
async function phases(
  timing: Timing,
  probe: Probe,
  ops: {
    start(): void;
    measure(on: boolean): void;
    stop(): void;
    delivered(): number;
    done(): boolean;
  },
): Promise<{ rate: number; routerCpu: number; generatorCpu: number; otherCpu: number }> {
  ops.start();
  await sleep(timing.warmupMs);
  await probe.measureWindow?.(true);
  const t0 = performance.now();
  const d0 = ops.delivered();
  const g0 = cpuNow();
  const r0 = probe.routerCpuSeconds();
  const m0 = probe.machineCpuSeconds();
  ops.measure(true);
  await sleep(timing.durationMs);
  ops.measure(false);
  const t1 = performance.now();
  const d1 = ops.delivered();
  const g1 = cpuNow();
  const r1 = probe.routerCpuSeconds();
  const m1 = probe.machineCpuSeconds();
  ops.stop();
  await probe.measureWindow?.(false);
  const deadline = performance.now() + timing.drainTimeoutMs;
  while (!ops.done() && performance.now() < deadline) await sleep(10);
  const secs = (t1 - t0) / 1000;
  const pct = (cpuSecs: number): number => (100 * cpuSecs) / secs;
  return {
    rate: (d1 - d0) / secs,
    routerCpu: pct(r1 - r0),
    generatorCpu: pct(g1 - g0),
    otherCpu: Math.max(0, pct(m1 - m0 - (r1 - r0) - (g1 - g0))),
  };
}

/** One sender of the load: a publisher or a caller. */
interface Source {
  /** how many more it may send now (window minus in flight) */
  credit(): number;
  /** sends n messages stamped `nowUs` */
  send(n: number, nowUs: number): void;
}

/**
 * Drives the sources: closed loop (send all credit once per turn in which something
 * completed) or open loop at a fixed total rate (a 1 ms tick sends what is due).
 */
class Pump {
  private running = false;
  private scheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private startedUs = 0;
  private sent = 0;
  private next = 0;

  constructor(
    private readonly sources: Source[],
    private readonly rate: number | undefined,
  ) {}

  start(): void {
    this.running = true;
    if (this.rate === undefined) {
      this.completed();
      return;
    }
    this.startedUs = nowUs();
    this.timer = setInterval(() => this.tick(), 1);
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearInterval(this.timer);
  }

  /** A message completed (delivered everywhere, or answered): credit is back. */
  completed(): void {
    if (this.rate !== undefined || this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.fill);
  }

  private readonly fill = (): void => {
    this.scheduled = false;
    if (!this.running) return;
    const now = nowUs();
    for (const src of this.sources) {
      const n = src.credit();
      if (n > 0) src.send(n, now);
    }
  };

  private tick(): void {
    if (!this.running) return;
    const now = nowUs();
    let due = Math.floor(((now - this.startedUs) * this.rate!) / 1e6) - this.sent;
    // round robin, one at a time, so every source gets its share of each tick
    let blocked = 0;
    while (due > 0 && blocked < this.sources.length) {
      const src = this.sources[this.next]!;
      this.next = (this.next + 1) % this.sources.length;
      if (src.credit() <= 0) {
        blocked++;
        continue;
      }
      blocked = 0;
      src.send(1, now);
      this.sent++;
      due--;
    }
  }
}

export async function runPubSub(cfg: PubSubConfig, timing: Timing, probe: Probe): Promise<ScenarioResult> {
  const S = cfg.subscribers;
  const P = cfg.publishers;
  const pad = MARK + 'x'.repeat(cfg.payloadBytes);
  const hist = new LatencyHistogram();
  const published = new Float64Array(P);
  const delivered = new Float64Array(P); // summed over subscribers
  const lastSeq = Array.from({ length: S }, () => new Float64Array(P).fill(-1));
  let totalDelivered = 0;
  let outOfOrder = 0;
  let fullParses = 0;
  let measuring = false;

  const subs = await Promise.all(
    Array.from({ length: S }, () => WampClient.connect({ url: cfg.url, realm: 'realm1', serializer: cfg.serializer })),
  );
  const pubs = await Promise.all(
    Array.from({ length: P }, () => WampClient.connect({ url: cfg.url, realm: 'realm1', serializer: cfg.serializer })),
  );

  const pump = new Pump(
    pubs.map((c, p) => ({
      // in flight = published − (deliveries / S), counted in whole messages
      credit: () => cfg.window - (published[p]! - Math.floor(delivered[p]! / S)),
      send: (n, now) => {
        while (n-- > 0) {
          c.publish(TOPIC, [pad, p, published[p]!, now]);
          published[p]!++;
        }
      },
    })),
    cfg.rate,
  );

  const onEvent = (s: number, p: number, seq: number, t: number): void => {
    const last = lastSeq[s]!;
    if (seq !== last[p]! + 1) outOfOrder++;
    last[p] = seq;
    delivered[p]!++;
    totalDelivered++;
    if (measuring) hist.record((nowUs() - t) / 1000);
    pump.completed();
  };
  const tail = new Float64Array(3);
  const padLength = pad.length - MARK.length;
  await Promise.all(
    subs.map((c, s) => {
      c.rawEvents = (data) => {
        if (!readEventTail(data, padLength, tail)) return false;
        onEvent(s, tail[0]!, tail[1]!, tail[2]!);
        return true;
      };
      return c.subscribe(TOPIC, (args) => {
        fullParses++;
        onEvent(s, args?.[1] as number, args?.[2] as number, args?.[3] as number);
      });
    }),
  );
  // a subscription is in place once SUBSCRIBED is back; give the router a beat anyway
  await sleep(50);

  const totalPublished = (): number => published.reduce((a, b) => a + b, 0);
  const ph = await phases(timing, probe, {
    start: () => pump.start(),
    measure: (on) => (measuring = on),
    stop: () => pump.stop(),
    delivered: () => totalDelivered,
    done: () => totalDelivered >= totalPublished() * S,
  });
  const sent = totalPublished();
  const errors = [...subs, ...pubs].reduce((a, c) => a + c.errors, 0);
  await Promise.all([...subs, ...pubs].map((c) => c.close()));
  return {
    rate: ph.rate,
    p50: hist.quantileMs(0.5),
    p99: hist.quantileMs(0.99),
    mean: hist.meanMs(),
    max: hist.maxMs(),
    sent,
    expected: sent * S,
    received: totalDelivered,
    lost: sent * S - totalDelivered,
    outOfOrder,
    errors,
    fullParses,
    routerCpu: ph.routerCpu,
    generatorCpu: ph.generatorCpu,
    otherCpu: ph.otherCpu,
  };
}

export async function runRpc(cfg: RpcConfig, timing: Timing, probe: Probe): Promise<ScenarioResult> {
  const C = cfg.callers;
  const pad = 'x'.repeat(cfg.payloadBytes);
  const hist = new LatencyHistogram();
  const issued = new Float64Array(C);
  const done = new Float64Array(C);
  let totalDone = 0;
  let measuring = false;

  const callee = await WampClient.connect({ url: cfg.url, realm: 'realm1', serializer: cfg.serializer });
  // the callee echoes its arguments; the client corks the YIELDs of one read together
  await callee.register(PROCEDURE, (args) => args ?? []);
  const callers = await Promise.all(
    Array.from({ length: C }, () => WampClient.connect({ url: cfg.url, realm: 'realm1', serializer: cfg.serializer })),
  );
  await sleep(50);

  const pump = new Pump(
    callers.map((c, i) => {
      const onResult = (args: unknown[] | undefined): void => {
        const t = args?.[1];
        done[i]!++;
        totalDone++;
        if (measuring && typeof t === 'number') hist.record((nowUs() - t) / 1000);
        pump.completed();
      };
      return {
        credit: () => cfg.window - (issued[i]! - done[i]!),
        send: (n: number, now: number) => {
          while (n-- > 0) {
            c.call(PROCEDURE, [i, now, pad], onResult);
            issued[i]!++;
          }
        },
      };
    }),
    cfg.rate,
  );

  const totalIssued = (): number => issued.reduce((a, b) => a + b, 0);
  const ph = await phases(timing, probe, {
    start: () => pump.start(),
    measure: (on) => (measuring = on),
    stop: () => pump.stop(),
    delivered: () => totalDone,
    done: () => totalDone >= totalIssued(),
  });
  const sent = totalIssued();
  const all = [callee, ...callers];
  const errors = all.reduce((a, c) => a + c.errors, 0);
  await Promise.all(all.map((c) => c.close()));
  return {
    rate: ph.rate,
    p50: hist.quantileMs(0.5),
    p99: hist.quantileMs(0.99),
    mean: hist.meanMs(),
    max: hist.maxMs(),
    sent,
    expected: sent,
    received: totalDone,
    lost: sent - totalDone,
    outOfOrder: 0,
    errors,
    fullParses: sent,
    routerCpu: ph.routerCpu,
    generatorCpu: ph.generatorCpu,
    otherCpu: ph.otherCpu,
  };
}
