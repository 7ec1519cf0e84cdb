// bench/wamp-bench.ts's command line: its scenarios, options and their defaults, and
// each scenario's title and unit in the report.
import { eachFlag, runFlag } from './cli-flags';
import type { GatehouseRuntime, RouterName } from './router-process';
import { fmtInt } from './stats';
import type { SerializerName } from './wamp-client';

export type ScenarioKind = 'fanout1' | 'fanout10' | 'rpc';
/** `fanout1`, `fanout10`, `rpc`: closed loop; with `@<rate>`: open loop at that many
 *  publishes (calls) per second, e.g. `fanout10@4000`. */
export type ScenarioName = string;

const KIND_TITLE: Record<ScenarioKind, string> = {
  fanout1: 'pub/sub fan-out 1',
  fanout10: 'pub/sub fan-out 10',
  rpc: 'RPC, callers -> 1 callee',
};

export function parseScenario(name: ScenarioName): { kind: ScenarioKind; rate: number | undefined } {
  const [kind, rate] = name.split('@');
  if (!kind || !(kind in KIND_TITLE)) throw new Error(`unknown scenario ${name}`);
  const r = rate === undefined ? undefined : Number(rate);
  if (r !== undefined && !(r > 0)) throw new Error(`bad rate in scenario ${name}`);
  return { kind: kind as ScenarioKind, rate: r };
}

export function title(name: ScenarioName): string {
  const { kind, rate } = parseScenario(name);
  return rate === undefined
    ? `${KIND_TITLE[kind]}, saturated`
    : `${KIND_TITLE[kind]}, ${fmtInt(rate)} ${kind === 'rpc' ? 'calls' : 'publishes'}/s`;
}

export interface Options {
  duration: number;
  warmup: number;
  runs: number;
  scenarios: ScenarioName[];
  routers: RouterName[];
  publishers: number;
  window: number;
  callers: number;
  rpcWindow: number;
  payload: number;
  serializer: SerializerName;
  pin: boolean;
  profile: boolean;
  /** before each run, wait up to this many seconds for other load to go away */
  quietWait: number;
  /** redo a run whose measured window saw others use more than this % of a core */
  maxOther: number;
  retries: number;
  gatehouseRuntime: GatehouseRuntime;
  /** extra node options for the router processes, space-separated */
  routerNodeArgs: string[];
}

export function parseArgs(argv: string[]): Options {
  const o: Options = {
    duration: 5,
    warmup: 2,
    runs: 3,
    // saturated throughput, then latency at a load both routers sustain (fox-wamp
    // tops out near 70k, 90k deliveries/s and 30k calls/s here)
    scenarios: ['fanout1', 'fanout10', 'rpc', 'fanout1@20000', 'fanout10@4000', 'rpc@10000'],
    routers: ['gatehouse', 'fox-wamp'],
    publishers: 4,
    window: 64,
    callers: 4,
    rpcWindow: 64,
    payload: 64,
    serializer: 'json',
    pin: true,
    profile: false,
    quietWait: 60,
    maxOther: 20,
    retries: 4,
    gatehouseRuntime: 'tsc',
    routerNodeArgs: [],
  };
  eachFlag(argv, (flag, arg) => {
    if (runFlag(o, flag, arg)) return;
    const { value, num } = arg;
    switch (flag) {
      case '--scenarios':
        o.scenarios = value().split(',');
        break;
      case '--routers':
        o.routers = value()
          .split(',')
          .map((r) => (r === 'fox' ? 'fox-wamp' : r)) as RouterName[];
        break;
      case '--publishers':
        o.publishers = num();
        break;
      case '--window':
        o.window = num();
        break;
      case '--callers':
        o.callers = num();
        break;
      case '--rpc-window':
        o.rpcWindow = num();
        break;
      case '--payload':
        o.payload = Number(value());
        break;
      case '--serializer':
        o.serializer = value() as SerializerName;
        break;
      case '--router-node-args':
        o.routerNodeArgs = value().split(' ').filter(Boolean);
        break;
      default:
        throw new Error(`unknown option ${flag}`);
    }
  });
  for (const s of o.scenarios) parseScenario(s);
  for (const r of o.routers) if (r !== 'gatehouse' && r !== 'fox-wamp') throw new Error(`unknown router ${String(r)}`);
  if (o.serializer !== 'json' && o.serializer !== 'msgpack') throw new Error(`unknown serializer ${String(o.serializer)}`);
  if (o.gatehouseRuntime !== 'tsc' && o.gatehouseRuntime !== 'tsx') throw new Error('--gatehouse-runtime is tsc or tsx');
  if (o.serializer !== 'json' && o.routers.includes('fox-wamp')) throw new Error('fox-wamp supports wamp.2.json only');
  return o;
}

/** What a scenario's rate counts. */
export function unit(s: ScenarioName): string {
  return parseScenario(s).kind === 'rpc' ? 'calls/s' : 'deliveries/s';
}

export const fmtMs = (n: number): string => (Number.isNaN(n) ? '-' : n < 10 ? n.toFixed(2) : n.toFixed(1));
