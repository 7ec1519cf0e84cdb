/**
 * The load bench/stomp-bench.ts puts on a STOMP broker: producers and consumers on
 * separate connections of the lean client (stomp-lean-client.ts), in this process.
 *
 * Body (at least 16 bytes, padded with 'x', framed by content-length): [0] producer
 * index, [4..8) sequence number (uint32 BE), [8..16) send time as performance.now()
 * milliseconds (float64 LE). Producers and consumers share this process's clock, so
 * latency is receive time minus that stamp. A bitset per producer of the sequence
 * numbers seen counts duplicates, reordering and loss exactly.
 *
 * Topic ('topic'): producer i SENDs to /topic/bench.p<i>, which only consumer i
 * SUBSCRIBEs to (ack auto): P independent flows, one delivery per message, no receipts.
 *   closed loop: a producer keeps at most `window` messages in flight, in flight meaning
 *   sent but not yet received (judged by the highest sequence number its consumer saw,
 *   so a lost message does not hold the window shut; a window with no progress for
 *   `stallMs` is written off and counted as a stall).
 *
 * Queue ('queue'): every producer SENDs to /queue/bench with `persistent:true` and a
 * `receipt`; C consumers SUBSCRIBE to it with ack client-individual and prefetch-count
 * N and ACK every MESSAGE (ACKs of one read leave in one write). A message may reach any
 * consumer; the bitsets are shared, so a message delivered twice is a duplicate.
 *   closed loop: a producer keeps at most `window` SENDs without their RECEIPT, and also
 *   holds back while more than `backlog` of its messages are sent but not yet received:
 *   a broker that takes SENDs faster than it delivers would otherwise grow the queue
 *   without end (Gatehouse refuses SENDs past stomp.maxQueueMessages, 100,000 by default),
 *   which would measure that limit, not throughput.
 *
 * Closed loops top a window up once at least 1/8 of it is free, in one write.
 * Open loop (either kind): each producer sends rate/P messages per second on a 1 ms
 * timer, whatever the broker does (receipts are counted, never waited for).
 */
import { performance } from 'node:perf_hooks';
import { LatencyHistogram } from './latency-histogram';
import { LeanStompClient, sendTemplate, type ConnectOptions, type SendTemplate } from './stomp-lean-client';

export type Kind = 'topic' | 'queue';

export type LoadMode = { kind: 'closed'; window: number; backlog: number } | { kind: 'open'; rate: number };

export interface LoadConfig {
  connect: ConnectOptions;
  kind: Kind;
  producers: number;
  consumers: number;
  bodyBytes: number;
  /** queue: prefetch-count of each consumer */
  prefetch: number;
  mode: LoadMode;
  /** a topic closed-loop window without progress this long is written off */
  stallMs: number;
}

export interface Timing {
  warmupMs: number;
  durationMs: number;
  /** give up waiting for messages still in flight after this long without progress */
  drainIdleMs: number;
}

export interface Probe {
  /** CPU seconds the broker has used so far */
  brokerCpuSeconds(): number;
  /** CPU seconds every process on the machine has used so far */
  machineCpuSeconds(): number;
  /** broker RSS now, MiB (sampled during the run for the peak) */
  brokerRssMiB(): number;
  /** called as the measured window opens and closes (to profile just that) */
  measureWindow?(open: boolean): Promise<void>;
}

export interface LoadResult {
  /** unique messages received by all consumers per second of the measured window */
  rate: number;
  /** SENDs per second in the measured window */
  sendRate: number;
  p50: number;
  p99: number;
  p999: number;
  mean: number;
  max: number;
  /** messages sent over the whole run (warm-up included) */
  sent: number;
  /** unique messages received */
  received: number;
  /** sent − received after the drain */
  lost: number;
  /** deliveries of a sequence number already received */
  duplicates: number;
  /** MESSAGE frames marked redelivered:true */
  redelivered: number;
  /** deliveries with a lower sequence number than one the same consumer already received from that producer */
  outOfOrder: number;
  /** topic closed loop: windows written off after no progress for stallMs */
  stalls: number;
  /** queue: SENDs whose RECEIPT never came */
  unreceipted: number;
  /** ACK frames written (queue) */
  acks: number;
  /** malformed bodies, unexpected receipts, ERROR frames */
  errors: number;
  /** the first ERROR frame's text, if any */
  firstError: string | undefined;
  /** broker, generator (this process) and everything else: % of one core in the window */
  brokerCpu: number;
  generatorCpu: number;
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

/** Growable bitset of sequence numbers. */
class SeqSet {
  private bits = new Uint8Array(1 << 16);

  private grow(byte: number): void {
    let n = this.bits.length * 2;
    while (n <= byte) n *= 2;
    const b = new Uint8Array(n);
    b.set(this.bits);
    this.bits = b;
  }

  /** Marks `seq`; true when it was not marked before. */
  add(seq: number): boolean {
    const byte = seq >>> 3;
    if (byte >= this.bits.length) this.grow(byte);
    const mask = 1 << (seq & 7);
    const had = (this.bits[byte]! & mask) !== 0;
    this.bits[byte] = this.bits[byte]! | mask;
    return !had;
  }

  /** Unmarks `seq`; true when it was marked. */
  delete(seq: number): boolean {
    const byte = seq >>> 3;
    if (byte >= this.bits.length) return false;
    const mask = 1 << (seq & 7);
    const had = (this.bits[byte]! & mask) !== 0;
    this.bits[byte] = this.bits[byte]! & ~mask;
    return had;
  }
}

export async function runLoad(cfg: LoadConfig, timing: Timing, probe: Probe): Promise<LoadResult> {
  const P = cfg.producers;
  const C = cfg.consumers;
  const queue = cfg.kind === 'queue';
  if (!queue && P !== C) throw new Error('topic: one consumer per producer (--producers equal to --consumers)');
  if (cfg.bodyBytes < HEADER_BYTES) throw new Error(`body must be at least ${HEADER_BYTES} bytes`);
  // every run has a fresh broker, so fixed names
  const destinationOf = (p: number): string => (queue ? '/queue/bench' : `/topic/bench.p${p}`);

  const hist = new LatencyHistogram();
  const sent = new Float64Array(P);
  const receivedFrom = new Float64Array(P);
  /** highest sequence number consumer c received from producer p: reordering is judged per consumer */
  const highest = Array.from({ length: C }, () => new Float64Array(P).fill(-1));
  const seen = Array.from({ length: P }, () => new SeqSet());
  const awaitingReceipt = Array.from({ length: P }, () => new SeqSet());
  const unreceipted = new Float64Array(P);
  const writtenOff = new Float64Array(P);
  const lastProgress = new Float64Array(P).fill(-1);
  let received = 0;
  let receipts = 0;
  let duplicates = 0;
  let redelivered = 0;
  let outOfOrder = 0;
  let stalls = 0;
  let errors = 0;
  let acks = 0;
  let measuring = false;
  let running = false;

  const consumers: LeanStompClient[] = [];
  const producers: LeanStompClient[] = [];
  try {
    for (let c = 0; c < C; c++) consumers.push(await LeanStompClient.connect(cfg.connect));
    for (let p = 0; p < P; p++) producers.push(await LeanStompClient.connect(cfg.connect));
  } catch (err) {
    await Promise.all([...consumers, ...producers].map((c) => c.close()));
    throw err;
  }
  // Receipt ids encode the producer: seq * P + p (sequence numbers stay far below 2^53 / P)
  const templates: SendTemplate[] = Array.from({ length: P }, (_x, p) =>
    sendTemplate(destinationOf(p), cfg.bodyBytes, queue ? [['persistent', 'true']] : []),
  );

  let pumpScheduled = false;
  const schedule = (): void => {
    if (!pumpScheduled && running && cfg.mode.kind === 'closed') {
      pumpScheduled = true;
      setImmediate(pump);
    }
  };

  for (let c = 0; c < C; c++) {
    const client = consumers[c]!;
    const high = highest[c]!;
    client.onMessage = (data, start, end, ackStart, ackEnd, redeliveredFlag) => {
      if (queue) {
        if (ackStart < 0) errors++;
        else {
          client.appendAck(data, ackStart, ackEnd);
          acks++;
        }
      }
      if (redeliveredFlag) redelivered++;
      const p = data[start]!;
      if (end - start !== cfg.bodyBytes || p >= P) {
        errors++;
        return;
      }
      const seq = data.readUInt32BE(start + 4);
      if (!seen[p]!.add(seq)) {
        duplicates++;
        return;
      }
      received++;
      receivedFrom[p]!++;
      if (seq < high[p]!) outOfOrder++;
      else high[p] = seq;
      if (measuring) hist.record(performance.now() - data.readDoubleLE(start + 8));
      schedule();
    };
    client.onReceipt = () => errors++;
  }
  for (let p = 0; p < P; p++) {
    const waiting = awaitingReceipt[p]!;
    producers[p]!.onReceipt = (id) => {
      const seq = Math.floor(id / P);
      if (id % P !== p || !waiting.delete(seq)) {
        errors++;
        return;
      }
      unreceipted[p]!--;
      receipts++;
      schedule();
    };
    producers[p]!.onMessage = () => errors++;
  }
  for (let c = 0; c < C; c++) {
    if (queue) {
      await consumers[c]!.subscribe(`c${c}`, destinationOf(0), [
        ['ack', 'client-individual'],
        ['prefetch-count', String(cfg.prefetch)],
      ]);
    } else {
      await consumers[c]!.subscribe(`c${c}`, destinationOf(c), [['ack', 'auto']]);
    }
  }
  // the RECEIPT means the subscription is in place; give every broker a beat anyway
  await sleep(50);

  /** Next sequence number of producer p its consumer has not seen (topic). */
  const progress = (p: number): number => Math.max(highest[p]![p]! + 1, writtenOff[p]!);

  /** Appends `count` SENDs of producer p. */
  const send = (p: number, count: number, now: number): void => {
    const c = producers[p]!;
    const t = templates[p]!;
    const waiting = awaitingReceipt[p]!;
    for (let n = 0; n < count; n++) {
      const seq = sent[p]!;
      let receipt = -1;
      if (queue) {
        receipt = seq * P + p;
        waiting.add(seq);
        unreceipted[p]!++;
      }
      const at = c.appendSend(t, receipt);
      const out = c.out();
      out[at] = p;
      out[at + 1] = 0;
      out[at + 2] = 0;
      out[at + 3] = 0;
      out.writeUInt32BE(seq >>> 0, at + 4);
      out.writeDoubleLE(now, at + 8);
      out.fill(0x78, at + HEADER_BYTES, at + cfg.bodyBytes); // 'x' padding
      sent[p]!++;
    }
  };

  const pump = (): void => {
    pumpScheduled = false;
    if (!running || cfg.mode.kind !== 'closed') return;
    const { window, backlog } = cfg.mode;
    const minBatch = Math.max(1, Math.floor(Math.min(window, backlog) / 8));
    const now = performance.now();
    for (let p = 0; p < P; p++) {
      const credit = queue
        ? Math.min(window - unreceipted[p]!, backlog - (sent[p]! - receivedFrom[p]!))
        : window - (sent[p]! - progress(p));
      if (credit >= minBatch) {
        send(p, credit, now);
        producers[p]!.flush();
      }
    }
  };

  // topic closed loop: a window with no progress for stallMs is written off
  const watchdog = setInterval(() => {
    if (!running || cfg.mode.kind !== 'closed' || queue) return;
    for (let p = 0; p < P; p++) {
      const pr = progress(p);
      if (pr === lastProgress[p] && sent[p]! > pr) {
        writtenOff[p] = sent[p]!;
        stalls++;
        schedule();
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
      const n = Math.floor(due) - sent[p]!;
      if (n > 0) send(p, Math.min(n, 10_000), now);
      producers[p]!.flush();
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

  const totalSent = (): number => sent.reduce((a, b) => a + b, 0);
  let win: Pick<LoadResult, 'rate' | 'sendRate' | 'brokerCpu' | 'generatorCpu' | 'generatorSysCpu' | 'otherCpu'>;
  try {
    running = true;
    if (cfg.mode.kind === 'closed') schedule();
    else {
      openT0 = performance.now();
      openTimer = setInterval(openTick, 1);
    }
    await sleep(timing.warmupMs);
    await probe.measureWindow?.(true);
    const t0 = performance.now();
    const d0 = received;
    const s0 = totalSent();
    const g0 = cpuNow();
    const k0 = process.cpuUsage().system / 1e6;
    const b0 = probe.brokerCpuSeconds();
    const m0 = probe.machineCpuSeconds();
    measuring = true;
    await sleep(timing.durationMs);
    measuring = false;
    const t1 = performance.now();
    const d1 = received;
    const s1 = totalSent();
    const g1 = cpuNow();
    const k1 = process.cpuUsage().system / 1e6;
    const b1 = probe.brokerCpuSeconds();
    const m1 = probe.machineCpuSeconds();
    running = false;
    if (openTimer) clearInterval(openTimer);
    await probe.measureWindow?.(false);
    const secs = (t1 - t0) / 1000;
    const pct = (cpuSecs: number): number => (100 * cpuSecs) / secs;
    win = {
      rate: (d1 - d0) / secs,
      sendRate: (s1 - s0) / secs,
      brokerCpu: pct(b1 - b0),
      generatorCpu: pct(g1 - g0),
      generatorSysCpu: pct(k1 - k0),
      otherCpu: Math.max(0, pct(m1 - m0 - (b1 - b0) - (g1 - g0))),
    };
    // drain: wait while deliveries (and receipts) still come in
    let last = -1;
    let lastChange = performance.now();
    for (;;) {
      if (received >= totalSent() && (!queue || receipts >= totalSent())) break;
      const mark = received + receipts;
      if (mark !== last) {
        last = mark;
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
  const total = totalSent();
  const clients = [...consumers, ...producers];
  // consumers last: their DISCONNECT receipt says every ACK before it was handled
  await Promise.all(producers.map((c) => c.close()));
  await Promise.all(consumers.map((c) => c.close()));
  errors += clients.reduce((a, c) => a + c.errors, 0);
  return {
    ...win,
    p50: hist.quantileMs(0.5),
    p99: hist.quantileMs(0.99),
    p999: hist.quantileMs(0.999),
    mean: hist.meanMs(),
    max: hist.maxMs(),
    sent: total,
    received,
    lost: total - received,
    duplicates,
    redelivered,
    outOfOrder,
    stalls,
    unreceipted: queue ? unreceipted.reduce((a, b) => a + b, 0) : 0,
    acks,
    errors,
    firstError: clients.map((c) => c.firstError).find((e) => e !== undefined),
    sampledPeakRssMiB: sampledPeak,
  };
}
