import { ALLOW_ALL, isRouterSession, patternOf, type Action, type Authorizer } from './auth/authorizer';
import type { ReservedProcedures } from './auth/reserved-procedures';
import type { AggregateEngine } from './aggregate/engine';
import { tableProcedures } from './aggregate/table-api';
import { Broker, type BrokerEvent, type EventSink, type PublishOptions, type Subscription } from './broker';
import { Dealer, type DealerLimits, type RegisterOptions } from './dealer';
import { Errors, RouterError } from './errors';
import { EventHistory, type HistoryConfig } from './event-history';
import type { CallerSink, CallOptions, Invocation } from './invocation';
import { installMetaApi, type MetaProcedure } from './meta-api';
import type { Payload } from './payload';
import type { Callee, Registration } from './registration';
import { conditionHolds, valueOf } from './condition';
import { installStoreApi } from './store-api';
import { reserveReplay, type ReplayTicket } from './retained-replay';
import { RetainedTopics, type RetainedAck, type RetainedLimits, type RetainOptions } from './retained';
import { tellRevoked, type Revocation, type Session } from './session';
import { toRouterError as asRouterError } from './settle';
import type { RetainedStore } from './store/types';
import { SqliteRealmStore, type RealmStore } from './store/realm-store';
import { Testaments, type Testament, type TestamentRecorder } from './testaments';
import { PublicationTaps } from './publication-taps';
import type { SeenMessages } from './links/seen-messages';
import type { MatchPolicy, TopicPattern } from './topic';
import type { Clock } from './clock';

export interface RealmOptions {
  name: string;
  eventHistory?: readonly HistoryConfig[];
  limits: DealerLimits & { maxSubscriptionsPerSession: number; maxTestamentsPerSession?: number };
  /** the retained store (shared by all realms; keys are per realm) */
  store?: RetainedStore;
  /** this realm's store on another engine (JetStream); replaces `store` when given */
  realmStore?: RealmStore;
  /** store.engine jetstream: the sessions' testaments are recorded for other nodes to fire (lib/testaments.ts) */
  testamentRecorder?: TestamentRecorder;
  /** a value with a TTL was written: the router reschedules its expiry timer */
  onTtl?: () => void;
  /** who may do what (lib/auth/authorizer.ts); default: everyone everything */
  authorizer?: Authorizer;
  /** procedures only some authroles may register (lib/auth/reserved-procedures.ts) */
  reserved?: ReservedProcedures;
  /** retained keys and value size */
  retainedLimits?: RetainedLimits;
  /** the aggregate tables, in the one realm config.aggregate.realm names */
  aggregates?: AggregateEngine;
  /** who else sees its publications: the cluster, the links (lib/publication-taps.ts) */
  taps?: PublicationTaps;
  /** message ids of publications from elsewhere already routed (lib/links/seen-messages.ts) */
  seen?: SeenMessages;
  /** a publication from elsewhere was dropped as a duplicate (counted by the router) */
  onDuplicate?: (via: string | undefined) => void;
  /** the clock of call timeouts (RouterOptions.clock); default the real one */
  clock?: Clock;
}

/** limits.maxTestamentsPerSession's default (schemas/config.schema.json) */
const DEFAULT_MAX_TESTAMENTS = 100;

const PUBLISH: readonly Action[] = ['publish'];
/** a publish that writes the store (retain / when / watch / will) */
const PUBLISH_RETAIN: readonly Action[] = ['publish', 'retain'];

export interface SubscribeExtras {
  /** fox-wamp: deliver only events whose value matches this partial object */
  filter?: unknown;
}

export type PublishAck = RetainedAck;

/** Lifecycle hooks the router uses for metrics and logs. */
export interface RealmObserver {
  onJoin?(realm: Realm, session: Session): void;
  onLeave?(realm: Realm, session: Session): void;
  onPublish?(realm: Realm, event: BrokerEvent, deliveries: number): void;
  onCallDone?(realm: Realm, outcome: string): void;
  onDeliveryError?(realm: Realm, session: Session, err: unknown): void;
  /** a testament of a leaving session could not be published (refused, invalid row) */
  onTestamentError?(realm: Realm, session: Session, err: unknown): void;
  /** an administrative action (kick, queue purge, store delete): logged with who did it */
  onAdminAction?(realm: Realm, by: Session, action: string, detail: Record<string, unknown>): void;
}

/**
 * A realm ties its parts together: sessions, broker, dealer, meta API, testaments and
 * event history. It is the core contract every gate calls; the logic lives in the parts.
 */
export class Realm {
  readonly name: string;
  readonly broker: Broker;
  readonly dealer: Dealer;
  readonly sessions = new Map<number, Session>();
  readonly testaments: Testaments;
  readonly history: EventHistory;
  /** router-implemented procedures (meta API, store access): callable like any other */
  readonly builtins = new Map<string, MetaProcedure>();
  /** retained values and sync primitives; undefined when the router has no store */
  readonly retained: RetainedTopics | undefined;
  private readonly authz: Authorizer;
  private readonly reserved: ReservedProcedures | undefined;
  /** schema-driven tables fed by publications (lib/aggregate/); undefined when off */
  readonly aggregates: AggregateEngine | undefined;
  /** the cluster's and links' view of its publications */
  readonly taps: PublicationTaps;
  /**
   * Sees every meta event this realm published itself (not those delivered from
   * another node): the cluster sends the ones about this node's sessions and
   * subscriptions to the other nodes (lib/cluster/cluster.ts). Not a publication tap:
   * links never carry meta events.
   */
  metaTap: ((event: BrokerEvent) => void) | undefined = undefined;
  private readonly seen: SeenMessages | undefined;
  private readonly onDuplicate: ((via: string | undefined) => void) | undefined;

  constructor(
    options: RealmOptions,
    private readonly observer: RealmObserver = {},
  ) {
    this.name = options.name;
    this.broker = new Broker(options.limits.maxSubscriptionsPerSession);
    this.dealer = new Dealer(options.limits, options.clock);
    this.history = new EventHistory(options.eventHistory ?? []);
    // every way a session is lost ends here: its testaments, MQTT wills, the store's wills
    this.testaments = new Testaments(
      options.limits.maxTestamentsPerSession ?? DEFAULT_MAX_TESTAMENTS,
      {
        fire: (session, t) => {
          this.publishTestament(session, t);
        },
        sessionEnded: (session) => this.retained?.sessionEnded(session),
      },
      options.clock,
      options.testamentRecorder ? { realm: options.name, to: options.testamentRecorder } : undefined,
    );
    this.authz = options.authorizer ?? ALLOW_ALL;
    this.taps = options.taps ?? new PublicationTaps();
    this.seen = options.seen;
    this.onDuplicate = options.onDuplicate;
    this.reserved = options.reserved;
    // nothing denied is delivered: a pattern reaching further than the subscriber's
    // permission is filtered per event topic (cached per role and topic)
    if (this.authz.active) this.broker.receiveGuard = (s, topic) => this.authz.mayReceive(s, topic);
    this.dealer.observer.onCallDone = (_inv, outcome) => this.observer.onCallDone?.(this, outcome);
    this.broker.onDeliveryError = (session, err) => this.observer.onDeliveryError?.(this, session, err);
    const realmStore = options.realmStore ?? (options.store ? new SqliteRealmStore(options.store, this.name) : undefined);
    if (realmStore) {
      this.retained = new RetainedTopics(
        this.name,
        realmStore,
        this.broker,
        (e) => this.routed(e),
        options.onTtl ?? (() => undefined),
        options.retainedLimits,
      );
      installStoreApi(this, this.retained);
    }
    this.aggregates = options.aggregates;
    if (this.aggregates) {
      // the change feed: events of the router itself, like meta events, routed at once
      this.aggregates.attach({
        publish: (topic, payload, revision) => {
          // no publisher waits for it: a tap's failure is the tap's to count
          this.routed(this.broker.publish(undefined, topic, payload, {}, revision))?.catch(() => undefined);
        },
      });
      const guard = { authorize: this.authorize.bind(this), mayReceive: this.mayReceive.bind(this) };
      for (const [uri, proc] of tableProcedures(this.aggregates, guard)) this.builtins.set(uri, proc);
    }
    installMetaApi(this);
  }

  /** Reports an administrative action for the audit log (RealmObserver.onAdminAction). */
  audit(by: Session, action: string, detail: Record<string, unknown>): void {
    this.observer.onAdminAction?.(this, by, action, detail);
  }

  // ----- sessions -----

  join(session: Session): void {
    session.realmName = this.name;
    this.sessions.set(session.id, session);
    this.observer.onJoin?.(this, session);
    this.publishMeta('wamp.session.on_join', [session.details()]);
  }

  /** The session is gone (goodbye, socket lost, killed): clean up and fire testaments. */
  leave(session: Session): void {
    if (session.closed || !this.sessions.has(session.id)) return;
    session.closed = true;
    this.sessions.delete(session.id);
    try {
      // what waited for a delay, then the store's wills (a lock held by this session is
      // released before anything else), then its testaments (lib/testaments.ts)
      this.testaments.ended(session);
    } finally {
      // whatever a testament did, the session's registrations and subscriptions go
      this.dealer.removeSession(session);
      this.broker.removeSession(session);
      this.observer.onLeave?.(this, session);
      this.publishMeta('wamp.session.on_leave', [session.id, session.identity.authid, session.identity.authrole]);
    }
  }

  /**
   * Through publish(): testaments count and are kept in history like any event. One
   * that fails (refused, a row its table refuses, a store error) is reported, never
   * thrown: the other testaments and the session's cleanup still run. An MQTT will is
   * published as its session (asOwner), its permissions checked again.
   */
  private publishTestament(session: Session, t: Testament): void {
    const failed = (err: unknown): void => this.observer.onTestamentError?.(this, session, err);
    try {
      const r = this.publish(t.asOwner ? session : undefined, t.topic, t.payload, t.options);
      if (r instanceof Promise) r.catch(failed);
    } catch (err) {
      failed(err);
    }
  }

  /**
   * Topics no client may publish to, nor leave behind as a testament or an MQTT will:
   * the router's meta events (wamp.*, and the admin console's gatehouse.admin.*) and the
   * topics an aggregate table writes itself. Throws RouterError (not_authorized). The
   * one rule for every gate.
   */
  refuseReservedTopic(topic: string): void {
    if (topic.startsWith('wamp.'))
      throw new RouterError(Errors.notAuthorized, 'the wamp.* topics are published by the router only');
    if (topic.startsWith('gatehouse.admin.'))
      throw new RouterError(Errors.notAuthorized, 'the gatehouse.admin.* topics are published by the router only');
    const refused = this.aggregates?.refusal(topic);
    if (refused) throw refused;
  }

  // ----- pub/sub -----

  /**
   * Routes a publication. Plain publishes are routed synchronously; those that touch
   * the store (retain / when / will) resolve once the write is committed.
   */
  publish(
    session: Session | undefined,
    topic: string,
    payload: Payload,
    options: PublishOptions & RetainOptions,
  ): PublishAck | Promise<PublishAck> {
    const origin = options.origin;
    if (
      origin !== undefined &&
      options.publicationId !== undefined &&
      this.seen &&
      !this.seen.firstTime(origin, options.publicationId)
    ) {
      // resent over a link after a reconnect, or back by another way (a triangle): acked
      // (the sender may forget it) and not routed again (lib/links/seen-messages.ts)
      this.onDuplicate?.(options.via);
      return { publicationId: options.publicationId, deliveries: 0 };
    }
    if (!isRouterSession(session)) this.refuseReservedTopic(topic);
    if (this.authz.active) {
      const actions = RetainedTopics.involved(options) ? PUBLISH_RETAIN : PUBLISH;
      const pending = this.authz.checkAll(this.name, session, actions, topic);
      if (pending) return pending.then(() => this.route(session, topic, payload, options));
    }
    return this.route(session, topic, payload, options);
  }

  private route(
    session: Session | undefined,
    topic: string,
    payload: Payload,
    options: PublishOptions & RetainOptions,
  ): PublishAck | Promise<PublishAck> {
    if (session) session.messagesIn++;
    // a table's topics: the row is validated (a bad one throws) and applied in the
    // turn's commit; it is also an ordinary event, and its ack follows the commit.
    // Store options do not apply: a table row is kept by its table.
    const applied = this.aggregates?.accept(topic, payload);
    if (applied !== undefined) {
      const event = this.broker.publish(session, topic, payload, options);
      const held = this.routed(event);
      const ack = (): PublishAck => ({ publicationId: event.publicationId, deliveries: event.deliveries });
      return held ? Promise.all([applied, held]).then(ack) : applied.then(ack);
    }
    if (RetainedTopics.involved(options)) {
      if (!this.retained) return Promise.reject(new RouterError(Errors.featureNotSupported, 'this router has no retained store'));
      return this.retained.publish(session, topic, payload, options);
    }
    // per-publisher order: a store write of this session still waiting for a shared
    // engine (JetStream) is delivered before anything the session published after it
    const pending = this.retained?.pendingWrites(session);
    if (pending) return pending.then(() => this.routePlain(session, topic, payload, options));
    return this.routePlain(session, topic, payload, options);
  }

  private routePlain(
    session: Session | undefined,
    topic: string,
    payload: Payload,
    options: PublishOptions,
  ): PublishAck | Promise<PublishAck> {
    const event = this.broker.publish(session, topic, payload, options);
    const held = this.routed(event);
    const ack: PublishAck = { publicationId: event.publicationId, deliveries: event.deliveries };
    return held ? held.then(() => ack) : ack;
  }

  /**
   * After local delivery: history, metrics, then the taps (cluster, links); a promise
   * when a tap holds the publisher's ack (lib/publication-taps.ts).
   */
  private routed(event: BrokerEvent): Promise<void> | undefined {
    this.history.record(event);
    this.observer.onPublish?.(this, event, event.deliveries);
    return this.taps.tell(this.name, event);
  }

  /**
   * A publication routed on another cluster node (lib/cluster/): delivered to this
   * node's subscribers as its origin routed it, and nothing more. It was authorized,
   * applied to the tables and written to the shared store where it was published, so
   * none of that happens again here (a retained value is not written twice).
   */
  deliverRemote(topic: string, payload: Payload, options: PublishOptions, revision?: number): BrokerEvent {
    const event = this.broker.publish(undefined, topic, payload, options, revision);
    // no publisher here waits for it: a tap's failure is the tap's to count
    this.routed(event)?.catch(() => undefined);
    return event;
  }

  subscribe(
    session: Session,
    uri: string,
    match: MatchPolicy | undefined,
    sink: EventSink,
    extras: SubscribeExtras = {},
  ): Subscription | Promise<Subscription> {
    const pattern = patternOf(uri, match);
    const filter = extras.filter;
    const delivered: EventSink =
      filter === undefined
        ? sink
        : (event, sub) => {
            if (conditionHolds(filter, valueOf(event.payload))) sink(event, sub);
          };
    return this.guarded(session, 'subscribe', pattern, () => this.broker.subscribePattern(session, pattern, delivered));
  }

  /**
   * Subscribes to a pattern built by a gate's own notation (lib/notation.ts), optionally
   * as a member of a shared group (MQTT 5 `$share`).
   */
  subscribePattern(
    session: Session,
    pattern: TopicPattern,
    sink: EventSink,
    share?: string,
  ): Subscription | Promise<Subscription> {
    return this.guarded(session, 'subscribe', pattern, () => this.broker.subscribePattern(session, pattern, sink, share));
  }

  unsubscribeShared(session: Session, subscriptionId: number, share?: string): void {
    this.mayUndo(session, 'unsubscribe', this.broker.get(subscriptionId)?.pattern);
    this.broker.unsubscribe(session, subscriptionId, share);
  }

  /**
   * Checks an action for a gate or a router procedure that acts on data (the store API's
   * get needs subscribe on the key): undefined = allowed, a throw = denied, a promise =
   * the dynamic authorizer decides. `whole`: a subscribe pattern must be allowed
   * entirely (its events are not filtered per topic, e.g. a durable feed).
   */
  authorize(
    session: Session | undefined,
    action: Action,
    target: string | TopicPattern,
    whole = false,
  ): Promise<void> | undefined {
    return this.authz.active ? this.authz.check(this.name, session, action, target, whole) : undefined;
  }

  /** May this session receive an event on `topic`? (per-topic filter of a wider pattern) */
  mayReceive(session: Session, topic: string): boolean {
    return !this.authz.active || this.authz.mayReceive(session, topic);
  }

  /**
   * Runs `act` once `action` on `target` is allowed: now (the usual case, and always
   * without authorization configured), or after the dynamic authorizer answered, unless
   * the session has left meanwhile.
   */
  private guarded<T>(session: Session, action: Action, target: TopicPattern, act: () => T): T | Promise<T> {
    if (!this.authz.active) return act();
    const pending = this.authz.check(this.name, session, action, target);
    if (!pending) return act();
    return pending.then(() => {
      if (session.closed) throw new RouterError(Errors.noSuchSession, 'the session has left');
      return act();
    });
  }

  /** unsubscribe / unregister: static rules only (lib/auth/authorizer.ts), synchronous. */
  private mayUndo(session: Session, action: Action, target: TopicPattern | undefined): void {
    if (this.authz.active && target) void this.authz.check(this.name, session, action, target);
  }

  /**
   * Delivers the stored values matching a subscription to one subscriber, as events
   * marked retained, then its live events: called by the gate right after it confirmed
   * the subscription, in the same turn. The stored values are read in pages at the pace
   * the subscriber's connection takes them, its live events held meanwhile, with no
   * gap and no duplicate (lib/retained-replay.ts).
   */
  replayRetained(session: Session, sub: Subscription): void {
    this.reserveRetained(session, sub).start();
  }

  /**
   * replayRetained in two steps, for a gate that confirms a subscription later than it
   * creates it (MQTT: one SUBACK for all filters, some decided by the dynamic
   * authorizer later): called when the subscription exists, it takes the snapshot and
   * holds the session's live events; `start()` when the gate confirmed it.
   */
  reserveRetained(session: Session, sub: Subscription): ReplayTicket {
    const ticket = this.retained ? reserveReplay(this.broker, this.retained, session, sub) : undefined;
    return {
      start: () => {
        this.startReplay(session, sub, ticket);
      },
    };
  }

  private startReplay(session: Session, sub: Subscription, ticket: ReplayTicket | undefined): void {
    // the rows of tables whose change feed it matches, as "insert" changes
    this.aggregates?.replay(sub.pattern, (topic, payload, revision) => {
      this.broker.deliverTo(session, sub, {
        publicationId: revision,
        topic,
        payload,
        publisher: undefined,
        discloseMe: false,
        retained: true,
        revision,
        qos: 2,
        retainFlag: true,
        headers: undefined,
        origin: undefined,
        via: undefined,
        deliveries: 1,
      });
    });
    ticket?.start();
  }

  unsubscribe(session: Session, subscriptionId: number): void {
    this.mayUndo(session, 'unsubscribe', this.broker.get(subscriptionId)?.pattern);
    this.broker.unsubscribe(session, subscriptionId);
  }

  // ----- RPC -----

  register(session: Session, uri: string, options: RegisterOptions, callee: Callee): Registration | Promise<Registration> {
    if (this.builtins.has(uri)) {
      throw new RouterError(Errors.procedureAlreadyExists, `${uri} is provided by the router`);
    }
    const match = options.match ?? 'exact';
    this.reserved?.checkRegister(this.name, session, { uri, match, key: `${match}:${uri}` });
    return this.guarded(session, 'register', { uri, match, key: `${match}:${uri}` }, () =>
      this.dealer.register(session, uri, options, callee),
    );
  }

  unregister(session: Session, registrationId: number): void {
    const reg = this.dealer.get(registrationId);
    this.mayUndo(session, 'unregister', reg && { uri: reg.uri, match: reg.match, key: `${reg.match}:${reg.uri}` });
    this.dealer.unregister(session, registrationId);
  }

  /**
   * Calls a procedure; results and errors go to the sink. Returns the invocation when
   * the call was routed now; undefined for router procedures, refusals, and calls
   * waiting for the dynamic authorizer (those cannot be canceled before it answers).
   */
  call(session: Session, procedure: string, payload: Payload, options: CallOptions, sink: CallerSink): Invocation | undefined {
    if (this.authz.active) {
      let pending: Promise<void> | undefined;
      try {
        pending = this.authz.check(this.name, session, 'call', procedure);
      } catch (err) {
        sink.error(asRouterError(err));
        return undefined;
      }
      if (pending) {
        pending.then(
          () => {
            if (!session.closed || options.outlivesCaller === true) this.routeCall(session, procedure, payload, options, sink);
          },
          (err: unknown) => {
            sink.error(asRouterError(err));
          },
        );
        return undefined;
      }
    }
    return this.routeCall(session, procedure, payload, options, sink);
  }

  private routeCall(
    session: Session,
    procedure: string,
    payload: Payload,
    options: CallOptions,
    sink: CallerSink,
  ): Invocation | undefined {
    session.messagesIn++;
    const builtin = this.builtins.get(procedure);
    if (builtin) {
      runBuiltin(builtin, session, payload, sink, options.receiveProgress === true);
      return undefined;
    }
    return this.dealer.call(session, procedure, payload, options, sink);
  }

  /**
   * Meta events are published by the router itself (no publisher session), once the
   * request that caused them has been answered: a session subscribing to
   * wamp.subscription.on_subscribe must get SUBSCRIBED before the EVENT about that very
   * subscription, or its client drops it (EVENT for an unknown subscription). All meta
   * events take the same queue, so they keep their relative order.
   */
  publishMeta(topic: string, args: unknown[]): void {
    queueMicrotask(() => {
      const event = this.broker.publish(undefined, topic, { args }, {});
      this.metaTap?.(event);
    });
  }

  /**
   * The authorizer's rules changed (a config reload): every session's subscriptions and
   * registrations are checked again, and those no longer allowed end now, in the core
   * once for every gate. The session's gate tells its client (SessionControl.revoked);
   * a gate that cannot has the session closed. A decision the dynamic authorizer would
   * have to make is not re-asked: what it allowed stands. Returns how many ended.
   */
  revokeUnauthorized(): number {
    this.broker.receiveGuard = this.authz.active ? (s, topic) => this.authz.mayReceive(s, topic) : undefined;
    if (!this.authz.active) return 0;
    let ended = 0;
    for (const session of [...this.sessions.values()]) {
      if (session.closed || isRouterSession(session)) continue;
      const lost: Revocation[] = [];
      for (const sub of [...this.broker.subscriptionsOf(session)]) {
        if (this.stillAllowed(session, 'subscribe', sub.pattern)) continue;
        this.broker.drop(session, sub);
        lost.push({ kind: 'subscription', id: sub.id, uri: sub.uri });
      }
      for (const reg of [...this.dealer.registrationsOf(session)]) {
        if (this.stillAllowed(session, 'register', { uri: reg.uri, match: reg.match, key: `${reg.match}:${reg.uri}` })) continue;
        this.dealer.unregister(session, reg.id);
        lost.push({ kind: 'registration', id: reg.id, uri: reg.uri });
      }
      if (lost.length === 0) continue;
      ended += lost.length;
      tellRevoked(session, lost, revokedError(lost));
    }
    return ended;
  }

  private stillAllowed(session: Session, action: Action, target: TopicPattern): boolean {
    try {
      // a promise: only the dynamic authorizer could tell, and it is not asked again
      void this.authz.check(this.name, session, action, target)?.catch(() => undefined);
      return true;
    } catch {
      return false;
    }
  }

  /** New per-session limits (a config reload): they apply to the next subscribe, register or call. */
  setLimits(limits: RealmOptions['limits']): void {
    this.broker.maxPerSession = limits.maxSubscriptionsPerSession;
    this.dealer.setLimits(limits);
  }

  /** Ends every session (router shutdown). */
  closeAll(reason: RouterError): void {
    for (const s of [...this.sessions.values()]) s.control.close(reason);
    this.retained?.close();
  }
}

/** The error a revocation is told with: not_authorized, naming what was lost. */
export function revokedError(lost: readonly Revocation[]): RouterError {
  return new RouterError(Errors.notAuthorized, `permission revoked: ${lost.map((l) => l.uri).join(', ')}`);
}

function runBuiltin(proc: MetaProcedure, session: Session, payload: Payload, sink: CallerSink, receiveProgress: boolean): void {
  let result: Payload | Promise<Payload>;
  try {
    result = proc(
      session,
      payload.args ?? [],
      payload.kwargs ?? {},
      receiveProgress
        ? (p) => {
            sink.result(p, true);
          }
        : undefined,
    );
  } catch (err) {
    sink.error(asRouterError(err));
    return;
  }
  if (result instanceof Promise) {
    result.then(
      (r) => {
        sink.result(r, false);
      },
      (err: unknown) => {
        sink.error(asRouterError(err));
      },
    );
  } else {
    sink.result(result, false);
  }
}
