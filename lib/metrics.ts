/**
 * Prometheus metrics. Each Metrics owns its own Registry rather than prom-client's
 * global one, so several routers can live in one process (tests) without their
 * metric names colliding.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

const PREFIX = 'gatehouse_';

/**
 * Per-gate message and byte counts, as plain numbers: they are bumped for every
 * message, where even a pre-bound prom-client child costs a label hash per call. The
 * Prometheus counters read them when scraped.
 */
export class GateCounters {
  messagesIn = 0;
  messagesOut = 0;
  bytesIn = 0;
  bytesOut = 0;
}

type GateCounterName = keyof GateCounters;

/** Per-realm routing counts, plain numbers for the same reason as GateCounters. */
export class RealmCounters {
  publications = 0;
  deliveries = 0;
}

export type SlowConsumerAction = 'throttled' | 'disconnected';

export class Metrics {
  readonly registry = new Registry();

  /** open sessions */
  readonly sessions: Gauge<'gate' | 'realm'>;
  /** sessions kept for a client that is not connected (MQTT persistent sessions); included in `sessions` */
  readonly offlineSessions: Gauge<'gate'>;
  /** sessions ever opened */
  readonly sessionsTotal: Counter<'gate'>;
  readonly messagesIn: Counter<'gate'>;
  readonly messagesOut: Counter<'gate'>;
  readonly bytesIn: Counter<'gate'>;
  readonly bytesOut: Counter<'gate'>;
  /** messages not delivered, by reason (e.g. slow_consumer, payload_size_exceeded) */
  readonly drops: Counter<'gate' | 'reason'>;
  /** testaments and MQTT wills of a dead node this node claimed and published (lib/store/jetstream/node.ts) */
  readonly remoteTestaments: Counter<'outcome'>;
  /** messages a durable mailbox dropped (lib/mailbox/), by owner kind and reason (queue_full | expired) */
  readonly mailboxDrops: Counter<'kind' | 'reason'>;
  /** errors sent to clients, by catalogue code (lib/errors.ts) */
  readonly errors: Counter<'gate' | 'code'>;
  /** action: throttled | disconnected */
  readonly slowConsumers: Counter<'gate' | 'action'>;
  readonly publications: Counter<'realm'>;
  readonly deliveries: Counter<'realm'>;
  /** outcome: e.g. ok, error, timeout, canceled, no_callee */
  readonly calls: Counter<'realm' | 'outcome'>;
  readonly subscriptions: Gauge<'realm'>;
  /** method: anonymous, ticket, wampcra, ...; reason: lib/auth/outcome.ts */
  readonly authFailures: Counter<'gate' | 'method' | 'reason'>;
  readonly authSuccesses: Counter<'gate' | 'method'>;
  /** logins refused without a check by a failure budget (reason: address, authid; lib/auth/throttle.ts) */
  readonly authThrottled: Counter<'gate' | 'reason'>;
  readonly registrations: Gauge<'realm'>;
  /** actions refused by authorization; action "receive": events filtered at delivery */
  readonly authzDenied: Counter<'gate' | 'action'>;
  /** a configured limit refused or throttled something (limit: max_connections, messages_per_second, ...) */
  readonly limitHits: Counter<'gate' | 'limit'>;
  /** config reloads (SIGHUP) by result: ok, invalid (the file was refused, nothing changed) */
  readonly configReloads: Counter<'result'>;
  /**
   * aggregate tables: publications by outcome (applied, unchanged, rejected, failed) and
   * row changes by op (insert, update, delete), per table
   */
  readonly aggregateEvents: Counter<'table' | 'outcome'>;
  /** connections to the shared HTTP port closed before any gate got them (reason: timeout, unknown, disabled) */
  readonly sniffRefused: Counter<'reason'>;
  /** connections closed over their PROXY protocol header (reason: untrusted, missing, malformed, timeout; lib/proxy-accept.ts) */
  readonly proxyRefused: Counter<'listener' | 'reason'>;
  /** durable requests: outcomes per destination (result, error, expired, lost: retries used up) and retried deliveries (retry) */
  readonly requestOutcomes: Counter<'outcome'>;
  /** the cluster's NATS connection (lib/cluster/): 1 connected, 0 not (yet, or partitioned) */
  readonly clusterConnected: Gauge;
  /** publications sent to the other nodes */
  readonly clusterForwarded: Counter;
  /** publications from other nodes routed here */
  readonly clusterReceived: Counter;
  /** publications not sent or not routed (reason: disconnected, unencodable, too_large, malformed, own, duplicate, no_realm) */
  readonly clusterDropped: Counter<'reason'>;
  /** NATS subscriptions this node holds: its subject filters of interest */
  readonly clusterInterest: Gauge;
  /** MQTT sessions taken over in a cluster: held here already (local), handed over by their holder (remote), from a dead holder (dead) */
  readonly mqttTakeovers: Counter<'kind'>;
  /** MQTT session takeovers or discards that failed (holder silent, lost race): CONNACK server unavailable */
  readonly mqttHandoverFailures: Counter;
  /** links (lib/links/): messages dropped from a link's queue, by reason (full, expired) */
  readonly linkDropped: Counter<'link' | 'reason'>;
  /** messages sent over a link, and those the peer acknowledged (a resend counts again) */
  readonly linkSent: Counter<'link'>;
  readonly linkAcked: Counter<'link'>;
  /** messages that came in over a link and were published locally */
  readonly linkReceived: Counter<'link'>;
  /** publications from elsewhere dropped as already seen (via: link, cluster; lib/links/seen-messages.ts) */
  readonly duplicatesDropped: Counter<'via'>;
  /** messages in a link's queue, and whether the link is up (1) or not (0) */
  readonly linkQueued: Gauge<'link'>;
  readonly linkUp: Gauge<'link'>;

  private readonly gates = new Map<string, GateCounters>();
  private readonly collectors: (() => void)[] = [];
  private readonly realms = new Map<string, RealmCounters>();

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: PREFIX });

    const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> =>
      new Counter({ name: PREFIX + name, help, labelNames, registers });
    const gates = this.gates;
    const gateCounter = (name: string, help: string, field: GateCounterName): Counter<'gate'> =>
      new Counter({
        name: PREFIX + name,
        help,
        labelNames: ['gate'],
        registers,
        collect() {
          this.reset();
          for (const [gate, c] of gates) this.inc({ gate }, c[field]);
        },
      });
    const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]): Gauge<L> =>
      new Gauge({ name: PREFIX + name, help, labelNames, registers });

    this.sessions = gauge('sessions', 'Open sessions', ['gate', 'realm']);
    this.offlineSessions = gauge(
      'offline_sessions',
      'Sessions kept for a client that is not connected (counted in sessions too)',
      ['gate'],
    );
    // Not "sessions_total": in OpenMetrics that name would clash with the gauge above.
    this.sessionsTotal = counter('sessions_opened_total', 'Sessions opened since start', ['gate']);
    this.messagesIn = gateCounter('messages_in_total', 'Messages received from clients', 'messagesIn');
    this.messagesOut = gateCounter('messages_out_total', 'Messages sent to clients', 'messagesOut');
    this.bytesIn = gateCounter('bytes_in_total', 'Bytes received from clients', 'bytesIn');
    this.bytesOut = gateCounter('bytes_out_total', 'Bytes sent to clients', 'bytesOut');
    this.drops = counter('drops_total', 'Messages dropped instead of delivered', ['gate', 'reason']);
    this.remoteTestaments = counter(
      'remote_testaments_total',
      'Testaments and MQTT wills of a node whose lease lapsed, published here',
      ['outcome'],
    );
    this.mailboxDrops = counter('mailbox_dropped_total', 'Messages a durable mailbox dropped (full, expired by age)', [
      'kind',
      'reason',
    ]);
    this.errors = counter('errors_total', 'Errors returned to clients', ['gate', 'code']);
    this.slowConsumers = counter('slow_consumers_total', 'Slow consumers throttled or disconnected', ['gate', 'action']);
    const realms = this.realms;
    const realmCounter = (name: string, help: string, field: keyof RealmCounters): Counter<'realm'> =>
      new Counter({
        name: PREFIX + name,
        help,
        labelNames: ['realm'],
        registers,
        collect() {
          this.reset();
          for (const [realm, c] of realms) this.inc({ realm }, c[field]);
        },
      });
    this.publications = realmCounter('publications_total', 'Publications routed', 'publications');
    this.deliveries = realmCounter('deliveries_total', 'Events delivered to subscribers', 'deliveries');
    this.calls = counter('calls_total', 'Calls routed, by outcome', ['realm', 'outcome']);
    this.authFailures = counter('auth_failures_total', 'Authentication failures', ['gate', 'method', 'reason']);
    this.authSuccesses = counter('auth_successes_total', 'Successful authentications', ['gate', 'method']);
    this.authThrottled = counter('auth_throttled_total', 'Logins refused without a check after too many failures', [
      'gate',
      'reason',
    ]);
    this.subscriptions = gauge('subscriptions', 'Active subscriptions', ['realm']);
    this.registrations = gauge('registrations', 'Active registrations', ['realm']);
    this.authzDenied = counter('authz_denied_total', 'Actions refused by authorization (receive: events withheld at delivery)', [
      'gate',
      'action',
    ]);
    this.limitHits = counter('limit_hits_total', 'Times a configured limit refused, throttled or closed something', [
      'gate',
      'limit',
    ]);
    this.configReloads = counter(
      'config_reloads_total',
      'Config file reloads (SIGHUP) by result: ok, or invalid (nothing changed)',
      ['result'],
    );
    this.aggregateEvents = counter('aggregate_events_total', 'Aggregate tables: publications by outcome and row changes by op', [
      'table',
      'outcome',
    ]);
    this.sniffRefused = counter(
      'sniff_refused_total',
      'Connections to the HTTP port closed because their first bytes named no protocol served there in time',
      ['reason'],
    );
    this.requestOutcomes = counter(
      'request_outcomes_total',
      'Durable requests: outcomes per destination (result, error, expired, lost) and retried deliveries (retry)',
      ['outcome'],
    );
    this.clusterConnected = gauge('cluster_connected', 'Cluster: 1 while the NATS connection is up, else 0', []);
    this.clusterForwarded = counter('cluster_forwarded_total', 'Cluster: publications sent to the other nodes', []);
    this.clusterReceived = counter('cluster_received_total', 'Cluster: publications from other nodes routed here', []);
    this.clusterDropped = counter(
      'cluster_dropped_total',
      'Cluster: publications not sent (disconnected, unencodable, too_large) or not routed (malformed, own, duplicate, no_realm, share_refused)',
      ['reason'],
    );
    this.mqttTakeovers = counter(
      'cluster_mqtt_takeovers_total',
      'Cluster: MQTT sessions taken over by this node, by kind (local, remote, dead, clean)',
      ['kind'],
    );
    this.mqttHandoverFailures = counter(
      'cluster_mqtt_handover_failures_total',
      'Cluster: MQTT session takeovers refused (holder did not answer, another node won)',
      [],
    );
    this.clusterInterest = gauge(
      'cluster_interest_subjects',
      'Cluster: NATS subject filters this node subscribes to for its sessions',
      [],
    );
    this.linkDropped = counter(
      'link_dropped_total',
      'Messages dropped from a link queue unsent, by reason: full (the oldest made room), expired',
      ['link', 'reason'],
    );
    this.linkSent = counter('link_sent_total', 'Messages sent over a link (a resend after a reconnect counts again)', ['link']);
    this.linkAcked = counter(
      'link_acknowledged_total',
      'Messages the peer of a link acknowledged (removed from the link queue)',
      ['link'],
    );
    this.linkReceived = counter('link_received_total', 'Messages that came in over a link and were published locally', ['link']);
    this.duplicatesDropped = counter(
      'duplicates_dropped_total',
      'Publications from another router dropped because their message id was seen already',
      ['via'],
    );
    this.linkQueued = gauge('link_queued', 'Messages in a link queue, not yet acknowledged by the peer', ['link']);
    this.linkUp = gauge('link_up', 'Whether a link is connected to its peer (1) or not (0)', ['link']);
    this.proxyRefused = counter(
      'proxy_refused_total',
      'Connections closed over their PROXY protocol header: from an untrusted address, missing, malformed or late',
      ['listener', 'reason'],
    );
  }

  /** The hot-path counters of one gate (created on first use). */
  forGate(gate: string): GateCounters {
    let bound = this.gates.get(gate);
    if (bound === undefined) {
      bound = new GateCounters();
      this.gates.set(gate, bound);
    }
    return bound;
  }

  /** Every gate's message and byte counts so far (the admin console's rates). */
  gateTotals(): ReadonlyMap<string, GateCounters> {
    return this.gates;
  }

  /** The hot-path counters of one realm (created on first use). */
  forRealm(realm: string): RealmCounters {
    let c = this.realms.get(realm);
    if (c === undefined) {
      c = new RealmCounters();
      this.realms.set(realm, c);
    }
    return c;
  }

  /** Runs `fn` before every scrape, to set gauges that are cheaper to read than to track. */
  addCollector(fn: () => void): void {
    this.collectors.push(fn);
  }

  /** Content-Type of render()'s output. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text exposition of every metric. */
  async render(): Promise<string> {
    for (const fn of this.collectors) fn();
    return this.registry.metrics();
  }
}
