import { Errors, RouterError } from './errors';
import { globalId, IdSequence } from './ids';
import type { Payload } from './payload';
import type { Session } from './session';
import { parsePattern, TopicIndex, type MatchPolicy, type TopicPattern } from './topic';

/** Publish options the core understands, whatever gate they came from. */
export interface PublishOptions {
  /** default true: the publisher does not receive its own event */
  excludeMe?: boolean;
  exclude?: readonly number[];
  excludeAuthid?: readonly string[];
  excludeAuthrole?: readonly string[];
  eligible?: readonly number[];
  eligibleAuthid?: readonly string[];
  eligibleAuthrole?: readonly string[];
  /** publisher identification: subscribers see who published */
  discloseMe?: boolean;
}

/** One published event, shared by every delivery of it. */
export interface BrokerEvent {
  readonly publicationId: number;
  readonly topic: string;
  readonly payload: Payload;
  readonly publisher: Session | undefined;
  readonly discloseMe: boolean;
  /** true when delivered from the retained store rather than live */
  readonly retained?: boolean;
  /** the store revision this event's write produced (retained publishes) */
  readonly revision?: number;
  /** how many subscribers it reached; set once routing is done */
  deliveries: number;
  /**
   * Encoding cache owned by the gates: a gate encodes an event once per subscription and
   * serializer and keeps the bytes here, so fan-out does not re-encode per subscriber.
   */
  cache?: Map<number, unknown>;
}

/** Where a subscriber's events go: implemented by the gate's session. */
export type EventSink = (event: BrokerEvent, subscription: Subscription) => void;

export interface SubscribeOptions {
  match?: MatchPolicy;
  /** fox-wamp / MQTT style extras are read by later layers (retained, filter) */
  [extra: string]: unknown;
}

/** A subscription: one per (pattern, match), shared by all its subscribers. */
export class Subscription {
  readonly subscribers = new Map<Session, EventSink>();
  readonly created = new Date().toISOString();
  constructor(
    readonly id: number,
    readonly pattern: TopicPattern,
  ) {}

  get uri(): string {
    return this.pattern.uri;
  }
  get match(): MatchPolicy {
    return this.pattern.match;
  }

  details(): Record<string, unknown> {
    return { id: this.id, created: this.created, uri: this.uri, match: this.match };
  }
}

/** Lifecycle notifications, for the subscription meta API and metrics. */
export interface BrokerObserver {
  onCreate?(session: Session, sub: Subscription): void;
  onSubscribe?(session: Session, sub: Subscription): void;
  onUnsubscribe?(session: Session, sub: Subscription): void;
  onDelete?(session: Session, sub: Subscription): void;
}

/**
 * Pub/sub for one realm. Owns the subscription index; nobody else touches it.
 */
export class Broker {
  private readonly index = new TopicIndex<Subscription>();
  private readonly byKey = new Map<string, Subscription>();
  private readonly byId = new Map<number, Subscription>();
  private readonly bySession = new Map<Session, Set<Subscription>>();
  private readonly ids = new IdSequence();
  observer: BrokerObserver = {};

  constructor(private readonly maxPerSession: number = Infinity) {}

  subscribe(session: Session, uri: string, match: MatchPolicy | undefined, sink: EventSink): Subscription {
    const pattern = parsePattern(uri, match);
    if (!pattern) throw new RouterError(Errors.invalidUri, `invalid topic pattern: ${uri}`);
    let own = this.bySession.get(session);
    let sub = this.byKey.get(pattern.key);
    if (sub?.subscribers.has(session)) {
      // WAMP: subscribing twice to the same topic returns the same subscription.
      sub.subscribers.set(session, sink);
      return sub;
    }
    if (own && own.size >= this.maxPerSession) {
      throw new RouterError(Errors.limitExceeded, `at most ${this.maxPerSession} subscriptions per session`);
    }
    let created = false;
    if (!sub) {
      sub = new Subscription(this.ids.take(), pattern);
      this.byKey.set(pattern.key, sub);
      this.byId.set(sub.id, sub);
      this.index.add(pattern, sub);
      created = true;
    }
    sub.subscribers.set(session, sink);
    if (!own) {
      own = new Set();
      this.bySession.set(session, own);
    }
    own.add(sub);
    if (created) this.observer.onCreate?.(session, sub);
    this.observer.onSubscribe?.(session, sub);
    return sub;
  }

  unsubscribe(session: Session, subscriptionId: number): Subscription {
    const sub = this.byId.get(subscriptionId);
    if (!sub || !sub.subscribers.has(session)) {
      throw new RouterError(Errors.noSuchSubscription, `no subscription ${subscriptionId}`);
    }
    this.detach(session, sub);
    this.bySession.get(session)?.delete(sub);
    return sub;
  }

  /** Drops every subscription of a session that has left. */
  removeSession(session: Session): void {
    const own = this.bySession.get(session);
    if (!own) return;
    this.bySession.delete(session);
    for (const sub of own) this.detach(session, sub);
  }

  private detach(session: Session, sub: Subscription): void {
    sub.subscribers.delete(session);
    this.observer.onUnsubscribe?.(session, sub);
    if (sub.subscribers.size === 0) {
      this.byKey.delete(sub.pattern.key);
      this.byId.delete(sub.id);
      this.index.remove(sub.pattern);
      this.observer.onDelete?.(session, sub);
    }
  }

  /**
   * Routes an event to every matching subscriber once per subscription (a session
   * subscribed by several matching patterns gets one event per subscription, as WAMP
   * requires). Returns the event and the number of deliveries.
   */
  publish(publisher: Session | undefined, topic: string, payload: Payload, options: PublishOptions, revision?: number): BrokerEvent {
    const event: BrokerEvent = {
      // a store write's revision doubles as its publication ID, so a WAMP publisher
      // reads its fencing token from PUBLISHED (which has no details element)
      publicationId: revision ?? globalId(),
      revision,
      topic,
      payload,
      publisher,
      discloseMe: options.discloseMe === true,
      deliveries: 0,
    };
    const filter = needsFilter(options) ? new DeliveryFilter(options) : undefined;
    const excludeMe = options.excludeMe !== false;
    let deliveries = 0;
    this.index.match(topic, (sub) => {
      for (const [session, sink] of sub.subscribers) {
        if (excludeMe && session === publisher) continue;
        if (filter && !filter.admits(session)) continue;
        deliveries++;
        sink(event, sub);
      }
    });
    event.deliveries = deliveries;
    return event;
  }

  /** Delivers an already-built event to one subscriber only (retained replay, history). */
  deliverTo(session: Session, sub: Subscription, event: BrokerEvent): void {
    const sink = sub.subscribers.get(session);
    if (sink) sink(event, sub);
  }

  // ----- queries for the subscription meta API -----

  get(id: number): Subscription | undefined {
    return this.byId.get(id);
  }

  lookup(uri: string, match: MatchPolicy | undefined): Subscription | undefined {
    const p = parsePattern(uri, match);
    return p ? this.byKey.get(p.key) : undefined;
  }

  matching(topic: string): Subscription[] {
    return this.index.matchAll(topic);
  }

  all(): IterableIterator<Subscription> {
    return this.byId.values();
  }

  subscriptionsOf(session: Session): ReadonlySet<Subscription> {
    return this.bySession.get(session) ?? new Set();
  }

  get size(): number {
    return this.byId.size;
  }
}

function needsFilter(o: PublishOptions): boolean {
  return (
    o.exclude !== undefined ||
    o.excludeAuthid !== undefined ||
    o.excludeAuthrole !== undefined ||
    o.eligible !== undefined ||
    o.eligibleAuthid !== undefined ||
    o.eligibleAuthrole !== undefined
  );
}

/**
 * WAMP advanced: subscriber black- and whitelisting. A receiver must be in every given
 * eligible list and in no given exclude list.
 */
class DeliveryFilter {
  private readonly exclude?: Set<number>;
  private readonly excludeAuthid?: Set<string>;
  private readonly excludeAuthrole?: Set<string>;
  private readonly eligible?: Set<number>;
  private readonly eligibleAuthid?: Set<string>;
  private readonly eligibleAuthrole?: Set<string>;

  constructor(o: PublishOptions) {
    if (o.exclude) this.exclude = new Set(o.exclude);
    if (o.excludeAuthid) this.excludeAuthid = new Set(o.excludeAuthid);
    if (o.excludeAuthrole) this.excludeAuthrole = new Set(o.excludeAuthrole);
    if (o.eligible) this.eligible = new Set(o.eligible);
    if (o.eligibleAuthid) this.eligibleAuthid = new Set(o.eligibleAuthid);
    if (o.eligibleAuthrole) this.eligibleAuthrole = new Set(o.eligibleAuthrole);
  }

  admits(s: Session): boolean {
    const { authid, authrole } = s.identity;
    if (this.exclude?.has(s.id)) return false;
    if (this.excludeAuthid?.has(authid)) return false;
    if (this.excludeAuthrole?.has(authrole)) return false;
    if (this.eligible && !this.eligible.has(s.id)) return false;
    if (this.eligibleAuthid && !this.eligibleAuthid.has(authid)) return false;
    if (this.eligibleAuthrole && !this.eligibleAuthrole.has(authrole)) return false;
    return true;
  }
}
