// STOMP heart-beating (STOMP 1.2 §Heart-beating) with small intervals from config
// stomp.heartbeat: CONNECTED offers the configured send,receive; each direction runs at
// the larger of what one side can do and the other wants, not at all when either says 0
// (nor in STOMP 1.0); the server sends EOLs at its interval; a client silent for twice
// its interval is dropped, one that beats stays. Also the CONNECT deadline.
//
// The server's side runs on a clock the tests move (test/helpers/clock.ts): its beats,
// the silence that drops a client and the CONNECT deadline come when the test advances
// it, not after sleeps; a raw client's EOLs are written between advances. Only stompjs,
// which beats on its own real timers, uses a second router on the real clock.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RawClients, rawHeader, StompjsClients, waitFor, type RawStomp } from '../../helpers/stomp-clients';
import { ManualClock } from '../../helpers/clock';
import { startRouter, type TestRouter } from '../../helpers/router';

const SEND_MS = 100;
const RECEIVE_MS = 100;
const CONNECT_TIMEOUT_MS = 300;

const CONFIG = {
  mqtt: { sysIntervalSeconds: 0 },
  stomp: { heartbeat: { send: SEND_MS, receive: RECEIVE_MS }, connectTimeoutMs: CONNECT_TIMEOUT_MS },
};
let router: TestRouter;
const clock = new ManualClock();
/** on the real clock, for clients that beat in real time */
let live: TestRouter;
const raws = new RawClients();
const stompjs = new StompjsClients();

before(async () => {
  router = await startRouter(CONFIG, { clock });
  live = await startRouter(CONFIG);
});
after(async () => {
  raws.closeAll();
  await stompjs.closeAll();
  await router.close();
  await live.close();
});

async function connect(
  heartBeat: string | undefined,
  version = '1.2',
  on: TestRouter = router,
): Promise<{ raw: RawStomp; at: number; offered: string | undefined }> {
  const headers: Record<string, string> = { 'accept-version': version, host: 'localhost' };
  if (heartBeat !== undefined) headers['heart-beat'] = heartBeat;
  const { raw, connected } = await raws.connect(on.stompPort, headers);
  return { raw, at: Date.now(), offered: rawHeader(connected, 'heart-beat') };
}

describe('stomp heart-beats', () => {
  it("stomp - CONNECTED offers the configured heart-beat; the server beats at the larger of its interval and the client's wish", async () => {
    for (const [wish, expected] of [
      [50, SEND_MS], // the server cannot beat faster than its send interval
      [250, 250], // the client wants them less often
    ] as const) {
      const ticking = clock.nextTimer(expected, `the heart-beat timer of ${expected} ms`);
      const { raw, offered } = await connect(`0,${wish}`);
      assert.equal(offered, `${SEND_MS},${RECEIVE_MS}`);
      await ticking;
      clock.advance(expected * 5 + expected / 2);
      await waitFor(() => raw.heartbeats.length >= 5, `client wants ${wish} ms: 5 heart-beats in ${expected * 5.5} ms`);
      // a barrier: anything the server beat before it arrives first
      await raw.request('SEND', { destination: '/topic/hb.barrier' }, 'the barrier');
      assert.equal(raw.heartbeats.length, 5, `client wants ${wish} ms: one heart-beat per ${expected} ms`);
      assert.equal(raw.isClosed, false, 'the client wants no heart-beats from itself: it stays');
      raw.destroy();
    }
  });

  it('stomp - no heart-beats when the client wants none (cy = 0), or in STOMP 1.0; such a silent client stays connected', async () => {
    const none = await connect('0,0');
    const absent = await connect(undefined);
    const v10 = await connect('100,100', '1.0');
    clock.advance(RECEIVE_MS * 4);
    for (const c of [none, absent, v10]) await c.raw.request('SEND', { destination: '/topic/hb.barrier' }, 'the barrier');
    for (const [name, c] of [
      ['heart-beat 0,0', none],
      ['no heart-beat header', absent],
      ['STOMP 1.0', v10],
    ] as const) {
      assert.equal(c.raw.heartbeats.length, 0, `${name}: no heart-beats`);
      assert.equal(c.raw.isClosed, false, `${name}: not dropped for silence`);
      c.raw.destroy();
    }
    assert.equal(v10.offered, undefined, 'no heart-beat header in a 1.0 CONNECTED');
  });

  it('stomp - a silent client is dropped after about twice the negotiated interval', async () => {
    // the client promises beats every 200 ms (more than the server's 100): 200 it is
    const ticking = clock.nextTimer(200, 'the heart-beat timer of 200 ms');
    const { raw } = await connect('200,0');
    await ticking;
    clock.advance(399);
    assert.equal(clock.hasTimer(200), true, 'still watched 1 ms before twice the interval');
    clock.advance(1);
    await raw.waitClosed('the server to drop a silent client after 2 x 200 ms');
    assert.equal(raw.pending('ERROR').length, 0, 'a heart-beat timeout ends the connection without a frame');
  });

  it('stomp - a client that beats (EOLs or frames) stays connected; when it stops it is dropped', async () => {
    // the client promises beats every 150 ms: the server checks every 150 ms, and drops it
    // at the first check 2 x 150 ms after the last octet it read
    const ticking = clock.nextTimer(150, 'the heart-beat timer of 150 ms');
    const { raw } = await connect('150,0');
    await ticking;
    // a round trip on another connection: what `raw` wrote before it has been read
    const { raw: other } = await connect('0,0');
    const barrier = (): Promise<unknown> => other.request('SEND', { destination: '/topic/hb.barrier' }, 'the barrier');
    for (let i = 0; i < 8; i++) {
      clock.advance(100);
      if (i % 2 === 0) raw.write('\n');
      else raw.write('\r\n'); // a CRLF EOL is a heart-beat too in 1.2
      await barrier();
    }
    await raw.request('SEND', { destination: '/topic/hb.alive' }, 'a frame counts as well');
    clock.advance(200);
    await raw.request('SEND', { destination: '/topic/hb.alive' }, 'still here');
    assert.equal(raw.isClosed, false, 'alive after 1 s of heart-beats');
    // silent from here (t = 1000): checks at 1050, 1200 pass, 1350 is 2 x 150 after the last octet
    clock.advance(349);
    await barrier();
    assert.equal(raw.isClosed, false, 'still open 1 ms before the check that finds it silent');
    clock.advance(1);
    await raw.waitClosed('the server to drop the client once it stops beating');
    other.destroy();
  });

  it('stomp - a malformed heart-beat header is an ERROR', async () => {
    const raw = await raws.open(router.stompPort);
    raw.send('CONNECT', { 'accept-version': '1.2', host: 'localhost', 'heart-beat': 'often' });
    const err = await raw.expect('ERROR', 'ERROR for heart-beat: often');
    assert.match(err.body.toString(), /heart-beat/);
    await raw.waitClosed('close after the ERROR');
  });

  it('stomp - stompjs negotiates heart-beats both ways and stays connected while beating', async () => {
    let received = 0;
    let lost = 0;
    const { client, connected } = await stompjs.ws(live.stompWsUrl, {
      heartbeatIncoming: 100,
      heartbeatOutgoing: 100,
      onHeartbeatReceived: () => received++,
      onHeartbeatLost: () => lost++,
    });
    assert.equal(connected.headers['heart-beat'], `${SEND_MS},${RECEIVE_MS}`);
    // stompjs's own beats run on real timers: eight of the server's (100 ms apart) span 4 x
    // the server's 200 ms receive timeout, in which it must have kept the beating client
    await waitFor(
      () => received >= 8,
      () => `stompjs to see 8 heart-beats (saw ${received})`,
    );
    assert.equal(lost, 0, 'stompjs missed no heart-beat');
    assert.equal(client.connected, true, 'the server kept the beating client (4 x its 200 ms timeout)');
  });

  it('stomp - a connection that sends no CONNECT is closed after stomp.connectTimeoutMs', async () => {
    const armed = clock.nextTimer(CONNECT_TIMEOUT_MS, 'the CONNECT deadline');
    const raw = await raws.open(router.stompPort);
    await armed;
    clock.advance(CONNECT_TIMEOUT_MS - 1);
    assert.equal(clock.hasTimer(CONNECT_TIMEOUT_MS), true, 'open 1 ms before the deadline');
    clock.advance(1);
    await raw.waitClosed('the CONNECT deadline');
  });
});
