import type { BrokerEvent, Subscription } from '../../lib/broker';
import type { Timer } from '../../lib/clock';
import type { MessageHeaders } from '../../lib/headers';
import type { OutboundFlow } from '../../lib/outbox';
import type { Payload } from '../../lib/payload';
import type { Realm } from '../../lib/realm';
import type { Session } from '../../lib/session';
import type { TopicPattern } from '../../lib/topic';
import { inRealm, type Mailboxes, type Owner } from '../../lib/mailbox';
import type { MqttGateContext } from './context';
import { MemoryMailbox, StoreMailbox, type Mailbox, type Pending } from './mailbox';
import { ClusterMailbox } from './cluster-mailbox';

export type QoS = 0 | 1 | 2;

/** One MQTT subscription of a session, with its options (MQTT 5 §3.8.3.1). */
export interface SubscriptionEntry {
  /** the filter as the client wrote it, `$share/...` included: the key of UNSUBSCRIBE */
  readonly filter: string;
  readonly pattern: TopicPattern;
  readonly share: string | undefined;
  readonly qos: QoS;
  /** no local: not the session's own publications */
  readonly nl: boolean;
  /** retain as published */
  readonly rap: boolean;
  /** retain handling 0/1/2 */
  readonly rh: number;
  /** MQTT 5 subscription identifier */
  readonly id: number | undefined;
  /** the core subscription it joined */
  readonly sub: Subscription;
  /** [MQTT-4.7.2-1]: a filter starting with a wildcard never matches `$` topics */
  readonly wildcardFirst: boolean;
}

/** A message on its way to the client. */
export interface Outbound {
  /** canonical topic */
  readonly topic: string;
  readonly payload: Payload;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly headers: MessageHeaders | undefined;
  readonly subscriptionIds: readonly number[];
  /** body size, for the queue's byte bound */
  readonly size: number;
  /** the publication's node (undefined: this one) and id: cluster-unique together (cluster-mailbox.ts) */
  readonly origin?: string | undefined;
  readonly publicationId?: number;
}

interface Inflight {
  pending: Pending;
  /** publish: waiting for PUBACK/PUBREC; released: PUBREL sent, waiting for PUBCOMP */
  state: 'publish' | 'released';
}

/** What the session needs from its current network connection. */
export interface MqttLink {
  readonly version: 3 | 4 | 5;
  /** the client's receive maximum (MQTT 5), 65535 before v5 */
  readonly receiveMaximum: number;
  /** the connection's outbound path, for paced writes */
  readonly flow: OutboundFlow;
  sendPublish(msg: Outbound, packetId: number, dup: boolean): void;
  sendPubrel(packetId: number): void;
  /** ends the connection with a reason (MQTT 5 DISCONNECT, else just closes) */
  disconnect(reasonCode: number, reason: string): void;
}

/**
 * An MQTT session: it outlives its connections while its expiry interval runs
 * (MQTT 5 §4.1, MQTT 3.1.1 clean session 0). It holds the subscriptions, the messages
 * in flight to the client with their packet identifiers, the queue of messages the
 * client has not been able to take yet (offline, or its window full), and the packet
 * identifiers of inbound QoS 2 publications still awaiting PUBREL.
 */
export class MqttSession {
  link: MqttLink | undefined;
  // The collections are made on first use: an idle session holds none (issue 15, footprint).
  private _subscriptions: Map<string, SubscriptionEntry> | undefined;
  get subscriptions(): Map<string, SubscriptionEntry> {
    return (this._subscriptions ??= new Map());
  }
  /** core subscription id -> the entries that joined it (a plain and a shared one, say) */
  private _byCoreSub: Map<number, SubscriptionEntry[]> | undefined;
  private get byCoreSub(): Map<number, SubscriptionEntry[]> {
    return (this._byCoreSub ??= new Map());
  }
  private _inflight: Map<number, Inflight> | undefined;
  private get inflight(): Map<number, Inflight> {
    return (this._inflight ??= new Map());
  }
  /** QoS 1/2 messages not yet acknowledged: memory for clean sessions, the store otherwise */
  private mailbox: Mailbox;
  /** the session as a mailbox owner (lib/mailbox/owner.ts), made once */
  readonly owner: Owner;
  /** [MQTT-4.3.3-*] inbound QoS 2: PUBREC sent, PUBREL not yet received */
  private _inboundQos2: Set<number> | undefined;
  get inboundQos2(): Set<number> {
    return (this._inboundQos2 ??= new Set());
  }
  private nextPacketId = 1;
  /** seconds the session outlives its connection; 0: it ends with it */
  expirySeconds = 0;
  expiryTimer: Timer | undefined;
  ended = false;

  constructor(
    readonly clientId: string,
    readonly realm: Realm,
    readonly core: Session,
    private readonly ctx: MqttGateContext,
  ) {
    core.singleDelivery = (event, subs) => {
      this.deliver(event, subs);
    };
    core.flow = new SessionFlow(this);
    this.owner = { kind: 'mqtt', name: inRealm(realm.name, clientId) };
    this.mailbox = new MemoryMailbox(ctx.router.mailboxes, this.owner);
  }

  /**
   * From now on the session's messages wait in the core's mailbox service (it outlives
   * its connection). What waited in memory moves there; messages
   * already restored after a restart come back in flight with their packet identifiers.
   */
  makeDurable(mailboxes: Mailboxes): void {
    if (this.durable) return;
    const memory = this.mailbox;
    // in a cluster: the cluster's stream (cluster-mailbox.ts), else the node's store
    const durable = this.ctx.sharedMailbox?.(this) ?? new StoreMailbox(mailboxes, this.owner);
    for (let p = memory.take(); p; p = memory.take()) durable.push(p.msg);
    this.mailbox = durable;
    this.recoverInflight();
  }

  /** Messages the mailbox holds as in flight (restored, or handed over) are in flight again. */
  recoverInflight(): void {
    for (const r of this.mailbox.recoverInflight()) {
      if (!this.inflight.has(r.packetId))
        this.inflight.set(r.packetId, { pending: r.pending, state: r.released ? 'released' : 'publish' });
    }
  }

  get durable(): boolean {
    return !(this.mailbox instanceof MemoryMailbox);
  }

  /** The session's queue on the cluster's stream, when it has one. */
  get clusterMailbox(): ClusterMailbox | undefined {
    return this.mailbox instanceof ClusterMailbox ? this.mailbox : undefined;
  }

  // ----- subscriptions -----

  addSubscription(e: SubscriptionEntry): void {
    const old = this.subscriptions.get(e.filter);
    if (old) this.forget(old);
    this.subscriptions.set(e.filter, e);
    const list = this.byCoreSub.get(e.sub.id);
    if (list) list.push(e);
    else this.byCoreSub.set(e.sub.id, [e]);
  }

  removeSubscription(filter: string): SubscriptionEntry | undefined {
    const e = this.subscriptions.get(filter);
    if (!e) return undefined;
    this.subscriptions.delete(filter);
    this.forget(e);
    return e;
  }

  private forget(e: SubscriptionEntry): void {
    const list = this.byCoreSub.get(e.sub.id);
    if (!list) return;
    const rest = list.filter((x) => x !== e);
    if (rest.length > 0) this.byCoreSub.set(e.sub.id, rest);
    else this.byCoreSub.delete(e.sub.id);
  }

  // ----- delivery -----

  /**
   * The broker's one call per event for this session: one copy, at the highest QoS of
   * the matching subscriptions, with all their identifiers.
   */
  deliver(event: BrokerEvent, subs: readonly Subscription[]): void {
    let granted = -1;
    let rap = false;
    let ids: number[] | undefined;
    // [MQTT-4.7.2-1] leading wildcards skip `$` topics; the router's own WAMP meta
    // events (wamp.session.on_join...) are treated alike: MQTT `#` is not for them
    const dollar = event.topic.charCodeAt(0) === 36 || (event.publisher === undefined && event.topic.startsWith('wamp.'));
    for (const sub of subs) {
      const entries = this.byCoreSub.get(sub.id);
      if (!entries) continue;
      for (const e of entries) {
        if (e.nl && event.publisher === this.core) continue; // [MQTT-3.8.3-3]
        if (dollar && e.wildcardFirst) continue; // [MQTT-4.7.2-1]
        if (e.qos > granted) granted = e.qos;
        if (e.rap) rap = true;
        if (e.id !== undefined) (ids ??= []).push(e.id);
      }
    }
    if (granted < 0) return;
    const qos = Math.min(granted, event.qos) as QoS;
    // retained replay always carries the flag; live events only with retain-as-published [MQTT-3.3.1-12/13]
    const retain = event.retained === true || (rap && event.retainFlag);
    this.offer({
      topic: event.topic,
      payload: event.payload,
      qos,
      retain,
      headers: event.headers,
      subscriptionIds: ids ?? NO_IDS,
      size: sizeOf(event.payload),
      origin: event.origin,
      publicationId: event.publicationId,
    });
  }

  /** Sends now if the window allows, else queues (QoS 0 is never queued offline). */
  offer(msg: Outbound): void {
    if (this.ended) return;
    const link = this.link;
    if (msg.qos === 0) {
      if (link) link.sendPublish(msg, 0, false);
      else this.ctx.drop('offline_qos0');
      return;
    }
    // a full queue drops its oldest, counted by the mailbox (queue_full)
    this.mailbox.push(msg);
    if (link) this.pump();
  }

  private window(link: MqttLink): number {
    return Math.min(link.receiveMaximum, this.ctx.config.mqtt.maxInflight);
  }

  /** Fills the window from the mailbox. */
  pump(): void {
    // a message dropped while being sent (expired, too large) completes at once and
    // would pump again from inside this loop: the loop itself picks up the free slot
    if (this.pumping) return;
    const link = this.link;
    if (!link) return;
    this.pumping = true;
    try {
      while (this.inflight.size < this.window(link)) {
        // the message first: an identifier taken for an empty queue would be skipped
        // (the window is at most 65535, so below it an identifier is always free)
        const pending = this.mailbox.take();
        if (!pending) return;
        const id = this.takePacketId();
        const f: Inflight = { pending, state: 'publish' };
        this.inflight.set(id, f);
        const durable = this.mailbox.sent(pending, id);
        if (!durable) {
          link.sendPublish(pending.msg, id, pending.dup === true);
          continue;
        }
        // durable: the packet id is stored before the client can see it; commits resolve
        // in order, so the PUBLISHes keep theirs
        durable.then(
          () => {
            if (this.link === link && this.inflight.get(id) === f) link.sendPublish(pending.msg, id, false);
          },
          () => {
            // the store refused the write: the message goes out on the next resumption
          },
        );
      }
    } finally {
      this.pumping = false;
    }
  }

  private pumping = false;

  /** paced writers waiting for the window to move (SessionFlow) */
  private progressWaiters: (() => void)[] = [];

  /** Nothing queued behind the in-flight window: a paced writer may offer more. */
  get windowFree(): boolean {
    return this.mailbox.length === 0;
  }

  /** Calls `cb` once the window has moved (an acknowledgement) or the connection is gone. */
  onProgress(cb: () => void): void {
    this.progressWaiters.push(cb);
  }

  private progressed(): void {
    if (this.progressWaiters.length === 0) return;
    const waiters = this.progressWaiters;
    this.progressWaiters = [];
    for (const cb of waiters) cb();
  }

  /** Packet identifiers: 1..65535, wrapping, never one still in flight ([MQTT-2.2.1-3]). */
  private takePacketId(): number {
    for (let i = 0; i < 65535; i++) {
      const id = this.nextPacketId;
      this.nextPacketId = id >= 65535 ? 1 : id + 1;
      if (!this.inflight.has(id)) return id;
    }
    return 0;
  }

  // ----- acknowledgements from the client -----

  /** PUBACK (QoS 1) or PUBCOMP (QoS 2): the message is done. */
  completed(packetId: number): boolean {
    const f = this.inflight.get(packetId);
    if (!f) return false;
    this.inflight.delete(packetId);
    this.mailbox.done(f.pending);
    this.pump();
    this.progressed();
    return true;
  }

  /** PUBREC: answer PUBREL, keep the id until PUBCOMP. A PUBREC with an error code ends it. */
  received(packetId: number, reasonCode: number): boolean {
    const f = this.inflight.get(packetId);
    if (!f) return false;
    if (reasonCode >= 0x80) return this.completed(packetId);
    f.state = 'released';
    this.mailbox.released(f.pending, packetId);
    this.link?.sendPubrel(packetId);
    return true;
  }

  // ----- connection lifecycle -----

  /**
   * A connection took over the session. Messages in flight are sent again, with DUP and
   * their original packet identifiers ([MQTT-4.4.0-1]), then the queue.
   */
  attach(link: MqttLink): void {
    this.ctx.clock.clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    this.link = link;
    for (const [id, f] of this.inflight) {
      if (f.state === 'released') link.sendPubrel(id);
      else link.sendPublish(f.pending.msg, id, true);
    }
    this.pump();
  }

  detach(): void {
    this.link = undefined;
    this.progressed();
  }

  get inflightCount(): number {
    return this.inflight.size;
  }

  get queuedCount(): number {
    return this.mailbox.length;
  }

  /** The session ended: its messages go too. */
  discard(): void {
    this.inflight.clear();
    this.mailbox.clear();
  }
}

/**
 * The session's outbound path for paced writes (the retained replay, lib/retained-replay.ts):
 * the connection's socket, and for QoS 1/2 the in-flight window, so a replay waits for
 * acknowledgements instead of overrunning the session's queue (whose oldest would drop).
 */
class SessionFlow implements OutboundFlow {
  constructor(private readonly session: MqttSession) {}

  get open(): boolean {
    return this.session.link?.flow.open === true;
  }

  ready(): boolean {
    const link = this.session.link;
    return link !== undefined && this.session.windowFree && link.flow.ready();
  }

  wait(cb: () => void): void {
    const link = this.session.link;
    if (link === undefined) cb();
    else if (!this.session.windowFree) this.session.onProgress(cb);
    else link.flow.wait(cb);
  }

  get holdBytes(): number {
    return this.session.link?.flow.holdBytes ?? 0;
  }

  overflow(): void {
    this.session.link?.flow.overflow();
  }
}

const NO_IDS: readonly number[] = Object.freeze([]);

function sizeOf(p: Payload): number {
  if (p.bytes) return p.bytes.length;
  return 64; // structured payloads: a nominal size, their encoding is decided on send
}
