/**
 * Store access by RPC with the real autobahn client (lib/store-api.ts):
 * gatehouse.store.get(key), gatehouse.store.list(pattern, {match, limit, after}) with
 * paging, and gatehouse.store.delete(key), which publishes a deletion event like an
 * empty retained publish.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { startRouter, type TestRouter } from '../../helpers/router';
import { wsOptions } from '../../helpers/autobahn';
import { Clients, errorUri, retain, storeGet, subscribeWire, type StoreEntryView } from '../../helpers/retained';
import { EventLog, withTimeout } from '../../helpers/wamp-clients';
import type { AutobahnSession } from '../../helpers/autobahn';

let router: TestRouter;
const clients = new Clients();

before(async () => {
  router = await startRouter();
});
afterEach(() => clients.closeAll());
after(() => router.close());

const json = (): Record<string, unknown> => wsOptions(router.wsUrl, 'json');

interface Page {
  entries: StoreEntryView[];
  next: string | null;
}

function list(s: AutobahnSession, pattern: string, options: Record<string, unknown> = {}, asKwargs = false): Promise<Page> {
  const p = asKwargs
    ? s.call<Page>('gatehouse.store.list', [pattern], options)
    : s.call<Page>('gatehouse.store.list', [pattern, options]);
  return withTimeout(p, 2000, `gatehouse.store.list(${pattern})`);
}

async function callError(p: Promise<unknown>, what: string): Promise<string> {
  try {
    await withTimeout(p, 2000, what);
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('timed out')) throw err;
    return errorUri(err);
  }
  return assert.fail(`${what}: expected an error`);
}

test('retained - gatehouse.store.get returns key, value, headers and revision, or null for an absent key', async () => {
  const c = await clients.open(json(), 'c');
  const rev = await retain(c.session, 's1.cfg', [{ depth: { x: [1, 2] } }], {}, { ct: 'json' });
  assert.deepEqual(await storeGet(c.session, 's1.cfg'), {
    key: 's1.cfg',
    value: { depth: { x: [1, 2] } },
    headers: { ct: 'json' },
    revision: rev,
  });
  const many = await retain(c.session, 's1.many', [1, 'two', null]);
  assert.deepEqual(await storeGet(c.session, 's1.many'), { key: 's1.many', value: [1, 'two', null], revision: many });
  assert.equal(await storeGet(c.session, 's1.absent'), null);
  assert.equal(await callError(c.session.call('gatehouse.store.get', []), 'get without a key'), 'wamp.error.invalid_uri');
  assert.equal(
    await callError(c.session.call('gatehouse.store.get', ['bad..key']), 'get with an invalid key'),
    'wamp.error.invalid_uri',
  );
});

test('retained - gatehouse.store.list matches exact, prefix and wildcard patterns, sorted by key', async () => {
  const c = await clients.open(json(), 'c');
  const keys = ['s2.room.1.temp', 's2.room.1.hum', 's2.room.2.temp', 's2.room.10.temp', 's2.roomy', 's2.other.temp'];
  const revs = new Map<string, number>();
  for (const k of keys) revs.set(k, await retain(c.session, k, [k.length]));
  const keysOf = (p: Page): string[] => p.entries.map((e) => e.key);

  const prefix = await list(c.session, 's2.room.', { match: 'prefix' });
  assert.deepEqual(keysOf(prefix), ['s2.room.1.hum', 's2.room.1.temp', 's2.room.10.temp', 's2.room.2.temp']);
  assert.equal(prefix.next, null);
  for (const e of prefix.entries) assert.deepEqual(e, { key: e.key, value: e.key.length, revision: revs.get(e.key) });

  // WAMP prefix matching is on the string: s2.room also matches s2.roomy
  assert.deepEqual(keysOf(await list(c.session, 's2.room', { match: 'prefix' })), [
    's2.room.1.hum',
    's2.room.1.temp',
    's2.room.10.temp',
    's2.room.2.temp',
    's2.roomy',
  ]);
  // an empty component is a one-level wildcard
  assert.deepEqual(keysOf(await list(c.session, 's2.room..temp', { match: 'wildcard' })), [
    's2.room.1.temp',
    's2.room.10.temp',
    's2.room.2.temp',
  ]);
  assert.deepEqual(keysOf(await list(c.session, 's2..temp', { match: 'wildcard' })), ['s2.other.temp']);
  // fox-wamp in-URI wildcards: `*` one level, `#` the rest
  assert.deepEqual(keysOf(await list(c.session, 's2.room.*.temp')), ['s2.room.1.temp', 's2.room.10.temp', 's2.room.2.temp']);
  assert.deepEqual(keysOf(await list(c.session, 's2.room.#')), [
    's2.room.1.hum',
    's2.room.1.temp',
    's2.room.10.temp',
    's2.room.2.temp',
  ]);
  // options as ArgumentsKw
  assert.deepEqual(keysOf(await list(c.session, 's2.room..temp', { match: 'wildcard' }, true)), [
    's2.room.1.temp',
    's2.room.10.temp',
    's2.room.2.temp',
  ]);
  // exact (the default for a non-empty pattern)
  assert.deepEqual(keysOf(await list(c.session, 's2.roomy')), ['s2.roomy']);
  assert.deepEqual(keysOf(await list(c.session, 's2.nothing', { match: 'prefix' })), []);
  assert.equal(
    await callError(c.session.call('gatehouse.store.list', ['s2', { match: 'regex' }]), 'unknown match'),
    'wamp.error.invalid_uri',
  );
});

test('retained - gatehouse.store.list pages with limit and after, every key once, in key order', async () => {
  const c = await clients.open(json(), 'c');
  const n = 57;
  const keys = Array.from({ length: n }, (_, i) => `s3.item.${String(i).padStart(3, '0')}`);
  // written in a shuffled order: the listing is sorted by key, not by write order
  const order = [...keys].sort((a, b) => ((a.charCodeAt(a.length - 1) * 7) % 11) - ((b.charCodeAt(b.length - 1) * 7) % 11));
  await Promise.all(order.map((k) => retain(c.session, k, [k])));
  await retain(c.session, 's3.itemz', ['outside the prefix s3.item.']);

  const seen: string[] = [];
  let after: string | undefined;
  let pages = 0;
  for (;;) {
    const page: Page = await list(c.session, 's3.item.', {
      match: 'prefix',
      limit: 10,
      ...(after !== undefined ? { after } : {}),
    });
    pages++;
    assert.ok(page.entries.length <= 10, 'a page holds at most limit entries');
    seen.push(...page.entries.map((e) => e.key));
    for (const e of page.entries) assert.equal(e.value, e.key);
    if (page.next === null) break;
    assert.equal(page.next, page.entries.at(-1)?.key, 'next is the last key of the page');
    after = page.next;
    if (pages > 20) assert.fail('paging does not end');
  }
  assert.equal(pages, 6);
  assert.deepEqual(seen, keys, 'every key once, in order');
  // after a key that is not stored: starts at the next one
  const mid = await list(c.session, 's3.item.', { match: 'prefix', limit: 3, after: 's3.item.0105' });
  assert.deepEqual(
    mid.entries.map((e) => e.key),
    ['s3.item.011', 's3.item.012', 's3.item.013'],
  );
  // a page that ends exactly at the last key says there is no next page
  const exact = await list(c.session, 's3.item.', { match: 'prefix', limit: 7, after: 's3.item.049' });
  assert.deepEqual(
    exact.entries.map((e) => e.key),
    keys.slice(50),
  );
  assert.equal(exact.next, null);
});

test('retained - gatehouse.store.delete removes the key, publishes a deletion event and returns its revision', async () => {
  const c = await clients.open(json(), 'c');
  const sub = await clients.open(wsOptions(router.wsUrl, 'cbor'), 'sub');
  const rev = await retain(c.session, 's4.doomed', [{ v: 1 }]);
  const log = new EventLog();
  await subscribeWire(sub.session, 's4.doomed', log);
  const res = await withTimeout(
    c.session.call<{ revision: number } | null>('gatehouse.store.delete', ['s4.doomed']),
    2000,
    'delete',
  );
  assert.ok(res !== null && res.revision > rev, `delete returns the deletion's revision, got ${JSON.stringify(res)}`);
  assert.equal(await storeGet(c.session, 's4.doomed'), null);
  const [ev] = await log.count(1, 'the deletion event');
  assert.deepEqual(ev?.args, []);
  assert.equal(ev?.details['revision'], res.revision);
  // deleting an absent key returns null and publishes nothing
  assert.equal(await withTimeout(c.session.call('gatehouse.store.delete', ['s4.doomed']), 2000, 'second delete'), null);
  assert.equal(await withTimeout(c.session.call('gatehouse.store.delete', ['s4.never']), 2000, 'delete absent'), null);
  const next = await retain(c.session, 's4.doomed', ['back']);
  assert.ok(next > res.revision, 'revisions continue above the deletion');
  await log.count(2, 'the new write');
  assert.equal(log.events.length, 2, 'no event for the deletes of absent keys');
});

test('retained - gatehouse.store.delete of a held lock hands it to the next waiter', async () => {
  const holder = await clients.open(json(), 'holder');
  const admin = await clients.open(json(), 'admin');
  const waiter = await clients.open(json(), 'waiter');
  const lockOpts = { retain: true, when: null, watch: true, will: null };
  await retain(holder.session, 's5.lock', ['holder'], lockOpts);
  const waiting = retain(waiter.session, 's5.lock', ['waiter'], lockOpts);
  await storeGet(waiter.session, 's5.lock'); // the waiter is queued
  const res = await withTimeout(
    admin.session.call<{ revision: number }>('gatehouse.store.delete', ['s5.lock']),
    2000,
    'admin delete',
  );
  const rev = await withTimeout(waiting, 2000, 'waiter to acquire after the delete');
  assert.ok(rev > res.revision);
  assert.equal((await storeGet(admin.session, 's5.lock'))?.value, 'waiter');
});

test('retained - gatehouse.store.list pages a wildcard pattern over the range read: full pages though most keys in between do not match', async () => {
  const c = await clients.open(json(), 'c');
  const keys: string[] = [];
  const writes: Promise<unknown>[] = [];
  for (let i = 0; i < 12; i++) {
    const id = String(i).padStart(2, '0');
    keys.push(`w4.${id}.temp`);
    writes.push(retain(c.session, `w4.${id}.temp`, [i]));
    // keys between the matches, more of them than a page holds
    for (let j = 0; j < 5; j++) writes.push(retain(c.session, `w4.${id}.other${j}`, [j]));
  }
  await Promise.all(writes);
  const seen: string[] = [];
  let after: string | undefined;
  const sizes: number[] = [];
  for (let pages = 0; ; pages++) {
    if (pages > 10) assert.fail('paging does not end');
    const page: Page = await list(c.session, 'w4..temp', {
      match: 'wildcard',
      limit: 5,
      ...(after !== undefined ? { after } : {}),
    });
    sizes.push(page.entries.length);
    seen.push(...page.entries.map((e) => e.key));
    if (page.next === null) break;
    after = page.next;
  }
  assert.deepEqual(sizes, [5, 5, 2], 'full pages, and no empty last page');
  assert.deepEqual(seen, keys);
});
