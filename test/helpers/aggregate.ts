/**
 * Helpers for the aggregate engine tests: the fixture tables (test/fixtures/aggregate,
 * fox-wamp's invoice/detail example), an engine on an in-memory database driven
 * directly, and an independent oracle that computes the fixture's aggregates from the
 * detail rows from scratch, in integer cents.
 */
import path from 'node:path';
import { AggregateEngine } from '../../lib/aggregate/engine';
import { loadDefinitions } from '../../lib/aggregate/definitions';
import type { Definitions, Row } from '../../lib/aggregate/types';
import { createLogger } from '../../lib/log';
import { StoreDatabase } from '../../lib/store/store-database';

export const FIXTURE_DIR = path.join(__dirname, '..', 'fixtures', 'aggregate');

export interface Detail {
  invoice: string;
  line: number;
  customer: string;
  product: string;
  type: 'sale' | 'refund';
  /** at most two decimals */
  amount: number;
}

export interface FeedEvent {
  topic: string;
  kwargs: Record<string, unknown>;
}

export interface DirectEngine {
  engine: AggregateEngine;
  database: StoreDatabase;
  /** every change event published, in order */
  feed: FeedEvent[];
  close(): Promise<void>;
}

/** An engine on its own database (`:memory:` unless a file is given), fed directly. */
export function openEngine(definitions: Definitions = loadDefinitions(FIXTURE_DIR), file = ':memory:'): DirectEngine {
  const database = new StoreDatabase({ path: file });
  const engine = new AggregateEngine(database, definitions, { log: createLogger({ level: 'silent' }) });
  engine.open();
  const feed: FeedEvent[] = [];
  engine.attach({ publish: (topic, payload) => feed.push({ topic, kwargs: payload.kwargs ?? {} }) });
  return { engine, database, feed, close: () => engine.close() };
}

/** Every row of a table, in key order, through the engine's paging. */
export function tableRows(engine: AggregateEngine, name: string): Row[] {
  const table = engine.table(name);
  const out: Row[] = [];
  let after: Buffer | undefined;
  for (;;) {
    const page = engine.page(table, 'asc', 7, after === undefined ? {} : { after });
    out.push(...page.map((r) => r.row));
    if (page.length < 7) return out;
    after = page[page.length - 1]?.pk;
  }
}

const byKey =
  (fields: string[]) =>
  (a: Row, b: Row): number => {
    for (const f of fields) {
      const x = a[f] as string;
      const y = b[f] as string;
      if (x !== y) return x < y ? -1 : 1;
    }
    return 0;
  };

/**
 * The fixture's aggregates from the detail rows alone: invoice (per customer+invoice:
 * sum and count of sale lines), product (per product), customer (from the invoices:
 * revenue, count, max, min, avg of their totals). Sums in integer cents.
 */
export function expectedAggregates(details: Iterable<Detail>): { invoice: Row[]; product: Row[]; customer: Row[] } {
  const invoices = new Map<string, { customer: string; invoice: string; cents: number; lines: number }>();
  const products = new Map<string, { cents: number; lines: number }>();
  for (const d of details) {
    if (d.type !== 'sale') continue;
    const cents = Math.round(d.amount * 100);
    const id = JSON.stringify([d.customer, d.invoice]);
    const inv = invoices.get(id) ?? { customer: d.customer, invoice: d.invoice, cents: 0, lines: 0 };
    inv.cents += cents;
    inv.lines++;
    invoices.set(id, inv);
    const p = products.get(d.product) ?? { cents: 0, lines: 0 };
    p.cents += cents;
    p.lines++;
    products.set(d.product, p);
  }
  const invoice = [...invoices.values()].map((i) => ({
    customer: i.customer,
    invoice: i.invoice,
    total: i.cents / 100,
    lines: i.lines,
  }));
  const product = [...products.entries()].map(([name, p]) => ({ product: name, revenue: p.cents / 100, lines: p.lines }));
  const customers = new Map<string, number[]>();
  for (const i of invoices.values()) customers.set(i.customer, [...(customers.get(i.customer) ?? []), i.cents]);
  const customer = [...customers.entries()].map(([name, totals]) => {
    const sum = totals.reduce((a, b) => a + b, 0);
    return {
      customer: name,
      revenue: sum / 100,
      invoices: totals.length,
      largest: Math.max(...totals) / 100,
      smallest: Math.min(...totals) / 100,
      average: sum / 100 / totals.length,
    };
  });
  return {
    invoice: invoice.sort(byKey(['customer', 'invoice'])),
    product: product.sort(byKey(['product'])),
    customer: customer.sort(byKey(['customer'])),
  };
}

/** Replays change events onto empty tables: what a subscriber of every feed would hold. */
export function tablesFromFeed(feed: readonly FeedEvent[]): Map<string, Map<string, Row>> {
  const tables = new Map<string, Map<string, Row>>();
  for (const { kwargs } of feed) {
    const name = kwargs['table'] as string;
    const rows = tables.get(name) ?? new Map<string, Row>();
    tables.set(name, rows);
    const id = JSON.stringify(kwargs['key']);
    if (kwargs['op'] === 'delete') rows.delete(id);
    else rows.set(id, kwargs['new'] as Row);
  }
  return tables;
}
