import type { Payload } from '../payload';

/**
 * The durable queue store, protocol-neutral: the MQTT gate keeps a persistent session's
 * offline and in-flight QoS 1/2 messages and its session state here, the STOMP gate its
 * `/queue/...` work queues and durable subscriptions. Like the retained store, an engine
 * keeps what reads need in memory so reads are synchronous, applies a write to memory at
 * once, and makes it durable in the background; the write's `committed` promise is what
 * an ack waits for. Nothing here knows about SQL, so another engine (NATS JetStream, one
 * stream per queue) can implement the same interface.
 */

/** One stored message. Snapshots: a later update never changes a message already read. */
export interface QueuedMessage {
  readonly queue: string;
  /**
   * Unique in the store and increasing: within a queue, messages are in seq order, and
   * a seq is never handed out again, not even after a restart or removeQueue(). Seqs of
   * one queue are not consecutive (other queues draw from the same counter).
   */
  readonly seq: number;
  readonly topic: string;
  readonly payload: Payload;
  /** epoch ms */
  readonly enqueuedAt: number;
  /** epoch ms after which the message no longer exists, or undefined */
  readonly expiresAt?: number;
  /**
   * Gate data the store keeps but does not interpret: MQTT qos and packet id, STOMP
   * headers, redelivered flag, delivery count... Any MessagePack value; binary comes
   * back as Buffer. Replaced as a whole by update().
   */
  readonly attrs: Readonly<Record<string, unknown>>;
}

export interface QueueLimits {
  /** at most this many messages (>= 1) */
  maxMessages: number;
  /** at most this many bytes: the sum of `size` (topic + encoded payload) */
  maxBytes: number;
  /**
   * When a message does not fit:
   * - 'drop-oldest' (default): the oldest messages are dropped to make room, and counted
   *   (mosquitto's and RabbitMQ's default, the MQTT offline queue's usual choice).
   * - 'reject': enqueue throws `limit_exceeded` and nothing changes (a STOMP SEND to a
   *   full work queue gets an ERROR, as with RabbitMQ's reject-publish).
   * Expired messages are always removed first.
   */
  overflow?: 'drop-oldest' | 'reject';
}

export interface NewMessage {
  topic: string;
  payload: Payload;
  /** epoch ms; a message already expired is stored but never read */
  expiresAt?: number;
  attrs?: Readonly<Record<string, unknown>>;
}

export interface EnqueueResult {
  readonly seq: number;
  /**
   * Resolves when the message is durable; rejects if its commit failed, in which case
   * the message is gone from memory too. The store attaches a no-op handler, so a caller
   * that does not need the ack may ignore it.
   */
  readonly committed: Promise<void>;
  /** how many of the oldest messages were dropped to make room */
  readonly dropped: number;
}

export interface QueueSize {
  readonly messages: number;
  /** sum of the messages' `size`: topic bytes + encoded payload bytes (attrs not counted) */
  readonly bytes: number;
}

export interface QueueStoreStats {
  /** queues holding at least one message */
  readonly queues: number;
  readonly messages: number;
  readonly bytes: number;
  readonly records: number;
  /** messages dropped by queue limits since open */
  readonly dropped: number;
  /** messages removed because they expired, since open */
  readonly expired: number;
  /** messages whose payload was read back from disk (not memory) since open */
  readonly diskReads: number;
  /** writes applied in memory and not yet committed (in a shared database: all engines') */
  readonly pendingWrites: number;
  /** transactions committed since open (in a shared database: all engines') */
  readonly commits: number;
  /** how long the last commit took, in ms */
  readonly lastCommitMs: number;
  /** commits that failed (their writes were rejected and undone) since open */
  readonly failedCommits: number;
}

/**
 * Every write is applied to memory at once and returns a promise that resolves when it
 * is durable (rejects, with the write undone in memory, if its commit failed). Writes
 * that find nothing to change return undefined instead.
 */
export interface QueueStore {
  /** loads state; after open, reads are synchronous */
  open(): Promise<void>;
  /** flushes pending commits, then releases the engine; rejects if that last commit failed */
  close(): Promise<void>;

  /**
   * Appends a message to a queue (created on first use), removing expired messages and
   * then, by `limits.overflow`, dropping the oldest to make room. Throws
   * `limit_exceeded` for a message that can never fit (its size above maxBytes) or a
   * full queue with overflow 'reject', `invalid_argument` for a payload or attrs that
   * cannot be encoded; either way nothing changes.
   */
  enqueue(queue: string, message: NewMessage, limits: QueueLimits): EnqueueResult;
  /**
   * Up to `limit` messages with seq > afterSeq, in seq order. Expired messages met on the
   * way are skipped, and removed.
   */
  read(queue: string, afterSeq: number, limit: number): QueuedMessage[];
  /** one message, if stored and not expired */
  get(queue: string, seq: number): QueuedMessage | undefined;
  /** replaces a message's attrs (mark it sent with its packet id, redelivered...) */
  update(queue: string, seq: number, attrs: Readonly<Record<string, unknown>>): Promise<void> | undefined;
  /** removes a message (its ack) */
  remove(queue: string, seq: number): Promise<void> | undefined;
  /** removes every message of a queue (a session ended, a queue was deleted) */
  removeQueue(queue: string): Promise<void>;
  size(queue: string): QueueSize;
  /** names of the queues holding messages, optionally only those starting with `prefix` */
  queues(prefix?: string): string[];
  /** earliest expiresAt over all messages (a lower bound), or undefined */
  nextExpiry(): number | undefined;
  /** removes every message expired at `now`; returns how many */
  expire(now: number): number;

  /**
   * Small durable records: MQTT session state and subscriptions, inbound QoS 2 packet
   * ids awaiting PUBREL, STOMP durable subscription bindings. Kept in memory; values
   * are any MessagePack value, and are snapshots the caller must not mutate.
   */
  putRecord(kind: string, id: string, value: unknown): Promise<void>;
  getRecord(kind: string, id: string): unknown;
  deleteRecord(kind: string, id: string): Promise<void> | undefined;
  /** the records of a kind, optionally only ids starting with `idPrefix`; order unspecified */
  records(kind: string, idPrefix?: string): IterableIterator<[string, unknown]>;

  readonly stats: QueueStoreStats;
}
