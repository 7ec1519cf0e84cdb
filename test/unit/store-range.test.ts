/**
 * The store's paged range read (RetainedStore.range), which the paced retained replay
 * reads: live entries under a prefix, sorted by key, after a cursor, a page at a time;
 * keys added and removed between pages are seen or not as the order says, never twice.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createStore, SqliteStore, type RetainedStore } from '../../lib/store';
import { SortedKeys } from '../../lib/store/sorted-keys';
import { ManualClock } from '../helpers/clock';

/** `clock`: what TTLs are judged by (the real time when not given) */
async function openStore(clock?: ManualClock): Promise<RetainedStore> {
  const store = clock
    ? new SqliteStore({ engine: 'sqlite', path: ':memory:' }, () => clock.now())
    : createStore({ engine: 'sqlite', path: ':memory:' });
  await store.open();
  return store;
}

/** Every key under a prefix, read page by page with the `after` cursor. */
function pages(store: RetainedStore, realm: string, prefix: string, limit: number): string[][] {
  const out: string[][] = [];
  let after: string | undefined;
  for (;;) {
    const page = store.range(realm, { prefix, after, limit });
    out.push(page.map((e) => e.key));
    if (page.length < limit) return out;
    after = page[page.length - 1]?.key;
  }
}

void test('store range - pages through the keys under a prefix in order, after a cursor, in its realm only', async () => {
  const store = await openStore();
  try {
    const keys = ['a.b.3', 'a.b', 'a.c.1', 'a.b.1', 'ab.x', 'b.1', 'a.b.2'];
    for (const k of keys) store.write('r', k, { args: [k] });
    store.write('other', 'a.b.0', { args: [0] });
    assert.deepEqual(pages(store, 'r', 'a.b', 2), [['a.b', 'a.b.1'], ['a.b.2', 'a.b.3'], []]);
    assert.deepEqual(pages(store, 'r', '', 3).flat(), [...keys].sort());
    assert.deepEqual(
      store.range('r', { prefix: 'a.', after: 'a.b.2', limit: 10 }).map((e) => e.key),
      ['a.b.3', 'a.c.1'],
    );
    // a cursor before the prefix starts at the prefix
    assert.deepEqual(
      store.range('r', { prefix: 'b', after: 'a', limit: 10 }).map((e) => e.key),
      ['b.1'],
    );
    assert.deepEqual(store.range('r', { prefix: 'zz', limit: 10 }), []);
    assert.deepEqual(store.range('none', { prefix: '', limit: 10 }), []);
    // entries are the live ones, with their values and revisions
    const [e] = store.range('r', { prefix: 'b.1', limit: 1 });
    assert.deepEqual(e?.value, { args: ['b.1'] });
  } finally {
    await store.close();
  }
});

void test('store range - deleted and expired keys are left out; keys written between pages show by their order', async () => {
  const clock = new ManualClock();
  const store = await openStore(clock);
  try {
    for (let i = 0; i < 10; i++) store.write('r', `k${i}`, { args: [i] });
    store.delete('r', 'k3');
    store.write('r', 'k5', { args: [5] }, { ttlMs: 1 });
    clock.advance(5);
    const first = store.range('r', { prefix: 'k', limit: 4 }).map((e) => e.key);
    assert.deepEqual(first, ['k0', 'k1', 'k2', 'k4']);
    store.write('r', 'k1a', { args: ['behind the cursor'] });
    store.write('r', 'k8a', { args: ['ahead of the cursor'] });
    store.delete('r', 'k9');
    const rest = store.range('r', { prefix: 'k', after: 'k4', limit: 100 }).map((e) => e.key);
    assert.deepEqual(rest, ['k6', 'k7', 'k8', 'k8a']);
  } finally {
    await store.close();
  }
});

void test('store range - SortedKeys matches a sorted model under random adds, deletes and cursors', () => {
  const op = fc.oneof(fc.record({ add: fc.string({ maxLength: 4 }) }), fc.record({ del: fc.string({ maxLength: 4 }) }));
  fc.assert(
    fc.property(
      fc.array(op, { maxLength: 3000 }),
      fc.string({ maxLength: 2 }),
      fc.option(fc.string({ maxLength: 3 }), { nil: undefined }),
      (ops, from, after) => {
        const keys = new SortedKeys();
        const model = new Set<string>();
        for (const o of ops) {
          if ('add' in o) {
            if (!model.has(o.add)) keys.add(o.add);
            model.add(o.add);
          } else {
            keys.delete(o.del);
            model.delete(o.del);
          }
        }
        assert.equal(keys.size, model.size);
        const sorted = [...model].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        const start = after !== undefined && after >= from ? after : from;
        const want = sorted.filter((k) => (start === after ? k > start : k >= start));
        assert.deepEqual([...keys.from(from, after)], want);
      },
    ),
    { numRuns: 200 },
  );
});

void test('store range - SortedKeys keeps order across block splits and merges (20,000 keys, random order)', () => {
  const keys = new SortedKeys();
  const all = Array.from({ length: 20_000 }, (_, i) => `k${String((i * 7919) % 20_000).padStart(5, '0')}`);
  for (const k of all) keys.add(k);
  const sorted = [...all].sort();
  assert.deepEqual([...keys.from('')], sorted);
  for (let i = 0; i < 20_000; i += 2) keys.delete(sorted[i] ?? '');
  const odd = sorted.filter((_, i) => i % 2 === 1);
  assert.equal(keys.size, odd.length);
  assert.deepEqual([...keys.from('')], odd);
  assert.deepEqual([...keys.from('', 'k10000')].slice(0, 2), ['k10001', 'k10003']);
});
