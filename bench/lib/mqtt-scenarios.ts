/**
 * The load bench/mqtt-bench.ts puts on a broker: P publishers and S subscribers on
 * separate connections of the lean client (mqtt-lean-client.ts), in this process.
 *
 * Topics. `pair` (the default): publisher i publishes to `bench/p<i>`, which only
 * subscriber i subscribes to, so P independent flows and one delivery per message.
 * `shared`: every publisher publishes to `bench/all` and every subscriber subscribes
 * to it, so each message fans out to S subscribers.
 *
 * Payload (at least 16 bytes, padded with 'x'): [0] publisher index, [4..8) sequence
 * number (uint32 BE), [8..16) send time as performance.now() milliseconds (float64 LE).
 * Publishers and subscribers share this process's clock, so latency is receive time
 * minus that stamp. Each subscriber keeps a bitset of the sequence numbers it saw per
 * publisher: duplicates, reordering and loss are counted exactly.
 *
 * Closed loop, QoS 0: a publisher keeps at most `window` messages in flight, in flight
 * meaning published but not yet received by all its subscribers (judged by the highest
 * sequence number they saw, so a lost message does not hold the window shut; a window
 * with no progress for `stallMs` is written off and counted as a stall).
 *
 * Closed loop, QoS 1: a publisher keeps at most `window` PUBLISHes unacknowledged
 * (PUBACK from the broker); subscribers PUBACK every delivery. As brokers acknowledge
 * a publication once routed, not once delivered, the publisher also holds back when
 * more than `deliveryCap` of its messages are routed but not yet delivered: without
 * that cap a broker that reads faster than it writes would grow its per-subscriber
 * queue without end and hit its queue limit (Mosquitto and Gatehouse drop past 1,000
 * queued messages by default), which would measure that limit, not throughput.
 *
 * Closed loops top a window up once at least 1/8 of it is free, in one write: a
 * generator that wrote each freed slot on its own would spend its core on write calls
 * (and be the bottleneck) against a broker that answers one packet per TCP segment.
 *
 * Open loop: each publisher sends at rate/P messages per second on a 1 ms timer,
 * whatever the broker does (QoS 1 acks are counted, never waited for).
 */
import { performance } from 'node:perf_hooks';
import { LatencyHistogram } from './latency-histogram';
import { LeanMqttClient, publishTemplate, type PublishTemplate } from './mqtt-lean-client';

export type Topology = 'pair' | 'shared';

export type LoadMode = { kind: 'closed'; window: number; deliveryCap: number } | { kind: 'open'; rate: number };

export interface LoadConfig {
  port: number;
  publishers: number;
  subscribers: number;
  topology: Topology;
  payloadBytes: number;
  qos: 0 | 1;
  mode: LoadMode;
  /** a closed-loop window without progress this long is written off (QoS 0) */
  stallMs: number;
  /** distinguishes client ids between runs */
  tag: string;
}

export interface Timing {
  warmupMs: number;
  durationMs: number;
  /** give up waiting for messages still in flight after this long without progress */
  drainIdleMs: number;
}

export interface Probe {
  /** CPU seconds the broker process has used so far */
  brokerCpuSeconds(): number;
  /** CPU seconds every process on the machine has used so far */
  machineCpuSeconds(): number;
  /** broker RSS now, MiB (sampled during the run for the peak) */
  brokerRssMiB(): number;
  /** called as the measured window opens and closes (to profile just that) */
  measureWindow?(open: boolean): Promise<void>;
}

export interface LoadResult {
  /** unique deliveries per second received by all subscribers in the measured window */
  rate: number;
  /** publications per second sent in the measured window */
  publishRate: number;
  p50: number;
  p99: number;
  p999: number;
  mean: number;
  max: number;
  /** messages published over the whole run (warm-up included) */
  sent: number;
  /** deliveries expected: sent × subscribers of each message */
  expected: number;
  /** unique deliveries received */
  received: number;
  /** expected − received after the drain */
  lost: number;
  /** deliveries of a sequence number a subscriber already had */
  duplicates: number;
  /** deliveries with a lower sequence number than one already received */
  outOfOrder: number;
  /** QoS 0 closed loop: windows written off after no progress for stallMs */
  stalls: number;
  /** QoS 1: publications never acknowledged by the broker */
  unacked: number;
  /** malformed payloads, unexpected PUBACKs, unexpected control packets */
  errors: number;
  /** broker, generator (this process) and everything else: % of one core in the window */
  brokerCpu: number;
  generatorCpu: number;
  /** the kernel's share of generatorCpu (system time: socket reads and writes) */
  generatorSysCpu: number;
  otherCpu: number;
  /** highest broker RSS sampled during the run, MiB */
  sampledPeakRssMiB: number;
}

const HEADER_BYTES = 16;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function sysCpuNow(): number {
  return process.cpuUsage().system / 1e6;
}

/** Growable bitset of sequence numbers seen. */
class SeqSet {
  private bits = new Uint8Array(1 << 16);

  /** Marks `seq`; true when it was not marked before. */
  add(seq: number): boolean {
    const byte = seq >>> 3;
    if (byte >= this.bits.length) {
      let n = this.bits.length * 2;
      while (n <= byte) n *= 2;
      const b = new Uint8Array(n);
      b.set(this.bits);
      this.bits = b;
    }
    const mask = 1 << (seq & 7);
    const had = (this.bits[byte]! & mask) !== 0;
    this.bits[byte] = this.bits[byte]! | mask;
    return !had;
  }
}

export async function runLoad(cfg: LoadConfig, timing: Timing, probe: Probe): Promise<LoadResult> {
  const P = cfg.publishers;
  const S = cfg.subscribers;
  if (cfg.topology === 'pair' && P !== S) throw new Error('topology pair needs as many subscribers as publishers');
  if (cfg.payloadBytes < HEADER_BYTES) throw new Error(`payload must be at least ${HEADER_BYTES} bytes`);
  const fanout = cfg.topology === 'pair' ? 1 : S;
  const topicOf = (p: number): string => (cfg.topology === 'pair' ? `bench/p${p}` : 'bench/all');
  /** subscribers of publisher p's messages */
  const subsOf: number[][] = Array.from({ length: P }, (_x, p) =>
    cfg.topology === 'pair' ? [p] : Array.from({ length: S }, (_y, s) => s),
  );

  const hist = new LatencyHistogram();
  const published = new Float64Array(P);
  const highest = Array.from({ length: S }, () => new Float64Array(P).fill(-1));
  const seen = Array.from({ length: S }, () => Array.from({ length: P }, () => new SeqSet()));
  const writtenOff = new Float64Array(P);
  const lastProgress = new Float64Array(P).fill(-1);
  let received = 0;
  let duplicates = 0;
  let outOfOrder = 0;
  let stalls = 0;
  let errors = 0;
  let measuring = false;
  let running = false;

  // QoS 1 publisher state
  const unacked = new Float64Array(P);
  const inflightIds = Array.from({ length: P }, () => new Uint8Array(65536));
  const nextId = new Float64Array(P).fill(1);
  let acked = 0;

  const subs: LeanMqttClient[] = [];
  const pubs: LeanMqttClient[] = [];
  try {
    for (let s = 0; s < S; s++) subs.push(await LeanMqttClient.connect(cfg.port, `${cfg.tag}-s${s}`));
    for (let p = 0; p < P; p++) pubs.push(await LeanMqttClient.connect(cfg.port, `${cfg.tag}-p${p}`));
  } catch (err) {
    await Promise.all([...subs, ...pubs].map((c) => c.close()));
    throw err;
  }
  const templates: PublishTemplate[] = Array.from({ length: P }, (_x, p) => {
    const t = publishTemplate(topicOf(p), cfg.qos, cfg.payloadBytes);
    t.bytes.fill(0x78, t.payloadAt + HEADER_BYTES); // 'x' padding
    t.bytes[t.payloadAt] = p;
    return t;
  });

  let pumpScheduled = false;
  const schedule = (): void => {
    if (!pumpScheduled && running && cfg.mode.kind === 'closed') {
      pumpScheduled = true;
      setImmediate(pump);
    }
  };

  for (let s = 0; s < S; s++) {
    const client = subs[s]!;
    const high = highest[s]!;
    const sets = seen[s]!;
    client.onPublish = (data, start, end, qos, id) => {
      if (qos === 1) client.puback(id);
      const p = data[start]!;
      if (end - start !== cfg.payloadBytes || p >= P) {
        errors++;
        return;
      }
      const seq = data.readUInt32BE(start + 4);
      if (!sets[p]!.add(seq)) {
        duplicates++;
        return;
      }
      received++;
      if (seq < high[p]!) outOfOrder++;
      else high[p] = seq;
      if (measuring) hist.record(performance.now() - data.readDoubleLE(start + 8));
      schedule();
    };
    client.onPuback = () => errors++;
  }
  for (let p = 0; p < P; p++) {
    const flags = inflightIds[p]!;
    pubs[p]!.onPuback = (id) => {
      if (flags[id] !== 1) {
        errors++;
        return;
      }
      flags[id] = 0;
      unacked[p]!--;
      acked++;
      schedule();
    };
    pubs[p]!.onPublish = () => errors++;
  }
  await Promise.all(
    subs.map((c, s) => {
      if (cfg.topology === 'pair') return c.subscribe(topicOf(s), cfg.qos);
      return c.subscribe('bench/all', cfg.qos);
    }),
  );
  // SUBACK means the subscription is in place; give every broker a beat anyway
  await sleep(50);

  /** The lowest "received up to" of publisher p's subscribers (next expected seq). */
  const progress = (p: number): number => {
    let min = Infinity;
    for (const s of subsOf[p]!) {
      const h = highest[s]![p]! + 1;
      if (h < min) min = h;
    }
    return Math.max(min, writtenOff[p]!);
  };

  /** Appends `count` publications of publisher p; returns how many it could. */
  const publish = (p: number, count: number, now: number): number => {
    const c = pubs[p]!;
    const t = templates[p]!;
    const flags = inflightIds[p]!;
    let n = 0;
    for (; n < count; n++) {
      let id = 0;
      if (cfg.qos === 1) {
        if (unacked[p]! >= 65000) break;
        id = nextId[p]!;
        while (flags[id] === 1) id = id >= 65535 ? 1 : id + 1;
        nextId[p] = id >= 65535 ? 1 : id + 1;
        flags[id] = 1;
        unacked[p]!++;
      }
      const at = c.appendPublish(t, id);
      const out = c.out();
      out.writeUInt32BE(published[p]! >>> 0, at + 4);
      out.writeDoubleLE(now, at + 8);
      published[p]!++;
    }
    return n;
  };

  const pump = (): void => {
    pumpScheduled = false;
    if (!running || cfg.mode.kind !== 'closed') return;
    const { window, deliveryCap } = cfg.mode;
    const minBatch = Math.max(1, Math.floor(Math.min(window, deliveryCap) / 8));
    const now = performance.now();
    for (let p = 0; p < P; p++) {
      const undelivered = published[p]! - progress(p);
      const credit = cfg.qos === 0 ? window - undelivered : Math.min(window - unacked[p]!, deliveryCap - undelivered);
      if (credit >= minBatch) {
        publish(p, credit, now);
        pubs[p]!.flush();
      }
    }
  };

  // QoS 0 closed loop: a window with no progress for stallMs is written off
  const watchdog = setInterval(() => {
    if (!running || cfg.mode.kind !== 'closed') return;
    for (let p = 0; p < P; p++) {
      const pr = progress(p);
      if (pr === lastProgress[p] && published[p]! > pr) {
        if (cfg.qos === 0) {
          writtenOff[p] = published[p]!;
          stalls++;
          schedule();
        }
      }
      lastProgress[p] = pr;
    }
  }, cfg.stallMs);

  // open loop: a 1 ms timer sends what the schedule says is due
  let openTimer: NodeJS.Timeout | undefined;
  let openT0 = 0;
  const openTick = (): void => {
    if (!running || cfg.mode.kind !== 'open') return;
    const now = performance.now();
    const due = ((now - openT0) / 1000) * (cfg.mode.rate / P);
    for (let p = 0; p < P; p++) {
      const n = Math.floor(due) - published[p]!;
      if (n > 0) publish(p, Math.min(n, 10_000), now);
      pubs[p]!.flush();
    }
  };

  const start = (): void => {
    running = true;
    if (cfg.mode.kind === 'closed') schedule();
    else {
      openT0 = performance.now();
      openTimer = setInterval(openTick, 1);
    }
  };

  let sampledPeak = 0;
  const rssTimer = setInterval(() => {
    try {
      sampledPeak = Math.max(sampledPeak, probe.brokerRssMiB());
    } catch {
      // the broker is gone; the run will tell
    }
  }, 100);

  const totalPublished = (): number => published.reduce((a, b) => a + b, 0);
  let window: {
    rate: number;
    publishRate: number;
    brokerCpu: number;
    generatorCpu: number;
    generatorSysCpu: number;
    otherCpu: number;
  };
  try {
    start();
    await sleep(timing.warmupMs);
    await probe.measureWindow?.(true);
    const t0 = performance.now();
    const d0 = received;
    const s0 = totalPublished();
    const g0 = cpuNow();
    const k0 = sysCpuNow();
    const b0 = probe.brokerCpuSeconds();
    const m0 = probe.machineCpuSeconds();
    measuring = true;
    await sleep(timing.durationMs);
    measuring = false;
    const t1 = performance.now();
    const d1 = received;
    const s1 = totalPublished();
    const g1 = cpuNow();
    const k1 = sysCpuNow();
    const b1 = probe.brokerCpuSeconds();
    const m1 = probe.machineCpuSeconds();
    running = false;
    if (openTimer) clearInterval(openTimer);
    await probe.measureWindow?.(false);
    const secs = (t1 - t0) / 1000;
    const pct = (cpuSecs: number): number => (100 * cpuSecs) / secs;
    window = {
      rate: (d1 - d0) / secs,
      publishRate: (s1 - s0) / secs,
      brokerCpu: pct(b1 - b0),
      generatorCpu: pct(g1 - g0),
      generatorSysCpu: pct(k1 - k0),
      otherCpu: Math.max(0, pct(m1 - m0 - (b1 - b0) - (g1 - g0))),
    };
    // drain: wait while deliveries (and acks) still come in
    const expectedNow = (): number => totalPublished() * fanout;
    let last = -1;
    let lastChange = performance.now();
    for (;;) {
      const done = received >= expectedNow() && (cfg.qos === 0 || acked >= totalPublished());
      if (done) break;
      const progressMark = received + acked;
      if (progressMark !== last) {
        last = progressMark;
        lastChange = performance.now();
      } else if (performance.now() - lastChange > timing.drainIdleMs) break;
      await sleep(10);
    }
  } finally {
    running = false;
    if (openTimer) clearInterval(openTimer);
    clearInterval(watchdog);
    clearInterval(rssTimer);
  }
  const sent = totalPublished();
  errors += [...subs, ...pubs].reduce((a, c) => a + c.errors, 0);
  await Promise.all([...subs, ...pubs].map((c) => c.close()));
  return {
    ...window,
    p50: hist.quantileMs(0.5),
    p99: hist.quantileMs(0.99),
    p999: hist.quantileMs(0.999),
    mean: hist.meanMs(),
    max: hist.maxMs(),
    sent,
    expected: sent * fanout,
    received,
    lost: sent * fanout - received,
    duplicates,
    outOfOrder,
    stalls,
    unacked: cfg.qos === 1 ? sent - acked : 0,
    errors,
    sampledPeakRssMiB: sampledPeak,
  };
}
