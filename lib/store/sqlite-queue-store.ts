import { Errors, RouterError } from '../errors';
import type { Payload } from '../payload';
import { encodePayload } from './codec';
import { QueueIndex } from './queue-index';
import type {
  EnqueueResult,
  NewMessage,
  QueueLimits,
  QueuedMessage,
  QueueSize,
  QueueStore,
  QueueStoreStats,
} from './queue-types';
import { SqliteQueues, coalesceQueueOps, type QueueOp } from './sqlite-queues';
import { StoreDatabase, type EnqueueOp } from './store-database';
import type { SqliteStoreConfig } from './types';
import { NO_ATTRS, encodeAttrs, encodeValue } from './value-codec';

type State = 'new' | 'open' | 'closed';
/** a body made by an enqueue, written with its batch */
interface TurnBody {
  readonly id: number;
  readonly topic: string;
  readonly payload: Buffer;
}
type Attrs = Readonly<Record<string, unknown>>;

/**
 * The embedded queue engine. Memory holds an index of every queue (seq, size, expiry),
 * every record, and the messages of the batch not yet committed; a committed message's
 * topic, payload and attrs are read back from SQLite when someone reads it, which in a
 * router is the backlog path only: a message for an online consumer is enqueued and
 * handed over in the same turn, from memory. Measured with bench/queue-memory.ts
 * (200,000 messages in 1,000 queues): the index takes 33 B a message, the messages held
 * whole 832 B, 1.7 KB and 16.7 KB for 100 B, 1 KB and 16 KB payloads (25 to 500 times
 * more), while reading a message back from SQLite costs 9 to 19 us up to 1 KB payloads.
 *
 * Writes join the group commit of a StoreDatabase, shared with the retained store when
 * given one: one transaction per event-loop turn for both. A failed commit undoes its
 * writes in memory, so memory never holds what the disk refused.
 *
 * A message's topic and payload are stored once, as a body, however many queues hold it:
 * one publish fanned out to K offline MQTT sessions is K enqueues of the same payload
 * object in one turn, which share the body the first of them wrote (issue 16: stored
 * per queue, 0.59 MB published to many sessions took 287 MB). Memory counts each body's
 * references (a Map entry per shared body, one more per message that shares another's);
 * the last one removed deletes the body in the same batch. A body nothing else referred
 * to by the time its batch is written goes inline into its message's row: unshared
 * messages cost one row, as before.
 */
export class SqliteQueueStore implements QueueStore {
  private state: State = 'new';
  private sql: SqliteQueues | undefined;
  private readonly database: StoreDatabase;
  private readonly enqueueOp: EnqueueOp<QueueOp>;
  private readonly queueIndex = new Map<string, QueueIndex>();
  /** queues holding a message that expires */
  private readonly expiring = new Set<QueueIndex>();
  /** messages of the pending batch: read from here until committed */
  private readonly unwritten = new Map<number, QueuedMessage>();
  /** new attrs, not yet committed, of messages on disk */
  private readonly pendingAttrs = new Map<number, Attrs>();
  private readonly recordMap = new Map<string, Map<string, unknown>>();
  /** references per body id (bodies written since schema version 4; older rows hold theirs inline) */
  private readonly refs = new Map<number, number>();
  /** the body of a message that is not its own (its seq is not the body's id) */
  private readonly bodyOf = new Map<number, number>();
  /** bodies made this turn, by payload object: the rest of a fan-out refers to them */
  private readonly turnBodies = new Map<Payload, TurnBody>();
  /** every body made since the last write, to be written with the batch */
  private newBodies: TurnBody[] = [];
  /** bodies of the batch being written that go inline into their only message's row */
  private readonly inline = new Map<number, Buffer>();
  private lastSeq = 0;
  private committedSeq = 0;
  /** the lastSeq the batch being committed writes */
  private writingSeq = 0;
  private readonly counts = { messages: 0, bytes: 0, records: 0, dropped: 0, expired: 0, diskReads: 0 };
  readonly stats: QueueStoreStats;

  /** given a StoreDatabase, shares its file and its commits (with the retained store) */
  constructor(
    source: Omit<SqliteStoreConfig, 'engine'> | StoreDatabase,
    /** the clock message expiry is judged by (RouterOptions.clock) */
    private readonly now: () => number = Date.now,
  ) {
    this.database = source instanceof StoreDatabase ? source : new StoreDatabase(source);
    this.enqueueOp = this.database.join<QueueOp>({
      write: (ops) => {
        this.write(ops);
      },
      committed: (ops) => {
        this.committed(ops);
      },
      undo: (ops) => {
        this.undo(ops);
      },
      coalesce: coalesceQueueOps,
    });
    const counts = this.counts;
    const queues = this.queueIndex;
    const db = this.database.stats;
    this.stats = {
      get queues() {
        return queues.size;
      },
      get messages() {
        return counts.messages;
      },
      get bytes() {
        return counts.bytes;
      },
      get records() {
        return counts.records;
      },
      get dropped() {
        return counts.dropped;
      },
      get expired() {
        return counts.expired;
      },
      get diskReads() {
        return counts.diskReads;
      },
      get pendingWrites() {
        return db.pendingWrites;
      },
      get commits() {
        return db.commits;
      },
      get lastCommitMs() {
        return db.lastCommitMs;
      },
      get failedCommits() {
        return db.failedCommits;
      },
    };
  }

  async open(): Promise<void> {
    // invariant, not a catalogue error: the router opens its queue store once
    if (this.state !== 'new') throw new Error('a queue store can be opened once');
    // a store that failed to open may hold part of the data in memory: it stays unusable
    this.state = 'closed';
    const db = this.database.acquire();
    let sql: SqliteQueues;
    try {
      sql = new SqliteQueues(db);
      this.lastSeq = sql.load(
        (m) => {
          this.indexOf(m.queue).push(m.seq, m.size, m.expiresAt ?? Infinity);
          if (m.body !== null) this.addRef(m.seq, m.body);
        },
        (kind, id, value) => {
          this.setRecord(kind, id, value);
        },
      );
    } catch (err) {
      await this.database.release().catch(() => undefined);
      throw err;
    }
    for (const q of this.queueIndex.values()) this.counted(q);
    this.committedSeq = this.lastSeq;
    this.sql = sql;
    this.state = 'open';
  }

  async close(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'closed';
    // commits our pending writes (with whatever else is queued) before letting go
    const last = this.database.release();
    this.sql = undefined;
    await last;
  }

  enqueue(queue: string, message: NewMessage, limits: QueueLimits): EnqueueResult {
    this.assertOpen();
    checkName(queue, 'queue');
    const { topic, expiresAt } = message;
    if (typeof topic !== 'string') throw new RouterError(Errors.invalidArgument, 'topic must be a string');
    if (expiresAt !== undefined && !Number.isFinite(expiresAt)) {
      throw new RouterError(Errors.invalidArgument, 'expiresAt must be a time in ms');
    }
    const { maxMessages, maxBytes } = limits;
    if (!(maxMessages >= 1 && maxBytes > 0)) {
      throw new RouterError(Errors.invalidArgument, 'queue limits must be positive');
    }
    // encode first: a message that cannot be stored fails here, having changed nothing
    const shared = this.turnBodies.get(message.payload);
    const reuse = shared !== undefined && shared.topic === topic && this.refs.has(shared.id) ? shared : undefined;
    const payload = reuse === undefined ? encodePayload(message.payload) : reuse.payload;
    const attrs = message.attrs ?? NO_ATTRS;
    const encodedAttrs = encodeAttrs(attrs);
    const size = Buffer.byteLength(topic) + payload.length;
    if (size > maxBytes) {
      throw new RouterError(Errors.limitExceeded, `message of ${size} bytes exceeds the queue limit of ${maxBytes}`);
    }

    const now = this.now();
    let dropped = 0;
    const q = this.queueIndex.get(queue);
    const full = (ix: QueueIndex): boolean => ix.messages + 1 > maxMessages || ix.bytes + size > maxBytes;
    if (q !== undefined && full(q)) {
      if (q.minExpiry <= now) this.reap(q, now);
      if (full(q)) {
        if (limits.overflow === 'reject') throw new RouterError(Errors.limitExceeded, `queue ${queue} is full`);
        for (let oldest = q.oldest(); oldest !== undefined && full(q); oldest = q.oldest()) {
          void this.removeMessage(q, oldest);
          dropped++;
        }
        this.counts.dropped += dropped;
      }
    }

    const seq = ++this.lastSeq;
    const msg: { -readonly [K in keyof QueuedMessage]: QueuedMessage[K] } = {
      queue,
      seq,
      topic,
      payload: message.payload,
      enqueuedAt: now,
      attrs,
    };
    if (expiresAt !== undefined) msg.expiresAt = expiresAt;
    // the drops may have emptied (and so forgotten) the queue
    const ix = this.indexOf(queue);
    ix.push(seq, size, expiresAt ?? Infinity);
    if (expiresAt !== undefined) this.expiring.add(ix);
    this.counts.messages++;
    this.counts.bytes += size;
    this.unwritten.set(seq, msg);
    // the drops may have removed the last reference to the body to share: then a new one
    let body: number;
    if (reuse === undefined || !this.refs.has(reuse.id)) {
      body = seq;
      const made: TurnBody = { id: body, topic, payload };
      this.turnBodies.set(message.payload, made);
      this.newBodies.push(made);
    } else {
      body = reuse.id;
    }
    this.addRef(seq, body);
    const committed = this.enqueueOp(messageKey(seq), { t: 'insert', msg, size, body, attrs: encodedAttrs });
    return { seq, committed, dropped };
  }

  read(queue: string, afterSeq: number, limit: number): QueuedMessage[] {
    this.assertOpen();
    const q = this.queueIndex.get(queue);
    if (q === undefined || !(limit > 0)) return [];
    const now = this.now();
    const seqs: number[] = [];
    const expiries: number[] = [];
    const expired: number[] = [];
    q.scan(afterSeq, (seq, _size, expiresAt) => {
      if (expiresAt <= now) {
        expired.push(seq);
        return true;
      }
      seqs.push(seq);
      expiries.push(expiresAt);
      return seqs.length < limit;
    });
    for (const seq of expired) this.expireMessage(q, seq);
    return seqs.map((seq, i) => this.message(queue, seq, expiries[i] as number));
  }

  get(queue: string, seq: number): QueuedMessage | undefined {
    this.assertOpen();
    const m = this.queueIndex.get(queue)?.get(seq);
    return m === undefined || m.expiresAt <= this.now() ? undefined : this.message(queue, seq, m.expiresAt);
  }

  update(queue: string, seq: number, attrs: Attrs): Promise<void> | undefined {
    this.assertOpen();
    const encoded = encodeAttrs(attrs);
    if (this.queueIndex.get(queue)?.get(seq) === undefined) return undefined;
    const unwritten = this.unwritten.get(seq);
    if (unwritten !== undefined) this.unwritten.set(seq, { ...unwritten, attrs });
    else this.pendingAttrs.set(seq, attrs);
    // folds into a pending insert of the message, if there is one
    return this.enqueueOp(messageKey(seq), { t: 'update', queue, seq, attrs: encoded });
  }

  remove(queue: string, seq: number): Promise<void> | undefined {
    this.assertOpen();
    const q = this.queueIndex.get(queue);
    return q === undefined ? undefined : this.removeMessage(q, seq);
  }

  removeQueue(queue: string): Promise<void> {
    this.assertOpen();
    const q = this.queueIndex.get(queue);
    let last: Promise<void> = Promise.resolve();
    if (q !== undefined) for (const m of q.live()) last = this.removeMessage(q, m.seq) ?? last;
    return last;
  }

  size(queue: string): QueueSize {
    const q = this.queueIndex.get(queue);
    return { messages: q?.messages ?? 0, bytes: q?.bytes ?? 0 };
  }

  queues(prefix = ''): string[] {
    const out: string[] = [];
    for (const name of this.queueIndex.keys()) if (name.startsWith(prefix)) out.push(name);
    return out;
  }

  nextExpiry(): number | undefined {
    let min = Infinity;
    for (const q of this.expiring) if (q.minExpiry < min) min = q.minExpiry;
    return min === Infinity ? undefined : min;
  }

  expire(now: number): number {
    this.assertOpen();
    let n = 0;
    for (const q of [...this.expiring]) if (q.minExpiry <= now) n += this.reap(q, now);
    return n;
  }

  putRecord(kind: string, id: string, value: unknown): Promise<void> {
    this.assertOpen();
    checkName(kind, 'record kind');
    if (typeof id !== 'string') throw new RouterError(Errors.invalidArgument, 'record id must be a string');
    // getRecord answers undefined for "no record": it cannot be a record's value
    if (value === undefined) throw new RouterError(Errors.invalidArgument, 'record value must not be undefined');
    const encoded = encodeValue(value, 'record');
    const before = this.recordState(kind, id);
    this.setRecord(kind, id, value);
    return this.enqueueOp(recordKey(kind, id), { t: 'record', kind, id, value: encoded, before });
  }

  getRecord(kind: string, id: string): unknown {
    return this.recordMap.get(kind)?.get(id);
  }

  deleteRecord(kind: string, id: string): Promise<void> | undefined {
    this.assertOpen();
    const before = this.recordState(kind, id);
    if (before === undefined) return undefined;
    this.unsetRecord(kind, id);
    return this.enqueueOp(recordKey(kind, id), { t: 'record', kind, id, value: undefined, before });
  }

  *records(kind: string, idPrefix = ''): IterableIterator<[string, unknown]> {
    const map = this.recordMap.get(kind);
    if (map === undefined) return;
    // a snapshot, so the caller may write records while iterating
    for (const entry of [...map]) if (entry[0].startsWith(idPrefix)) yield entry;
  }

  /** a stored message, whole: from the pending batch, else from disk */
  private message(queue: string, seq: number, expiresAt: number): QueuedMessage {
    const pending = this.unwritten.get(seq);
    if (pending !== undefined) return pending;
    const body = this.sql?.read(seq);
    // the index only lists committed or pending messages: a miss is a bug, not a state
    if (body === undefined) throw new RouterError(Errors.internal, `queue store: message ${seq} is indexed but not stored`);
    this.counts.diskReads++;
    const msg: { -readonly [K in keyof QueuedMessage]: QueuedMessage[K] } = { queue, seq, ...body };
    if (expiresAt !== Infinity) msg.expiresAt = expiresAt;
    const attrs = this.pendingAttrs.get(seq);
    if (attrs !== undefined) msg.attrs = attrs;
    return msg;
  }

  private removeMessage(q: QueueIndex, seq: number): Promise<void> | undefined {
    const m = q.remove(seq);
    if (m === undefined) return undefined;
    this.uncounted(q, m.size);
    this.unwritten.delete(seq);
    this.pendingAttrs.delete(seq);
    const body = this.bodyOf.get(seq) ?? seq;
    const stored = this.refs.has(body);
    // folds into a pending insert of the message, leaving nothing to write
    const done = this.enqueueOp(messageKey(seq), {
      t: 'delete',
      queue: q.name,
      seq,
      size: m.size,
      expiresAt: m.expiresAt,
      body: stored ? body : null,
    });
    if (stored && this.dropRef(seq, body)) void this.enqueueOp(bodyKey(body), { t: 'unbody', id: body });
    return done;
  }

  /** one more message refers to `body` */
  private addRef(seq: number, body: number): void {
    this.refs.set(body, (this.refs.get(body) ?? 0) + 1);
    if (body !== seq) this.bodyOf.set(seq, body);
  }

  /** message `seq` no longer refers to `body`; true if that was the last reference */
  private dropRef(seq: number, body: number): boolean {
    this.bodyOf.delete(seq);
    const n = (this.refs.get(body) ?? 1) - 1;
    if (n > 0) {
      this.refs.set(body, n);
      return false;
    }
    this.refs.delete(body);
    return true;
  }

  private expireMessage(q: QueueIndex, seq: number): void {
    if (this.removeMessage(q, seq) !== undefined) this.counts.expired++;
  }

  /** removes a queue's expired messages; returns how many */
  private reap(q: QueueIndex, now: number): number {
    const expired = q.expiredAt(now);
    for (const seq of expired) this.expireMessage(q, seq);
    if (q.minExpiry === Infinity) this.expiring.delete(q);
    return expired.length;
  }

  private indexOf(queue: string): QueueIndex {
    let q = this.queueIndex.get(queue);
    if (q === undefined) {
      q = new QueueIndex(queue);
      this.queueIndex.set(queue, q);
    }
    return q;
  }

  /** adds a loaded queue to the totals */
  private counted(q: QueueIndex): void {
    this.counts.messages += q.messages;
    this.counts.bytes += q.bytes;
    if (q.minExpiry !== Infinity) this.expiring.add(q);
  }

  private uncounted(q: QueueIndex, size: number): void {
    this.counts.messages--;
    this.counts.bytes -= size;
    // an empty queue is forgotten: seqs come from one store-wide counter, so there is
    // nothing of it left to remember
    if (q.messages === 0) {
      this.queueIndex.delete(q.name);
      this.expiring.delete(q);
    }
  }

  private recordState(kind: string, id: string): { value: unknown } | undefined {
    const map = this.recordMap.get(kind);
    return map?.has(id) === true ? { value: map.get(id) } : undefined;
  }

  private setRecord(kind: string, id: string, value: unknown): void {
    let map = this.recordMap.get(kind);
    if (map === undefined) {
      map = new Map();
      this.recordMap.set(kind, map);
    }
    if (!map.has(id)) this.counts.records++;
    map.set(id, value);
  }

  private unsetRecord(kind: string, id: string): void {
    const map = this.recordMap.get(kind);
    if (map?.delete(id) !== true) return;
    this.counts.records--;
    if (map.size === 0) this.recordMap.delete(kind);
  }

  private write(ops: readonly QueueOp[]): void {
    if (this.sql === undefined) throw new RouterError(Errors.unavailable, 'queue store is closed');
    this.writingSeq = this.lastSeq;
    // the turn is over: a later enqueue of the same payload is another message
    this.turnBodies.clear();
    // a body only its own message refers to (no other enqueue of the turn shared it) goes
    // inline into that message's row, as before version 4: one row, not two, for the
    // unshared messages of work queues and single sessions
    const inline = this.inline;
    inline.clear();
    const shared: TurnBody[] = [];
    for (const b of this.newBodies) {
      const refs = this.refs.get(b.id);
      if (refs === undefined) continue; // every reference went within the batch
      if (refs === 1 && this.unwritten.has(b.id)) inline.set(b.id, b.payload);
      else shared.push(b);
    }
    this.newBodies = [];
    this.sql.write(ops, this.writingSeq > this.committedSeq ? this.writingSeq : undefined, shared, inline);
  }

  /** the batch is durable: its messages are read from disk from now on */
  private committed(ops: readonly QueueOp[]): void {
    // bodies written inline are their message's own: removing it deletes no body
    for (const id of this.inline.keys()) this.refs.delete(id);
    this.inline.clear();
    for (const op of ops) {
      if (op.t === 'insert') this.unwritten.delete(op.msg.seq);
      else if (op.t === 'update') this.pendingAttrs.delete(op.seq);
    }
    if (this.writingSeq > this.committedSeq) this.committedSeq = this.writingSeq;
  }

  /** puts memory back to the committed state of every message and record of a failed batch */
  private undo(ops: readonly QueueOp[]): void {
    this.inline.clear();
    for (const op of ops) {
      switch (op.t) {
        case 'insert': {
          const q = this.queueIndex.get(op.msg.queue);
          const m = q?.remove(op.msg.seq);
          if (q !== undefined && m !== undefined) {
            this.uncounted(q, m.size);
            this.dropRef(op.msg.seq, op.body);
          }
          this.unwritten.delete(op.msg.seq);
          break;
        }
        case 'update':
          this.pendingAttrs.delete(op.seq);
          break;
        case 'delete': {
          const q = this.indexOf(op.queue);
          const had = q.messages;
          q.restore(op.seq, op.size, op.expiresAt);
          if (q.messages > had) {
            this.counts.messages++;
            this.counts.bytes += op.size;
            if (op.expiresAt !== Infinity) this.expiring.add(q);
            if (op.body !== null) this.addRef(op.seq, op.body);
          }
          break;
        }
        // bodies follow their references, undone above
        case 'unbody':
          break;
        case 'record':
          if (op.before === undefined) this.unsetRecord(op.kind, op.id);
          else this.setRecord(op.kind, op.id, op.before.value);
          break;
        case 'none':
          break;
      }
    }
  }

  private assertOpen(): void {
    if (this.state !== 'open') {
      throw new RouterError(Errors.unavailable, this.state === 'new' ? 'queue store is not open' : 'queue store is closed');
    }
  }
}

function checkName(name: unknown, what: string): void {
  // NUL separates kind and id in commit keys
  if (typeof name !== 'string' || name === '' || name.includes('\u0000')) {
    throw new RouterError(Errors.invalidArgument, `${what} must be a non-empty string without NUL`);
  }
}

function messageKey(seq: number): string {
  return `m${seq}`;
}

function bodyKey(id: number): string {
  return `b${id}`;
}

function recordKey(kind: string, id: string): string {
  return `r${kind}\u0000${id}`;
}
