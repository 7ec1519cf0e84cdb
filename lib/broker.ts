import { Errors, RouterError } from './errors';
import { globalId, IdSequence } from './ids';
import type { MessageHeaders } from './headers';
import type { Payload } from './payload';
import type { Session } from './session';
import { parsePattern, patternMatches, TopicIndex, type MatchPolicy, type TopicPattern } from './topic';

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
  /**
   * delivery guarantee the publisher asked for (MQTT QoS); subscribers get at most their
   * granted QoS. Publications from protocols without QoS count as 1: the router accepted
   * them and offers them reliably.
   */
  qos?: 0 | 1 | 2;
  /** the publisher set the retain flag (MQTT retain-as-published needs it) */
  retainFlag?: boolean;
  headers?: MessageHeaders;
  /**
   * Message identity (lib/publication-taps.ts): the node that first accepted this
   * publication, when it was not this router. Undefined: a client of this router
   * published it.
   */
  origin?: string;
  /** the publication id it had at its origin, kept so the message id stays the same */
  publicationId?: number;
  /** what brought it in when it came from elsewhere: 'cluster' or 'link:<name>' */
  via?: string;
  /**
   * the publisher as its own node disclosed it (a publication from another cluster
   * node, whose publisher session is not here): what subscribers see with discloseMe
   */
  publisherInfo?: PublisherIdentity;
}

/** Who published, as a subscriber may be told (WAMP details.publisher, _authid, _authrole). */
export interface PublisherIdentity {
  readonly id: number;
  readonly identity: { readonly authid: string; readonly authrole: string };
}

/** A publish's subscriber black- and whitelists (WAMP advanced), as they travel to other nodes. */
export type DeliveryLists = Pick<
  PublishOptions,
  'exclude' | 'excludeAuthid' | 'excludeAuthrole' | 'eligible' | 'eligibleAuthid' | 'eligibleAuthrole'
>;

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
  readonly qos: 0 | 1 | 2;
  /** published with the retain flag set */
  readonly retainFlag: boolean;
  readonly headers: MessageHeaders | undefined;
  /** the node it was first published on; undefined: this router (PublishOptions.origin) */
  readonly origin: string | undefined;
  /** 'cluster' or 'link:<name>' when it came from elsewhere; undefined: a local client */
  readonly via: string | undefined;
  /** the disclosed publisher of a publication from another node (PublishOptions.publisherInfo) */
  readonly remotePublisher?: PublisherIdentity | undefined;
  /** the publish's delivery lists, kept so the cluster can apply them on other nodes */
  readonly lists?: DeliveryLists | undefined;
  /** how many subscribers it reached; set once routing is done */
  deliveries: number;
  /**
   * set when shared groups matched and the cluster's queue groups pick their member
   * (Broker.sharedElsewhere): if the event does not reach the cluster after all, the
   * cluster hands it back to those groups here (Broker.deliverShares)
   */
  sharesDeferred?: true;
  /**
   * Encoding cache owned by the gates: a gate encodes an event once per subscription and
   * serializer and keeps the bytes here, so fan-out does not re-encode per subscriber.
   */
  cache?: Map<number, unknown>;
}

/**
 * Who picks a shared group's member for an event (Broker.sharedElsewhere): 'here' this
 * broker, as on a single node; 'queue' the cluster's NATS queue group (it reaches one
 * member cluster-wide, maybe here, through Broker.publishToGroup); 'skip' nobody here
 * (a copy from another node: the group gets the queue group's copy).
 */
export type ShareRoute = 'here' | 'queue' | 'skip';

/** Where a subscriber's events go: implemented by the gate's session. */
export type EventSink = (event: BrokerEvent, subscription: Subscription) => void;

export interface SubscribeOptions {
  match?: MatchPolicy;
  /** fox-wamp / MQTT style extras are read by later layers (retained, filter) */
  [extra: string]: unknown;
}

/**
 * Subscribers that share one subscription (MQTT 5 `$share/group/filter`): each event
 * goes to one member, in turn.
 */
export class ShareGroup {
  readonly members = new Map<Session, EventSink>();
  /**
   * the cluster's NATS queue group for this group is in place (lib/cluster/shares.ts):
   * a member is chosen cluster-wide, not by this node alone
   */
  clustered = false;
  private order: Session[] = [];
  private next = 0;

  add(session: Session, sink: EventSink): void {
    if (!this.members.has(session)) this.order.push(session);
    this.members.set(session, sink);
  }

  remove(session: Session): void {
    if (!this.members.delete(session)) return;
    this.order = this.order.filter((s) => s !== session);
    if (this.next >= this.order.length) this.next = 0;
  }

  /** The next member in turn that `admits` accepts. */
  pick(admits: (s: Session) => boolean): Session | undefined {
    const n = this.order.length;
    for (let i = 0; i < n; i++) {
      const idx = (this.next + i) % n;
      const s = this.order[idx];
      if (s && admits(s)) {
        this.next = (idx + 1) % n;
        return s;
      }
    }
    return undefined;
  }
}

/** A subscription: one per (pattern, match), shared by all its subscribers. */
export class Subscription {
  readonly subscribers = new Map<Session, EventSink>();
  /** shared-subscription groups on this pattern, by group name */
  readonly groups = new Map<string, ShareGroup>();
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
  /**
   * The subscription's first plain subscriber (`share` undefined) or its group `share`
   * came (`present` true), or the last one went: the cluster's interest follows these.
   */
  onAudience?(sub: Subscription, share: string | undefined, present: boolean): void;
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
  /**
   * Where a new subscription's id comes from, when set: a cluster (lib/cluster/rpc/)
   * derives it from the pattern, so one topic's subscriptions have the same id on every
   * node and the subscription meta API can merge what each node says. An id already in
   * use here falls back to this broker's own sequence.
   */
  subscriptionId: ((pattern: TopicPattern) => number) | undefined = undefined;

  /** limits.maxSubscriptionsPerSession; a config reload may change it */
  constructor(public maxPerSession: number = Infinity) {}

  subscribe(session: Session, uri: string, match: MatchPolicy | undefined, sink: EventSink, share?: string): Subscription {
    const pattern = parsePattern(uri, match);
    if (!pattern) throw new RouterError(Errors.invalidUri, `invalid topic pattern: ${uri}`);
    return this.subscribePattern(session, pattern, sink, share);
  }

  /**
   * Subscribes to an already parsed pattern (gates with their own notation build one
   * with lib/notation.ts). With `share`, the session joins that shared group of the
   * subscription instead of receiving every event.
   */
  subscribePattern(session: Session, pattern: TopicPattern, sink: EventSink, share?: string): Subscription {
    let own = this.bySession.get(session);
    let sub = this.byKey.get(pattern.key);
    if (sub && (share === undefined ? sub.subscribers.has(session) : sub.groups.get(share)?.members.has(session))) {
      // WAMP: subscribing twice to the same topic returns the same subscription.
      if (share === undefined) sub.subscribers.set(session, sink);
      else sub.groups.get(share)?.add(session, sink);
      return sub;
    }
    if (own && own.size >= this.maxPerSession) {
      throw new RouterError(Errors.limitExceeded, `at most ${this.maxPerSession} subscriptions per session`);
    }
    let created = false;
    if (!sub) {
      const wanted = this.subscriptionId?.(pattern);
      sub = new Subscription(wanted !== undefined && !this.byId.has(wanted) ? wanted : this.ids.take(), pattern);
      this.byKey.set(pattern.key, sub);
      this.byId.set(sub.id, sub);
      this.index.add(pattern, sub);
      created = true;
    }
    let audience = false;
    if (share === undefined) {
      audience = sub.subscribers.size === 0;
      sub.subscribers.set(session, sink);
    } else {
      let group = sub.groups.get(share);
      if (!group) {
        sub.groups.set(share, (group = new ShareGroup()));
        audience = true;
      }
      group.add(session, sink);
    }
    if (!own) {
      own = new Set();
      this.bySession.set(session, own);
    }
    own.add(sub);
    if (created) this.observer.onCreate?.(session, sub);
    if (audience) this.observer.onAudience?.(sub, share, true);
    this.observer.onSubscribe?.(session, sub);
    return sub;
  }

  unsubscribe(session: Session, subscriptionId: number, share?: string): Subscription {
    const sub = this.byId.get(subscriptionId);
    const member = share === undefined ? sub?.subscribers.has(session) : sub?.groups.get(share)?.members.has(session);
    if (!sub || !member) {
      throw new RouterError(Errors.noSuchSubscription, `no subscription ${subscriptionId}`);
    }
    if (share === undefined) this.leavePlain(sub, session);
    else this.leaveGroup(sub, share, session);
    if (!this.isMember(sub, session)) {
      this.bySession.get(session)?.delete(sub);
      this.detach(session, sub);
    }
    return sub;
  }

  private leaveGroup(sub: Subscription, share: string, session: Session): void {
    const group = sub.groups.get(share);
    if (!group) return;
    group.remove(session);
    if (group.members.size > 0) return;
    sub.groups.delete(share);
    this.observer.onAudience?.(sub, share, false);
  }

  private leavePlain(sub: Subscription, session: Session): void {
    if (sub.subscribers.delete(session) && sub.subscribers.size === 0) this.observer.onAudience?.(sub, undefined, false);
  }

  private isMember(sub: Subscription, session: Session): boolean {
    if (sub.subscribers.has(session)) return true;
    for (const g of sub.groups.values()) if (g.members.has(session)) return true;
    return false;
  }

  /** The session's own subscription to a pattern, if it has one (MQTT unsubscribes by filter). */
  subscriptionFor(session: Session, pattern: TopicPattern, share?: string): Subscription | undefined {
    const sub = this.byKey.get(pattern.key);
    if (!sub) return undefined;
    return (share === undefined ? sub.subscribers.has(session) : sub.groups.get(share)?.members.has(session)) ? sub : undefined;
  }

  /** Ends one session's part in a subscription, shared groups included (a revoked right). */
  drop(session: Session, sub: Subscription): void {
    if (!this.bySession.get(session)?.delete(sub)) return;
    this.detach(session, sub);
  }

  /** Drops every subscription of a session that has left. */
  removeSession(session: Session): void {
    const own = this.bySession.get(session);
    if (!own) return;
    this.bySession.delete(session);
    for (const sub of own) this.detach(session, sub);
  }

  private detach(session: Session, sub: Subscription): void {
    this.leavePlain(sub, session);
    for (const share of [...sub.groups.keys()]) this.leaveGroup(sub, share, session);
    this.observer.onUnsubscribe?.(session, sub);
    if (sub.subscribers.size === 0 && sub.groups.size === 0) {
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
  publish(
    publisher: Session | undefined,
    topic: string,
    payload: Payload,
    options: PublishOptions,
    revision?: number,
  ): BrokerEvent {
    const filter = needsFilter(options) ? new DeliveryFilter(options) : undefined;
    const event = newEvent(publisher, topic, payload, options, revision, filter);
    const excludeMe = options.excludeMe !== false;
    const guard = this.receiveGuard;
    const admits = (s: Session): boolean =>
      !(excludeMe && s === publisher) && (!filter || filter.admits(s)) && (guard === undefined || guard(s, topic));
    let deliveries = 0;
    // sessions that want one copy per event whatever number of their subscriptions
    // match (MQTT: overlapping subscriptions), with the list of those subscriptions
    let collected: Map<Session, Subscription[]> | undefined;
    const deliver = (session: Session, sink: EventSink, sub: Subscription): void => {
      if (session.singleDelivery) {
        collected ??= new Map();
        const list = collected.get(session);
        if (list) list.push(sub);
        else collected.set(session, [sub]);
        return;
      }
      deliveries++;
      this.send(session, sink, sub, event);
    };
    const route = this.sharedElsewhere;
    this.index.match(topic, (sub) => {
      for (const [session, sink] of sub.subscribers) {
        if (admits(session)) deliver(session, sink, sub);
      }
      if (sub.groups.size > 0) {
        for (const group of sub.groups.values()) {
          const where = route ? route(event, group) : 'here';
          if (where === 'queue') {
            // one member cluster-wide gets it (MQTT 5 §4.8.2): counted as delivered
            event.sharesDeferred = true;
            deliveries++;
          }
          if (where !== 'here') continue;
          const member = group.pick(admits);
          const sink = member && group.members.get(member);
          if (member && sink) deliver(member, sink, sub);
        }
      }
    });
    if (collected) {
      for (const [session, subs] of collected) {
        deliveries++;
        session.messagesOut++;
        const one = session.singleDelivery;
        const held = session.held;
        if (held) held.events(event, subs);
        else if (one)
          this.safely(session, () => {
            one(event, subs);
          });
      }
    }
    event.deliveries = deliveries;
    return event;
  }

  /** One event to one subscriber, after a running retained replay when there is one. */
  private send(session: Session, sink: EventSink, sub: Subscription, event: BrokerEvent): void {
    session.messagesOut++;
    const held = session.held;
    const one = session.singleDelivery;
    if (held) {
      if (one) held.events(event, [sub]);
      else held.event(event, sub);
    } else if (one)
      this.safely(session, () => {
        one(event, [sub]);
      });
    else
      this.safely(session, () => {
        sink(event, sub);
      });
  }

  /**
   * Set by the cluster (lib/cluster/shares.ts): who picks a shared group's member for an
   * event. Undefined (a single node): this broker, always.
   */
  sharedElsewhere: ((event: BrokerEvent, group: ShareGroup) => ShareRoute) | undefined = undefined;

  /**
   * A publication the cluster's queue group for shared group `share` of the subscription
   * `key` handed this node (lib/cluster/shares.ts): one member of that group gets it,
   * nobody else (the node's other subscribers get the node's plain copy). False when no
   * member here may take it: the queue group chose this node, so the group misses it.
   */
  publishToGroup(
    topic: string,
    payload: Payload,
    options: PublishOptions,
    revision: number | undefined,
    key: string,
    share: string,
  ): boolean {
    const sub = this.byKey.get(key);
    const group = sub?.groups.get(share);
    // the NATS filter may take in more than the pattern (lib/cluster/subjects.ts)
    if (!sub || !group || !patternMatches(sub.pattern, topic)) return false;
    const filter = needsFilter(options) ? new DeliveryFilter(options) : undefined;
    const event = newEvent(undefined, topic, payload, options, revision, filter);
    const delivered = this.toMember(group, sub, event, filter);
    event.deliveries = delivered ? 1 : 0;
    return delivered;
  }

  /**
   * An event whose groups the cluster was to pick for (BrokerEvent.sharesDeferred) did
   * not reach the cluster after all: each of those groups gets its member here, as on a
   * single node. The publisher is not excluded: only MQTT sessions join groups, and MQTT
   * publishes with excludeMe false.
   */
  deliverShares(event: BrokerEvent): void {
    const filter = event.lists ? new DeliveryFilter(event.lists) : undefined;
    this.index.match(event.topic, (sub) => {
      for (const group of sub.groups.values()) if (group.clustered) this.toMember(group, sub, event, filter);
    });
  }

  private toMember(group: ShareGroup, sub: Subscription, event: BrokerEvent, filter: DeliveryFilter | undefined): boolean {
    const guard = this.receiveGuard;
    const member = group.pick((s) => (!filter || filter.admits(s)) && (guard === undefined || guard(s, event.topic)));
    const sink = member && group.members.get(member);
    if (!member || !sink) return false;
    this.send(member, sink, sub, event);
    return true;
  }

  /**
   * One subscriber's failure (a bug, a store error queueing for it) must not stop the
   * fan-out to the others or reach the publisher: it is reported and the loop goes on.
   */
  private safely(session: Session, deliver: () => void): void {
    try {
      deliver();
    } catch (err) {
      this.onDeliveryError(session, err);
    }
  }

  /** Set by the realm: logs and counts a failed delivery. */
  onDeliveryError: (session: Session, err: unknown) => void = () => undefined;

  /**
   * Set by the realm when authorization is configured: may this session receive an event
   * on this topic? Undefined (no authorization): no check at all on the hot path.
   */
  receiveGuard: ((session: Session, topic: string) => boolean) | undefined;

  /** Delivers an already-built event to one subscriber only (retained replay, history). */
  deliverTo(session: Session, sub: Subscription, event: BrokerEvent): void {
    if (this.receiveGuard && !this.receiveGuard(session, event.topic)) return;
    session.messagesOut++;
    if (session.singleDelivery) {
      session.singleDelivery(event, [sub]);
      return;
    }
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

function newEvent(
  publisher: Session | undefined,
  topic: string,
  payload: Payload,
  options: PublishOptions,
  revision: number | undefined,
  filter: DeliveryFilter | undefined,
): BrokerEvent {
  return {
    // a store write's revision doubles as its publication ID, so a WAMP publisher
    // reads its fencing token from PUBLISHED (which has no details element)
    publicationId: options.publicationId ?? revision ?? globalId(),
    revision,
    topic,
    payload,
    publisher,
    discloseMe: options.discloseMe === true,
    qos: options.qos ?? 1,
    retainFlag: options.retainFlag === true,
    headers: options.headers,
    origin: options.origin,
    via: options.via,
    remotePublisher: options.publisherInfo,
    lists: filter ? deliveryLists(options) : undefined,
    deliveries: 0,
  };
}

/** Only the lists given: absent and empty are not the same (an empty eligible admits no one). */
function deliveryLists(o: PublishOptions): DeliveryLists {
  const out: { -readonly [K in keyof DeliveryLists]: DeliveryLists[K] } = {};
  if (o.exclude !== undefined) out.exclude = o.exclude;
  if (o.excludeAuthid !== undefined) out.excludeAuthid = o.excludeAuthid;
  if (o.excludeAuthrole !== undefined) out.excludeAuthrole = o.excludeAuthrole;
  if (o.eligible !== undefined) out.eligible = o.eligible;
  if (o.eligibleAuthid !== undefined) out.eligibleAuthid = o.eligibleAuthid;
  if (o.eligibleAuthrole !== undefined) out.eligibleAuthrole = o.eligibleAuthrole;
  return out;
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
