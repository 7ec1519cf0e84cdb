/**
 * Durable topic subscriptions, protocol-neutral: a topic pattern bound to a work queue
 * (lib/work-queues.ts) that collects the pattern's events whether or not its client is
 * connected. The client consumes the queue like any other (acks, prefetch, redelivery).
 *
 * - A subscription is named by its owner and a name: the owner is the client's stable
 *   identity, which the gate derives from the authenticated authid (STOMP: durableOwner()
 *   in gates/stomp/handlers/connect.ts, the authid with the CONNECT `client-id` as a
 *   namespace inside it), the name is the protocol's subscription name. Its queue is the
 *   `durable` queue named `<owner length>:<owner>:<name>` in its realm.
 * - The binding is a record (kind `durable-subscription`, id = the queue's store name)
 *   in the durable queue store, so it survives restarts: at start-up every binding gets
 *   its feed back before any client reconnects.
 * - The feed is a core subscription owned by a router-side session (gate `core`, one per
 *   binding, authrole `router`), never by the client's session: events are queued while
 *   the client is away, and a client being connected changes nothing about the feed.
 * - Binding an existing name to another pattern starts the subscription over: the old
 *   messages are deleted (as JMS does when a durable subscriber changes its topic).
 * - unbind() deletes the binding, its feed and its queue.
 *
 * CLUSTER (issue 12; `shared` set, single routers are as above): the bindings live in
 * the cluster's JetStream KV (lib/work-queues/jetstream-bindings.ts) and the queues in
 * its JetStream (lib/work-queues/jetstream.ts), so a client finds its subscription and
 * its messages on any node.
 * - Every node has a feed for every binding it knows (the bucket is watched: a binding
 *   made, rebound or deleted on another node starts, restarts or stops the feed here).
 * - Exactly one node queues each publication: the node it was published on. A feed
 *   ignores events that came from another node over the cluster (`via` 'cluster',
 *   lib/cluster/cluster.ts); that node's own feed queued them. So each publication is
 *   queued once, in its publisher's order, and a node that dies stops only the queueing
 *   of what is published on it (its clients are gone with it).
 * - A queued event carries the id `<binding>.<node>.<publication id>` (Nats-Msg-Id): a
 *   publish JetStream did not confirm and that is retried is stored once.
 */
import { createHash } from 'node:crypto';
import type { BrokerEvent } from './broker';
import type { Logger } from './log';
import { isPlainObject } from './payload';
import type { Realm } from './realm';
import { Session } from './session';
import type { QueueStore } from './store';
import type { MatchPolicy, TopicPattern } from './topic';
import { WorkQueues, type QueueAddress } from './work-queues';

export interface DurableName {
  readonly realm: string;
  /** the client's stable identity ('' = none) */
  readonly owner: string;
  readonly name: string;
}

export interface BindingRecord {
  realm: string;
  owner: string;
  name: string;
  uri: string;
  match: MatchPolicy;
  /** epoch ms */
  createdAt: number;
}

interface Feed {
  readonly session: Session;
  readonly realm: Realm;
  readonly pattern: TopicPattern;
}

/** The bindings as a cluster shares them (lib/work-queues/jetstream-bindings.ts). */
export interface SharedBindings {
  /** this node's id: part of a queued event's id */
  readonly node: string;
  get(id: string): unknown;
  put(id: string, record: BindingRecord): void;
  delete(id: string): void;
  /** told of every change the cluster's copy sees (undefined: deleted) */
  listen(fn: (id: string, record: unknown) => void): void;
}

const KIND = 'durable-subscription';

export interface DurableSubscriptionsOptions {
  queues: WorkQueues;
  store: QueueStore;
  /** the realm a binding lives in (at restore), or undefined when it cannot be opened */
  realm(name: string): Realm | undefined;
  log: Logger;
  /** with a cluster: the bindings it shares (the queues are shared by `queues`) */
  shared?: SharedBindings;
}

export class DurableSubscriptions {
  /** live feeds, by the queue's store name */
  private readonly feeds = new Map<string, Feed>();

  constructor(private readonly options: DurableSubscriptionsOptions) {
    options.shared?.listen((id, record) => {
      this.changed(id, record);
    });
  }

  /** The queue of a durable subscription. */
  static address(d: DurableName): QueueAddress {
    return { realm: d.realm, kind: 'durable', name: `${d.owner.length}:${d.owner}:${d.name}` };
  }

  /** The durable subscription whose queue this is (address() backwards), if it is one. */
  static nameOf(address: QueueAddress): DurableName | undefined {
    if (address.kind !== 'durable') return undefined;
    const colon = address.name.indexOf(':');
    const length = Number(address.name.slice(0, colon));
    if (colon < 1 || !Number.isSafeInteger(length)) return undefined;
    const owner = address.name.slice(colon + 1, colon + 1 + length);
    return { realm: address.realm, owner, name: address.name.slice(colon + 2 + length) };
  }

  /**
   * Creates the subscription, or finds it (same pattern); returns its queue. A new
   * subscription only receives what is published from now on.
   */
  bind(realm: Realm, d: DurableName, pattern: TopicPattern): QueueAddress {
    const address = DurableSubscriptions.address(d);
    const id = WorkQueues.storeName(address);
    const existing = asBinding(this.record(id));
    if (existing && (existing.uri !== pattern.uri || existing.match !== pattern.match)) {
      this.stopFeed(id);
      void this.options.queues.deleteQueue(address).catch((err: unknown) => {
        this.options.log.warn({ err, queue: id }, 'durable subscription rebound: its old messages were not deleted');
      });
    }
    if (!existing || existing.uri !== pattern.uri || existing.match !== pattern.match) {
      const record: BindingRecord = {
        realm: d.realm,
        owner: d.owner,
        name: d.name,
        uri: pattern.uri,
        match: pattern.match,
        createdAt: Date.now(),
      };
      if (this.options.shared) this.options.shared.put(id, record);
      else void this.options.store.putRecord(KIND, id, record);
    }
    if (!this.feeds.has(id)) this.startFeed(realm, id, address, pattern, d.owner);
    return address;
  }

  /** Deletes the subscription and its messages; false when there was none. */
  unbind(d: DurableName): boolean {
    const address = DurableSubscriptions.address(d);
    const id = WorkQueues.storeName(address);
    const existed = this.record(id) !== undefined;
    this.stopFeed(id);
    if (existed) {
      if (this.options.shared) this.options.shared.delete(id);
      else void this.options.store.deleteRecord(KIND, id);
    }
    void this.options.queues.removeQueue(address).catch((err: unknown) => {
      this.options.log.warn({ err, queue: id }, 'durable subscription removed: its messages were not deleted');
    });
    return existed;
  }

  /** Whether a durable subscription of that name exists. */
  has(d: DurableName): boolean {
    return this.record(WorkQueues.storeName(DurableSubscriptions.address(d))) !== undefined;
  }

  /** The pattern a durable subscription is bound to, if it exists. */
  pattern(d: DurableName): TopicPattern | undefined {
    const b = asBinding(this.record(WorkQueues.storeName(DurableSubscriptions.address(d))));
    return b ? patternOf(b) : undefined;
  }

  /**
   * Start-up: every stored binding gets its feed. Returns how many. In a cluster the
   * feeds follow the cluster's bindings as they arrive (changed()); bindings this node's
   * store kept from before it joined a cluster are not moved there (README "Cluster").
   */
  restore(): number {
    if (this.options.shared) {
      let kept = 0;
      for (const _ of this.options.store.records(KIND)) kept++;
      if (kept > 0)
        this.options.log.warn({ subscriptions: kept }, "durable subscriptions of this node's store are not fed in a cluster");
      return 0;
    }
    let n = 0;
    for (const [id, value] of this.options.store.records(KIND)) {
      const b = asBinding(value);
      if (!b) {
        this.options.log.warn({ id }, 'unreadable durable subscription record removed');
        void this.options.store.deleteRecord(KIND, id);
        continue;
      }
      const realm = this.options.realm(b.realm);
      if (!realm) {
        // kept: the realm may be configured again; nothing feeds it meanwhile
        this.options.log.warn(
          { realm: b.realm, owner: b.owner, name: b.name },
          'durable subscription of a realm that cannot be opened',
        );
        continue;
      }
      this.startFeed(realm, id, DurableSubscriptions.address(b), patternOf(b), b.owner);
      n++;
    }
    if (n > 0) this.options.log.info({ subscriptions: n }, 'durable subscriptions restored');
    return n;
  }

  /** A binding the cluster's copy changed (another node, or the echo of this node's write). */
  private changed(id: string, value: unknown): void {
    const b = asBinding(value);
    const feed = this.feeds.get(id);
    if (!b) {
      this.stopFeed(id);
      return;
    }
    const pattern = patternOf(b);
    if (feed?.pattern.key === pattern.key) return;
    this.stopFeed(id);
    const realm = this.options.realm(b.realm);
    // a realm this node does not serve: the nodes that serve it feed it
    if (realm) this.startFeed(realm, id, DurableSubscriptions.address(b), pattern, b.owner);
  }

  private record(id: string): unknown {
    return this.options.shared ? this.options.shared.get(id) : this.options.store.getRecord(KIND, id);
  }

  private startFeed(realm: Realm, id: string, address: QueueAddress, pattern: TopicPattern, owner: string): void {
    const session: Session = new Session(
      { gate: 'core', type: 'durable-subscription', peer: '-' },
      { authid: owner || 'anonymous', authrole: 'router', authmethod: 'router', authprovider: 'gatehouse' },
      {
        // killed (meta API) or router shutdown: the feed stops; the binding stays, and the
        // feed comes back with the next bind() or restart
        close: () => {
          if (this.feeds.get(id)?.session === session) this.feeds.delete(id);
          realm.leave(session);
        },
      },
    );
    realm.join(session);
    // a router session: never waits for authorization (the client's SUBSCRIBE was checked)
    void realm.subscribePattern(session, pattern, this.feedOf(id, address));
    this.feeds.set(id, { session, realm, pattern });
  }

  /** What a feed does with an event of its pattern. */
  private feedOf(id: string, address: QueueAddress): (event: BrokerEvent) => void {
    const shared = this.options.shared;
    if (!shared) {
      return (event) => {
        this.enqueue(address, event);
      };
    }
    // the binding's part of a queued event's id: short, the same on every node
    const tag = createHash('sha256').update(id).digest('base64url').slice(0, 22);
    return (event) => {
      // queued by the node it was published on (see above)
      if (event.via === 'cluster') return;
      this.enqueue(address, event, `${tag}.${shared.node}.${event.publicationId}`);
    };
  }

  private stopFeed(id: string): void {
    const feed = this.feeds.get(id);
    if (!feed) return;
    this.feeds.delete(id);
    feed.realm.leave(feed.session);
  }

  private enqueue(address: QueueAddress, event: BrokerEvent, id?: string): void {
    const expiresAt = event.headers?.expiresAt;
    if (expiresAt !== undefined && expiresAt <= Date.now()) return;
    // a full durable subscription loses the event, counted by its mailbox ('drop-newest',
    // lib/mailbox/policies.ts); the publisher is not told
    this.options.queues.send(address, { topic: event.topic, payload: event.payload, headers: event.headers, id });
  }
}

function patternOf(b: BindingRecord): TopicPattern {
  return { uri: b.uri, match: b.match, key: `${b.match}:${b.uri}` };
}

function asBinding(v: unknown): BindingRecord | undefined {
  if (!isPlainObject(v)) return undefined;
  const r = v as Partial<BindingRecord>;
  if (typeof r.realm !== 'string' || typeof r.owner !== 'string' || typeof r.name !== 'string' || typeof r.uri !== 'string')
    return undefined;
  if (r.match !== 'exact' && r.match !== 'prefix' && r.match !== 'wildcard') return undefined;
  return r as BindingRecord;
}
