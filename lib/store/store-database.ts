import Database from 'better-sqlite3';
import { Errors, RouterError } from '../errors';
import { GroupCommit } from './group-commit';
import { migrate } from './sqlite-schema';
import type { SqliteStoreConfig } from './types';

/**
 * What an engine plugs into the shared commit. The database calls `write` for every
 * engine with ops in the batch, inside ONE transaction, then `committed` (once that
 * transaction is durable) or `undo` (once it rolled back) for each of them.
 */
export interface CommitPart<Op> {
  /** runs the ops' SQL inside the open transaction; throws to fail the whole batch */
  write(ops: readonly Op[]): void;
  /**
   * The transaction is durable: bookkeeping about what is on disk goes here, never in
   * `write`, since a later engine's write or the COMMIT itself may still fail. Must not
   * throw.
   */
  committed(ops: readonly Op[]): void;
  /**
   * The transaction rolled back: puts memory back to the committed state of every op.
   * Also called for ops whose `write` never ran (an earlier engine's write threw).
   */
  undo(ops: readonly Op[]): void;
  /** folds a later op on a key into the one already pending for it */
  coalesce(earlier: Op, later: Op): Op;
}

/** queues an op under a key (per engine) for this turn's commit; settles with it */
export type EnqueueOp<Op> = (key: string, op: Op) => Promise<void>;

export interface StoreDatabaseStats {
  /** ops queued (before folding) and not yet committed, over all engines */
  readonly pendingWrites: number;
  /** transactions committed since open */
  readonly commits: number;
  /** how long the last commit took, in ms (it blocks the event loop for that long) */
  readonly lastCommitMs: number;
  /** exponentially weighted average commit time, ms */
  readonly avgCommitMs: number;
  /** commits that failed (their writes were rejected and undone) since open */
  readonly failedCommits: number;
}

type DatabaseConfig = Omit<SqliteStoreConfig, 'engine'>;

/** an engine's op, tagged with the engine it belongs to */
interface Tagged {
  readonly part: CommitPart<unknown>;
  readonly op: unknown;
}

/**
 * One SQLite file shared by the store engines (the retained store and the queue store):
 * it owns the better-sqlite3 handle, the schema, and the group commit. Every op any
 * engine queues during an event-loop turn goes into one transaction, so one fsync pays
 * for the retained writes and the queue writes of that turn together, and they are
 * durable (or refused) together.
 *
 * Engines `join` at construction and `acquire` / `release` the handle in their open /
 * close; the file is opened by the first acquire and closed by the last release.
 */
export class StoreDatabase {
  private db: Database.Database | undefined;
  private users = 0;
  private nextPart = 0;
  private readonly group: GroupCommit<Tagged>;
  /** runs every engine's writes in one transaction; made once per handle */
  private transaction: ((batches: Map<CommitPart<unknown>, unknown[]>) => void) | undefined;
  readonly stats: StoreDatabaseStats;

  constructor(readonly config: DatabaseConfig) {
    this.group = new GroupCommit<Tagged>({
      commit: (ops) => {
        this.commit(ops);
      },
      undo: (ops) => {
        for (const [part, list] of byPart(ops)) part.undo(list);
      },
      coalesce: (earlier, later) => ({ part: earlier.part, op: earlier.part.coalesce(earlier.op, later.op) }),
    });
    const group = this.group;
    this.stats = {
      get pendingWrites() {
        return group.pendingWrites;
      },
      get commits() {
        return group.commits;
      },
      get lastCommitMs() {
        return group.lastCommitMs;
      },
      get avgCommitMs() {
        return group.avgCommitMs;
      },
      get failedCommits() {
        return group.failedCommits;
      },
    };
  }

  /** registers an engine; returns how it queues its ops */
  join<Op>(part: CommitPart<Op>): EnqueueOp<Op> {
    // keys are per engine: the same key in two engines names two different things
    const prefix = `${this.nextPart++}:`;
    const tagged = part as CommitPart<unknown>;
    return (key, op) => this.group.enqueue(prefix + key, { part: tagged, op });
  }

  /**
   * The open handle, opening the file on first use. Throws SQLITE_BUSY (after
   * `busyTimeoutMs`) when another process holds the file.
   */
  acquire(): Database.Database {
    if (this.db === undefined) {
      const db = openFile(this.config);
      // an engine's own db.transaction() inside this one becomes a savepoint
      this.transaction = db.transaction((batches: Map<CommitPart<unknown>, unknown[]>) => {
        for (const [part, list] of batches) part.write(list);
      });
      this.db = db;
    }
    this.users++;
    return this.db;
  }

  /**
   * Commits what is queued now (every engine's ops: the caller's must be durable when
   * its close resolves), and closes the file when the last user leaves. The promise is
   * that last commit's.
   */
  release(): Promise<void> {
    const last = this.group.flush();
    if (this.users > 0 && --this.users === 0) {
      this.db?.close();
      this.db = undefined;
      this.transaction = undefined;
    }
    return last;
  }

  /** commits what is queued now, synchronously; returns that batch's (settled) promise */
  flush(): Promise<void> {
    return this.group.flush();
  }

  private commit(ops: readonly Tagged[]): void {
    if (this.transaction === undefined) throw new RouterError(Errors.unavailable, 'store database is closed');
    const batches = byPart(ops);
    this.transaction(batches);
    for (const [part, list] of batches) part.committed(list);
  }
}

/** opens the file the way every engine needs it, and brings the schema up to date */
function openFile(config: DatabaseConfig): Database.Database {
  const db = new Database(config.path, { timeout: config.busyTimeoutMs ?? 5000 });
  try {
    // EXCLUSIVE: this process alone owns the rows it mirrors in memory, so a second
    // router on the same file fails at open (SQLITE_BUSY) instead of diverging. It also
    // lets WAL keep its index in heap memory instead of a shared-memory file.
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = WAL');
    // FULL: fsync the WAL at every commit, so an ack survives power loss. NORMAL:
    // fsync only at checkpoints; survives a process crash, not a power loss.
    db.pragma(`synchronous = ${config.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
    migrate(db);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

function byPart(ops: readonly Tagged[]): Map<CommitPart<unknown>, unknown[]> {
  const batches = new Map<CommitPart<unknown>, unknown[]>();
  for (const { part, op } of ops) {
    const list = batches.get(part);
    if (list === undefined) batches.set(part, [op]);
    else list.push(op);
  }
  return batches;
}
