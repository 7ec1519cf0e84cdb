/**
 * Table access by RPC, for clients of any protocol (each result is the single
 * positional result):
 *   gatehouse.table.list()                                  -> { tables: [...] }
 *   gatehouse.table.get({ table, key })                     -> { row: row | null }
 *   gatehouse.table.query({ table, prefix?, order?, limit?, after? }) -> { rows, next }
 * `prefix` gives leading primary-key fields; rows come in primary-key order; `next` is
 * the cursor of the following page (pass it as `after`), null on the last page.
 */
import { Errors, RouterError } from '../errors';
import type { MetaProcedure } from '../meta-api';
import { isPlainObject, type Payload } from '../payload';
import type { Session } from '../session';
import { after } from '../settle';
import type { AggregateEngine } from './engine';
import { cursorOf, encodeKey, fitsKey, keyFromCursor, prefixEnd } from './key-codec';
import type { Row, TableDef } from './types';

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

/**
 * What a caller may read (README "Authorization"): a table's rows are the data of its
 * change feed `<topic>.changes`, so get and query need subscribe on it, and list shows
 * only the tables whose feed the caller may receive. Calling needs `call` (the realm).
 */
export interface TableReadGuard {
  authorize(caller: Session, action: 'subscribe', uri: string): Promise<void> | undefined;
  mayReceive(caller: Session, topic: string): boolean;
}

const OPEN: TableReadGuard = { authorize: () => undefined, mayReceive: () => true };

export function tableProcedures(engine: AggregateEngine, guard: TableReadGuard = OPEN): Map<string, MetaProcedure> {
  const procs = new Map<string, MetaProcedure>();
  const feed = (t: TableDef): string => `${t.topic}.changes`;

  procs.set('gatehouse.table.list', (caller) => ({
    args: [
      {
        tables: [...engine.definitions.tables.values()]
          .filter((t) => guard.mayReceive(caller, feed(t)))
          .map((t) => ({
            name: t.name,
            topic: t.topic,
            primary_key: [...t.primaryKey],
            properties: t.properties,
            aggregate: t.aggregate ?? null,
          })),
      },
    ],
  }));

  procs.set('gatehouse.table.get', (caller, args, kw) => {
    const o = optionsOf(args, kw);
    const table = engine.table(o['table']);
    const key = o['key'];
    if (!isPlainObject(key))
      throw new RouterError(Errors.invalidArgument, `key must be an object of ${table.primaryKey.join(', ')}`);
    return after(guard.authorize(caller, 'subscribe', feed(table)), () => ({ args: [{ row: engine.get(table, key) }] }));
  });

  procs.set('gatehouse.table.query', (caller, args, kw) => {
    const o = optionsOf(args, kw);
    const table = engine.table(o['table']);
    return after(guard.authorize(caller, 'subscribe', feed(table)), () => queryPage(engine, table, o));
  });

  return procs;
}

function queryPage(engine: AggregateEngine, table: TableDef, o: Record<string, unknown>): Payload {
  const order = o['order'] ?? 'asc';
  if (order !== 'asc' && order !== 'desc') throw new RouterError(Errors.invalidArgument, 'order is "asc" or "desc"');
  const limitArg = o['limit'] ?? DEFAULT_LIMIT;
  if (typeof limitArg !== 'number' || !Number.isInteger(limitArg) || limitArg < 1)
    throw new RouterError(Errors.invalidArgument, 'limit is a positive integer');
  const limit = Math.min(limitArg, MAX_LIMIT);
  const from = prefixOf(table, o['prefix']);
  let after: Buffer | undefined;
  if (o['after'] !== undefined && o['after'] !== null) {
    after = typeof o['after'] === 'string' ? keyFromCursor(o['after']) : undefined;
    if (after === undefined) throw new RouterError(Errors.invalidArgument, 'after is a cursor from a previous page');
  }
  const range = from === undefined ? { after } : { from, to: prefixEnd(from), after };
  // one more than asked: whether there is a next page
  const rows = engine.page(table, order, limit + 1, range);
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return { args: [{ rows: page.map((r) => r.row), next: rows.length > limit && last ? cursorOf(last.pk) : null }] };
}

/** Options come as ArgumentsKw, or as one object argument (MQTT/STOMP bodies). */
function optionsOf(args: unknown[], kw: Record<string, unknown>): Record<string, unknown> {
  if (Object.keys(kw).length > 0) return kw;
  return isPlainObject(args[0]) ? args[0] : {};
}

/** The encoded leading key fields, or undefined for the whole table. */
function prefixOf(table: TableDef, prefix: unknown): Buffer | undefined {
  if (prefix === undefined || prefix === null) return undefined;
  if (!isPlainObject(prefix)) throw new RouterError(Errors.invalidArgument, 'prefix is an object of leading primary key fields');
  const given = Object.keys(prefix).length;
  const values: unknown[] = [];
  for (let i = 0; i < given; i++) {
    const field = table.primaryKey[i];
    const v = field === undefined ? undefined : (prefix as Row)[field];
    if (field === undefined || !fitsKey(table.keyTypes[i], v)) {
      throw new RouterError(
        Errors.invalidArgument,
        `prefix gives leading primary key fields of ${table.name}, in order: ${table.primaryKey.join(', ')}`,
      );
    }
    values.push(v);
  }
  return given === 0 ? undefined : encodeKey(table.keyTypes.slice(0, given), values);
}
