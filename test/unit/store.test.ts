import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { createStore, createStores, type RetainedStore, type StoreEntry } from '../../lib/store';
import { GroupCommit } from '../../lib/store/group-commit';
import { RouterError } from '../../lib/errors';
import { ManualClock } from '../helpers/clock';

const ROOT = resolve(__dirname, '..', '..');

function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-store-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

async function openStore(path = ':memory:', synchronous: 'full' | 'normal' = 'full'): Promise<RetainedStore> {
  const store = createStore({ engine: 'sqlite', path, synchronous });
  await store.open();
  return store;
}

/** runs fn against a store on a fresh file, closing the store and removing the dir after */
async function withFile(fn: (path: string) => Promise<void>): Promise<void> {
  const { dir, cleanup } = tempDir();
  try {
    await fn(join(dir, 'retained.db'));
  } finally {
    cleanup();
  }
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

function allBytes(): Uint8Array {
  const b = new Uint8Array(512);
  for (let i = 0; i < b.length; i++) b[i] = (i * 7 + 0xc1) & 0xff; // 0xc1 is never valid MessagePack or UTF-8
  return b;
}

void test('store - writes, reads, replaces and deletes a key', async () => {
  const store = await openStore();
  try {
    assert.equal(store.get('r', 'a'), undefined);
    const w1 = store.write('r', 'a', { args: [1], kwargs: { x: 1 } });
    assert.equal(w1.previous, undefined);
    assert.deepEqual(store.get('r', 'a'), { realm: 'r', key: 'a', value: { args: [1], kwargs: { x: 1 } }, revision: 1 });
    await w1.committed;

    // a write replaces the whole value: kwargs.x does not survive
    const w2 = store.write('r', 'a', { kwargs: { y: 2 } });
    assert.equal(w2.previous?.revision, 1);
    assert.deepEqual(store.get('r', 'a')?.value, { kwargs: { y: 2 } });

    const d = store.delete('r', 'a');
    assert.ok(d);
    assert.deepEqual(d.previous?.value, { kwargs: { y: 2 } });
    assert.equal(store.get('r', 'a'), undefined);
    assert.equal(store.delete('r', 'a'), undefined, 'deleting an absent key reports it absent');
    await d.committed;
    assert.equal(store.stats.keys, 0);
  } finally {
    await store.close();
  }
});

void test('store - lists the live entries of a realm only', async () => {
  const store = await openStore();
  try {
    store.write('r1', 'a', { args: ['a'] });
    store.write('r1', 'b', { args: ['b'] });
    store.write('r2', 'a', { args: ['other realm'] });
    const keys = [...store.entries('r1')].map((e) => e.key).sort();
    assert.deepEqual(keys, ['a', 'b']);
    assert.deepEqual([...store.entries('nope')], []);
    assert.equal(store.stats.keys, 3);
  } finally {
    await store.close();
  }
});

void test('store - revisions increase strictly per realm, independently across realms', async () => {
  const store = await openStore();
  try {
    const seen: number[] = [];
    for (let i = 0; i < 20; i++) seen.push(store.write('r1', `k${i % 3}`, { args: [i] }).revision);
    const del = store.delete('r1', 'k0');
    assert.ok(del);
    seen.push(del.revision);
    for (let i = 1; i < seen.length; i++) assert.equal(seen[i], (seen[i - 1] as number) + 1);
    assert.equal(store.revision('r1'), 21);

    assert.equal(store.revision('r2'), 0);
    assert.equal(store.write('r2', 'k0', {}).revision, 1);
    assert.equal(store.revision('r1'), 21);

    // an absent delete assigns no revision
    assert.equal(store.delete('r2', 'missing'), undefined);
    assert.equal(store.revision('r2'), 1);
  } finally {
    await store.close();
  }
});

void test('store - binary and non-JSON bytes round-trip exactly through disk', async () => {
  await withFile(async (path) => {
    const bytes = allBytes();
    const nested = Buffer.from([0x00, 0xff, 0xfe, 0x80]);
    const value = {
      bytes,
      kwargs: { blob: nested, big: 2 ** 53, neg: -(2 ** 40), float: 0.1, text: 'ünï\u0000cödé', none: null },
      passthru: { scheme: 'wamp.eth', serializer: 'cbor' },
    };
    const store = await openStore(path);
    await store.write('r', 'bin', value).committed;
    await store.close();

    const again = await openStore(path);
    try {
      const got = again.get('r', 'bin')?.value;
      assert.ok(got?.bytes instanceof Uint8Array);
      assert.deepEqual(new Uint8Array(got.bytes), bytes);
      const kw = got.kwargs as Record<string, unknown>;
      assert.ok(kw.blob instanceof Uint8Array);
      assert.deepEqual(Buffer.from(kw.blob), nested);
      assert.equal(kw.big, 2 ** 53, 'large integers come back as numbers');
      assert.equal(kw.neg, -(2 ** 40));
      assert.equal(kw.float, 0.1);
      assert.equal(kw.text, 'ünï\u0000cödé');
      assert.equal(kw.none, null);
      assert.deepEqual(got.passthru, value.passthru);
    } finally {
      await again.close();
    }
  });
});

void test('store - a value that cannot be encoded fails its own write and changes nothing', async () => {
  const store = await openStore();
  try {
    store.write('r', 'a', { args: [1] });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const bad of [{ args: [Symbol('s')] }, { kwargs: cyclic }]) {
      assert.throws(
        () => store.write('r', 'a', bad),
        (err: unknown) => err instanceof RouterError && err.def.code === 'invalid_argument',
      );
    }
    assert.throws(() => store.write('r', 'a', {}, { ttlMs: 0 }), RouterError);
    assert.throws(() => store.write('r', 'a', {}, { ttlMs: Number.NaN }), RouterError);
    assert.equal(store.revision('r'), 1);
    assert.deepEqual(store.get('r', 'a')?.value, { args: [1] });
  } finally {
    await store.close();
  }
});

void test('store - wills are found by session and cancelled by a write without a will', async () => {
  const store = await openStore();
  try {
    store.write('r', 'online', { args: [true] }, { will: { session: 7, value: { args: [false] } } });
    store.write('r', 'lock', { args: ['held'] }, { will: { session: 7, value: null } });
    store.write('r2', 'x', { args: [1] }, { will: { session: 8, value: null } });

    const of7 = store
      .willsOf(7)
      .map((e) => `${e.realm}/${e.key}`)
      .sort();
    assert.deepEqual(of7, ['r/lock', 'r/online']);
    assert.deepEqual(store.get('r', 'online')?.will, { session: 7, value: { args: [false] } });
    assert.equal(store.get('r', 'lock')?.will?.value, null);

    // overwrite without a will cancels it; overwrite with another session moves it
    store.write('r', 'online', { args: [true] });
    assert.equal(store.get('r', 'online')?.will, undefined);
    store.write('r', 'lock', { args: ['held'] }, { will: { session: 9, value: null } });
    assert.deepEqual(store.willsOf(7), []);
    assert.deepEqual(
      store.willsOf(9).map((e) => e.key),
      ['lock'],
    );
    store.delete('r2', 'x');
    assert.deepEqual(store.willsOf(8), []);
    assert.deepEqual(store.willsOf(12345), []);
  } finally {
    await store.close();
  }
});

void test('store - wills of a previous process come back once as orphans', async () => {
  await withFile(async (path) => {
    const first = await openStore(path);
    first.write('r', 'a', { args: ['a'] }, { will: { session: 42, value: { args: ['gone'] } } });
    first.write('r', 'b', { args: ['b'] }, { will: { session: 42, value: null } });
    first.write('r', 'c', { args: ['c'] });
    assert.deepEqual(first.orphanedWills(), [], 'a fresh store has no orphans');
    await first.close();

    const second = await openStore(path);
    try {
      // a new session that happens to draw the old id does not inherit the wills
      assert.deepEqual(second.willsOf(42), []);
      second.write('r', 'b', { args: ['rewritten'] });
      const orphans = second.orphanedWills();
      assert.deepEqual(
        orphans.map((e) => [e.key, e.will]),
        [['a', { session: 42, value: { args: ['gone'] } }]],
        'b was overwritten since open, so its will is gone',
      );
      assert.deepEqual(second.orphanedWills(), [], 'orphans are handed out once');
    } finally {
      await second.close();
    }
  });
});

void test('store - entries expire by ttl, each removal with a revision', async () => {
  await withFile(async (path) => {
    const store = await openStore(path);
    const t0 = Date.now();
    store.write('r', 'short', { args: [1] }, { ttlMs: 1_000 });
    store.write('r', 'long', { args: [2] }, { ttlMs: 60_000 });
    store.write('r', 'forever', { args: [3] });
    const short = store.get('r', 'short');
    assert.ok(short?.expiresAt !== undefined && short.expiresAt >= t0 + 1_000);
    assert.equal(store.nextExpiry(), short.expiresAt);

    // rewriting with a later ttl moves the expiry; the old heap item is ignored
    store.write('r', 'short', { args: [1] }, { ttlMs: 5_000 });
    const moved = store.get('r', 'short')?.expiresAt;
    assert.equal(store.nextExpiry(), moved);
    assert.deepEqual(store.expire(t0 + 2_000), []);

    const before = store.revision('r');
    const expired = store.expire(t0 + 10_000);
    assert.deepEqual(
      expired.map((e) => [e.key, e.revision, e.deletionRevision]),
      [['short', 4, before + 1]],
    );
    assert.equal(store.revision('r'), before + 1);
    assert.equal(store.get('r', 'short'), undefined);
    assert.equal(store.nextExpiry(), store.get('r', 'long')?.expiresAt);
    await store.close();

    // the remaining ttl survives a restart
    const again = await openStore(path);
    try {
      const long = again.get('r', 'long');
      assert.ok(long?.expiresAt !== undefined);
      assert.equal(again.nextExpiry(), long.expiresAt);
      assert.equal(again.get('r', 'short'), undefined);
      assert.equal(again.revision('r'), before + 1);
    } finally {
      await again.close();
    }
  });
});

void test('store - an expired entry reads as absent before it is reaped', async () => {
  // the store reads time on the clock it is given: the TTL passes when the test moves it
  const clock = new ManualClock();
  const { retained: store, queues } = createStores({ engine: 'sqlite', path: ':memory:', synchronous: 'full' }, clock);
  await store.open();
  await queues.open();
  try {
    store.write('r', 'k', { args: [1] }, { ttlMs: 5 });
    clock.advance(4);
    assert.equal(store.get('r', 'k')?.value.args?.[0], 1, 'present within its TTL');
    clock.advance(1);
    assert.equal(store.get('r', 'k'), undefined);
    assert.deepEqual([...store.entries('r')], []);
    assert.equal(store.delete('r', 'k'), undefined);
    const w = store.write('r', 'k', { args: [2] });
    assert.equal(w.previous, undefined, 'an expired entry is not reported as replaced');
    assert.deepEqual(store.expire(clock.now()), [], 'the rewrite superseded the expired entry');
  } finally {
    await queues.close();
    await store.close();
  }
});

void test('store - 1000 writes in one turn make one commit', async () => {
  const store = await openStore();
  try {
    await store.write('r', 'warmup', {}).committed;
    const commits = store.stats.commits;
    const results = [];
    for (let i = 0; i < 1000; i++) results.push(store.write('r', `k${i % 700}`, { args: [i] }));
    assert.equal(store.stats.pendingWrites, 1000);
    assert.equal(store.stats.commits, commits, 'nothing commits within the turn');
    await Promise.all(results.map((r) => r.committed));
    assert.equal(store.stats.commits, commits + 1);
    assert.equal(store.stats.pendingWrites, 0);
    assert.ok(store.stats.lastCommitMs >= 0);
    assert.deepEqual(store.get('r', 'k0')?.value, { args: [700] }, 'the last write of a key wins');
  } finally {
    await store.close();
  }
});

void test('store - close flushes pending writes', async () => {
  await withFile(async (path) => {
    const store = await openStore(path);
    const w = store.write('r', 'a', { args: ['kept'] });
    store.write('r', 'b', { args: ['gone'] });
    store.delete('r', 'b');
    await store.close(); // no turn has passed: the writes are still queued
    await w.committed;
    assert.throws(() => store.write('r', 'c', {}), RouterError);

    const again = await openStore(path);
    try {
      assert.deepEqual(again.get('r', 'a')?.value, { args: ['kept'] });
      assert.equal(again.get('r', 'b'), undefined);
      assert.equal(again.revision('r'), 3);
    } finally {
      await again.close();
    }
  });
});

void test('store - reopening restores values and continues revisions', async () => {
  await withFile(async (path) => {
    const store = await openStore(path);
    const written = new Map<string, StoreEntry>();
    for (let i = 0; i < 50; i++) store.write('r1', `k${i}`, { args: [i], kwargs: { sq: i * i } });
    for (let i = 0; i < 5; i++) store.write('r2', `k${i}`, { args: [`v${i}`] });
    await turn();
    store.delete('r1', 'k49'); // the last r1 revision belongs to a deletion
    await store.write('r1', 'k0', { args: ['again'] }, { will: { session: 1, value: null } }).committed;
    for (const realm of ['r1', 'r2']) for (const e of store.entries(realm)) written.set(`${realm}/${e.key}`, e);
    const rev1 = store.revision('r1');
    const rev2 = store.revision('r2');
    await store.close();

    const again = await openStore(path);
    try {
      assert.equal(again.stats.keys, written.size);
      for (const [id, e] of written) {
        const got = again.get(e.realm, e.key);
        assert.ok(got, id);
        assert.deepEqual(got, e, id);
      }
      assert.equal(again.get('r1', 'k49'), undefined);
      assert.equal(again.revision('r1'), rev1);
      assert.equal(again.revision('r2'), rev2);
      assert.equal(again.write('r1', 'new', {}).revision, rev1 + 1);
      assert.equal(again.write('r2', 'new', {}).revision, rev2 + 1);
    } finally {
      await again.close();
    }
  });

  // a deletion's revision is never handed out again, even with the realm now empty
  await withFile(async (path) => {
    const store = await openStore(path);
    store.write('r', 'a', {});
    store.delete('r', 'a');
    await store.close();
    const again = await openStore(path);
    try {
      assert.equal(again.write('r', 'a', {}).revision, 3);
    } finally {
      await again.close();
    }
  });
});

void test('store - compaction bounds the log and never brings a deleted key back', async () => {
  await withFile(async (path) => {
    const countRows = (): number => {
      const raw = new Database(path, { readonly: true });
      try {
        return (raw.prepare('SELECT count(*) AS n FROM retained_log').get() as { n: number }).n;
      } finally {
        raw.close();
      }
    };
    const store = await openStore(path, 'normal');
    // 200 keys rewritten 100 times, one batch per round: 20,000 log rows appended
    for (let round = 0; round < 100; round++) {
      for (let k = 0; k < 200; k++) store.write('r', `k${k}`, { args: [round, k] });
      // delete a rotating quarter of the keys, so tombstones interleave with values
      if (round % 10 === 9) for (let k = round % 4; k < 200; k += 4) store.delete('r', `k${k}`);
      await turn();
    }
    for (let k = 0; k < 200; k++) store.write('r', `k${k}`, { args: ['last', k] });
    for (let k = 0; k < 200; k += 2) store.delete('r', `k${k}`); // even keys end deleted
    const expected = new Map([...store.entries('r')].map((e) => [e.key, e]));
    const revision = store.revision('r');
    await store.close();

    const rows = countRows();
    assert.ok(rows < 20_000 / 3, `compaction kept the log small (${rows} rows)`);
    const again = await openStore(path);
    try {
      assert.equal(again.stats.keys, 100);
      for (let k = 0; k < 200; k++) {
        const got = again.get('r', `k${k}`);
        if (k % 2 === 0) assert.equal(got, undefined, `k${k} was deleted`);
        else assert.deepEqual(got, expected.get(`k${k}`));
      }
      assert.equal(again.revision('r'), revision);
    } finally {
      await again.close();
    }
    assert.equal(countRows(), 100, 'open compacts what is left: one row per live key');
  });
});

void test('store - random writes, deletes and reopens match a model', { timeout: 60_000 }, async () => {
  // a small seeded PRNG (mulberry32), so a failure replays
  const seed = 0x5eed;
  let s = seed;
  const rand = (): number => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  await withFile(async (path) => {
    const model = new Map<string, { value: unknown; revision: number }>();
    const revisions = new Map<string, number>();
    const check = (store: RetainedStore, when: string): void => {
      let live = 0;
      for (const realm of ['a', 'b']) {
        assert.equal(store.revision(realm), revisions.get(realm) ?? 0, `${when}: revision of ${realm}`);
        for (const e of store.entries(realm)) {
          live++;
          const want = model.get(`${realm}/${e.key}`);
          assert.ok(want, `${when}: ${realm}/${e.key} should not exist (seed ${seed})`);
          assert.deepEqual([e.value, e.revision], [want.value, want.revision], `${when}: ${realm}/${e.key}`);
        }
      }
      assert.equal(live, model.size, `${when}: live keys`);
    };

    let store = await openStore(path, 'normal');
    let reopens = 0;
    for (let step = 0; step < 60_000; step++) {
      const realm = rand() < 0.7 ? 'a' : 'b';
      const key = `k${Math.floor(rand() * 60)}`;
      const id = `${realm}/${key}`;
      const r = rand();
      if (r < 0.6) {
        const value = { args: [step], bytes: Buffer.from([step & 255]) };
        const w = store.write(realm, key, value);
        assert.equal(w.revision, (revisions.get(realm) ?? 0) + 1);
        revisions.set(realm, w.revision);
        model.set(id, { value, revision: w.revision });
      } else if (r < 0.85) {
        const d = store.delete(realm, key);
        assert.equal(d === undefined, !model.has(id), `step ${step}: delete of ${id}`);
        if (d !== undefined) {
          revisions.set(realm, d.revision);
          model.delete(id);
        }
      } else {
        await turn(); // a batch boundary
      }
      if (step % 12_000 === 11_999 && step < 40_000) {
        // between reopens the log outgrows the compaction bound several times over
        await store.close();
        store = await openStore(path, 'normal');
        // values decoded from disk: compare bytes as Buffers, as they come back
        for (const m of model.values()) {
          const v = m.value as { args: unknown[]; bytes: Uint8Array };
          m.value = { args: v.args, bytes: Buffer.from(v.bytes) };
        }
        check(store, `after reopen ${++reopens} at step ${step}`);
      }
    }
    check(store, 'at the end');
    await store.close();
    assert.equal(reopens, 3);
    const raw = new Database(path, { readonly: true });
    const rows = (raw.prepare('SELECT count(*) AS n FROM retained_log').get() as { n: number }).n;
    raw.close();
    assert.ok(rows < 6_000, `compaction ran between reopens (${rows} rows)`);
    const last = await openStore(path);
    try {
      for (const m of model.values()) {
        const v = m.value as { args: unknown[]; bytes: Uint8Array };
        m.value = { args: v.args, bytes: Buffer.from(v.bytes) };
      }
      check(last, 'after the last reopen');
    } finally {
      await last.close();
    }
  });
});

void test('store - a failed commit rejects its writes and undoes them in memory', async () => {
  await withFile(async (path) => {
    const init = await openStore(path);
    await init.write('r', 'a', { args: ['committed'] }).committed;
    await init.close();
    // a real SQLite failure: a trigger that aborts any transaction touching 'poison'
    const raw = new Database(path);
    raw.exec(`CREATE TRIGGER poison BEFORE INSERT ON retained_log WHEN NEW.key = 'poison'
              BEGIN SELECT RAISE(ABORT, 'poisoned'); END`);
    raw.close();

    const store = await openStore(path);
    try {
      const a = store.write('r', 'a', { args: ['uncommitted'] });
      const b = store.write('r', 'b', { args: ['new'] });
      const p = store.write('r', 'poison', {});
      assert.deepEqual(store.get('r', 'a')?.value, { args: ['uncommitted'] });
      await assert.rejects(a.committed, /poisoned/);
      await assert.rejects(b.committed, /poisoned/);
      await assert.rejects(p.committed, /poisoned/);
      assert.equal(store.stats.failedCommits, 1);
      assert.deepEqual(store.get('r', 'a')?.value, { args: ['committed'] });
      assert.equal(store.get('r', 'b'), undefined);
      assert.equal(store.get('r', 'poison'), undefined);
      assert.equal(store.stats.keys, 1);
      // the failed revisions are not reused
      const next = store.write('r', 'b', { args: ['later'] });
      assert.equal(next.revision, p.revision + 1);
      await next.committed;

      // a write the caller never awaits does not become an unhandled rejection
      store.write('r', 'poison', {});
      await turn();
      await turn();
    } finally {
      await store.close();
    }
    const again = await openStore(path);
    try {
      assert.deepEqual(again.get('r', 'a')?.value, { args: ['committed'] });
      assert.deepEqual(again.get('r', 'b')?.value, { args: ['later'] });
    } finally {
      await again.close();
    }
  });
});

void test('store - group commit folds writes to one key and shares one promise per batch', async () => {
  const committed: string[][] = [];
  const group = new GroupCommit<{ id: string; v: number }>({
    commit: (ops) => committed.push(ops.map((o) => `${o.id}=${o.v}`)),
    undo: () => assert.fail('nothing to undo'),
    coalesce: (_earlier, later) => later,
  });
  const p1 = group.enqueue('a', { id: 'a', v: 1 });
  const p2 = group.enqueue('b', { id: 'b', v: 1 });
  const p3 = group.enqueue('a', { id: 'a', v: 2 });
  assert.equal(p1, p2);
  assert.equal(p1, p3);
  assert.equal(group.pendingWrites, 3);
  await p1;
  assert.deepEqual(committed, [['a=2', 'b=1']]);
  const p4 = group.enqueue('a', { id: 'a', v: 3 });
  assert.notEqual(p4, p1);
  await p4;
  assert.equal(group.commits, 2);
});

void test('store - a second process cannot open a store in use', async () => {
  await withFile(async (path) => {
    const store = await openStore(path);
    try {
      await store.write('r', 'a', {}).committed;
      const code = `
        const { createStore } = require(${JSON.stringify(join(ROOT, 'lib/store'))});
        const s = createStore({ engine: 'sqlite', path: ${JSON.stringify(path)}, busyTimeoutMs: 100 });
        s.open().then(() => process.exit(0), (e) => { console.log(e.code); process.exit(3); });`;
      const child = spawn(process.execPath, ['--import', 'tsx', '-e', code], { cwd: ROOT, env: { ...process.env } });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const status = await new Promise<number | null>((r) => child.on('close', r));
      assert.equal(status, 3);
      assert.match(out, /SQLITE_BUSY/);
    } finally {
      await store.close();
    }
  });
});

void test('store - every write acked before a SIGKILL survives it', { timeout: 60_000 }, async () => {
  await withFile(async (path) => {
    // the writer acks (prints "revision index") only after `committed` resolves
    const code = `
      const { createStore } = require(${JSON.stringify(join(ROOT, 'lib/store'))});
      const store = createStore({ engine: 'sqlite', path: ${JSON.stringify(path)}, synchronous: 'full' });
      let i = 0;
      function burst() {
        const n = 1 + (i % 97);
        for (let j = 0; j < n; j++, i++) {
          const idx = i;
          const w = store.write('r', 'k' + (idx % 5000), { args: [idx], bytes: Buffer.from([idx & 255, 0xc1]) });
          w.committed.then(() => process.stdout.write(w.revision + ' ' + idx + '\\n'));
        }
        setImmediate(burst);
      }
      store.open().then(burst);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', code], { cwd: ROOT, env: { ...process.env } });
    let buffered = '';
    const acked: [number, number][] = [];
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<void>((r) => child.on('close', () => r()));
    await new Promise<void>((resolveKill, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        buffered += d.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? ''; // a partial last line was not fully acked
        for (const line of lines) {
          const [rev, idx] = line.split(' ').map(Number);
          acked.push([rev as number, idx as number]);
        }
        if (acked.length >= 20_000 && !child.killed) {
          child.kill('SIGKILL');
          resolveKill();
        }
      });
      child.on('close', () => reject(new Error(`writer exited early: ${stderr}`)));
    }).catch((err: unknown) => {
      if (!child.killed) throw err;
    });
    await exited;

    const store = await openStore(path);
    try {
      // later writes to the same key may also have committed: the stored revision is
      // the acked one or newer, and the value matches whichever write that was
      const lastAcked = new Map<string, [number, number]>();
      for (const [rev, idx] of acked) {
        const key = `k${idx % 5000}`;
        const prev = lastAcked.get(key);
        if (prev === undefined || prev[0] < rev) lastAcked.set(key, [rev, idx]);
      }
      let exact = 0;
      for (const [key, [rev, idx]] of lastAcked) {
        const e = store.get('r', key);
        assert.ok(e, `acked key ${key} missing`);
        assert.ok(e.revision >= rev, `${key}: stored revision ${e.revision} < acked ${rev}`);
        const stored = (e.value.args as number[])[0] as number;
        assert.equal(stored % 5000, idx % 5000);
        assert.deepEqual([...(e.value.bytes ?? [])], [stored & 255, 0xc1]);
        if (e.revision === rev) {
          assert.equal(stored, idx);
          exact++;
        }
      }
      assert.ok(exact > 0);
      const maxAcked = Math.max(...acked.map(([rev]) => rev));
      assert.ok(store.revision('r') >= maxAcked);
      assert.ok(acked.length >= 20_000);
    } finally {
      await store.close();
    }
  });
});
