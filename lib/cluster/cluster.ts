/**
 * Joining a cluster (issue 12): one reconnecting NATS connection per node, through
 * which this node's publications reach every other node with interest, and theirs
 * reach this node's subscribers. Nodes find each other through NATS only: nothing is
 * configured per peer.
 *
 * - Out: a publication tap (lib/publication-taps.ts) sends every publication routed
 *   here that did not itself come from the cluster (local clients, links) on its event
 *   subject (lib/cluster/subjects.ts). NATS routes it only to nodes subscribed to a
 *   matching filter, so traffic follows interest. One connection keeps each publisher's
 *   order (NATS delivers a connection's messages in order).
 * - In: the broker's subscription lifecycle (BrokerObserver onCreate / onDelete) keeps
 *   the interest table (lib/cluster/interest.ts): one NATS subscription per subject
 *   filter per node. A message is routed with Realm.deliverRemote, which delivers it
 *   without authorizing, storing or applying it again.
 * - MQTT shared subscriptions (`$share/g/...`) are shared cluster-wide through NATS
 *   queue groups (lib/cluster/shares.ts): one member of a group gets a message, on
 *   whichever node.
 * - No echo: the connection is made with `noEcho` (NATS does not hand a connection its
 *   own messages back), and a message whose origin is this node is dropped anyway.
 * - NATS unreachable: local pub/sub goes on untouched; what would have gone out is
 *   dropped and counted (core NATS is at most once, like WAMP events), and /health and
 *   gatehouse_cluster_connected tell.
 */
import { connect, type ConnectionOptions, type Msg, type NatsConnection } from '@nats-io/transport-node';
import type { BrokerEvent, BrokerObserver, ShareGroup, ShareRoute, Subscription } from '../broker';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import type { PublicationTaps } from '../publication-taps';
import type { Realm } from '../realm';
import { closeNats } from '../nats-close';
import { InterestTable, type Interest } from './interest';
import { ClusterShares } from './shares';
import { eventSubject, interestSubject, realmSubjectPrefix, shareQueue } from './subjects';
import { decodeEvent, encodeEvent } from './wire';

/** What the cluster needs of the router (RouterCore implements it). */
export interface ClusterHost {
  readonly node: string;
  readonly taps: PublicationTaps;
  readonly log: Logger;
  readonly metrics: Metrics;
  findRealm(name: string): Realm | undefined;
  /** calls `fn` for every realm, now and as realms are created */
  onRealm(fn: (realm: Realm) => void): void;
}

export interface ClusterOptions {
  /** NATS server URLs: any one is enough, the client learns the others */
  nats: readonly string[];
  /** first token of every subject: clusters sharing one NATS system keep apart */
  prefix: string;
  /** the parts that need the connection (ClusterRpc), started once it is up */
  attach?: (nc: NatsConnection) => Promise<ClusterPart>;
}

/** connecting: no server reached yet; reconnecting: the connection was lost */
export type ClusterState = 'connecting' | 'connected' | 'reconnecting' | 'closed';

export interface ClusterHealth {
  state: ClusterState;
  node: string;
  /** the NATS server this node is connected to, when connected */
  server: string | undefined;
  /** NATS subscriptions held for local subscribers */
  interest: number;
  /** NATS queue subscriptions held for local members of shared groups */
  shares: number;
}

/** A piece of the cluster that needs the connection (ClusterRpc, lib/cluster/rpc/). */
export interface ClusterPart {
  stop(): void | Promise<void>;
}

/**
 * Meta events about a session or subscription of this node, which no other node
 * publishes: sent to the nodes with subscribers like any event (WAMP advanced, session
 * and subscription meta events). Not wamp.registration.*: every node's dealer holds the
 * callees of the whole cluster (lib/cluster/rpc/remote-callees.ts) and publishes those
 * itself, so a forwarded copy would arrive twice. Not gatehouse.admin.*: each node's
 * admin console is its own.
 */
const CLUSTER_META = new Set([
  'wamp.session.on_join',
  'wamp.session.on_leave',
  'wamp.subscription.on_create',
  'wamp.subscription.on_subscribe',
  'wamp.subscription.on_unsubscribe',
  'wamp.subscription.on_delete',
]);

/** reconnect attempts per server: forever, every RECONNECT_WAIT_MS (nats.js backs off with jitter) */
const RECONNECT_WAIT_MS = 250;
/** a server silent for PING_INTERVAL_MS * MAX_PINGS_OUT is given up for another (a hung, not closed, server) */
const PING_INTERVAL_MS = 2_000;
const MAX_PINGS_OUT = 2;
/** topics whose subject is kept per realm (cleared, not evicted, when full: cheap and bounded) */
const SUBJECT_CACHE_SIZE = 10_000;
/** no server answered the first connection: try again after this long */
const FIRST_CONNECT_RETRY_MS = 1_000;

export class Cluster {
  private nc: NatsConnection | undefined;
  private state: ClusterState = 'connecting';
  private readonly interest = new InterestTable();
  private readonly shares: ClusterShares;
  private readonly realmPrefixes = new Map<string, string>();
  /** per realm, topic -> event subject: building one splits and escapes the topic */
  private readonly subjects = new Map<string, Map<string, string>>();
  private removeTap: (() => void) | undefined;
  private readonly connected: Promise<void>;
  private markConnected!: () => void;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private unreachableLogged = false;
  private readonly parts: ClusterPart[] = [];
  /** parts to start once the connection is up (use()) */
  private readonly waiting: ((nc: NatsConnection) => Promise<ClusterPart>)[] = [];
  private readonly log: Logger;

  constructor(
    private readonly host: ClusterHost,
    private readonly options: ClusterOptions,
  ) {
    this.log = host.log.child({ component: 'cluster', node: host.node });
    this.shares = new ClusterShares(host.metrics, this.log, (name) => host.findRealm(name));
    this.connected = new Promise((resolve) => (this.markConnected = resolve));
  }

  /**
   * Starts joining: taps and interest are in place at once, the connection comes when a
   * server answers (never awaited here: a node whose NATS is down still serves its own
   * clients). `whenConnected()` tells when it is up.
   */
  start(): void {
    this.host.metrics.clusterConnected.set(0);
    this.removeTap = this.host.taps.add({
      tapped: (realm, event) => {
        this.forward(realm, event);
      },
    });
    this.host.onRealm((realm) => {
      this.watch(realm);
    });
    this.attempt();
  }

  /**
   * One attempt at a first connection; until one succeeds, another every
   * FIRST_CONNECT_RETRY_MS. Not nats.js' waitOnFirstConnect: that cannot be called off,
   * and a router closed before NATS ever answered must not keep trying.
   */
  private attempt(): void {
    if (this.stopped) return;
    connect(this.connectOptions('', true)).then(
      (nc) => {
        this.joined(nc);
      },
      (err: unknown) => {
        if (this.stopped) return;
        if (!this.unreachableLogged)
          this.log.warn({ err, servers: this.options.nats }, 'no NATS server answers yet: local routing only, still trying');
        this.unreachableLogged = true;
        this.retryTimer = setTimeout(() => {
          this.attempt();
        }, FIRST_CONNECT_RETRY_MS);
        this.retryTimer.unref();
      },
    );
  }

  /** The options of a connection of this node; `suffix` tells them apart in NATS' monitoring. */
  private connectOptions(suffix: string, noEcho: boolean): ConnectionOptions {
    return {
      servers: [...this.options.nats],
      name: `gatehouse-${this.host.node}${suffix}`,
      noEcho,
      maxReconnectAttempts: -1,
      reconnectTimeWait: RECONNECT_WAIT_MS,
      pingInterval: PING_INTERVAL_MS,
      maxPingOut: MAX_PINGS_OUT,
    };
  }

  /**
   * Another part that needs the connection (the shared work queues, lib/work-queues/
   * jetstream.ts): started once the connection is up (at once when it is), stopped
   * before the connection closes.
   */
  use(attach: (nc: NatsConnection) => Promise<ClusterPart>): void {
    if (this.stopped) return;
    if (this.nc) this.startPart(this.nc, attach);
    else this.waiting.push(attach);
  }

  private startPart(nc: NatsConnection, attach: (nc: NatsConnection) => Promise<ClusterPart>): void {
    attach(nc).then(
      (part) => {
        if (this.stopped) void part.stop();
        else this.parts.push(part);
      },
      (err: unknown) => {
        this.log.error({ err }, 'a cluster part did not start');
      },
    );
  }

  /** Resolves once the NATS connection is up (tests, the bench). */
  whenConnected(): Promise<void> {
    return this.connected;
  }

  health(): ClusterHealth {
    const server = this.state === 'connected' ? this.nc?.getServer() : undefined;
    return { state: this.state, node: this.host.node, server, interest: this.interest.size, shares: this.shares.size };
  }

  /** Leaves the cluster: the connection is drained (what is in flight goes out) and closed. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.removeTap?.();
    for (const name of this.realmPrefixes.keys()) {
      const realm = this.host.findRealm(name);
      if (realm) {
        realm.metaTap = undefined;
        realm.broker.sharedElsewhere = undefined;
      }
    }
    for (const part of this.parts.splice(0)) await part.stop();
    await this.shares.stop();
    const nc = this.nc;
    this.interest.disconnect();
    this.setState('closed');
    if (nc) await closeNats(nc);
  }

  private joined(nc: NatsConnection): void {
    if (this.stopped) {
      void nc.close();
      return;
    }
    this.nc = nc;
    this.setState('connected');
    this.log.info({ server: nc.getServer() }, 'joined the cluster');
    void this.follow(nc);
    this.interest.connect((interest) => this.subscribe(nc, interest));
    this.shares.start(this.connectOptions('-shares', false));
    for (const part of this.waiting.splice(0)) this.startPart(nc, part);
    const attach = this.options.attach;
    if (attach === undefined) {
      this.markConnected();
      return;
    }
    // RPC across nodes (lib/cluster/rpc/): connected once it has its subscriptions
    attach(nc).then(
      (part) => {
        if (this.stopped) void part.stop();
        else this.parts.push(part);
        this.markConnected();
      },
      (err: unknown) => {
        this.log.error({ err }, 'cluster RPC did not start: calls reach local callees only');
        this.markConnected();
      },
    );
  }

  /** Follows the connection's status: /health and the gauge say whether it is up. */
  private async follow(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      switch (s.type) {
        case 'disconnect':
          this.setState('reconnecting');
          this.log.warn({ server: s.server }, 'lost the cluster connection: local routing only until it is back');
          break;
        case 'reconnect':
          this.setState('connected');
          this.log.info({ server: s.server }, 'cluster connection back');
          break;
        default:
          break;
      }
    }
    if (!this.stopped) this.setState('closed');
  }

  private setState(state: ClusterState): void {
    this.state = state;
    this.host.metrics.clusterConnected.set(state === 'connected' ? 1 : 0);
  }

  private prefixOf(realm: string): string {
    let p = this.realmPrefixes.get(realm);
    if (p === undefined) this.realmPrefixes.set(realm, (p = realmSubjectPrefix(this.options.prefix, realm)));
    return p;
  }

  // ----- out -----

  /** The event subject of a topic, from a bounded cache (hot topics repeat). */
  private subjectOf(realm: string, topic: string): string {
    let cache = this.subjects.get(realm);
    if (!cache) this.subjects.set(realm, (cache = new Map<string, string>()));
    let subject = cache.get(topic);
    if (subject === undefined) {
      // high-cardinality topics (a topic per device) would grow it without bound
      if (cache.size >= SUBJECT_CACHE_SIZE) cache.clear();
      cache.set(topic, (subject = eventSubject(this.prefixOf(realm), topic)));
    }
    return subject;
  }

  private forward(realm: string, event: BrokerEvent): undefined {
    // what came from the cluster is already everywhere it should be
    if (event.via === 'cluster') return undefined;
    // MQTT $SYS/ counters are each node's own [MQTT-4.7.2-1]: every node publishes its own
    if (isNodeOwn(event.topic)) return undefined;
    // its shared groups were left to the queue groups, which will never see it: they get
    // their member here, as on a single node
    if (!this.send(realm, event) && event.sharesDeferred) this.host.findRealm(realm)?.broker.deliverShares(event);
    return undefined;
  }

  /** Publishes one event on NATS; false (counted) when it cannot go out. */
  private send(realm: string, event: BrokerEvent): boolean {
    const nc = this.nc;
    const m = this.host.metrics;
    if (this.state !== 'connected' || nc === undefined) {
      m.clusterDropped.labels('disconnected').inc();
      return false;
    }
    let data: Uint8Array;
    try {
      data = encodeEvent(this.host.node, event);
    } catch (err) {
      m.clusterDropped.labels('unencodable').inc();
      this.log.debug({ err, topic: event.topic }, 'publication not encodable for the cluster');
      return false;
    }
    const max = nc.info?.max_payload;
    if (max !== undefined && data.length > max) {
      // NATS refuses a message over the server's max_payload (1 MB by default)
      m.clusterDropped.labels('too_large').inc();
      return false;
    }
    try {
      nc.publish(this.subjectOf(realm, event.topic), data);
    } catch (err) {
      // closed between the state check and now
      m.clusterDropped.labels('disconnected').inc();
      this.log.debug({ err, topic: event.topic }, 'publication not sent to the cluster');
      return false;
    }
    m.clusterForwarded.inc();
    return true;
  }

  // ----- interest -----

  private watch(realm: Realm): void {
    const name = realm.name;
    const prefix = this.prefixOf(name);
    const filterOf = (sub: Subscription): string => interestSubject(prefix, sub.pattern);
    const broker = realm.broker;
    const prev: BrokerObserver = broker.observer;
    // plain subscribers need the node's plain copy, a shared group its queue subscription
    const audience = (sub: Subscription, share: string | undefined, present: boolean): void => {
      if (share !== undefined) {
        const queue = shareQueue(prefix, share, sub.pattern);
        if (present) this.shares.add(name, filterOf(sub), queue, sub, share);
        else this.shares.remove(queue);
        return;
      }
      if (present) this.interest.add(name, filterOf(sub));
      else this.interest.remove(filterOf(sub));
      this.host.metrics.clusterInterest.set(this.interest.size);
    };
    broker.observer = {
      ...prev,
      onAudience: (sub, share, present) => {
        prev.onAudience?.(sub, share, present);
        audience(sub, share, present);
      },
    };
    for (const sub of broker.all()) {
      if (sub.subscribers.size > 0) audience(sub, undefined, true);
      for (const share of sub.groups.keys()) audience(sub, share, true);
    }
    broker.sharedElsewhere = (event, group) => this.shareRoute(event, group);
    // the realm publishes its meta events past the taps (links never carry them)
    // while NATS is unreachable they are not sent and not counted as dropped: the drop
    // counter tells of clients' publications lost, and what a meta subscriber missed
    // meanwhile the meta API tells once the nodes hear each other again
    realm.metaTap = (event) => {
      if (this.state === 'connected' && CLUSTER_META.has(event.topic)) this.forward(name, event);
    };
  }

  /**
   * Who picks a shared group's member (lib/cluster/shares.ts): a copy from the cluster
   * never reaches the groups here (the queue group's copy does); a publication that goes
   * out to the cluster is left to the queue group once the group's queue subscription is
   * in place; the rest (this node's own $SYS topics, NATS down) is picked here.
   */
  private shareRoute(event: BrokerEvent, group: ShareGroup): ShareRoute {
    if (event.via === 'cluster') return 'skip';
    return this.state === 'connected' && this.shares.picks(group) && !isNodeOwn(event.topic) ? 'queue' : 'here';
  }

  private subscribe(nc: NatsConnection, interest: Interest): () => void {
    const sub = nc.subscribe(interest.filter, {
      callback: (err, msg) => {
        if (err) {
          this.log.warn({ err, filter: interest.filter }, 'cluster subscription failed');
          return;
        }
        this.receive(interest, msg);
      },
    });
    return () => {
      sub.unsubscribe();
    };
  }

  // ----- in -----

  private receive(interest: Interest, msg: Msg): void {
    const m = this.host.metrics;
    // two filters of this node may match one subject: the oldest routes it
    if (!this.interest.isFirst(interest, msg.subject)) {
      m.clusterDropped.labels('duplicate').inc();
      return;
    }
    const remote = decodeEvent(msg.data);
    if (remote === undefined) {
      m.clusterDropped.labels('malformed').inc();
      return;
    }
    if (remote.origin === this.host.node) {
      m.clusterDropped.labels('own').inc();
      return;
    }
    const realm = this.host.findRealm(interest.realm);
    if (!realm) {
      m.clusterDropped.labels('no_realm').inc();
      return;
    }
    try {
      realm.deliverRemote(remote.topic, remote.payload, remote.options, remote.revision);
    } catch (err) {
      // a bug, not the peer's: the message is lost, the connection goes on
      m.clusterDropped.labels('malformed').inc();
      this.log.error({ err, topic: remote.topic }, 'publication from the cluster not routed');
      return;
    }
    m.clusterReceived.inc();
  }
}

/** MQTT $SYS/ topics are each node's own [MQTT-4.7.2-1]: never sent to the cluster. */
function isNodeOwn(topic: string): boolean {
  return topic.startsWith('$SYS.');
}
