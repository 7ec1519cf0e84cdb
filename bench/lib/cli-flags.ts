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
