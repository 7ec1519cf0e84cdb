/**
 * Issue 12, cluster faults the other files do not cover: three `gatehouse` daemons (child
 * processes) on a 3-node JetStream cluster sharing one store with a short will lease.
 *
 * - A node SIGSTOPped past its lease while its client holds a lock: the others fire its
 *   wills once, a waiter on another node takes the lock with a higher fencing token; when
 *   the node resumes, its old holder is no holder (its conditional writes fail with
 *   condition_failed, the store shows the new holder) and its lease is taken again
 *   without its wills firing a second time.
 * - A node SIGKILLed: its sessions' store wills, WAMP testaments and MQTT wills fire on
 *   the others within the lease bound, each once. (A call in flight at a killed node failing fast, not at its timeout, is
 *   test/cluster/rpc-processes.test.ts.)
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Kvm, type KV } from '@nats-io/kv';
import { connect, wsOptions } from '../helpers/autobahn';
import type { MatchPolicy } from '../../lib/topic';
import { filterFor, waitInterest } from '../helpers/cluster';
import { suiteCleanup } from '../helpers/cluster-rpc';
import { portsOf, spawnGatehouse, tempDir, writeJson, type Daemon, type DaemonPorts } from '../helpers/daemon';
import { connectMqtt } from '../helpers/mqtt-clients';
import { natsClient, startNatsCluster } from '../helpers/nats';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy';
import { acquire, barrier, CONDITION_FAILED, errorUri, Probe, publishAck, storeGet, subscribeWire } from '../helpers/retained';
import { expectQuiet, pace, waitFor, withTimeout } from '../helpers/wait';
import { EventLog, errorOf, type Client } from '../helpers/wamp-clients';

const LEASE_MS = 1500;
/** a lease lapses at most LEASE_MS after its last renewal; every node checks each half lease */
const WILL_BOUND_MS = LEASE_MS + LEASE_MS / 2;
/** on this loaded machine: process scheduling, the claim, the will's write and its feed */
const SLACK_MS = 8000;
/** the SIGSTOP lasts at least two leases: long past the lease, whatever the renewal phase */
const PAUSE_MS = 2 * LEASE_MS;
const FIRED = 'jetstream store: fired the wills of a lapsed lease';

const cleanup = suiteCleanup(after);
const daemons: Daemon[] = [];
const ports: DaemonPorts[] = [];
const clients: Client[] = [];
let meta: KV;
let proxy: TcpProxy;
let natsFilter: (uri: string, match?: MatchPolicy) => Promise<void>;

before(
  async () => {
    // g1 reaches NATS only through a proxy (and learns no other server): cut, it is partitioned
    const nats = await startNatsCluster(cleanup, { noAdvertise: true });
    proxy = await startTcpProxy(nats.nodes[0]?.port);
    const viaProxy = proxy;
    cleanup.after(() => viaProxy.close());
    const tmp = tempDir();
    cleanup.after(() => Promise.resolve(tmp.remove()));
    cleanup.after(async () => {
      await Promise.all(daemons.map((d) => d.kill()));
    });
    const started = await Promise.all(
      [1, 2, 3].map(async (i) => {
        const file = join(tmp.dir, `g${i}.json`);
        writeJson(file, {
          log: { level: 'info', format: 'json' },
          cluster: { nats: i === 1 ? [`nats://127.0.0.1:${viaProxy.port}`] : nats.servers, node: `g${i}` },
          // a store write waits out g1's reconnection (NATS client: every 2 s) after a cut
          store: { engine: 'jetstream', path: join(tmp.dir, `g${i}.db`), nats: { leaseMs: LEASE_MS, timeoutMs: 15_000 } },
        });
        const d = spawnGatehouse(['-c', file, '--port', '0', '--mqtt-port', '0', '--stomp-port', '0']);
        daemons[i - 1] = d;
        const listening = await d.waitForLog((e) => e.msg === 'listening', `g${i} listening`);
        await d.waitForLog((e) => e.msg === 'joined the cluster', `g${i} joined the cluster`);
        return portsOf(listening);
      }),
    );
    ports.push(...started);
    cleanup.after(async () => {
      await Promise.all(clients.map((c) => withTimeout(c.close(), 3000, 'close').catch(() => undefined)));
    });
    // the leases, read straight from the meta bucket (lib/store/jetstream/bucket-name.ts)
    const nc = await natsClient(cleanup, nats.servers);
    meta = await new Kvm(nc).open('gatehouse__meta');
    natsFilter = (uri, match) => waitInterest(nats, filterFor(uri, match));
  },
  { timeout: 180_000 },
);

async function clientOn(node: number): Promise<Client> {
  const p = ports[node];
  assert.ok(p, `node ${node}`);
  const c = await withTimeout(connect(wsOptions(`ws://127.0.0.1:${p.http}/ws`, 'json')), 10_000, `WAMP join on g${node + 1}`);
  clients.push(c);
  return c;
}

function daemon(node: number): Daemon {
  const d = daemons[node];
  assert.ok(d, `daemon ${node}`);
  return d;
}

/** The current lease of a daemon's store node (`lease.<node>-<pid>-<boot>`), or undefined. */
async function leaseOf(node: number): Promise<{ key: string; revision: number } | undefined> {
  const prefix = `lease.g${node + 1}-${daemon(node).child.pid ?? 0}-`;
  // a set: the listing can name a key twice when it is renewed while listed
  const found = new Set<string>();
  for await (const k of await meta.keys('lease.>')) if (k.startsWith(prefix)) found.add(k);
  const keys = [...found];
  assert.ok(keys.length <= 1, `one lease per node: ${keys.join(', ')}`);
  const key = keys[0];
  if (key === undefined) return undefined;
  const e = await meta.get(key);
  return e === null || e.operation !== 'PUT' ? undefined : { key, revision: e.revision };
}

/** How many testament records (`will.<node>.<session>._t<id>`) a daemon's store node has. */
async function testamentRecords(node: number): Promise<number> {
  const prefix = `will.g${node + 1}-${daemon(node).child.pid ?? 0}-`;
  const found = new Set<string>();
  for await (const k of await meta.keys('will.>')) if (k.startsWith(prefix) && /\._t[^.]*$/.test(k)) found.add(k);
  return found.size;
}

/** How many wills the daemons said they fired from lapsed leases, all nodes together. */
function willsFired(): number {
  let n = 0;
  for (const d of daemons) for (const e of d.logs) if (e.msg === FIRED) n += Number(e['wills'] ?? 0);
  return n;
}

test(
  'cluster split - a node SIGSTOPped past its lease loses its lock to a waiter on another node; resumed, its old holder holds nothing and its wills do not fire twice',
  { timeout: 180_000 },
  async () => {
    const key = 'cs.split.lock';
    const [a, b, w] = await Promise.all([clientOn(0), clientOn(1), clientOn(2)]);
    // what every node's clients see of the key, with revisions: a third node's view
    const seen = new EventLog();
    await subscribeWire(w.session, key, seen);
    await natsFilter(key);

    const tokenA = await withTimeout(acquire(a.session, key, { holder: 'a' }), 10_000, 'a takes the free lock');
    await waitFor(async () => (await storeGet(b.session, key))?.revision === tokenA, "g2 mirrors a's hold", 10_000);
    const waiter = new Probe(acquire(b.session, key, { holder: 'b' }));
    await barrier(b.session); // g2 has handled the acquisition: b waits
    assert.equal(waiter.settled, false, 'b waits while a holds');
    const leaseBefore = await leaseOf(0);
    assert.ok(leaseBefore, "g1's lease is in the meta bucket");
    const firedBefore = willsFired();

    const pausedAt = Date.now();
    daemon(0).child.kill('SIGSTOP');
    let tokenB: number;
    let releaseA: Promise<{ error: string }>;
    let again: Promise<{ error: string }>;
    try {
      tokenB = await waiter.result("g1's will frees the lock for b", WILL_BOUND_MS + SLACK_MS);
      const waited = Date.now() - pausedAt;
      // not before the lease lapsed: it was renewed at most a third of a lease before the stop
      assert.ok(waited >= (2 * LEASE_MS) / 3, `b got the lock ${waited} ms after g1 stopped (lease ${LEASE_MS} ms)`);
      assert.ok(tokenB > tokenA, `fencing tokens: a ${tokenA}, b ${tokenB}`);
      assert.deepEqual((await storeGet(b.session, key))?.value, { holder: 'b' });
      assert.equal(await leaseOf(0), undefined, "g1's lapsed lease was claimed");
      await waitFor(() => willsFired() - firedBefore >= 1, "a node says it fired a's will", 10_000);
      // a, unaware, releases its lock (when = its value) and asks for it again without
      // waiting: the stopped g1 finds both in its socket when it resumes, next to the
      // store's changes it missed, so it may judge them on its stale mirror first
      releaseA = errorOf(
        publishAck(a.session, key, [], undefined, { retain: true, when: { holder: 'a' } }, PAUSE_MS + 10_000),
        "a's conditional release after the resume",
      );
      again = errorOf(
        publishAck(a.session, key, [{ holder: 'a' }], undefined, { retain: true, when: null }, PAUSE_MS + 10_000),
        "a's when: null after the resume",
      );
      await pace(Math.max(0, PAUSE_MS - (Date.now() - pausedAt))); // the rest of the stop: the daemon is SIGSTOPped for real
    } finally {
      daemon(0).child.kill('SIGCONT');
    }
    // both fail: nothing is written in a's name
    assert.equal((await releaseA).error, CONDITION_FAILED);
    assert.equal((await again).error, CONDITION_FAILED);
    await waitFor(async () => (await storeGet(a.session, key))?.revision === tokenB, "g1's mirror has b's hold", 10_000);
    assert.deepEqual((await storeGet(a.session, key))?.value, { holder: 'b' });

    // never two holders: the key went a -> deleted by the will -> b, each revision higher
    const events = await seen.count(3, "a's hold, its will, b's hold", 10_000);
    assert.deepEqual(
      events.map((e) => e.args),
      [[{ holder: 'a' }], [], [{ holder: 'b' }]],
    );
    const revisions = events.map((e) => Number(e.details['revision']));
    assert.deepEqual(
      revisions,
      [...revisions].sort((x, y) => x - y),
    );
    assert.equal(revisions[0], tokenA);
    assert.equal(revisions[2], tokenB);
    assert.ok(
      tokenA < (revisions[1] ?? 0) && (revisions[1] ?? 0) < tokenB,
      `will's deletion between the holds: ${revisions.join(' < ')}`,
    );

    // g1 takes a lease again (its first renewal finds the old one claimed, the next one
    // takes a new one) and keeps renewing it
    await daemon(0).waitForLog(
      (e) => e.msg === 'jetstream store: lease renewal failed',
      "g1's renewal of its claimed lease fails",
      0,
      10_000,
    );
    let renewed = 0;
    await waitFor(
      async () => {
        renewed = (await leaseOf(0))?.revision ?? 0;
        return renewed > leaseBefore.revision;
      },
      'g1 holds a lease again',
      10_000,
    );
    await waitFor(async () => ((await leaseOf(0))?.revision ?? 0) > renewed, 'g1 renews its new lease', 10_000);
    // by now every node ran its lease check at least once since the resume (each half
    // lease): a's will fired once in the cluster, not again
    assert.equal(willsFired() - firedBefore, 1, 'the wills of the lapsed lease fired once');

    // a leaves: it has no will left, so b's lock stays; b's own conditional release works
    await a.close();
    const releasedB = await publishAck(b.session, key, [], undefined, { retain: true, when: { holder: 'b' } }, 10_000);
    const [, , , last] = await seen.count(4, "b's release", 10_000);
    assert.deepEqual(last?.args, []);
    assert.equal(Number(last?.details['revision']), releasedB, 'the next change after b took the lock is its own release');
  },
);

test(
  "cluster split - a node cut off from NATS past its lease: its old holder cannot release the new holder's lock; back, the node keeps a lease of its own",
  { timeout: 180_000 },
  async () => {
    const key = 'cs.partition.lock';
    const [a, b] = await Promise.all([clientOn(0), clientOn(1)]);
    const tokenA = await withTimeout(acquire(a.session, key, { holder: 'a' }), 10_000, 'a takes the free lock');
    await waitFor(async () => (await storeGet(b.session, key))?.revision === tokenA, "g2 mirrors a's hold", 10_000);
    const waiter = new Probe(acquire(b.session, key, { holder: 'b' }));
    await barrier(b.session);
    assert.equal(waiter.settled, false, 'b waits while a holds');

    const firedBefore = willsFired();
    proxy.cut();
    let releaseA: Probe<number>;
    let tokenB: number;
    try {
      tokenB = await waiter.result("g1's will frees the lock for b", WILL_BOUND_MS + SLACK_MS);
      assert.ok(tokenB > tokenA, `fencing tokens: a ${tokenA}, b ${tokenB}`);
      // g1 heard nothing: it still shows a as the holder, so a's `when` holds there and
      // the delete goes out conditional on a's revision
      assert.equal((await storeGet(a.session, key))?.revision, tokenA, "g1's mirror is stale");
      releaseA = new Probe(publishAck(a.session, key, [], undefined, { retain: true, when: { holder: 'a' } }, 30_000));
      await barrier(a.session);
      assert.equal(releaseA.settled, false, 'the release waits for JetStream');
    } finally {
      proxy.restore();
    }
    // the release fails: refused at a's stale revision, or (a request made while cut off
    // gets no answer from NATS) unavailable after store.nats.timeoutMs; never applied
    await releaseA.done;
    assert.ok(
      [CONDITION_FAILED, 'wamp.error.unavailable'].includes(errorUri(releaseA.error)),
      `a's release: ${JSON.stringify(releaseA.error)}`,
    );
    await waitFor(async () => (await storeGet(a.session, key))?.revision === tokenB, "g1's mirror has b's hold", 20_000);
    assert.deepEqual((await storeGet(b.session, key))?.value, { holder: 'b' }, 'b still holds');

    // g1 is back and takes a lease again; a takes another lock (its will: release it)
    await waitFor(async () => (await leaseOf(0)) !== undefined, 'g1 holds a lease again', 20_000);
    const kept = 'cs.partition.kept';
    const keptLog = new EventLog();
    await subscribeWire(b.session, kept, keptLog);
    await natsFilter(kept);
    const keptToken = await withTimeout(acquire(a.session, kept, { holder: 'a' }), 10_000, 'a takes another lock');
    // the renewals g1 sent while cut off end now (no answer: timed out, outcome unknown);
    // they must not cost g1 the lease it holds by then: were it claimed while g1 is up, the
    // wills of its live sessions would fire and a would lose this lock
    await daemon(0).waitForLog(
      (e) =>
        e.msg === 'jetstream store: lease renewal failed' &&
        (e['err'] as { message?: string } | undefined)?.message === 'timeout',
      'a renewal sent while cut off times out',
      0,
      30_000,
    );
    let last = (await leaseOf(0))?.revision ?? 0;
    // ten renewals (a third of a lease apart): past the other stale renewals' timeouts, a
    // lapse and a claim; the bucket is polled twice per renewal
    let renewals = 0;
    await waitFor(
      async () => {
        const now = await leaseOf(0);
        assert.ok(now !== undefined, "g1's lease was claimed while g1 was up");
        if (now.revision > last) {
          renewals++;
          last = now.revision;
        }
        return renewals >= 10;
      },
      () => `g1 to renew its lease 10 times (renewed ${renewals})`,
      30_000,
      LEASE_MS / 6,
    );
    // one lease claimed and its one will fired: g1's while it was cut off, never its new one
    assert.equal(willsFired() - firedBefore, 1, 'wills fired from lapsed leases');
    assert.deepEqual(
      keptLog.events.map((e) => e.args),
      [[{ holder: 'a' }]],
      "a's lock was not released by its will",
    );
    assert.equal((await storeGet(b.session, kept))?.revision, keptToken);
    await publishAck(a.session, kept, [], undefined, { retain: true, when: { holder: 'a' } }, 10_000);
    await publishAck(b.session, key, [], undefined, { retain: true, when: { holder: 'b' } }, 10_000);
  },
);

test(
  "cluster split - a node SIGKILLed: its sessions' store wills fire on the other nodes within the lease bound",
  { timeout: 180_000 },
  async () => {
    const key = 'cs.kill.lock';
    const [holder, waiting] = await Promise.all([clientOn(2), clientOn(0)]);
    const tokenA = await withTimeout(acquire(holder.session, key, { holder: 'g3' }), 10_000, 'the lock taken through g3');
    await waitFor(async () => (await storeGet(waiting.session, key))?.revision === tokenA, "g1 mirrors g3's hold", 10_000);
    const waiter = new Probe(acquire(waiting.session, key, { holder: 'g1' }));
    await barrier(waiting.session);
    assert.equal(waiter.settled, false);
    const firedBefore = willsFired();

    const killedAt = Date.now();
    await daemon(2).kill();
    const token = await waiter.result("g3's will frees the lock", WILL_BOUND_MS + SLACK_MS);
    const waited = Date.now() - killedAt;
    assert.ok(token > tokenA, `fencing tokens ${tokenA} < ${token}`);
    assert.ok(waited < WILL_BOUND_MS + SLACK_MS, `the will fired ${waited} ms after the kill (lease ${LEASE_MS} ms)`);
    assert.deepEqual((await storeGet(waiting.session, key))?.value, { holder: 'g1' });
    await waitFor(() => willsFired() - firedBefore >= 1, "a node says it fired g3's will", 10_000);
    assert.equal(willsFired() - firedBefore, 1, "the dead node's one will fired once");
  },
);

test(
  "cluster split - a node SIGKILLed: its sessions' WAMP testaments and MQTT wills are published on the other nodes",
  {
    timeout: 120_000,
  },
  async () => {
    const [victim, watcher] = await Promise.all([clientOn(1), clientOn(0)]);
    const log = new EventLog();
    await subscribeWire(watcher.session, 'cs.gone', log, { match: 'prefix' });
    await natsFilter('cs.gone', 'prefix');
    await withTimeout(
      victim.session.call('wamp.session.add_testament', ['cs.gone.testament', ['wamp'], {}]),
      10_000,
      'add_testament',
    );
    const p = ports[1];
    assert.ok(p);
    const { client } = await connectMqtt(`mqtt://127.0.0.1:${p.mqtt}`, {
      will: { topic: 'cs/gone/will', payload: Buffer.from('mqtt'), qos: 1, retain: false },
    });
    client.on('error', () => undefined);
    // recorded when set (in the background, after CONNACK / the call's result): both are
    // in the meta bucket before the kill
    await waitFor(async () => (await testamentRecords(1)) === 2, "g2's testament and will recorded", 10_000);
    const killedAt = Date.now();
    await daemon(1).kill();
    await log.count(2, 'the testament and the will', WILL_BOUND_MS + SLACK_MS);
    const waited = Date.now() - killedAt;
    assert.ok(waited < WILL_BOUND_MS + SLACK_MS, `published ${waited} ms after the kill (lease ${LEASE_MS} ms)`);
    assert.deepEqual(log.events.map((e) => e.details['topic'] ?? e.args[0]).sort(), ['cs.gone.testament', 'cs.gone.will']);
    // each once: another lease check on every survivor finds nothing left to fire
    await expectQuiet(WILL_BOUND_MS);
    assert.equal(log.events.length, 2, 'each fired once');
  },
);
