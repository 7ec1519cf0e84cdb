/**
 * Durable work queues, protocol-neutral (STOMP `/queue/...` today; any gate may use them).
 * This module alone owns queue consumer state: who consumes which queue, what was handed
 * out to whom and not yet acknowledged, what waits to be handed out again. The messages
 * themselves live in the router's durable mailboxes (lib/mailbox/, one per queue, on the
 * queue store) from the moment they are sent until they are acknowledged; the mailbox's
 * policy bounds them (lib/mailbox/policies.ts: a full queue refuses a SEND, a full
 * durable subscription drops the new event, counted).
 *
 * THE MODEL
 *
 * - A queue is addressed by realm, kind and name (QueueAddress). Kinds: `queue` (named by
 *   clients, created on first use), `durable` (a durable topic subscription's queue, fed
 *   by lib/durable-subscriptions.ts), `temp` (a temporary queue owned by one session and
 *   deleted with it; left-overs of a previous process are purged at start).
 *   The queue is the mailbox owner `{kind, name: <realm length>:<realm>:<name>}`
 *   (lib/mailbox/owner.ts), store name `<kind>:<realm length>:<realm>:<name>`.
 * - send() appends to the mailbox (a full named queue refuses the message with
 *   `limit_exceeded`) and returns its `committed` promise: an ack to the sender (a STOMP
 *   RECEIPT) waits for it. Messages wait while no consumer exists.
 * - Consumers compete: each message goes to one consumer, round-robin among those with
 *   capacity. Capacity: the consumer's connection is writable (its outbox is not
 *   throttled) and, unless it acknowledges automatically, it holds fewer unacknowledged
 *   messages than its prefetch (0 = unlimited).
 * - Ack modes: `auto` removes a message from the store when it is handed out;
 *   `client` acknowledges cumulatively (this message and every earlier unacknowledged one
 *   of that consumer); `client-individual` one message. NACK follows the same rule (a
 *   `client` NACK is cumulative too) and puts the messages back, marked redelivered, in
 *   front of the queue. A consumer that goes away (cancel, session lost) puts back every
 *   message it had not acknowledged, marked redelivered.
 * - Order: messages are handed out in the order they were sent, messages put back first.
 * - Restart: everything not acknowledged is still in the store and is handed out again.
 *   Which messages may already have been delivered is known from a per-queue record (kind
 *   `work-queue`): the highest seq handed out in an acknowledging mode, written with the
 *   group commit of the turn it changed in. Messages at or below it come back with
 *   `redelivered` set ("may have been delivered before", as RabbitMQ and JMS mean it).
 * - Cluster: with `shared` (a cluster's JetStream, lib/work-queues/jetstream.ts), named
 *   queues (kind `queue`) and durable subscriptions' queues (kind `durable`, their
 *   bindings shared too: lib/durable-subscriptions.ts) live there instead, shared by
 *   every node; their consumers are the same Consumer objects, their state is the
 *   backend's. Temporary queues stay here: their owner is one session on this node.
 */
import { randomBytes } from 'node:crypto';
import { Errors, RouterError } from './errors';
import type { MessageHeaders } from './headers';
import type { Logger } from './log';
import { isPlainObject, type Payload } from './payload';
import type { Session } from './session';
import { inRealm, mailboxName, type Mailboxes, type Owner, type StoredMessage } from './mailbox';
import type { QueueSize, QueueStore } from './store';
import { ConsumerRing, nextInTurn } from './work-queues/consumer-ring';

export type AckMode = 'auto' | 'client' | 'client-individual';
export type QueueKind = 'queue' | 'durable' | 'temp';

export interface QueueAddress {
  readonly realm: string;
  readonly kind: QueueKind;
  readonly name: string;
}

/** A message handed to a consumer. */
export interface QueueMessage {
  readonly address: QueueAddress;
  /** unique in the router's store, stable across redeliveries and restarts */
  readonly seq: number;
  /** the canonical topic it was published to (durable subscriptions); '' when sent to the queue */
  readonly topic: string;
  readonly payload: Payload;
  readonly headers: MessageHeaders | undefined;
  /** it may have been delivered before (put back by NACK, a lost consumer, a restart) */
  readonly redelivered: boolean;
  /** epoch ms */
  readonly enqueuedAt: number;
}

/** The gate's side of a consumer. */
export interface ConsumerSink {
  /** can the consumer's connection take a message now (its outbox is not throttled) */
  writable(): boolean;
  /** writes the message out; must not throw */
  deliver(message: QueueMessage, consumer: Consumer): void;
}

export interface ConsumeOptions {
  ack: AckMode;
  /** unacknowledged messages at most (ignored in auto mode); 0 = unlimited */
  prefetch: number;
}

export interface SendResult {
  /** false: dropped (a temporary queue whose owner is gone) */
  readonly accepted: boolean;
  readonly seq: number;
  /** resolves once durable; what an ack to the sender waits for */
  readonly committed: Promise<void>;
}

/** One consumer of one queue. Created by WorkQueues.consume(), ended by cancel(). */
export class Consumer {
  /** seqs handed out and not yet settled, in delivery order */
  readonly unacked = new Set<number>();
  cancelled = false;

  constructor(
    readonly session: Session,
    readonly address: QueueAddress,
    readonly ack: AckMode,
    readonly prefetch: number,
    readonly sink: ConsumerSink,
  ) {}

  /** may it be handed one more message now */
  get hasCapacity(): boolean {
    if (this.cancelled) return false;
    if (this.ack !== 'auto' && this.prefetch > 0 && this.unacked.size >= this.prefetch) return false;
    return this.sink.writable();
  }
}

/** One queue's consumer state; exists while the queue has consumers. */
class WorkQueue {
  readonly consumers: Consumer[] = [];
  /** round-robin position */
  next = 0;
  /** highest seq handed out from the store in this process */
  cursor = 0;
  /** messages read from the store and not yet handed out (all seq > cursor) */
  ahead: StoredMessage[] = [];
  aheadAt = 0;
  /** highest seq read into `ahead` */
  readSeq = 0;
  /** seqs put back (NACK, lost consumer), ascending: handed out before anything new */
  requeued: number[] = [];
  /** seqs at or below this may have been delivered before this queue object existed */
  readonly restoredCursor: number;
  /** the `work-queue` record's value: highest seq handed out in an acknowledging mode */
  savedCursor: number;
  pumping = false;

  constructor(
    readonly address: QueueAddress,
    readonly owner: Owner,
    readonly storeName: string,
    savedCursor: number,
  ) {
    this.restoredCursor = savedCursor;
    this.savedCursor = savedCursor;
  }
}

const CURSOR_KIND = 'work-queue';
/** messages read from the store at a time, for a queue with a consumer able to take them */
const READ_AHEAD = 16;
const RESOLVED: Promise<void> = Promise.resolve();

/** What send() takes. */
export interface QueueInput {
  /** the topic it was published to (a durable subscription's feed) */
  topic?: string;
  payload: Payload;
  headers?: MessageHeaders;
  /**
   * unique per message (a durable subscription's feed: binding and publication): a
   * shared backend stores a message sent twice with one id once
   */
  id?: string;
}

/**
 * Where named queues and durable subscriptions' queues live when a cluster shares them
 * (lib/work-queues/jetstream.ts): the same operations as the local queues, for
 * addresses of kind `queue` and `durable`.
 */
export interface SharedQueues {
  send(address: QueueAddress, message: QueueInput): SendResult;
  consume(session: Session, address: QueueAddress, options: ConsumeOptions, sink: ConsumerSink, storeName: string): Consumer;
  /** is this consumer one of the backend's */
  owns(consumer: Consumer): boolean;
  cancel(consumer: Consumer): void;
  settle(session: Session, seq: number, outcome: 'ack' | 'nack', consumer?: Consumer): Promise<void> | undefined;
  resume(session: Session): void;
  removeSession(session: Session): void;
  consumers(): Consumer[];
  consumerCount(storeName: string): number;
  purge(address: QueueAddress): Promise<void>;
  /** purge() and the queue's consumer state too: the queue is gone for good */
  remove(address: QueueAddress): Promise<void>;
  close(): void;
}

export interface WorkQueuesOptions {
  /** the messages */
  mailboxes: Mailboxes;
  /** the consumers' cursor records */
  store: QueueStore;
  log: Logger;
  /** counts a message that was not queued (metrics) */
  drop?: (reason: string) => void;
  /** named queues shared by a cluster; absent: every queue is this node's */
  shared?: SharedQueues;
}

/** The router's work queues (every realm's). */
export class WorkQueues {
  private readonly mailboxes: Mailboxes;
  private readonly store: QueueStore;
  private readonly log: Logger;
  private readonly drop: (reason: string) => void;
  private readonly shared: SharedQueues | undefined;
  /** queues with at least one consumer, by store name */
  private readonly active = new Map<string, WorkQueue>();
  /** seq handed out -> the consumer holding it */
  private readonly inflight = new Map<number, Consumer>();
  /** each live consumer's queue */
  private readonly ring = new ConsumerRing<WorkQueue>();
  /** temporary queues: store name -> owner */
  private readonly temps = new Map<string, Session>();
  private readonly tempsBySession = new Map<Session, Set<QueueAddress>>();
  /** per session, the unguessable prefix of its temporary queues' names */
  private readonly tempTokens = new WeakMap<Session, string>();
  /** queues whose saved cursor changed in this turn */
  private readonly dirty = new Set<WorkQueue>();
  private flushScheduled = false;
  private closed = false;

  constructor(options: WorkQueuesOptions) {
    this.mailboxes = options.mailboxes;
    this.store = options.store;
    this.log = options.log;
    this.drop = options.drop ?? (() => undefined);
    this.shared = options.shared;
    this.purgeTemporary();
  }

  /** The queue's name in the store. */
  static storeName(a: QueueAddress): string {
    return mailboxName(WorkQueues.owner(a));
  }

  /** The queue as the owner of its mailbox. */
  static owner(a: QueueAddress): Owner {
    return { kind: a.kind, name: inRealm(a.realm, a.name) };
  }

  // ----- sending -----

  /**
   * Appends a message to a queue. Throws `limit_exceeded` when a named or temporary queue
   * is full or the message can never fit (a durable subscription's mailbox drops it,
   * counted: accepted false), `invalid_argument` when the payload cannot be stored.
   */
  send(address: QueueAddress, message: QueueInput): SendResult {
    if (this.isShared(address) && this.shared) return this.shared.send(address, message);
    const owner = WorkQueues.owner(address);
    const name = mailboxName(owner);
    if (address.kind === 'temp' && !this.temps.has(name)) {
      // a reply to a requester that has gone: nobody can ever read it
      this.drop('temp_queue_gone');
      return { accepted: false, seq: 0, committed: RESOLVED };
    }
    const headers = message.headers && storableHeaders(message.headers);
    const r = this.mailboxes.append(owner, {
      topic: message.topic ?? '',
      payload: message.payload,
      expiresAt: message.headers?.expiresAt,
      attrs: headers ? { h: headers } : undefined,
    });
    const q = this.active.get(name);
    if (q && r.accepted) this.pump(q);
    return { accepted: r.accepted, seq: r.seq, committed: r.committed };
  }

  size(address: QueueAddress): QueueSize {
    return this.mailboxes.size(WorkQueues.owner(address));
  }

  // ----- consumers -----

  consume(session: Session, address: QueueAddress, options: ConsumeOptions, sink: ConsumerSink): Consumer {
    if (this.closed) throw new RouterError(Errors.systemShutdown, 'router is shutting down');
    const owner = WorkQueues.owner(address);
    const name = mailboxName(owner);
    if (this.isShared(address) && this.shared) return this.shared.consume(session, address, options, sink, name);
    let q = this.active.get(name);
    if (!q) {
      q = new WorkQueue(address, owner, name, savedCursorOf(this.store.getRecord(CURSOR_KIND, name)));
      this.active.set(name, q);
    }
    const consumer = new Consumer(session, address, options.ack, Math.max(0, options.prefetch), sink);
    this.ring.join(q, consumer);
    // after the caller has confirmed the subscription: its first MESSAGE must not come first
    const queue = q;
    queueMicrotask(() => {
      if (!consumer.cancelled) this.pump(queue);
    });
    return consumer;
  }

  /** How many consumers the queue (by store name) has now. */
  consumerCount(storeName: string): number {
    return (this.active.get(storeName)?.consumers.length ?? 0) + (this.shared?.consumerCount(storeName) ?? 0);
  }

  /** Every live consumer (a copy: the caller may cancel while it goes through them). */
  consumers(): Consumer[] {
    const local = this.ring.all();
    return this.shared ? [...local, ...this.shared.consumers()] : local;
  }

  /** Ends a consumer: what it had not acknowledged goes back to the queue, redelivered. */
  cancel(consumer: Consumer): void {
    if (this.shared?.owns(consumer)) {
      this.shared.cancel(consumer);
      return;
    }
    if (consumer.cancelled) return;
    const q = this.ring.leave(consumer);
    if (!q) return;
    consumer.cancelled = true;
    const back = [...consumer.unacked];
    consumer.unacked.clear();
    for (const seq of back) this.inflight.delete(seq);
    this.requeue(q, back);
    if (q.consumers.length === 0) this.release(q);
    else this.pump(q);
  }

  /**
   * ACK or NACK of a message handed to one of `session`'s consumers (`consumer`, when the
   * protocol names it). Undefined when no such delivery is outstanding (already settled,
   * put back, or never handed out); else resolves once the acknowledgement is durable.
   */
  settle(session: Session, seq: number, outcome: 'ack' | 'nack', consumer?: Consumer): Promise<void> | undefined {
    const c = this.inflight.get(seq);
    // not one of the local deliveries: a shared queue's (its ids are apart from local seqs)
    if (!c && this.shared) return this.shared.settle(session, seq, outcome, consumer);
    if (!c || c.session !== session || (consumer !== undefined && c !== consumer)) return undefined;
    const q = this.ring.queueOfConsumer(c);
    if (!q) return undefined;
    const seqs = c.ack === 'client' ? upTo(c.unacked, seq) : [seq];
    for (const s of seqs) {
      c.unacked.delete(s);
      this.inflight.delete(s);
    }
    let committed: Promise<void> = RESOLVED;
    if (outcome === 'ack') {
      for (const s of seqs) committed = this.mailboxes.ack(q.owner, s) ?? committed;
    } else {
      this.requeue(q, seqs);
    }
    this.pump(q);
    return committed;
  }

  /** The session's connection can take messages again (its outbox drained). */
  resume(session: Session): void {
    this.shared?.resume(session);
    for (const c of this.ring.ofSession(session)) {
      const q = this.ring.queueOfConsumer(c);
      if (q) this.pump(q);
    }
  }

  /** The session is gone: its consumers are cancelled and its temporary queues deleted. */
  removeSession(session: Session): void {
    this.shared?.removeSession(session);
    for (const c of this.ring.ofSession(session)) this.cancel(c);
    const temps = this.tempsBySession.get(session);
    if (!temps) return;
    this.tempsBySession.delete(session);
    for (const address of temps) {
      this.temps.delete(WorkQueues.storeName(address));
      void this.deleteQueue(address);
    }
  }

  // ----- temporary queues -----

  /**
   * The temporary queue `name` of `session` (created on first use). Anyone who knows its
   * full name may send to it while the session lives; it is deleted, messages and all,
   * when the session goes. The full name is `<token>.<name>`, the token 128 random bits
   * drawn per session: not the session id, which is public (meta API, CONNECTED), so
   * only those the owner gave a reply-to can reach the queue.
   */
  temporary(session: Session, realm: string, name: string): QueueAddress {
    let token = this.tempTokens.get(session);
    if (token === undefined) this.tempTokens.set(session, (token = randomBytes(16).toString('hex')));
    const address: QueueAddress = { realm, kind: 'temp', name: `${token}.${name}` };
    const storeName = WorkQueues.storeName(address);
    if (!this.temps.has(storeName)) {
      this.temps.set(storeName, session);
      let own = this.tempsBySession.get(session);
      if (!own) this.tempsBySession.set(session, (own = new Set()));
      own.add(address);
    }
    return address;
  }

  /** Whether a temporary queue exists (its owner is live). */
  isLive(address: QueueAddress): boolean {
    return address.kind !== 'temp' || this.temps.has(WorkQueues.storeName(address));
  }

  // ----- whole queues -----

  /**
   * Deletes every message of a queue (a durable subscription removed, a temporary queue's
   * owner gone). Its consumers stay, on an empty queue; acks of what they held are void.
   */
  deleteQueue(address: QueueAddress): Promise<void> {
    if (this.isShared(address) && this.shared) return this.shared.purge(address);
    const name = WorkQueues.storeName(address);
    const q = this.active.get(name);
    if (q) {
      for (const c of q.consumers) {
        for (const seq of c.unacked) this.inflight.delete(seq);
        c.unacked.clear();
      }
      q.ahead = [];
      q.aheadAt = 0;
      q.requeued = [];
      q.readSeq = q.cursor;
      this.dirty.delete(q);
    }
    if (this.store.getRecord(CURSOR_KIND, name) !== undefined) void this.store.deleteRecord(CURSOR_KIND, name);
    return this.mailboxes.remove(WorkQueues.owner(address));
  }

  /** deleteQueue(), and for good: a shared queue's consumer state goes too (unbind). */
  removeQueue(address: QueueAddress): Promise<void> {
    if (this.isShared(address) && this.shared) return this.shared.remove(address);
    return this.deleteQueue(address);
  }

  /** Does the queue live in the cluster's backend rather than in this node's store. */
  isShared(address: QueueAddress): boolean {
    return this.shared !== undefined && address.kind !== 'temp';
  }

  /** Router shutdown: the saved cursors are written with the last commit. */
  close(): void {
    this.closed = true;
    this.shared?.close();
    this.flush();
  }

  // ----- internals -----

  /** Hands out messages while a consumer has capacity and a message is ready. */
  private pump(q: WorkQueue): void {
    // re-entry (a delivery that ends its connection, which cancels a consumer) is
    // covered by the loop already running
    if (q.pumping || this.closed) return;
    q.pumping = true;
    try {
      for (;;) {
        const turn = q.next;
        const consumer = nextInTurn(q);
        if (!consumer) return;
        const next = this.nextMessage(q);
        if (!next) {
          // nothing to hand out: the picked consumer keeps its turn for the next message,
          // or every message would go to the consumer after it (no round-robin at all)
          q.next = turn;
          return;
        }
        this.handOut(q, consumer, next.message, next.redelivered);
      }
    } finally {
      q.pumping = false;
    }
  }

  private nextMessage(q: WorkQueue): { message: StoredMessage; redelivered: boolean } | undefined {
    while (q.requeued.length > 0) {
      const seq = q.requeued.shift() as number;
      const m = this.mailboxes.get(q.owner, seq);
      if (m) return { message: m, redelivered: true };
    }
    const now = Date.now();
    for (;;) {
      if (q.aheadAt >= q.ahead.length) {
        q.ahead = this.mailboxes.peek(q.owner, READ_AHEAD, q.readSeq);
        q.aheadAt = 0;
        const last = q.ahead[q.ahead.length - 1];
        if (!last) return undefined;
        q.readSeq = last.seq;
      }
      const m = q.ahead[q.aheadAt++] as StoredMessage;
      q.cursor = m.seq;
      if (m.expiresAt !== undefined && m.expiresAt <= now) {
        // expired since it was read ahead: dropped and counted by its mailbox
        this.mailboxes.expired(q.owner, m.seq);
        continue;
      }
      return { message: m, redelivered: m.seq <= q.restoredCursor };
    }
  }

  private handOut(q: WorkQueue, c: Consumer, m: StoredMessage, redelivered: boolean): void {
    if (c.ack === 'auto') {
      void this.mailboxes.ack(q.owner, m.seq);
    } else {
      c.unacked.add(m.seq);
      this.inflight.set(m.seq, c);
      if (m.seq > q.savedCursor) {
        q.savedCursor = m.seq;
        this.markDirty(q);
      }
    }
    const message: QueueMessage = {
      address: q.address,
      seq: m.seq,
      topic: m.topic,
      payload: m.payload,
      headers: headersOf(m.attrs),
      redelivered,
      enqueuedAt: m.enqueuedAt,
    };
    try {
      c.sink.deliver(message, c);
    } catch (err) {
      this.log.error({ err, queue: q.storeName }, 'work queue delivery failed');
    }
  }

  /** Puts seqs back in front of the queue, in seq order. */
  private requeue(q: WorkQueue, seqs: readonly number[]): void {
    if (seqs.length === 0) return;
    q.requeued.push(...seqs);
    q.requeued.sort((a, b) => a - b);
  }

  /** The last consumer left: the queue's state goes; its messages stay in the store. */
  private release(q: WorkQueue): void {
    this.active.delete(q.storeName);
    this.flush();
    if (this.mailboxes.size(q.owner).messages === 0 && this.store.getRecord(CURSOR_KIND, q.storeName) !== undefined) {
      void this.store.deleteRecord(CURSOR_KIND, q.storeName);
    }
  }

  private markDirty(q: WorkQueue): void {
    this.dirty.add(q);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // once per turn: a burst of deliveries writes one record per queue
    queueMicrotask(() => {
      this.flush();
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    for (const q of this.dirty) void this.store.putRecord(CURSOR_KIND, q.storeName, q.savedCursor);
    this.dirty.clear();
  }

  /** Temporary queues of a previous process: their owners are gone. */
  private purgeTemporary(): void {
    for (const owner of this.mailboxes.owners('temp')) void this.mailboxes.remove(owner);
    for (const [id] of this.store.records(CURSOR_KIND, 'temp:')) void this.store.deleteRecord(CURSOR_KIND, id);
  }
}

/** The unacknowledged seqs delivered up to and including `seq` (cumulative ack). */
function upTo(unacked: ReadonlySet<number>, seq: number): number[] {
  const out: number[] = [];
  for (const s of unacked) {
    out.push(s);
    if (s === seq) break;
  }
  return out;
}

function savedCursorOf(v: unknown): number {
  return typeof v === 'number' && Number.isSafeInteger(v) ? v : 0;
}

/** Headers as the store keeps them: no undefined members (MessagePack has no undefined). */
function storableHeaders(h: MessageHeaders): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = v;
  return Object.keys(out).length > 0 ? out : undefined;
}

function headersOf(attrs: Readonly<Record<string, unknown>>): MessageHeaders | undefined {
  const h = attrs['h'];
  return isPlainObject(h) ? h : undefined;
}
