/**
 * Hostile clients on the WAMP WebSocket listener, all three subprotocols: sessions of
 * random and mutated frames (shared wamp-vectors samples with bit flips, truncation,
 * inserted bytes; random messages with wrong types, huge ids and unknown codes; depth
 * bombs; text frames for binary serializers and the reverse), some after a valid HELLO.
 * Every reply must be well-formed WAMP, every close code a legitimate one; afterwards
 * the router process is alive, logged no error, serves well-behaved clients of every
 * protocol, and its heap is back near where it started.
 */
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { codecs } from '../helpers/raw-wamp';
import { HostileRouter, assertCloseCode, assertWellBehavedClientsWork, attackWs, fcParams, inParallel, type Memory } from '../helpers/hostile';
import { SERIALIZERS, assertWampReplies, helloFor, vectorMessages, wampPayloadArb } from '../helpers/hostile-wamp';

/** fast-check runs x connections per run: 60 x 8 = 480 connections, ~10 frames each */
const RUNS = 60;
const WIDTH = 8;

let r: HostileRouter;
let base: Memory;
const vectors = vectorMessages();

const sessionArb = fc.constantFrom(...SERIALIZERS).chain((ser) =>
  fc.record({
    ser: fc.constant(ser),
    hello: fc.boolean(),
    frames: fc.array(fc.record({ data: wampPayloadArb(ser, vectors[ser]), binary: fc.oneof({ weight: 5, arbitrary: fc.constant(codecs[ser].binary) }, { weight: 1, arbitrary: fc.boolean() }) }), { minLength: 1, maxLength: 16 }),
  }),
);
type Session = typeof sessionArb extends fc.Arbitrary<infer T> ? T : never;

async function attack(s: Session, i: number): Promise<void> {
  const hello = s.hello ? [{ data: helloFor(s.ser), binary: codecs[s.ser].binary }] : [];
  const o = await attackWs(r.url('wamp', '/ws'), [codecs[s.ser].wsProtocol], [...hello, ...s.frames]);
  const label = `connection ${i} (${s.ser})`;
  assertWampReplies(s.ser, o.received, label);
  assertCloseCode(o, label);
}

before(async () => {
  r = await HostileRouter.start();
  // warm-up: code paths compiled and caches filled before the baseline
  await fc.assert(fc.asyncProperty(fc.array(sessionArb, { minLength: WIDTH, maxLength: WIDTH }), (b) => inParallel(b, WIDTH, attack)), fcParams(3));
  await assertWellBehavedClientsWork(r, 'warmup');
  base = await r.memory();
});

after(async () => {
  await r.stop();
});

test('random and mutated WAMP frames over WebSocket (json, msgpack, cbor) get WAMP replies or a close', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(sessionArb, { minLength: WIDTH, maxLength: WIDTH }), (batch) => inParallel(batch, WIDTH, attack)),
    fcParams(RUNS),
  );
  r.assertHealthy('WAMP WebSocket fuzzing');
});

test('afterwards every protocol serves well-behaved clients and memory is back near its start', async () => {
  await assertWellBehavedClientsWork(r, 'wampws');
  await r.assertMemoryNear(base, 'WAMP WebSocket fuzzing');
  r.assertHealthy('the well-behaved clients');
});
