/**
 * The sync primitives over WAMP with `store.engine: "jetstream"` (issue 11): two router
 * instances on one nats-server share the realm's bucket, autobahn clients on both. A lock
 * held via router 1 blocks a watcher on router 2, which wakes when it is released; a
 * mutex with fencing tokens under contention (20 clients x 200 cycles, split over both
 * routers); leader election with wills; a CAS counter; a router that stops renewing its
 * lease (it died) has its sessions' wills fired by the other; and a session's later
 * plain publish is not delivered before its earlier store write.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { autobahnTransports } from '../helpers/autobahn';
import { startNats, type Cleanup } from '../helpers/nats';
import { acquire, CONDITION_FAILED, Probe, publishAck, release, retain, storeGet } from '../helpers/retained';
import { startRouter, type TestRouter } from '../helpers/router';
import { expectQuiet, waitFor } from '../helpers/wait';
import { closeAll, connectAs, EventLog, errorOf, subscribeLog, withTimeout, type Client } from '../helpers/wamp-clients';

// the server stops in this file's after(): one registered inside before() would run as
// soon as before() ends
const stops: (() => Promise<void>)[] = [];
const suite: Cleanup = { after: (fn) => stops.push(fn) };
const routers: TestRouter[] = [];
const clients: Client[] = [];

let config: Record<string, unknown> = {};

before(async () => {
  const nats = await startNats(suite);
  config = {
    store: { path: ':memory:', engine: 'jetstream', nats: { servers: [nats.url], bucket: 'sync', leaseMs: 1000 } },
  };
  routers.push(await startRouter(config), await startRouter(config));
});
after(async () => {
  await closeAll(clients);
  for (const r of routers) await r.close();
  for (const stop of stops.reverse()) await stop();
});

function router(i: number): TestRouter {
  const r = routers[i];
  assert.ok(r, `router ${i}`);
  return r;
}

async function client(on: number, authid: string, i = 0): Promise<Client> {
  const r = router(on);
  const kinds = autobahnTransports(r.wsUrl, r.rawSocketUrl);
  const c = await connectAs((kinds[i % kinds.length] as { options: Record<string, unknown> }).options, authid);
  clients.push(c);
  return c;
}

function waiting(on: number, key: string): number {
  return router(on).router.realm('realm1')?.retained?.waitingOn(key) ?? -1;
}

test('jetstream - a lock held via router 1 blocks a watcher on router 2, which wakes with a higher fencing token when it is released', async () => {
  const key = 'js.lock.two-routers';
  const a = await client(0, 'a');
  const b = await client(1, 'b');
  const first = await acquire(a.session, key, { holder: 'a' });
  const second = new Probe(acquire(b.session, key, { holder: 'b' }));
  await waitFor(() => waiting(1, key) === 1, 'the watcher on router 2 waits');
  assert.equal(second.settled, false);
  // router 2 reads router 1's write from its mirror
  assert.deepEqual((await storeGet(b.session, key))?.value, { holder: 'a' });
  const released = await release(a.session, key);
  const token = await second.result('router 2 acquires after the release', 10_000);
  assert.ok(first < released && released < token, `fencing tokens ${first} < ${released} < ${token}`);
  // router 1 reads router 2's write once its mirror has it (milliseconds)
  await waitFor(async () => (await storeGet(a.session, key))?.revision === token, 'router 1 mirrors the new holder');
  assert.deepEqual((await storeGet(a.session, key))?.value, { holder: 'b' });
  await release(b.session, key);
});

test('jetstream - when: null on a key another router holds fails with condition_failed', async () => {
  const key = 'js.lock.refused';
  const a = await client(0, 'a2');
  const b = await client(1, 'b2');
  await retain(a.session, key, ['x'], { when: null });
  await waitFor(async () => (await storeGet(b.session, key)) !== null, 'router 2 sees the key');
  const err = await errorOf(
    b.session.publish(key, ['y'], undefined, { retain: true, when: null, acknowledge: true }),
    'second create',
  );
  assert.equal(err.error, CONDITION_FAILED);
  await release(a.session, key);
});

test('jetstream - CAS counter: 6 clients on two routers increment 10 times each, no increment lost', async () => {
  const key = 'js.counter';
  const cs = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => client(i % 2, `cas${i}`, i)));
  await retain((cs[0] as Client).session, key, [{ n: 0 }]);
  await waitFor(async () => (await storeGet((cs[1] as Client).session, key)) !== null, 'router 2 sees the counter');
  const revisions: number[] = [];
  let conflicts = 0;
  const worker = async (c: Client): Promise<void> => {
    for (let done = 0; done < 10;) {
      const cur = await storeGet(c.session, key);
      const n = (cur?.value as { n: number }).n;
      try {
        revisions.push(await retain(c.session, key, [{ n: n + 1 }], { when: { n } }));
        done++;
      } catch (err) {
        assert.equal((err as { error?: string }).error, CONDITION_FAILED);
        conflicts++;
      }
    }
  };
  await withTimeout(Promise.all(cs.map(worker)), 60_000, '60 increments');
  const final = await storeGet((cs[0] as Client).session, key);
  assert.deepEqual(final?.value, { n: 60 });
  assert.equal(new Set(revisions).size, 60, 'every increment took its own revision');
  assert.ok(conflicts > 0 || revisions.length === 60);
});

test('jetstream - leader election: the leader leaves, its will frees the seat, exactly one follower takes it', async () => {
  const key = 'js.election.leader';
  const candidates = await Promise.all([0, 1, 2].map((i) => client(i % 2, `cand${i}`, i)));
  const probes = candidates.map((c, i) => new Probe(acquire(c.session, key, { leader: i })));
  await withTimeout(Promise.race(probes.map((p) => p.done)), 10_000, 'a leader is elected');
  const leaders = probes.filter((p) => p.settled);
  assert.equal(leaders.length, 1, 'one leader');
  const leader = probes.indexOf(leaders[0] as Probe<number>);
  const firstToken = (await leaders[0]?.result('leader')) ?? 0;
  await (candidates[leader] as Client).close();
  const rest = probes.filter((_, i) => i !== leader);
  await withTimeout(Promise.race(rest.map((p) => p.done)), 10_000, 'a new leader is elected');
  const next = rest.filter((p) => p.settled);
  assert.equal(next.length, 1, 'one new leader');
  const token = await (next[0] as Probe<number>).result('new leader');
  assert.ok(token > firstToken, 'the new leader has a higher fencing token');
  const newLeader = probes.indexOf(next[0] as Probe<number>);
  await release((candidates[newLeader] as Client).session, key);
  const last = rest.find((p) => p !== next[0]) as Probe<number>;
  await last.result('the last candidate leads', 10_000);
  await release((candidates[probes.indexOf(last)] as Client).session, key);
});

test('jetstream - 20 clients on two routers fight for one lock 200 times: never two holders, fencing tokens increase, nobody starves', async () => {
  const key = 'js.contention';
  const cs: Client[] = [];
  for (let i = 0; i < 20; i++) cs.push(await client(i % 2, `c${i}`, i));
  const holds: { holder: number; revision: number; releaseRevision: number }[] = [];
  const violations: string[] = [];
  let tickets = 0;
  let holding: number | undefined;
  const worker = async (me: number): Promise<void> => {
    const s = (cs[me] as Client).session;
    while (tickets < 200) {
      tickets++;
      const revision = await acquire(s, key, { holder: me });
      if (holding !== undefined) violations.push(`c${me} acquired (rev ${revision}) while c${holding} holds`);
      holding = me;
      const seen = await storeGet(s, key);
      if (seen?.revision !== revision || (seen.value as { holder?: number }).holder !== me) {
        violations.push(`c${me} holds rev ${revision} but its router has ${JSON.stringify(seen)}`);
      }
      holding = undefined;
      holds.push({ holder: me, revision, releaseRevision: await release(s, key) });
    }
  };
  await withTimeout(Promise.all(cs.map((_, i) => worker(i))), 110_000, '200 acquisitions');
  assert.deepEqual(violations, []);
  assert.equal(holds.length, 200);
  const byRevision = [...holds].sort((x, y) => x.revision - y.revision);
  for (let i = 1; i < byRevision.length; i++) {
    const prev = byRevision[i - 1] as (typeof holds)[number];
    const cur = byRevision[i] as (typeof holds)[number];
    assert.ok(
      cur.revision > prev.releaseRevision && prev.releaseRevision > prev.revision,
      `rev ${cur.revision} granted before rev ${prev.revision} was released`,
    );
  }
  const per = new Map<number, number>();
  for (const h of holds) per.set(h.holder, (per.get(h.holder) ?? 0) + 1);
  assert.deepEqual(
    cs.map((_, i) => i).filter((i) => !per.has(i)),
    [],
    'nobody starves',
  );
});

test("jetstream - a router that stops renewing its lease (it died): the other router fires its sessions' wills once", async () => {
  const key = 'js.lock.dead-router';
  const a = await client(0, 'dying');
  const b = await client(1, 'survivor');
  await acquire(a.session, key, { holder: 'dying' });
  const waiter = new Probe(acquire(b.session, key, { holder: 'survivor' }));
  await waitFor(() => waiting(1, key) === 1, 'the survivor waits');
  const node = router(0).router.storeNode;
  assert.ok(node, 'router 1 runs the jetstream engine');
  node.stopRenewing(); // router 1 "dies": its session stays connected, its lease lapses
  const token = await waiter.result("the dead router's will frees the lock", 15_000);
  assert.deepEqual((await storeGet(b.session, key))?.value, { holder: 'survivor' });
  assert.ok(token > 0);
  await release(b.session, key);
});

test("jetstream - a session's plain publish is not delivered before its earlier retained write", async () => {
  const pub = await client(1, 'orderly');
  const sub = await client(1, 'listener');
  const log = new EventLog();
  await subscribeLog(sub.session, 'js.order', log, { match: 'prefix' });
  for (let i = 0; i < 20; i++) {
    // not acknowledged: the client does not wait, so only the router keeps the order
    void pub.session.publish(
      i % 2 === 0 ? 'js.order.stored' : 'js.order.plain',
      [i],
      undefined,
      i % 2 === 0 ? { retain: true } : {},
    );
  }
  await publishAck(pub.session, 'js.order.plain', [20]);
  const events = await log.count(21, '21 events', 10_000);
  assert.deepEqual(
    events.map((e) => e.args[0]),
    Array.from({ length: 21 }, (_, i) => i),
  );
});

test('jetstream - a retained subscriber on router 2 gets the value written via router 1 first, then live events, each once', async () => {
  const key = 'js.replay.sensor';
  const a = await client(0, 'writer');
  const b = await client(1, 'reader');
  const rev = await retain(a.session, key, [21.5]);
  await waitFor(async () => (await storeGet(b.session, key))?.revision === rev, 'router 2 mirrors the write');
  const log = new EventLog();
  await subscribeLog(b.session, key, log, { retained: true });
  const [stored] = await log.count(1, 'the stored value');
  assert.deepEqual(stored?.args, [21.5]);
  assert.equal(stored?.details['retained'], true);
  // a write through router 2 comes live, once (events of other routers' writes are the
  // cluster's to forward, not the store's)
  const c = await client(1, 'writer2');
  await retain(c.session, key, [22]);
  const [, live] = await log.count(2, 'the live event');
  assert.deepEqual(live?.args, [22]);
  assert.notEqual(live?.details['retained'], true);
});

test('jetstream - a lock written with ttl expires (the sweep deletes it) and goes to the next waiter', async () => {
  const key = 'js.lease.ttl';
  const a = await client(0, 'ttl-a');
  const b = await client(0, 'ttl-b');
  const watcher = await client(0, 'ttl-watcher');
  const log = new EventLog();
  await subscribeLog(watcher.session, key, log);
  const first = await acquire(a.session, key, 'a', { ttl: 0.3 });
  const next = new Probe(acquire(b.session, key, 'b'));
  await waitFor(() => waiting(0, key) === 1, 'b waits');
  const token = await next.result("b gets the lock once a's expired", 10_000);
  assert.ok(token > first + 1, 'the deletion took a revision between the two holds');
  // subscribers saw a's value, its expiry (an empty event), then b's
  const events = await log.count(3, 'a, the deletion, b', 10_000);
  assert.deepEqual(
    events.map((e) => e.args),
    [['a'], [], ['b']],
  );
  await release(b.session, key);
});

test('jetstream - a value whose writer is gone still expires: a surviving router deletes it a lease later, announced once', async () => {
  const key = 'js.lease.orphan';
  const gone = await startRouter(config);
  let closed = false;
  try {
    const kinds = autobahnTransports(gone.wsUrl, gone.rawSocketUrl);
    const w = await connectAs((kinds[0] as { options: Record<string, unknown> }).options, 'orphan-writer');
    clients.push(w);
    const logs = [new EventLog(), new EventLog()];
    for (const [i, log] of logs.entries()) await subscribeLog((await client(i, `orphan-watcher-${i}`)).session, key, log);
    const b = await client(1, 'orphan-next');
    const first = await acquire(w.session, key, 'gone', { ttl: 0.2 });
    await gone.close(); // its sweep goes with it
    closed = true;
    const started = Date.now();
    const token = await new Probe(acquire(b.session, key, 'b')).result('b gets the lock once the orphan expired', 10_000);
    assert.ok(token > first + 1, 'the deletion took a revision between the two holds');
    // the writer had the first turn (at expiry); the survivors waited for a lease (1 s)
    assert.ok(Date.now() - started >= 500, 'the survivors left the writer its turn');
    // the survivor whose conditional delete won announced it to its subscribers; the
    // other one lost the race and announced nothing (a cluster forwards the one event)
    const deletions = (): number => logs.reduce((n, l) => n + l.events.filter((e) => e.args.length === 0).length, 0);
    await waitFor(() => deletions() >= 1, 'the deletion announced');
    await logs[1]?.until((e) => e.args[0] === 'b', "b's value on router 2");
    await expectQuiet(200);
    assert.equal(deletions(), 1, 'announced once');
    await release(b.session, key);
  } finally {
    if (!closed) await gone.close();
  }
});
