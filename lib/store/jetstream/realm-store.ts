import { Errors, RouterError } from '../../errors';
import type { Payload } from '../../payload';
import { timerDelay } from '../../timers';
import type { KvChange, KvEngine, KvWatch } from '../kv-engine';
import { ExpiryHeap } from '../expiry-heap';
import { MemoryIndex, makeEntry } from '../memory-index';
import { type RealmStore, type RealmStoreListener, type RealmWrite, type RealmWriteOptions } from '../realm-store';
import type { StoreEntry, StoreWill } from '../types';
import { WILL_META, willTagOf } from './will-tag';

/** What the realm store needs of its node (lib/store/jetstream/node.ts). */
export interface WillBook {
  /** this router's node id */
  readonly node: string;
  /** how long a node's lease lasts: a router that wrote an expiring key and went quiet for this long is presumed dead */
  readonly leaseMs: number;
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
 * delivers them (milliseconds on a LAN). Expiry: the router that wrote an expiring value
 * deletes it when it expires (conditionally: a rewrite that raced it stays), so that
 * router's subscribers see the deletion as an event and the cluster forwards it once; the
 * other routers step in only when the writer has not done so a lease later (it died).
 */
export class JetStreamRealmStore implements RealmStore {
  readonly local = false;
  readonly ready: Promise<void>;
  private readonly index = new MemoryIndex();
  /** last revision applied per key, deletions included (tombstones) */
  private readonly last = new Map<string, number>();
  /** who waits for a key to change past a revision */
  private readonly changeWaiters = new Map<string, { after: number; resolve: () => void }[]>();
  /** keys this router's sweep is deleting: their waiters wake once it is known whose deletion it was */
  private readonly sweeping = new Set<string>();
  /** sessions of this router that set a will here: their will records are claimed when they end */
  private readonly willSessions = new Set<number>();
  private listener: RealmStoreListener | undefined;
  /** set once the bucket is open (ready) */
  private engine: KvEngine | undefined;
  private watch: KvWatch | undefined;
  /** expiring entries by when this router deletes them (the writer at expiry, others a lease later) */
  private readonly sweeps = new ExpiryHeap<Sweep>((s) => this.index.current(this.realm, s.entry.key) === s.entry);
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
      this.watch = await engine.watch('', { fromRevision: 0 }, (c) => {
        this.apply(c);
      });
      // closed while the feed was being set up: close() found no feed to stop
      if (this.closed) this.watch.stop();
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
    if (opts.ttlMs !== undefined) meta = { ...meta, [SWEEPER_META]: this.wills.node };
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
      const will: StoreWill | undefined =
        tag !== undefined && tag.node === this.wills.node ? { session: tag.session, value: tag.value } : undefined;
      const entry = makeEntry(this.realm, e.key, e.value, e.revision, e.expiresAt, will, e.meta);
      this.index.put(entry);
      if (entry.expiresAt !== undefined) {
        const mine = e.meta?.[SWEEPER_META] === this.wills.node;
        const at = mine ? entry.expiresAt : entry.expiresAt + this.wills.leaseMs;
        this.sweeps.push({ expiresAt: at, entry });
        this.scheduleSweep(at);
      }
    } else {
      this.index.remove(this.realm, c.key);
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
    // a deletion this router's sweep is making: its waiters wake after the announcement
    if (!(c.op === 'delete' && this.sweeping.has(c.key))) this.listener?.changed(c.key);
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
    for (let s = this.sweeps.peek(); s !== undefined && s.expiresAt <= now; s = this.sweeps.peek()) {
      this.sweeps.pop();
      due.push(s.entry);
    }
    for (const e of due) {
      // reads already treat it as absent; the deletion comes through the feed
      let revision: number | undefined;
      this.sweeping.add(e.key);
      try {
        // conditional: a rewrite that raced the sweep stays (on any router)
        revision = await (await this.opened()).delete(e.key, { expect: e.revision });
        // the feed may bring the deletion before or after the engine's answer
        if (revision !== undefined) await this.applied(e.key, revision);
      } catch {
        revision = undefined; // rewritten meanwhile, or swept by another router: that one announces it
      } finally {
        this.sweeping.delete(e.key);
      }
      // close() may have run during the awaits (TypeScript cannot see that: microsoft/TypeScript#9998)
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
      if (this.closed) return;
      // the router whose deletion it is announces it, before its waiters take the key
      if (revision !== undefined) this.listener?.expired({ ...e, deletionRevision: revision });
      else this.listener?.changed(e.key);
    }
    const next = this.sweeps.peek();
    if (next !== undefined) this.scheduleSweep(Math.max(next.expiresAt, Date.now() + 50));
  }
}

/** an expiring entry and when this router deletes it */
interface Sweep {
  readonly expiresAt: number;
  readonly entry: StoreEntry;
}

/** the meta field naming the node that deletes an expiring value when it expires */
const SWEEPER_META = '$sweeper';

function* live(it: IterableIterator<StoreEntry> | undefined): Generator<StoreEntry, undefined, undefined> {
  if (it === undefined) return undefined;
  const now = Date.now();
  for (const e of it) if (e.expiresAt === undefined || e.expiresAt > now) yield e;
  return undefined;
}
