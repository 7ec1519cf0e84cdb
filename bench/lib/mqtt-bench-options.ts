// bench/mqtt-bench.ts's command line: its scenarios, options and their defaults, and
// each scenario's title in the report.
import { eachFlag, runFlag } from './cli-flags';
import { BROKERS, type BrokerName, type GatehouseRuntime } from './mqtt-broker-process';
import type { Topology } from './mqtt-scenarios';

export type ScenarioName = 'qos0' | 'qos1' | 'lat0' | 'lat1';
export const SCENARIOS: readonly ScenarioName[] = ['qos0', 'qos1', 'lat0', 'lat1'];

export interface Options {
  duration: number;
  warmup: number;
  runs: number;
  scenarios: ScenarioName[];
  brokers: BrokerName[];
  publishers: number;
  subscribers: number;
  topology: Topology;
  payload: number;
  window: number;
  qos1Window: number;
  deliveryCap: number;
  rate: number;
  pin: boolean;
  profile: boolean;
  gatehouseRuntime: GatehouseRuntime;
  /** node flags for the Gatehouse process (tsc runtime) */
  gatehouseNodeFlags: string[];
  mosquitto: string | undefined;
  mosquittoNoDelay: boolean;
  aedesNoDelay: boolean;
  quietWait: number;
  maxOther: number;
  retries: number;
}

export function title(o: Options, s: ScenarioName): string {
  switch (s) {
    case 'qos0':
      return `QoS 0 closed loop (window ${o.window})`;
    case 'qos1':
      return `QoS 1 closed loop (window ${o.qos1Window})`;
    case 'lat0':
      return `QoS 0 open loop ${o.rate.toLocaleString('en-US')} msg/s`;
    case 'lat1':
      return `QoS 1 open loop ${o.rate.toLocaleString('en-US')} msg/s`;
  }
}

export function parseArgs(argv: string[]): Options {
  const o: Options = {
    duration: 5,
    warmup: 2,
    runs: 3,
    scenarios: [...SCENARIOS],
    brokers: [...BROKERS],
    publishers: 4,
    subscribers: 4,
    topology: 'pair',
    payload: 64,
    window: 512,
    qos1Window: 256,
    deliveryCap: 512,
    rate: 5000,
    pin: true,
    profile: false,
    gatehouseRuntime: 'tsc',
    gatehouseNodeFlags: [],
    mosquitto: undefined,
    mosquittoNoDelay: false,
    aedesNoDelay: false,
    quietWait: 20,
    maxOther: 30,
    retries: 3,
  };
  eachFlag(argv, (flag, arg) => {
    if (runFlag(o, flag, arg)) return;
    const { value, num } = arg;
    switch (flag) {
      case '--scenarios':
        o.scenarios = value().split(',') as ScenarioName[];
        break;
      case '--brokers':
        o.brokers = value().split(',') as BrokerName[];
        break;
      case '--publishers':
        o.publishers = num();
        break;
      case '--subscribers':
        o.subscribers = num();
        break;
      case '--topology':
        o.topology = value() as Topology;
        break;
      case '--payload':
        o.payload = num();
        break;
      case '--window':
        o.window = num();
        break;
      case '--qos1-window':
        o.qos1Window = num();
        break;
      case '--delivery-cap':
        o.deliveryCap = num();
        break;
      case '--rate':
        o.rate = num();
        break;
      case '--gatehouse-node-flags':
        o.gatehouseNodeFlags = value().split(' ').filter(Boolean);
        break;
      case '--mosquitto':
        o.mosquitto = value();
        break;
      case '--mosquitto-nodelay':
        o.mosquittoNoDelay = value() === 'true';
        break;
      case '--aedes-nodelay':
        o.aedesNoDelay = value() === 'true';
        break;
      default:
        throw new Error(`unknown option ${flag}`);
    }
  });
  for (const s of o.scenarios) if (!SCENARIOS.includes(s)) throw new Error(`unknown scenario ${s} (${SCENARIOS.join(', ')})`);
  for (const b of o.brokers) if (!BROKERS.includes(b)) throw new Error(`unknown broker ${b} (${BROKERS.join(', ')})`);
  if (o.topology !== 'pair' && o.topology !== 'shared') throw new Error('--topology is pair or shared');
  if (o.topology === 'pair' && o.publishers !== o.subscribers)
    throw new Error('--topology pair needs --publishers equal to --subscribers');
  if (o.gatehouseRuntime !== 'tsc' && o.gatehouseRuntime !== 'tsx') throw new Error('--gatehouse-runtime is tsc or tsx');
  if (o.payload < 16) throw new Error('--payload must be at least 16 (the header the generator needs)');
  return o;
}
