/**
 * The aggregate engine: schema-driven materialized tables in the store database.
 *
 * A publication to a source table's topic is validated at once (a bad row throws, so
 * the publisher is refused and nothing changes), then queued as one op of the turn's
 * group commit. In the commit's transaction the turn's ops run in one savepoint: each
 * row is written and propagated through every aggregate it feeds, chains included; an
 * op that fails is rolled back alone. The publisher's ack waits for the commit; the
 * change feed is published once the transaction is durable, so subscribers never see
 * a change the disk refused, and what a `retained` subscriber reads from the tables is
 * exactly what was published.
 */
import type { Database } from 'better-sqlite3';
import type { Counter } from 'prom-client';
import { Errors, RouterError } from '../errors';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import { isPlainObject, type Payload } from '../payload';
import type { EnqueueOp, StoreDatabase } from '../store/store-database';
import { patternMatches, type TopicPattern } from '../topic';
import { encodeKey, keyValues } from './key-codec';
import { parseRow, Propagator } from './propagation';
import { rebuildAggregates, type RebuildReport } from './rebuild';
import { TableStore } from './table-store';
import type { Definitions, Row, RowChange, TableDef } from './types';

/** What a table topic is for. */
type RouteKind = 'upsert' | 'delete' | 'changes';

interface Route {
  readonly table: TableDef;
  readonly kind: RouteKind;
}

/** One accepted publication, applied in the commit. */
interface TableOp {
  readonly table: TableDef;
  readonly pk: Buffer;
  /** null: delete */
  readonly row: Row | null;
  changes: RowChange[];
  error?: RouterError;
}

/** Where change events go: the realm's broker. */
export interface ChangeSink {
  publish(topic: string, payload: Payload, revision: number): void;
}

export interface AggregateEngineOptions {
  log: Logger;
  metrics?: Metrics;
}

export class AggregateEngine {
  readonly definitions: Definitions;
  private readonly routes = new Map<string, Route>();
  private readonly enqueue: EnqueueOp<TableOp>;
  private readonly log: Logger;
  private readonly counters = new Map<string, Counter.Internal>();
  private store: TableStore | undefined;
  private propagator: Propagator | undefined;
  /** applies ops in one savepoint; `applying` is the op in progress (the one that threw) */
  private applyAll: ((ops: readonly TableOp[]) => void) | undefined;
  private applying: TableOp | undefined;
  private sink: ChangeSink | undefined;
  /** the last revision handed out, and the last one committed */
  private revision = 0;
  private committedRevision = 0;
  private seq = 0;
  private state: 'new' | 'open' | 'closed' = 'new';

  constructor(
    private readonly database: StoreDatabase,
    definitions: Definitions,
    private readonly options: AggregateEngineOptions,
  ) {
    this.definitions = definitions;
    this.log = options.log;
    for (const table of definitions.tables.values()) {
      this.routes.set(table.topic, { table, kind: 'upsert' });
      this.routes.set(`${table.topic}.delete`, { table, kind: 'delete' });
      this.routes.set(`${table.topic}.changes`, { table, kind: 'changes' });
    }
    this.enqueue = database.join<TableOp>({
      write: (ops) => {
        this.write(ops);
      },
      committed: (ops) => {
        this.committed(ops);
      },
      undo: (ops) => {
        // the rows cached since the last commit may be the rolled-back ones
        this.store?.forget();
        this.revision = this.committedRevision;
        for (const op of ops) op.changes = [];
      },
      // every op has a key of its own: never folded
      coalesce: (_earlier, later) => later,
    });
  }

  /**
   * Opens the tables in the store database. When the definitions changed since the
   * aggregates were last computed, they are rebuilt from the source tables first.
   */
  open(opts: { rebuildOnChange?: boolean } = {}): void {
    // invariant, not a catalogue error: only the router's own start-up opens the engine
    if (this.state !== 'new') throw new Error('the aggregate engine opens once');
    const db = this.database.acquire();
    try {
      this.attachDatabase(db);
      const stored = this.tableStore.meta('definitions');
      if (stored !== this.definitions.fingerprint && opts.rebuildOnChange !== false) {
        const report = this.rebuild(true);
        this.log.info(
          { tables: report.tables, rows: report.rows, changed: report.mismatches.length, first: stored === undefined },
          'aggregate definitions changed: aggregates rebuilt from their sources',
        );
      }
    } catch (err) {
      void this.database.release();
      throw err;
    }
    this.state = 'open';
    this.log.info({ tables: [...this.definitions.tables.keys()] }, 'aggregate tables open');
  }

  private attachDatabase(db: Database): void {
    const store = new TableStore(db);
    this.store = store;
    this.revision = this.committedRevision = Number(store.meta('revision') ?? 0);
    const propagator = new Propagator(this.definitions, store, { next: () => ++this.revision });
    this.propagator = propagator;
    // a savepoint inside the commit's transaction, around the turn's ops
    this.applyAll = db.transaction((ops: readonly TableOp[]) => {
      store.beginTurn();
      try {
        for (const op of ops) {
          this.applying = op;
          propagator.applySource(op.table, op.pk, op.row, op.changes);
        }
        this.applying = undefined;
        store.endTurn();
      } catch (err) {
        // the savepoint rolls back: the turn's rows are dropped with it
        store.dropTurn();
        throw err;
      }
    });
  }

  /** Commits what is queued and lets go of the database. */
  async close(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'closed';
    this.sink = undefined;
    await this.database.release();
  }

  /** Were the stored aggregates computed with other definitions (or never)? */
  get definitionsChanged(): boolean {
    return this.tableStore.meta('definitions') !== this.definitions.fingerprint;
  }

  /** The realm whose broker carries the change feed. */
  attach(sink: ChangeSink): void {
    this.sink = sink;
  }

  private get tableStore(): TableStore {
    if (!this.store || this.state === 'closed') throw new RouterError(Errors.unavailable, 'the aggregate tables are closed');
    return this.store;
  }

  // ----- publications -----

  /** Is this one of the tables' topics? */
  claims(topic: string): boolean {
    return this.routes.has(topic);
  }

  /**
   * Why no one may publish to this topic, whatever the payload: a change feed is the
   * router's, a computed table is written by its sources only. Undefined otherwise.
   */
  refusal(topic: string): RouterError | undefined {
    const route = this.routes.get(topic);
    if (route === undefined) return undefined;
    if (route.kind === 'changes') return new RouterError(Errors.notAuthorized, `${topic} is published by the router only`);
    if (route.table.aggregate !== undefined) {
      return new RouterError(
        Errors.notAuthorized,
        `table ${route.table.name} is computed from its sources; it cannot be published to`,
      );
    }
    return undefined;
  }

  /**
   * A publication to a table topic: validated now (throws RouterError, changing
   * nothing), applied in the turn's commit; resolves once that commit is durable.
   * Undefined for any other topic.
   */
  accept(topic: string, payload: Payload): Promise<void> | undefined {
    const route = this.routes.get(topic);
    if (route === undefined) return undefined;
    const { table, kind } = route;
    let op: TableOp;
    try {
      if (this.state !== 'open') throw new RouterError(Errors.unavailable, 'the aggregate tables are closed');
      const refused = this.refusal(topic);
      if (refused) throw refused;
      op = kind === 'upsert' ? this.upsertOp(table, payload) : this.deleteOp(table, payload);
    } catch (err) {
      if (err instanceof RouterError) {
        this.count(table.name, 'rejected');
        this.log.debug({ table: table.name, topic, reason: err.message }, 'table publication refused');
      }
      throw err;
    }
    return this.enqueue(String(this.seq++), op).then(() => {
      if (op.error) throw op.error;
    });
  }

  private upsertOp(table: TableDef, payload: Payload): TableOp {
    const row = rowOf(payload);
    if (row === undefined)
      throw new RouterError(Errors.invalidPayload, `table ${table.name}: a row is a JSON object (WAMP: ArgumentsKw)`);
    const validate = table.validate;
    if (validate && !validate(row)) {
      const e = validate.errors?.[0];
      const where = e ? e.instancePath || '/' : '/';
      throw new RouterError(Errors.invalidPayload, `table ${table.name}: ${where} ${e?.message ?? 'is invalid'}`, {
        errors: validate.errors ?? [],
      });
    }
    // the schema makes the key fields required and typed; keyValues checks once more
    const values = keyValues(table.primaryKey, table.keyTypes, row);
    if (values === undefined)
      throw new RouterError(
        Errors.invalidPayload,
        `table ${table.name}: the primary key (${table.primaryKey.join(', ')}) must be given`,
      );
    return { table, pk: encodeKey(table.keyTypes, values), row, changes: [] };
  }

  private deleteOp(table: TableDef, payload: Payload): TableOp {
    const key = rowOf(payload);
    const values = key === undefined ? undefined : keyValues(table.primaryKey, table.keyTypes, key);
    if (values === undefined) {
      throw new RouterError(
        Errors.invalidPayload,
        `table ${table.name}: a delete gives the primary key fields ${table.primaryKey.join(', ')} (${table.keyTypes.join(', ')})`,
      );
    }
    return { table, pk: encodeKey(table.keyTypes, values), row: null, changes: [] };
  }

  // ----- the commit -----

  /**
   * Applies the turn's ops in one savepoint. An op that throws (a bug, not bad input:
   * rows were checked on arrival) rolls the savepoint back; it alone is failed and the
   * others are applied again, so one bad op never takes the batch down.
   */
  private write(ops: readonly TableOp[]): void {
    const applyAll = this.applyAll;
    if (!applyAll) throw new RouterError(Errors.unavailable, 'the aggregate tables are closed');
    const base = this.revision;
    let pending = ops;
    for (;;) {
      try {
        applyAll(pending);
        break;
      } catch (err) {
        const bad = this.applying;
        this.applying = undefined;
        this.revision = base;
        for (const op of pending) op.changes = [];
        // not an op's fault (the savepoint itself failed): the whole commit fails
        if (bad === undefined) throw err;
        bad.error = new RouterError(
          Errors.internal,
          `table ${bad.table.name}: ${err instanceof Error ? err.message : String(err)}`,
        );
        this.log.error({ err, table: bad.table.name }, 'applying a table publication failed');
        pending = pending.filter((op) => op !== bad);
      }
    }
    if (this.revision !== this.committedRevision) this.store?.setMeta('revision', String(this.revision));
  }

  private committed(ops: readonly TableOp[]): void {
    this.store?.keepTurn();
    this.committedRevision = this.revision;
    for (const op of ops) {
      this.count(op.table.name, op.error ? 'failed' : op.changes.length > 0 ? 'applied' : 'unchanged');
      for (const change of op.changes) this.publishChange(change);
      op.changes = [];
    }
  }

  private publishChange(c: RowChange): void {
    this.count(c.table.name, c.op);
    const kwargs = { table: c.table.name, op: c.op, key: c.key, old: c.old, new: c.new, revision: c.revision };
    this.sink?.publish(`${c.table.topic}.changes`, { kwargs }, c.revision);
  }

  private count(table: string, what: string): void {
    const metrics = this.options.metrics;
    if (!metrics) return;
    const id = `${table}\0${what}`;
    let c = this.counters.get(id);
    if (!c) this.counters.set(id, (c = metrics.aggregateEvents.labels(table, what)));
    c.inc();
  }

  // ----- reading -----

  /** Commits what is queued, so a read sees every publication that came before it. */
  private settled(): TableStore {
    const store = this.tableStore;
    void this.database.flush();
    return store;
  }

  table(name: unknown): TableDef {
    const t = typeof name === 'string' ? this.definitions.tables.get(name) : undefined;
    if (!t) throw new RouterError(Errors.invalidArgument, `no such table: ${String(name)}`);
    return t;
  }

  /** One row by its key fields, or null. */
  get(table: TableDef, key: Row): Row | null {
    const values = keyValues(table.primaryKey, table.keyTypes, key);
    if (values === undefined)
      throw new RouterError(Errors.invalidArgument, `table ${table.name}: key needs ${table.primaryKey.join(', ')}`);
    const stored = this.settled().stored(table.name, encodeKey(table.keyTypes, values));
    return stored ? parseRow(stored.row) : null;
  }

  /** Rows in key order from [from, to), after a key; see lib/aggregate/table-api.ts. */
  page(
    table: TableDef,
    order: 'asc' | 'desc',
    limit: number,
    range: { from?: Buffer; to?: Buffer; after?: Buffer },
  ): { pk: Buffer; row: Row }[] {
    return this.settled()
      .page(table.name, order, limit, range.from, range.to, range.after)
      .map((r) => ({ pk: r.pk, row: parseRow(r.row) }));
  }

  /**
   * The current rows of every table whose change feed matches a subscription, as
   * "insert" changes, for a `retained` subscriber. Reads the committed state: anything
   * not yet committed reaches the subscriber live, after these.
   */
  replay(pattern: TopicPattern, deliver: (topic: string, payload: Payload, revision: number) => void): void {
    if (this.state !== 'open') return;
    for (const table of this.definitions.tables.values()) {
      const topic = `${table.topic}.changes`;
      if (!patternMatches(pattern, topic)) continue;
      for (const r of this.tableStore.scan(table.name)) {
        const row = parseRow(r.row);
        const key: Row = {};
        for (const f of table.primaryKey) key[f] = row[f];
        deliver(
          topic,
          { kwargs: { table: table.name, op: 'insert', key, old: null, new: row, revision: r.revision } },
          r.revision,
        );
      }
    }
  }

  /**
   * Recomputes every aggregate from the source tables and reports what differed; with
   * `write` the result is kept. Runs synchronously, outside the group commit (at start-up
   * or from the CLI, with nothing else writing).
   */
  rebuild(write: boolean): RebuildReport {
    const store = this.tableStore;
    const propagator = this.propagator;
    if (!propagator) throw new RouterError(Errors.unavailable, 'the aggregate tables are closed');
    void this.database.flush();
    const before = this.revision;
    try {
      const report = rebuildAggregates(store, this.definitions, propagator, write, () => {
        store.setMeta('revision', String(this.revision));
        store.setMeta('definitions', this.definitions.fingerprint);
      });
      if (write) this.committedRevision = this.revision;
      else this.revision = before;
      return report;
    } catch (err) {
      this.revision = before;
      throw err;
    }
  }
}

/** The row a publication carries: its ArgumentsKw, or one JSON object argument / body. */
function rowOf(p: Payload): Row | undefined {
  if (p.kwargs !== undefined && Object.keys(p.kwargs).length > 0) return p.kwargs;
  const args = p.args;
  if (args?.length === 1 && isPlainObject(args[0])) return args[0];
  return undefined;
}
