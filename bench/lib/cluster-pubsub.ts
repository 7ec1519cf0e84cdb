/**
 * The pub/sub part of the cluster benchmark (issue 12), shaped as a part of
 * bench/cluster-bench.ts (a function that gets the running cluster and returns rows):
 *
 * - `fan-out 10 over N nodes`: one publisher on node 1, 10 subscribers to its topic
 *   spread round-robin over the first N nodes (N = 1, 2, 3); closed loop, the publisher
 *   at most `window` publications ahead of the slowest subscriber. Rate: deliveries/s
 *   (10 per publication); every subscriber must get every event.
 * - `<rate> msg/s, same node` / `cross node`: open loop at `rate` msg/s from a publisher
 *   on node 1, one subscriber on node 1 and one on node 2, the same publications:
 *   p50/p99 from PUBLISH sent to EVENT received, both in one run.
 *
 * The lean WAMP client (bench/lib/wamp-client.ts), JSON over WebSocket, realm1.
 */
import { performance } from 'node:perf_hooks';
import { LatencyHistogram } from './latency-histogram';
import { WampClient } from './wamp-client';

export interface PubSubOptions {
  durationMs: number;
  warmupMs: number;
  /** msg/s of the latency run */
  rate: number;
  /** fan-out: publications ahead of the slowest subscriber */
  window: number;
}

/** One line of the report (bench/cluster-bench.ts's Row). */
export interface PubSubRow {
  part: string;
  scenario: string;
  /** deliveries per second; NaN when not measured */
  rate: number;
  p50Ms: number;
  p99Ms: number;
  sent: number;
  lost: number;
  errors: number;
}

const FANOUT = 10;
/** a slow NATS interest propagation or a straggler: give up waiting after this */
const SETTLE_MS = 10_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitUntil(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(5);
  }
  return true;
}

/**
 * Waits until a probe published on node 1 reaches every given subscriber: NATS has
 * propagated the nodes' interest (subscriptions travel between servers asynchronously).
 */
async function primed(pub: WampClient, topic: string, counts: () => number[]): Promise<void> {
  const ok = await waitUntil(() => {
    pub.publish(topic, ['probe']);
    return counts().every((c) => c > 0);
  }, SETTLE_MS);
  if (!ok) throw new Error(`interest in ${topic} did not reach every node`);
  await sleep(200);
}

interface FanoutResult {
  published: number;
  deliveriesPerSecond: number;
  lost: number;
}

async function fanout(wsUrls: readonly string[], spread: number, o: PubSubOptions): Promise<FanoutResult> {
  const topic = `bench.fanout.${spread}`;
  const subs: WampClient[] = [];
  const got: number[] = new Array<number>(FANOUT).fill(0);
  for (let i = 0; i < FANOUT; i++) {
    const url = wsUrls[i % spread];
    if (url === undefined) throw new Error(`fan-out over ${spread} nodes needs ${spread} nodes`);
    const c = await WampClient.connect({ url, realm: 'realm1' });
    await c.subscribe(topic, () => {
      got[i] = (got[i] ?? 0) + 1;
    });
    subs.push(c);
  }
  const pub = await WampClient.connect({ url: wsUrls[0] ?? '', realm: 'realm1' });
  await primed(pub, topic, () => got);
  await sleep(500); // stragglers of the probes
  got.fill(0);
  const minGot = (): number => Math.min(...got);
  let published = 0;
  const runFor = async (seconds: number): Promise<void> => {
    const end = performance.now() + seconds * 1000;
    while (performance.now() < end) {
      // closed loop: at most o.window ahead of the slowest subscriber
      const room = o.window - (published - minGot());
      for (let k = 0; k < Math.min(room, 200); k++) pub.publish(topic, [published++]);
      await new Promise((r) => setImmediate(r));
    }
  };
  await runFor(o.warmupMs / 1000);
  const base = got.reduce((a, b) => a + b, 0);
  const t0 = performance.now();
  await runFor(o.durationMs / 1000);
  const delivered = got.reduce((a, b) => a + b, 0) - base;
  const elapsed = performance.now() - t0;
  await waitUntil(() => minGot() >= published, SETTLE_MS);
  const lost = FANOUT * published - got.reduce((a, b) => a + b, 0);
  await Promise.all([...subs, pub].map((c) => c.close().catch(() => undefined)));
  return { published, deliveriesPerSecond: (delivered / elapsed) * 1000, lost };
}

interface LatencyResult {
  rate: number;
  sent: number;
  same: { p50: number; p99: number; lost: number };
  cross: { p50: number; p99: number; lost: number };
}

async function latency(wsUrls: readonly string[], o: PubSubOptions): Promise<LatencyResult> {
  const topic = 'bench.latency';
  const [g1, g2] = wsUrls;
  if (g1 === undefined || g2 === undefined) throw new Error('two nodes needed');
  const hist = { same: new LatencyHistogram(), cross: new LatencyHistogram() };
  const counts = { same: 0, cross: 0 };
  let recording = false;
  const subscriber = async (url: string, which: 'same' | 'cross'): Promise<WampClient> => {
    const c = await WampClient.connect({ url, realm: 'realm1' });
    await c.subscribe(topic, (args) => {
      counts[which]++;
      const t = args?.[0];
      if (recording && typeof t === 'number') hist[which].record(performance.now() - t);
    });
    return c;
  };
  const same = await subscriber(g1, 'same');
  const cross = await subscriber(g2, 'cross');
  const pub = await WampClient.connect({ url: g1, realm: 'realm1' });
  await primed(pub, topic, () => [counts.same, counts.cross]);
  await sleep(500);
  counts.same = 0;
  counts.cross = 0;

  // open loop: each 1 ms tick sends what the rate owes by now
  let sent = 0;
  const run = async (seconds: number): Promise<void> => {
    const start = performance.now();
    const base = sent;
    for (;;) {
      const now = performance.now();
      if (now - start >= seconds * 1000) break;
      const owed = Math.floor(((now - start) / 1000) * o.rate) - (sent - base);
      for (let k = 0; k < owed; k++) {
        pub.publish(topic, [performance.now()]);
        sent++;
      }
      await sleep(1);
    }
  };
  await run(o.warmupMs / 1000);
  recording = true;
  await run(o.durationMs / 1000);
  await waitUntil(() => counts.same >= sent && counts.cross >= sent, SETTLE_MS);
  recording = false;
  await Promise.all([same, cross, pub].map((c) => c.close().catch(() => undefined)));
  const q = (h: LatencyHistogram): { p50: number; p99: number } => ({ p50: h.quantileMs(0.5), p99: h.quantileMs(0.99) });
  return {
    rate: o.rate,
    sent,
    same: { ...q(hist.same), lost: sent - counts.same },
    cross: { ...q(hist.cross), lost: sent - counts.cross },
  };
}

/** The whole part: fan-out over 1, 2 and 3 nodes (as many as there are), then latency. */
export async function pubsubPart(wsUrls: readonly string[], o: PubSubOptions): Promise<PubSubRow[]> {
  const rows: PubSubRow[] = [];
  for (let spread = 1; spread <= Math.min(3, wsUrls.length); spread++) {
    const r = await fanout(wsUrls, spread, o);
    const scenario = `fan-out ${FANOUT} over ${spread} node${spread > 1 ? 's' : ''}`;
    rows.push({ part: 'pubsub', scenario, rate: r.deliveriesPerSecond, p50Ms: NaN, p99Ms: NaN, sent: r.published * FANOUT, lost: r.lost, errors: 0 });
  }
  const l = await latency(wsUrls, o);
  rows.push({ part: 'pubsub', scenario: `${l.rate} msg/s, same node`, rate: NaN, p50Ms: l.same.p50, p99Ms: l.same.p99, sent: l.sent, lost: l.same.lost, errors: 0 });
  rows.push({ part: 'pubsub', scenario: `${l.rate} msg/s, cross node`, rate: NaN, p50Ms: l.cross.p50, p99Ms: l.cross.p99, sent: l.sent, lost: l.cross.lost, errors: 0 });
  return rows;
}
