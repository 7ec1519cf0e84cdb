import type { Payload } from '../payload';

/**
 * The retained key-value store, protocol-neutral (docs/ARCHITECTURE.md "Retained store and sync
 * primitives"). Engines keep the live state in memory so reads are synchronous, and make
 * writes durable in the background; a write's `committed` promise is what an ack waits
 * for. This is the embedded engine's interface, one process holding the only copy; a
 * store shared by several routers implements the conditional contract of kv-engine.ts
 * instead, and the router reaches either through realm-store.ts.
 */

/** What happens to a key when the session owning its will is lost. */
export interface StoreWill {
  /** the session that owns the will */
  readonly session: number;
  /** the value written when the session is lost; `null` deletes the key instead */
  readonly value: Payload | null;
}

/**
 * One stored key. Entries are immutable snapshots: every write or delete replaces the
 * entry object, so a reference held by a caller never changes under it.
 */
export interface StoreEntry {
  readonly realm: string;
  readonly key: string;
  /** the whole stored payload: writes replace it, never merge into it */
  readonly value: Payload;
  /** the realm revision assigned by the write that produced this entry */
  readonly revision: number;
  /** epoch ms after which the entry no longer exists, or undefined */
  readonly expiresAt?: number;
  readonly will?: StoreWill;
  /**
   * What the writer kept with the value, uninterpreted by the store: the publication's
   * QoS and headers (MQTT keeps a retained message's QoS and properties [MQTT-3.3.1-5]).
   */
  readonly meta?: Readonly<Record<string, unknown>>;
}

/** An entry removed by expiry, as it was, with the revision its removal took. */
export interface ExpiredEntry extends StoreEntry {
  /** the realm revision assigned to the deletion (above `revision`) */
  readonly deletionRevision: number;
}

export interface WriteOptions {
  /** time to live in ms, > 0; undefined = the entry does not expire */
  ttlMs?: number;
  /**
   * Will of the written entry. undefined = no will: a write without a will cancels any
   * will the key had before.
   */
  will?: StoreWill;
  /** kept with the value and returned in StoreEntry.meta */
  meta?: Readonly<Record<string, unknown>>;
}

export interface RangePage {
  /** keys start with this ('' = every key) */
  prefix: string;
  /** the last key of the previous page */
  after?: string;
  limit: number;
}

export interface WriteResult {
  /** the realm revision assigned to this write (or deletion): a fencing token */
  readonly revision: number;
  /**
   * Resolves when the write is durable (its transaction committed); rejects if the
   * commit failed, in which case the write has been undone in memory too. Writes
   * committed together share one promise. The store attaches a no-op handler, so a
   * caller that does not need the ack may ignore it without an unhandled rejection.
   */
  readonly committed: Promise<void>;
  /** the live entry this write replaced or deleted, if any */
  readonly previous?: StoreEntry;
}

export interface StoreStats {
  /** live keys over all realms (expired but not yet reaped keys included) */
  readonly keys: number;
  /** writes and deletions applied in memory and not yet committed */
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

export interface RetainedStore {
  /** loads state; after open, reads are synchronous */
  open(): Promise<void>;
  /** flushes pending commits, then releases the engine; rejects if that last commit failed */
  close(): Promise<void>;
  /** the live entry of a key; expired entries count as absent */
  get(realm: string, key: string): StoreEntry | undefined;
  /** keys stored in a realm (for limits.maxRetainedKeysPerRealm; may count entries expiring this moment) */
  keyCount(realm: string): number;
  /** all live entries of a realm (the caller filters by pattern); order unspecified */
  entries(realm: string): IterableIterator<StoreEntry>;
  /**
   * One page of a paged range read: live entries whose keys start with `prefix`, sorted
   * by key (JavaScript string order), strictly after the cursor `after` when given, at
   * most `limit`. Fewer than `limit` means the range is exhausted; the next page starts
   * after the last key returned. (NATS KV lists keys by subject filter the same way.)
   */
  range(realm: string, page: RangePage): StoreEntry[];
  /**
   * Replaces the key's value. Applied to memory at once with a new realm revision;
   * durable once `committed` resolves. Throws `invalid_argument` for a value that cannot
   * be encoded or a bad ttl, without changing anything.
   */
  write(realm: string, key: string, value: Payload, opts?: WriteOptions): WriteResult;
  /** removes the key with a new realm revision; undefined (and no revision) when absent */
  delete(realm: string, key: string): WriteResult | undefined;
  /** the last revision assigned in the realm, 0 if none ever was */
  revision(realm: string): number;
  /** live entries whose will belongs to a session: used when that session ends */
  willsOf(session: number): StoreEntry[];
  /**
   * Wills left over from a previous process (their sessions no longer exist). Returned
   * by the first call after open(), then empty. Entries overwritten since open are left
   * out. These are not indexed under their old session ids, so a new session that
   * happens to draw the same id never inherits them.
   */
  orphanedWills(): StoreEntry[];
  /** earliest expiresAt among entries, or undefined */
  nextExpiry(): number | undefined;
  /**
   * Removes entries expired at `now` and returns them as they were, each with the
   * revision of its removal. Removals are committed like deletes.
   */
  expire(now: number): ExpiredEntry[];
  readonly stats: StoreStats;
}

export interface SqliteStoreConfig {
  engine: 'sqlite';
  /** database file, or ':memory:' (tests) */
  path: string;
  /**
   * SQLite `synchronous` in WAL mode.
   * - 'full' (default): the WAL is fsynced on every commit, so an acked write survives
   *   power loss and OS crash.
   * - 'normal': no fsync on commit (only at checkpoints). An acked write survives a
   *   process crash, but the last commits before a power loss or OS crash may be lost;
   *   the database stays consistent either way.
   */
  synchronous?: 'full' | 'normal';
  /**
   * How long open() waits for another process to release the file (default 5000). The
   * store takes the file exclusively, so a second router on it fails with SQLITE_BUSY;
   * the wait covers a restart that overlaps the old process's shutdown.
   */
  busyTimeoutMs?: number;
}

export type StoreConfig = SqliteStoreConfig;
