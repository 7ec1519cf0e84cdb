import { Errors, RouterError } from '../../errors';
import type { Payload } from '../../payload';
import { timerDelay } from '../../timers';
import type { KvChange, KvEngine, KvWatch } from '../kv-engine';
import { MemoryIndex, makeEntry } from '../memory-index';
import { type RealmStore, type RealmStoreListener, type RealmWrite, type RealmWriteOptions } from '../realm-store';
import type { StoreEntry, StoreWill } from '../types';
import { WILL_META, willTagOf } from './will-tag';

/** What the realm store needs of its node (lib/store/jetstream/node.ts). */
export interface WillBook {
  /** this router's node id */
  readonly node: string;
  /** records a will so that another router can fire it when this node's lease lapses */
  setWill(realm: string, key: string, session: number, value: Payload | null): Promise<void>;
  /** claims the wills of a lost session (each once) and hands each to `fire` */
  fireSession(session: number): void;
}

/** how long a conflict waits for the feed to bring the write that caused it */
const CATCH_UP_MS = 2000;

/**
 * A realm on the JetStream KV engine (or any KvEngine): a local mirror, fed by the
 * engine's change feed from revision 0, answers the synchronous reads; writes go to the
 * engine, conditional, and are decided there. A write resolves once the mirror applied
 * it, so a router reads its own writes; writes of other routers show up when the feed
 * delivers them (milliseconds on a LAN). Expiry: the sweep timer runs at the mirror's
 * earliest expiresAt; the engine deletes conditionally, so one router wins each.
 */
export class JetStreamRealmStore implements RealmStore {
  readonly local = false;
  readonly ready: Promise<void>;
  private readonly index = new MemoryIndex();
  /** last revision applied per key, deletions included (tombstones) */
  private readonly last = new Map<string, number>();
  /** who waits for a key to change past a revision */
  private readonly changeWaiters = new Map<string, { after: number; resolve: () => void }[]>();
  /** keys this router's sweep is deleting: their deletion is an expiry */
  private readonly sweeping = new Set<string>();
  /** sessions of this router that set a will here: their will records are claimed when they end */
  private readonly willSessions = new Set<number>();
  private listener: RealmStoreListener | undefined;
  /** set once the bucket is open (ready) */
  private engine: KvEngine | undefined;
  private watch: KvWatch | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweepAt = Infinity;
  private lastRevision = 0;
  private closed = false;

  constructor(
    readonly realm: string,
    opening: Promise<KvEngine>,
    private readonly wills: WillBook,
  ) {
    this.ready = (async () => {
      const engine = await opening;
      this.engine = engine;
      this.watch = await engine.watch('', { fromRevision: 0 }, (c) => this.apply(c));
      await this.watch.ready;
    })();
    // a failure is the opener's to report (node.ts awaits ready); never unhandled here
    this.ready.catch(() => undefined);
  }

  listen(listener: RealmStoreListener): void {
    this.listener = listener;
  }

  get(key: string): StoreEntry | undefined {
    const e = this.index.current(this.realm, key);
    return e === undefined || (e.expiresAt !== undefined && e.expiresAt <= Date.now()) ? undefined : e;
  }

  keyCount(): number {
    return this.index.realmSize(this.realm);
  }

  entries(): IterableIterator<StoreEntry> {
    return live(this.index.realmEntries(this.realm));
  }

  range(prefix: string, after: string | undefined, limit: number): StoreEntry[] {
    const out: StoreEntry[] = [];
    const now = Date.now();
    for (const e of this.index.range(this.realm, prefix, after)) {
      if (out.length >= limit) break;
      if (e.expiresAt === undefined || e.expiresAt > now) out.push(e);
    }
    return out;
  }

  revision(): number {
    return this.lastRevision;
  }

  async write(key: string, value: Payload, opts: RealmWriteOptions): Promise<RealmWrite> {
    let meta = opts.meta;
    if (opts.will !== undefined) {
      const will = opts.will;
      this.willSessions.add(will.session);
      // recorded before the value: a lease that lapses in between fires a will whose
      // value check (willTagOf) finds no value carrying it yet, so nothing happens
      await this.wills.setWill(this.realm, key, will.session, will.value);
      meta = { ...meta, [WILL_META]: { node: this.wills.node, session: will.session, value: will.value } };
    }
    const revision = await (await this.opened()).put(key, value, { expect: opts.expect, ttlMs: opts.ttlMs, meta });
    await this.applied(key, revision);
    return { revision, committed: Promise.resolve() };
  }

  async delete(key: string, expect?: number): Promise<RealmWrite | undefined> {
    const revision = await (await this.opened()).delete(key, expect === undefined ? undefined : { expect });
    if (revision === undefined) return undefined;
    await this.applied(key, revision);
    return { revision, committed: Promise.resolve() };
  }

  seen(key: string): number {
    return this.last.get(key) ?? 0;
  }

  changedSince(key: string, revision: number): Promise<void> {
    if (this.seen(key) > revision) return Promise.resolve();
    return this.waitChange(key, revision, CATCH_UP_MS);
  }

  willsOf(session: number): StoreEntry[] {
    const out: StoreEntry[] = [];
    for (const e of this.index.willsOf(session) ?? []) if (e.realm === this.realm) out.push(e);
    return out;
  }

  fireWills(session: number): void {
    // the node claims the session's will records (each once, lib/store/leases.ts) and
    // fires each through the realm's RetainedTopics.fireLeaseWill
    // also when no value carries one any more: the records are cleared (claimed, found
    // cancelled), so they do not wait for this node's lease to lapse
    if (this.willSessions.delete(session)) this.wills.fireSession(session);
  }

  close(): void {
    this.closed = true;
    this.watch?.stop();
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    for (const list of this.changeWaiters.values()) for (const w of list) w.resolve();
    this.changeWaiters.clear();
  }

  private async opened(): Promise<KvEngine> {
    if (this.engine === undefined) await this.ready;
    if (this.engine === undefined) throw new RouterError(Errors.unavailable, `store of realm ${this.realm} is not open`);
    return this.engine;
  }

  /**
   * Waits until the feed brought this router's own write, so reads see it. Bounded: a
   * feed that stalls (NATS reconnecting) delays the ack, it does not hold it forever.
   */
  private applied(key: string, revision: number): Promise<void> {
    if (this.seen(key) >= revision) return Promise.resolve();
    return this.waitChange(key, revision - 1, CATCH_UP_MS);
  }

  private waitChange(key: string, after: number, timeoutMs: number): Promise<void> {
    if (this.closed) return Promise.reject(new RouterError(Errors.systemShutdown, 'router is shutting down'));
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const w = {
        after,
        resolve: () => {
          if (timer) clearTimeout(timer);
          resolve();
        },
      };
      let list = this.changeWaiters.get(key);
      if (list === undefined) this.changeWaiters.set(key, (list = []));
      list.push(w);
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          const l = this.changeWaiters.get(key);
          const i = l?.indexOf(w) ?? -1;
          if (l && i >= 0) l.splice(i, 1);
          resolve();
        }, timeoutMs);
        timer.unref();
      }
    });
  }

  /** one change from the feed, in revision order */
  private apply(c: KvChange): void {
    if (c.revision > this.lastRevision) this.lastRevision = c.revision;
    if ((this.last.get(c.key) ?? 0) >= c.revision) return;
    this.last.set(c.key, c.revision);
    if (c.op === 'put' && c.entry !== undefined) {
      const e = c.entry;
      const tag = e.meta !== undefined ? willTagOf(e) : undefined;
      // only this node's wills are indexed by session: the others fire by lease
      const will: StoreWill | undefined = tag !== undefined && tag.node === this.wills.node ? { session: tag.session, value: tag.value } : undefined;
      const entry = makeEntry(this.realm, e.key, e.value, e.revision, e.expiresAt, will, e.meta);
      this.index.put(entry);
      if (entry.expiresAt !== undefined) this.scheduleSweep(entry.expiresAt);
    } else {
      const old = this.index.remove(this.realm, c.key);
      if (old !== undefined && this.sweeping.delete(c.key)) this.listener?.expired({ ...old, deletionRevision: c.revision });
    }
    const list = this.changeWaiters.get(c.key);
    if (list !== undefined) {
      const keep = list.filter((w) => {
        if (c.revision <= w.after) return true;
        w.resolve();
        return false;
      });
      if (keep.length === 0) this.changeWaiters.delete(c.key);
      else this.changeWaiters.set(c.key, keep);
    }
    this.listener?.changed(c.key);
  }

  private scheduleSweep(at: number): void {
    if (this.closed || at >= this.sweepAt) return;
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    this.sweepAt = at;
    this.sweepTimer = setTimeout(() => void this.sweep(), timerDelay(at - Date.now()));
    this.sweepTimer.unref();
  }

  private async sweep(): Promise<void> {
    this.sweepTimer = undefined;
    this.sweepAt = Infinity;
    if (this.closed) return;
    const now = Date.now();
    const due: StoreEntry[] = [];
    for (let e = this.index.firstExpired(now); e !== undefined; e = this.index.firstExpired(now)) {
      due.push(e);
      // out of the heap for this pass; the feed's deletion removes it for good
      this.index.remove(this.realm, e.key);
    }
    // put back: reads already treat them as absent; the deletion comes through the feed
    for (const e of due) this.index.put(e);
    for (const e of due) {
      this.sweeping.add(e.key);
      try {
        // conditional: a rewrite that raced the sweep stays (on any router)
        await (await this.opened()).delete(e.key, { expect: e.revision });
      } catch {
        this.sweeping.delete(e.key); // rewritten meanwhile, or swept by another router
      }
    }
    const next = this.index.nextExpiry();
    if (next !== undefined) this.scheduleSweep(Math.max(next, Date.now() + 50));
  }
}

function* live(it: IterableIterator<StoreEntry> | undefined): Generator<StoreEntry, undefined, undefined> {
  if (it === undefined) return undefined;
  const now = Date.now();
  for (const e of it) if (e.expiresAt === undefined || e.expiresAt > now) yield e;
  return undefined;
}

