/** What the cluster benchmark's parts share (bench/cluster-bench.ts). */

export interface Options {
  durationMs: number;
  warmupMs: number;
  /** untimed rounds of every part before the runs (the routers' JIT) */
  warmupRounds: number;
  runs: number;
  parts: string[];
  /** pub/sub latency: msg/s of the open loop (the 5,000) */
  rate: number;
  /** fan-out: publications ahead of the slowest subscriber */
  window: number;
  /** rpc: callers, calls in flight per caller (closed loop), calls/s (open loop) */
  callers: number;
  callWindow: number;
  rpcRate: number;
  payloadBytes: number;
  nats: string;
  cpuProf: boolean;
  /** seconds to wait for the rest of the machine to go quiet before each run (0: no wait) */
  quietWaitS: number;
}

/** One line of the report. */
export interface Row {
  part: string;
  scenario: string;
  /** deliveries or calls per second; NaN when not measured */
  rate: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU time of every router and nats-server process per delivery (or call), µs */
  cpuUs: number;
  sent: number;
  lost: number;
  errors: number;
  /** the scenario (same part) this one is compared with: rate ratio, p50 difference */
  ref?: string;
  /** filled in from `ref` after the run */
  ratio?: number;
  cpuRatio?: number;
  p50DeltaMs?: number;
}

/** A running set of nodes: each node's WAMP URL in node order, their CPU time. */
export interface Nodes {
  wsUrls: string[];
  /** CPU seconds every process of this set (routers, nats-server) has used so far */
  cpuSeconds(): number;
}

/** What a part gets: the baseline (one router, cluster off) and the cluster. */
export interface Bench {
  baseline: Nodes;
  cluster: Nodes;
  opts: Options;
}

export type Part = (bench: Bench) => Promise<Row[]>;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
