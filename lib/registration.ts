import type { Invocation } from './invocation';
import type { Session } from './session';
import type { MatchPolicy } from './topic';

/** WAMP advanced: shared registration invocation policies. */
export type InvokePolicy = 'single' | 'roundrobin' | 'random' | 'first' | 'last';
export const INVOKE_POLICIES: readonly InvokePolicy[] = ['single', 'roundrobin', 'random', 'first', 'last'];

export type CancelMode = 'skip' | 'kill' | 'killnowait';

/** The gate's side of a registration: how the dealer reaches the callee. */
export interface Callee {
  invoke(inv: Invocation): void;
  /** present only when the callee supports call canceling; others get `skip` */
  interrupt?(inv: Invocation, mode: 'kill' | 'killnowait', reason: string): void;
  /** extra chunk of a progressive call invocation */
  invokeProgress(inv: Invocation, final: boolean): void;
}

/** One callee's place in a registration. */
export class CalleeEntry {
  inflight = 0;
  constructor(
    readonly session: Session,
    readonly callee: Callee,
    /** fox-wamp: at most this many invocations in flight; Infinity when unlimited */
    readonly concurrency: number,
    readonly discloseCaller: boolean,
    /**
     * When the callee registered (ms since the epoch). The callee list is kept in this
     * order: `first` and `last` mean the same callee on every node of a cluster, whose
     * remote callees (lib/cluster/rpc/) arrive later than they registered.
     */
    readonly registeredAt: number = Date.now(),
  ) {}

  get hasCapacity(): boolean {
    return this.inflight < this.concurrency;
  }
}

/** A registration: one per (procedure pattern, match), shared by its callees. */
export class Registration {
  readonly callees: CalleeEntry[] = [];
  /** calls waiting for a callee with free concurrency, in arrival order */
  readonly waiting: Invocation[] = [];
  readonly created = new Date().toISOString();
  private rr = 0;

  constructor(
    readonly id: number,
    readonly uri: string,
    readonly match: MatchPolicy,
    readonly invoke: InvokePolicy,
  ) {}

  details(): Record<string, unknown> {
    return { id: this.id, created: this.created, uri: this.uri, match: this.match, invoke: this.invoke };
  }

  entryOf(session: Session): CalleeEntry | undefined {
    return this.callees.find((e) => e.session === session);
  }

  /** Picks a callee with free capacity following the invocation policy, or undefined. */
  pick(): CalleeEntry | undefined {
    const list = this.callees;
    const n = list.length;
    if (n === 0) return undefined;
    switch (this.invoke) {
      case 'single':
      case 'first':
        return firstWithCapacity(list, 0, 1);
      case 'last':
        return firstWithCapacity(list, n - 1, -1);
      case 'random': {
        const start = Math.floor(Math.random() * n);
        for (let i = 0; i < n; i++) {
          const e = list[(start + i) % n];
          if (e?.hasCapacity) return e;
        }
        return undefined;
      }
      case 'roundrobin': {
        for (let i = 0; i < n; i++) {
          const idx = (this.rr + i) % n;
          const e = list[idx];
          if (e?.hasCapacity) {
            this.rr = (idx + 1) % n;
            return e;
          }
        }
        return undefined;
      }
    }
  }

  /** Adds a callee in registeredAt order (ties: after those already there); usually an append. */
  addCallee(entry: CalleeEntry): void {
    const list = this.callees;
    let i = list.length;
    while (i > 0 && (list[i - 1]?.registeredAt ?? 0) > entry.registeredAt) i--;
    list.splice(i, 0, entry);
    // the round-robin cursor keeps pointing at the callee it pointed at
    if (i < this.rr) this.rr++;
  }

  removeCallee(entry: CalleeEntry): void {
    const i = this.callees.indexOf(entry);
    if (i < 0) return;
    this.callees.splice(i, 1);
    if (this.rr > i) this.rr--;
    if (this.rr >= this.callees.length) this.rr = 0;
  }
}

function firstWithCapacity(list: CalleeEntry[], start: number, step: 1 | -1): CalleeEntry | undefined {
  for (let i = start; i >= 0 && i < list.length; i += step) {
    const e = list[i];
    if (e?.hasCapacity) return e;
  }
  return undefined;
}
