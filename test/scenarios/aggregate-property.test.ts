/**
 * The aggregate property end to end: random turns of inserts, updates, key changes
 * and deletes published over WAMP (autobahn, acknowledged, each turn's publications
 * in flight together), then the tables read back by RPC equal the aggregates computed
 * from scratch from the lines the router acknowledged. (The same property with many
 * more runs drives the engine directly: test/unit/aggregate-engine.test.ts.)
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { wsOptions } from '../helpers/autobahn';
import { expectedAggregates, FIXTURE_DIR, type Detail } from '../helpers/aggregate';
import { startRouter, type TestRouter } from '../helpers/router';
import { call, closeAll, connectAs, withTimeout, type Client } from '../helpers/wamp-clients';

let r: TestRouter;
let client: Client;
before(async () => {
  r = await startRouter({ aggregate: { dir: FIXTURE_DIR } });
  client = await connectAs(wsOptions(r.wsUrl, 'msgpack'));
});
after(async () => {
  await closeAll([client]);
  await r.close();
});

type Op = { kind: 'put'; row: Detail } | { kind: 'delete'; invoice: string; line: number };

async function rows(table: string, customerPrefix: string): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  let after: string | null = null;
  do {
    const page: { rows: Record<string, unknown>[]; next: string | null } = await call(
      client.session,
      'gatehouse.table.query',
      [],
      { table, limit: 50, ...(after ? { after } : {}) },
    );
    out.push(...page.rows.filter((row) => String(row['customer'] ?? row['product']).startsWith(customerPrefix)));
    after = page.next;
  } while (after !== null);
  return out;
}

let run = 0;

void test('aggregate property over WAMP - after random publications the tables equal a recomputation from scratch', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.array(
          fc.oneof(
            fc
              .record({
                invoice: fc.constantFrom('a', 'b', 'c', 'd'),
                line: fc.integer({ min: 1, max: 3 }),
                customer: fc.constantFrom('x', 'y'),
                product: fc.constantFrom('p', 'q'),
                type: fc.constantFrom<'sale' | 'refund'>('sale', 'sale', 'refund'),
                amount: fc.integer({ min: -1000, max: 5000 }).map((c) => c / 100),
              })
              .map((row): Op => ({ kind: 'put', row })),
            fc
              .record({ invoice: fc.constantFrom('a', 'b', 'c', 'd'), line: fc.integer({ min: 1, max: 3 }) })
              .map((k): Op => ({ kind: 'delete', ...k })),
          ),
          { minLength: 1, maxLength: 6 },
        ),
        { minLength: 1, maxLength: 12 },
      ),
      async (turns) => {
        // each run owns its customers, invoices and products: the tables are shared
        const tag = `run${++run}-`;
        const model = new Map<string, Detail>();
        for (const turn of turns) {
          const acks: Promise<unknown>[] = [];
          for (const op of turn) {
            const invoice = tag + (op.kind === 'put' ? op.row.invoice : op.invoice);
            if (op.kind === 'put') {
              const row = { ...op.row, invoice, customer: tag + op.row.customer, product: tag + op.row.product };
              model.set(`${invoice}/${row.line}`, row);
              const p = client.session.publish('table.detail', [], { ...row }, { acknowledge: true });
              if (p) acks.push(p);
            } else {
              model.delete(`${invoice}/${op.line}`);
              const p = client.session.publish('table.detail.delete', [], { invoice, line: op.line }, { acknowledge: true });
              if (p) acks.push(p);
            }
          }
          await withTimeout(Promise.all(acks), 5000, 'acks of a turn');
        }
        const expected = expectedAggregates(model.values());
        assert.deepEqual(await rows('invoice', tag), expected.invoice);
        assert.deepEqual(await rows('product', tag), expected.product);
        assert.deepEqual(await rows('customer', tag), expected.customer);
      },
    ),
    { numRuns: 15 },
  );
});
