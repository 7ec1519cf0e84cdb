import type { Broker, BrokerEvent, PublishOptions } from './broker';
import { conditionHolds, isEmptyValue, valueOf } from './condition';
import { Errors, RouterError } from './errors';
import type { MessageHeaders } from './headers';
import { stringifyExact } from './json-exact';
import type { Payload } from './payload';
import type { Session } from './session';
import type { ExpiredEntry, RetainedStore, StoreEntry, WriteResult } from './store/types';
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
    if (typeof ttl !== 'number' || !(ttl > 0)) throw new RouterError(Errors.invalidArgument, 'PUBLISH.Options.ttl must be a positive number of seconds');
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
 * for one realm. The store engine owns the keys; this class owns the waiters and
 * decides what a publish does to the store, then hands the event to the broker.
 */
export class RetainedTopics {
  /** watchers per key, in arrival order */
  private readonly waiters = new Map<string, Waiter[]>();

  constructor(
    private readonly realm: string,
    private readonly store: RetainedStore,
    private readonly broker: Broker,
    /** routes the event on (history, taps); a promise holds the ack (lib/publication-taps.ts) */
    private readonly onEvent: (event: BrokerEvent) => Promise<void> | undefined,
    /** a value with a TTL was written: the owner of the expiry timer reschedules */
    private readonly onTtl: () => void,
    private readonly limits: RetainedLimits = { maxKeys: Infinity, maxValueBytes: Infinity },
  ) {}

  /** Does this publish need the store? */
  static involved(o: RetainOptions): boolean {
    return o.retain === true || o.when !== undefined || o.will !== undefined;
  }

  publish(session: Session | undefined, topic: string, payload: Payload, options: PublishOptions & RetainOptions): Promise<RetainedAck> {
    if (this.closed) return Promise.reject(new RouterError(Errors.systemShutdown, 'router is shutting down'));
    const refused = options.retain === true ? this.overLimit(session, topic, payload) : undefined;
    if (refused) return Promise.reject(refused);
    if (options.when !== undefined && !this.holds(topic, options.when)) {
      if (options.watch !== true || !session) {
        return Promise.reject(new RouterError(Errors.conditionFailed, `condition on ${topic} does not hold`));
      }
      return new Promise((resolve, reject) => {
        const w: Waiter = { session, topic, payload, options, resolve, reject };
        const list = this.waiters.get(topic);
        if (list) list.push(w);
        else this.waiters.set(topic, [w]);
      });
    }
    return this.apply(session, topic, payload, options);
  }

  /** A retained write the realm's limits refuse: too large a value, or one key too many. */
  private overLimit(session: Session | undefined, topic: string, payload: Payload): RouterError | undefined {
    if (isEmptyValue(payload)) return undefined; // a delete never grows the store
    const size = payloadSize(payload);
    if (size > this.limits.maxValueBytes) {
      this.limits.onLimitHit?.(session, 'max_retained_value_bytes', topic);
      return new RouterError(Errors.payloadSizeExceeded, `retained value of ${size} bytes exceeds ${this.limits.maxValueBytes}`);
    }
    if (this.store.get(this.realm, topic) === undefined && this.store.keyCount(this.realm) >= this.limits.maxKeys) {
      this.limits.onLimitHit?.(session, 'max_retained_keys', topic);
      return new RouterError(Errors.limitExceeded, `realm holds the maximum of ${this.limits.maxKeys} retained keys`);
    }
    return undefined;
  }

  private holds(topic: string, when: unknown): boolean {
    const entry = this.store.get(this.realm, topic);
    if (when === null) return entry === undefined;
    return entry !== undefined && conditionHolds(when, valueOf(entry.value));
  }

  /** The write and the event, once the condition holds. */
  private apply(session: Session | undefined, topic: string, payload: Payload, options: PublishOptions & RetainOptions): Promise<RetainedAck> {
    let result: WriteResult | undefined;
    if (options.retain === true) {
      if (isEmptyValue(payload)) {
        result = this.store.delete(this.realm, topic);
      } else {
        const will = options.will !== undefined && session ? { session: session.id, value: options.will } : undefined;
        const ttlMs = options.ttl !== undefined && options.ttl > 0 ? options.ttl * 1000 : undefined;
        result = this.store.write(this.realm, topic, payload, { will, ttlMs, meta: metaOf(options) });
        if (ttlMs !== undefined) this.onTtl();
      }
    }
    const event = this.broker.publish(session, topic, payload, options, result?.revision);
    const held = this.onEvent(event);
    if (result) this.serveWaiters(topic);
    const ack: RetainedAck = { publicationId: event.publicationId };
    if (!result) return held ? held.then(() => ack) : Promise.resolve(ack);
    ack.revision = result.revision;
    const committed = held ? Promise.all([result.committed, held]) : result.committed;
    return committed.then(
      () => ack,
      (err: unknown) => {
        throw new RouterError(Errors.internal, `store commit failed: ${err instanceof Error ? err.message : String(err)}`);
      },
    );
  }

  /**
   * After a change of `topic`: the first waiter (in arrival order) whose condition now
   * holds publishes; its write may in turn satisfy the next one.
   */
  private serveWaiters(topic: string): void {
    for (;;) {
      const list = this.waiters.get(topic);
      if (!list) return;
      const i = list.findIndex((w) => this.holds(topic, w.options.when));
      if (i < 0) return;
      const [w] = list.splice(i, 1);
      if (list.length === 0) this.waiters.delete(topic);
      if (!w) return;
      const before = this.store.revision(this.realm);
      this.apply(w.session, w.topic, w.payload, w.options).then(
        (ack) => w.resolve(ack),
        (err: RouterError) => w.reject(err),
      );
      // a waiter whose publish wrote has served the next ones itself (apply); one that
      // changed nothing (no retain, or deleting an absent key) must not stall the rest
      if (this.store.revision(this.realm) !== before) return;
    }
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
    for (const entry of this.store.willsOf(session.id)) this.fireWill(entry);
  }

  /** Wills of sessions of a previous process: those sessions are certainly gone. */
  fireOrphanedWills(entries: readonly StoreEntry[]): void {
    for (const e of entries) if (e.realm === this.realm) this.fireWill(e);
  }

  private fireWill(entry: StoreEntry): void {
    const will = entry.will;
    if (!will) return;
    const payload: Payload = will.value ?? {};
    this.apply(undefined, entry.key, payload, { retain: true }).catch(() => undefined);
  }

  /** Stored values matching a subscription pattern, for a `retained` subscribe. */
  matching(pattern: TopicPattern): StoreEntry[] {
    const out: StoreEntry[] = [];
    for (const e of this.store.entries(this.realm)) if (patternMatches(pattern, e.key)) out.push(e);
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
      const e = after === undefined ? this.store.get(this.realm, pattern.uri) : undefined;
      return { entries: e ? [e] : [], next: undefined };
    }
    const scanned = this.store.range(this.realm, { prefix: literalPrefix(pattern), after, limit });
    const entries = scanned.filter((e) => patternMatches(pattern, e.key));
    return { entries, next: scanned.length < limit ? undefined : scanned[scanned.length - 1]?.key };
  }

  /** The realm's last store revision: a replay snapshot is taken at it. */
  revision(): number {
    return this.store.revision(this.realm);
  }

  get(key: string): StoreEntry | undefined {
    return this.store.get(this.realm, key);
  }

  /** Store access by RPC: deletion publishes like an empty retained publish. */
  delete(session: Session, key: string): Promise<RetainedAck> {
    return this.apply(session, key, {}, { retain: true });
  }

  /** An entry expired (the router's expiry timer removed it): subscribers see the deletion. */
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
