import type { MessageHeaders } from '../../lib/headers';
import type { QueuedMessage, QueueStore } from '../../lib/store';
import type { Outbound, QoS } from './mqtt-session';

/** A QoS 1/2 message waiting for the client, or in flight to it. */
export interface Pending {
  readonly msg: Outbound;
  /** the queue store's sequence number (durable mailboxes) */
  readonly seq: number;
}

/**
 * Where a session's QoS 1/2 messages wait until the client acknowledges them. Clean
 * sessions keep them in memory; sessions that outlive their connection keep them in the
 * core's durable queue store, so a broker restart loses nothing.
 */
export interface Mailbox {
  /** queues a message; returns how many old ones were dropped to make room */
  push(msg: Outbound): number;
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

export interface MailboxLimits {
  maxMessages: number;
  maxBytes: number;
}

/** In memory, for clean sessions: a bounded FIFO. */
export class MemoryMailbox implements Mailbox {
  private readonly queue: Outbound[] = [];
  private bytes = 0;

  constructor(private readonly limits: MailboxLimits) {}

  push(msg: Outbound): number {
    this.queue.push(msg);
    this.bytes += msg.size;
    let dropped = 0;
    while (this.queue.length > this.limits.maxMessages || (this.bytes > this.limits.maxBytes && this.queue.length > 1)) {
      const old = this.queue.shift();
      if (old) this.bytes -= old.size;
      dropped++;
    }
    return dropped;
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
 * In the core's durable queue store, for sessions that outlive their connection. The
 * store holds every message until it is acknowledged; the packet identifier of a
 * message in flight is kept with it, so after a restart it is resent with DUP and the
 * same identifier ([MQTT-4.4.0-1]).
 */
export class StoreMailbox implements Mailbox {
  /** seq of the last message handed out: the ones after it are still waiting */
  private cursor = 0;

  constructor(
    private readonly store: QueueStore,
    readonly name: string,
    private readonly limits: MailboxLimits,
  ) {
    for (const m of store.read(name, 0, Number.MAX_SAFE_INTEGER)) {
      if (attrsOf(m).packetId !== undefined && m.seq > this.cursor) this.cursor = m.seq;
    }
  }

  push(msg: Outbound): number {
    const attrs: StoredAttrs = { qos: msg.qos, retain: msg.retain };
    if (msg.subscriptionIds.length > 0) attrs.ids = [...msg.subscriptionIds];
    if (msg.headers) attrs.headers = msg.headers;
    const r = this.store.enqueue(
      this.name,
      { topic: msg.topic, payload: msg.payload, expiresAt: msg.headers?.expiresAt, attrs: { ...attrs } },
      { maxMessages: this.limits.maxMessages, maxBytes: this.limits.maxBytes, overflow: 'drop-oldest' },
    );
    return r.dropped;
  }

  take(): Pending | undefined {
    const [m] = this.store.read(this.name, this.cursor, 1);
    if (!m) return undefined;
    this.cursor = m.seq;
    return { msg: outboundOf(m), seq: m.seq };
  }

  sent(p: Pending, packetId: number): Promise<void> | undefined {
    const m = this.store.get(this.name, p.seq);
    return m ? this.store.update(this.name, p.seq, { ...m.attrs, packetId }) : undefined;
  }

  released(p: Pending, packetId: number): void {
    const m = this.store.get(this.name, p.seq);
    if (m) void this.store.update(this.name, p.seq, { ...m.attrs, packetId, released: true });
  }

  done(p: Pending): void {
    void this.store.remove(this.name, p.seq);
  }

  recoverInflight(): { pending: Pending; packetId: number; released: boolean }[] {
    const out: { pending: Pending; packetId: number; released: boolean }[] = [];
    for (const m of this.store.read(this.name, 0, Number.MAX_SAFE_INTEGER)) {
      const a = attrsOf(m);
      if (a.packetId !== undefined) out.push({ pending: { msg: outboundOf(m), seq: m.seq }, packetId: a.packetId, released: a.released === true });
    }
    return out;
  }

  get length(): number {
    return this.store.size(this.name).messages;
  }

  clear(): void {
    void this.store.removeQueue(this.name);
  }
}

function attrsOf(m: QueuedMessage): StoredAttrs {
  return m.attrs as unknown as StoredAttrs;
}

function outboundOf(m: QueuedMessage): Outbound {
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
