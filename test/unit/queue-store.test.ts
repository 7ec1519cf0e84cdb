import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import {
  createStores,
  SqliteQueueStore,
  type QueuedMessage,
  type QueueLimits,
  type QueueStore,
  type RetainedStore,
} from '../../lib/store';
import { encodePayload } from '../../lib/store/codec';
import { SCHEMA_VERSION } from '../../lib/store/sqlite-schema';
import { QueueIndex } from '../../lib/store/queue-index';
import { RouterError } from '../../lib/errors';
import type { Payload } from '../../lib/payload';

const ROOT = resolve(__dirname, '..', '..');
const ROOMY: QueueLimits = { maxMessages: 1_000_000, maxBytes: 1e12 };

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-queues-'));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function openQueues(path: string, synchronous: 'full' | 'normal' = 'full', now?: () => number): Promise<QueueStore> {
  const store = new SqliteQueueStore({ path, synchronous }, now);
  await store.open();
  return store;
}

async function openBoth(path: string): Promise<{ retained: RetainedStore; queues: QueueStore; close: () => Promise<void> }> {
  const { retained, queues } = createStores({ engine: 'sqlite', path });
  await retained.open();
  await queues.open();
  return { retained, queues, close: async () => void (await Promise.all([queues.close(), retained.close()])) };
}

function msg(n: number, extra: { attrs?: Record<string, unknown>; expiresAt?: number; topic?: string } = {}) {
  return { topic: extra.topic ?? `t/${n}`, payload: { args: [n], bytes: Buffer.from([n & 255, 0xc1]) }, ...extra };
}

const argOf = (m: QueuedMessage | undefined): unknown => m?.payload.args?.[0];

function isCode(code: string): (err: unknown) => boolean {
  return (err: unknown) => err instanceof RouterError && err.def.code === code;
}

/** a trigger that aborts any transaction inserting a queue message with topic 'poison' */
function poison(path: string): void {
  const raw = new Database(path);
  // since schema version 4 the topic is in the message's row or in its shared body
  raw.exec(`CREATE TRIGGER poison BEFORE INSERT ON queue_message WHEN NEW.topic = 'poison'
            BEGIN SELECT RAISE(ABORT, 'poisoned'); END;
            CREATE TRIGGER poison_body BEFORE INSERT ON queue_body WHEN NEW.topic = 'poison'
            BEGIN SELECT RAISE(ABORT, 'poisoned'); END`);
  raw.close();
}

void test('queue store - reads messages in FIFO order, pending and committed alike', async () => {
  await withDir(async (dir) => {
    const store = await openQueues(join(dir, 'q.db'));
    try {
      const seqs: number[] = [];
      for (let i = 0; i < 10; i++) seqs.push(store.enqueue('q', msg(i), ROOMY).seq);
      store.enqueue('other', msg(100), ROOMY);
      await store.enqueue('q', msg(10), ROOMY).committed; // 0..10 on disk now
      for (let i = 11; i < 20; i++) seqs.push(store.enqueue('q', msg(i), ROOMY).seq); // pending
      for (let i = 1; i < seqs.length; i++) assert.ok((seqs[i] as number) > (seqs[i - 1] as number));

      const reads = store.stats.diskReads;
      const all = store.read('q', 0, 100);
      assert.deepEqual(
        all.map(argOf),
        Array.from({ length: 20 }, (_, i) => i),
      );
      assert.equal(store.stats.diskReads - reads, 11, 'committed messages come back from disk');
      const first = all[0];
      assert.ok(first);
      assert.equal(first.queue, 'q');
      assert.equal(first.topic, 't/0');
      assert.deepEqual([...(first.payload.bytes ?? [])], [0, 0xc1]);
      assert.deepEqual(first.attrs, {});
      assert.equal(first.expiresAt, undefined);
      assert.ok(Math.abs(first.enqueuedAt - Date.now()) < 10_000);

      // paging: after a seq, at most `limit`
      const page = store.read('q', (all[4] as QueuedMessage).seq, 3);
      assert.deepEqual(page.map(argOf), [5, 6, 7]);
      assert.deepEqual(store.read('q', (all[19] as QueuedMessage).seq, 10), []);
      assert.deepEqual(store.read('q', 0, 0), []);
      assert.deepEqual(store.read('missing', 0, 10), []);
      assert.deepEqual(store.read('other', 0, 10).map(argOf), [100]);
      assert.equal(argOf(store.get('q', (all[12] as QueuedMessage).seq)), 12);
      assert.equal(store.get('other', (all[12] as QueuedMessage).seq), undefined, 'a seq belongs to one queue');
      assert.deepEqual(store.queues().sort(), ['other', 'q']);
    } finally {
      await store.close();
    }
  });
});

void test('queue store - seqs increase and are never reused, across removals and restarts', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'q.db');
    const store = await openQueues(path);
    const a = store.enqueue('a', msg(1), ROOMY);
    const b = store.enqueue('b', msg(2), ROOMY);
    assert.ok(b.seq > a.seq, 'one store-wide counter');
    await a.committed;
    const c = store.enqueue('a', msg(3), ROOMY);
    await store.remove('a', a.seq);
    await store.remove('b', b.seq);
    await store.removeQueue('a');
    assert.equal(store.stats.messages, 0);
    assert.deepEqual(store.queues(), []);
    await store.close();

    const again = await openQueues(path);
    try {
      const d = again.enqueue('a', msg(4), ROOMY);
      assert.ok(d.seq > c.seq, `seq ${d.seq} after restart is above every earlier seq (${c.seq})`);
      await d.committed;
    } finally {
      await again.close();
    }
  });
});

void test('queue store - a full queue drops its oldest messages and reports how many', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'q.db');
    const store = await openQueues(path);
    const limits = { maxMessages: 3, maxBytes: 1e9 };
    const dropped = [];
    for (let i = 0; i < 5; i++) dropped.push(store.enqueue('q', msg(i), limits).dropped);
    assert.deepEqual(dropped, [0, 0, 0, 1, 1]);
    await turn();
    assert.deepEqual(store.read('q', 0, 10).map(argOf), [2, 3, 4]);
    // limits apply per call: a smaller limit drops more at once
    const r = store.enqueue('q', msg(5), { maxMessages: 1, maxBytes: 1e9 });
    assert.equal(r.dropped, 3);
    assert.equal(store.stats.dropped, 5);
    assert.deepEqual(store.size('q').messages, 1);
    await store.close();

    const again = await openQueues(path);
    try {
      assert.deepEqual(again.read('q', 0, 10).map(argOf), [5], 'drops are durable like removals');
    } finally {
      await again.close();
    }
  });
});

void test('queue store - the byte limit counts topic and payload bytes; too big or full is refused', async () => {
  await withDir(async (dir) => {
    const store = await openQueues(join(dir, 'q.db'));
    try {
      const payload: Payload = { bytes: Buffer.alloc(100, 7) };
      const size = Buffer.byteLength('tøpic') + encodePayload(payload).length;
      const limits = { maxMessages: 100, maxBytes: 3 * size };
      for (let i = 0; i < 3; i++) assert.equal(store.enqueue('q', { topic: 'tøpic', payload }, limits).dropped, 0);
      assert.deepEqual(store.size('q'), { messages: 3, bytes: 3 * size });
      assert.equal(store.enqueue('q', { topic: 'tøpic', payload }, limits).dropped, 1);

      // a bigger message drops as many of the oldest as it needs
      const big: Payload = { bytes: Buffer.alloc(2 * size, 1) };
      const bigSize = Buffer.byteLength('big') + encodePayload(big).length;
      const r = store.enqueue('q', { topic: 'big', payload: big }, { maxMessages: 100, maxBytes: bigSize + size });
      assert.equal(r.dropped, 2);
      assert.deepEqual(store.size('q'), { messages: 2, bytes: bigSize + size });

      // one that can never fit is refused, and nothing changes
      const before = store.read('q', 0, 10).map((m) => m.seq);
      assert.throws(
        () => store.enqueue('q', { topic: 'big', payload: big }, { maxMessages: 100, maxBytes: bigSize - 1 }),
        isCode('limit_exceeded'),
      );
      // overflow 'reject' refuses instead of dropping
      assert.throws(
        () => store.enqueue('q', msg(1), { maxMessages: 2, maxBytes: 1e9, overflow: 'reject' }),
        isCode('limit_exceeded'),
      );
      assert.deepEqual(
        store.read('q', 0, 10).map((m) => m.seq),
        before,
      );
      assert.equal(store.stats.dropped, 3);
      // bad input fails its own call
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      assert.throws(() => store.enqueue('q', { topic: 't', payload: { kwargs: cyclic } }, ROOMY), isCode('invalid_argument'));
      assert.throws(
        () => store.enqueue('q', { topic: 't', payload: {}, attrs: { s: Symbol('x') } }, ROOMY),
        isCode('invalid_argument'),
      );
      assert.throws(() => store.enqueue('', msg(1), ROOMY), isCode('invalid_argument'));
      assert.throws(() => store.enqueue('q', msg(1), { maxMessages: 0, maxBytes: 10 }), isCode('invalid_argument'));
      assert.equal(store.size('q').messages, 2);
    } finally {
      await store.close();
    }
  });
});

void test('queue store - expired messages are skipped, removed, and make room first', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'q.db');
    const store = await openQueues(path);
    const past = Date.now() - 1;
    const later = Date.now() + 60_000;
    const gone = store.enqueue('q', msg(0, { expiresAt: past }), ROOMY);
    store.enqueue('q', msg(1), ROOMY);
    const soon = store.enqueue('q', msg(2, { expiresAt: later }), ROOMY);
    store.enqueue('q', msg(3, { expiresAt: past }), ROOMY);
    await soon.committed;
    assert.equal(store.size('q').messages, 4, 'expired messages count until removed');
    assert.equal(store.get('q', gone.seq), undefined);
    assert.equal(store.nextExpiry(), past);

    assert.deepEqual(store.read('q', 0, 1).map(argOf), [1]);
    assert.equal(store.stats.expired, 1, 'the read walked over one expired message');
    assert.deepEqual(store.read('q', 0, 10).map(argOf), [1, 2]);
    assert.equal(store.read('q', 0, 10)[1]?.expiresAt, later);
    assert.equal(store.stats.expired, 2);
    assert.equal(store.size('q').messages, 2);

    // a full queue removes expired messages before dropping live ones
    const limits = { maxMessages: 3, maxBytes: 1e9 };
    store.enqueue('q', msg(4, { expiresAt: past }), ROOMY);
    assert.equal(store.enqueue('q', msg(5), limits).dropped, 0);
    assert.equal(store.stats.expired, 3);
    assert.deepEqual(store.read('q', 0, 10).map(argOf), [1, 2, 5]);

    // the sweep
    store.enqueue('p', msg(6, { expiresAt: past }), ROOMY);
    assert.equal(store.expire(later), 2);
    assert.deepEqual(store.queues(), ['q']);
    assert.equal(store.nextExpiry(), undefined);
    // expiry is stored: these expire while the store is closed
    const closing = Date.now() + 50;
    store.enqueue('q', msg(7, { expiresAt: closing }), ROOMY);
    store.enqueue('q', msg(8, { expiresAt: later }), ROOMY);
    await store.close();

    // reopened after `closing`: the store's clock says so, no need to wait for it
    const again = await openQueues(path, 'full', () => closing + 1);
    try {
      assert.equal(again.size('q').messages, 4);
      assert.equal(again.nextExpiry(), closing);
      assert.deepEqual(again.read('q', 0, 10).map(argOf), [1, 5, 8]);
      assert.equal(again.stats.expired, 1);
      assert.equal(again.get('q', (again.read('q', 0, 10)[2] as QueuedMessage).seq)?.expiresAt, later);
    } finally {
      await again.close();
    }
  });
});

void test('queue store - update replaces attrs and remove acks, before and after commit', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'q.db');
    const store = await openQueues(path);
    const a = store.enqueue('q', msg(1, { attrs: { qos: 1 } }), ROOMY);
    const b = store.enqueue('q', msg(2, { attrs: { qos: 2 } }), ROOMY);
    const c = store.enqueue('q', msg(3), ROOMY);
    // update while the insert is pending: folds into it
    const readBefore = store.get('q', a.seq);
    await store.update('q', a.seq, { qos: 1, packetId: 7 });
    assert.deepEqual(readBefore?.attrs, { qos: 1 }, 'a message already read does not change');
    assert.deepEqual(store.get('q', a.seq)?.attrs, { qos: 1, packetId: 7 });

    // update of a committed message: visible at once, durable after commit
    const u = store.update('q', b.seq, { qos: 2, packetId: 8, state: 'pubrec', raw: Buffer.from([0xc1, 0]) });
    assert.ok(u);
    assert.deepEqual(store.get('q', b.seq)?.attrs.packetId, 8);
    await u;
    const bAttrs = store.get('q', b.seq)?.attrs;
    assert.equal(bAttrs?.state, 'pubrec');
    assert.deepEqual([...(bAttrs?.raw as Uint8Array)], [0xc1, 0]);

    assert.equal(store.update('q', 99_999, {}), undefined);
    assert.equal(store.update('elsewhere', a.seq, {}), undefined);
    const r = store.remove('q', c.seq);
    assert.ok(r);
    assert.equal(store.remove('q', c.seq), undefined, 'removing twice finds nothing');
    assert.equal(store.get('q', c.seq), undefined);
    await r;
    // removing a message in the turn it was enqueued leaves nothing to write
    const d = store.enqueue('q', msg(4), ROOMY);
    await store.remove('q', d.seq);
    // attrs replaced by nothing stay replaced
    const e = store.enqueue('q', msg(5, { attrs: { x: 1 } }), ROOMY);
    await e.committed;
    await store.update('q', e.seq, {});
    await store.update('q', e.seq, { y: 2 });
    await store.update('q', e.seq, {});
    assert.deepEqual(store.read('q', 0, 10).map(argOf), [1, 2, 5]);
    await store.close();

    const again = await openQueues(path);
    try {
      const got = again.read('q', 0, 10);
      assert.deepEqual(got.map(argOf), [1, 2, 5]);
      assert.deepEqual(got[0]?.attrs, { qos: 1, packetId: 7 });
      assert.equal(got[1]?.attrs.state, 'pubrec');
      assert.deepEqual(got[2]?.attrs, {});
      // removing a message removes its replaced attrs too
      await again.remove('q', b.seq);
      await again.remove('q', e.seq);
    } finally {
      await again.close();
    }
    const raw = new Database(path, { readonly: true });
    assert.equal((raw.prepare('SELECT count(*) AS n FROM queue_attrs').get() as { n: number }).n, 0);
    raw.close();
  });
});

void test('queue store - records are created, read, replaced, listed and deleted durably', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'q.db');
    const store = await openQueues(path);
    const session = { subscriptions: [{ filter: 'a/+/c', qos: 1 }], expiry: 3600, will: Buffer.from([1, 2]) };
    await store.putRecord('mqtt.session', 'client-1', session);
    void store.putRecord('mqtt.session', 'client-2', { subscriptions: [] });
    void store.putRecord('mqtt.session', 'other-3', 1);
    void store.putRecord('stomp.durable', 'client-1', ['/topic/x']);
    assert.deepEqual(store.getRecord('mqtt.session', 'client-1'), session);
    assert.equal(store.getRecord('mqtt.session', 'nobody'), undefined);
    assert.equal(store.getRecord('nothing', 'client-1'), undefined);
    void store.putRecord('mqtt.session', 'client-2', { subscriptions: ['x'] });
    assert.deepEqual(store.getRecord('mqtt.session', 'client-2'), { subscriptions: ['x'] });
    assert.deepEqual([...store.records('mqtt.session', 'client-')].map(([id]) => id).sort(), ['client-1', 'client-2']);
    assert.equal([...store.records('mqtt.session')].length, 3);
    assert.equal(store.stats.records, 4);
    const del = store.deleteRecord('mqtt.session', 'other-3');
    assert.ok(del);
    assert.equal(store.deleteRecord('mqtt.session', 'other-3'), undefined);
    await del;
    // writing while iterating is allowed
    for (const [id] of store.records('mqtt.session')) void store.putRecord('mqtt.session', `${id}-copy`, id);
    assert.throws(() => store.putRecord('k', 'x', { s: Symbol('x') }), isCode('invalid_argument'));
    assert.throws(() => store.putRecord('k', 'x', undefined), isCode('invalid_argument'));
    assert.equal(store.getRecord('k', 'x'), undefined);
    await store.close();

    const again = await openQueues(path);
    try {
      const got = again.getRecord('mqtt.session', 'client-1') as typeof session;
      assert.deepEqual(got.subscriptions, session.subscriptions);
      assert.deepEqual([...got.will], [1, 2]);
      assert.deepEqual(again.getRecord('mqtt.session', 'client-2'), { subscriptions: ['x'] });
      assert.equal(again.getRecord('mqtt.session', 'other-3'), undefined);
      assert.equal(again.getRecord('mqtt.session', 'client-1-copy'), 'client-1');
      assert.deepEqual(again.getRecord('stomp.durable', 'client-1'), ['/topic/x']);
      assert.equal(again.stats.records, 5);
    } finally {
      await again.close();
    }
  });
});

void test('queue store - reopening restores queues, messages, sizes and records', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'q.db');
    const store = await openQueues(path);
    const bytes = new Uint8Array(512).map((_, i) => (i * 7 + 0xc1) & 0xff);
    const expiresAt = Date.now() + 3_600_000;
    for (let s = 0; s < 20; s++) {
      for (let i = 0; i < 25; i++) {
        const payload: Payload =
          i % 2 === 0 ? { bytes } : { args: [i, 'ünï\u0000'], kwargs: { big: 2 ** 53, blob: Buffer.from([0, 255]), none: null } };
        store.enqueue(
          `mqtt/client-${s}`,
          { topic: `dev/${s}/${i}`, payload, attrs: { qos: 1 + (i % 2) }, ...(i % 5 === 0 ? { expiresAt } : {}) },
          ROOMY,
        );
      }
      if (s % 3 === 0) await turn();
      void store.putRecord('mqtt.session', `client-${s}`, { n: s });
    }
    void store.remove('mqtt/client-3', (store.read('mqtt/client-3', 0, 1)[0] as QueuedMessage).seq);
    store.enqueue('stomp/jobs', msg(1), ROOMY);
    const snapshot = new Map(store.queues().map((q) => [q, { read: store.read(q, 0, 1000), size: store.size(q) }]));
    const stats = { ...store.stats };
    await store.close(); // the last writes are still pending: close commits them

    const again = await openQueues(path);
    try {
      assert.deepEqual(again.queues().sort(), [...snapshot.keys()].sort());
      assert.deepEqual(again.queues('mqtt/').length, 20);
      for (const [q, want] of snapshot) {
        assert.deepEqual(again.size(q), want.size, q);
        const got = again.read(q, 0, 1000);
        // binary comes back as Buffer: compare through plain arrays of bytes
        const norm = (ms: QueuedMessage[]) =>
          ms.map((m) => ({ ...m, payload: { ...m.payload, bytes: m.payload.bytes && [...m.payload.bytes] } }));
        assert.deepEqual(norm(got), norm(want.read), q);
      }
      assert.equal(again.stats.messages, stats.messages);
      assert.equal(again.stats.bytes, stats.bytes);
      assert.equal(again.stats.records, 20);
      assert.deepEqual(again.getRecord('mqtt.session', 'client-7'), { n: 7 });
    } finally {
      await again.close();
    }
  });
});

void test('queue store - shares one file and one transaction per turn with the retained store', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'router.db');
    let both = await openBoth(path);
    await both.retained.write('r', 'warmup', {}).committed;
    const commits = both.queues.stats.commits;
    const results = [];
    for (let i = 0; i < 100; i++) {
      results.push(both.retained.write('r', `k${i}`, { args: [i] }).committed);
      results.push(both.queues.enqueue(`q${i % 7}`, msg(i), ROOMY).committed);
    }
    results.push(both.queues.putRecord('session', 's1', { a: 1 }));
    assert.equal(both.queues.stats.pendingWrites, 201);
    await Promise.all(results);
    assert.equal(both.queues.stats.commits, commits + 1, 'one commit for both engines');
    assert.equal(both.retained.stats.commits, commits + 1);
    await both.close();
    assert.deepEqual(
      readdirSync(dir).filter((f) => !f.endsWith('-wal') && !f.endsWith('-shm')),
      ['router.db'],
    );

    // one transaction: a queue write that fails takes the retained writes of its turn with it
    poison(path);
    both = await openBoth(path);
    try {
      const w = both.retained.write('r', 'k1', { args: ['uncommitted'] });
      const q = both.queues.enqueue('q0', { topic: 'poison', payload: {} }, ROOMY);
      await assert.rejects(w.committed, /poisoned/);
      await assert.rejects(q.committed, /poisoned/);
      assert.deepEqual(both.retained.get('r', 'k1')?.value, { args: [1] }, 'the retained write was undone too');
      assert.equal(both.queues.get('q0', q.seq), undefined);
      assert.equal(both.retained.stats.failedCommits, 1);
      // and the next turn commits normally, for both
      await both.retained.write('r', 'k2', { args: ['later'] }).committed;
      assert.equal(both.queues.size('q0').messages, 15);
    } finally {
      await both.close();
    }
    both = await openBoth(path);
    try {
      assert.deepEqual(both.retained.get('r', 'k1')?.value, { args: [1] });
      assert.deepEqual(both.retained.get('r', 'k2')?.value, { args: ['later'] });
      assert.equal(both.queues.stats.messages, 100);
      assert.deepEqual(both.queues.getRecord('session', 's1'), { a: 1 });
    } finally {
      await both.close();
    }
  });
});

void test('queue store - a failed commit rejects its writes and undoes them in memory', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'q.db');
    const init = await openQueues(path);
    const seqs = [];
    for (let i = 0; i < 4; i++) seqs.push(init.enqueue('q', msg(i, { attrs: { v: 0 } }), ROOMY).seq);
    void init.putRecord('k', 'kept', 'old');
    await init.putRecord('k', 'gone', 'old');
    await init.close();
    poison(path);

    const store = await openQueues(path);
    try {
      const [s0, s1, s2] = seqs as [number, number, number];
      const added = store.enqueue('q', msg(10), ROOMY);
      const upd = store.update('q', s1, { v: 1 });
      const rem = store.remove('q', s2);
      const rec = store.putRecord('k', 'kept', 'new');
      const recNew = store.putRecord('k', 'new', 'new');
      const recDel = store.deleteRecord('k', 'gone');
      // a drop of the oldest, then the poison
      const bad = store.enqueue('q', { topic: 'poison', payload: {} }, { maxMessages: 4, maxBytes: 1e9 });
      assert.equal(bad.dropped, 1);
      assert.equal(store.get('q', s0), undefined);
      for (const p of [added.committed, upd, rem, rec, recNew, recDel, bad.committed])
        await assert.rejects(p as Promise<void>, /poisoned/);
      assert.equal(store.stats.failedCommits, 1);

      assert.deepEqual(store.read('q', 0, 10).map(argOf), [0, 1, 2, 3], 'drop and removal undone, enqueues gone');
      assert.deepEqual(store.get('q', s1)?.attrs, { v: 0 }, 'the update was undone');
      assert.equal(store.size('q').messages, 4);
      assert.equal(store.stats.messages, 4);
      assert.equal(store.getRecord('k', 'kept'), 'old');
      assert.equal(store.getRecord('k', 'new'), undefined);
      assert.equal(store.getRecord('k', 'gone'), 'old');
      assert.equal(store.stats.records, 2);

      // seqs of failed enqueues are not handed out again
      const next = store.enqueue('q', msg(11), ROOMY);
      assert.ok(next.seq > bad.seq);
      await next.committed;
      // an ignored failure is no unhandled rejection
      store.enqueue('q', { topic: 'poison', payload: {} }, ROOMY);
      await turn();
      await turn();
    } finally {
      await store.close();
    }
    const again = await openQueues(path);
    try {
      assert.deepEqual(again.read('q', 0, 10).map(argOf), [0, 1, 2, 3, 11]);
      assert.equal(again.getRecord('k', 'gone'), 'old');
    } finally {
      await again.close();
    }
  });
});

void test('queue store - upgrades a database made before the queue tables existed', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'old.db');
    const raw = new Database(path);
    raw.exec(`
      CREATE TABLE retained_log (seq INTEGER PRIMARY KEY, realm TEXT NOT NULL, key TEXT NOT NULL, value BLOB,
        revision INTEGER NOT NULL, expires_at INTEGER, will_session INTEGER, will_value BLOB);
      CREATE TABLE realm_revision (realm TEXT PRIMARY KEY, revision INTEGER NOT NULL) WITHOUT ROWID;
      PRAGMA user_version = 1;`);
    raw
      .prepare('INSERT INTO retained_log VALUES (1, ?, ?, ?, 1, NULL, NULL, NULL)')
      .run('r', 'k', encodePayload({ args: ['old'] }));
    raw.close();
    const both = await openBoth(path);
    try {
      assert.deepEqual(both.retained.get('r', 'k')?.value, { args: ['old'] });
      await both.queues.enqueue('q', msg(1), ROOMY).committed;
    } finally {
      await both.close();
    }
    const check = new Database(path, { readonly: true });
    // brought up to the current version (2 added the queue tables; later ones follow)
    assert.equal(check.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    assert.ok(SCHEMA_VERSION >= 2);
    check.close();
  });
});

void test('queue store - the queue index matches a sorted list under random pushes, removals and restores', () => {
  let s = 0x1d3;
  const rand = (): number => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const ix = new QueueIndex('q');
  let model: { seq: number; size: number; expiresAt: number }[] = [];
  const removed: { seq: number; size: number; expiresAt: number }[] = [];
  let seq = 0;
  for (let step = 0; step < 50_000; step++) {
    const r = rand();
    if (r < 0.45) {
      seq += 1 + Math.floor(rand() * 3);
      const m = { seq, size: Math.floor(rand() * 100), expiresAt: rand() < 0.2 ? Math.floor(rand() * 1000) : Infinity };
      ix.push(m.seq, m.size, m.expiresAt);
      model.push(m);
    } else if (r < 0.8 && model.length > 0) {
      // mostly from the head, like acks; sometimes from anywhere
      const i = rand() < 0.7 ? 0 : Math.floor(rand() * model.length);
      const m = model[i] as (typeof model)[number];
      assert.deepEqual(ix.remove(m.seq), m);
      model.splice(i, 1);
      removed.push(m);
    } else if (r < 0.85 && removed.length > 0) {
      const m = removed.splice(Math.floor(rand() * removed.length), 1)[0] as (typeof model)[number];
      ix.restore(m.seq, m.size, m.expiresAt);
      model.push(m);
      model.sort((a, b) => a.seq - b.seq);
    } else if (r < 0.86) {
      const expired = ix.expiredAt(500);
      for (const q of expired) ix.remove(q);
      model = model.filter((m) => m.expiresAt > 500);
    } else {
      const m = model[Math.floor(rand() * model.length)];
      if (m !== undefined) assert.deepEqual(ix.get(m.seq), m);
      assert.equal(ix.remove(seq + 1), undefined);
    }
    if (step % 1000 === 0 || step === 49_999) {
      assert.deepEqual(ix.live(), model, `step ${step}`);
      assert.equal(ix.messages, model.length);
      assert.equal(
        ix.bytes,
        model.reduce((a, m) => a + m.size, 0),
      );
      assert.equal(ix.oldest(), model[0]?.seq);
      const from = model[Math.floor(model.length / 2)]?.seq ?? 0;
      const got: number[] = [];
      ix.scan(from, (q) => got.push(q) < 5);
      assert.deepEqual(
        got,
        model
          .filter((m) => m.seq > from)
          .slice(0, 5)
          .map((m) => m.seq),
      );
    }
  }
});

void test('queue store - random operations and reopens match a model', { timeout: 120_000 }, async () => {
  // a small seeded PRNG (mulberry32), so a failure replays
  const seed = 0xc0ffee;
  let s = seed;
  const rand = (): number => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(xs: readonly T[]): T | undefined => xs[Math.floor(rand() * xs.length)];

  interface ModelMsg {
    seq: number;
    topic: string;
    payload: Payload;
    attrs: Record<string, unknown>;
    size: number;
    expired: boolean;
  }
  const model = new Map<string, ModelMsg[]>();
  const records = new Map<string, unknown>();
  const queueNames = ['a', 'b', 'c', 'd', 'e'];
  const limits = { maxMessages: 12, maxBytes: 600 };
  const PAST = 1; // expired since 1970: deterministic
  let lastSeq = 0;
  let dropped = 0;

  const live = (q: string): ModelMsg[] => model.get(q) ?? [];
  const removeFromModel = (q: string, seq: number): void => {
    const list = live(q).filter((m) => m.seq !== seq);
    if (list.length === 0) model.delete(q);
    else model.set(q, list);
  };
  /** the store's read rule: walk after afterSeq, removing expired, until `limit` live */
  const modelRead = (q: string, afterSeq: number, limit: number): ModelMsg[] => {
    const out: ModelMsg[] = [];
    for (const m of [...live(q)]) {
      if (m.seq <= afterSeq) continue;
      if (out.length >= limit) break;
      if (m.expired) removeFromModel(q, m.seq);
      else out.push(m);
    }
    return out;
  };
  const bytesOf = (b: Uint8Array | undefined) => (b === undefined ? undefined : [...b]);
  const same = (got: QueuedMessage[], want: ModelMsg[], when: string): void => {
    assert.deepEqual(
      got.map((m) => [m.seq, m.topic, m.payload.args, bytesOf(m.payload.bytes), m.attrs]),
      want.map((m) => [m.seq, m.topic, m.payload.args, bytesOf(m.payload.bytes), m.attrs]),
      `${when} (seed ${seed})`,
    );
  };
  const check = (store: QueueStore, when: string): void => {
    assert.deepEqual(store.queues().sort(), [...model.keys()].sort(), `${when}: queues`);
    for (const q of queueNames) {
      const list = live(q);
      assert.deepEqual(
        store.size(q),
        { messages: list.length, bytes: list.reduce((a, m) => a + m.size, 0) },
        `${when}: size of ${q}`,
      );
      same(store.read(q, 0, 1000), modelRead(q, 0, 1000), `${when}: ${q}`);
    }
    for (const [key, value] of records) {
      const [kind, id] = key.split('/') as [string, string];
      assert.deepEqual(store.getRecord(kind, id), value, `${when}: record ${key}`);
    }
    assert.equal(store.stats.records, records.size, `${when}: records`);
  };

  await withDir(async (dir) => {
    const path = join(dir, 'q.db');
    let store = await openQueues(path, 'normal');
    let reopens = 0;
    for (let step = 0; step < 20_000; step++) {
      const q = pick(queueNames) as string;
      const r = rand();
      if (r < 0.4) {
        const n = Math.floor(rand() * 200);
        const payload: Payload = rand() < 0.5 ? { args: [step] } : { args: [step], bytes: Buffer.alloc(n, step & 255) };
        const topic = `t/${step % 17}`;
        const expired = rand() < 0.1;
        const attrs = { n: step };
        const size = Buffer.byteLength(topic) + encodePayload(payload).length;
        // the model's overflow rule: expired first, then the oldest
        const full = (): boolean =>
          live(q).length + 1 > limits.maxMessages || live(q).reduce((a, m) => a + m.size, 0) + size > limits.maxBytes;
        let wantDropped = 0;
        if (full()) {
          for (const m of live(q)) if (m.expired) removeFromModel(q, m.seq);
          while (full()) {
            removeFromModel(q, (live(q)[0] as ModelMsg).seq);
            wantDropped++;
          }
        }
        const res = store.enqueue(q, { topic, payload, attrs, ...(expired ? { expiresAt: PAST } : {}) }, limits);
        assert.ok(res.seq > lastSeq);
        lastSeq = res.seq;
        assert.equal(res.dropped, wantDropped, `step ${step}: dropped`);
        dropped += wantDropped;
        model.set(q, [...live(q), { seq: res.seq, topic, payload, attrs, size, expired }]);
      } else if (r < 0.55) {
        const after = rand() < 0.5 ? 0 : (pick(live(q))?.seq ?? 0);
        const limit = 1 + Math.floor(rand() * 5);
        same(store.read(q, after, limit), modelRead(q, after, limit), `step ${step}: read ${q} after ${after}`);
      } else if (r < 0.65) {
        const m = pick(live(q).filter((x) => !x.expired));
        const attrs = { n: step, packetId: step % 65536 };
        const u = store.update(q, m?.seq ?? lastSeq + 1, attrs);
        assert.equal(u === undefined, m === undefined, `step ${step}: update`);
        if (m !== undefined) m.attrs = attrs;
      } else if (r < 0.8) {
        const m = pick(live(q));
        const rm = store.remove(q, m?.seq ?? lastSeq + 1);
        assert.equal(rm === undefined, m === undefined, `step ${step}: remove`);
        if (m !== undefined) removeFromModel(q, m.seq);
      } else if (r < 0.81) {
        void store.removeQueue(q);
        model.delete(q);
      } else if (r < 0.88) {
        const id = `s${Math.floor(rand() * 8)}`;
        if (rand() < 0.7) {
          const value = { step, list: [step, 'x'] };
          void store.putRecord('session', id, value);
          records.set(`session/${id}`, value);
        } else {
          const d = store.deleteRecord('session', id);
          assert.equal(d !== undefined, records.delete(`session/${id}`), `step ${step}: delete record`);
        }
      } else if (r < 0.999) {
        await turn(); // a batch boundary
      } else {
        await store.close();
        store = await openQueues(path, 'normal');
        for (const list of model.values())
          for (const m of list) if (m.payload.bytes) m.payload = { ...m.payload, bytes: Buffer.from(m.payload.bytes) };
        check(store, `after reopen ${++reopens} at step ${step}`);
      }
      if (step % 500 === 499) check(store, `step ${step}`);
    }
    check(store, 'at the end');
    assert.ok(reopens >= 5, `reopened ${reopens} times`);
    assert.ok(dropped > 100, `limits dropped ${dropped} messages`);
    await store.close();
    const last = await openQueues(path);
    try {
      check(last, 'after the last reopen');
    } finally {
      await last.close();
    }
  });
});

void test('queue store - every enqueue and removal acked before a SIGKILL survives it', { timeout: 90_000 }, async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'crash.db');
    // The writer shares one database between the retained store and the queue store;
    // a quarter of its messages also go to a queue never acked (a shared body).
    // It prints "E queue seq idx" once an enqueue is committed, "r queue seq" BEFORE it
    // asks for a removal (so the removal may or may not land), "R queue seq" once the
    // removal is committed, and "W revision" once a retained write is.
    const code = `
      const { createStores } = require(${JSON.stringify(join(ROOT, 'lib/store'))});
      const { retained, queues } = createStores({ engine: 'sqlite', path: ${JSON.stringify(path)}, synchronous: 'full' });
      const limits = { maxMessages: 1e9, maxBytes: 1e15 };
      const out = (line) => process.stdout.write(line + '\\n');
      const acked = [];
      let i = 0;
      function burst() {
        const n = 1 + (i % 61);
        for (let j = 0; j < n; j++, i++) {
          const idx = i;
          // every 4th message also goes to 'slow', never acked: one shared body whose
          // other reference is removed
          const payload = { args: [idx], bytes: Buffer.from([idx & 255, 0xc1]) };
          const targets = idx % 4 === 0 ? ['q' + (idx % 13), 'slow'] : ['q' + (idx % 13)];
          for (const q of targets) {
            const e = queues.enqueue(q, { topic: 't/' + idx, payload, attrs: { idx } }, limits);
            e.committed.then(() => { out('E ' + q + ' ' + e.seq + ' ' + idx); if (q !== 'slow') acked.push([q, e.seq]); });
          }
        }
        // ack (remove) about half of what was acked so far, oldest first
        for (let k = 0; k < n / 2 && acked.length > 0; k++) {
          const [q, seq] = acked.shift();
          out('r ' + q + ' ' + seq);
          const p = queues.remove(q, seq);
          if (p) p.then(() => out('R ' + q + ' ' + seq));
        }
        const w = retained.write('r', 'k' + (i % 100), { args: [i] });
        w.committed.then(() => out('W ' + w.revision));
        setImmediate(burst);
      }
      Promise.all([retained.open(), queues.open()]).then(burst);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', code], { cwd: ROOT, env: { ...process.env } });
    const enqueued = new Map<string, { queue: string; idx: number }>();
    const removing = new Set<string>();
    const removed = new Set<string>();
    let maxRevision = 0;
    let buffered = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<void>((r) => child.on('close', () => r()));
    await new Promise<void>((resolveKill, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        buffered += d.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? ''; // a partial last line was not fully acked
        for (const line of lines) {
          const [kind, a, b, c] = line.split(' ') as [string, string, string, string];
          if (kind === 'E') enqueued.set(`${a} ${b}`, { queue: a, idx: Number(c) });
          else if (kind === 'r') removing.add(`${a} ${b}`);
          else if (kind === 'R') removed.add(`${a} ${b}`);
          else if (kind === 'W') maxRevision = Math.max(maxRevision, Number(a));
        }
        if (enqueued.size >= 30_000 && removed.size >= 5_000 && !child.killed) {
          child.kill('SIGKILL');
          resolveKill();
        }
      });
      child.on('close', () => reject(new Error(`writer exited early: ${stderr}`)));
    }).catch((err: unknown) => {
      if (!child.killed) throw err;
    });
    await exited;

    const both = await openBoth(path);
    try {
      let present = 0;
      for (const [key, { queue, idx }] of enqueued) {
        const seq = Number(key.split(' ')[1]);
        const m = both.queues.get(queue, seq);
        if (removed.has(key)) {
          assert.equal(m, undefined, `acked removal of ${key} came back`);
          continue;
        }
        if (m === undefined) {
          assert.ok(removing.has(key), `acked message ${key} is missing`);
          continue;
        }
        present++;
        assert.equal(argOf(m), idx);
        assert.deepEqual([...(m.payload.bytes ?? [])], [idx & 255, 0xc1]);
        assert.deepEqual(m.attrs, { idx });
      }
      assert.ok(present > 1000, `${present} acked messages present`);
      assert.ok(both.retained.revision('r') >= maxRevision, 'acked retained writes survived too');
      const maxSeq = Math.max(...[...enqueued.keys()].map((k) => Number(k.split(' ')[1])));
      assert.ok(both.queues.enqueue('q0', msg(0), ROOMY).seq > maxSeq, 'no seq is handed out twice');
    } finally {
      await both.close();
    }
  });
});

function bodyRows(path: string): number {
  const raw = new Database(path, { readonly: true });
  try {
    return raw.prepare<[], number>('SELECT count(*) FROM queue_body').pluck().get() ?? -1;
  } finally {
    raw.close();
  }
}

void test('queue store - one payload enqueued to many queues in a turn is stored once, until its last reference goes', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'q.db');
    let store = await openQueues(path);
    // the store holds the file exclusively: count its bodies between opens
    const reopen = async (): Promise<number> => {
      await store.close();
      const n = bodyRows(path);
      store = await openQueues(path);
      return n;
    };
    try {
      const payload: Payload = { bytes: Buffer.alloc(4000, 7) };
      const seqs: number[] = [];
      for (let k = 0; k < 20; k++) seqs.push(store.enqueue(`q${k}`, { topic: 'fan/out', payload, attrs: { k } }, ROOMY).seq);
      // the same payload under another topic is another message, alone: stored inline in its row
      store.enqueue('q0', { topic: 'other', payload }, ROOMY);
      assert.equal(
        store.size('q3').bytes,
        'fan/out'.length + encodePayload(payload).length,
        'each queue counts the message in full',
      );
      assert.equal(await reopen(), 1);
      // the first reference (whose seq names the body) goes first: the body stays
      for (let k = 0; k < 19; k++) void store.remove(`q${k}`, seqs[k] as number);
      assert.equal(await reopen(), 1);
      const [last] = store.read('q19', 0, 10);
      assert.equal(last?.topic, 'fan/out');
      assert.deepEqual(last?.attrs, { k: 19 });
      assert.deepEqual(Buffer.from(last?.payload.bytes ?? []), Buffer.alloc(4000, 7));
      void store.remove('q19', seqs[19] as number);
      assert.equal(await reopen(), 0, 'the last reference deletes the body');
      assert.deepEqual(
        store.read('q0', 0, 10).map((m) => m.topic),
        ['other'],
      );
      void store.removeQueue('q0');
      // a body dropped to make room in the turn it was written is not reused
      const p2: Payload = { args: ['x'] };
      const one = { maxMessages: 1, maxBytes: 1e9 };
      store.enqueue('solo', { topic: 't', payload: p2 }, one);
      assert.equal(store.enqueue('solo', { topic: 't', payload: p2 }, one).dropped, 1);
      assert.deepEqual(
        store.read('solo', 0, 5).map((m) => m.payload.args),
        [['x']],
      );
      assert.equal(await reopen(), 0, 'alone in the end: inline');
      assert.deepEqual(
        store.read('solo', 0, 5).map((m) => m.payload.args),
        [['x']],
      );
    } finally {
      await store.close();
    }
  });
});

void test('queue store - a failed commit of a fan-out undoes every reference, and its body is not reused', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'q.db');
    await (await openQueues(path)).close();
    poison(path);
    let store = await openQueues(path);
    try {
      const payload: Payload = { args: ['shared'] };
      const bad = ['a', 'b', 'c'].map((q) => store.enqueue(q, { topic: 'poison', payload }, ROOMY).committed);
      for (const p of bad) await assert.rejects(p, /poisoned/);
      assert.equal(store.stats.messages, 0);
      // the same payload object in a later turn: a body of its own, stored
      const good = ['a', 'b', 'c'].map((q) => store.enqueue(q, { topic: 'fine', payload }, ROOMY).committed);
      await Promise.all(good);
      await store.close();
      assert.equal(bodyRows(path), 1);
      store = await openQueues(path);
      for (const q of ['a', 'b', 'c'])
        assert.deepEqual(
          store.read(q, 0, 5).map((m) => [m.topic, m.payload.args]),
          [['fine', ['shared']]],
        );
    } finally {
      await store.close();
    }
  });
});
