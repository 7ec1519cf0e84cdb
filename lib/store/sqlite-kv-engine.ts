import { Errors, RouterError } from '../errors';
import type { Payload } from '../payload';
import { catchUp } from './catch-up';
import type { KvChange, KvDeleteOptions, KvEngine, KvEntry, KvPutOptions, KvRange, KvWatch, KvWatchOptions } from './kv-engine';
import type { RetainedStore, StoreEntry } from './types';

type Listener = (change: KvChange) => void;

/**
 * The change feeds of one embedded store, per realm, shared by every SqliteKvEngine on
 * that store: a write through one instance wakes the watches of all (the same process
 * is the only writer, so this is the whole feed). Writes made on the RetainedStore
 * directly, not through an engine, are not reported.
 */
const feeds = new WeakMap<RetainedStore, Map<string, Set<Listener>>>();

function feedOf(store: RetainedStore, realm: string): Set<Listener> {
  let realms = feeds.get(store);
  if (realms === undefined) feeds.set(store, (realms = new Map<string, Set<Listener>>()));
  let set = realms.get(realm);
  if (set === undefined) realms.set(realm, (set = new Set<Listener>()));
  return set;
}

/**
 * The KvEngine contract over the embedded SQLite store, for one realm. Reads, the
 * condition check and the change feed are synchronous: one thread holds the data, so
 * check-then-write is atomic. put() and delete() resolve once the group commit made the
 * write durable, as a retained publish's ack does; watches are told at once (memory),
 * before that commit.
 */
export class SqliteKvEngine implements KvEngine {
  private readonly feed: Set<Listener>;
  private readonly mine = new Set<Listener>();

  constructor(
    private readonly store: RetainedStore,
    private readonly realm: string,
  ) {
    this.feed = feedOf(store, realm);
  }

  get(key: string): KvEntry | undefined {
    const e = this.store.get(this.realm, key);
    return e === undefined ? undefined : toEntry(e);
  }

  put(key: string, value: Payload, opts?: KvPutOptions): Promise<number> {
    const expect = opts?.expect;
    if (expect !== undefined) {
      const current = this.store.get(this.realm, key);
      if (expect === 'absent' ? current !== undefined : current?.revision !== expect) {
        return Promise.reject(conditionFailed(key));
      }
    }
    const w = this.store.write(this.realm, key, value, { ttlMs: opts?.ttlMs, meta: opts?.meta });
    const entry = this.store.get(this.realm, key);
    if (entry !== undefined) this.emit({ op: 'put', key, revision: w.revision, entry: toEntry(entry) });
    return w.committed.then(() => w.revision);
  }

  delete(key: string, opts?: KvDeleteOptions): Promise<number | undefined> {
    const expect = opts?.expect;
    if (expect !== undefined && this.store.get(this.realm, key)?.revision !== expect) {
      return Promise.reject(conditionFailed(key));
    }
    const w = this.store.delete(this.realm, key);
    if (w === undefined) return Promise.resolve(undefined);
    this.emit({ op: 'delete', key, revision: w.revision });
    return w.committed.then(() => w.revision);
  }

  range(page: KvRange): KvEntry[] {
    return this.store.range(this.realm, page).map(toEntry);
  }

  watch(prefix: string, opts: KvWatchOptions, onChange: (change: KvChange) => void): KvWatch {
    const from = opts.fromRevision;
    if (from !== undefined) {
      const snapshot: KvEntry[] = [];
      for (const e of this.store.entries(this.realm)) if (e.key.startsWith(prefix)) snapshot.push(toEntry(e));
      catchUp(snapshot, from, [], onChange);
    }
    const listener: Listener = (c) => {
      if (c.key.startsWith(prefix)) onChange(c);
    };
    this.feed.add(listener);
    this.mine.add(listener);
    return {
      ready: Promise.resolve(),
      stop: () => {
        this.feed.delete(listener);
        this.mine.delete(listener);
      },
    };
  }

  /** expires due entries of the whole store (every realm's feed hears of its own) */
  sweep(now: number): string[] {
    const removed: string[] = [];
    for (const e of this.store.expire(now)) {
      const change: KvChange = { op: 'delete', key: e.key, revision: e.deletionRevision };
      if (e.realm === this.realm) {
        removed.push(e.key);
        this.emit(change);
      } else {
        for (const l of [...feedOf(this.store, e.realm)]) l(change);
      }
    }
    return removed;
  }

  revision(): number {
    return this.store.revision(this.realm);
  }

  close(): Promise<void> {
    for (const l of this.mine) this.feed.delete(l);
    this.mine.clear();
    return Promise.resolve();
  }

  private emit(change: KvChange): void {
    // a copy: a listener may stop its watch (or start one) while being told
    for (const l of [...this.feed]) l(change);
  }
}

function toEntry(e: StoreEntry): KvEntry {
  return { key: e.key, value: e.value, revision: e.revision, meta: e.meta, expiresAt: e.expiresAt };
}

function conditionFailed(key: string): RouterError {
  return new RouterError(Errors.conditionFailed, `key ${key} is not at the expected revision`);
}
