/**
 * The RPC part of the cluster benchmark (issue 12, bench/cluster-bench.ts): an echo
 * callee on node 1; callers on node 1 (same node) and on node 2 (cross node: CALL ->
 * node 2 -> NATS -> node 1 -> callee, and back), measured one after the other against
 * the same processes. Closed loop (`callers` x `callWindow` calls in flight): calls/s.
 * Open loop at `rpcRate` calls/s in total: p50 / p99 from CALL sent to RESULT received.
 * Every call must be answered (zero loss). Cross-node rows are compared with the
 * same-node row of the same loop.
 */
import { LatencyHistogram } from '../lib/latency-histogram';
import { fmtInt } from '../lib/stats';
import { WampClient } from '../lib/wamp-client';
import { sleep, type Bench, type Nodes, type Options, type Row } from './types';

const PROCEDURE = 'bench.cluster.echo';
const nowMs = (): number => performance.now();

export async function rpcPart(bench: Bench): Promise<Row[]> {
  const [a, b] = bench.cluster.wsUrls;
  if (!a || !b) throw new Error('the rpc part needs two nodes');
  const o = bench.opts;
  const callee = await WampClient.connect({ url: a, realm: 'realm1' });
  await callee.register(PROCEDURE, (args) => args ?? []);
  await known(b, PROCEDURE);
  const closed = `closed loop (${o.callers} x ${o.callWindow} in flight)`;
  const open = `open loop at ${fmtInt(o.rpcRate)} calls/s`;
  const rows: Row[] = [];
  for (const [where, url] of [
    ['same node', a],
    ['cross node', b],
  ] as const) {
    const ref = (loop: string): { ref?: string } => (where === 'cross node' ? { ref: `${loop}, same node` } : {});
    rows.push({ ...(await rpcRun(bench.cluster, url, o, `${closed}, ${where}`, undefined)), ...ref(closed) });
    rows.push({ ...(await rpcRun(bench.cluster, url, o, `${open}, ${where}`, o.rpcRate)), ...ref(open) });
  }
  await callee.close();
  return rows;
}

/** Waits until a node routes `procedure` (the registration has reached it). */
async function known(url: string, procedure: string): Promise<void> {
  const c = await WampClient.connect({ url, realm: 'realm1' });
  try {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const id = await new Promise<unknown>((resolve) =>
        c.call('wamp.registration.lookup', [procedure], (args) => resolve(args?.[0])),
      );
      if (typeof id === 'number') return;
      if (Date.now() > deadline) throw new Error(`${procedure} not known at ${url}`);
      await sleep(50);
    }
  } finally {
    await c.close();
  }
}

/**
 * Calls from `callers` sessions on `url`: closed loop (a window per caller) when `rate`
 * is undefined, else open loop at `rate` calls/s in total (sent in 1 ms ticks).
 */
async function rpcRun(nodes: Nodes, url: string, opts: Options, scenario: string, rate: number | undefined): Promise<Row> {
  const callers = await Promise.all(Array.from({ length: opts.callers }, () => WampClient.connect({ url, realm: 'realm1' })));
  const pad = 'x'.repeat(opts.payloadBytes);
  const hist = new LatencyHistogram();
  let measuring = false;
  let sent = 0;
  let done = 0;
  let doneInWindow = 0;
  let running = true;
  const onResult = (i: number) => (args: unknown[] | undefined) => {
    done++;
    if (measuring) {
      doneInWindow++;
      const t = args?.[0];
      if (typeof t === 'number') hist.record(nowMs() - t);
    }
    if (running && rate === undefined) send(i);
  };
  const handlers = callers.map((_, i) => onResult(i));
  const send = (i: number): void => {
    const c = callers[i];
    const h = handlers[i];
    if (!c || !h) return;
    c.call(PROCEDURE, [nowMs(), pad], h);
    sent++;
  };
  let ticker: NodeJS.Timeout | undefined;
  if (rate === undefined) {
    for (let i = 0; i < callers.length; i++) for (let w = 0; w < opts.callWindow; w++) send(i);
  } else {
    // open loop: what is due by now goes out each tick, whatever is in flight
    const start = nowMs();
    let next = 0;
    ticker = setInterval(() => {
      const due = Math.floor(((nowMs() - start) / 1000) * rate);
      while (next < due) send(next++ % callers.length);
    }, 1);
  }
  await sleep(opts.warmupMs);
  measuring = true;
  const cpu0 = nodes.cpuSeconds();
  const t0 = nowMs();
  await sleep(opts.durationMs);
  measuring = false;
  const elapsed = (nowMs() - t0) / 1000;
  const cpu = nodes.cpuSeconds() - cpu0;
  running = false;
  if (ticker) clearInterval(ticker);
  // drain: every call answered
  const deadline = Date.now() + 10_000;
  while (done < sent && Date.now() < deadline) await sleep(10);
  const errors = callers.reduce((n, c) => n + c.errors, 0);
  await Promise.all(callers.map((c) => c.close()));
  return {
    part: 'rpc',
    scenario,
    rate: doneInWindow / elapsed,
    p50Ms: hist.quantileMs(0.5),
    p99Ms: hist.quantileMs(0.99),
    cpuUs: doneInWindow > 0 ? (cpu * 1e6) / doneInWindow : NaN,
    sent,
    lost: sent - done,
    errors,
  };
}
