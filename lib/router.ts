import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { installAdminApi, type AdminSource } from './admin-api';
import { adminSource } from './admin-stats';
import { AggregateEngine } from './aggregate/engine';
import { loadDefinitions } from './aggregate/definitions';
import { Authenticator } from './auth/authenticator';
import { resolveConfig, type ClusterConfig, type Config } from './config';
import { Errors, RouterError } from './errors';
import type { TestamentRecord } from './testaments';
import type { NatsConnection } from '@nats-io/transport-node';
import type * as ClusterModule from './cluster/cluster';
import type { Cluster, ClusterHealth } from './cluster/cluster';
import type * as ClusterRpcModule from './cluster/rpc';
import type { ClusterRpc } from './cluster/rpc';
import { defaultNodeId, isValidNodeId, newNodeId } from './node-id';
import { PublicationTaps } from './publication-taps';
import { SeenMessages } from './links/seen-messages';
import { LinkManager } from './links/manager';
import { createLogger, type Logger } from './log';
import type { Counter } from 'prom-client';
import { Metrics } from './metrics';
import { ConnectionLimiter } from './connection-limits';
import { Realm, type RealmOptions } from './realm';
import { createAuthorizer } from './auth/router-authorizer';
import { ReservedProcedures } from './auth/reserved-procedures';
import type { Authorizer } from './auth/authorizer';
import { CertificateReloader } from './tls-options';
import type { Session } from './session';
import { installRequestApi } from './requests/api';
import { RequestDispatcher } from './requests/dispatcher';
import { RequestStore } from './requests/store';
import { isOwnerKind, Mailboxes, mailboxPolicy } from './mailbox';
import { createStores, type QueueStore, type RetainedStore, type StoreDatabase } from './store';
import { timerDelay } from './timers';
import type * as JetStreamNodeModule from './store/jetstream/node';
import type { JetStreamNode } from './store/jetstream/node';
import type { RealmStore } from './store/realm-store';
import { realClock, type Clock, type Timer } from './clock';

/** meta event: a session went offline or came back, with its details (README "Admin console") */
export const SESSION_UPDATE = 'gatehouse.admin.session.on_update';

/** A listening endpoint a gate opened; the router closes it on shutdown. */
export interface Listener {
  readonly port: number;
  /** stop accepting, give connections a moment to close cleanly, then cut off the rest */
  close(): Promise<void>;
}

/** Config sections read once at start-up: a reload that changes them says a restart is needed. */
// NATS (the cluster, the JetStream store) is loaded by the routers that use it, not by
// every router (README "Footprint").
/* eslint-disable @typescript-eslint/no-require-imports -- modules loaded on first use */
const clusterModule = (): typeof ClusterModule => require('./cluster/cluster') as typeof ClusterModule;
const clusterRpcModule = (): typeof ClusterRpcModule => require('./cluster/rpc') as typeof ClusterRpcModule;
const jetstreamModule = (): typeof JetStreamNodeModule => require('./store/jetstream/node') as typeof JetStreamNodeModule;
/* eslint-enable @typescript-eslint/no-require-imports */

const RESTART_ONLY = [
  'http',
  'wamp',
  'mqtt',
  'stomp',
  'store',
  'aggregate',
  'log',
  'metrics',
  'dashboard',
  'cluster',
  'links',
] as const satisfies readonly (keyof Config)[];

/** What reload() changed. */
export interface ReloadOutcome {
  realmsAdded: string[];
  realmsRemoved: string[];
  /** subscriptions and registrations ended because the new rules no longer allow them */
  revoked: number;
  /** top-level config sections that changed but apply only after a restart */
  restartNeeded: string[];
  certificates: { reloaded: string[]; failed: string[] };
}

export interface RouterOptions {
  /** use this logger instead of creating one from config.log */
  logger?: Logger;
  /** the clock every timeout of the core reads and schedules with (lib/clock.ts); tests pass a fake one so they need not sleep */
  clock?: Clock;
  /** this router's node id (lib/node-id.ts); default: host name plus a boot suffix */
  node?: string;
}

/**
 * The router: owns realms, listeners and the lifecycle. Gates reach the core only
 * through `realm(name)` and the realm's contract.
 */
export class RouterCore {
  /** the validated config; replaced as a whole by reload() */
  config: Config;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** names this router in message ids, leases and the cluster (lib/node-id.ts) */
  readonly node: string;
  /** the cluster's and the links' view of every realm's publications */
  readonly taps = new PublicationTaps();
  /** this node's part in a cluster (config.cluster, lib/cluster/); undefined: a single router */
  readonly cluster: Cluster | undefined;
  /** ids of publications from elsewhere already routed: resends and loops are dropped */
  readonly seen: SeenMessages;
  /** links to other routers and brokers (config links, lib/links/) */
  readonly links: LinkManager;
  /** the clock of the core's timeouts (RouterOptions.clock) */
  readonly clock: Clock;
  private readonly realms = new Map<string, Realm>();
  private readonly listeners = new Set<Listener>();
  private readonly startedAt: number;
  private state: 'new' | 'running' | 'draining' | 'closed' = 'new';
  private sessionCount = 0;
  /** joined sessions kept for a client that is not connected (MQTT persistent sessions) */
  private readonly parked = new Set<Session>();
  /** the retained store, shared by all realms (keys are per realm) */
  readonly store: RetainedStore;
  /** durable queues (MQTT persistent sessions, STOMP queues), same database and commits */
  readonly queues: QueueStore;
  /** the one durable mailbox service on `queues`: bounds, drops, expiry (lib/mailbox/) */
  readonly mailboxes: Mailboxes;
  /** the database both stores (and the aggregate tables) share */
  private readonly database: StoreDatabase;
  /**
   * This boot of the node (node id, pid, random): the owner of its store wills' lease
   * (lib/store/leases.ts), new at every start so a crashed boot's lease lapses and its
   * wills fire. `node` is the stable name (message ids, the cluster).
   */
  readonly nodeId: string;
  /** store.engine jetstream: the NATS connection, realm buckets and will leases */
  private jetstream: JetStreamNode | undefined;
  /** durable requests (lib/requests/); undefined before start() */
  private requests: RequestDispatcher | undefined;
  /** the aggregate tables (config.aggregate); undefined when off or before start() */
  aggregates: AggregateEngine | undefined;
  /** authentication for every gate (lib/auth/) */
  readonly auth: Authenticator;
  private expiryTimer: Timer | undefined;
  /** open connections across all listeners (limits.maxConnections / maxConnectionsPerIp) */
  readonly connections: ConnectionLimiter;
  /** the TLS servers of the listeners, for certificate reload */
  readonly certificates = new CertificateReloader();
  private starting: Promise<void> | undefined;
  /** who may do what, shared by every realm (config auth.roles, auth.authorizer) */
  readonly authorizer: Authorizer;
  /** the dynamic authenticator's and authorizer's procedures: registered by calleeRoles only */
  private readonly reserved: ReservedProcedures;
  /** what the admin console's procedures read (lib/admin-api.ts) */
  private readonly admin: AdminSource;

  constructor(config: unknown = {}, options: RouterOptions = {}) {
    this.config = resolveConfig(config);
    this.clock = options.clock ?? realClock;
    this.startedAt = this.clock.now();
    this.log = options.logger ?? createLogger({ level: this.config.log.level, format: this.config.log.format });
    this.metrics = new Metrics();
    if (options.node !== undefined && !isValidNodeId(options.node)) {
      throw new RouterError(Errors.invalidArgument, `node id ${JSON.stringify(options.node)}: use 1 to 64 of A-Z a-z 0-9 _ -`);
    }
    // the schema checked a configured cluster.node's form
    this.node = options.node ?? this.config.cluster?.node ?? defaultNodeId();
    const cluster = this.config.cluster;
    this.cluster =
      cluster && cluster.nats.length > 0
        ? new (clusterModule().Cluster)(this, {
            nats: cluster.nats,
            prefix: cluster.prefix,
            attach: (nc) => this.startClusterRpc(nc, cluster.prefix, cluster.rpc),
          })
        : undefined;
    this.seen = new SeenMessages(this.node);
    this.connections = new ConnectionLimiter(this.config.limits);
    this.auth = new Authenticator(this.config, this.metrics, this.log, (name) => this.realm(name), this.clock);
    // the SQLite file holds the node-local state (queues, requests, aggregate tables)
    // with any engine, and the retained store too with the embedded one
    const stores = createStores(
      { engine: 'sqlite', path: this.config.store.path, synchronous: this.config.store.synchronous },
      this.clock,
    );
    this.nodeId = newNodeId(this.node);
    this.store = stores.retained;
    this.queues = stores.queues;
    this.mailboxes = new Mailboxes({
      store: this.queues,
      policy: (kind) => mailboxPolicy(this.config, kind),
      metrics: this.metrics,
    });
    this.authorizer = createAuthorizer(this);
    this.reserved = new ReservedProcedures(this.config.auth);
    this.database = stores.database;
    this.links = new LinkManager(this, this.config.links);
    this.admin = adminSource({
      metrics: this.metrics,
      realms: () => this.realms.values(),
      store: this.store,
      queues: this.queues,
      storePath: this.config.store.path,
      startedAt: this.startedAt,
      parked: () => this.parked.size,
      purge: (storeName, kind, realm, name) => this.purgeQueue(storeName, kind, realm, name),
      consumers: (storeName) => this.queueConsumers(storeName),
      // on JetStream the realms' mirrors hold the retained keys, not the SQLite store
      retainedKeys: () =>
        this.jetstream ? this.realmNames().reduce((n, r) => n + (this.realmStore(r)?.keyCount() ?? 0), 0) : undefined,
    });
    this.metrics.addCollector(() => {
      for (const r of this.realms.values()) {
        this.metrics.subscriptions.labels(r.name).set(r.broker.size);
        this.metrics.registrations.labels(r.name).set(r.dealer.size);
      }
    });
  }

  /** Opens the store and fires the wills a previous process left behind. Idempotent. */
  start(): Promise<void> {
    this.starting ??= this.open();
    return this.starting;
  }

  private async open(): Promise<void> {
    const path = this.config.store.path;
    // the default ./data/gatehouse.db must work on a fresh clone
    if (path !== ':memory:' && !path.startsWith('file:')) mkdirSync(dirname(resolve(path)), { recursive: true });
    await this.store.open();
    await this.queues.open();
    if (this.config.store.engine === 'jetstream') {
      this.jetstream = await jetstreamModule().JetStreamNode.open(
        this.config.store.nats,
        this.nodeId,
        this.log.child({ component: 'store' }),
        (realm, key, owner, value) => this.openRealm(realm)?.retained?.fireLeaseWill(key, owner, value) ?? Promise.resolve(),
        (t) => {
          this.fireRemoteTestament(t);
        },
      );
    }
    this.openRequests();
    this.openAggregates();
    for (const r of this.config.realms) this.createRealm(r.name);
    // the configured realms' mirrors are filled before the first session joins
    for (const r of this.realms.values()) if (r.retained) await this.loaded(r.name, r.retained.engine.ready);
    // the tables' realm exists from the start: its change feed has somewhere to go
    const tablesRealm = this.config.aggregate.realm;
    if (this.aggregates && !this.realms.has(tablesRealm)) this.createRealm(tablesRealm);
    // joins in the background: a node whose NATS is down still serves its own clients
    this.cluster?.start();
    const orphans = this.store.orphanedWills();
    // not realm(): that refuses callers until start() is done, and this is start()
    for (const name of new Set(orphans.map((e) => e.realm))) this.openRealm(name)?.retained?.fireOrphanedWills(orphans);
    this.scheduleExpiry();
    if (this.state === 'new') this.state = 'running';
    // after the realms exist and the store is open: a link resends what its queue holds
    this.links.start();
    this.log.info({ store: this.config.store.path, keys: this.store.stats.keys }, 'router started');
  }

  /** Durable requests: their records are in the queue store, just opened. */
  private openRequests(): void {
    const outcomes = this.metrics.requestOutcomes;
    const requests = new RequestDispatcher(
      new RequestStore(this.queues),
      this.log.child({ part: 'requests' }),
      (outcome) => {
        outcomes.labels(outcome).inc();
      },
      this.clock,
    );
    // a procedure served over a link: its durable requests are submitted at the peer
    requests.remotes = (realm, procedure) => this.links.peerFor(realm, procedure);
    requests.restore();
    for (const realm of this.realms.values()) this.attachRequests(realm, requests);
    this.requests = requests;
  }

  private attachRequests(realm: Realm, requests: RequestDispatcher): void {
    installRequestApi(realm, requests);
    requests.attach(realm);
  }

  /**
   * Loads the table definitions (a bad one throws DefinitionError naming its file and
   * field: start-up fails) and opens the tables in the store database.
   */
  private openAggregates(): void {
    const dir = this.config.aggregate.dir;
    if (dir === '') return;
    const definitions = loadDefinitions(resolve(dir));
    const engine = new AggregateEngine(this.database, definitions, {
      log: this.log.child({ component: 'aggregate' }),
      metrics: this.metrics,
    });
    engine.open();
    this.aggregates = engine;
  }

  /** One timer for the whole store: TTL expiry publishes each deletion in its realm. */
  private scheduleExpiry(): void {
    const next = this.store.nextExpiry();
    this.clock.clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    if (next === undefined || this.state === 'closed') return;
    this.expiryTimer = this.clock.setTimeout(
      () => {
        this.expiryTimer = undefined;
        for (const e of this.store.expire(this.clock.now())) this.realm(e.realm)?.retained?.expired(e);
        this.scheduleExpiry();
        // a ttl beyond setTimeout's range fires early: nothing expires and it is re-armed
      },
      timerDelay(next - this.clock.now()),
    );
    this.expiryTimer.unref();
  }

  /** The realm a session asks for, created on first use when config allows it. */
  realm(name: string): Realm | undefined {
    // invariant, not a catalogue error: gates accept connections only once start() has run,
    // so this is a bug in embedding code (a listener opened before start()), never a client's
    if (this.state === 'new') throw new Error('router.start() must complete before sessions join');
    return this.openRealm(name);
  }

  /**
   * Could a session join this realm (it exists, or autoCreateRealms would create it)?
   * Creates nothing: a gate asks before authenticating, and opens the realm after.
   */
  mayJoinRealm(name: string): boolean {
    return this.realms.has(name) || this.config.autoCreateRealms;
  }

  /**
   * A testament or MQTT will of a node whose lease lapsed, claimed here: published by the
   * router itself, since its owner session is gone. An MQTT will (asOwner) would be the
   * owner's own PUBLISH, but its topic was authorized when it was set (CONNECT,
   * gates/mqtt/will.ts authorizeWill; add_testament authorizes too), and that decision
   * stands: the owner's identity and role are not known here to check them again.
   */
  private fireRemoteTestament(t: TestamentRecord): void {
    const failed = (err: unknown): void => {
      this.metrics.remoteTestaments.labels('refused').inc();
      this.log.warn(
        { err, realm: t.owner.realm, session: t.owner.session, topic: t.topic },
        'testament of a lapsed node not published',
      );
    };
    try {
      const realm = this.openRealm(t.owner.realm);
      if (realm === undefined) throw new RouterError(Errors.noSuchRealm, t.owner.realm);
      const fired = (): void => {
        this.metrics.remoteTestaments.labels('fired').inc();
        this.log.info(
          { realm: t.owner.realm, session: t.owner.session, topic: t.topic },
          'jetstream store: fired a testament of a lapsed lease',
        );
      };
      const r = realm.publish(undefined, t.topic, t.payload, t.options);
      if (r instanceof Promise) r.then(fired, failed);
      else fired();
    } catch (err) {
      failed(err);
    }
  }

  private openRealm(name: string): Realm | undefined {
    const realm = this.realms.get(name);
    if (realm || !this.config.autoCreateRealms) return realm;
    // realms are never dropped: without a cap any client could grow the router (and
    // the metrics' realm labels) without bound by naming a new realm per connection
    if (this.realms.size >= this.config.limits.maxRealms) {
      this.log.warn({ realm: name, maxRealms: this.config.limits.maxRealms }, 'realm not created: limits.maxRealms reached');
      return undefined;
    }
    return this.createRealm(name);
  }

  /**
   * Called with each realm as it is created (after start(), realms are created on first
   * use): services outside the core, like the cluster's RPC (lib/cluster/rpc/), attach
   * to its dealer and meta API there.
   */
  readonly realmHooks = new Set<(realm: Realm) => void>();

  /** A realm's retained store engine (undefined: no such realm, or no store). */
  realmStore(name: string): RealmStore | undefined {
    return this.realms.get(name)?.retained?.engine;
  }

  /** the JetStream node of store.engine jetstream (tests: stop its lease renewal) */
  get storeNode(): JetStreamNode | undefined {
    return this.jetstream;
  }

  realmNames(): string[] {
    return [...this.realms.keys()];
  }

  private createRealm(name: string): Realm {
    const rc = this.config.realms.find((r) => r.name === name);
    const m = this.metrics;
    const counts = m.forRealm(name);
    const callCounters = new Map<string, Counter.Internal>();
    const realm = new Realm(
      {
        name,
        eventHistory: rc?.eventHistory ?? [],
        store: this.store,
        realmStore: this.jetstream?.realm(name),
        testamentRecorder: this.jetstream?.testamentRecorder(),
        taps: this.taps,
        seen: this.seen,
        clock: this.clock,
        onDuplicate: (via) => {
          m.duplicatesDropped.labels(via === undefined ? 'unknown' : (via.split(':')[0] ?? via)).inc();
        },
        authorizer: this.authorizer,
        reserved: this.reserved,
        onTtl: () => {
          this.scheduleExpiry();
        },
        aggregates: name === this.config.aggregate.realm ? this.aggregates : undefined,
        limits: this.realmLimits(),
        retainedLimits: {
          maxKeys: this.config.limits.maxRetainedKeysPerRealm,
          maxValueBytes: this.config.limits.maxRetainedValueBytes || this.config.limits.maxMessageSize,
          onLimitHit: (s, limit, key) => {
            m.limitHits.labels(s?.transport.gate ?? 'core', limit).inc();
            this.log.warn({ realm: name, key, limit, session: s?.id, peer: s?.transport.peer }, 'limit hit');
          },
        },
      },
      {
        onJoin: (r, s) => {
          this.sessionCount++;
          m.sessions.labels(s.transport.gate, r.name).inc();
          m.sessionsTotal.labels(s.transport.gate).inc();
          this.log.debug(
            { realm: r.name, session: s.id, authid: s.identity.authid, peer: s.transport.peer, gate: s.transport.gate },
            'session joined',
          );
        },
        onLeave: (r, s) => {
          this.sessionCount--;
          if (this.parked.delete(s)) m.offlineSessions.labels(s.transport.gate).dec();
          m.sessions.labels(s.transport.gate, r.name).dec();
          this.log.debug({ realm: r.name, session: s.id }, 'session left');
        },
        onPublish: (_r, _e, n) => {
          counts.publications++;
          counts.deliveries += n;
        },
        // label children cached: a labels() lookup per call showed in the RPC profile
        onCallDone: (r, outcome) => {
          let c = callCounters.get(outcome);
          if (!c) callCounters.set(outcome, (c = m.calls.labels(r.name, outcome)));
          c.inc();
        },
        onDeliveryError: (r, s, err) => {
          m.drops.labels(s.transport.gate, 'delivery_error').inc();
          this.log.error({ err, realm: r.name, session: s.id }, 'delivery to a subscriber failed');
        },
        onTestamentError: (r, s, err) => {
          m.drops.labels(s.transport.gate, 'testament_refused').inc();
          this.log.warn({ err, realm: r.name, session: s.id }, 'testament not published');
        },
        onAdminAction: (r, by, action, detail) => {
          const who = {
            session: by.id,
            authid: by.identity.authid,
            authrole: by.identity.authrole,
            gate: by.transport.gate,
            peer: by.transport.peer,
          };
          this.log.info({ realm: r.name, action, by: who, ...detail }, `admin action: ${action}`);
        },
      },
    );
    installAdminApi(realm, this.admin);
    this.links.install(realm);
    if (this.requests) this.attachRequests(realm, this.requests);
    this.realms.set(name, realm);
    for (const hook of this.realmHooks) hook(realm);
    return realm;
  }

  private realmLimits(): RealmOptions['limits'] {
    const l = this.config.limits;
    return {
      maxSubscriptionsPerSession: l.maxSubscriptionsPerSession,
      maxTestamentsPerSession: l.maxTestamentsPerSession,
      maxRegistrationsPerSession: l.maxRegistrationsPerSession,
      maxPendingCallsPerSession: l.maxPendingCallsPerSession,
      defaultCallTimeoutMs: l.callTimeoutMs,
    };
  }

  /**
   * Applies a new, already validated config without a restart (the daemon's SIGHUP,
   * README "Reloading the configuration"). Sessions stay connected. Users, roles and
   * permissions, limits and realms take effect at once: realms added are created,
   * realms removed close their sessions (realm_removed), and every subscription or
   * registration the new rules no longer allow ends (Realm.revokeUnauthorized). TLS
   * certificates are re-read. Settings read once at start-up (listeners, store,
   * aggregates, metrics, dashboard, log) are named in `restartNeeded` and keep their
   * old values until a restart.
   */
  reload(next: Config): ReloadOutcome {
    const prev = this.config;
    this.config = next;
    const restartNeeded = RESTART_ONLY.filter((k) => JSON.stringify(prev[k]) !== JSON.stringify(next[k]));
    this.auth.reconfigure(next);
    this.authorizer.setRoles(next.auth.roles);
    this.connections.setLimits(next.limits);
    const keep = new Set(next.realms.map((r) => r.name));
    if (this.aggregates) keep.add(next.aggregate.realm);
    const realmsRemoved: string[] = [];
    // realms the old file listed and the new one does not; auto-created ones stay
    for (const r of prev.realms) {
      const realm = this.realms.get(r.name);
      if (keep.has(r.name) || !realm) continue;
      this.realms.delete(r.name);
      realm.closeAll(new RouterError(Errors.realmRemoved, `realm ${r.name} was removed from the configuration`));
      realmsRemoved.push(r.name);
    }
    const realmsAdded: string[] = [];
    if (this.state === 'running') {
      for (const name of keep) {
        if (this.realms.has(name)) continue;
        this.createRealm(name);
        realmsAdded.push(name);
      }
    }
    const limits = this.realmLimits();
    let revoked = 0;
    for (const realm of this.realms.values()) {
      realm.setLimits(limits);
      revoked += realm.revokeUnauthorized();
    }
    for (const fn of this.reloadHooks) revoked += fn();
    const certificates = this.reloadCertificates();
    this.metrics.configReloads.labels('ok').inc();
    return { realmsAdded, realmsRemoved, revoked, restartNeeded, certificates };
  }

  /**
   * A joined session is parked (its client gone, the session kept for its return) or
   * live again. Parked sessions do not count against limits.maxSessions: they have a
   * limit of their own (the MQTT gate's limits.maxOfflineSessions), and counting them
   * let one client that parks sessions lock every protocol out, restarts included
   * (issue 16).
   */
  setParked(session: Session, parked: boolean): void {
    if (parked === this.parked.has(session)) return;
    session.parked = parked;
    if (parked) this.parked.add(session);
    else this.parked.delete(session);
    this.metrics.offlineSessions.labels(session.transport.gate).inc(parked ? 1 : -1);
    // the admin console follows sessions going offline and coming back (lib/admin-api.ts)
    this.realms.get(session.realmName)?.publishMeta(SESSION_UPDATE, [session.details()]);
  }

  /**
   * Removes every message of a durable queue (gatehouse.admin.queue.purge). MQTT offline
   * queues are read from the store as they are sent, so removing them there is enough;
   * the Router's work queues also drop what they hold in memory for a STOMP queue.
   */
  protected purgeQueue(storeName: string, kind: string, _realm: string, _name: string): Promise<void> {
    // through the mailbox service, which forgets the mailbox's drop count too
    if (isOwnerKind(kind) && storeName.startsWith(`${kind}:`))
      return this.mailboxes.remove({ kind, name: storeName.slice(kind.length + 1) });
    return this.queues.removeQueue(storeName);
  }

  /** Consumers of a STOMP queue (gatehouse.admin.queue.list); the Router's work queues know them. */
  protected queueConsumers(_storeName: string): number {
    return 0;
  }

  /** May one more session join? (config.limits.maxSessions, and not while draining) */
  admit(): RouterError | undefined {
    if (this.state !== 'running' && this.state !== 'new')
      return new RouterError(Errors.systemShutdown, 'router is shutting down');
    if (this.sessionCount - this.parked.size >= this.config.limits.maxSessions) {
      return new RouterError(Errors.limitExceeded, `at most ${this.config.limits.maxSessions} sessions`);
    }
    return undefined;
  }

  /**
   * Re-reads the certificate, key and CA files of every TLS listener (the daemon does
   * this on SIGHUP). A listener whose files are bad keeps its old certificate; its name
   * is in `failed` and the error is logged.
   */
  reloadCertificates(): { reloaded: string[]; failed: string[] } {
    return this.certificates.reload(this.log);
  }

  /** Sessions ever joined and still live, across realms (parked ones included). */
  get sessions(): number {
    return this.sessionCount;
  }

  /** Joined sessions whose client is not connected (see setParked). */
  get parkedSessions(): number {
    return this.parked.size;
  }

  findSession(id: number): Session | undefined {
    for (const r of this.realms.values()) {
      const s = r.sessions.get(id);
      if (s) return s;
    }
    return undefined;
  }

  private readonly reloadHooks: (() => number)[] = [];

  /** Runs `fn` after each reload() (services outside the realms re-check what sessions hold; returns how many ended). */
  protected onReload(fn: () => number): void {
    this.reloadHooks.push(fn);
  }

  /**
   * Calls `fn` for every realm there is and every realm created later (the cluster
   * follows each realm's subscriptions).
   */
  onRealm(fn: (realm: Realm) => void): void {
    this.realmHooks.add(fn);
    for (const realm of this.realms.values()) fn(realm);
  }

  /**
   * A realm's store is loaded (a JetStream mirror caught up), or start() fails saying so:
   * a store that never answers must not leave the router starting for ever.
   */
  private async loaded(realm: string, ready: Promise<void>): Promise<void> {
    const limitMs = Math.max(15_000, this.config.store.nats.timeoutMs * 3);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new RouterError(Errors.unavailable, `the store of realm ${realm} did not load within ${limitMs} ms`));
      }, limitMs);
    });
    try {
      await Promise.race([ready, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** RPC across the cluster's nodes, on the cluster's connection (lib/cluster/rpc/). */
  private async startClusterRpc(nc: NatsConnection, prefix: string, options: ClusterConfig['rpc']): Promise<ClusterRpc> {
    const rpc = new (clusterRpcModule().ClusterRpc)({
      nc,
      node: this.node,
      prefix,
      router: this,
      log: this.log.child({ component: 'cluster-rpc' }),
      metrics: this.metrics,
      ...options,
    });
    await rpc.start();
    return rpc;
  }

  /** An existing realm (never creates one). */
  findRealm(name: string): Realm | undefined {
    return this.realms.get(name);
  }

  private readonly closeHooks: (() => void)[] = [];

  /** Runs `fn` when the router closes (gates stop their timers). */
  protected onClose(fn: () => void): void {
    this.closeHooks.push(fn);
  }

  protected addListener(l: Listener): Listener {
    this.listeners.add(l);
    return l;
  }

  /**
   * The health report. A node cut off from its cluster still says ok: it serves its own
   * clients (README "Cluster"); `cluster.state` tells, for whoever routes by it. A link
   * that is down does not make it unhealthy either.
   */
  health(): {
    status: 'ok' | 'draining';
    uptimeSeconds: number;
    sessions: number;
    realms: string[];
    cluster?: ClusterHealth;
    links?: ReturnType<LinkManager['health']>;
  } {
    const report: ReturnType<RouterCore['health']> = {
      status: this.state === 'running' || this.state === 'new' ? 'ok' : 'draining',
      uptimeSeconds: Math.round((this.clock.now() - this.startedAt) / 1000),
      sessions: this.sessionCount,
      realms: this.realmNames(),
      ...(this.cluster ? { cluster: this.cluster.health() } : {}),
    };
    // a link that is down does not make this router unhealthy: it serves its clients
    if (this.links.size > 0) report.links = this.links.health();
    return report;
  }

  /** Stops accepting, says goodbye to every session, and releases resources. */
  async close(): Promise<void> {
    if (this.state === 'closed' || this.state === 'draining') return;
    this.state = 'draining';
    // GOODBYE first (admit() refuses newcomers while draining), then the listeners
    // wait for those sessions to close before they cut off what is left.
    const bye = new RouterError(Errors.systemShutdown, 'router is shutting down');
    for (const r of this.realms.values()) r.closeAll(bye);
    await Promise.all([...this.listeners].map((l) => l.close().catch(() => undefined)));
    this.listeners.clear();
    this.clock.clearTimeout(this.expiryTimer);
    this.mailboxes.close();
    for (const fn of this.closeHooks) fn();
    await this.links.close();
    // after the sessions' goodbyes (their testaments went out), before the store closes
    await this.cluster?.stop().catch((err: unknown) => {
      this.log.warn({ err }, 'leaving the cluster failed');
    });
    this.requests?.close();
    this.state = 'closed';
    if (this.starting) {
      // closing hooks of gates may still write their state: they ran above, the commits
      // of this turn are flushed by close()
      await this.aggregates?.close();
      await this.queues.close();
      await this.store.close();
      await this.jetstream?.close();
    }
    this.log.info('router closed');
  }
}
