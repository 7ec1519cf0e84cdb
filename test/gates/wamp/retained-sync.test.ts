/**
 * The sync primitives on the retained store over WAMP with the real autobahn client
 * (docs/ARCHITECTURE.md "Retained store and sync primitives", fox-wamp's when / watch / will):
 * conditional publishes, waiting for a condition, first-come first-served waiters, and
 * wills fired when the writing session is lost (abrupt socket loss or GOODBYE) but not
 * once someone else has overwritten the key.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { startRouter, type TestRouter } from '../../helpers/router';
import { connect, wsOptions } from '../../helpers/autobahn';
import {
  acquire,
  barrier,
  Clients,
  CONDITION_FAILED,
  errorUri,
  Probe,
  rawPublish,
  release,
  retain,
  storeGet,
  storeUntil,
  subscribeWire,
} from '../../helpers/retained';
import { connectAs, EventLog, portOf, RawWampClient, startCutProxy, withTimeout, type Client } from '../../helpers/wamp-clients';
import { expectQuiet, waitFor } from '../../helpers/wait';

let router: TestRouter;
const clients = new Clients();
const raws: RawWampClient[] = [];

before(async () => {
  router = await startRouter();
});
afterEach(async () => {
  for (const r of raws.splice(0)) void r.terminate();
  await clients.closeAll();
});
after(() => router.close());

const json = (): Record<string, unknown> => wsOptions(router.wsUrl, 'json');

async function openRaw(): Promise<RawWampClient> {
  const r = await RawWampClient.open(router.wsUrl);
  raws.push(r);
  return r;
}

/** A rejected acknowledged publish's error URI; fails if it succeeds. */
async function rejection(p: Promise<unknown>, what: string): Promise<string> {
  try {
    await withTimeout(p, 2000, what);
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('timed out')) throw err;
    return errorUri(err);
  }
  return assert.fail(`${what}: expected a rejection, the publish succeeded`);
}

describe('retained - when', () => {
  test('retained - when: null writes an absent key and fails with gatehouse.error.condition_failed once the key exists', async () => {
    const a = await clients.open(json(), 'a');
    const b = await clients.open(json(), 'b');
    const log = new EventLog();
    await subscribeWire(b.session, 'w1.lock', log);
    const rev = await retain(a.session, 'w1.lock', ['a'], { when: null });
    assert.equal(await rejection(retain(b.session, 'w1.lock', ['b'], { when: null }), 'second when:null'), CONDITION_FAILED);
    assert.equal(
      await rejection(retain(a.session, 'w1.lock', ['a2'], { when: null }), 'when:null by the holder'),
      CONDITION_FAILED,
    );
    const e = await storeGet(a.session, 'w1.lock');
    assert.deepEqual([e?.value, e?.revision], ['a', rev], 'a failed conditional publish changes nothing');
    await expectQuiet(50);
    assert.deepEqual(
      log.events.map((x) => x.args),
      [['a']],
      'a failed conditional publish is not routed',
    );
    // once deleted, when: null holds again
    await release(a.session, 'w1.lock');
    const rev2 = await retain(b.session, 'w1.lock', ['b'], { when: null });
    assert.ok(rev2 > rev);
  });

  test('retained - when: {partial object} matches recursively; extra fields are fine, a missing or different field fails', async () => {
    const c = await clients.open(json(), 'c');
    const stored = {
      status: 'started',
      owner: { name: 'ann', host: { dc: 'eu', rack: 7 } },
      tags: ['x', 'y'],
      n: 0,
      flag: false,
    };
    const key = 'w2.job';
    const cases: { when: unknown; holds: boolean }[] = [
      { when: {}, holds: true },
      { when: { status: 'started' }, holds: true },
      { when: { owner: { name: 'ann' } }, holds: true },
      { when: { owner: { host: { dc: 'eu' } }, status: 'started' }, holds: true },
      { when: { owner: { host: { dc: 'eu', rack: 7 } } }, holds: true },
      { when: { n: 0, flag: false }, holds: true },
      { when: { tags: ['x'] }, holds: true },
      { when: { status: 'stopped' }, holds: false },
      { when: { owner: { name: 'bob' } }, holds: false },
      { when: { owner: { host: { dc: 'us' } } }, holds: false },
      { when: { owner: { host: { rack: '7' } } }, holds: false },
      { when: { missing: 1 }, holds: false },
      { when: { owner: 'ann' }, holds: false },
      { when: { n: null }, holds: false },
      { when: 'started', holds: false },
    ];
    for (const [i, k] of cases.entries()) {
      const base = await retain(c.session, key, [stored]);
      const p = retain(c.session, key, [{ case: i }], { when: k.when });
      if (k.holds) {
        const rev = await p;
        assert.ok(rev > base, `case ${i} ${JSON.stringify(k.when)}`);
        assert.deepEqual((await storeGet(c.session, key))?.value, { case: i });
      } else {
        assert.equal(await rejection(p, `case ${i}`), CONDITION_FAILED, `case ${i}: ${JSON.stringify(k.when)} must not hold`);
        assert.deepEqual((await storeGet(c.session, key))?.value, stored, `case ${i}: unchanged`);
      }
    }
    // an object condition on an absent key fails
    assert.equal(await rejection(retain(c.session, 'w2.absent', ['x'], { when: {} }), 'when {} on absent'), CONDITION_FAILED);
    // a scalar value compares by value
    await retain(c.session, 'w2.scalar', [41]);
    await retain(c.session, 'w2.scalar', [42], { when: 41 });
    assert.equal(await rejection(retain(c.session, 'w2.scalar', [43], { when: 41 }), 'stale scalar'), CONDITION_FAILED);
  });
});

describe('retained - watch', () => {
  test('retained - watch: true waits until the condition holds, then writes and acknowledges', async () => {
    const a = await clients.open(json(), 'a');
    const b = await clients.open(json(), 'b');
    await retain(a.session, 'w3.job', [{ status: 'running', step: 1 }]);
    const waiting = new Probe(
      retain(b.session, 'w3.job', [{ status: 'claimed', by: 'b' }], { when: { status: 'done' }, watch: true }),
    );
    await barrier(b.session);
    await retain(a.session, 'w3.job', [{ status: 'running', step: 2 }]);
    await expectQuiet();
    assert.equal(waiting.settled, false, 'still waiting while the condition does not hold');
    assert.deepEqual((await storeGet(a.session, 'w3.job'))?.value, { status: 'running', step: 2 });
    const doneRev = await retain(a.session, 'w3.job', [{ status: 'done', result: 7 }]);
    const rev = await waiting.result('the watcher to be served once status is done');
    assert.ok(rev > doneRev);
    const e = await storeGet(a.session, 'w3.job');
    assert.deepEqual([e?.value, e?.revision], [{ status: 'claimed', by: 'b' }, rev]);
  });

  test('retained - watch with when: null waits for a deletion', async () => {
    const a = await clients.open(json(), 'a');
    const b = await clients.open(json(), 'b');
    await retain(a.session, 'w3.lock', ['a']);
    const waiting = new Probe(acquire(b.session, 'w3.lock', 'b'));
    await barrier(b.session);
    await expectQuiet(50);
    assert.equal(waiting.settled, false);
    const del = await release(a.session, 'w3.lock');
    assert.ok((await waiting.result('b to acquire after the delete')) > del);
  });

  test('retained - watchers that do not write do not stall the other satisfied watchers', async () => {
    const a = await connect(json());
    const b = await connect(json());
    const c = await connect(json());
    try {
      const opts = { when: { x: 1 }, watch: true, acknowledge: true };
      const pa = a.session.publish('probe.chain', [{ from: 'a' }], {}, opts);
      const pb = b.session.publish('probe.chain', [{ from: 'b' }], {}, opts);
      // a round trip on each session: the router has read (and queued) its watch first
      await withTimeout(
        Promise.all([a.session.call('wamp.session.count'), b.session.call('wamp.session.count')]),
        2000,
        'the watchers queued',
      );
      await c.session.publish('probe.chain', [{ x: 1 }], {}, { retain: true, acknowledge: true });
      const [ra, rb] = (await withTimeout(Promise.all([pa, pb]), 2000, 'both watchers (none left stuck)')) as [
        { id: number },
        { id: number },
      ];
      assert.ok(ra.id > 0 && rb.id > 0);
    } finally {
      await Promise.all([a.close(), b.close(), c.close()]);
    }
  });

  test('retained - a lock written with ttl expires and goes to the next waiter', async () => {
    const a = await clients.open(json(), 'a');
    const b = await clients.open(json(), 'b');
    const t0 = Date.now();
    const revA = await acquire(a.session, 'w3.lease', 'a', { ttl: 0.25 });
    const waiting = new Probe(acquire(b.session, 'w3.lease', 'b'));
    await barrier(b.session);
    await expectQuiet();
    assert.equal(waiting.settled, false, 'the lease is still held');
    const revB = await waiting.result('b to acquire once the lease expired', 2000);
    assert.ok(Date.now() - t0 >= 230, 'not before the ttl');
    assert.ok(revB > revA);
    assert.equal((await storeGet(a.session, 'w3.lease'))?.value, 'b');
  });

  test('retained - FIFO: waiters queued A, B, C get the lock in order A, B, C, exactly one at each release', async () => {
    const h = await clients.open(json(), 'holder');
    const names = ['A', 'B', 'C'] as const;
    const w = await Promise.all(names.map((n) => clients.open(json(), n)));
    const key = 'w4.mutex';
    const holderRev = await acquire(h.session, key, 'holder');
    const probes: Probe<number>[] = [];
    for (const [i, c] of w.entries()) {
      probes.push(new Probe(acquire(c.session, key, names[i])));
      await barrier(c.session); // the router has queued this waiter before the next one asks
    }
    await expectQuiet(50);
    assert.deepEqual(
      probes.map((p) => p.settled),
      [false, false, false],
      'nobody acquires while the holder holds',
    );

    let prev = holderRev;
    let releaser: Client = h;
    for (const [i, name] of names.entries()) {
      const releasedAt = await release(releaser.session, key);
      assert.ok(releasedAt > prev);
      const rev = await (probes[i] as Probe<number>).result(`${name} to acquire`);
      assert.ok(rev > releasedAt, `${name}'s fencing token ${rev} above the release ${releasedAt}`);
      await expectQuiet(80);
      assert.deepEqual(
        probes.map((p) => p.settled),
        names.map((_, j) => j <= i),
        `after release ${i + 1} exactly ${name} holds the lock, the others still wait`,
      );
      const e = await storeGet(h.session, key);
      assert.deepEqual([e?.value, e?.revision], [name, rev]);
      prev = rev;
      releaser = w[i] as Client;
    }
    await release(releaser.session, key);
    assert.equal(await storeGet(h.session, key), null);
  });

  for (const how of ['GOODBYE', 'socket killed'] as const) {
    test(`retained - a waiter whose session leaves (${how}) is dropped and never acquires`, async () => {
      const h = await clients.open(json(), 'holder');
      const w2 = await clients.open(json(), 'w2');
      const watcher = await clients.open(json(), 'watcher');
      const key = `w5.mutex.${how === 'GOODBYE' ? 'bye' : 'kill'}`;
      const log = new EventLog();
      await subscribeWire(watcher.session, key, log);
      await acquire(h.session, key, 'holder');

      let leave: () => Promise<void>;
      if (how === 'GOODBYE') {
        const w1 = await connectAs(json(), 'w1');
        const p = acquire(w1.session, key, 'w1');
        p.catch(() => undefined); // rejected or left pending when the session closes
        await barrier(w1.session);
        leave = () => w1.close();
      } else {
        const w1 = await openRaw();
        const req = w1.request();
        w1.send([16, req, { acknowledge: true, retain: true, when: null, will: null, watch: true }, key, ['w1']]);
        await w1.call('gatehouse.store.get', [key]); // barrier on the raw session
        leave = async () => {
          void w1.terminate();
          await withTimeout(w1.whenClosed, 2000, 'raw socket close');
        };
      }
      const second = new Probe(acquire(w2.session, key, 'w2'));
      await barrier(w2.session);
      const sessions = router.router.sessions;
      await leave();
      await waitFor(() => router.router.sessions === sessions - 1, "the router to see w1's session end");
      await release(h.session, key);
      const rev = await second.result('w2 to acquire after w1 left the queue');
      assert.deepEqual((await storeGet(watcher.session, key))?.value, 'w2');
      await release(w2.session, key);
      await storeUntil(watcher.session, key, (e) => e === null, 'nobody holds the lock after w2 released it');
      assert.ok(!log.events.some((e) => e.args[0] === 'w1'), 'w1 never acquired');
      assert.ok(rev > 0);
    });
  }
});

describe('retained - will', () => {
  test('retained - will fires when the socket is killed abruptly (raw WebSocket, no GOODBYE): will null deletes, a will value is written', async () => {
    const holder = await openRaw();
    const watcher = await clients.open(json(), 'watcher');
    const log = new EventLog();
    await subscribeWire(watcher.session, 'w6', log, { match: 'prefix' });
    const lockRev = await rawPublish(holder, 'w6.lock', [{ owner: 'raw' }], {
      retain: true,
      when: null,
      watch: true,
      will: null,
    });
    const statusRev = await rawPublish(holder, 'w6.status.raw', ['online'], { retain: true, will: 'offline' });
    assert.ok(statusRev > lockRev);
    const waiter = await clients.open(json(), 'waiter');
    const next = new Probe(acquire(waiter.session, 'w6.lock', { owner: 'waiter' }));
    await barrier(waiter.session);

    void holder.terminate();
    const lockGone = await log.until((e) => e.details['topic'] === 'w6.lock' && e.args.length === 0, 'the will deleting w6.lock');
    const del = lockGone.at(-1);
    assert.ok((del?.details['revision'] as number) > statusRev, 'the deletion has a new revision');
    await log.until((e) => e.details['topic'] === 'w6.status.raw' && e.args[0] === 'offline', 'the will value offline');
    const status = await storeGet(watcher.session, 'w6.status.raw');
    assert.equal(status?.value, 'offline');
    // the lock the holder lost goes to the waiter
    const rev = await next.result('the waiter to acquire once the holder is lost');
    assert.ok(rev > lockRev);
    assert.deepEqual((await storeGet(watcher.session, 'w6.lock'))?.value, { owner: 'waiter' });
  });

  test('retained - will fires when an autobahn session loses its TCP connection (cut proxy)', async () => {
    const proxy = await startCutProxy(portOf(router.wsUrl));
    try {
      const viaProxy = wsOptions(proxy.via(router.wsUrl), 'msgpack');
      const holder = await connectAs(viaProxy, 'holder');
      const watcher = await clients.open(json(), 'watcher');
      const rev = await acquire(holder.session, 'w7.lock', 'holder');
      await retain(holder.session, 'w7.presence.holder', [{ up: true }], { will: { up: false } });
      proxy.cutAll();
      await withTimeout(holder.onclose, 2000, 'autobahn to notice the cut');
      await storeUntil(watcher.session, 'w7.lock', (e) => e === null, 'will null to delete the lock');
      const p = await storeUntil(
        watcher.session,
        'w7.presence.holder',
        (e) => (e?.value as { up?: boolean } | undefined)?.up === false,
        'the will value',
      );
      assert.ok((p?.revision ?? 0) > rev);
    } finally {
      await proxy.close();
    }
  });

  test('retained - will fires when the session says GOODBYE (connection.close())', async () => {
    const holder = await connectAs(json(), 'holder');
    const watcher = await clients.open(json(), 'watcher');
    const log = new EventLog();
    await subscribeWire(watcher.session, 'w8', log, { match: 'prefix' });
    await acquire(holder.session, 'w8.lock', 'holder');
    await retain(holder.session, 'w8.state', ['working'], { will: ['gone', 1] });
    await holder.close();
    await log.until((e) => e.details['topic'] === 'w8.lock' && e.args.length === 0, 'the will deleting w8.lock');
    await log.until((e) => e.details['topic'] === 'w8.state' && e.args.length === 1, 'the will value of w8.state');
    assert.equal(await storeGet(watcher.session, 'w8.lock'), null);
    assert.deepEqual((await storeGet(watcher.session, 'w8.state'))?.value, ['gone', 1], 'the will value is stored as published');
  });

  test('retained - a will is not fired once the key was overwritten by a write without a will', async () => {
    const a = await connectAs(json(), 'a');
    const b = await clients.open(json(), 'b');
    const watcher = await clients.open(json(), 'watcher');
    // overwritten by another session
    await retain(a.session, 'w9.other', ['a'], { will: 'a-gone' });
    const bRev = await retain(b.session, 'w9.other', ['b']);
    // overwritten by the same session, without a will
    await retain(a.session, 'w9.self', ['a1'], { will: null });
    const selfRev = await retain(a.session, 'w9.self', ['a2']);
    // overwritten by another session that sets its own will
    await retain(a.session, 'w9.handover', ['a'], { will: 'a-gone' });
    const cRev = await retain(b.session, 'w9.handover', ['b'], { will: 'b-gone' });
    // deleted and written again without a will
    await retain(a.session, 'w9.deleted', ['a'], { will: 'a-gone' });
    await release(a.session, 'w9.deleted');
    const dRev = await retain(b.session, 'w9.deleted', ['b']);
    // a control key whose will must fire, so the test knows a's wills have run
    await retain(a.session, 'w9.control', ['a'], { will: 'fired' });

    await a.close();
    await storeUntil(watcher.session, 'w9.control', (e) => e?.value === 'fired', "a's remaining will");
    const other = await storeGet(watcher.session, 'w9.other');
    assert.deepEqual([other?.value, other?.revision], ['b', bRev], 'w9.other keeps b');
    const self = await storeGet(watcher.session, 'w9.self');
    assert.deepEqual([self?.value, self?.revision], ['a2', selfRev], 'w9.self keeps a2');
    const handover = await storeGet(watcher.session, 'w9.handover');
    assert.deepEqual([handover?.value, handover?.revision], ['b', cRev], 'w9.handover keeps b');
    const deleted = await storeGet(watcher.session, 'w9.deleted');
    assert.deepEqual([deleted?.value, deleted?.revision], ['b', dRev], 'w9.deleted keeps b');
    // b's own will still fires when b leaves
    await b.close();
    await storeUntil(watcher.session, 'w9.handover', (e) => e?.value === 'b-gone', "b's will");
  });
});
