/**
 * The aggregate engine's SQL: rows, min/max contributions and two meta values, in the
 * store database (schema version 3, lib/store/sqlite-schema.ts). Only the engine's
 * commit (inside the shared transaction), its start-up and rebuild write here.
 */
import type { Database, Statement } from 'better-sqlite3';
import { KEY_MAX, KEY_MIN } from './key-codec';

export interface StoredRow {
  pk: Buffer;
  row: string;
  state: string | null;
  revision: number;
}

export type Order = 'asc' | 'desc';

/** A row as the turn in progress has it; `dirty` rows are written when the turn ends. */
interface TurnEntry {
  readonly table: string;
  readonly pk: Buffer;
  stored: StoredRow | undefined;
  dirty: boolean;
}

export class TableStore {
  private readonly getRow: Statement<[string, Buffer], StoredRow>;
  private readonly putRow: Statement<[string, Buffer, string, string | null, number]>;
  private readonly delRow: Statement<[string, Buffer]>;
  private readonly addExtreme: Statement<[string, Buffer, string, number | string, Buffer]>;
  private readonly delExtreme: Statement<[string, Buffer, string, number | string, Buffer]>;
  private readonly minOf: Statement<[string, Buffer, string], { value: number | string }>;
  private readonly maxOf: Statement<[string, Buffer, string], { value: number | string }>;
  private readonly getMeta: Statement<[string], { value: string }>;
  private readonly putMeta: Statement<[string, string]>;
  private readonly pages = new Map<string, Statement<unknown[], StoredRow>>();
  /**
   * Rows read and written during a commit's turn (beginTurn .. endTurn): a group that
   * many of the turn's publications touch is read once and written once.
   */
  private turn: Map<string, TurnEntry> | undefined;

  constructor(readonly db: Database) {
    this.getRow = db.prepare('SELECT pk, row, state, revision FROM agg_row WHERE tbl = ? AND pk = ?');
    this.putRow = db.prepare(
      'INSERT INTO agg_row (tbl, pk, row, state, revision) VALUES (?, ?, ?, ?, ?) ON CONFLICT (tbl, pk) DO UPDATE SET row = excluded.row, state = excluded.state, revision = excluded.revision',
    );
    this.delRow = db.prepare('DELETE FROM agg_row WHERE tbl = ? AND pk = ?');
    this.addExtreme = db.prepare('INSERT OR IGNORE INTO agg_extreme (tbl, grp, field, value, src) VALUES (?, ?, ?, ?, ?)');
    this.delExtreme = db.prepare('DELETE FROM agg_extreme WHERE tbl = ? AND grp = ? AND field = ? AND value = ? AND src = ?');
    this.minOf = db.prepare('SELECT value FROM agg_extreme WHERE tbl = ? AND grp = ? AND field = ? ORDER BY value ASC LIMIT 1');
    this.maxOf = db.prepare('SELECT value FROM agg_extreme WHERE tbl = ? AND grp = ? AND field = ? ORDER BY value DESC LIMIT 1');
    this.getMeta = db.prepare('SELECT value FROM agg_meta WHERE name = ?');
    this.putMeta = db.prepare('INSERT OR REPLACE INTO agg_meta (name, value) VALUES (?, ?)');
  }

  get(table: string, pk: Buffer): StoredRow | undefined {
    const turn = this.turn;
    if (turn === undefined) return this.getRow.get(table, pk);
    const id = `${table}\0${pk.toString('latin1')}`;
    const hit = turn.get(id);
    if (hit) return hit.stored;
    const stored = this.getRow.get(table, pk);
    turn.set(id, { table, pk, stored, dirty: false });
    return stored;
  }

  put(table: string, pk: Buffer, row: string, state: string | null, revision: number): void {
    if (this.turn === undefined) this.putRow.run(table, pk, row, state, revision);
    else this.turn.set(`${table}\0${pk.toString('latin1')}`, { table, pk, stored: { pk, row, state, revision }, dirty: true });
  }

  delete(table: string, pk: Buffer): void {
    if (this.turn === undefined) this.delRow.run(table, pk);
    else this.turn.set(`${table}\0${pk.toString('latin1')}`, { table, pk, stored: undefined, dirty: true });
  }

  /** Rows are kept in memory until endTurn() (inside the same transaction). */
  beginTurn(): void {
    this.turn = new Map();
  }

  /** Writes the turn's rows; `write: false` drops them (the transaction rolled back). */
  endTurn(write: boolean): void {
    const turn = this.turn;
    this.turn = undefined;
    if (!write || turn === undefined) return;
    for (const e of turn.values()) {
      if (!e.dirty) continue;
      if (e.stored === undefined) this.delRow.run(e.table, e.pk);
      else this.putRow.run(e.table, e.pk, e.stored.row, e.stored.state, e.stored.revision);
    }
  }

  /** Adds (sign 1) or removes (sign -1) one contribution to a min/max field. */
  extreme(sign: 1 | -1, table: string, group: Buffer, field: string, value: number | string, src: Buffer): void {
    (sign === 1 ? this.addExtreme : this.delExtreme).run(table, group, field, value, src);
  }

  /** The group's smallest (min) or largest (max) contribution to a field, or null. */
  extremeOf(fn: 'min' | 'max', table: string, group: Buffer, field: string): number | string | null {
    return (fn === 'min' ? this.minOf : this.maxOf).get(table, group, field)?.value ?? null;
  }

  /**
   * A page of rows with keys in [from, to), in key order, after `after` when given.
   * `to` defaults to above every key.
   */
  page(table: string, order: Order, limit: number, from: Buffer = KEY_MIN, to: Buffer = KEY_MAX, after?: Buffer): StoredRow[] {
    const name = `${order}:${after === undefined ? 0 : 1}`;
    let stmt = this.pages.get(name);
    if (!stmt) {
      const past = after === undefined ? '' : order === 'asc' ? ' AND pk > ?' : ' AND pk < ?';
      stmt = this.db.prepare(
        `SELECT pk, row, state, revision FROM agg_row WHERE tbl = ? AND pk >= ? AND pk < ?${past} ORDER BY pk ${order === 'asc' ? 'ASC' : 'DESC'} LIMIT ?`,
      );
      this.pages.set(name, stmt);
    }
    return after === undefined ? stmt.all(table, from, to, limit) : stmt.all(table, from, to, after, limit);
  }

  /** Every row of a table, in key order, without loading them all at once. */
  *scan(table: string): IterableIterator<StoredRow> {
    let after: Buffer | undefined;
    for (;;) {
      const rows = this.page(table, 'asc', 1000, KEY_MIN, KEY_MAX, after);
      yield* rows;
      if (rows.length < 1000) return;
      after = rows[rows.length - 1]?.pk;
    }
  }

  /** Removes a table's rows and its min/max contributions (rebuild). */
  clear(table: string): void {
    this.db.prepare('DELETE FROM agg_row WHERE tbl = ?').run(table);
    this.db.prepare('DELETE FROM agg_extreme WHERE tbl = ?').run(table);
  }

  meta(name: string): string | undefined {
    return this.getMeta.get(name)?.value;
  }

  setMeta(name: string, value: string): void {
    this.putMeta.run(name, value);
  }
}
