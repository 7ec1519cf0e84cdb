/**
 * `gatehouse rebuild [--verify]`: recomputes every aggregate table from its sources in
 * the store file and reports the rows that differed. Run it with the router stopped:
 * the router holds the database exclusively, so the command waits store.busyTimeoutMs
 * and fails while one is running.
 */
import path from 'node:path';
import type { Config } from '../config';
import { createLogger } from '../log';
import { StoreDatabase } from '../store/store-database';
import { loadDefinitions } from './definitions';
import { AggregateEngine } from './engine';

/** What the command prints at most, one line per differing row. */
const MAX_LINES = 100;

export interface RebuildOutcome {
  /** stdout lines */
  lines: string[];
  mismatches: number;
}

/** Throws DefinitionError for a bad definition, and the store's error for a busy file. */
export async function runRebuild(config: Config, opts: { verify: boolean }): Promise<RebuildOutcome> {
  const definitions = loadDefinitions(path.resolve(config.aggregate.dir));
  const database = new StoreDatabase({ ...config.store });
  const engine = new AggregateEngine(database, definitions, { log: createLogger({ level: 'warn' }) });
  engine.open({ rebuildOnChange: false });
  try {
    const lines: string[] = [];
    if (engine.definitionsChanged) lines.push('the stored aggregates were computed with other definitions (or never)');
    const report = engine.rebuild(!opts.verify);
    for (const m of report.mismatches.slice(0, MAX_LINES)) {
      lines.push(
        `mismatch ${m.table} ${JSON.stringify(m.key)}: stored ${JSON.stringify(m.stored)}, from sources ${JSON.stringify(m.expected)}`,
      );
    }
    if (report.mismatches.length > MAX_LINES) lines.push(`... and ${report.mismatches.length - MAX_LINES} more`);
    const verdict =
      report.mismatches.length === 0 ? 'all match' : opts.verify ? 'not changed (--verify)' : 'rewritten from the sources';
    lines.push(`${report.rows} aggregate rows in ${report.tables} tables, ${report.mismatches.length} mismatches: ${verdict}`);
    return { lines, mismatches: report.mismatches.length };
  } finally {
    await engine.close();
  }
}
