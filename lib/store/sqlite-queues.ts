import type Database from 'better-sqlite3';
import type { MessageHeaders } from '../headers';
import { decodePayload } from './codec';
import type { QueuedMessage } from './queue-types';
import { decodeAttrs, decodeValue } from './value-codec';

/**
 * One change to persist, the net effect of a batch on one message or record (ops on the
 * same key are folded, see `coalesceQueueOps`). Every op carries what undoing it needs.
 */
export type QueueOp =
  | {
      /** a new message, referring to its body (written with the same batch or an earlier one) */
      readonly t: 'insert';
      readonly msg: QueuedMessage;
      readonly size: number;
      readonly body: number;
      readonly attrs: Buffer | null;
    }
  /** new attrs for a message already on disk */
  | { readonly t: 'update'; readonly queue: string; readonly seq: number; readonly attrs: Buffer | null }
  /**
   * removal of a message on disk; size and expiry let a failed commit put it back, `body`
   * (null: a row of schema version 3 or older, its body inline) its reference
   */
  | {
      readonly t: 'delete';
      readonly queue: string;
      readonly seq: number;
      readonly size: number;
      readonly expiresAt: number;
      readonly body: number | null;
    }
  /** a body whose last reference went (new bodies are not ops: see `write`) */
  | { readonly t: 'unbody'; readonly id: number }
  /** a message inserted and removed within one batch: nothing to write */
  | { readonly t: 'none' }
  | {
      readonly t: 'record';
      readonly kind: string;
      readonly id: string;
      /** encoded value; undefined deletes the record */
      readonly value: Buffer | undefined;
      /** the committed state before the batch, for undo */
      readonly before: { readonly value: unknown } | undefined;
    };

/** folds a later op on a key (one message, one body, or one record) into the earlier one */
export function coalesceQueueOps(earlier: QueueOp, later: QueueOp): QueueOp {
  if (earlier.t === 'insert') {
    if (later.t === 'update') return { ...earlier, attrs: later.attrs };
    if (later.t === 'delete') return { t: 'none' };
  }
  if (earlier.t === 'record' && later.t === 'record') return { ...later, before: earlier.before };
  // update + update, update + delete: the later one says it all
  return later;
}

export interface LoadedMessage {
  readonly queue: string;
  readonly seq: number;
  readonly size: number;
  /** null: never */
  readonly expiresAt: number | null;
  /** null: the body is inline (a row of schema version 3 or older) */
  readonly body: number | null;
}

/** what of a message only the disk knows (the index has its queue, seq and expiry) */
export type StoredBody = Pick<QueuedMessage, 'topic' | 'payload' | 'enqueuedAt' | 'attrs'>;

interface BodyRow {
  topic: string;
  enqueued_at: number;
  attrs: Buffer | null;
  payload: Buffer;
}

/** MessagePack for {} */
const EMPTY_MAP = Buffer.from([0x80]);

/** a message body written by a batch */
export interface NewBody {
  readonly id: number;
  readonly topic: string;
  readonly payload: Buffer;
}

/** the statements; the tables are created by sqlite-schema.ts */
const SQL = {
  // topic and payload are in queue_body: the columns stay empty (they are NOT NULL since version 2)
  insert: `INSERT INTO queue_message (seq, queue, size, enqueued_at, expires_at, topic, attrs, payload, body)
           VALUES (?, ?, ?, ?, ?, '', ?, x'', ?)`,
  // a message whose body no other refers to: inline, as in version 2 and 3
  insertInline: `INSERT INTO queue_message (seq, queue, size, enqueued_at, expires_at, topic, attrs, payload)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  insertBody: `INSERT INTO queue_body (id, topic, payload) VALUES (?, ?, ?)`,
  deleteBody: `DELETE FROM queue_body WHERE id = ?`,
  update: `INSERT INTO queue_attrs (seq, attrs) VALUES (?, ?) ON CONFLICT (seq) DO UPDATE SET attrs = excluded.attrs`,
  delete: `DELETE FROM queue_message WHERE seq = ?`,
  deleteAttrs: `DELETE FROM queue_attrs WHERE seq = ?`,
  // only the columns the index lacks: each one fetched costs (~10% of a read for three)
  read: `SELECT coalesce(b.topic, m.topic) AS topic, m.enqueued_at, coalesce(a.attrs, m.attrs) AS attrs,
                coalesce(b.payload, m.payload) AS payload
         FROM queue_message m LEFT JOIN queue_body b ON b.id = m.body LEFT JOIN queue_attrs a ON a.seq = m.seq
         WHERE m.seq = ?`,
  loadMessages: `SELECT queue, seq, size, expires_at AS expiresAt, body FROM queue_message ORDER BY seq`,
  // bodies with no reference cannot be left by a committed batch; this keeps it so
  dropOrphanBodies: `DELETE FROM queue_body WHERE id NOT IN (SELECT body FROM queue_message WHERE body IS NOT NULL)`,
  putRecord: `INSERT INTO queue_record (kind, id, value) VALUES (?, ?, ?)
              ON CONFLICT (kind, id) DO UPDATE SET value = excluded.value`,
  deleteRecord: `DELETE FROM queue_record WHERE kind = ? AND id = ?`,
  loadRecords: `SELECT kind, id, value FROM queue_record`,
  setLastSeq: `INSERT INTO queue_meta (name, value) VALUES ('last_seq', ?)
               ON CONFLICT (name) DO UPDATE SET value = excluded.value`,
  loadLastSeq: `SELECT value FROM queue_meta WHERE name = 'last_seq'`,
} as const;

/**
 * The SQLite side of the queue store, and the only place its SQL lives (the tables are
 * in sqlite-schema.ts). It runs on the handle a StoreDatabase owns, inside the
 * transaction that database opens for each turn's batch.
 */
export class SqliteQueues {
  private readonly insertStmt: Database.Statement<[number, string, number, number, number | null, Buffer | null, number]>;
  private readonly insertInlineStmt: Database.Statement<
    [number, string, number, number, number | null, string, Buffer | null, Buffer]
  >;
  private readonly insertBodyStmt: Database.Statement<[number, string, Buffer]>;
  private readonly deleteBodyStmt: Database.Statement<[number]>;
  private readonly updateStmt: Database.Statement<[number, Buffer]>;
  private readonly deleteStmt: Database.Statement<[number]>;
  private readonly deleteAttrsStmt: Database.Statement<[number]>;
  private readonly readStmt: Database.Statement<[number], BodyRow>;
  private readonly putRecordStmt: Database.Statement<[string, string, Buffer]>;
  private readonly deleteRecordStmt: Database.Statement<[string, string]>;
  private readonly setLastSeqStmt: Database.Statement<[number]>;

  constructor(private readonly db: Database.Database) {
    this.insertStmt = db.prepare(SQL.insert);
    this.insertInlineStmt = db.prepare(SQL.insertInline);
    this.insertBodyStmt = db.prepare(SQL.insertBody);
    this.deleteBodyStmt = db.prepare(SQL.deleteBody);
    this.updateStmt = db.prepare(SQL.update);
    this.deleteStmt = db.prepare(SQL.delete);
    this.deleteAttrsStmt = db.prepare(SQL.deleteAttrs);
    this.readStmt = db.prepare(SQL.read);
    this.putRecordStmt = db.prepare(SQL.putRecord);
    this.deleteRecordStmt = db.prepare(SQL.deleteRecord);
    this.setLastSeqStmt = db.prepare(SQL.setLastSeq);
  }

  /**
   * Reads the index of every message (in seq order, so each queue's come in order) and
   * every record; returns the highest seq ever handed out. Payloads are not read.
   */
  load(onMessage: (m: LoadedMessage) => void, onRecord: (kind: string, id: string, value: unknown) => void): number {
    this.db.prepare(SQL.dropOrphanBodies).run();
    let lastSeq = this.db.prepare<[], number>(SQL.loadLastSeq).pluck().get() ?? 0;
    for (const m of this.db.prepare<[], LoadedMessage>(SQL.loadMessages).iterate()) {
      onMessage(m);
      if (m.seq > lastSeq) lastSeq = m.seq;
    }
    for (const r of this.db.prepare<[], { kind: string; id: string; value: Buffer }>(SQL.loadRecords).iterate()) {
      onRecord(r.kind, r.id, decodeValue(r.value));
    }
    return lastSeq;
  }

  /**
   * Writes a batch inside the transaction the caller has open; `lastSeq`, when given, is
   * the new highest seq handed out. `bodies` are the batch's shared message bodies, and
   * `inline` the payloads of the bodies that go into their only message's row instead.
   * Throws if a statement fails (the caller rolls back).
   */
  write(
    ops: readonly QueueOp[],
    lastSeq: number | undefined,
    bodies: readonly NewBody[],
    inline: ReadonlyMap<number, Buffer>,
  ): void {
    for (const b of bodies) this.insertBodyStmt.run(b.id, b.topic, b.payload);
    for (const op of ops) {
      switch (op.t) {
        case 'insert': {
          const m = op.msg;
          const payload = inline.get(op.body);
          if (payload !== undefined && op.body === m.seq) {
            this.insertInlineStmt.run(m.seq, m.queue, op.size, m.enqueuedAt, m.expiresAt ?? null, m.topic, op.attrs, payload);
          } else {
            this.insertStmt.run(m.seq, m.queue, op.size, m.enqueuedAt, m.expiresAt ?? null, op.attrs, op.body);
          }
          break;
        }
        case 'unbody':
          this.deleteBodyStmt.run(op.id);
          break;
        case 'update':
          // an empty map, not NULL: the override must win over the message's own attrs
          this.updateStmt.run(op.seq, op.attrs ?? EMPTY_MAP);
          break;
        case 'delete':
          this.deleteStmt.run(op.seq);
          this.deleteAttrsStmt.run(op.seq);
          break;
        case 'record':
          if (op.value === undefined) this.deleteRecordStmt.run(op.kind, op.id);
          else this.putRecordStmt.run(op.kind, op.id, op.value);
          break;
        case 'none':
          break;
      }
    }
    if (lastSeq !== undefined) this.setLastSeqStmt.run(lastSeq);
  }

  /** a committed message's body, decoded; undefined if there is no such row */
  read(seq: number): StoredBody | undefined {
    const row = this.readStmt.get(seq);
    if (row === undefined) return undefined;
    const attrs = decodeAttrs(row.attrs);
    // a text body is read as text again (lib/payload-text.ts): its headers are attrs.h
    const h = attrs['h'];
    const headers = typeof h === 'object' && h !== null ? (h as MessageHeaders) : undefined;
    return { topic: row.topic, payload: decodePayload(row.payload, headers), enqueuedAt: row.enqueued_at, attrs };
  }
}
