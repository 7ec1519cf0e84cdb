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

/**
 * A row as the commit path holds it: the stored text and/or the parsed row, the group
 * state as text and/or as the propagator's object. Never changed once made (a write
 * makes a new one), so the same entry can sit in the turn and in the row cache; the
 * parsed forms are memoized from the texts and the texts from the parsed forms.
 */
export interface RowEntry {
  readonly pk: Buffer;
  text: string | undefined;
  row: unknown;
  stateText: string | null | undefined;
  state: unknown;
  readonly revision: number;
}

/** A row as the turn in progress has it; `dirty` rows are written when the turn ends. */
interface TurnEntry {
  readonly table: string;
  readonly pk: Buffer;
  entry: RowEntry | undefined;
  dirty: boolean;
}

/**
 * Rows kept in memory between turns (the committed state only). A group touched by
 * every turn is read from the database once, not once per turn; the least recently
 * written rows are dropped above this many.
 */
const CACHE_ROWS = 50_000;

function idOf(table: string, pk: Buffer): string {
  return `${table}\0${pk.toString('latin1')}`;
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
  private readonly clearRows: Statement<[string]>;
  private readonly clearExtremes: Statement<[string]>;
  private readonly pages = new Map<string, Statement<unknown[], StoredRow>>();
  /**
   * Rows read and written during a commit's turn (beginTurn .. endTurn): a group that
   * many of the turn's publications touch is read once and written once.
   */
  private turn: Map<string, TurnEntry> | undefined;
  /** the last turn written, until its transaction commits (keepTurn) or fails (forget) */
  private written: Map<string, TurnEntry> | undefined;
  /** committed rows (undefined: not known here, read the database) */
  private readonly cache = new Map<string, RowEntry>();

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
    this.clearRows = db.prepare('DELETE FROM agg_row WHERE tbl = ?');
    this.clearExtremes = db.prepare('DELETE FROM agg_extreme WHERE tbl = ?');
  }

  /** Row `pk` of `table`: the turn's version, else the cached one, else the database's. */
  get(table: string, pk: Buffer): RowEntry | undefined {
    const turn = this.turn;
    if (turn === undefined) return this.read(table, pk);
    const id = idOf(table, pk);
    const hit = turn.get(id);
    if (hit) return hit.entry;
    const entry = this.cache.get(id) ?? this.read(table, pk);
    turn.set(id, { table, pk, entry, dirty: false });
    return entry;
  }

  /** Row `pk` as the database has it (readers, outside the commit). */
  stored(table: string, pk: Buffer): StoredRow | undefined {
    return this.getRow.get(table, pk);
  }

  private read(table: string, pk: Buffer): RowEntry | undefined {
    const r = this.getRow.get(table, pk);
    return r && { pk, text: r.row, row: undefined, stateText: r.state, state: undefined, revision: r.revision };
  }

  /** Writes a row (given as text or as a parsed row, its state likewise). */
  put(table: string, entry: RowEntry): void {
    if (this.turn === undefined) {
      this.forget();
      this.putRow.run(table, entry.pk, textOf(entry), stateTextOf(entry), entry.revision);
    } else {
      this.turn.set(idOf(table, entry.pk), { table, pk: entry.pk, entry, dirty: true });
    }
  }

  delete(table: string, pk: Buffer): void {
    if (this.turn === undefined) {
      this.forget();
      this.delRow.run(table, pk);
    } else {
      this.turn.set(idOf(table, pk), { table, pk, entry: undefined, dirty: true });
    }
  }

  /** Rows are kept in memory until endTurn() (inside the same transaction). */
  beginTurn(): void {
    // a turn written but neither committed nor undone: the cache may be wrong
    if (this.written !== undefined) this.forget();
    this.turn = new Map();
  }

  /** Writes the turn's rows (inside the transaction); keepTurn() once it is committed. */
  endTurn(): void {
    const turn = this.turn;
    this.turn = undefined;
    if (turn === undefined) return;
    for (const e of turn.values()) {
      if (!e.dirty) continue;
      if (e.entry === undefined) this.delRow.run(e.table, e.pk);
      else this.putRow.run(e.table, e.pk, textOf(e.entry), stateTextOf(e.entry), e.entry.revision);
    }
    this.written = turn;
  }

  /** Drops the turn in progress (its savepoint rolled back); the cache is untouched. */
  dropTurn(): void {
    this.turn = undefined;
  }

  /** The last turn written is committed: its rows are now the cache's. */
  keepTurn(): void {
    const written = this.written;
    this.written = undefined;
    if (written === undefined) return;
    const cache = this.cache;
    for (const [id, e] of written) {
      cache.delete(id);
      if (e.entry !== undefined) cache.set(id, e.entry);
    }
    if (cache.size > CACHE_ROWS) {
      let drop = cache.size - CACHE_ROWS + (CACHE_ROWS >> 4);
      for (const id of cache.keys()) {
        if (drop-- <= 0) break;
        cache.delete(id);
      }
    }
  }

  /** Empties the row cache (a transaction rolled back, or rows were written outside a turn). */
  forget(): void {
    this.written = undefined;
    this.cache.clear();
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
    this.forget();
    this.clearRows.run(table);
    this.clearExtremes.run(table);
  }

  meta(name: string): string | undefined {
    return this.getMeta.get(name)?.value;
  }

  setMeta(name: string, value: string): void {
    this.putMeta.run(name, value);
  }
}

function textOf(e: RowEntry): string {
  return (e.text ??= JSON.stringify(e.row));
}

function stateTextOf(e: RowEntry): string | null {
  if (e.stateText === undefined) e.stateText = e.state === undefined || e.state === null ? null : JSON.stringify(e.state);
  return e.stateText;
}
