/**
 * The pub/sub part of the cluster benchmark (issue 12, bench/cluster-bench.ts):
 *
 * - `fan-out 10`: one publisher on node 1 and 10 subscribers to its topic; closed loop,
 *   the publisher at most `window` publications ahead of the slowest subscriber.
 *   Deliveries/s (10 per publication) and the routers' (and nats-server's) CPU per
 *   delivery; every subscriber must get every event. Rows: one router with the cluster
 *   off (the baseline), then the cluster with the subscribers on node 1 only, spread
 *   round-robin over 2 nodes and over 3; each row's ratio is against the baseline.
 * - `<rate> msg/s`: open loop at `rate` msg/s from a publisher on node 1, one subscriber
 *   on node 1 (same node) and one on node 2 (cross node) getting the same publications:
 *   p50/p99 from PUBLISH sent to EVENT received, both in one run; the cross-node row
 *   says how much later than the same-node one.
 *
 * The lean WAMP client (bench/lib/wamp-client.ts), JSON over WebSocket, realm1.
 */
import { performance } from 'node:perf_hooks';
import { LatencyHistogram } from '../lib/latency-histogram';
import { fmtInt } from '../lib/stats';
import { WampClient } from '../lib/wamp-client';
import { sleep, type Bench, type Nodes, type Options, type Row } from './types';

const FANOUT = 10;
/** a slow NATS interest propagation or a straggler: give up waiting after this */
const SETTLE_MS = 10_000;
const BASELINE = `fan-out ${FANOUT}, 1 node, cluster off`;

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
  await sleep(500); // stragglers of the probes
}

async function fanout(nodes: Nodes, spread: number, o: Options, scenario: string): Promise<Row> {
  const topic = `bench.fanout.${spread}`;
  const subs: WampClient[] = [];
  const got: number[] = new Array<number>(FANOUT).fill(0);
  for (let i = 0; i < FANOUT; i++) {
    const url = nodes.wsUrls[i % spread];
    if (url === undefined) throw new Error(`fan-out over ${spread} nodes needs ${spread} nodes`);
    const c = await WampClient.connect({ url, realm: 'realm1' });
    await c.subscribe(topic, () => {
      got[i] = (got[i] ?? 0) + 1;
    });
    subs.push(c);
  }
  const pub = await WampClient.connect({ url: nodes.wsUrls[0] ?? '', realm: 'realm1' });
  await primed(pub, topic, () => got);
  got.fill(0);
  const minGot = (): number => Math.min(...got);
  const total = (): number => got.reduce((a, b) => a + b, 0);
  let published = 0;
  const runFor = async (ms: number): Promise<void> => {
    const end = performance.now() + ms;
    while (performance.now() < end) {
      // closed loop: at most o.window ahead of the slowest subscriber
      const room = o.window - (published - minGot());
      for (let k = 0; k < Math.min(room, 200); k++) pub.publish(topic, [published++]);
      await new Promise((r) => setImmediate(r));
    }
  };
  await runFor(o.warmupMs);
  const base = total();
  const cpu0 = nodes.cpuSeconds();
  const t0 = performance.now();
  await runFor(o.durationMs);
  const delivered = total() - base;
  const elapsed = performance.now() - t0;
  const cpu = nodes.cpuSeconds() - cpu0;
  await waitUntil(() => minGot() >= published, SETTLE_MS);
  const lost = FANOUT * published - total();
  const errors = [...subs, pub].reduce((n, c) => n + c.errors, 0);
  await Promise.all([...subs, pub].map((c) => c.close().catch(() => undefined)));
  return {
    part: 'pubsub',
    scenario,
    rate: (delivered / elapsed) * 1000,
    p50Ms: NaN,
    p99Ms: NaN,
    cpuUs: delivered > 0 ? (cpu * 1e6) / delivered : NaN,
    sent: published * FANOUT,
    lost,
    errors,
    ...(scenario === BASELINE ? {} : { ref: BASELINE }),
  };
}

async function latency(nodes: Nodes, o: Options): Promise<Row[]> {
  const topic = 'bench.latency';
  const [g1, g2] = nodes.wsUrls;
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
  counts.same = 0;
  counts.cross = 0;

  // open loop: each 1 ms tick sends what the rate owes by now
  let sent = 0;
  const run = async (ms: number): Promise<void> => {
    const start = performance.now();
    const base = sent;
    for (;;) {
      const now = performance.now();
      if (now - start >= ms) break;
      const owed = Math.floor(((now - start) / 1000) * o.rate) - (sent - base);
      for (let k = 0; k < owed; k++) {
        pub.publish(topic, [performance.now()]);
        sent++;
      }
      await sleep(1);
    }
  };
  await run(o.warmupMs);
  recording = true;
  const cpu0 = nodes.cpuSeconds();
  await run(o.durationMs);
  await waitUntil(() => counts.same >= sent && counts.cross >= sent, SETTLE_MS);
  recording = false;
  const cpu = nodes.cpuSeconds() - cpu0;
  const errors = [same, cross, pub].reduce((n, c) => n + c.errors, 0);
  await Promise.all([same, cross, pub].map((c) => c.close().catch(() => undefined)));
  const name = `${fmtInt(o.rate)} msg/s`;
  const row = (which: 'same' | 'cross'): Row => ({
    part: 'pubsub',
    scenario: `${name}, ${which} node`,
    rate: NaN,
    p50Ms: hist[which].quantileMs(0.5),
    p99Ms: hist[which].quantileMs(0.99),
    // one CPU figure for both subscribers' deliveries (same publications): on the same-node row
    cpuUs: which === 'same' && hist.same.count + hist.cross.count > 0 ? (cpu * 1e6) / (hist.same.count + hist.cross.count) : NaN,
    sent,
    lost: sent - counts[which],
    errors: which === 'same' ? errors : 0,
    ...(which === 'cross' ? { ref: `${name}, same node` } : {}),
  });
  return [row('same'), row('cross')];
}

/** The whole part: fan-out (baseline, then 1, 2 and 3 cluster nodes), then latency. */
export async function pubsubPart(bench: Bench): Promise<Row[]> {
  const rows = [await fanout(bench.baseline, 1, bench.opts, BASELINE)];
  for (let spread = 1; spread <= Math.min(3, bench.cluster.wsUrls.length); spread++) {
    const where = spread === 1 ? 'all on node 1' : `spread over ${spread} nodes`;
    rows.push(await fanout(bench.cluster, spread, bench.opts, `fan-out ${FANOUT}, cluster, subscribers ${where}`));
  }
  rows.push(...(await latency(bench.cluster, bench.opts)));
  return rows;
}
