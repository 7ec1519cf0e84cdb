import { Errors, RouterError } from '../errors';
import type { Payload } from '../payload';
import type { Expectation, MaybePromise } from './kv-engine';
import type { ExpiredEntry, RetainedStore, StoreEntry, WriteOptions } from './types';

/**
 * One realm's retained store as lib/retained.ts uses it, whatever the engine: reads are
 * synchronous (the embedded engine's memory, or a local mirror of a shared engine fed by
 * its change feed), writes are conditional (`expect`, the KvEngine contract of
 * kv-engine.ts) and decided by the engine. A write answers with its revision at once
 * (SQLite: one thread holds the data) or once the engine acknowledged it (JetStream).
 *
 * Implementations: SqliteRealmStore below (the embedded store, no extra cost) and
 * JetStreamRealmStore (lib/store/jetstream/realm-store.ts).
 */
export interface RealmWrite {
  /** the realm revision this write took: a fencing token */
  readonly revision: number;
  /** resolves when the write is durable (SQLite's group commit; JetStream: already) */
  readonly committed: Promise<void>;
}

export interface RealmWriteOptions extends WriteOptions {
  /** the write applies only if the key is at this revision ('absent': it has none) */
  expect?: Expectation;
}

/** What a realm store tells its owner about changes it did not make itself. */
export interface RealmStoreListener {
  /** a key changed, by this router or another one on the same engine: watch waiters wake */
  changed(key: string): void;
  /** an entry this router's expiry sweep removed: subscribers see the deletion */
  expired(entry: ExpiredEntry): void;
}

export interface RealmStore {
  readonly realm: string;
  /**
   * true: writes answer synchronously and only this process writes (the waiters are
   * served by the writer itself); false: the change feed reports every write, local ones
   * included, through the listener.
   */
  readonly local: boolean;
  listen(listener: RealmStoreListener): void;
  /** resolves once reads reflect the engine (the mirror caught up); at once for SQLite */
  readonly ready: Promise<void>;
  get(key: string): StoreEntry | undefined;
  keyCount(): number;
  entries(): IterableIterator<StoreEntry>;
  /** sorted by key, strictly after `after`, at most `limit` (RetainedStore.range) */
  range(prefix: string, after: string | undefined, limit: number): StoreEntry[];
  /** the last revision this view has seen in the realm */
  revision(): number;
  /**
   * Writes a key. Throws (or rejects with) `condition_failed` when `expect` does not hold;
   * `invalid_argument` for a value that cannot be stored.
   */
  write(key: string, value: Payload, opts: RealmWriteOptions): MaybePromise<RealmWrite>;
  /** deletes a key; undefined when it was absent */
  delete(key: string, expect?: number): MaybePromise<RealmWrite | undefined>;
  /**
   * The last revision of any change of `key` this view applied (deletions included), 0 if
   * none: after a conflict, `changedSince` waits for the change that caused it.
   */
  seen(key: string): number;
  /** resolves once this view applied a change of `key` newer than `revision` (or gives up after a while) */
  changedSince(key: string, revision: number): Promise<void>;
  /** live entries whose will belongs to a session of this router */
  willsOf(session: number): StoreEntry[];
  /**
   * The session was lost: fires its wills through `fire` (each one exactly once, even
   * when routers race) — SQLite calls it for willsOf(), JetStream claims the wills'
   * lease records first.
   */
  fireWills(session: number, fire: (entry: StoreEntry) => void): void;
}

export function conditionFailed(key: string): RouterError {
  return new RouterError(Errors.conditionFailed, `condition on ${key} does not hold`);
}

/**
 * The embedded engine for one realm: a thin view on the shared RetainedStore. Everything
 * is synchronous; `expect` is checked in the same turn as the write, so it never fails
 * after a check by the caller. Wills stay in the entries (orphaned wills of a previous
 * process fire at start-up, lib/router.ts), expiry stays on the router's timer.
 */
export class SqliteRealmStore implements RealmStore {
  readonly local = true;
  readonly ready = Promise.resolve();

  constructor(
    private readonly store: RetainedStore,
    readonly realm: string,
  ) {}

  listen(): void {
    // the only writer is this process, through RetainedTopics: nothing to report
  }

  get(key: string): StoreEntry | undefined {
    return this.store.get(this.realm, key);
  }

  keyCount(): number {
    return this.store.keyCount(this.realm);
  }

  entries(): IterableIterator<StoreEntry> {
    return this.store.entries(this.realm);
  }

  range(prefix: string, after: string | undefined, limit: number): StoreEntry[] {
    return this.store.range(this.realm, { prefix, after, limit });
  }

  revision(): number {
    return this.store.revision(this.realm);
  }

  write(key: string, value: Payload, opts: RealmWriteOptions): RealmWrite {
    const expect = opts.expect;
    if (expect !== undefined) {
      const current = this.store.get(this.realm, key);
      if (expect === 'absent' ? current !== undefined : current?.revision !== expect) throw conditionFailed(key);
    }
    return this.store.write(this.realm, key, value, opts);
  }

  delete(key: string, expect?: number): RealmWrite | undefined {
    if (expect !== undefined && this.store.get(this.realm, key)?.revision !== expect) throw conditionFailed(key);
    return this.store.delete(this.realm, key);
  }

  seen(key: string): number {
    return this.store.get(this.realm, key)?.revision ?? 0;
  }

  changedSince(): Promise<void> {
    return Promise.resolve();
  }

  willsOf(session: number): StoreEntry[] {
    return this.store.willsOf(session);
  }

  fireWills(session: number, fire: (entry: StoreEntry) => void): void {
    for (const e of this.store.willsOf(session)) if (e.realm === this.realm) fire(e);
  }
}
