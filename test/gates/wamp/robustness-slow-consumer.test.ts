/**
 * Every outbound path is bounded (docs/ARCHITECTURE.md, "Reliability rules"): a subscriber whose
 * socket stops reading while a publisher floods is throttled, then disconnected, and
 * this is counted in gatehouse_slow_consumers_total; router memory stays bounded and
 * the other subscribers keep receiving. On every transport x serializer.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startRouter, type TestRouter } from '../../helpers/router';
import { destroyAllRawPeers, rawTransports, within, type AttackTransport, type RawPeer } from '../../helpers/raw-wamp';
import { Bystanders, CrashGuard, isTopLevel, memoryAfterGc, metricValue } from '../../helpers/robustness';
import { expectQuiet, waitFor } from '../../helpers/wait';
import { ManualClock } from '../../helpers/clock';

const HIGH_WATER = 256 * 1024;
const MAX_QUEUE = 1024 * 1024;
const SLOW_TIMEOUT_MS = 1000;
/** the slow consumer deadline is read on it: the test moves it past the timeout */
const clock = new ManualClock();
const EVENT_BYTES = 60 * 1024;
/** a flood this large would show in memory if the router queued it for the slow peer */
const FLOOD_CAP_EVENTS = 1200; // ~70 MiB
/** well above GC noise (up to ~15 MiB seen), well below what an unbounded queue would hold */
const MEMORY_BOUND = 24 * 1024 * 1024;

let r: TestRouter;
let bystanders: Bystanders;
let transports: AttackTransport[];
const guard = new CrashGuard();
const floodCounts = new Map<string, number>();
const blob = 'x'.repeat(EVENT_BYTES);

before(async () => {
  guard.install();
  r = await startRouter(
    {
      limits: { outboundHighWaterBytes: HIGH_WATER, outboundQueueBytes: MAX_QUEUE, slowConsumerTimeoutMs: SLOW_TIMEOUT_MS },
      // no liveness pings: a stalled peer must go as a slow consumer, whatever the clock does
      wamp: { pingIntervalMs: 0 },
    },
    { clock },
  );
  bystanders = await Bystanders.start(r.wsUrl, r.rawSocketUrl);
  for (const m of bystanders.members) {
    floodCounts.set(m.name, 0);
    await m.conn.session.subscribe('robust.flood', () => floodCounts.set(m.name, (floodCounts.get(m.name) ?? 0) + 1));
  }
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

async function slowConsumers(action: 'throttled' | 'disconnected'): Promise<number> {
  return metricValue(await r.router.metrics.render(), 'gatehouse_slow_consumers_total', { gate: 'wamp', action });
}

function external(): number {
  return memoryAfterGc().external;
}

/** A raw subscriber on `topic` that then stops reading its socket. */
async function stalledSubscriber(t: AttackTransport, topic: string): Promise<{ peer: RawPeer; sessionId: number }> {
  const peer = await t.open();
  const sessionId = await peer.hello();
  peer.send([32, 1, {}, topic]);
  const m = await peer.next(2000, 'SUBSCRIBED');
  assert.ok(Array.isArray(m) && m[0] === 33, `SUBSCRIBED, got ${JSON.stringify(m)}`);
  peer.discard = true;
  peer.pauseReading();
  return { peer, sessionId };
}

async function sessionGone(sessionId: number): Promise<boolean> {
  try {
    await within(bystanders.session.call('wamp.session.get', [sessionId]), 2000, 'wamp.session.get');
    return false;
  } catch (err) {
    const uri = (err as { error?: string }).error;
    if (uri === 'wamp.error.no_such_session') return true;
    throw err;
  }
}

void test('wamp robustness - a subscriber that stops reading during a flood is disconnected; memory stays bounded; others keep receiving', async (tt) => {
  for (const t of transports) {
    await tt.test(t.name, async () => {
      const { peer, sessionId } = await stalledSubscriber(t, 'robust.flood');
      const before = await slowConsumers('disconnected');
      const baseline = external();
      let peak = baseline;
      const counts0 = new Map(floodCounts);
      let sent = 0;
      let droppedAt = -1;
      const WINDOW = 8;
      while (sent < FLOOD_CAP_EVENTS) {
        const acks: Promise<unknown>[] = [];
        for (let i = 0; i < WINDOW; i++)
          acks.push(Promise.resolve(bystanders.session.publish('robust.flood', [++sent, blob], {}, { acknowledge: true })));
        await within(Promise.all(acks), 5000, `publications acknowledged (${sent} sent)`);
        // paced by the bystanders, so none of them ever falls behind
        await waitFor(
          () => bystanders.members.every((m) => (floodCounts.get(m.name) ?? 0) - (counts0.get(m.name) ?? 0) === sent),
          `every bystander receiving all ${sent} events`,
          5000,
        );
        if (sent % (WINDOW * 2) === 0) peak = Math.max(peak, external());
        if (droppedAt < 0 && (await slowConsumers('disconnected')) > before) droppedAt = sent;
        // after the drop, keep flooding a while: the others must not notice
        if (droppedAt >= 0 && sent >= droppedAt + 4 * WINDOW) break;
      }
      peak = Math.max(peak, external());
      assert.ok(
        peak - baseline < MEMORY_BOUND,
        `router memory grew by ${((peak - baseline) / 1048576).toFixed(1)} MiB during the flood`,
      );
      assert.ok(droppedAt >= 0, `the stalled subscriber was not disconnected after ${sent} events of ${EVENT_BYTES} bytes`);
      assert.equal(await slowConsumers('disconnected'), before + 1, 'exactly one slow consumer disconnected');
      await waitFor(() => sessionGone(sessionId), 'the slow session to leave the realm', 1000);
      // its connection is really closed: once it reads again, it sees the end
      peer.resumeReading();
      await within(peer.closed, 5000, 'the stalled connection to be closed');
      tt.diagnostic(
        `${t.name}: disconnected after ${droppedAt} events (~${((droppedAt * EVENT_BYTES) / 1048576).toFixed(1)} MiB); memory +${((peak - baseline) / 1048576).toFixed(1)} MiB`,
      );
      await bystanders.check(`${t.name} slow consumer flood`);
    });
  }
});

void test('wamp robustness - a subscriber stuck above the high water mark is disconnected after limits.slowConsumerTimeoutMs', async (tt) => {
  for (const t of transports) {
    await tt.test(t.name, async () => {
      const topic = `robust.trickle.${t.name.replace('/', '_')}`;
      const { peer, sessionId } = await stalledSubscriber(t, topic);
      const throttled0 = await slowConsumers('throttled');
      const disconnected0 = await slowConsumers('disconnected');
      // one event at a time until the router throttles it: queued just over the high water mark
      let sent = 0;
      while ((await slowConsumers('throttled')) === throttled0) {
        assert.ok(sent < FLOOD_CAP_EVENTS, `never throttled after ${sent} events`);
        await within(
          Promise.resolve(bystanders.session.publish(topic, [++sent, blob], {}, { acknowledge: true })),
          2000,
          'publication acknowledged',
        );
      }
      assert.equal(
        await slowConsumers('disconnected'),
        disconnected0,
        'throttled, not yet disconnected: the queue is below its hard limit',
      );
      await bystanders.check(`${t.name} throttled`);
      // the drain poll (real timers, every 25 ms) reads the deadline on the clock: at the
      // timeout itself a few polls find it still in time
      clock.advance(SLOW_TIMEOUT_MS);
      await expectQuiet();
      assert.equal(
        await slowConsumers('disconnected'),
        disconnected0,
        `not disconnected before the timeout (${SLOW_TIMEOUT_MS} ms)`,
      );
      clock.advance(1);
      await waitFor(
        async () => (await slowConsumers('disconnected')) > disconnected0,
        'disconnect after the slow consumer timeout',
      );
      await waitFor(() => sessionGone(sessionId), 'the slow session to leave the realm', 1000);
      peer.resumeReading();
      await within(peer.closed, 5000, 'the stalled connection to be closed');
      await bystanders.check(`${t.name} slow consumer timeout`);
    });
  }
});

void test('wamp robustness - a subscriber that catches up in time is released, not disconnected', async () => {
  const t = transports.find((x) => x.kind === 'rawsocket')!;
  const topic = 'robust.catchup';
  const { peer, sessionId } = await stalledSubscriber(t, topic);
  const throttled0 = await slowConsumers('throttled');
  const disconnected0 = await slowConsumers('disconnected');
  let sent = 0;
  while ((await slowConsumers('throttled')) === throttled0) {
    assert.ok(sent < FLOOD_CAP_EVENTS, `never throttled after ${sent} events`);
    await within(
      Promise.resolve(bystanders.session.publish(topic, [++sent, blob], {}, { acknowledge: true })),
      2000,
      'publication acknowledged',
    );
  }
  const expected = peer.bytesIn;
  peer.resumeReading();
  await waitFor(() => peer.bytesIn > expected, 'the queued events to flow again');
  // past the deadline, drained: the next poll releases it instead of dropping it
  clock.advance(SLOW_TIMEOUT_MS + 500);
  await expectQuiet();
  assert.equal(await slowConsumers('disconnected'), disconnected0, 'not disconnected');
  assert.equal(peer.isClosed, false);
  assert.equal(await sessionGone(sessionId), false, 'session still joined');
  assert.ok(peer.bytesIn > expected, 'the queued events were delivered');
  peer.discard = false;
  peer.received.length = 0;
  await bystanders.session.publish(topic, ['after'], {}, { acknowledge: true });
  const m = await peer.next(2000, 'EVENT after catching up');
  assert.ok(
    Array.isArray(m) && m[0] === 36 && Array.isArray(m[4]) && m[4][0] === 'after',
    `EVENT, got ${JSON.stringify(m)?.slice(0, 200)}`,
  );
});

void test('wamp robustness - after the slow consumer tests the process is alive', async () => {
  guard.assertNone();
  await bystanders.check('slow consumer suite');
  assert.equal(r.router.health().status, 'ok');
});
