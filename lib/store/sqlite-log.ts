import type Database from 'better-sqlite3';
import { decodePayload, decodeStoredValue } from './codec';
import { DeadRows } from './dead-rows';
import { SQL, type LogRow, type RevisionRow } from './sqlite-schema';
import { makeEntry } from './memory-index';
import type { StoreEntry, StoreWill } from './types';

/** One key's change to persist: its new entry, or a deletion. */
export interface LogOp {
  readonly realm: string;
  readonly key: string;
  /** the entry after the change; undefined for a deletion */
  readonly entry: StoreEntry | undefined;
  /** the revision of the change (the entry's, or the deletion's) */
  readonly revision: number;
  /** encoded entry value; undefined for a deletion */
  readonly value: Buffer | undefined;
  /** encoded will value; null = no will, or a will that deletes the key */
  readonly willValue: Buffer | null;
  /** the key's committed entry before this batch, if it had one */
  readonly before: StoreEntry | undefined;
}

/** A batch written inside a transaction the caller owns, awaiting that transaction's outcome. */
export interface StagedCommit {
  /** the enclosing transaction committed: note which rows now hold what */
  committed(): void;
  /** it rolled back: take the batch's compaction victims back */
  failed(): void;
}

/** compaction waits until this many rows are dead, or as many as there are live keys */
const MIN_DEAD_ROWS = 4096;

interface CommitArgs {
  ops: readonly LogOp[];
  firstSeq: number;
  revisionOf: (realm: string) => number;
  victims: readonly number[];
}

/**
 * The SQLite side of the store: an append-only log of key states (see sqlite-schema.ts)
 * and nothing else. It knows which row holds each committed entry, so a superseding
 * write can mark the old row dead, and it deletes dead rows a slice per commit. All SQL
 * lives here and in sqlite-schema.ts.
 */
export class SqliteLog {
  private readonly commitTx: (args: CommitArgs) => void;
  /** the log row that holds each committed entry */
  private readonly seqOf = new WeakMap<StoreEntry, number>();
  private readonly dead = new DeadRows();
  private nextSeq = 1;

  /** `db` is open and migrated (StoreDatabase), and shared with the other engines */
  constructor(private readonly db: Database.Database) {
    const append = db.prepare<[number, string, string, Buffer | null, number, number | null, number | null, Buffer | null]>(
      SQL.append,
    );
    const deleteRow = db.prepare<[number]>(SQL.deleteRow);
    const setRevision = db.prepare<[string, number]>(SQL.setRevision);
    this.commitTx = db.transaction(({ ops, firstSeq, revisionOf, victims }: CommitArgs) => {
      let seq = firstSeq;
      const realms = new Set<string>();
      for (const op of ops) {
        const e = op.entry;
        if (e !== undefined) {
          append.run(
            seq++,
            e.realm,
            e.key,
            op.value ?? null,
            e.revision,
            e.expiresAt ?? null,
            e.will?.session ?? null,
            op.willValue,
          );
        } else if (op.before !== undefined) {
          // a tombstone hides the key's older rows until compaction has removed them
          append.run(seq++, op.realm, op.key, null, op.revision, null, null, null);
        }
        realms.add(op.realm);
      }
      for (const realm of realms) setRevision.run(realm, revisionOf(realm));
      for (const seqToDrop of victims) deleteRow.run(seqToDrop);
    });
  }

  /**
   * Reads the log: hands over each key's current entry and each realm's revision, and
   * deletes the dead rows found on the way (compaction keeps them near the number of
   * live keys, so this is bounded work).
   */
  load(onEntry: (entry: StoreEntry) => void, onRevision: (realm: string, revision: number) => void): void {
    const latest = new Map<string, LogRow>();
    for (const row of this.db.prepare<[], LogRow>(SQL.loadLog).iterate()) {
      const id = `${row.realm}\u0000${row.key}`;
      const older = latest.get(id);
      if (older !== undefined) this.dead.add(older.seq);
      latest.set(id, row);
      onRevision(row.realm, row.revision);
      this.nextSeq = row.seq + 1;
    }
    for (const row of latest.values()) {
      if (row.value === null) {
        this.dead.add(row.seq);
        continue;
      }
      const will: StoreWill | undefined =
        row.will_session === null
          ? undefined
          : { session: row.will_session, value: row.will_value === null ? null : decodePayload(row.will_value) };
      const stored = decodeStoredValue(row.value);
      const entry = makeEntry(row.realm, row.key, stored.value, row.revision, row.expires_at ?? undefined, will, stored.meta);
      this.seqOf.set(entry, row.seq);
      onEntry(entry);
    }
    for (const row of this.db.prepare<[], RevisionRow>(SQL.loadRevisions).iterate()) onRevision(row.realm, row.revision);
    if (this.dead.size > 0) {
      const victims = this.dead.takeLowest(this.dead.size);
      this.commitTx({ ops: [], firstSeq: this.nextSeq, revisionOf: () => 0, victims });
    }
  }

  /**
   * Appends the ops with a slice of compaction, inside the transaction the caller
   * (StoreDatabase) has open, as a savepoint: throws, having changed nothing, if a
   * statement fails. Which rows died is noted only in `committed()`, once the enclosing
   * transaction is durable: a row superseded by a batch that then rolls back still
   * holds its key's state, and compaction must never delete it.
   */
  stage(ops: readonly LogOp[], revisionOf: (realm: string) => number, liveKeys: number): StagedCommit {
    // compaction deletes twice what a batch can add, so dead rows stay near the bound
    const victims = this.dead.size > Math.max(MIN_DEAD_ROWS, liveKeys) ? this.dead.takeLowest(Math.max(256, 2 * ops.length)) : [];
    const firstSeq = this.nextSeq;
    const giveBack = (): void => {
      for (const seq of victims) this.dead.add(seq);
    };
    try {
      this.commitTx({ ops, firstSeq, revisionOf, victims });
    } catch (err) {
      giveBack();
      throw err;
    }
    return {
      committed: () => {
        // same walk as in the transaction: note which row holds what, and what died
        let seq = firstSeq;
        for (const op of ops) {
          const old = op.before === undefined ? undefined : this.seqOf.get(op.before);
          if (old !== undefined) this.dead.add(old);
          if (op.entry !== undefined) this.seqOf.set(op.entry, seq++);
          else if (op.before !== undefined) this.dead.add(seq++);
        }
        this.nextSeq = seq;
      },
      failed: giveBack,
    };
  }

  get deadRows(): number {
    return this.dead.size;
  }
}
