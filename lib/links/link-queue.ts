/**
 * A link's durable queue (README "Links"): what must go to the peer, kept in the core's
 * mailbox service until the peer acknowledged it. The interface is the link's view of it.
 */
import type { Mailboxes } from '../mailbox/mailboxes';
import type { Owner } from '../mailbox/owner';
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

/**
 * The link queue on the core's mailbox service (lib/mailbox/): the link's own mailbox,
 * owner `{kind: 'link', name}`, bounded by the link's queue limits and dropping its
 * oldest when full. Age expiry stays here (not the mailbox's maxAgeMs) so every drop is
 * counted per link and reason (gatehouse_link_dropped_total).
 */
export class MailboxLinkQueue implements LinkQueue {
  onDrop: ((reason: LinkDropReason, count: number) => void) | undefined;
  private readonly owner: Owner;

  constructor(
    private readonly mailboxes: Mailboxes,
    /** the link's name */
    name: string,
    private readonly limits: LinkQueueLimits,
  ) {
    this.owner = { kind: 'link', name };
    mailboxes.open(this.owner, {
      maxMessages: limits.maxMessages,
      maxBytes: limits.maxBytes,
      whenFull: 'drop-oldest',
      gate: 'links',
    });
  }

  append(message: LinkMessage): Appended {
    const attrs: Attrs = { id: message.messageId };
    if (message.retain) attrs.retain = true;
    if (message.headers !== undefined) attrs.headers = message.headers;
    const r = this.mailboxes.append(this.owner, {
      topic: message.topic,
      payload: message.payload,
      attrs: attrs as unknown as Record<string, unknown>,
    });
    // larger than the whole queue: local traffic goes on, the link loses this one
    if (!r.accepted) {
      this.onDrop?.('too_large', 1);
      return { seq: 0, durable: Promise.resolve() };
    }
    if (r.dropped > 0) this.onDrop?.('full', r.dropped);
    return { seq: r.seq, durable: r.committed };
  }

  peek(afterSeq: number, limit: number): QueuedLinkMessage[] {
    const rows = this.mailboxes.peek(this.owner, limit, afterSeq);
    const out: QueuedLinkMessage[] = [];
    const cutoff = this.cutoff(Date.now());
    let expired = 0;
    for (const r of rows) {
      if (r.enqueuedAt < cutoff) {
        void this.mailboxes.ack(this.owner, r.seq);
        expired++;
        continue;
      }
      const a = r.attrs as unknown as Attrs;
      const message: LinkMessage = {
        topic: r.topic,
        payload: r.payload,
        retain: a.retain === true,
        messageId: a.id,
        ...(a.headers ? { headers: a.headers } : {}),
      };
      out.push({ seq: r.seq, message, enqueuedAt: r.enqueuedAt });
    }
    if (expired > 0) this.onDrop?.('expired', expired);
    return out;
  }

  ack(seq: number): void {
    // undefined when it is gone already (dropped as the oldest while in flight)
    void this.mailboxes.ack(this.owner, seq);
  }

  expire(now: number): number {
    const cutoff = this.cutoff(now);
    if (cutoff <= 0) return 0;
    let n = 0;
    for (;;) {
      const rows = this.mailboxes.peek(this.owner, EXPIRY_BATCH);
      let stop = rows.length < EXPIRY_BATCH;
      for (const r of rows) {
        // in queue order: the first young enough ends the sweep
        if (r.enqueuedAt >= cutoff) {
          stop = true;
          break;
        }
        void this.mailboxes.ack(this.owner, r.seq);
        n++;
      }
      if (stop) break;
    }
    if (n > 0) this.onDrop?.('expired', n);
    return n;
  }

  dropOldest(n: number): number {
    // the mailbox drops the oldest itself on append ('drop-oldest'); this is for an
    // operator's purge of the backlog
    const rows = this.mailboxes.peek(this.owner, n);
    for (const r of rows) void this.mailboxes.ack(this.owner, r.seq);
    if (rows.length > 0) this.onDrop?.('full', rows.length);
    return rows.length;
  }

  get depth(): number {
    return this.mailboxes.size(this.owner).messages;
  }

  get bytes(): number {
    return this.mailboxes.size(this.owner).bytes;
  }

  oldestAgeMs(now: number): number {
    const first = this.mailboxes.peek(this.owner, 1)[0];
    return first ? Math.max(0, now - first.enqueuedAt) : 0;
  }

  private cutoff(now: number): number {
    return this.limits.expirySeconds > 0 ? now - this.limits.expirySeconds * 1000 : 0;
  }
}
