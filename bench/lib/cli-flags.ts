// The command-line reading the bench drivers share: flags in order, each taking its
// argument (if any) with value() or num().

export interface FlagArgument {
  /** the next argument, which this flag consumes */
  value: () => string;
  /** the next argument as a positive number */
  num: () => number;
}

/** Calls `on` for every flag in `argv`; an unknown flag is `on`'s to refuse. */
export function eachFlag(argv: readonly string[], on: (flag: string, arg: FlagArgument) => void): void {
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] ?? '';
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    const num = (): number => {
      const n = Number(value());
      if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag} needs a positive number`);
      return n;
    };
    on(flag, { value, num });
  }
}

/** The flags the WAMP, MQTT and STOMP drivers share: how long, how often, and the shared-machine guard. */
export interface RunFlags {
  duration: number;
  warmup: number;
  runs: number;
  pin: boolean;
  profile: boolean;
  gatehouseRuntime: 'tsc' | 'tsx';
  quietWait: number;
  maxOther: number;
  retries: number;
}

/** Reads `flag` into `o` when it is one of RunFlags'; false when it is not. */
export function runFlag(o: RunFlags, flag: string, { value, num }: FlagArgument): boolean {
  switch (flag) {
    case '--duration':
      o.duration = num();
      return true;
    case '--warmup':
      o.warmup = Number(value());
      return true;
    case '--runs':
      o.runs = num();
      return true;
    case '--no-pin':
      o.pin = false;
      return true;
    case '--profile':
      o.profile = true;
      return true;
    case '--gatehouse-runtime':
      o.gatehouseRuntime = value() as RunFlags['gatehouseRuntime'];
      return true;
    case '--quiet-wait':
      o.quietWait = Number(value());
      return true;
    case '--max-other':
      o.maxOther = Number(value());
      return true;
    case '--retries':
      o.retries = Number(value());
      return true;
    default:
      return false;
  }
}
