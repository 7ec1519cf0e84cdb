import type { Database } from 'better-sqlite3';
import { Errors, RouterError } from '../errors';

/**
 * The SQLite schema, versioned with PRAGMA user_version. MIGRATIONS[v] takes a database
 * from version v to v + 1; each step runs in its own transaction together with the
 * version bump, so a crash mid-migration leaves the previous version intact.
 *
 * retained_log: an append-only log of key states. Every committed write appends a row
 *   with the next `seq`; a key's state is its row with the highest seq, and a row with
 *   a NULL `value` is a tombstone (the key was deleted). Appending keeps each commit on
 *   the last few pages of one B-tree; updating rows in place under a (realm, key)
 *   index dirties a page per write and measured four times slower with fsync. Rows that
 *   no longer hold a key's state are deleted by compaction, lowest seq first.
 *   `value` and `will_value` are MessagePack-encoded payloads; `will_session` NULL = no
 *   will, `will_value` NULL with a session = the will deletes the key; `expires_at` is
 *   epoch ms or NULL.
 * realm_revision: the last revision assigned per realm. Kept apart from the log so a
 *   deletion still moves the realm's revision forward after compaction has removed its
 *   tombstone, and a revision is never handed out twice across restarts.
 *
 * Version 2, the queue store (sqlite-queues.ts holds its statements):
 * queue_message: one row per stored message. `seq` is store-wide and increasing, so it
 *   is the rowid: enqueues append to the end of one B-tree, and the queue store finds a
 *   message by seq alone (its in-memory index knows which seqs a queue holds, so there
 *   is no (queue, seq) index to keep up on every write). The small columns come first:
 *   loading reads them without walking a large payload's overflow pages. `size` is the
 *   bytes the message counts against its queue's limit; `attrs` is a MessagePack map or
 *   NULL (none), `payload` a MessagePack payload; times are epoch ms.
 * queue_attrs: attrs replaced after the message was written, by seq (they win over
 *   queue_message.attrs). Apart, because SQLite rewrites a whole row to change one column:
 *   marking a 16 KB message in flight cost as much as inserting it again (45 vs 49 ms per
 *   500), where a row here costs the same whatever the payload.
 * queue_record: small durable records by (kind, id), MessagePack values.
 * queue_meta: `last_seq`, the highest seq ever handed out, so a seq is never reused
 *   even after every message holding one has been removed.
 *
 * Version 3, the aggregate engine (lib/aggregate/table-store.ts holds its statements):
 * agg_row: every table's rows by (table, encoded primary key); `row` is the JSON row,
 *   `state` (aggregate tables) the group's running counts and exact sums, `revision`
 *   the change that last touched the row.
 * agg_extreme: the values each min/max field of a group aggregates, ordered, so the new
 *   extreme is one index seek when the current one goes. `src` names the contributor.
 * agg_meta: `revision` (the last handed out) and `definitions` (the fingerprint of the
 *   definitions the aggregates were computed with).
 *
 * Version 4, message bodies stored once (issue 16: a message queued for K offline MQTT
 * sessions was written K times, 0.59 MB published grew the file by 287 MB):
 * queue_body: a shared message's topic and payload, by id (the seq of the first message
 *   that stored it). Enqueues of the same message in one turn (one publish fanned out to
 *   many queues) share one body.
 * queue_message.body: the shared body a message refers to; its own topic and payload are
 *   then empty. NULL for a message no other shares a body with (and in rows written
 *   before version 4): its topic and payload are inline, one row as before. There is no
 *   refcount on disk: the references are the queue_message rows, counted at load, and a
 *   body is deleted in the batch that deletes its last reference.
 */
const MIGRATIONS: readonly ((db: Database) => void)[] = [
  (db) =>
    db.exec(`
      CREATE TABLE retained_log (
        seq          INTEGER PRIMARY KEY,
        realm        TEXT    NOT NULL,
        key          TEXT    NOT NULL,
        value        BLOB,
        revision     INTEGER NOT NULL,
        expires_at   INTEGER,
        will_session INTEGER,
        will_value   BLOB
      );
      CREATE TABLE realm_revision (
        realm    TEXT    PRIMARY KEY,
        revision INTEGER NOT NULL
      ) WITHOUT ROWID;
    `),
  (db) =>
    db.exec(`
      CREATE TABLE queue_message (
        seq         INTEGER PRIMARY KEY,
        queue       TEXT    NOT NULL,
        size        INTEGER NOT NULL,
        enqueued_at INTEGER NOT NULL,
        expires_at  INTEGER,
        topic       TEXT    NOT NULL,
        attrs       BLOB,
        payload     BLOB    NOT NULL
      );
      CREATE TABLE queue_attrs (
        seq   INTEGER PRIMARY KEY,
        attrs BLOB    NOT NULL
      );
      CREATE TABLE queue_record (
        kind  TEXT NOT NULL,
        id    TEXT NOT NULL,
        value BLOB NOT NULL,
        PRIMARY KEY (kind, id)
      ) WITHOUT ROWID;
      CREATE TABLE queue_meta (
        name  TEXT    PRIMARY KEY,
        value INTEGER NOT NULL
      ) WITHOUT ROWID;
    `),
  (db) =>
    db.exec(`
      CREATE TABLE agg_row (
        tbl      TEXT    NOT NULL,
        pk       BLOB    NOT NULL,
        row      TEXT    NOT NULL,
        state    TEXT,
        revision INTEGER NOT NULL,
        PRIMARY KEY (tbl, pk)
      ) WITHOUT ROWID;
      CREATE TABLE agg_extreme (
        tbl   TEXT NOT NULL,
        grp   BLOB NOT NULL,
        field TEXT NOT NULL,
        value ANY  NOT NULL,
        src   BLOB NOT NULL,
        PRIMARY KEY (tbl, grp, field, value, src)
      ) WITHOUT ROWID;
      CREATE TABLE agg_meta (
        name  TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) WITHOUT ROWID;
    `),
  (db) =>
    db.exec(`
      ALTER TABLE queue_message ADD COLUMN body INTEGER;
      CREATE TABLE queue_body (
        id      INTEGER PRIMARY KEY,
        topic   TEXT    NOT NULL,
        payload BLOB    NOT NULL
      );
    `),
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export function migrate(db: Database): void {
  const from = db.pragma('user_version', { simple: true }) as number;
  if (from > SCHEMA_VERSION) {
    // a downgrade: this build cannot read what a newer one wrote
    throw new RouterError(
      Errors.featureNotSupported,
      `store schema version ${from} is newer than this build supports (${SCHEMA_VERSION})`,
    );
  }
  for (let v = from; v < SCHEMA_VERSION; v++) {
    const step = MIGRATIONS[v] as (db: Database) => void;
    db.transaction(() => {
      step(db);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

export interface LogRow {
  seq: number;
  realm: string;
  key: string;
  /** null: tombstone */
  value: Buffer | null;
  revision: number;
  expires_at: number | null;
  will_session: number | null;
  will_value: Buffer | null;
}

export interface RevisionRow {
  realm: string;
  revision: number;
}

export const SQL = {
  append: `INSERT INTO retained_log (seq, realm, key, value, revision, expires_at, will_session, will_value)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  deleteRow: `DELETE FROM retained_log WHERE seq = ?`,
  setRevision: `INSERT INTO realm_revision (realm, revision) VALUES (?, ?)
                ON CONFLICT (realm) DO UPDATE SET revision = excluded.revision`,
  loadLog: `SELECT seq, realm, key, value, revision, expires_at, will_session, will_value
            FROM retained_log ORDER BY seq`,
  loadRevisions: `SELECT realm, revision FROM realm_revision`,
} as const;
