import type { Broker, BrokerEvent, PublishOptions } from './broker';
import { conditionHolds, isEmptyValue, valueOf } from './condition';
import { Errors, RouterError } from './errors';
import type { MessageHeaders } from './headers';
import { stringifyExact } from './json-exact';
import type { Payload } from './payload';
import type { Session } from './session';
import type { Expectation, MaybePromise } from './store/kv-engine';
import { willTagOf } from './store/jetstream/will-tag';
import type { RealmStore, RealmWrite } from './store/realm-store';
import type { ExpiredEntry, StoreEntry } from './store/types';
import { patternMatches, type TopicPattern } from './topic';

/** The store-related publish options (fox-wamp style), protocol-neutral. */
export interface RetainOptions {
  /** keep the value in the store; an empty value deletes the key */
  retain?: boolean;
  /** publish only if the stored value matches: null = key absent, object = partial match */
  when?: unknown;
  /** with `when`: wait until the condition holds instead of failing */
  watch?: boolean;
  /** value written (null: key deleted) when the publishing session ends; undefined = none */
  will?: Payload | null;
  /** seconds until the value expires */
  ttl?: number;
}

/**
 * fox-wamp publish options for the retained store (retain, when, watch, will, ttl) as
 * WAMP PUBLISH.Options and the HTTP API's `options` name them.
 */
export function retainOptionsFrom(o: Record<string, unknown>): RetainOptions {
  const out: RetainOptions = {};
  if (o['retain'] === true) out.retain = true;
  if ('when' in o && o['when'] !== undefined) out.when = o['when'];
  if (o['watch'] === true) out.watch = true;
  if ('will' in o && o['will'] !== undefined) out.will = o['will'] === null ? null : { args: [o['will']] };
  const ttl = o['ttl'];
  if (ttl !== undefined) {
    if (typeof ttl !== 'number' || !(ttl > 0))
      throw new RouterError(Errors.invalidArgument, 'PUBLISH.Options.ttl must be a positive number of seconds');
    out.ttl = ttl;
  }
  return out;
}

export interface RetainedAck {
  publicationId: number;
  /** subscribers reached (plain publishes; MQTT 5 answers "no matching subscribers") */
  deliveries?: number;
  /** the key's new revision: a fencing token, increasing on every change */
  revision?: number;
}

/** limits.maxRetainedKeysPerRealm and the largest retained value (limits.maxRetainedValueBytes). */
export interface RetainedLimits {
  maxKeys: number;
  maxValueBytes: number;
  /** a limit refused a write: the router counts and logs it */
  onLimitHit?(session: Session | undefined, limit: 'max_retained_keys' | 'max_retained_value_bytes', key: string): void;
}

interface Waiter {
  session: Session;
  topic: string;
  payload: Payload;
  options: PublishOptions & RetainOptions;
  resolve(ack: RetainedAck): void;
  reject(err: RouterError): void;
}

/**
 * Retained values and the sync primitives on top of them (when / watch / will / ttl)
 * for one realm, on any engine (lib/store/realm-store.ts). The engine owns the keys and
 * decides conditional writes; this class owns the waiters and decides what a publish
 * does to the store, then hands the event to the broker.
 *
 * `when` is a read, then a write conditional on the revision read (`expect`), retried
 * when the engine refuses it because another writer got there first. On the embedded
 * engine the read and the write happen in one turn, so the write never conflicts and
 * everything stays synchronous. On a shared engine (JetStream) a write resolves after the
 * engine acknowledged it; `watch` waiters are woken by the engine's change feed, so a
 * write by another router wakes them too; one waiter's write is in flight per key at a
 * time (one winner per change, first come first served).
 */
export class RetainedTopics {
  /** watchers per key, in arrival order */
  private readonly waiters = new Map<string, Waiter[]>();
  /** keys whose winning waiter's write is in flight (shared engines only) */
  private readonly serving = new Set<string>();
  /**
   * Per session, the end of its chain of store writes still waiting for a shared engine:
   * its later publishes (plain ones too, lib/realm.ts) wait for it, so nothing it
   * published later is delivered before an earlier write.
   */
  private readonly inFlight = new Map<Session, Promise<void>>();

  constructor(
    private readonly realm: string,
    private readonly store: RealmStore,
    private readonly broker: Broker,
    /** routes the event on (history, taps); a promise holds the ack (lib/publication-taps.ts) */
    private readonly onEvent: (event: BrokerEvent) => Promise<void> | undefined,
    /** a value with a TTL was written: the owner of the expiry timer reschedules */
    private readonly onTtl: () => void,
    private readonly limits: RetainedLimits = { maxKeys: Infinity, maxValueBytes: Infinity },
  ) {
    store.listen({
      changed: (key) => {
        this.serveWaiters(key);
      },
      expired: (e) => {
        this.expired(e);
      },
    });
  }

  /** Does this publish need the store? */
  static involved(o: RetainOptions): boolean {
    return o.retain === true || o.when !== undefined || o.will !== undefined;
  }

  /** the store engine of this realm (the cluster reads and watches it) */
  get engine(): RealmStore {
    return this.store;
  }

  /**
   * What a session's next publish must wait for: its store writes still in flight on a
   * shared engine. Undefined (nothing to wait for) on the embedded engine.
   */
  pendingWrites(session: Session | undefined): Promise<void> | undefined {
    return session === undefined || this.inFlight.size === 0 ? undefined : this.inFlight.get(session);
  }

  publish(
    session: Session | undefined,
    topic: string,
    payload: Payload,
    options: PublishOptions & RetainOptions,
  ): Promise<RetainedAck> {
    if (this.closed) return Promise.reject(new RouterError(Errors.systemShutdown, 'router is shutting down'));
    if (this.store.local) return this.attempt(session, topic, payload, options, undefined);
    // shared engine: this write joins the session's chain; the chain moves on once the
    // engine answered (or the publish waits on a `watch` condition: that wait does not
    // hold the session's later publishes back)
    let release: () => void = noop;
    const done = new Promise<void>((r) => (release = r));
    const prev = session === undefined ? undefined : this.inFlight.get(session);
    if (session !== undefined) {
      const tail = prev === undefined ? done : prev.then(() => done);
      this.inFlight.set(session, tail);
      void tail.then(() => {
        if (this.inFlight.get(session) === tail) this.inFlight.delete(session);
      });
    }
    const run = (): Promise<RetainedAck> => this.store.ready.then(() => this.attempt(session, topic, payload, options, release));
    const result = prev === undefined ? run() : prev.then(run);
    result.then(release, release);
    return result;
  }

  /** One try: the limits, the condition read, then the (conditional) write. */
  private attempt(
    session: Session | undefined,
    topic: string,
    payload: Payload,
    options: PublishOptions & RetainOptions,
    release: (() => void) | undefined,
  ): Promise<RetainedAck> {
    const refused = options.retain === true ? this.overLimit(session, topic, payload) : undefined;
    if (refused) return Promise.reject(refused);
    if (options.when === undefined) return this.apply(session, topic, payload, options, undefined, release);
    const entry = this.store.get(topic);
    if (!holds(entry, options.when)) {
      if (options.watch !== true || !session) {
        return Promise.reject(new RouterError(Errors.conditionFailed, `condition on ${topic} does not hold`));
      }
      release?.();
      return new Promise((resolve, reject) => {
        const w: Waiter = { session, topic, payload, options, resolve, reject };
        const list = this.waiters.get(topic);
        if (list) list.push(w);
        else this.waiters.set(topic, [w]);
        // the change that makes it hold may have come while this publish waited for its turn
        if (!this.store.local) this.serveWaiters(topic);
      });
    }
    const seen = this.store.seen(topic);
    const written = this.apply(session, topic, payload, options, entry?.revision ?? 'absent', release);
    if (this.store.local) return written;
    // another router wrote between the read and the write: once the feed brought its
    // change, the condition is evaluated again
    return written.catch(async (err: unknown) => {
      if (!isConflict(err)) throw err;
      await this.store.changedSince(topic, seen);
      return this.attempt(session, topic, payload, options, release);
    });
  }

  /** A retained write the realm's limits refuse: too large a value, or one key too many. */
  private overLimit(session: Session | undefined, topic: string, payload: Payload): RouterError | undefined {
    if (isEmptyValue(payload)) return undefined; // a delete never grows the store
    const size = payloadSize(payload);
    if (size > this.limits.maxValueBytes) {
      this.limits.onLimitHit?.(session, 'max_retained_value_bytes', topic);
      return new RouterError(Errors.payloadSizeExceeded, `retained value of ${size} bytes exceeds ${this.limits.maxValueBytes}`);
    }
    if (this.store.get(topic) === undefined && this.store.keyCount() >= this.limits.maxKeys) {
      this.limits.onLimitHit?.(session, 'max_retained_keys', topic);
      return new RouterError(Errors.limitExceeded, `realm holds the maximum of ${this.limits.maxKeys} retained keys`);
    }
    return undefined;
  }

  /**
   * The write and the event, once the condition holds. `expect`: the revision the
   * condition was read at ('absent': the key had none), undefined for an unconditional write.
   */
  private apply(
    session: Session | undefined,
    topic: string,
    payload: Payload,
    options: PublishOptions & RetainOptions,
    expect: Expectation | undefined,
    release?: () => void,
  ): Promise<RetainedAck> {
    if (options.retain !== true) {
      release?.();
      return this.emitted(this.emit(session, topic, payload, options, undefined));
    }
    let w: MaybePromise<RealmWrite | undefined>;
    let ttlMs: number | undefined;
    if (isEmptyValue(payload)) {
      // deleting a key read as absent changes nothing, whoever created it since
      w = expect === 'absent' ? undefined : this.store.delete(topic, expect);
    } else {
      const will = options.will !== undefined && session ? { session: session.id, value: options.will } : undefined;
      ttlMs = options.ttl !== undefined && options.ttl > 0 ? options.ttl * 1000 : undefined;
      w = this.store.write(topic, payload, { will, ttlMs, meta: metaOf(options), expect });
    }
    if (!(w instanceof Promise)) {
      // the embedded engine: revision known at once, ack after the group commit
      if (w !== undefined && ttlMs !== undefined) this.onTtl();
      const e = this.emit(session, topic, payload, options, w?.revision);
      if (w) this.serveWaiters(topic);
      if (w === undefined) return this.emitted(e);
      return (e.held ? Promise.all([w.committed, e.held]) : w.committed).then(() => e.ack, commitFailed);
    }
    return w.then(
      (result) => {
        // waiters were woken by the change feed, which brought this write already
        const e = this.emit(session, topic, payload, options, result?.revision);
        release?.();
        return this.emitted(e);
      },
      (err: unknown) => {
        release?.();
        throw engineError(err);
      },
    );
  }

  /** Routes the event; `held`: a publication tap holds the ack until it settles. */
  private emit(
    session: Session | undefined,
    topic: string,
    payload: Payload,
    options: PublishOptions,
    revision: number | undefined,
  ): { ack: RetainedAck; held: Promise<void> | undefined } {
    const event = this.broker.publish(session, topic, payload, options, revision);
    const held = this.onEvent(event);
    const ack: RetainedAck = { publicationId: event.publicationId };
    if (revision !== undefined) ack.revision = revision;
    return { ack, held };
  }

  private emitted(e: { ack: RetainedAck; held: Promise<void> | undefined }): Promise<RetainedAck> {
    return e.held ? e.held.then(() => e.ack) : Promise.resolve(e.ack);
  }

  /**
   * After a change of `topic`: the first waiter (in arrival order) whose condition now
   * holds publishes; its write may in turn satisfy the next one.
   */
  private serveWaiters(topic: string): void {
    if (!this.store.local) {
      this.serveShared(topic);
      return;
    }
    for (;;) {
      const list = this.waiters.get(topic);
      if (!list) return;
      const entry = this.store.get(topic);
      const i = list.findIndex((w) => holds(entry, w.options.when));
      if (i < 0) return;
      const [w] = list.splice(i, 1);
      if (list.length === 0) this.waiters.delete(topic);
      if (!w) return;
      const before = this.store.revision();
      this.apply(w.session, w.topic, w.payload, w.options, entry?.revision ?? 'absent').then(
        (ack) => {
          w.resolve(ack);
        },
        (err: unknown) => {
          w.reject(engineError(err));
        },
      );
      // a waiter whose publish wrote has served the next ones itself (apply); one that
      // changed nothing (no retain, or deleting an absent key) must not stall the rest
      if (this.store.revision() !== before) return;
    }
  }

  /**
   * The shared engine's turn: the winning waiter's conditional write goes out, and no
   * other waiter of the key is served until the engine answered. Lost to another router:
   * it keeps its place and tries again after the feed brought that router's change.
   */
  private serveShared(topic: string): void {
    if (this.serving.has(topic) || this.closed) return;
    const list = this.waiters.get(topic);
    if (!list) return;
    const entry = this.store.get(topic);
    const i = list.findIndex((w) => holds(entry, w.options.when));
    if (i < 0) return;
    const [w] = list.splice(i, 1);
    if (list.length === 0) this.waiters.delete(topic);
    if (!w) return;
    this.serving.add(topic);
    const seen = this.store.seen(topic);
    this.apply(w.session, w.topic, w.payload, w.options, entry?.revision ?? 'absent').then(
      (ack) => {
        this.serving.delete(topic);
        w.resolve(ack);
        this.serveWaiters(topic);
      },
      (err: unknown) => {
        this.serving.delete(topic);
        if (!isConflict(err) || w.session.closed || this.closed) {
          w.reject(err instanceof RouterError ? err : engineError(err));
          this.serveWaiters(topic);
          return;
        }
        const again = this.waiters.get(topic);
        if (again) again.splice(Math.min(i, again.length), 0, w);
        else this.waiters.set(topic, [w]);
        void this.store.changedSince(topic, seen).then(() => {
          this.serveWaiters(topic);
        }, noop);
      },
    );
  }

  /** How many `watch` publishes wait on a key (observability, tests). */
  waitingOn(topic: string): number {
    return this.waiters.get(topic)?.length ?? 0;
  }

  /** A session ended: its waiters are dropped and its wills fire. */
  sessionEnded(session: Session): void {
    // after close the store is gone: wills stay stored and fire at the next start
    if (this.closed) return;
    for (const [topic, list] of this.waiters) {
      const keep = list.filter((w) => w.session !== session);
      if (keep.length === list.length) continue;
      if (keep.length === 0) this.waiters.delete(topic);
      else this.waiters.set(topic, keep);
    }
    this.store.fireWills(session.id, (entry) => {
      this.fireWill(entry);
    });
  }

  /** Wills of sessions of a previous process: those sessions are certainly gone. */
  fireOrphanedWills(entries: readonly StoreEntry[]): void {
    for (const e of entries) if (e.realm === this.realm) this.fireWill(e);
  }

  private fireWill(entry: StoreEntry): void {
    const will = entry.will;
    if (!will) return;
    const payload: Payload = will.value ?? {};
    this.apply(undefined, entry.key, payload, { retain: true }, undefined).catch(() => undefined);
  }

  /**
   * A will claimed from a lease (lib/store/leases.ts, shared engines): applied if the
   * key's value still carries it (a later write without a will cancelled it), at that
   * value's revision, so a racing write wins.
   */
  async fireLeaseWill(key: string, owner: { node: string; session: number }, value: Payload | null): Promise<void> {
    await this.store.ready;
    for (;;) {
      if (this.closed) return;
      const entry = this.store.get(key);
      const tag = entry === undefined ? undefined : willTagOf(entry);
      if (entry === undefined || tag === undefined || tag.node !== owner.node || tag.session !== owner.session) return;
      const seen = this.store.seen(key);
      try {
        await this.apply(undefined, key, value ?? {}, { retain: true }, entry.revision);
        return;
      } catch (err) {
        if (!isConflict(err)) throw err;
        await this.store.changedSince(key, seen);
      }
    }
  }

  /** Stored values matching a subscription pattern, for a `retained` subscribe. */
  matching(pattern: TopicPattern): StoreEntry[] {
    const out: StoreEntry[] = [];
    for (const e of this.store.entries()) if (patternMatches(pattern, e.key)) out.push(e);
    return out;
  }

  /**
   * One page of the stored values matching a pattern, in key order after the cursor
   * `after`: the paced replay reads the store this way (lib/retained-replay.ts). `next`
   * is the cursor of the following page, undefined when the range is exhausted; a page
   * may hold no match and still have a next one.
   */
  page(pattern: TopicPattern, after: string | undefined, limit: number): { entries: StoreEntry[]; next: string | undefined } {
    if (pattern.match === 'exact') {
      const e = after === undefined ? this.store.get(pattern.uri) : undefined;
      return { entries: e ? [e] : [], next: undefined };
    }
    const scanned = this.store.range(literalPrefix(pattern), after, limit);
    const entries = scanned.filter((e) => patternMatches(pattern, e.key));
    return { entries, next: scanned.length < limit ? undefined : scanned[scanned.length - 1]?.key };
  }

  /** The realm's last store revision: a replay snapshot is taken at it. */
  revision(): number {
    return this.store.revision();
  }

  get(key: string): StoreEntry | undefined {
    return this.store.get(key);
  }

  /** Store access by RPC: deletion publishes like an empty retained publish. */
  delete(session: Session, key: string): Promise<RetainedAck> {
    return this.apply(session, key, {}, { retain: true }, undefined);
  }

  /** An entry expired (the expiry sweep removed it): subscribers see the deletion. */
  expired(entry: ExpiredEntry): void {
    const event = this.broker.publish(undefined, entry.key, {}, {}, entry.deletionRevision);
    // no publisher waits for it: a tap's failure is the tap's to count
    this.onEvent(event)?.catch(() => undefined);
    this.serveWaiters(entry.key);
  }

  private closed = false;

  close(): void {
    this.closed = true;
    const closing = new RouterError(Errors.systemShutdown, 'router is shutting down');
    for (const list of this.waiters.values()) for (const w of list) w.reject(closing);
    this.waiters.clear();
  }
}

function noop(): void {}

function holds(entry: StoreEntry | undefined, when: unknown): boolean {
  if (when === null) return entry === undefined;
  return entry !== undefined && conditionHolds(when, valueOf(entry.value));
}

function isConflict(err: unknown): boolean {
  return err instanceof RouterError && err.def === Errors.conditionFailed;
}

function commitFailed(err: unknown): never {
  throw new RouterError(Errors.internal, `store commit failed: ${err instanceof Error ? err.message : String(err)}`);
}

/** an engine's refusal passes as it is (condition_failed, invalid_argument); anything else means the engine is unreachable */
function engineError(err: unknown): RouterError {
  if (err instanceof RouterError) return err;
  return new RouterError(Errors.unavailable, `store engine: ${err instanceof Error ? err.message : String(err)}`);
}

/**
 * The keys a pattern can match all start with this: its components up to the first
 * wildcard one (an empty component, or a last `#`; lib/topic.ts parsePattern). Without
 * the last dot, since `a.#` matches `a` itself.
 */
function literalPrefix(p: TopicPattern): string {
  if (p.match === 'prefix') return p.uri;
  const parts = p.uri.split('.');
  const literal: string[] = [];
  for (const c of parts) {
    if (c === '' || c === '#') break;
    literal.push(c);
  }
  return literal.join('.');
}

/** What a retained value keeps of its publication besides the payload: QoS and headers. */
export interface RetainedMeta extends Record<string, unknown> {
  qos?: 0 | 1 | 2;
  headers?: MessageHeaders;
}

/** Bytes of a payload as the store keeps it: raw bytes, or the JSON of args/kwargs. */
function payloadSize(p: Payload): number {
  if (p.bytes !== undefined) return p.bytes.byteLength;
  let n = 0;
  // the JSON rule of every gate (lib/json-exact.ts): JSON.stringify throws on a bigint
  if (p.args !== undefined) n += Buffer.byteLength(stringifyExact(p.args) ?? '');
  if (p.kwargs !== undefined) n += Buffer.byteLength(stringifyExact(p.kwargs) ?? '');
  return n;
}

function metaOf(o: PublishOptions): RetainedMeta | undefined {
  if (o.qos === undefined && o.headers === undefined) return undefined;
  const m: RetainedMeta = {};
  if (o.qos !== undefined) m.qos = o.qos;
  if (o.headers !== undefined) m.headers = o.headers;
  return m;
}

/** The QoS and headers a retained value was published with, as the store kept them. */
export function retainedMetaOf(entry: StoreEntry): RetainedMeta | undefined {
  const m = entry.meta;
  if (!m) return undefined;
  const out: RetainedMeta = {};
  const qos = m['qos'];
  if (qos === 0 || qos === 1 || qos === 2) out.qos = qos;
  const headers = m['headers'];
  if (typeof headers === 'object' && headers !== null) out.headers = headers;
  return out;
}
