import { performance } from 'node:perf_hooks';

/**
 * What an engine plugs into group commit. `commit` runs synchronously and must be
 * all-or-nothing: either every op is durable when it returns, or it throws and none is.
 */
export interface GroupCommitEngine<Op> {
  commit(ops: readonly Op[]): void;
  /** undoes the in-memory effect of ops whose commit failed */
  undo(ops: readonly Op[]): void;
  /** folds a later op on a key into the one already pending for it */
  coalesce(earlier: Op, later: Op): Op;
}

interface Batch {
  readonly promise: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}

function newBatch(): Batch {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // a caller that does not wait for the ack must not turn a failed commit into an
  // unhandled rejection (that kills the process); failures are counted instead
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/**
 * Group commit: every write queued during one event-loop turn goes into ONE
 * transaction, run from setImmediate (so after the turn's I/O callbacks), and then the
 * whole batch is acked at once. One fsync then pays for hundreds of writes. Writes to a
 * key already queued are folded into one op, so the transaction only holds the last
 * state of each key. Writes of one batch share one promise.
 */
export class GroupCommit<Op> {
  private pending = new Map<string, Op>();
  private queued = 0;
  private batch: Batch | undefined;
  private timer: NodeJS.Immediate | undefined;

  commits = 0;
  failedCommits = 0;
  lastCommitMs = 0;
  /** exponentially weighted average of commit durations, ms (weight 0.1 for the newest) */
  avgCommitMs = 0;

  constructor(private readonly engine: GroupCommitEngine<Op>) {}

  /** writes queued (before folding) and not yet committed */
  get pendingWrites(): number {
    return this.queued;
  }

  /** queues an op for the next commit; the promise settles when that commit does */
  enqueue(key: string, op: Op): Promise<void> {
    const earlier = this.pending.get(key);
    this.pending.set(key, earlier === undefined ? op : this.engine.coalesce(earlier, op));
    this.queued++;
    if (this.batch === undefined) {
      this.batch = newBatch();
      this.timer = setImmediate(() => {
        this.timer = undefined;
        void this.flush(); // settles the batch promise, which carries any failure
      });
    }
    return this.batch.promise;
  }

  /** commits what is queued now, synchronously; returns that batch's (settled) promise */
  flush(): Promise<void> {
    const batch = this.batch;
    if (batch === undefined) return Promise.resolve();
    if (this.timer !== undefined) clearImmediate(this.timer);
    this.timer = undefined;
    const ops = [...this.pending.values()];
    this.pending = new Map();
    this.queued = 0;
    this.batch = undefined;

    const started = performance.now();
    try {
      this.engine.commit(ops);
    } catch (err) {
      this.failedCommits++;
      this.lastCommitMs = performance.now() - started;
      this.engine.undo(ops);
      batch.reject(err);
      return batch.promise;
    }
    this.commits++;
    this.lastCommitMs = performance.now() - started;
    this.avgCommitMs = this.commits === 1 ? this.lastCommitMs : this.avgCommitMs + 0.1 * (this.lastCommitMs - this.avgCommitMs);
    batch.resolve();
    return batch.promise;
  }
}
