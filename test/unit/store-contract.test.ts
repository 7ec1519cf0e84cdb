/**
 * The store contract (lib/store/kv-engine.ts) against both engines: the embedded SQLite
 * store (SqliteKvEngine) and JetStream KV on a real nats-server (test/helpers/nats.ts).
 * Several engine instances share one bucket: for JetStream each has its own client
 * connection, as separate routers would.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Errors, RouterError } from '../../lib/errors';
import type { Payload } from '../../lib/payload';
import { JetStreamKvEngine } from '../../lib/store/jetstream/kv-engine';
import type { KvChange, KvEngine } from '../../lib/store/kv-engine';
import { Leases } from '../../lib/store/leases';
import { SqliteKvEngine } from '../../lib/store/sqlite-kv-engine';
import { SqliteStore } from '../../lib/store/sqlite-store';
import { natsClient, startNats, type Cleanup } from '../helpers/nats';
import { withTimeout } from '../helpers/wamp-clients';
import { WAIT_MS, waitFor } from '../helpers/wait';

interface Harness {
  /** `n` instances on one fresh bucket (realm) */
  instances(n: number, bucket?: string): Promise<KvEngine[]>;
}

const suiteCleanup: Cleanup = { after: (fn) => after(fn) };
let buckets = 0;

function sqliteHarness(): Harness {
  const store = new SqliteStore({ engine: 'sqlite', path: ':memory:' });
  const opened = store.open();
  after(() => store.close());
  return {
    async instances(n, bucket = `realm${++buckets}`) {
      await opened;
      return Array.from({ length: n }, () => new SqliteKvEngine(store, bucket));
    },
  };
}

function jetstreamHarness(): Harness {
  const server = startNats(suiteCleanup);
  return {
    async instances(n, bucket = `realm${++buckets}`) {
      const { url } = await server;
      const out: KvEngine[] = [];
      for (let i = 0; i < n; i++) {
        const engine = await JetStreamKvEngine.open(await natsClient(suiteCleanup, url), { bucket });
        out.push(engine);
      }
      return out;
    },
  };
}

const text = (s: string): Payload => ({ args: [s] });
const argOf = (p: Payload | undefined): unknown => p?.args?.[0];

function isConditionFailed(err: unknown): boolean {
  return err instanceof RouterError && err.def === Errors.conditionFailed;
}

/** collects a watch's changes; `next(n)` waits until n have arrived */
function collector(): { changes: KvChange[]; onChange: (c: KvChange) => void; until(n: number): Promise<KvChange[]> } {
  const changes: KvChange[] = [];
  let wake: (() => void) | undefined;
  return {
    changes,
    onChange: (c) => {
      changes.push(c);
      wake?.();
    },
    async until(n) {
      while (changes.length < n) await withTimeout(new Promise<void>((resolve) => (wake = resolve)), 10_000, `change #${n}`);
      return changes;
    },
  };
}

async function untilPast(epochMs: number): Promise<void> {
  // the engines judge an entry's TTL by the real clock (JetStream's on a real nats-server
  // shared by several instances): the event waited for is that clock passing the expiry
  await waitFor(() => Date.now() > epochMs, `the clock to pass ${epochMs}`, Math.max(0, epochMs - Date.now()) + WAIT_MS);
}

for (const [name, makeHarness] of [
  ['sqlite', sqliteHarness],
  ['jetstream', jetstreamHarness],
] as const) {
  describe(`store contract (${name})`, () => {
    const h = makeHarness();

    test('store contract - put, get and delete assign monotonic revisions', async () => {
      const [a] = await h.instances(1);
      assert(a);
      const r1 = await a.put('com.example.a', text('1'));
      const r2 = await a.put('com.example.b', text('2'), { meta: { qos: 1 } });
      const r3 = await a.put('com.example.a', text('3'));
      assert(r1 > 0 && r2 > r1 && r3 > r2, `${r1} < ${r2} < ${r3}`);
      const got = await a.get('com.example.a');
      assert.equal(argOf(got?.value), '3');
      assert.equal(got?.revision, r3);
      assert.deepEqual((await a.get('com.example.b'))?.meta, { qos: 1 });
      const r4 = await a.delete('com.example.a');
      assert(r4 !== undefined && r4 > r3);
      assert.equal(await a.get('com.example.a'), undefined);
      assert.equal(await a.delete('com.example.a'), undefined, 'deleting an absent key takes no revision');
      assert.equal(await a.revision(), r4);
    });

    test('store contract - keys NATS subjects cannot hold round-trip', async () => {
      const [a] = await h.instances(1);
      assert(a);
      const keys = ['a..b', 'x.*.y', 'x.>', 'sp ace=é', 'a.b.', '.lead', 'unicode.日本'];
      for (const k of keys) await a.put(k, text(k));
      for (const k of keys) assert.equal(argOf((await a.get(k))?.value), k);
      const listed = (await a.range({ prefix: '', limit: 100 })).map((e) => e.key);
      assert.deepEqual(listed, [...keys].sort());
    });

    test('store contract - conditional puts racing from several instances: exactly one wins each race', async () => {
      const engines = await h.instances(4);
      let expect: number | 'absent' = 'absent';
      for (let round = 0; round < 8; round++) {
        const results = await Promise.allSettled(
          engines.map((e, i) => Promise.resolve().then(() => e.put('lock', text(`${round}:${i}`), { expect }))),
        );
        const won = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
        assert.equal(won.length, 1, `round ${round}: ${JSON.stringify(results.map((r) => r.status))}`);
        for (const r of results) if (r.status === 'rejected') assert(isConditionFailed(r.reason), String(r.reason));
        const winner = won[0] ?? 0;
        assert(expect === 'absent' || winner > expect);
        for (const e of engines) assert.equal((await e.get('lock'))?.revision, winner);
        expect = winner;
      }
      // a conditional delete races the same way
      const deletes = await Promise.allSettled(
        engines.map((e) => Promise.resolve().then(() => e.delete('lock', { expect: expect as number }))),
      );
      assert.equal(deletes.filter((r) => r.status === 'fulfilled').length, 1);
      await assert.rejects(
        Promise.resolve(engines[0]?.put('lock', text('stale'), { expect: expect as number })),
        isConditionFailed,
      );
    });

    test('store contract - a watch wakes on writes made by another instance', async () => {
      const [a, b] = await h.instances(2);
      assert(a && b);
      const seen = collector();
      const watch = await a.watch('room.', {}, seen.onChange);
      await watch.ready;
      const r1 = await b.put('room.x', text('hello'));
      await b.put('elsewhere', text('not for this watch'));
      const r2 = await b.delete('room.x');
      const changes = await seen.until(2);
      watch.stop();
      assert.deepEqual(
        changes.map((c) => [c.op, c.key, c.revision, argOf(c.entry?.value)]),
        [
          ['put', 'room.x', r1, 'hello'],
          ['delete', 'room.x', r2, undefined],
        ],
      );
    });

    test('store contract - a watch from a revision catches up, then follows, in revision order', async () => {
      const [a, b] = await h.instances(2);
      assert(a && b);
      await a.put('k.1', text('1'));
      const from = await a.put('k.2', text('2'));
      await a.put('k.3', text('3'));
      const seen = collector();
      const watch = await b.watch('k.', { fromRevision: from }, seen.onChange);
      await watch.ready;
      const r4 = await a.put('k.4', text('4'));
      const changes = await seen.until(3);
      watch.stop();
      assert.deepEqual(
        changes.map((c) => c.key),
        ['k.2', 'k.3', 'k.4'],
      );
      assert.equal(changes[2]?.revision, r4);
      const revs = changes.map((c) => c.revision);
      assert.deepEqual(
        revs,
        [...revs].sort((x, y) => x - y),
      );
    });

    test('store contract - range pages are sorted, cursor-driven and complete', async () => {
      const [a] = await h.instances(1);
      assert(a);
      const keys = Array.from({ length: 25 }, (_, i) => `r.${String((i * 7) % 25).padStart(2, '0')}`);
      for (const k of keys) await a.put(k, text(k));
      await a.put('ra', text('outside'));
      await a.put('q.01', text('outside'));
      const pages: string[][] = [];
      let after: string | undefined;
      for (;;) {
        const page = await a.range({ prefix: 'r.', after, limit: 10 });
        pages.push(page.map((e) => e.key));
        if (page.length < 10) break;
        after = page.at(-1)?.key;
      }
      assert.deepEqual(
        pages.map((p) => p.length),
        [10, 10, 5],
      );
      assert.deepEqual(pages.flat(), [...keys].sort());
      // a prefix that ends inside a component
      assert.deepEqual(
        (await a.range({ prefix: 'r.1', limit: 100 })).map((e) => e.key),
        keys.filter((k) => k.startsWith('r.1')).sort(),
      );
    });

    test('store contract - TTL: an expired entry is absent, can be created again, and sweep reports it', async () => {
      const [a, b] = await h.instances(2);
      assert(a && b);
      await a.put('t.keep', text('no ttl'));
      await a.put('t.gone', text('short'), { ttlMs: 150 });
      const entry = await b.get('t.gone');
      assert.equal(argOf(entry?.value), 'short');
      assert(entry?.expiresAt !== undefined);
      await untilPast(entry.expiresAt);
      assert.equal(await b.get('t.gone'), undefined);
      assert.deepEqual(
        (await b.range({ prefix: 't.', limit: 10 })).map((e) => e.key),
        ['t.keep'],
      );
      await b.put('t.again', text('short'), { ttlMs: 100 });
      const again = await b.get('t.again');
      assert(again?.expiresAt !== undefined);
      await untilPast(again.expiresAt);
      const rev = await a.put('t.again', text('recreated'), { expect: 'absent' });
      assert.equal((await b.get('t.again'))?.revision, rev);
      const seen = collector();
      const watch = await a.watch('t.', {}, seen.onChange);
      await watch.ready;
      const swept = await b.sweep(Date.now());
      assert.deepEqual(swept, ['t.gone']);
      const [change] = await seen.until(1);
      watch.stop();
      assert.equal(change?.op, 'delete');
      assert.equal(change?.key, 't.gone');
    });

    test('store contract - wills fire once when a lease lapses, never while it is renewed', async () => {
      const metaBucket = `meta${++buckets}`;
      const [metaA, metaB, metaC] = await h.instances(3, metaBucket);
      const [realmA, realmB, realmC] = await h.instances(3);
      assert(metaA && metaB && metaC && realmA && realmB && realmC);
      await realmA.put('presence.s2', text('online'));
      const nodeA = new Leases(metaA, () => realmA);
      const checkers = [new Leases(metaB, () => realmB), new Leases(metaC, () => realmC)];
      // long enough that a loaded machine never delays a renewal past it
      const ttlMs = 1000;
      await nodeA.renew('a', ttlMs);
      await nodeA.setWill({ node: 'a', session: 's1' }, 'realm', 'presence.s1', text('gone'));
      await nodeA.setWill({ node: 'a', session: 's2' }, 'realm', 'presence.s2', null);
      // lease time is the holder's and the checkers' clocks, moved here by hand (`t`):
      // renewed every quarter ttl for 2.5 ttl periods (past the first lease's end), nobody fires
      let t = Date.now();
      for (let i = 0; i < 10; i++) {
        await nodeA.renew('a', ttlMs, t);
        t += ttlMs / 4;
        for (const c of checkers) assert.deepEqual(await c.check(t), []);
      }
      assert.equal(argOf((await realmB.get('presence.s2'))?.value), 'online');
      // node A stops renewing: once the lease lapses, both checkers race to fire
      t += ttlMs;
      const fired = (await Promise.all(checkers.map((c) => c.check(t)))).flat();
      assert.deepEqual(fired.map((f) => `${f.owner.session}:${f.key}`).sort(), ['s1:presence.s1', 's2:presence.s2']);
      assert.equal(argOf((await realmB.get('presence.s1'))?.value), 'gone');
      assert.equal(await realmB.get('presence.s2'), undefined);
      for (const c of checkers) assert.deepEqual(await c.check(t), [], 'fired once only');
      await assert.rejects(nodeA.renew('a', ttlMs), isConditionFailed, 'the lapsed lease is lost');
    });
  });
}
