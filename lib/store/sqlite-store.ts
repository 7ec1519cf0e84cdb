import { Errors, RouterError } from '../errors';
import type { Payload } from '../payload';
import { encodePayload, encodeStoredValue } from './codec';
import { MemoryIndex, isLive, makeEntry } from './memory-index';
import { SqliteLog, type LogOp, type StagedCommit } from './sqlite-log';
import { StoreDatabase, type EnqueueOp } from './store-database';
import type {
  ExpiredEntry,
  RangePage,
  RetainedStore,
  SqliteStoreConfig,
  StoreEntry,
  StoreStats,
  WriteOptions,
  WriteResult,
} from './types';

type State = 'new' | 'open' | 'closed';

/**
 * The embedded engine: an in-memory index in front of a SQLite log, as Mosquitto keeps
 * retained state in memory and uses its database for durability only. Reads never
 * touch SQLite. A write changes memory and takes its revision at once, then joins the
 * group commit of the current event-loop turn; its ack waits for that commit. If a
 * commit fails, its writes are undone in memory, so memory never holds what the disk
 * refused. Given a StoreDatabase shared with the queue store, its writes and the queue
 * store's share each turn's transaction; given a config, it has a database of its own.
 */
export class SqliteStore implements RetainedStore {
  private state: State = 'new';
  private log: SqliteLog | undefined;
  private readonly index = new MemoryIndex();
  private readonly database: StoreDatabase;
  private readonly enqueue: EnqueueOp<LogOp>;
  /** the log's share of the transaction in progress, until that transaction ends */
  private staged: StagedCommit | undefined;
  private orphans: StoreEntry[] | undefined;
  readonly stats: StoreStats;

  constructor(
    source: SqliteStoreConfig | StoreDatabase,
    /** the clock TTLs are judged by (RouterOptions.clock) */
    private readonly now: () => number = Date.now,
  ) {
    this.database = source instanceof StoreDatabase ? source : new StoreDatabase(source);
    this.enqueue = this.database.join<LogOp>({
      write: (ops) => {
        this.commit(ops);
      },
      committed: () => {
        this.settle(true);
      },
      undo: (ops) => {
        this.undo(ops);
      },
      // the batch persists the key's last state; `before` stays the committed one
      coalesce: (earlier, later) => ({ ...later, before: earlier.before }),
    });
    const index = this.index;
    const db = this.database.stats;
    // in a shared database the commit figures count every engine's writes
    this.stats = {
      get keys() {
        return index.keys;
      },
      get pendingWrites() {
        return db.pendingWrites;
      },
      get commits() {
        return db.commits;
      },
      get lastCommitMs() {
        return db.lastCommitMs;
      },
      get avgCommitMs() {
        return db.avgCommitMs;
      },
      get failedCommits() {
        return db.failedCommits;
      },
    };
  }

  async open(): Promise<void> {
    // invariant, not a catalogue error: the router opens its store once
    if (this.state !== 'new') throw new Error('a store can be opened once');
    // a store that failed to open may hold part of the log in memory: it stays unusable
    this.state = 'closed';
    const db = this.database.acquire();
    const orphans: StoreEntry[] = [];
    let log: SqliteLog;
    try {
      log = new SqliteLog(db);
      log.load(
        (entry) => {
          // sessions do not outlive the process: every loaded will is an orphan
          const orphan = entry.will !== undefined;
          this.index.put(entry, orphan);
          if (orphan) orphans.push(entry);
        },
        (realm, revision) => {
          this.index.raiseRevision(realm, revision);
        },
      );
    } catch (err) {
      await this.database.release().catch(() => undefined);
      throw err;
    }
    this.log = log;
    this.orphans = orphans;
    this.state = 'open';
  }

  async close(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'closed';
    // commits our pending writes (with whatever else is queued) before letting go
    const last = this.database.release();
    this.log = undefined;
    await last;
  }

  get(realm: string, key: string): StoreEntry | undefined {
    const entry = this.index.current(realm, key);
    if (entry === undefined) return undefined;
    return entry.expiresAt === undefined || entry.expiresAt > this.now() ? entry : undefined;
  }

  keyCount(realm: string): number {
    return this.index.realmSize(realm);
  }

  *entries(realm: string): IterableIterator<StoreEntry> {
    const all = this.index.realmEntries(realm);
    if (all === undefined) return;
    const now = this.now();
    for (const entry of all) if (isLive(entry, now)) yield entry;
  }

  range(realm: string, page: RangePage): StoreEntry[] {
    const out: StoreEntry[] = [];
    if (page.limit <= 0) return out;
    const now = this.now();
    for (const entry of this.index.range(realm, page.prefix, page.after)) {
      if (!isLive(entry, now)) continue;
      out.push(entry);
      if (out.length === page.limit) break;
    }
    return out;
  }

  write(realm: string, key: string, value: Payload, opts?: WriteOptions): WriteResult {
    this.assertOpen();
    const ttlMs = opts?.ttlMs;
    if (ttlMs !== undefined && !(Number.isFinite(ttlMs) && ttlMs > 0)) {
      throw new RouterError(Errors.invalidArgument, 'ttlMs must be a positive number');
    }
    const will = opts?.will;
    if (will !== undefined && !Number.isSafeInteger(will.session)) {
      throw new RouterError(Errors.invalidArgument, 'will session must be a session id');
    }
    // encode first: a value that cannot be stored fails here, having changed nothing
    const encoded = encodeStoredValue(value, opts?.meta);
    const willValue = will !== undefined && will.value !== null ? encodePayload(will.value) : null;

    const before = this.index.current(realm, key);
    const now = ttlMs !== undefined || before?.expiresAt !== undefined ? this.now() : 0;
    const revision = this.index.nextRevision(realm);
    const entry = makeEntry(realm, key, value, revision, ttlMs === undefined ? undefined : now + ttlMs, will, opts?.meta);
    this.index.put(entry);
    const committed = this.enqueue(compositeKey(realm, key), {
      realm,
      key,
      entry,
      revision,
      value: encoded,
      willValue,
      before,
    });
    return before !== undefined && isLive(before, now) ? { revision, committed, previous: before } : { revision, committed };
  }

  delete(realm: string, key: string): WriteResult | undefined {
    this.assertOpen();
    const before = this.get(realm, key);
    // an expired entry is already absent for callers; expire() reaps and reports it
    if (before === undefined) return undefined;
    return { ...this.remove(before), previous: before };
  }

  revision(realm: string): number {
    return this.index.revision(realm);
  }

  willsOf(session: number): StoreEntry[] {
    const owned = this.index.willsOf(session);
    if (owned === undefined) return [];
    const now = this.now();
    return [...owned].filter((e) => isLive(e, now));
  }

  orphanedWills(): StoreEntry[] {
    const orphans = this.orphans ?? [];
    this.orphans = undefined;
    const now = this.now();
    return orphans.filter((e) => this.index.isCurrent(e) && isLive(e, now));
  }

  nextExpiry(): number | undefined {
    return this.index.nextExpiry();
  }

  expire(now: number): ExpiredEntry[] {
    this.assertOpen();
    const expired: ExpiredEntry[] = [];
    for (let e = this.index.firstExpired(now); e !== undefined; e = this.index.firstExpired(now)) {
      expired.push({ ...e, deletionRevision: this.remove(e).revision });
    }
    return expired;
  }

  /** removes a stored entry with a new revision and queues the deletion */
  private remove(entry: StoreEntry): { revision: number; committed: Promise<void> } {
    const { realm, key } = entry;
    const revision = this.index.nextRevision(realm);
    this.index.remove(realm, key);
    const committed = this.enqueue(compositeKey(realm, key), {
      realm,
      key,
      entry: undefined,
      revision,
      value: undefined,
      willValue: null,
      before: entry,
    });
    return { revision, committed };
  }

  private commit(ops: readonly LogOp[]): void {
    if (this.log === undefined) throw new RouterError(Errors.unavailable, 'store is closed');
    this.staged = this.log.stage(ops, (realm) => this.index.revision(realm), this.index.keys);
  }

  /** the transaction holding our staged ops ended */
  private settle(committed: boolean): void {
    const staged = this.staged;
    this.staged = undefined;
    if (committed) staged?.committed();
    else staged?.failed();
  }

  /** puts memory back to the committed state of every key of a failed batch */
  private undo(ops: readonly LogOp[]): void {
    this.settle(false);
    for (const op of ops) {
      if (op.before !== undefined) this.index.put(op.before);
      else this.index.remove(op.realm, op.key);
    }
  }

  private assertOpen(): void {
    if (this.state !== 'open') {
      throw new RouterError(Errors.unavailable, this.state === 'new' ? 'store is not open' : 'store is closed');
    }
  }
}

function compositeKey(realm: string, key: string): string {
  // realm names are URIs and never contain NUL
  return `${realm}\u0000${key}`;
}
