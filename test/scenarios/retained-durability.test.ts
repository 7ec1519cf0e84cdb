/**
 * "Restart loses nothing acked" (docs/ARCHITECTURE.md, retained store): a router in a child
 * process on a SQLite file is SIGKILLed while a client streams acknowledged retained
 * publishes; a new router on the same file has every acknowledged value with its
 * revision, and its revisions continue above the old ones. Wills of sessions of the
 * killed process fire when the new one starts.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { wsOptions, type AutobahnSession } from '../helpers/autobahn';
import { killChildRouters, startChildRouter } from '../helpers/child-router';
import { acquire, publishAck, retain, storeGet, type StoreEntryView } from '../helpers/retained';
import { connectAs, withTimeout, type Client } from '../helpers/wamp-clients';

let dir: string;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-durability-'));
});
after(async () => {
  await killChildRouters();
  fs.rmSync(dir, { recursive: true, force: true });
});

interface Acked {
  key: string;
  n: number;
  revision: number;
}

/** Every stored entry under a prefix, through gatehouse.store.list paging. */
async function listAll(s: AutobahnSession, prefix: string): Promise<Map<string, StoreEntryView>> {
  const out = new Map<string, StoreEntryView>();
  let after: string | undefined;
  for (;;) {
    const page = await withTimeout(
      s.call<{ entries: StoreEntryView[]; next: string | null }>('gatehouse.store.list', [
        prefix,
        { match: 'prefix', limit: 1000, ...(after !== undefined ? { after } : {}) },
      ]),
      5000,
      'gatehouse.store.list',
    );
    for (const e of page.entries) out.set(e.key, e);
    if (page.next === null) return out;
    after = page.next;
  }
}

test('retained - every acknowledged retained value survives SIGKILL with its revision; revisions continue above after restart', async () => {
  const file = path.join(dir, 'acked.db');
  const first = await startChildRouter(file);
  const writer: Client = await connectAs(wsOptions(first.wsUrl, 'msgpack'), 'writer');
  const acked: Acked[] = [];
  const counterAcks: Acked[] = [];
  let sent = 0;
  let lost = false;
  const WINDOW = 64;
  const KILL_AFTER = 1500;

  // a tight loop with WINDOW publishes in flight; the router is killed under it
  const stream = new Promise<void>((resolve) => {
    let inFlight = 0;
    const pump = (): void => {
      while (!lost && inFlight < WINDOW) {
        const n = ++sent;
        const onCounter = n % 4 === 0;
        const key = onCounter ? 'dur.counter' : `dur.item.${String(n).padStart(6, '0')}`;
        let p: Promise<number>;
        try {
          p = publishAck(writer.session, key, [{ n, pad: 'x'.repeat(n % 50) }], { n }, { retain: true }, 10_000);
        } catch {
          lost = true; // the session is gone: autobahn throws on publish
          break;
        }
        inFlight++;
        p.then(
          (revision) => {
            (onCounter ? counterAcks : acked).push({ key, n, revision });
            if (acked.length + counterAcks.length === KILL_AFTER) void first.kill();
          },
          () => {
            lost = true;
          },
        ).finally(() => {
          inFlight--;
          if (!lost) pump();
          else if (inFlight === 0) resolve();
        });
      }
      if (lost && inFlight === 0) resolve();
    };
    pump();
  });
  await withTimeout(stream, 30_000, 'the stream to be cut by the SIGKILL');
  assert.equal(await withTimeout(first.exited, 5000, 'first router exit'), 'SIGKILL');
  await withTimeout(writer.onclose, 5000, 'the writer to see its connection lost');
  assert.ok(acked.length + counterAcks.length >= KILL_AFTER, `acked ${acked.length + counterAcks.length}`);
  assert.ok(sent > acked.length + counterAcks.length, 'writes were in flight when the router was killed');

  const second = await startChildRouter(file);
  const reader = await connectAs(wsOptions(second.wsUrl, 'json'), 'reader');
  try {
    const stored = await listAll(reader.session, 'dur.item.');
    const missing: Acked[] = [];
    for (const a of acked) {
      const e = stored.get(a.key);
      if (!e) {
        missing.push(a);
        continue;
      }
      assert.deepEqual(
        [e.value, e.headers, e.revision],
        [{ n: a.n, pad: 'x'.repeat(a.n % 50) }, { n: a.n }, a.revision],
        `${a.key}`,
      );
    }
    assert.deepEqual(missing.slice(0, 5), [], `${missing.length} of ${acked.length} acknowledged writes lost`);
    // writes that were in flight may or may not have committed, but nothing else exists
    for (const [key, e] of stored) {
      const n = Number(key.slice('dur.item.'.length));
      assert.ok(n >= 1 && n <= sent && (e.value as { n: number }).n === n, `unexpected ${key}: ${JSON.stringify(e)}`);
    }
    const lastCounter = counterAcks.reduce<Acked | undefined>(
      (m, a) => (m === undefined || a.revision > m.revision ? a : m),
      undefined,
    );
    assert.ok(lastCounter);
    const counter = await storeGet(reader.session, 'dur.counter');
    assert.ok(
      counter && counter.revision >= lastCounter.revision,
      `counter revision ${counter?.revision} >= acked ${lastCounter.revision}`,
    );
    assert.ok(
      (counter.value as { n: number }).n >= lastCounter.n,
      'the counter holds its last acknowledged value or a later one',
    );

    const maxStored = Math.max(counter.revision, ...[...stored.values()].map((e) => e.revision));
    const maxAcked = Math.max(...acked.map((a) => a.revision), lastCounter.revision);
    const next = await retain(reader.session, 'dur.after', ['restart']);
    assert.ok(next > maxStored && next > maxAcked, `new revision ${next} above old ones (${maxStored}, ${maxAcked})`);
    const del = await retain(reader.session, 'dur.item.000001', []);
    assert.ok(del > next);
  } finally {
    await reader.close();
    await second.stop();
  }
});

test('retained - revisions after a deletion-only tail survive restart (no revision reuse)', async () => {
  const file = path.join(dir, 'deletes.db');
  const first = await startChildRouter(file);
  const c = await connectAs(wsOptions(first.wsUrl, 'json'), 'c');
  await retain(c.session, 'del.a', ['a']);
  await retain(c.session, 'del.b', ['b']);
  const lastDelete = await retain(c.session, 'del.a', []);
  await first.kill();
  await withTimeout(c.onclose, 5000, 'connection lost');

  const second = await startChildRouter(file);
  const c2 = await connectAs(wsOptions(second.wsUrl, 'json'), 'c2');
  try {
    assert.equal(await storeGet(c2.session, 'del.a'), null, 'the acknowledged deletion survived');
    assert.equal((await storeGet(c2.session, 'del.b'))?.value, 'b');
    const next = await retain(c2.session, 'del.c', ['c']);
    assert.ok(next > lastDelete, `revision ${next} after restart must be above the deletion's ${lastDelete}`);
  } finally {
    await c2.close();
    await second.stop();
  }
});

test('retained - wills of sessions of a killed router fire when a new router starts on the same file', async () => {
  const file = path.join(dir, 'wills.db');
  const first = await startChildRouter(file);
  const holder = await connectAs(wsOptions(first.wsUrl, 'cbor'), 'holder');
  const lockRev = await acquire(holder.session, 'will.lock', { owner: 'holder' });
  const presenceRev = await retain(holder.session, 'will.presence', ['up'], { will: 'down' });
  await retain(holder.session, 'will.plain', ['kept']);
  // a will cancelled by an overwrite without one
  await retain(holder.session, 'will.cancelled', ['first'], { will: 'must-not-fire' });
  await retain(holder.session, 'will.cancelled', ['second']);
  await first.kill();
  await withTimeout(holder.onclose, 5000, 'connection lost');

  const second = await startChildRouter(file);
  const c = await connectAs(wsOptions(second.wsUrl, 'json'), 'observer');
  try {
    assert.equal(await storeGet(c.session, 'will.lock'), null, 'the lock of the dead session is released');
    const presence = await storeGet(c.session, 'will.presence');
    assert.equal(presence?.value, 'down');
    assert.ok((presence?.revision ?? 0) > Math.max(lockRev, presenceRev));
    assert.equal((await storeGet(c.session, 'will.plain'))?.value, 'kept');
    assert.equal((await storeGet(c.session, 'will.cancelled'))?.value, 'second');
    // the lock is free for a new session at once
    const rev = await withTimeout(acquire(c.session, 'will.lock', { owner: 'new' }), 2000, 'lock after restart');
    assert.ok(rev > (presence?.revision ?? 0));
  } finally {
    await c.close();
    await second.stop();
  }
});
