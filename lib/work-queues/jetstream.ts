/**
 * Work queues shared by a cluster (issue 12): the backend lib/work-queues.ts hands
 * `queue`-kind (named queues) and `durable`-kind (durable topic subscriptions' queues,
 * fed by lib/durable-subscriptions.ts) addresses to when `cluster` is configured.
 * Temporary queues stay on the node (their owner is one session on one node).
 *
 * THE MODEL (JetStream does the replication, the acks and the redelivery; nothing here
 * copies a message anywhere itself)
 *
 * - One stream for the cluster's queues, `<prefix>_queues`, on subjects
 *   `<prefix>.q.<realm>.<name>` (each escaped as one token by lib/cluster/subjects.ts),
 *   with work-queue retention: a message is removed once a consumer acknowledged it.
 *   Durable subscriptions' queues: the same in a second stream, `<prefix>_durable` on
 *   `<prefix>.d.<realm>.<name>`, which also bounds each queue (below).
 * - One durable pull consumer per queue (explicit ack, `ack_wait` = cluster.queues.
 *   ackWaitMs), shared by every node: its name is derived from the queue's subject, so
 *   every node opens the same one. JetStream hands each message to one pull request at a
 *   time: that is the round-robin between nodes, and a message some node pulled and
 *   never settled (the node died) is redelivered after ack_wait.
 * - SEND: published to the queue's subject; `committed` resolves on JetStream's publish
 *   ack (the message is stored), so a RECEIPT never acknowledges a message that can
 *   still be lost.
 * - Local consumers of a queue: the node pulls at most what they can take now (their
 *   credit: prefetch minus unacknowledged, or a batch for auto / unlimited ones, none
 *   while their connection is throttled) and hands each message round-robin to one of
 *   them, as lib/work-queues.ts does for a local queue (the Consumer objects are the same).
 *   Pulling only the credit keeps messages off nodes that cannot deliver them.
 * - ACK -> JetStream ack (`client` mode cumulative, as locally), waited for (the RECEIPT
 *   follows it); NACK -> nak (redelivered at once, `redelivered` set from JetStream's
 *   delivery count); a consumer that goes away -> nak of what it held; auto mode acks on
 *   hand-out.
 * - Message ids: CLUSTER_SEQ_BASE + the stream sequence. The stream sequence names the
 *   message on every node and across redeliveries; the base keeps it apart from the seqs
 *   of the node's own store (durable and temporary queues), which never reach 2^52.
 *
 * - A message sent with an id (a durable subscription's feed: binding and publication)
 *   is published with it as Nats-Msg-Id and tried again when its ack does not come:
 *   JetStream stores it once (within the stream's duplicate window, 2 minutes). A retry
 *   may land after a later event of the same publisher (order holds when none is needed).
 * - Bounds of a durable subscription (the local mailbox policy's `drop-newest`,
 *   lib/mailbox/policies.ts): the durable stream holds at most stomp.maxQueueMessages
 *   per subject, and refuses more (discard new per subject, nats-server 2.9): the new
 *   event is dropped and counted (`gatehouse_drops_total{gate="queues",reason=
 *   "queue_full"}`). No per-subject byte bound exists in JetStream: stomp.maxQueueBytes
 *   does not apply there.
 *
 * - Bounds of a named queue: the queue stream holds at most stomp.maxQueueMessages per
 *   subject (discard new per subject, as above); a SEND to a full queue is refused with
 *   limit_exceeded, as a full local queue's SEND is (not a drop: the sender is told).
 *
 * Not here (README "Not shared yet"): queue sizes in the admin API.
 */
import { createHash } from 'node:crypto';
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type ConsumerMessages,
  type Consumer as JsConsumer,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { encodeToken } from '../cluster/subjects';
import { Errors, RouterError } from '../errors';
import type { Logger } from '../log';
import type { Session } from '../session';
import {
  Consumer,
  type ConsumeOptions,
  type ConsumerSink,
  type QueueAddress,
  type QueueInput,
  type QueueMessage,
  type SendResult,
  type SharedQueues,
} from '../work-queues';
import { ConsumerRing, nextInTurn } from './consumer-ring';
import { decodeQueued, encodeQueued } from './jetstream-codec';
import { ensureStream } from '../store/jetstream/streams';

/** added to a stream sequence to make a message id (see above) */
export const CLUSTER_SEQ_BASE = 2 ** 52;
/** messages pulled at most per request (an auto or unlimited consumer's credit) */
const MAX_BATCH = 64;
/** how long one pull request waits for messages (nats.js' minimum) */
const PULL_MS = 1000;
/** after a failed pull (NATS unreachable, consumer missing) the next one waits this long */
const RETRY_MS = 1000;
/** tries of a publish with a message id (timeouts, no responders), nats.js' backoff between */
const PUBLISH_TRIES = 3;
/** how long a SEND waits for a NATS connection before it fails */
const CONNECT_WAIT_MS = 5000;

export interface JetStreamQueuesOptions {
  prefix: string;
  ackWaitMs: number;
  /** copies of each message (the stream's replicas, when it is created) */
  replicas: number;
  /** messages one durable subscription's queue holds at most (stomp.maxQueueMessages) */
  maxDurableMessages: number;
  log: Logger;
  /** counts a message that was not delivered (metrics) */
  drop: (reason: string) => void;
}

/** A message pulled by this node and not yet settled. */
interface Held {
  readonly consumer: Consumer;
  readonly msg: JsMsg;
}

/** One queue with consumers on this node. */
class SharedQueue {
  readonly consumers: Consumer[] = [];
  next = 0;
  /** pulled, not yet handed out */
  ready: JsMsg[] = [];
  /** the pull loop sleeps on it while its consumers have no credit */
  wake: (() => void) | undefined;
  /** the pull request under way */
  pulling: ConsumerMessages | undefined;
  released = false;

  constructor(
    readonly address: QueueAddress,
    readonly storeName: string,
    readonly subject: string,
    readonly durable: string,
    readonly stream: string,
  ) {}
}

interface Connected {
  js: JetStreamClient;
  jsm: JetStreamManager;
}

export class JetStreamQueues implements SharedQueues {
  /** named queues' stream */
  private readonly stream: string;
  /** durable subscriptions' stream */
  private readonly durableStream: string;
  private readonly active = new Map<string, SharedQueue>();
  private readonly ring = new ConsumerRing<SharedQueue>();
  /** every pull loop still running (a released queue's ends within one pull) */
  private readonly loops = new Set<Promise<void>>();
  /** message id -> what holds it */
  private readonly inflight = new Map<number, Held>();
  private connected: Connected | undefined;
  private readonly whenConnected: Promise<Connected>;
  private markConnected!: (c: Connected) => void;
  private closed = false;

  constructor(private readonly options: JetStreamQueuesOptions) {
    this.stream = `${options.prefix}_queues`;
    this.durableStream = `${options.prefix}_durable`;
    this.whenConnected = new Promise((resolve) => (this.markConnected = resolve));
  }

  /** The cluster's connection is up: the stream is made sure of, then queues work. */
  async attach(nc: NatsConnection): Promise<{ stop(): Promise<void> }> {
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    // every queue (named: a SEND to a full one is refused, below) and every durable
    // subscription holds at most maxDurableMessages; a failed update of that bound leaves
    // the old one: logged, the queues work on
    const max = this.options.maxDurableMessages;
    const bounded = async (name: string, subjects: string, what: string): Promise<void> => {
      await ensureStream(
        jsm,
        {
          name,
          subjects: [subjects],
          retention: RetentionPolicy.Workqueue,
          storage: StorageType.File,
          num_replicas: this.options.replicas,
          max_msgs_per_subject: max,
          discard: DiscardPolicy.New,
          discard_new_per_subject: true,
        },
        (err) => {
          this.options.log.warn({ err, stream: name, max }, `cluster queues: the per-${what} bound was not changed`);
        },
      );
    };
    await bounded(this.stream, `${this.options.prefix}.q.>`, 'queue');
    await bounded(this.durableStream, `${this.options.prefix}.d.>`, 'subscription');
    this.connected = { js, jsm };
    this.markConnected(this.connected);
    return { stop: () => this.stop() };
  }

  // ----- sending -----

  send(address: QueueAddress, message: QueueInput): SendResult {
    if (this.closed) throw new RouterError(Errors.systemShutdown, 'router is shutting down');
    const data = encodeQueued(message.payload, message.headers, Date.now(), message.topic);
    const subject = subjectOf(this.options.prefix, address);
    // with an id, a publish whose ack did not come is asked again: stored once anyway
    const options = message.id === undefined ? undefined : { msgID: message.id, retries: PUBLISH_TRIES };
    const committed = this.connection().then(async ({ js }) => {
      try {
        await js.publish(subject, data, options);
      } catch (err) {
        if (address.kind === 'durable') {
          // nobody waits for a durable subscription's event: lost, counted. A full
          // queue: drop-newest, as the local mailbox of a durable subscription (see above)
          this.options.drop(isSubjectFull(err) ? 'queue_full' : 'unavailable');
          return;
        }
        // a full queue: refused as a full local queue is (lib/store/sqlite-queue-store.ts)
        if (isSubjectFull(err)) throw new RouterError(Errors.limitExceeded, `queue ${address.name} is full`);
        throw new RouterError(Errors.unavailable, `the cluster did not store the message: ${errorText(err)}`);
      }
    });
    committed.catch(() => undefined);
    return { accepted: true, seq: 0, committed };
  }

  // ----- consumers -----

  consume(session: Session, address: QueueAddress, options: ConsumeOptions, sink: ConsumerSink, storeName: string): Consumer {
    if (this.closed) throw new RouterError(Errors.systemShutdown, 'router is shutting down');
    let q = this.active.get(storeName);
    if (!q) {
      const subject = subjectOf(this.options.prefix, address);
      q = new SharedQueue(address, storeName, subject, durableName(subject), this.streamOf(address));
      this.active.set(storeName, q);
      const loop = this.run(q);
      this.loops.add(loop);
      void loop.finally(() => this.loops.delete(loop));
    }
    const consumer = new Consumer(session, address, options.ack, Math.max(0, options.prefetch), sink);
    this.ring.join(q, consumer);
    // after the caller has confirmed the subscription: its first MESSAGE must not come first
    const queue = q;
    queueMicrotask(() => {
      if (consumer.cancelled) return;
      this.pump(queue);
      this.kick(queue);
    });
    return consumer;
  }

  owns(consumer: Consumer): boolean {
    return this.ring.queueOfConsumer(consumer) !== undefined;
  }

  consumers(): Consumer[] {
    return this.ring.all();
  }

  consumerCount(storeName: string): number {
    return this.active.get(storeName)?.consumers.length ?? 0;
  }

  cancel(consumer: Consumer): void {
    if (consumer.cancelled) return;
    const q = this.ring.leave(consumer);
    if (!q) return;
    consumer.cancelled = true;
    // back to the queue, for any node: JetStream redelivers a nak'ed message at once
    for (const id of consumer.unacked) {
      const held = this.inflight.get(id);
      this.inflight.delete(id);
      if (held?.consumer === consumer)
        settleQuietly(() => {
          held.msg.nak();
        });
    }
    consumer.unacked.clear();
    if (q.consumers.length === 0) this.release(q);
    else this.pump(q);
  }

  settle(session: Session, seq: number, outcome: 'ack' | 'nack', consumer?: Consumer): Promise<void> | undefined {
    const held = this.inflight.get(seq);
    const c = held?.consumer;
    if (!c || c.session !== session || (consumer !== undefined && c !== consumer)) return undefined;
    const q = this.ring.queueOfConsumer(c);
    if (!q) return undefined;
    const ids = c.ack === 'client' ? upTo(c.unacked, seq) : [seq];
    const acks: Promise<unknown>[] = [];
    for (const id of ids) {
      c.unacked.delete(id);
      const h = this.inflight.get(id);
      this.inflight.delete(id);
      if (!h) continue;
      if (outcome === 'ack') acks.push(h.msg.ackAck());
      else
        settleQuietly(() => {
          h.msg.nak();
        });
    }
    this.pump(q);
    this.kick(q);
    if (acks.length === 0) return Promise.resolve();
    return Promise.all(acks).then(
      () => undefined,
      (err: unknown) => {
        // the ack did not reach JetStream (or came after ack_wait): the message comes again
        throw new RouterError(Errors.unavailable, `the cluster did not take the acknowledgement: ${errorText(err)}`);
      },
    );
  }

  resume(session: Session): void {
    for (const c of this.ring.ofSession(session)) {
      const q = this.ring.queueOfConsumer(c);
      if (q) {
        this.pump(q);
        this.kick(q);
      }
    }
  }

  removeSession(session: Session): void {
    for (const c of this.ring.ofSession(session)) this.cancel(c);
  }

  /** Deletes every message of a queue (the admin API's purge), on every node. */
  async purge(address: QueueAddress): Promise<void> {
    const { jsm } = await this.connection();
    await jsm.streams.purge(this.streamOf(address), { filter: subjectOf(this.options.prefix, address) });
  }

  /** purge(), and the queue's durable consumer goes (a removed durable subscription). */
  async remove(address: QueueAddress): Promise<void> {
    await this.purge(address);
    const { jsm } = await this.connection();
    try {
      await jsm.consumers.delete(this.streamOf(address), durableName(subjectOf(this.options.prefix, address)));
    } catch {
      // never created (nobody consumed it), or another node deleted it
    }
  }

  /** Router shutdown (before the cluster's connection closes): no more sends or consumers. */
  close(): void {
    this.closed = true;
    for (const q of this.active.values()) this.kick(q);
  }

  /** The cluster stops this part before it drains its connection: every pull loop ends. */
  private async stop(): Promise<void> {
    this.close();
    for (const c of this.consumers()) this.cancel(c);
    await Promise.all([...this.loops]);
  }

  // ----- internals -----

  private connection(): Promise<Connected> {
    if (this.connected) return Promise.resolve(this.connected);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new RouterError(Errors.unavailable, 'the cluster is not connected'));
      }, CONNECT_WAIT_MS);
      timer.unref();
    });
    return Promise.race([this.whenConnected, late]).finally(() => {
      clearTimeout(timer);
    });
  }

  /** What the queue's local consumers can take now. */
  private credit(q: SharedQueue): number {
    let n = 0;
    for (const c of q.consumers) {
      if (c.cancelled || !c.sink.writable()) continue;
      n += c.ack === 'auto' || c.prefetch === 0 ? MAX_BATCH : Math.max(0, c.prefetch - c.unacked.size);
      if (n >= MAX_BATCH) return MAX_BATCH;
    }
    return n;
  }

  /** Pulls for the queue while it has local consumers. */
  private async run(q: SharedQueue): Promise<void> {
    let consumer: JsConsumer | undefined;
    while (!q.released && !this.closed) {
      const want = this.credit(q) - q.ready.length;
      if (want <= 0) {
        await new Promise<void>((resolve) => (q.wake = resolve));
        q.wake = undefined;
        continue;
      }
      let iter: ConsumerMessages | undefined;
      try {
        consumer ??= await this.openConsumer(q);
        iter = await consumer.fetch({ max_messages: want, expires: PULL_MS });
        q.pulling = iter;
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- released during the await
        if (q.released || this.closed) iter.stop();
        for await (const m of iter) {
          // released or closed during the await (microsoft/TypeScript#9998)
          // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
          if (q.released || this.closed) {
            // pulled for consumers that are gone: straight back to the queue
            settleQuietly(() => {
              m.nak();
            });
            continue;
          }
          q.ready.push(m);
          this.pump(q);
        }
      } catch (err) {
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set during the awaits
        if (q.released || this.closed) break;
        this.options.log.warn({ err, queue: q.storeName }, 'cluster queue: pull failed, trying again');
        consumer = undefined;
        await sleep(RETRY_MS);
      } finally {
        q.pulling = undefined;
        iter?.stop();
      }
    }
    for (const m of q.ready.splice(0))
      settleQuietly(() => {
        m.nak();
      });
  }

  /** The queue's durable consumer, created by the first node that needs it. */
  private async openConsumer(q: SharedQueue): Promise<JsConsumer> {
    const { js, jsm } = await this.connection();
    const config = {
      durable_name: q.durable,
      description: q.subject,
      filter_subject: q.subject,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: this.options.ackWaitMs * 1_000_000,
    };
    try {
      await jsm.consumers.add(q.stream, config);
    } catch {
      // exists with another config (ack_wait changed): this node's config applies
      await jsm.consumers.update(q.stream, q.durable, { ack_wait: config.ack_wait, description: q.subject });
    }
    return js.consumers.get(q.stream, q.durable);
  }

  /** Hands pulled messages out while a local consumer has capacity. */
  private pump(q: SharedQueue): void {
    while (q.ready.length > 0) {
      const c = nextInTurn(q);
      if (!c) return;
      this.handOut(q, c, q.ready.shift() as JsMsg);
    }
  }

  private handOut(q: SharedQueue, c: Consumer, m: JsMsg): void {
    const decoded = decodeQueued(m.data);
    if (decoded === undefined) {
      // not ours (anyone on the subjects can write): never deliverable
      settleQuietly(() => {
        m.term();
      });
      this.options.drop('malformed');
      return;
    }
    const expiresAt = decoded.headers?.expiresAt;
    if (expiresAt !== undefined && expiresAt <= Date.now()) {
      settleQuietly(() => {
        m.term();
      });
      this.options.drop('expired');
      this.pump(q);
      return;
    }
    const id = CLUSTER_SEQ_BASE + m.seq;
    if (c.ack === 'auto') {
      settleQuietly(() => {
        m.ack();
      });
    } else {
      // the same message again on this node (its ack_wait passed here): the old delivery is void
      const stale = this.inflight.get(id);
      stale?.consumer.unacked.delete(id);
      c.unacked.add(id);
      this.inflight.set(id, { consumer: c, msg: m });
    }
    const message: QueueMessage = {
      address: q.address,
      seq: id,
      topic: decoded.topic,
      payload: decoded.payload,
      headers: decoded.headers,
      redelivered: m.redelivered,
      enqueuedAt: decoded.enqueuedAt,
    };
    try {
      c.sink.deliver(message, c);
    } catch (err) {
      this.options.log.error({ err, queue: q.storeName }, 'cluster queue delivery failed');
    }
  }

  private streamOf(address: QueueAddress): string {
    return address.kind === 'durable' ? this.durableStream : this.stream;
  }

  private kick(q: SharedQueue): void {
    q.wake?.();
  }

  private release(q: SharedQueue): void {
    q.released = true;
    this.active.delete(q.storeName);
    this.kick(q);
    // the pull request ends now, not when it expires: nats-server drops a waiting pull
    // request whose reply subject lost its interest, so what is published meanwhile is
    // not pulled here for nobody (naked back, it would come out of order and marked
    // redelivered)
    q.pulling?.stop();
  }
}

/**
 * `<prefix>.q.<realm>.<name>` (a durable subscription's: `.d.`): one token each
 * (lib/cluster/subjects.ts escapes '.', '*', '>').
 */
function subjectOf(prefix: string, a: QueueAddress): string {
  return `${prefix}.${a.kind === 'durable' ? 'd' : 'q'}.${encodeToken(a.realm)}.${encodeToken(a.name)}`;
}

/** JetStream refused a message because its subject holds its maximum (discard new per subject). */
function isSubjectFull(err: unknown): boolean {
  return /maximum messages per subject exceeded/i.test(errorText(err));
}

/**
 * The queue's durable consumer name: the same on every node, and valid whatever the
 * subject holds (a consumer name has no '.', '*', '>' or '='-free guarantee of its own).
 */
function durableName(subject: string): string {
  return `q-${createHash('sha256').update(subject).digest('hex').slice(0, 40)}`;
}

function upTo(unacked: ReadonlySet<number>, seq: number): number[] {
  const out: number[] = [];
  for (const s of unacked) {
    out.push(s);
    if (s === seq) break;
  }
  return out;
}

/**
 * An ack, nak or term that needs no answer: a connection closed under it throws, and
 * the message then comes again after ack_wait anyway (never thrown into a gate's close).
 */
function settleQuietly(fn: () => void): void {
  try {
    fn();
  } catch {
    // see above
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
