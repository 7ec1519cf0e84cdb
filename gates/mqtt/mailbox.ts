import type { MessageHeaders } from '../../lib/headers';
import type { Mailboxes, Owner, StoredMessage } from '../../lib/mailbox';
import type { Outbound, QoS } from './mqtt-session';

/** A QoS 1/2 message waiting for the client, or in flight to it. */
export interface Pending {
  readonly msg: Outbound;
  /** the queue store's sequence number (durable mailboxes) */
  readonly seq: number;
  /** sent before, maybe received (a cluster takeover after a crash): resent with DUP */
  readonly dup?: boolean;
}

/**
 * Where a session's QoS 1/2 messages wait until the client acknowledges them. Clean
 * sessions keep them in memory; sessions that outlive their connection keep them in the
 * core's durable mailbox service (lib/mailbox/), so a broker restart loses nothing, and
 * its policy (bounds, the oldest dropped and counted when full) applies.
 */
export interface Mailbox {
  /** queues a message; a durable mailbox counts what its policy dropped itself */
  push(msg: Outbound): void;
  /** the next message not yet handed out */
  take(): Pending | undefined;
  /**
   * The message is about to go out with this packet identifier. A durable mailbox
   * returns the commit of that fact: the PUBLISH waits for it, so after a crash the
   * message is resent with the identifier the client may already hold ([MQTT-4.3.3]).
   */
  sent(p: Pending, packetId: number): Promise<void> | undefined;
  /** QoS 2: PUBREC received, only PUBCOMP is missing */
  released(p: Pending, packetId: number): void;
  /** acknowledged: gone */
  done(p: Pending): void;
  /** messages handed out before a restart, with their packet ids (durable only) */
  recoverInflight(): { pending: Pending; packetId: number; released: boolean }[];
  readonly length: number;
  /** the session ended: everything goes */
  clear(): void;
}

/**
 * In memory, for clean sessions: a bounded FIFO under the mqtt kind's mailbox policy
 * (lib/mailbox/policies.ts: the oldest dropped), its drops counted by the mailbox
 * service like a durable mailbox's, for a queue that ends with its connection.
 */
export class MemoryMailbox implements Mailbox {
  private readonly queue: Outbound[] = [];
  private bytes = 0;

  constructor(
    private readonly mailboxes: Mailboxes,
    private readonly owner: Owner,
  ) {}

  push(msg: Outbound): void {
    this.queue.push(msg);
    this.bytes += msg.size;
    const { maxMessages, maxBytes } = this.mailboxes.policyOf(this.owner);
    let dropped = 0;
    while (this.queue.length > maxMessages || (this.bytes > maxBytes && this.queue.length > 1)) {
      const old = this.queue.shift();
      if (old) this.bytes -= old.size;
      dropped++;
    }
    if (dropped > 0) this.mailboxes.countDropped(this.owner, 'queue_full', dropped);
  }

  take(): Pending | undefined {
    const msg = this.queue.shift();
    if (!msg) return undefined;
    this.bytes -= msg.size;
    return { msg, seq: 0 };
  }

  sent(): undefined {
    return undefined;
  }
  released(): void {}
  done(): void {}

  recoverInflight(): { pending: Pending; packetId: number; released: boolean }[] {
    return [];
  }

  get length(): number {
    return this.queue.length;
  }

  clear(): void {
    this.queue.length = 0;
    this.bytes = 0;
    this.mailboxes.resetDropped(this.owner);
  }
}

interface StoredAttrs {
  qos: QoS;
  retain: boolean;
  ids?: number[];
  headers?: MessageHeaders;
  packetId?: number;
  released?: boolean;
}

/**
 * In the core's mailbox service, for sessions that outlive their connection: its owner
 * is the session ({kind: 'mqtt'}, lib/mailbox/owner.ts), its policy the service's. The
 * mailbox holds every message until it is acknowledged (peek, then ack); the packet
 * identifier of a message in flight is kept with it, so after a restart it is resent
 * with DUP and the same identifier ([MQTT-4.4.0-1]).
 */
export class StoreMailbox implements Mailbox {
  /** seq of the last message handed out: the ones after it are still waiting */
  private cursor = 0;

  constructor(
    private readonly mailboxes: Mailboxes,
    readonly owner: Owner,
  ) {
    for (const m of mailboxes.peek(owner, Number.MAX_SAFE_INTEGER)) {
      if (attrsOf(m).packetId !== undefined && m.seq > this.cursor) this.cursor = m.seq;
    }
  }

  push(msg: Outbound): void {
    const attrs: StoredAttrs = { qos: msg.qos, retain: msg.retain };
    if (msg.subscriptionIds.length > 0) attrs.ids = [...msg.subscriptionIds];
    if (msg.headers) attrs.headers = msg.headers;
    this.mailboxes.append(this.owner, {
      topic: msg.topic,
      payload: msg.payload,
      expiresAt: msg.headers?.expiresAt,
      attrs: { ...attrs },
    });
  }

  take(): Pending | undefined {
    const [m] = this.mailboxes.peek(this.owner, 1, this.cursor);
    if (!m) return undefined;
    this.cursor = m.seq;
    return { msg: outboundOf(m), seq: m.seq };
  }

  sent(p: Pending, packetId: number): Promise<void> | undefined {
    const m = this.mailboxes.get(this.owner, p.seq);
    return m ? this.mailboxes.mark(this.owner, p.seq, { ...m.attrs, packetId }) : undefined;
  }

  released(p: Pending, packetId: number): void {
    const m = this.mailboxes.get(this.owner, p.seq);
    if (m) void this.mailboxes.mark(this.owner, p.seq, { ...m.attrs, packetId, released: true });
  }

  done(p: Pending): void {
    void this.mailboxes.ack(this.owner, p.seq);
  }

  recoverInflight(): { pending: Pending; packetId: number; released: boolean }[] {
    const out: { pending: Pending; packetId: number; released: boolean }[] = [];
    for (const m of this.mailboxes.peek(this.owner, Number.MAX_SAFE_INTEGER)) {
      const a = attrsOf(m);
      if (a.packetId !== undefined)
        out.push({ pending: { msg: outboundOf(m), seq: m.seq }, packetId: a.packetId, released: a.released === true });
    }
    return out;
  }

  get length(): number {
    return this.mailboxes.size(this.owner).messages;
  }

  clear(): void {
    void this.mailboxes.remove(this.owner);
  }
}

function attrsOf(m: StoredMessage): StoredAttrs {
  return m.attrs as unknown as StoredAttrs;
}

function outboundOf(m: StoredMessage): Outbound {
  const a = attrsOf(m);
  return {
    topic: m.topic,
    payload: m.payload,
    qos: a.qos,
    retain: a.retain,
    headers: a.headers,
    subscriptionIds: a.ids ?? [],
    size: m.payload.bytes?.length ?? 64,
  };
}
