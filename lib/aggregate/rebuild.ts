/**
 * Rebuild: recomputes every aggregate table from the source tables' rows, as if each
 * source row had just been inserted, and compares the result with what was stored.
 * Rows that come out the same keep their revision. With `write: false` (verify) the
 * recomputation is rolled back and only the report remains.
 */
import { canonicalJson, parseRow, type Propagator } from './propagation';
import type { StoredRow, TableStore } from './table-store';
import type { Definitions, Row, RowChange } from './types';

export interface Mismatch {
  table: string;
  key: Row;
  /** what was stored (null: no row) */
  stored: Row | null;
  /** what the sources give (null: no row) */
  expected: Row | null;
}

export interface RebuildReport {
  /** aggregate tables recomputed */
  tables: number;
  /** aggregate rows the sources give */
  rows: number;
  mismatches: Mismatch[];
  /** whether the recomputed rows were kept */
  written: boolean;
}

class Rollback extends Error {}

export function rebuildAggregates(
  store: TableStore,
  defs: Definitions,
  propagator: Propagator,
  write: boolean,
  /** runs inside the transaction when the result is kept (the engine saves its meta) */
  keep: () => void = () => undefined,
): RebuildReport {
  const report: RebuildReport = { tables: 0, rows: 0, mismatches: [], written: write };
  const aggregates = [...defs.tables.values()].filter((t) => t.aggregate !== undefined);
  const sources = [...defs.tables.values()].filter((t) => t.aggregate === undefined);
  const run = store.db.transaction(() => {
    const before = new Map<string, Map<string, StoredRow>>();
    for (const t of aggregates) {
      const rows = new Map<string, StoredRow>();
      for (const r of store.scan(t.name)) rows.set(r.pk.toString('hex'), r);
      before.set(t.name, rows);
      store.clear(t.name);
    }
    const discard: RowChange[] = [];
    for (const t of sources) {
      for (const r of store.scan(t.name)) {
        propagator.flow(t, r.pk, null, parseRow(r.row), discard);
        discard.length = 0;
      }
    }
    for (const t of aggregates) {
      report.tables++;
      const old = before.get(t.name) ?? new Map<string, StoredRow>();
      for (const r of store.scan(t.name)) {
        report.rows++;
        const id = r.pk.toString('hex');
        const was = old.get(id);
        old.delete(id);
        const expected = parseRow(r.row);
        if (was && canonicalJson(parseRow(was.row)) === canonicalJson(expected)) {
          store.put(t.name, {
            pk: r.pk,
            text: r.row,
            row: undefined,
            stateText: r.state,
            state: undefined,
            revision: was.revision,
          });
          continue;
        }
        report.mismatches.push({
          table: t.name,
          key: keyOf(t.primaryKey, expected),
          stored: was ? parseRow(was.row) : null,
          expected,
        });
      }
      for (const was of old.values()) {
        const stored = parseRow(was.row);
        report.mismatches.push({ table: t.name, key: keyOf(t.primaryKey, stored), stored, expected: null });
      }
    }
    if (!write) throw new Rollback();
    keep();
  });
  try {
    run();
  } catch (err) {
    if (!(err instanceof Rollback)) throw err;
  }
  return report;
}

function keyOf(fields: readonly string[], row: Row): Row {
  const key: Row = {};
  for (const f of fields) key[f] = row[f];
  return key;
}
