/**
 * Incremental propagation, inside the transaction of the turn's commit. A row change
 * (old -> new) of any table takes the old row's contribution out of its group in each
 * target and puts the new one in: an update moves the difference, a delete removes the
 * contribution, a row whose group key changed leaves one group for another, and a row
 * published again unchanged does nothing. Every aggregate row that changes flows on
 * into the tables it propagates to (chains), in the same transaction.
 *
 * A group keeps its running state in agg_row.state: contributors, and per field the
 * count of non-null values and an exact sum (sum, avg). min/max read the group's
 * ordered contributions (agg_extreme), so deleting the extreme finds the next one.
 */
import { conditionHolds } from '../condition';
import { ExactSum } from './exact-sum';
import { encodeKey, keyValues } from './key-codec';
import type { RowEntry, TableStore } from './table-store';
import type { AggregateFn, Definitions, PropagateRule, Row, RowChange, TableDef } from './types';

/** Hands out change revisions; the engine owns what is committed. */
export interface RevisionCounter {
  next(): number;
}

interface FieldState {
  /** non-null values counted */
  c: number;
  /** exact sum (sum, avg); stored as its text */
  s?: ExactSum;
}

interface GroupState {
  /** contributions, null values included: the group exists while there is one */
  n: number;
  f: Record<string, FieldState>;
}

interface Contribution {
  group: Buffer;
  key: Row;
  values: Row;
}

/**
 * What a min/max field's extreme is known to be while a group is updated: a number, not
 * known (the index seek decides), no value yet, or `past`: the extreme was removed and
 * every value left is no better than it.
 */
const UNKNOWN = Symbol('unknown');
const EMPTY = Symbol('empty');
type Extreme = number | typeof UNKNOWN | typeof EMPTY | { readonly past: number };

export class Propagator {
  /** the first bytes of a contribution's `src`, per rule of each table */
  private readonly srcPrefixes = new Map<PropagateRule, Buffer>();

  constructor(
    private readonly defs: Definitions,
    private readonly store: TableStore,
    private readonly revisions: RevisionCounter,
  ) {}

  /**
   * A source table's row `pk` becomes `row` (null: deleted). A row its table's filter
   * does not hold for is not kept: it deletes the stored row with its key.
   */
  applySource(table: TableDef, pk: Buffer, row: Row | null, out: RowChange[]): void {
    const stored = this.store.get(table.name, pk);
    const old = stored ? rowOfEntry(stored) : null;
    const next = row !== null && table.filter !== undefined && !conditionHolds(table.filter, row) ? null : row;
    if (old === null && next === null) return;
    if (old !== null && next !== null && sameJson(old, next)) return;
    const revision = this.revisions.next();
    // the row is kept as its text: what a later change reads as `old` is what was stored
    if (next === null) this.store.delete(table.name, pk);
    else
      this.store.put(table.name, { pk, text: JSON.stringify(next), row: undefined, stateText: null, state: undefined, revision });
    out.push(changeOf(table, old, next, revision));
    this.flow(table, pk, old, next, out);
  }

  /** Moves the contributions of row `pk` of `table` from `old` to `next` in every target. */
  flow(table: TableDef, pk: Buffer, old: Row | null, next: Row | null, out: RowChange[]): void {
    for (const rule of table.propagate) {
      const target = this.defs.tables.get(rule.to);
      if (!target) continue; // definitions are checked at load: every target exists
      const before = contributionOf(rule, target, old);
      const after = contributionOf(rule, target, next);
      if (before === undefined && after === undefined) continue;
      let prefix = this.srcPrefixes.get(rule);
      if (prefix === undefined) this.srcPrefixes.set(rule, (prefix = Buffer.from(`${table.name}\0${rule.index}\0`, 'utf8')));
      const src = Buffer.concat([prefix, pk]);
      if (before !== undefined && after !== undefined && before.group.equals(after.group)) {
        if (sameFields(before.values, after.values, Object.keys(rule.fields))) continue;
        this.updateGroup(
          target,
          before,
          src,
          [
            [-1, before.values],
            [1, after.values],
          ],
          out,
        );
        continue;
      }
      if (before !== undefined) this.updateGroup(target, before, src, [[-1, before.values]], out);
      if (after !== undefined) this.updateGroup(target, after, src, [[1, after.values]], out);
    }
  }

  private updateGroup(target: TableDef, at: Contribution, src: Buffer, deltas: readonly [1 | -1, Row][], out: RowChange[]): void {
    const fns = target.aggregate ?? {};
    const { group } = at;
    const stored = this.store.get(target.name, group);
    const old = stored ? rowOfEntry(stored) : null;
    const prev = stored ? stateOf(stored) : null;
    // a new state: the stored one may be the cache's, and the turn may roll back
    const state: GroupState = { n: prev?.n ?? 0, f: { ...prev?.f } };
    /** min/max fields touched, with their extreme as far as it is known without a seek */
    const touched = new Map<string, Extreme>();
    for (const [sign, values] of deltas) {
      state.n += sign;
      for (const [field, v] of Object.entries(values)) {
        const fn = fns[field];
        if (fn === undefined) continue;
        const was = state.f[field];
        const acc: FieldState = was === undefined ? { c: 0 } : { ...was };
        state.f[field] = acc;
        if (fn === 'count') {
          if (v !== null && v !== undefined) acc.c += sign;
        } else if (fn === 'sum' || fn === 'avg') {
          if (typeof v !== 'number') continue;
          acc.c += sign;
          acc.s = (acc.s ?? ExactSum.zero()).plus(v, sign);
        } else if (typeof v === 'number' || typeof v === 'string') {
          const known = touched.get(field) ?? (acc.c > 0 ? knownNumber(old?.[field]) : EMPTY);
          touched.set(field, moveExtreme(fn, known, sign, v));
          acc.c += sign;
          this.store.extreme(sign, target.name, group, field, v, src);
        }
      }
    }
    let next: Row | null = null;
    if (state.n > 0) {
      next = { ...at.key };
      for (const [field, fn] of Object.entries(fns)) {
        const acc = state.f[field];
        const known = touched.get(field);
        if ((fn === 'min' || fn === 'max') && acc !== undefined && acc.c > 0 && (known !== undefined || old === null)) {
          next[field] = typeof known === 'number' ? known : this.store.extremeOf(fn, target.name, group, field);
        } else {
          next[field] = resultOf(fn, acc, old?.[field]);
        }
      }
    }
    if (next === null) {
      this.store.delete(target.name, group);
    } else if (old !== null && stored && sameFields(old, next, Object.keys(fns))) {
      // the state moved (a null value came or went) but the row reads the same
      this.store.put(target.name, {
        pk: group,
        text: stored.text,
        row: stored.row,
        stateText: undefined,
        state,
        revision: stored.revision,
      });
      return;
    }
    if (old === null && next === null) return;
    const revision = this.revisions.next();
    if (next !== null)
      this.store.put(target.name, { pk: group, text: undefined, row: asStored(next), stateText: undefined, state, revision });
    out.push(changeOf(target, old, next, revision));
    this.flow(target, group, old, next, out);
  }
}

/**
 * A min/max field's current value when it is a plain number (what the index seek would
 * give back unchanged); anything else is left to the seek.
 */
function knownNumber(v: unknown): number | typeof UNKNOWN {
  return typeof v === 'number' && Number.isFinite(v) && !Object.is(v, -0) ? v : UNKNOWN;
}

/**
 * The extreme after adding (sign 1) or removing (sign -1) one value: adding a number
 * compares it with a known extreme (or with the one just removed: a value at least as
 * good is the new extreme); removing a value other than the extreme leaves it. Anything
 * else (a non-number, a value worse than the removed extreme) needs the index seek.
 */
function moveExtreme(fn: 'min' | 'max', known: Extreme, sign: 1 | -1, v: number | string): Extreme {
  const n = knownNumber(v);
  if (n === UNKNOWN || known === UNKNOWN) return UNKNOWN;
  if (sign === 1) {
    if (known === EMPTY) return n;
    if (typeof known === 'number') return (fn === 'min' ? n < known : n > known) ? n : known;
    return (fn === 'min' ? n <= known.past : n >= known.past) ? n : UNKNOWN;
  }
  if (known === EMPTY) return UNKNOWN;
  if (typeof known === 'number') return n === known ? { past: known } : known;
  return known;
}

/** The row of an entry, parsed once; never changed after. */
function rowOfEntry(e: RowEntry): Row {
  if (e.row === undefined) e.row = parseRow(e.text ?? 'null');
  return e.row as Row;
}

/** The group state of an entry, parsed once (sums as ExactSum); never changed after. */
function stateOf(e: RowEntry): GroupState | null {
  if (e.state === undefined) {
    if (!e.stateText) {
      e.state = null;
    } else {
      const parsed = JSON.parse(e.stateText) as { n: number; f: Record<string, { c: number; s?: string }> };
      const f: Record<string, FieldState> = {};
      for (const [field, acc] of Object.entries(parsed.f))
        f[field] = acc.s === undefined ? { c: acc.c } : { c: acc.c, s: ExactSum.parse(acc.s) };
      e.state = { n: parsed.n, f };
    }
  }
  return e.state as GroupState | null;
}

/**
 * An aggregate row as it reads back from its JSON text (-0 is stored as 0): the cache
 * hands it out as a later change's `old`, which must be what the database would give.
 */
function asStored(row: Row): Row {
  for (const v of Object.values(row)) if (Object.is(v, -0)) return parseRow(JSON.stringify(row));
  return row;
}

/**
 * Are two rows equal as JSON values, whatever their key order? A top-level scalar that
 * differs answers at once; otherwise their canonical JSON texts are compared.
 */
function sameJson(a: Row, b: Row): boolean {
  for (const k in b) {
    const x = a[k];
    const y = b[k];
    if (x !== y && isScalar(x) && isScalar(y)) return false;
  }
  return canonicalJson(a) === canonicalJson(b);
}

/** A value whose JSON text is equal for equal values only (=== decides). */
function isScalar(v: unknown): boolean {
  return typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
}

/** An aggregate field's value from its state (min/max: the value it already has). */
function resultOf(fn: AggregateFn, acc: FieldState | undefined, current: unknown): unknown {
  const c = acc?.c ?? 0;
  switch (fn) {
    case 'count':
      return c;
    case 'sum':
      return acc?.s === undefined ? 0 : acc.s.toNumber();
    case 'avg':
      return c === 0 || acc?.s === undefined ? null : acc.s.toNumber() / c;
    default:
      return c === 0 ? null : (current ?? null);
  }
}

/** What `row` gives the rule's target: its group and its values; undefined for none. */
function contributionOf(rule: PropagateRule, target: TableDef, row: Row | null): Contribution | undefined {
  if (row === null) return undefined;
  if (rule.filter !== undefined && !conditionHolds(rule.filter, row)) return undefined;
  const key: Row = {};
  for (const field of target.primaryKey) key[field] = row[rule.key[field] ?? ''];
  // a row without a usable group key (missing, or null) belongs to no group
  const values = keyValues(target.primaryKey, target.keyTypes, key);
  if (values === undefined) return undefined;
  const contributed: Row = {};
  for (const [field, source] of Object.entries(rule.fields)) contributed[field] = row[source] ?? null;
  return { group: encodeKey(target.keyTypes, values), key, values: contributed };
}

/** Do two rows hold the same scalar values in these fields? (aggregate rows, contributions) */
function sameFields(a: Row, b: Row, fields: readonly string[]): boolean {
  for (const f of fields) if (!Object.is(a[f] ?? null, b[f] ?? null)) return false;
  return true;
}

function changeOf(table: TableDef, old: Row | null, next: Row | null, revision: number): RowChange {
  const from = (next ?? old) as Row;
  const key: Row = {};
  for (const f of table.primaryKey) key[f] = from[f];
  return { table, op: old === null ? 'insert' : next === null ? 'delete' : 'update', key, old, new: next, revision };
}

export function parseRow(text: string): Row {
  return JSON.parse(text) as Row;
}

/** JSON with object keys sorted: equal for rows equal as values, whatever their key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}
