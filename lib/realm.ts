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
import { RetainedTopics, retainedMetaOf, type RetainedAck, type RetainOptions } from './retained';
import type { Session } from './session';
import type { RetainedStore } from './store/types';
import { Testaments } from './testaments';
import type { MatchPolicy, TopicPattern } from './topic';

export interface RealmOptions {
  name: string;
  eventHistory?: readonly HistoryConfig[];
  limits: DealerLimits & { maxSubscriptionsPerSession: number };
  /** the retained store (shared by all realms; keys are per realm) */
  store?: RetainedStore;
  /** a value with a TTL was written: the router reschedules its expiry timer */
  onTtl?: () => void;
  /** the aggregate tables, in the one realm config.aggregate.realm names */
  aggregates?: AggregateEngine;
}

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
  readonly testaments = new Testaments();
  readonly history: EventHistory;
  /** router-implemented procedures (meta API, store access): callable like any other */
  readonly builtins = new Map<string, MetaProcedure>();
  /** retained values and sync primitives; undefined when the router has no store */
  readonly retained: RetainedTopics | undefined;
  /** schema-driven tables fed by publications (lib/aggregate/); undefined when off */
  readonly aggregates: AggregateEngine | undefined;

  constructor(
    options: RealmOptions,
    private readonly observer: RealmObserver = {},
  ) {
    this.name = options.name;
    this.broker = new Broker(options.limits.maxSubscriptionsPerSession);
    this.dealer = new Dealer(options.limits);
    this.history = new EventHistory(options.eventHistory ?? []);
    this.dealer.observer.onCallDone = (_inv, outcome) => this.observer.onCallDone?.(this, outcome);
    this.broker.onDeliveryError = (session, err) => this.observer.onDeliveryError?.(this, session, err);
    if (options.store) {
      this.retained = new RetainedTopics(this.name, options.store, this.broker, (e) => this.routed(e), options.onTtl ?? (() => undefined));
      installStoreApi(this, this.retained);
    }
    this.aggregates = options.aggregates;
    if (this.aggregates) {
      // the change feed: events of the router itself, like meta events, routed at once
      this.aggregates.attach({ publish: (topic, payload, revision) => this.routed(this.broker.publish(undefined, topic, payload, {}, revision)) });
      for (const [uri, proc] of tableProcedures(this.aggregates)) this.builtins.set(uri, proc);
    }
    installMetaApi(this);
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
    // wills first: a lock held by this session is released before anything else
    this.retained?.sessionEnded(session);
    // through publish(): testaments count and are kept in history like any event
    for (const t of this.testaments.take(session)) {
      const r = this.publish(undefined, t.topic, t.payload, t.options);
      if (r instanceof Promise) r.catch(() => undefined);
    }
    this.dealer.removeSession(session);
    this.broker.removeSession(session);
    this.observer.onLeave?.(this, session);
    this.publishMeta('wamp.session.on_leave', [session.id, session.identity.authid, session.identity.authrole]);
  }

  // ----- pub/sub -----

  /**
   * Routes a publication. Plain publishes are routed synchronously; those that touch
   * the store (retain / when / will) resolve once the write is committed.
   */
  publish(session: Session | undefined, topic: string, payload: Payload, options: PublishOptions & RetainOptions): PublishAck | Promise<PublishAck> {
    // a table's topics: the row is validated (a bad one throws) and applied in the
    // turn's commit; it is also an ordinary event, and its ack follows the commit.
    // Store options do not apply: a table row is kept by its table.
    const applied = this.aggregates?.accept(topic, payload);
    if (applied !== undefined) {
      const event = this.broker.publish(session, topic, payload, options);
      this.routed(event);
      return applied.then(() => ({ publicationId: event.publicationId, deliveries: event.deliveries }));
    }
    if (RetainedTopics.involved(options)) {
      if (!this.retained) return Promise.reject(new RouterError(Errors.featureNotSupported, 'this router has no retained store'));
      return this.retained.publish(session, topic, payload, options);
    }
    const event = this.broker.publish(session, topic, payload, options);
    this.routed(event);
    return { publicationId: event.publicationId, deliveries: event.deliveries };
  }

  private routed(event: BrokerEvent): void {
    this.history.record(event);
    this.observer.onPublish?.(this, event, event.deliveries);
  }

  subscribe(session: Session, uri: string, match: MatchPolicy | undefined, sink: EventSink, extras: SubscribeExtras = {}): Subscription {
    const filter = extras.filter;
    const delivered: EventSink =
      filter === undefined
        ? sink
        : (event, sub) => {
            if (conditionHolds(filter, valueOf(event.payload))) sink(event, sub);
          };
    return this.broker.subscribe(session, uri, match, delivered);
  }

  /**
   * Subscribes to a pattern built by a gate's own notation (lib/notation.ts), optionally
   * as a member of a shared group (MQTT 5 `$share`).
   */
  subscribePattern(session: Session, pattern: TopicPattern, sink: EventSink, share?: string): Subscription {
    return this.broker.subscribePattern(session, pattern, sink, share);
  }

  unsubscribeShared(session: Session, subscriptionId: number, share?: string): void {
    this.broker.unsubscribe(session, subscriptionId, share);
  }

  /**
   * Delivers the stored values matching a subscription to one subscriber, as events
   * marked retained. Called by the gate right after it confirmed the subscription, in
   * the same turn, so no live event can fall between the two: no gap, no duplicate.
   */
  replayRetained(session: Session, sub: Subscription): void {
    // the rows of tables whose change feed it matches, as "insert" changes
    this.aggregates?.replay(sub.pattern, (topic, payload, revision) =>
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
        deliveries: 1,
      }),
    );
    if (!this.retained) return;
    const now = Date.now();
    for (const entry of this.retained.matching(sub.pattern)) {
      const meta = retainedMetaOf(entry);
      // a message whose expiry has passed is not delivered any more [MQTT-3.3.2-5]
      if (meta?.headers?.expiresAt !== undefined && meta.headers.expiresAt <= now) continue;
      const event: BrokerEvent = {
        // the revision, as for a live store write: a WAMP client reads it from the event
        publicationId: entry.revision,
        topic: entry.key,
        payload: entry.value,
        publisher: undefined,
        discloseMe: false,
        retained: true,
        revision: entry.revision,
        // the publication's own QoS when it had one [MQTT-3.3.1-5]; else the subscriber's
        qos: meta?.qos ?? 2,
        retainFlag: true,
        headers: meta?.headers,
        deliveries: 1,
      };
      this.broker.deliverTo(session, sub, event);
    }
  }

  unsubscribe(session: Session, subscriptionId: number): void {
    this.broker.unsubscribe(session, subscriptionId);
  }

  // ----- RPC -----

  register(session: Session, uri: string, options: RegisterOptions, callee: Callee): Registration {
    if (this.builtins.has(uri)) {
      throw new RouterError(Errors.procedureAlreadyExists, `${uri} is provided by the router`);
    }
    return this.dealer.register(session, uri, options, callee);
  }

  unregister(session: Session, registrationId: number): void {
    this.dealer.unregister(session, registrationId);
  }

  call(session: Session, procedure: string, payload: Payload, options: CallOptions, sink: CallerSink): Invocation | undefined {
    const builtin = this.builtins.get(procedure);
    if (builtin) {
      runBuiltin(builtin, session, payload, sink);
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
    queueMicrotask(() => this.broker.publish(undefined, topic, { args }, {}));
  }

  /** Ends every session (router shutdown). */
  closeAll(reason: RouterError): void {
    for (const s of [...this.sessions.values()]) s.control.close(reason);
    this.retained?.close();
  }
}

function runBuiltin(proc: MetaProcedure, session: Session, payload: Payload, sink: CallerSink): void {
  let result: Payload | Promise<Payload>;
  try {
    result = proc(session, payload.args ?? [], payload.kwargs ?? {});
  } catch (err) {
    sink.error(asRouterError(err));
    return;
  }
  if (result instanceof Promise) {
    result.then(
      (r) => sink.result(r, false),
      (err: unknown) => sink.error(asRouterError(err)),
    );
  } else {
    sink.result(result, false);
  }
}

function asRouterError(err: unknown): RouterError {
  if (err instanceof RouterError) return err;
  return new RouterError(Errors.internal, err instanceof Error ? err.message : String(err));
}
