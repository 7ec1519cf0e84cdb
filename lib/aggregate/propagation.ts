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
import type { TableStore } from './table-store';
import type { AggregateFn, Definitions, PropagateRule, Row, RowChange, TableDef } from './types';

/** Hands out change revisions; the engine owns what is committed. */
export interface RevisionCounter {
  next(): number;
}

interface FieldState {
  /** non-null values counted */
  c: number;
  /** exact sum (sum, avg), ExactSum text */
  s?: string;
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

export class Propagator {
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
    const old = stored ? parseRow(stored.row) : null;
    const next = row !== null && table.filter !== undefined && !conditionHolds(table.filter, row) ? null : row;
    if (old === null && next === null) return;
    if (old !== null && next !== null && canonicalJson(old) === canonicalJson(next)) return;
    const revision = this.revisions.next();
    if (next === null) this.store.delete(table.name, pk);
    else this.store.put(table.name, pk, JSON.stringify(next), null, revision);
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
      const src = Buffer.concat([Buffer.from(`${table.name}\0${rule.index}\0`, 'utf8'), pk]);
      if (before !== undefined && after !== undefined && before.group.equals(after.group)) {
        if (sameFields(before.values, after.values, Object.keys(rule.fields))) continue;
        this.updateGroup(target, before, src, [[-1, before.values], [1, after.values]], out);
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
    const old = stored ? parseRow(stored.row) : null;
    const state: GroupState = stored?.state ? (JSON.parse(stored.state) as GroupState) : { n: 0, f: {} };
    const touched = new Set<string>();
    for (const [sign, values] of deltas) {
      state.n += sign;
      for (const [field, v] of Object.entries(values)) {
        const fn = fns[field];
        if (fn === undefined) continue;
        const acc = (state.f[field] ??= { c: 0 });
        if (fn === 'count') {
          if (v !== null && v !== undefined) acc.c += sign;
        } else if (fn === 'sum' || fn === 'avg') {
          if (typeof v !== 'number') continue;
          acc.c += sign;
          const sum = acc.s === undefined ? ExactSum.zero() : ExactSum.parse(acc.s);
          sum.add(v, sign);
          acc.s = sum.toString();
        } else if (typeof v === 'number' || typeof v === 'string') {
          acc.c += sign;
          this.store.extreme(sign, target.name, group, field, v, src);
          touched.add(field);
        }
      }
    }
    let next: Row | null = null;
    if (state.n > 0) {
      next = { ...at.key };
      for (const [field, fn] of Object.entries(fns)) {
        const acc = state.f[field];
        next[field] =
          (fn === 'min' || fn === 'max') && acc !== undefined && acc.c > 0 && (touched.has(field) || old === null)
            ? this.store.extremeOf(fn, target.name, group, field)
            : resultOf(fn, acc, old?.[field]);
      }
    }
    if (next === null) {
      this.store.delete(target.name, group);
    } else if (old !== null && stored && sameFields(old, next, Object.keys(fns))) {
      // the state moved (a null value came or went) but the row reads the same
      this.store.put(target.name, group, stored.row, JSON.stringify(state), stored.revision);
      return;
    }
    if (old === null && next === null) return;
    const revision = this.revisions.next();
    if (next !== null) this.store.put(target.name, group, JSON.stringify(next), JSON.stringify(state), revision);
    out.push(changeOf(target, old, next, revision));
    this.flow(target, group, old, next, out);
  }
}

/** An aggregate field's value from its state (min/max: the value it already has). */
function resultOf(fn: AggregateFn, acc: FieldState | undefined, current: unknown): unknown {
  const c = acc?.c ?? 0;
  switch (fn) {
    case 'count':
      return c;
    case 'sum':
      return acc?.s === undefined ? 0 : ExactSum.parse(acc.s).toNumber();
    case 'avg':
      return c === 0 || acc?.s === undefined ? null : ExactSum.parse(acc.s).toNumber() / c;
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
