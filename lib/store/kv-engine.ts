import type { Payload } from '../payload';

/**
 * The store contract a shared engine can honour: a key-value store with revisions, one
 * instance per realm (a JetStream KV bucket per realm). It never assumes the caller holds
 * the only copy: the engine assigns revisions, a conditional write names what it expects,
 * and the change feed reports writes made by any instance on the same bucket. nats.js KV
 * is the model (`create`, `update(k, v, revision)`, `delete({previousSeq})`, `watch`).
 *
 * Results are values or Promises (`MaybePromise`): the embedded SQLite engine answers
 * synchronously, so one process pays nothing for the cluster; callers settle both shapes
 * with `settle()`.
 *
 * Engines: SqliteKvEngine (lib/store/sqlite-kv-engine.ts, over the embedded store) and
 * JetStreamKvEngine (lib/store/jetstream/). lib/store/leases.ts builds wills as leases on
 * top of any engine. The router reaches a realm's store through RealmStore
 * (realm-store.ts): the embedded store directly (SqliteRealmStore, synchronous), or a
 * KvEngine behind a local mirror fed by its change feed (jetstream/realm-store.ts).
 */

export type MaybePromise<T> = T | Promise<T>;

/** Calls `next` with the value now, or once the promise resolves. */
export function settle<T, R>(v: MaybePromise<T>, next: (value: T) => MaybePromise<R>): MaybePromise<R> {
  return v instanceof Promise ? v.then(next) : next(v);
}

/** A write's condition: the key's current revision, or that the key does not exist. */
export type Expectation = number | 'absent';

export interface KvEntry {
  readonly key: string;
  /** the whole stored payload: writes replace it */
  readonly value: Payload;
  /** what the writer kept with the value, uninterpreted (StoreEntry.meta) */
  readonly meta?: Readonly<Record<string, unknown>>;
  /**
   * The revision of the write that produced this entry: monotonic per realm (a KV
   * bucket's stream sequence), so it serves as a fencing token.
   */
  readonly revision: number;
  /** epoch ms after which the entry counts as absent, or undefined */
  readonly expiresAt?: number;
}

export interface KvPutOptions {
  /**
   * The write applies only if the key is at this revision ('absent': does not exist, or
   * has expired); otherwise it throws `condition_failed` (lib/errors.ts) and changes
   * nothing. Of several racing writes with the same expectation exactly one succeeds.
   */
  expect?: Expectation;
  /**
   * Time to live in ms (> 0). Per key on both engines: nats-server 2.9 has no per-key TTL
   * (2.11 does), so the JetStream engine keeps `expiresAt` in the stored value, reads
   * treat an expired entry as absent, and `sweep()` deletes it (conditionally, so a
   * rewrite racing the sweep wins).
   */
  ttlMs?: number;
  meta?: Readonly<Record<string, unknown>>;
}

export interface KvDeleteOptions {
  /** the deletion applies only if the key is at this revision, else `condition_failed` */
  expect?: number;
}

export interface KvRange {
  /** keys start with this ('' = every key) */
  prefix: string;
  /** the last key of the previous page (exclusive cursor) */
  after?: string;
  limit: number;
}

/** One change reported by the feed. */
export interface KvChange {
  readonly op: 'put' | 'delete';
  readonly key: string;
  readonly revision: number;
  /** the new entry of a 'put' */
  readonly entry?: KvEntry;
}

export interface KvWatchOptions {
  /**
   * Report first the live entries (as puts) whose revision is >= this one, in revision
   * order, then every later change. Undefined: later changes only. Engines keep no full
   * history: a key changed several times since `fromRevision` is reported once, at its
   * latest state, and a key deleted before the watch began may go unreported.
   */
  fromRevision?: number;
}

export interface KvWatch {
  /** resolves once changes up to the moment of the watch call have been reported */
  readonly ready: Promise<void>;
  stop(): void;
}

export interface KvEngine {
  /** the live entry of a key; an expired one counts as absent */
  get(key: string): MaybePromise<KvEntry | undefined>;
  /** writes the key; resolves with the new revision once the engine acknowledged it */
  put(key: string, value: Payload, opts?: KvPutOptions): MaybePromise<number>;
  /** deletes the key with a new revision; undefined (no revision) when it was absent */
  delete(key: string, opts?: KvDeleteOptions): MaybePromise<number | undefined>;
  /**
   * One page of live entries whose keys start with `prefix`, sorted by key (JavaScript
   * string order), strictly after `after`, at most `limit`. Fewer than `limit` means the
   * range is exhausted.
   */
  range(page: KvRange): MaybePromise<KvEntry[]>;
  /** the change feed of keys starting with `prefix` ('' = all), in revision order */
  watch(prefix: string, opts: KvWatchOptions, onChange: (change: KvChange) => void): MaybePromise<KvWatch>;
  /** deletes entries expired at `now`; resolves with the keys this instance removed */
  sweep(now: number): MaybePromise<string[]>;
  /** the last revision assigned in the realm, 0 if none ever was */
  revision(): MaybePromise<number>;
  /** releases this instance (not the data); watches stop */
  close(): Promise<void>;
}
