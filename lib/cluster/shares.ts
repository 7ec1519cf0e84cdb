/**
 * MQTT shared subscriptions across the cluster (issue 12; MQTT 5 §4.8.2: a message of a
 * shared subscription goes to ONE session of the group). A node with members of group g
 * on pattern p holds a NATS queue subscription on p's subject filter in the queue group
 * of (realm, g, p) (lib/cluster/subjects.ts shareQueue). NATS hands each message to one
 * subscriber of a queue group ("Queue Groups", NATS docs), so one node of those with
 * members gets it and delivers it to one of its members (Broker.publishToGroup); a node
 * that dies loses its subscription with its connection, and NATS stops choosing it.
 *
 * Plain subscribers are not served here: they get the node's plain copy (interest.ts),
 * and the broker leaves groups out of that copy (Broker.sharedElsewhere 'skip'). A local
 * publication's groups are left to the queue group too ('queue'), the origin's own queue
 * subscription included. That needs a connection of its own: the cluster's connection
 * is `noEcho`, and NATS never hands a `noEcho` connection its own messages, queue
 * subscriptions included.
 *
 * Until a group's queue subscription is in place (flushed) or while this connection is
 * down, its node picks the member itself for its local publications, as a single node
 * does ('here'): a member is never left out because the cluster is not ready.
 */
import { connect, type ConnectionOptions, type Msg, type NatsConnection } from '@nats-io/transport-node';
import type { ShareGroup, Subscription } from '../broker';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import type { Realm } from '../realm';
import { closeNats } from '../nats-close';
import { decodeEvent } from './wire';

/** One local group's queue subscription. */
interface ShareInterest {
  readonly realm: string;
  readonly filter: string;
  readonly queue: string;
  /** the subscription's pattern key and the group's name: where Broker.publishToGroup delivers */
  readonly key: string;
  readonly share: string;
  readonly group: ShareGroup;
  /** ends the NATS subscription; undefined while not connected yet */
  close: (() => void) | undefined;
}

/** no server answered the first connection: try again after this long */
const RETRY_MS = 1_000;

export class ClusterShares {
  private nc: NatsConnection | undefined;
  /** set by start(): the connection opens with the first local group */
  private options: ConnectionOptions | undefined;
  private connecting = false;
  private up = false;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly byQueue = new Map<string, ShareInterest>();

  constructor(
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly findRealm: (name: string) => Realm | undefined,
  ) {}

  /** queue subscriptions held (local groups) */
  get size(): number {
    return this.byQueue.size;
  }

  /** Can the cluster pick this group's member now (its queue subscription is in place)? */
  picks(group: ShareGroup): boolean {
    return this.up && group.clustered;
  }

  /**
   * The cluster's own connection is up: this one follows as soon as a local group needs
   * it (a cluster without shared subscriptions holds no second connection).
   */
  start(options: ConnectionOptions): void {
    this.options = options;
    if (this.byQueue.size > 0) this.connect();
  }

  /** Connects and opens every group's subscription. */
  private connect(): void {
    const options = this.options;
    if (this.stopped || this.nc || this.connecting || options === undefined) return;
    this.connecting = true;
    connect({ ...options, noEcho: false }).then(
      (nc) => {
        this.connecting = false;
        if (this.stopped) {
          void nc.close();
          return;
        }
        this.nc = nc;
        this.up = true;
        void this.follow(nc);
        for (const i of this.byQueue.values()) i.close ??= this.open(nc, i);
      },
      (err: unknown) => {
        this.connecting = false;
        if (this.stopped) return;
        this.log.warn({ err }, 'shared subscriptions connection not up yet: shared groups picked per node meanwhile');
        this.retryTimer = setTimeout(() => {
          this.connect();
        }, RETRY_MS);
        this.retryTimer.unref();
      },
    );
  }

  /** The group `share` of `sub` has its first local member: its queue subscription opens. */
  add(realm: string, filter: string, queue: string, sub: Subscription, share: string): void {
    const group = sub.groups.get(share);
    if (!group || this.byQueue.has(queue)) return;
    const i: ShareInterest = { realm, filter, queue, key: sub.pattern.key, share, group, close: undefined };
    this.byQueue.set(queue, i);
    if (this.nc) i.close = this.open(this.nc, i);
    else this.connect();
  }

  /** The group has no local member left: NATS stops choosing this node for it. */
  remove(queue: string): void {
    const i = this.byQueue.get(queue);
    if (!i) return;
    this.byQueue.delete(queue);
    i.group.clustered = false;
    i.close?.();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.up = false;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    // subscriptions end with the connection; a group leaving later has nothing to close
    for (const i of this.byQueue.values()) {
      i.group.clustered = false;
      i.close = undefined;
    }
    const nc = this.nc;
    if (nc) await closeNats(nc);
  }

  private open(nc: NatsConnection, i: ShareInterest): () => void {
    const sub = nc.subscribe(i.filter, {
      queue: i.queue,
      callback: (err, msg) => {
        if (err) {
          this.log.warn({ err, filter: i.filter, queue: i.queue }, 'shared subscription failed');
          return;
        }
        this.receive(i, msg);
      },
    });
    // the server has it once a flush returns: from then on the queue group picks
    nc.flush().then(
      () => {
        if (this.byQueue.get(i.queue) === i) i.group.clustered = true;
      },
      () => undefined,
    );
    return () => {
      sub.unsubscribe();
    };
  }

  /** Follows the connection: while it is down, nodes pick their groups' members themselves. */
  private async follow(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') this.up = false;
      else if (s.type === 'reconnect') this.up = true;
    }
    this.up = false;
  }

  private receive(i: ShareInterest, msg: Msg): void {
    const m = this.metrics;
    const remote = decodeEvent(msg.data);
    if (remote === undefined) {
      m.clusterDropped.labels('malformed').inc();
      return;
    }
    const realm = this.findRealm(i.realm);
    if (!realm) {
      m.clusterDropped.labels('no_realm').inc();
      return;
    }
    let delivered: boolean;
    try {
      delivered = realm.broker.publishToGroup(remote.topic, remote.payload, remote.options, remote.revision, i.key, i.share);
    } catch (err) {
      // a bug, not the peer's: the message is lost, the connection goes on
      m.clusterDropped.labels('malformed').inc();
      this.log.error({ err, topic: remote.topic }, 'publication from the cluster not routed to its shared group');
      return;
    }
    // NATS chose this node, and no member here may take it (the last one just left, an
    // exclude / eligible list or authorization refuses them): the group misses it
    if (!delivered) m.clusterDropped.labels('share_refused').inc();
    else m.clusterReceived.inc();
  }
}
