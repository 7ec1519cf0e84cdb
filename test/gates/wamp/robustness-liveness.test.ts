/**
 * Dead peers are found and cleaned up (docs/ARCHITECTURE.md, "Reliability rules"): a
 * RawSocket peer that never answers PING and a WebSocket peer that never answers ping
 * are dropped at the second interval, while peers that answer stay; a dead peer's
 * testament is published and its registration freed. The pings run on a ManualClock:
 * each interval is one `tick()`, so nothing here waits for real time to pass.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startRouter, type TestRouter } from '../../helpers/router';
import { connect, rawSocketTransport, wsOptions, type AutobahnSession } from '../../helpers/autobahn';
import {
  destroyAllRawPeers,
  expectSessionAlive,
  RawSocketPeer,
  rawTransports,
  within,
  type AttackTransport,
  type RawPeer,
} from '../../helpers/raw-wamp';
import { Bystanders, CrashGuard, isTopLevel } from '../../helpers/robustness';
import { ManualClock } from '../../helpers/clock';
import { waitFor } from '../../helpers/wait';

const PING_MS = 200;
/** the router's pings fire when tick() moves it */
const clock = new ManualClock();

let r: TestRouter;
let bystanders: Bystanders;
let transports: AttackTransport[];
const guard = new CrashGuard();

before(async () => {
  guard.install();
  r = await startRouter({ wamp: { pingIntervalMs: PING_MS, helloTimeoutMs: 5000 } }, { clock });
  bystanders = await Bystanders.start(r.wsUrl, r.rawSocketUrl);
  transports = rawTransports(r.wsUrl, r.rawSocketPort);
});

afterEach((t) => {
  // subtests may run concurrently: only a whole top-level test drops every raw peer
  if (isTopLevel(t)) destroyAllRawPeers();
  guard.assertNone();
});

after(async () => {
  destroyAllRawPeers();
  await bystanders?.close();
  await r?.close();
  guard.uninstall();
});

/**
 * One ping interval: every connection is pinged, or dropped if it did not answer the last
 * ping. Then `peers` have seen their ping (an answering one has written its pong by
 * then), and the bystanders prove themselves with a round trip through the router,
 * which also reads every pong written before it; only then may the next interval start.
 */
async function tick(what: string, peers: RawPeer[] = []): Promise<void> {
  const seen = peers.map((p) => p.pingsReceived);
  clock.advance(PING_MS);
  await waitFor(() => peers.every((p, i) => p.pingsReceived > (seen[i] ?? 0)), `a ping to each peer (${what})`);
  await bystanders.check(what);
}

/** A peer that answers nothing: no PONG on RawSocket, no pong on WebSocket. */
function openDead(t: AttackTransport): Promise<RawPeer> {
  return t.kind === 'rawsocket' ? t.open({ answerPings: false }) : t.open({ autoPong: false });
}

void test('wamp robustness - a peer that answers no pings is dropped at the second ping interval', async () => {
  const dead = await Promise.all(
    transports.map(async (t) => {
      const p = await openDead(t);
      await p.hello();
      return p;
    }),
  );
  // the first interval pings them: still connected, since they were pinged
  await tick('first ping to silent peers', dead);
  for (const p of dead) assert.equal(p.isClosed, false, `${p.label}: not dropped at the first interval`);
  // the second finds no answer
  clock.advance(PING_MS);
  await Promise.all(dead.map((p) => within(p.closed, 2000, `${p.label}: silent peer dropped at the second interval`)));
  await bystanders.check('dead peers dropped');
});

void test('wamp robustness - a peer that answers pings but sends nothing stays connected', async () => {
  const live = await Promise.all(
    transports.map(async (t) => {
      const p = await t.open();
      await p.hello();
      return p;
    }),
  );
  for (let i = 1; i <= 6; i++) await tick(`ping ${i} to answering peers`, live);
  for (const p of live) {
    assert.equal(p.isClosed, false, `${p.label}: still connected after six ping intervals of silence`);
    assert.equal(p.pingsReceived, 6, `${p.label}: a ping each interval`);
  }
  for (const [i, p] of live.entries()) await expectSessionAlive(p, i + 1);
});

void test('wamp robustness - an idle autobahn RawSocket session answers the router’s PINGs and stays', async () => {
  // autobahn-js only reads a frame's payload when more bytes follow, so it answered an
  // empty PING one interval late and was dropped as dead (fixed: PINGs carry a payload).
  const idle = await connect({ transports: [rawSocketTransport(r.rawSocketUrl)] });
  try {
    let closed = false;
    void idle.onclose.then(() => (closed = true));
    // no event tells that autobahn has read its PING: the bystanders' round trips (an
    // autobahn RawSocket session among them) carry it through
    for (let i = 1; i <= 6; i++) await tick(`ping ${i} to an idle autobahn session`);
    assert.equal(closed, false, 'an idle autobahn RawSocket session is still connected after six ping intervals');
    assert.equal(
      await callResult(idle.session, 'wamp.session.count', []),
      await callResult(bystanders.session, 'wamp.session.count', []),
    );
  } finally {
    await idle.close();
  }
});

void test('wamp robustness - a RawSocket client that answers nothing, not even the handshake, is dropped', async () => {
  // TCP connected, handshake sent, then nothing: no HELLO, no PONG
  const dead = await RawSocketPeer.open(r.rawSocketPort, 'json', { answerPings: false });
  await tick('first ping to a peer without HELLO', [dead]);
  assert.equal(dead.isClosed, false, 'not dropped at the first interval');
  clock.advance(PING_MS);
  await within(dead.closed, 2000, 'silent RawSocket peer dropped');
  await bystanders.check('silent rawsocket without HELLO');
});

async function callResult(session: AutobahnSession, procedure: string, args: unknown[]): Promise<unknown> {
  return within(session.call(procedure, args), 2000, `call ${procedure}`);
}

async function callError(session: AutobahnSession, procedure: string, args: unknown[]): Promise<string> {
  try {
    const v = await within(session.call(procedure, args), 2000, `call ${procedure}`);
    return `no error (result ${JSON.stringify(v)})`;
  } catch (err) {
    return (err as { error?: string }).error ?? String(err);
  }
}

void test('wamp robustness - a dead peer’s testament is published and its registration freed', async (tt) => {
  const watcher = await connect(wsOptions(r.wsUrl, 'cbor'));
  try {
    let n = 0;
    for (const t of transports) {
      const i = ++n;
      await tt.test(t.name, async () => {
        const topic = `robust.testament.${i}`;
        const procedure = `robust.dead.proc.${i}`;
        const events: unknown[][] = [];
        let onEvent: () => void = () => undefined;
        await watcher.session.subscribe(topic, (args) => {
          events.push(args);
          onEvent();
        });
        const testament = new Promise<void>((resolve) => (onEvent = resolve));

        const dead = await openDead(t);
        const sessionId = await dead.hello();
        dead.send([64, 1, {}, procedure]);
        const registered = await dead.next(2000, 'REGISTERED');
        assert.ok(Array.isArray(registered) && registered[0] === 65, `REGISTERED, got ${JSON.stringify(registered)}`);
        dead.send([48, 2, {}, 'wamp.session.add_testament', [topic, ['gone', i], { by: t.name }], {}]);
        const added = await dead.next(2000, 'RESULT of add_testament');
        assert.ok(Array.isArray(added) && added[0] === 50 && added[1] === 2, `RESULT, got ${JSON.stringify(added)}`);

        // while it lives: the registration exists and routes to it, nothing published yet
        const regId = await callResult(watcher.session, 'wamp.registration.lookup', [procedure]);
        assert.equal(typeof regId, 'number', 'registered while alive');
        assert.equal(events.length, 0, 'no testament while alive');

        // now it goes silent: no pong, nothing
        await tick(`${t.name}: ping to a dead callee`, [dead]);
        clock.advance(PING_MS);
        await within(dead.closed, 2000, `${t.name}: dead peer dropped`);
        await within(testament, 2000, 'testament published to the other subscriber');
        assert.deepEqual(events[0], ['gone', i]);

        assert.equal(await callResult(watcher.session, 'wamp.registration.lookup', [procedure]), null, 'registration freed');
        assert.equal(await callError(watcher.session, procedure, []), 'wamp.error.no_such_procedure');
        assert.equal(await callError(watcher.session, 'wamp.session.get', [sessionId]), 'wamp.error.no_such_session');
        await bystanders.check(`${t.name} dead callee`);
      });
    }
  } finally {
    await watcher.close();
  }
});

void test('wamp robustness - a call in flight to a callee that dies fails instead of hanging', async (tt) => {
  for (const t of transports) {
    await tt.test(t.name, async () => {
      const procedure = `robust.dying.${t.name.replace('/', '_')}`;
      const dead = await openDead(t);
      await dead.hello();
      dead.send([64, 1, {}, procedure]);
      const registered = await dead.next(2000, 'REGISTERED');
      assert.ok(Array.isArray(registered) && registered[0] === 65);
      const pending = bystanders.session.call(procedure, ['never answered']);
      const outcome = pending.then(
        (v) => `result ${JSON.stringify(v)}`,
        (err: unknown) => (err as { error?: string }).error ?? (err instanceof Error ? err.message : JSON.stringify(err)),
      );
      const inv = await dead.next(2000, 'INVOCATION');
      assert.ok(Array.isArray(inv) && inv[0] === 68, `INVOCATION, got ${JSON.stringify(inv)}`);
      await tick(`${t.name}: ping to a dead callee`, [dead]);
      clock.advance(PING_MS);
      await within(dead.closed, 2000, 'dead callee dropped');
      const got = await within(outcome, 2000, 'the pending call settles');
      assert.equal(got, 'wamp.error.canceled');
      await bystanders.check(`${t.name} call to a dead callee`);
    });
  }
});

void test('wamp robustness - after the liveness tests the process is alive', async () => {
  guard.assertNone();
  await bystanders.check('liveness suite');
  assert.equal(r.router.health().status, 'ok');
});
