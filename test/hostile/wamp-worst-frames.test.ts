/**
 * One frame must not stall the event loop: frames as large as limits.maxMessageSize
 * allows, of the worst content we could build for each serializer (integers past 64 bits
 * as CBOR bignum tags, msgpackr's bigint extension and JSON digit strings, before HELLO
 * and in a PUBLISH; nesting as deep as the bytes allow; CBOR value sharing; and valid
 * but heavy PUBLISHes of many tiny map keys or many 64-bit integers, re-encoded for a
 * subscriber of every serializer), over WebSocket and RawSocket. Meanwhile another
 * client keeps receiving a heartbeat event every 25 ms through the same router; no gap
 * may exceed 2 s (generous: a bignum of this size stalled the router for seconds, a
 * value-sharing DAG for minutes). The offenders get ABORT wamp.error.protocol_violation
 * (WAMP basic profile: a malformed message aborts the session), the valid ones
 * PUBLISHED.
 */
import assert from 'node:assert/strict';
import os from 'node:os';
import { after, before, test } from 'node:test';
import { connect, rawSocketTransport, wsOptions } from '../helpers/autobahn';
import { HostileRouter, within } from '../helpers/hostile';
import { worstFrames } from '../helpers/hostile-wamp';
import { codecs, destroyAllRawPeers, expectAbortAndClose, rawTransports, type RawPeer } from '../helpers/raw-wamp';
import { waitFor } from '../helpers/wait';

/**
 * The frame size limit for this suite. Smaller than the 1 MiB default so that the valid
 * heavy frames (decoded, then re-encoded for three serializers, all linear) stay well
 * inside the gap bound on a loaded CI machine; test/unit/wamp-wire-scan.test.ts covers
 * 1 MiB. Unfixed, a bignum of this size alone stalled the router ~8 s.
 */
const MAX_BYTES = 256 * 1024;
/**
 * The longest the other clients' heartbeat may pause: 2 s on a machine with a core to
 * spare, stretched by how oversubscribed the cores are (load average per core) when the
 * test runs, since a descheduled router pauses every client alike. Unfixed, the worst
 * frame stalled for ~8 s on an idle machine.
 */
const MAX_GAP_MS = 2000 * Math.max(1, (os.loadavg()[0] ?? 0) / os.cpus().length);
const BEAT_MS = 25;
/** per frame: how long the router may take to answer (generous, not a timing check) */
const ANSWER_MS = 30_000;
const HEAVY = 'worst.heavy';

let r: HostileRouter;

before(async () => {
  r = await HostileRouter.start({ limits: { maxMessageSize: MAX_BYTES } });
});

after(async () => {
  destroyAllRawPeers();
  await r.stop();
});

test('worst frames - the largest frames of the worst content, every serializer and transport, leave other clients’ events flowing', async (t) => {
  const wsUrl = r.url('wamp', '/ws');
  const rawUrl = `tcp://127.0.0.1:${r.ports.rawsocket}`;

  // subscribers of every serializer on the heavy topic: the re-encode path
  const heavySubs = await Promise.all(
    [
      wsOptions(wsUrl, 'json'),
      wsOptions(wsUrl, 'msgpack'),
      wsOptions(wsUrl, 'cbor'),
      { transports: [rawSocketTransport(rawUrl)] },
    ].map(async (options) => {
      const c = await connect(options);
      const sub = { client: c, events: 0 };
      await c.session.subscribe(HEAVY, () => void sub.events++);
      return sub;
    }),
  );

  // the heartbeat: published over WebSocket/CBOR, received over RawSocket/JSON
  const beatSub = await connect({ transports: [rawSocketTransport(rawUrl)] });
  const beatPub = await connect(wsOptions(wsUrl, 'cbor'));
  let current = 'start';
  let beats = 0;
  let last = 0;
  let maxGap = 0;
  let worstCase = '';
  await beatSub.session.subscribe('worst.beat', () => {
    const now = Date.now();
    if (last > 0 && now - last > maxGap) {
      maxGap = now - last;
      worstCase = current;
    }
    last = now;
    beats++;
  });
  let n = 0;
  let beatError = '';
  const timer = setInterval(() => {
    try {
      void beatPub.session.publish('worst.beat', [n++]);
    } catch (err) {
      // the publisher's session is gone (autobahn throws): reported below, with the gap
      beatError ||= `heartbeat publisher during ${current}: ${(err as Error).message}`;
    }
  }, BEAT_MS);
  await waitFor(() => beats >= 5, 'the heartbeat to flow before the attack', 10_000, BEAT_MS);

  const timings: string[] = [];
  // every frame is tried, and what went wrong reported together (with the gap)
  const failures: string[] = [];
  let published = 0;
  try {
    for (const tr of rawTransports(wsUrl, r.ports.rawsocket)) {
      for (const f of worstFrames(tr.serializer, MAX_BYTES, HEAVY)) {
        current = `${tr.name}: ${f.name} (${f.payload.length} bytes)`;
        assert.ok((f.payload.length <= MAX_BYTES && f.payload.length > 200_000) || f.payload.length < 1000, current);
        const start = Date.now();
        let peer: RawPeer | undefined;
        try {
          peer = await tr.open();
          if (f.afterHello) await peer.hello();
          peer.sendPayload(f.payload, { binary: codecs[tr.serializer].binary });
          if (f.expect === 'abort') {
            await expectAbortAndClose(peer, 'wamp.error.protocol_violation', ANSWER_MS);
          } else if (f.expect === 'welcome') {
            const m = await peer.next(ANSWER_MS, 'WELCOME');
            assert.ok(Array.isArray(m) && m[0] === 2, `got ${JSON.stringify(m)?.slice(0, 200)}`);
          } else {
            const m = await peer.next(ANSWER_MS, 'PUBLISHED');
            assert.ok(Array.isArray(m) && (m[0] === 17 || m[0] === 8), `got ${JSON.stringify(m)?.slice(0, 200)}`);
            if (m[0] === 17) {
              // every subscriber got it, re-encoded for its serializer
              published++;
              await waitFor(
                () => heavySubs.every((s) => s.events >= published),
                () => `the heavy event to reach every subscriber (${heavySubs.map((s) => s.events).join('/')} of ${published})`,
                ANSWER_MS,
              );
            }
          }
        } catch (err) {
          failures.push(`${current}: ${(err as Error).message}`);
        } finally {
          timings.push(`${current}: ${Date.now() - start} ms`);
          peer?.destroy();
        }
      }
    }
    current = 'end';
    // a beat after the last frame, so that a stall at the end counts as a gap too
    const beatsAtEnd = beats;
    await waitFor(() => beats > beatsAtEnd, 'a heartbeat after the last frame', ANSWER_MS, BEAT_MS).catch(() =>
      failures.push(`no heartbeat for ${Date.now() - last} ms after the last frame`),
    );
  } finally {
    clearInterval(timer);
    for (const line of timings) t.diagnostic(line);
    t.diagnostic(`heartbeats ${beats}, largest gap ${maxGap} ms (during ${worstCase || 'nothing'})`);
    for (const c of [beatSub, beatPub, ...heavySubs.map((s) => s.client)])
      await within(c.close(), 3000, 'autobahn close').catch(() => undefined);
  }

  assert.deepEqual(failures, [], 'every frame got its answer');
  assert.equal(beatError, '', 'the heartbeat publisher stayed connected');
  assert.ok(published >= 6, `valid heavy frames published: ${published}`);
  assert.ok(maxGap < MAX_GAP_MS, `heartbeat gap of ${maxGap} ms during ${worstCase}`);
  r.assertHealthy('the worst frames');
});
