// The memory accounting of STOMP transactions (gates/stomp/transactions.ts): whatever
// sequence of BEGIN, kept frames, refusals, COMMIT/ABORT and close, the router-wide
// budget holds exactly what the open transactions hold, and nothing once all are gone.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { TransactionBudget, TransactionTable } from '../../gates/stomp/transactions';

const noop = (): undefined => undefined;

describe('stomp transactions', () => {
  it('stomp transactions - bounds per transaction, per connection and per router, each refusal named', () => {
    const budget = new TransactionBudget(220);
    const hits: string[] = [];
    const a = new TransactionTable(budget, { perTransaction: 100, perConnection: 150 }, (l) => hits.push(l));
    const b = new TransactionTable(budget, { perTransaction: 100, perConnection: 150 }, (l) => hits.push(l));
    assert.equal(a.begin('t1'), undefined);
    assert.equal(a.keep('t1', noop, 60), undefined);
    assert.match(a.keep('t1', noop, 41)?.message ?? '', /holds too much/);
    assert.equal(a.has('t1'), false, 'the refused transaction is dropped');
    assert.equal(budget.held, 0, 'and what it held released');
    a.begin('t2');
    a.begin('t3');
    assert.equal(a.keep('t2', noop, 100), undefined);
    assert.match(a.keep('t3', noop, 51)?.message ?? '', /maxTransactionBytes\)/);
    b.begin('u');
    assert.equal(b.keep('u', noop, 100), undefined);
    assert.equal(budget.held, 200);
    b.begin('v');
    assert.match(b.keep('v', noop, 21)?.message ?? '', /maxTransactionBytesTotal\)/);
    assert.equal(budget.held, 200, 'a refused frame takes nothing');
    assert.deepEqual(hits, ['transaction', 'transaction_bytes', 'transaction_bytes_total']);
    a.clear();
    b.clear();
    assert.equal(budget.held, 0);
  });

  it('stomp transactions - the shared budget always equals what the tables hold, and 0 after close (property)', () => {
    const op = fc.record({
      kind: fc.constantFrom('begin', 'keep', 'take'),
      table: fc.integer({ min: 0, max: 2 }),
      tx: fc.integer({ min: 0, max: 3 }),
      bytes: fc.integer({ min: 0, max: 120 }),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const budget = new TransactionBudget(500);
        const tables = [0, 1, 2].map(() => new TransactionTable(budget, { perTransaction: 200, perConnection: 300 }, noop));
        for (const o of ops) {
          const t = tables[o.table];
          if (!t) continue;
          const name = `t${o.tx}`;
          if (o.kind === 'begin') t.begin(name);
          else if (o.kind === 'keep') t.keep(name, noop, o.bytes);
          else t.take(name);
          const sum = tables.reduce((n, x) => n + x.bytes, 0);
          assert.equal(budget.held, sum);
          assert.ok(budget.held <= 500);
          for (const x of tables) assert.ok(x.bytes <= 300);
        }
        for (const t of tables) t.clear();
        assert.equal(budget.held, 0);
      }),
    );
  });
});
