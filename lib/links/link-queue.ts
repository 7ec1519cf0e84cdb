/**
 * A link's durable queue (README "Links"): what must go to the peer, kept in the store
 * until the peer acknowledged it. A small interface of its own so the engine behind it
 * can change (the queue store today, the core's mailbox service later) without the
 * link noticing.
 */
import { Errors, RouterError } from '../errors';
import type { QueueStore } from '../store/queue-types';
import type { LinkMessage } from './transport';

export interface QueuedLinkMessage {
  /** increasing within the queue: the order messages are sent in */
  readonly seq: number;
  readonly message: LinkMessage;
  /** epoch ms */
  readonly enqueuedAt: number;
}

export type LinkDropReason = 'full' | 'expired' | 'too_large' | 'refused';

export interface LinkQueue {
  /**
   * Appends a message; the promise resolves once it is durable (the publisher's ack
   * waits for it). A full queue drops its oldest messages to make room; a message that
   * can never fit is dropped itself. Either way counted through onDrop, never thrown.
   */
  append(message: LinkMessage): Appended;
  /** up to `limit` messages after `afterSeq`, oldest first (expired ones are dropped on the way) */
  peek(afterSeq: number, limit: number): QueuedLinkMessage[];
  /** the peer has it: removed */
  ack(seq: number): void;
  /** removes what is older than the expiry; returns how many */
  expire(now: number): number;
  /** removes the `n` oldest messages, counted as `full`; returns how many went */
  dropOldest(n: number): number;
  readonly depth: number;
  readonly bytes: number;
  /** ms since the oldest message was queued; 0 when empty */
  oldestAgeMs(now: number): number;
  /** messages dropped unsent, by reason */
  onDrop: ((reason: LinkDropReason, count: number) => void) | undefined;
}

export interface Appended {
  /** its place in the queue; 0 when it was dropped at once (too large) */
  readonly seq: number;
  readonly durable: Promise<void>;
}

export interface LinkQueueLimits {
  maxMessages: number;
  maxBytes: number;
  /** 0: never */
  expirySeconds: number;
}

/** Attributes kept beside topic and payload (QueuedMessage.attrs). */
interface Attrs {
  id: string;
  retain?: boolean;
  headers?: LinkMessage['headers'];
}

const EXPIRY_BATCH = 256;

/** The link queue on the router's queue store (lib/store/queue-types.ts): one store queue per link. */
export class StoreLinkQueue implements LinkQueue {
  onDrop: ((reason: LinkDropReason, count: number) => void) | undefined;

  constructor(
    private readonly store: QueueStore,
    /** the store queue's name, e.g. `link/<name>` */
    private readonly name: string,
    private readonly limits: LinkQueueLimits,
  ) {}

  append(message: LinkMessage): Appended {
    const attrs: Attrs = { id: message.messageId };
    if (message.retain) attrs.retain = true;
    if (message.headers !== undefined) attrs.headers = message.headers;
    let result;
    try {
      result = this.store.enqueue(
        this.name,
        { topic: message.topic, payload: message.payload, attrs: attrs as unknown as Record<string, unknown> },
        { maxMessages: this.limits.maxMessages, maxBytes: this.limits.maxBytes, overflow: 'drop-oldest' },
      );
    } catch (err) {
      // larger than the whole queue: local traffic goes on, the link loses this one
      if (err instanceof RouterError && err.def === Errors.limitExceeded) {
        this.onDrop?.('too_large', 1);
        return { seq: 0, durable: Promise.resolve() };
      }
      throw err;
    }
    if (result.dropped > 0) this.onDrop?.('full', result.dropped);
    return { seq: result.seq, durable: result.committed };
  }

  peek(afterSeq: number, limit: number): QueuedLinkMessage[] {
    const rows = this.store.read(this.name, afterSeq, limit);
    const out: QueuedLinkMessage[] = [];
    const cutoff = this.cutoff(Date.now());
    let expired = 0;
    for (const r of rows) {
      if (r.enqueuedAt < cutoff) {
        void this.store.remove(this.name, r.seq);
        expired++;
        continue;
      }
      const a = r.attrs as unknown as Attrs;
      const message: LinkMessage = { topic: r.topic, payload: r.payload, retain: a.retain === true, messageId: a.id, ...(a.headers ? { headers: a.headers } : {}) };
      out.push({ seq: r.seq, message, enqueuedAt: r.enqueuedAt });
    }
    if (expired > 0) this.onDrop?.('expired', expired);
    return out;
  }

  ack(seq: number): void {
    // undefined when it is gone already (dropped as the oldest while in flight)
    void this.store.remove(this.name, seq);
  }

  expire(now: number): number {
    const cutoff = this.cutoff(now);
    if (cutoff <= 0) return 0;
    let n = 0;
    for (;;) {
      const rows = this.store.read(this.name, 0, EXPIRY_BATCH);
      let stop = rows.length < EXPIRY_BATCH;
      for (const r of rows) {
        // in queue order: the first young enough ends the sweep
        if (r.enqueuedAt >= cutoff) {
          stop = true;
          break;
        }
        void this.store.remove(this.name, r.seq);
        n++;
      }
      if (stop) break;
    }
    if (n > 0) this.onDrop?.('expired', n);
    return n;
  }

  dropOldest(n: number): number {
    // the store drops the oldest itself on append (overflow 'drop-oldest'); this is for
    // an engine that cannot, and for an operator's purge of the backlog
    const rows = this.store.read(this.name, 0, n);
    for (const r of rows) void this.store.remove(this.name, r.seq);
    if (rows.length > 0) this.onDrop?.('full', rows.length);
    return rows.length;
  }

  get depth(): number {
    return this.store.size(this.name).messages;
  }

  get bytes(): number {
    return this.store.size(this.name).bytes;
  }

  oldestAgeMs(now: number): number {
    const first = this.store.read(this.name, 0, 1)[0];
    return first ? Math.max(0, now - first.enqueuedAt) : 0;
  }

  private cutoff(now: number): number {
    return this.limits.expirySeconds > 0 ? now - this.limits.expirySeconds * 1000 : 0;
  }
}
