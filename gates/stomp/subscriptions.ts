import type { BrokerEvent, Subscription } from '../../lib/broker';
import type { DurableName } from '../../lib/durable-subscriptions';
import { canonicalToStompTopic } from '../../lib/notation';
import type { AckMode, Consumer, QueueMessage } from '../../lib/work-queues';
import type { StompConnection } from './connection';
import { outboundMessage, outboundOfEvent } from './payload';

/** One SUBSCRIBE of a connection. */
export interface StompSubscription {
  /** the SUBSCRIBE `id` (STOMP 1.0 without one: the destination) */
  readonly id: string;
  /** the destination as the client wrote it */
  readonly destination: string;
  readonly ack: AckMode;
  /** MESSAGE `subscription` header; STOMP 1.0 subscriptions without an id have none */
  readonly header: string | undefined;
  /** topic subscriptions: the core subscription joined */
  readonly core?: Subscription;
  /** queue, temp-queue and durable topic subscriptions: the work-queue consumer */
  readonly consumer?: Consumer;
  /** durable topic subscriptions: the subscription's name */
  readonly durable?: DurableName;
}

/**
 * A connection's subscriptions by id, and the topic ones by core subscription: the
 * broker keeps one core subscription per session and pattern, so two SUBSCRIBEs to one
 * destination share it and each gets its own MESSAGE.
 */
export class SubscriptionTable {
  private readonly byId = new Map<string, StompSubscription>();
  private readonly byCore = new Map<number, StompSubscription[]>();

  get(id: string): StompSubscription | undefined {
    return this.byId.get(id);
  }

  add(sub: StompSubscription): void {
    this.byId.set(sub.id, sub);
    if (sub.core) {
      const list = this.byCore.get(sub.core.id);
      if (list) list.push(sub);
      else this.byCore.set(sub.core.id, [sub]);
    }
  }

  /** Removes it; returns whether its core subscription has no other user on this connection. */
  remove(sub: StompSubscription): boolean {
    this.byId.delete(sub.id);
    if (!sub.core) return false;
    const rest = (this.byCore.get(sub.core.id) ?? []).filter((s) => s !== sub);
    if (rest.length > 0) {
      this.byCore.set(sub.core.id, rest);
      return false;
    }
    this.byCore.delete(sub.core.id);
    return true;
  }

  /** STOMP 1.0 UNSUBSCRIBE by destination. */
  byDestination(destination: string): StompSubscription | undefined {
    for (const s of this.byId.values()) if (s.destination === destination) return s;
    return undefined;
  }

  onCore(coreId: number): readonly StompSubscription[] {
    return this.byCore.get(coreId) ?? NONE;
  }

  all(): IterableIterator<StompSubscription> {
    return this.byId.values();
  }

  get size(): number {
    return this.byId.size;
  }

  clear(): void {
    this.byId.clear();
    this.byCore.clear();
  }
}

const NONE: readonly StompSubscription[] = Object.freeze([]);

/**
 * An event to one topic subscription: MESSAGE with destination, message-id,
 * subscription, `ack` (STOMP 1.2, when the ack mode is not auto) and the message headers.
 * Acknowledging it changes nothing: a topic subscription has no queue to take it from.
 */
export function deliverEvent(conn: StompConnection, sub: StompSubscription, event: BrokerEvent): void {
  const expiresAt = event.headers?.expiresAt;
  if (expiresAt !== undefined && expiresAt <= conn.ctx.clock.now()) {
    conn.ctx.drop('expired');
    return;
  }
  const out = outboundOfEvent(event);
  const id = conn.nextTopicMessageId();
  const headers: [string, string][] = [
    // a WAMP topic STOMP cannot name (lib/notation.ts): the destination subscribed to
    ['destination', canonicalToStompTopic(event.topic) ?? sub.destination],
    ['message-id', id],
  ];
  if (sub.header !== undefined) headers.push(['subscription', sub.header]);
  if (sub.ack !== 'auto' && conn.version === '1.2') headers.push(['ack', id]); // STOMP 1.2 §MESSAGE
  for (const h of out.headers) headers.push(h);
  conn.sendFrame('MESSAGE', headers, out.body);
}

/** message-id (and STOMP 1.2 `ack`) of a queued message: its store seq, stable across redeliveries. */
export function queueMessageId(seq: number): string {
  return `q-${seq}`;
}

/** The seq a queue message's id names, or undefined for another id. */
export function seqOfMessageId(id: string): number | undefined {
  if (!id.startsWith('q-')) return undefined;
  const n = Number(id.slice(2));
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/** Whether an id is one of our topic message ids (`t-<n>`). */
export function isTopicMessageId(id: string): boolean {
  return /^t-\d+$/.test(id);
}

/**
 * A message from a work queue to its consumer. The destination is the topic it was
 * published to for a durable topic subscription, else the subscription's own
 * (`/queue/...`, `/temp-queue/...`); `redelivered: true` when it may have been
 * delivered before.
 */
export function deliverQueued(
  conn: StompConnection,
  sub: Pick<StompSubscription, 'destination' | 'header' | 'ack'>,
  msg: QueueMessage,
): void {
  const out = outboundMessage(msg.payload, msg.headers);
  const id = queueMessageId(msg.seq);
  const headers: [string, string][] = [
    ['destination', (msg.topic !== '' ? canonicalToStompTopic(msg.topic) : null) ?? sub.destination],
    ['message-id', id],
  ];
  if (sub.header !== undefined) headers.push(['subscription', sub.header]);
  if (sub.ack !== 'auto' && conn.version === '1.2') headers.push(['ack', id]);
  if (msg.redelivered) headers.push(['redelivered', 'true']);
  for (const h of out.headers) headers.push(h);
  conn.sendFrame('MESSAGE', headers, out.body);
}
