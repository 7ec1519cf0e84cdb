/**
 * The router's durable mailboxes: one bounded queue per owner, read by peek and emptied
 * by ack. Every gate's durable queue goes through here: MQTT persistent sessions
 * (gates/mqtt/mailbox.ts), STOMP work queues, temporary queues and durable subscriptions
 * (lib/work-queues.ts), and router links' out-queues. The messages live in the queue
 * store (lib/store/queue-types.ts) under the owner's name (lib/mailbox/owner.ts); the
 * policy (bounds, what a full mailbox does, age expiry) and the drop counting live here,
 * once, and nowhere else.
 *
 * THE API
 *
 * - open(owner, policy?): the owner's mailbox, with its own policy (a link's), else its
 *   kind's (MailboxesOptions.policy, read at each append, so a config reload applies at
 *   once). Mailboxes exist from their first message: open() only records the policy.
 * - append(owner, message) -> { seq, committed, dropped, accepted }: `committed` resolves
 *   when the message is durable (what a publisher's ack joins), rejects if its commit
 *   failed (the message is gone again). Throws `limit_exceeded` under policy 'reject'.
 * - peek(owner, n, afterSeq = 0): up to n messages with seq > afterSeq, oldest first;
 *   nothing is removed. get(owner, seq): one of them.
 * - mark(owner, seq, attrs): replaces the attrs the owner keeps with a message (MQTT:
 *   the packet identifier it went out with; the store keeps them, does not read them).
 * - ack(owner, seq): the message is done and removed; resolves once that is durable.
 * - depth(owner): { messages, bytes, oldestAt } (oldestAt: epoch ms of the oldest, or
 *   undefined when empty; reads the oldest message); size(owner): { messages, bytes },
 *   from memory. countDropped(owner, reason, n): drops of a queue an owner keeps in
 *   memory under its kind's policy (an MQTT clean session), counted with the rest. dropped(owner): messages this mailbox dropped since start.
 * - remove(owner): every message goes (a purge, an MQTT session that ended); discard(owner):
 *   that and its own policy (a link deleted). owners(kind): the mailboxes of a kind
 *   holding messages.
 *
 * WHEN FULL (policy.whenFull; bounds are maxMessages and maxBytes, topic + payload):
 * - 'drop-oldest': the oldest messages are dropped to make room and counted (the MQTT
 *   offline queue, as mosquitto does; a link's out-queue). A message that can never fit
 *   is dropped itself.
 * - 'drop-newest': the new message is dropped and counted, the sender is not told (a
 *   durable subscription: the publisher does not know it exists).
 * - 'reject': append throws `limit_exceeded`, nothing changes (a STOMP SEND to a full
 *   queue gets an ERROR, as with RabbitMQ's reject-publish). Not counted: the sender is
 *   told and keeps the message.
 *
 * EXPIRY: a message past its own `expiresAt` (MQTT message expiry, STOMP `expires`) is
 * never read (the store removes it). With policy.maxAgeMs, a message older than that is
 * dropped and counted as `expired`: checked at the head on append, peek and depth (the
 * oldest goes first), and swept every maxAgeMs / 2 (at least 1 s), so an unread mailbox
 * does not keep them either.
 *
 * Drops are counted per mailbox (dropped()), in gatehouse_mailbox_dropped_total{kind,
 * reason} and in gatehouse_drops_total{gate: policy.gate, reason} (reason `queue_full` or
 * `expired`), so a gate's drop series stays where it was.
 */
import { Errors, RouterError } from '../errors';
import type { Metrics } from '../metrics';
import type { Payload } from '../payload';
import type { QueuedMessage, QueueStore } from '../store';
import { mailboxName, OWNER_KINDS, type Owner, type OwnerKind } from './owner';

export interface MailboxPolicy {
  /** messages at most (>= 1) */
  readonly maxMessages: number;
  /** bytes at most: topic + encoded payload of every message */
  readonly maxBytes: number;
  readonly whenFull: 'drop-oldest' | 'drop-newest' | 'reject';
  /** messages older than this (ms) are dropped and counted; 0 or absent: no age limit */
  readonly maxAgeMs?: number;
  /** the `gate` label its drops count under in gatehouse_drops_total */
  readonly gate: string;
}

export interface MailMessage {
  /** canonical topic ('' when the owner has none) */
  readonly topic: string;
  readonly payload: Payload;
  /** epoch ms after which the message no longer exists */
  readonly expiresAt?: number;
  /** what the owner keeps with the message (any MessagePack value) */
  readonly attrs?: Readonly<Record<string, unknown>>;
}

export interface Appended {
  /** false: dropped at once (policy 'drop-newest', a mailbox full) */
  readonly accepted: boolean;
  /** the message's seq (0 when not accepted): increasing within a mailbox, never reused */
  readonly seq: number;
  /** resolves when durable; never rejects unhandled (a handler is attached) */
  readonly committed: Promise<void>;
  /** how many messages were dropped (the oldest, or this one) */
  readonly dropped: number;
}

export interface MailboxDepth {
  readonly messages: number;
  readonly bytes: number;
  /** epoch ms the oldest message was appended, undefined when empty */
  readonly oldestAt: number | undefined;
}

export type StoredMessage = QueuedMessage;

export interface MailboxesOptions {
  store: QueueStore;
  /** the policy of owners without their own; read at each append (config reload) */
  policy(kind: OwnerKind): MailboxPolicy;
  metrics?: Metrics;
}

const RESOLVED: Promise<void> = Promise.resolve();
const MIN_SWEEP_MS = 1000;

export class Mailboxes {
  private readonly store: QueueStore;
  private readonly policyOfKind: (kind: OwnerKind) => MailboxPolicy;
  private readonly metrics: Metrics | undefined;
  /** owners opened with a policy of their own, by store name */
  private readonly own = new Map<string, { owner: Owner; policy: MailboxPolicy }>();
  /** per mailbox (by store name): messages dropped since start */
  private readonly drops = new Map<string, number>();
  /** per mailbox with an age limit: before this epoch ms nothing in it is too old */
  private readonly ageCheckAt = new Map<string, number>();
  private sweeper: NodeJS.Timeout | undefined;
  private sweepEveryMs = Infinity;

  constructor(options: MailboxesOptions) {
    this.store = options.store;
    this.policyOfKind = (kind) => options.policy(kind);
    this.metrics = options.metrics;
    for (const kind of OWNER_KINDS) {
      const maxAge = this.policyOfKind(kind).maxAgeMs;
      if (maxAge) this.sweepAtLeastEvery(maxAge);
    }
  }

  /** Records the owner's own policy (a link's); without one, its kind's applies. */
  open(owner: Owner, policy?: MailboxPolicy): void {
    if (policy === undefined) return;
    if (!(policy.maxMessages >= 1 && policy.maxBytes > 0))
      throw new RouterError(Errors.invalidArgument, 'mailbox limits must be positive');
    this.own.set(mailboxName(owner), { owner, policy });
    if (policy.maxAgeMs) this.sweepAtLeastEvery(policy.maxAgeMs);
  }

  policyOf(owner: Owner): MailboxPolicy {
    const own = this.own.size > 0 ? this.own.get(mailboxName(owner)) : undefined;
    return own?.policy ?? this.policyOfKind(owner.kind);
  }

  append(owner: Owner, message: MailMessage): Appended {
    const name = mailboxName(owner);
    const policy = this.policyOf(owner);
    const now = Date.now();
    if (policy.maxAgeMs) this.expireOld(owner, name, policy, now);
    try {
      const r = this.store.enqueue(name, message, {
        maxMessages: policy.maxMessages,
        maxBytes: policy.maxBytes,
        overflow: policy.whenFull === 'drop-oldest' ? 'drop-oldest' : 'reject',
      });
      if (r.dropped > 0) this.count(owner, name, policy, 'queue_full', r.dropped);
      if (policy.maxAgeMs && !this.ageCheckAt.has(name)) this.ageCheckAt.set(name, now + policy.maxAgeMs);
      return { accepted: true, seq: r.seq, committed: r.committed, dropped: r.dropped };
    } catch (err) {
      // full under 'drop-newest', or a message larger than the whole mailbox under a
      // dropping policy: this message is the one dropped. 'reject' tells the sender.
      if (!(err instanceof RouterError) || err.def !== Errors.limitExceeded || policy.whenFull === 'reject') throw err;
      this.count(owner, name, policy, 'queue_full', 1);
      return { accepted: false, seq: 0, committed: RESOLVED, dropped: 1 };
    }
  }

  peek(owner: Owner, n: number, afterSeq = 0): StoredMessage[] {
    const name = mailboxName(owner);
    const policy = this.policyOf(owner);
    if (policy.maxAgeMs) this.expireOld(owner, name, policy, Date.now());
    return this.store.read(name, afterSeq, n);
  }

  get(owner: Owner, seq: number): StoredMessage | undefined {
    return this.store.get(mailboxName(owner), seq);
  }

  /** Replaces the attrs kept with a message; undefined when it is gone. */
  mark(owner: Owner, seq: number, attrs: Readonly<Record<string, unknown>>): Promise<void> | undefined {
    return this.store.update(mailboxName(owner), seq, attrs);
  }

  /** The message is done; undefined when it was already gone. */
  ack(owner: Owner, seq: number): Promise<void> | undefined {
    return this.store.remove(mailboxName(owner), seq);
  }

  /** messages and bytes held (cheap: no message is read) */
  size(owner: Owner): { readonly messages: number; readonly bytes: number } {
    return this.store.size(mailboxName(owner));
  }

  /** A message found past its `expiresAt` by a reader that held it: dropped and counted. */
  expired(owner: Owner, seq: number): void {
    const name = mailboxName(owner);
    if (this.store.remove(name, seq) !== undefined) this.count(owner, name, this.policyOf(owner), 'expired', 1);
  }

  depth(owner: Owner): MailboxDepth {
    const name = mailboxName(owner);
    const policy = this.policyOf(owner);
    if (policy.maxAgeMs) this.expireOld(owner, name, policy, Date.now());
    const size = this.store.size(name);
    const oldest = size.messages > 0 ? this.store.read(name, 0, 1)[0] : undefined;
    return { messages: size.messages, bytes: size.bytes, oldestAt: oldest?.enqueuedAt };
  }

  /** How many messages this mailbox dropped (full, expired by age) since start. */
  dropped(owner: Owner): number {
    return this.drops.get(mailboxName(owner)) ?? 0;
  }

  /**
   * Counts drops of a queue an owner keeps in memory under its kind's policy (an MQTT
   * clean session's, which ends with its connection): one count for every mailbox.
   */
  countDropped(owner: Owner, reason: 'queue_full' | 'expired', n: number): void {
    this.count(owner, mailboxName(owner), this.policyOf(owner), reason, n);
  }

  /** The in-memory queue of countDropped() ended: its count goes. */
  resetDropped(owner: Owner): void {
    if (this.drops.size > 0) this.drops.delete(mailboxName(owner));
  }

  /** Every message goes (a purge, a session that ended); an own policy stays (open()). */
  remove(owner: Owner): Promise<void> {
    const name = mailboxName(owner);
    this.drops.delete(name);
    this.ageCheckAt.delete(name);
    return this.store.removeQueue(name);
  }

  /** The owner is gone for good (a link deleted): its messages and its own policy. */
  discard(owner: Owner): Promise<void> {
    this.own.delete(mailboxName(owner));
    return this.remove(owner);
  }

  /** The owners of a kind whose mailbox holds messages. */
  owners(kind: OwnerKind): Owner[] {
    const prefix = `${kind}:`;
    return this.store.queues(prefix).map((name) => ({ kind, name: name.slice(prefix.length) }));
  }

  /** Drops every message older than its mailbox's age limit (the timer calls it). */
  sweep(now = Date.now()): number {
    let n = 0;
    const seen = new Set<string>();
    for (const [name, { owner, policy }] of this.own) {
      seen.add(name);
      if (policy.maxAgeMs) n += this.expireOld(owner, name, policy, now);
    }
    for (const kind of OWNER_KINDS) {
      const policy = this.policyOfKind(kind);
      if (!policy.maxAgeMs) continue;
      for (const owner of this.owners(kind)) {
        const name = mailboxName(owner);
        if (!seen.has(name)) n += this.expireOld(owner, name, policy, now);
      }
    }
    return n;
  }

  /** Router shutdown: the sweeper stops. */
  close(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  /** A kind's policy got an age limit: called by whoever configures one (links). */
  sweepAtLeastEvery(maxAgeMs: number): void {
    const every = Math.max(MIN_SWEEP_MS, Math.floor(maxAgeMs / 2));
    if (every >= this.sweepEveryMs) return;
    this.sweepEveryMs = every;
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = setInterval(() => this.sweep(), every);
    this.sweeper.unref();
  }

  /** Drops, oldest first, the messages appended more than maxAgeMs ago. */
  private expireOld(owner: Owner, name: string, policy: MailboxPolicy, now: number): number {
    const maxAge = policy.maxAgeMs ?? 0;
    const checkAt = this.ageCheckAt.get(name);
    // nothing is old enough yet: no read (the common case costs a map lookup)
    if (checkAt !== undefined && now < checkAt) return 0;
    let n = 0;
    for (;;) {
      const [oldest] = this.store.read(name, 0, 1);
      if (!oldest) {
        this.ageCheckAt.delete(name);
        break;
      }
      if (oldest.enqueuedAt + maxAge > now) {
        this.ageCheckAt.set(name, oldest.enqueuedAt + maxAge);
        break;
      }
      void this.store.remove(name, oldest.seq);
      n++;
    }
    if (n > 0) this.count(owner, name, policy, 'expired', n);
    return n;
  }

  private count(owner: Owner, name: string, policy: MailboxPolicy, reason: 'queue_full' | 'expired', n: number): void {
    this.drops.set(name, (this.drops.get(name) ?? 0) + n);
    this.metrics?.mailboxDrops.labels(owner.kind, reason).inc(n);
    this.metrics?.drops.labels(policy.gate, reason).inc(n);
  }
}
