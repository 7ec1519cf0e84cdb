// bench/stomp-bench.ts's command line: its scenarios, options and their defaults, and
// each scenario's title in the report.
import { eachFlag, runFlag } from './cli-flags';
import { fmtInt } from './stats';
import { STOMP_BROKERS, type GatehouseRuntime, type StompBrokerName } from './stomp-broker-process';

export type ScenarioName = 'topic' | 'topic-lat' | 'queue' | 'queue-lat';
export const SCENARIOS: readonly ScenarioName[] = ['topic', 'topic-lat', 'queue', 'queue-lat'];
export const isQueue = (s: ScenarioName): boolean => s === 'queue' || s === 'queue-lat';

export interface Options {
  duration: number;
  warmup: number;
  runs: number;
  scenarios: ScenarioName[];
  brokers: StompBrokerName[];
  producers: number;
  consumers: number;
  body: number;
  window: number;
  rate: number;
  queueWindow: number;
  backlog: number;
  prefetch: number;
  queueRate: number;
  sync: 'full' | 'normal';
  pin: boolean;
  profile: boolean;
  cpuProf: boolean;
  gatehouseRuntime: GatehouseRuntime;
  install: boolean;
  rabbitStartTimeout: number;
  quietWait: number;
  maxOther: number;
  retries: number;
  results: boolean;
  profilePass: boolean;
}

export const fmtMs = (n: number): string => (Number.isNaN(n) ? '-' : n < 10 ? n.toFixed(3) : n.toFixed(1));

export function title(o: Options, s: ScenarioName): string {
  switch (s) {
    case 'topic':
      return `Topic closed loop (window ${o.window})`;
    case 'topic-lat':
      return `Topic open loop ${fmtInt(o.rate)} msg/s`;
    case 'queue':
      return `Queue closed loop (receipt window ${o.queueWindow}, prefetch ${o.prefetch})`;
    case 'queue-lat':
      return `Queue open loop ${fmtInt(o.queueRate)} msg/s (prefetch ${o.prefetch})`;
  }
}

export function parseArgs(argv: string[]): Options {
  const o: Options = {
    duration: 5,
    warmup: 2,
    runs: 3,
    scenarios: [...SCENARIOS],
    brokers: [...STOMP_BROKERS],
    producers: 4,
    consumers: 4,
    body: 64,
    window: 512,
    rate: 5000,
    queueWindow: 64,
    backlog: 1000,
    prefetch: 100,
    queueRate: 5000,
    sync: 'full',
    pin: true,
    profile: false,
    cpuProf: false,
    gatehouseRuntime: 'tsc',
    install: true,
    rabbitStartTimeout: 90,
    quietWait: 20,
    maxOther: 30,
    retries: 3,
    results: true,
    profilePass: true,
  };
  eachFlag(argv, (flag, arg) => {
    if (runFlag(o, flag, arg)) return;
    const { value, num } = arg;
    switch (flag) {
      case '--scenarios':
        o.scenarios = value().split(',') as ScenarioName[];
        break;
      case '--brokers':
        o.brokers = value().split(',') as StompBrokerName[];
        break;
      case '--producers':
        o.producers = num();
        break;
      case '--consumers':
        o.consumers = num();
        break;
      case '--body':
        o.body = num();
        break;
      case '--window':
        o.window = num();
        break;
      case '--rate':
        o.rate = num();
        break;
      case '--queue-window':
        o.queueWindow = num();
        break;
      case '--backlog':
        o.backlog = num();
        break;
      case '--prefetch':
        o.prefetch = Number(value());
        break;
      case '--queue-rate':
        o.queueRate = num();
        break;
      case '--sync':
        o.sync = value() as 'full' | 'normal';
        break;
      case '--cpu-prof':
        o.cpuProf = true;
        break;
      case '--no-install':
        o.install = false;
        break;
      case '--rabbit-start-timeout':
        o.rabbitStartTimeout = num();
        break;
      case '--no-results':
        o.results = false;
        break;
      case '--no-profile-pass':
        o.profilePass = false;
        break;
      default:
        throw new Error(`unknown option ${flag}`);
    }
  });
  for (const s of o.scenarios) if (!SCENARIOS.includes(s)) throw new Error(`unknown scenario ${s} (${SCENARIOS.join(', ')})`);
  for (const b of o.brokers) if (!STOMP_BROKERS.includes(b)) throw new Error(`unknown broker ${b} (${STOMP_BROKERS.join(', ')})`);
  if (o.sync !== 'full' && o.sync !== 'normal') throw new Error('--sync is full or normal');
  if (o.gatehouseRuntime !== 'tsc' && o.gatehouseRuntime !== 'tsx') throw new Error('--gatehouse-runtime is tsc or tsx');
  if (o.body < 16) throw new Error('--body must be at least 16 (the header the generator needs)');
  if (o.scenarios.some((s) => !isQueue(s)) && o.producers !== o.consumers)
    throw new Error('topic scenarios need --producers equal to --consumers');
  if (!Number.isInteger(o.prefetch) || o.prefetch < 0) throw new Error('--prefetch is a non-negative integer (0: unlimited)');
  if (o.profile && o.cpuProf) throw new Error('--profile or --cpu-prof, not both');
  return o;
}
