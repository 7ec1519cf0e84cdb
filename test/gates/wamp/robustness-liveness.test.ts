/**
 * Dead peers are found and cleaned up (docs/ARCHITECTURE.md, "Reliability rules"): with
 * wamp.pingIntervalMs small, a RawSocket peer that never answers PING and a WebSocket
 * peer that never answers ping are dropped within about two intervals, while peers
 * that answer stay; a dead peer's testament is published and its registration freed.
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
  sleep,
  within,
  type AttackTransport,
  type RawPeer,
} from '../../helpers/raw-wamp';
import { Bystanders, CrashGuard, isTopLevel } from '../../helpers/robustness';

const PING_MS = 200;
/** "within ~2 intervals": the interval timer's phase, plus scheduling slack */
const DEAD_WITHIN_MS = 2 * PING_MS + PING_MS + 250;

let r: TestRouter;
let bystanders: Bystanders;
let transports: AttackTransport[];
const guard = new CrashGuard();

before(async () => {
  guard.install();
  r = await startRouter({ wamp: { pingIntervalMs: PING_MS, helloTimeoutMs: 5000 } });
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

/** A peer that answers nothing: no PONG on RawSocket, no pong on WebSocket. */
function openDead(t: AttackTransport): Promise<RawPeer> {
  return t.kind === 'rawsocket' ? t.open({ answerPings: false }) : t.open({ autoPong: false });
}

void test('wamp robustness - a peer that answers no pings is dropped within about two ping intervals', { concurrency: true }, async (tt) => {
  await Promise.all(
    transports.map((t) =>
      tt.test(t.name, async () => {
        const dead = await openDead(t);
        await dead.hello();
        const silentSince = Date.now();
        await within(dead.closed, DEAD_WITHIN_MS + 1000, `${t.name}: silent peer dropped`);
        const took = Date.now() - silentSince;
        assert.ok(took <= DEAD_WITHIN_MS, `dropped after ${took} ms; expected within ~2 intervals (${DEAD_WITHIN_MS} ms)`);
        if (dead instanceof RawSocketPeer) assert.ok(dead.pingsReceived >= 1, 'the router sent a PING before giving up');
      }),
    ),
  );
  await bystanders.check('dead peers dropped');
});

void test('wamp robustness - a peer that answers pings but sends nothing stays connected', { concurrency: true }, async (tt) => {
  await Promise.all(
    transports.map((t) =>
      tt.test(t.name, async () => {
        const live = await t.open();
        await live.hello();
        await sleep(PING_MS * 6);
        assert.equal(live.isClosed, false, 'still connected after six ping intervals of silence');
        if (live instanceof RawSocketPeer) assert.ok(live.pingsReceived >= 3, `PINGs were sent (${live.pingsReceived})`);
        await expectSessionAlive(live, 1);
      }),
    ),
  );
});

void test('wamp robustness - an idle autobahn RawSocket session answers the router’s PINGs and stays', async () => {
  // autobahn-js only reads a frame's payload when more bytes follow, so it answered an
  // empty PING one interval late and was dropped as dead (fixed: PINGs carry a payload).
  const idle = await connect({ transports: [rawSocketTransport(r.rawSocketUrl)] });
  try {
    let closed = false;
    void idle.onclose.then(() => (closed = true));
    await sleep(PING_MS * 6);
    assert.equal(closed, false, 'an idle autobahn RawSocket session is still connected after six ping intervals');
    assert.equal(await callResult(idle.session, 'wamp.session.count', []), await callResult(bystanders.session, 'wamp.session.count', []));
  } finally {
    await idle.close();
  }
});

void test('wamp robustness - a RawSocket client that answers nothing, not even the handshake, is dropped', async () => {
  // TCP connected, handshake sent, then nothing: no HELLO, no PONG
  const dead = await RawSocketPeer.open(r.rawSocketPort, 'json', { answerPings: false });
  const since = Date.now();
  await within(dead.closed, DEAD_WITHIN_MS + 1000, 'silent RawSocket peer dropped');
  assert.ok(Date.now() - since <= DEAD_WITHIN_MS, `dropped after ${Date.now() - since} ms`);
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
        await within(dead.closed, DEAD_WITHIN_MS + 1000, `${t.name}: dead peer dropped`);
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
      await within(dead.closed, DEAD_WITHIN_MS + 1000, 'dead callee dropped');
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
