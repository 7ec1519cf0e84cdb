/**
 * Hostile clients on the WAMP WebSocket listener, all three subprotocols: sessions of
 * random and mutated frames (shared wamp-vectors samples with bit flips, truncation,
 * inserted bytes; random messages with wrong types, huge ids and unknown codes; depth
 * bombs; integers past 64 bits (CBOR bignum tags, msgpack bigint extension, long JSON
 * digit strings) in HELLO, PUBLISH, CALL and request ids; text frames for binary
 * serializers and the reverse), some after a valid HELLO.
 * Every reply must be well-formed WAMP, every close code a legitimate one; afterwards
 * the router process is alive, logged no error, serves well-behaved clients of every
 * protocol, and its heap is back near where it started.
 */
import fc from 'fast-check';
import { codecs, type WireSerializer } from '../helpers/raw-wamp';
import { FUZZ_AUTHZ, fuzzSuite, type HostileRouter, type Outcome, assertCloseCode, attackWs } from '../helpers/hostile';
import {
  SERIALIZERS,
  assertWampReplies,
  helloFor,
  plausiblePayloadArb,
  vectorMessages,
  wampPayloadArb,
} from '../helpers/hostile-wamp';

/** fast-check runs x connections per run: 120 x 8 = 960 connections, up to 17 frames each */
const RUNS = 120;
const WIDTH = 8;

const vectors = vectorMessages();

const frameArb = (ser: WireSerializer): fc.Arbitrary<{ data: Buffer; binary: boolean }> =>
  fc.record({
    data: wampPayloadArb(ser, vectors[ser]),
    binary: fc.oneof({ weight: 5, arbitrary: fc.constant(codecs[ser].binary) }, { weight: 1, arbitrary: fc.boolean() }),
  });

/**
 * A connection: garbage (any frames, often fatal at the first), or deep (HELLO, then
 * well-formed messages with random options and arguments that keep the session alive
 * into the broker, dealer, meta API and store, then maybe garbage).
 */
const sessionArb = fc.constantFrom(...SERIALIZERS).chain((ser) =>
  fc.oneof(
    fc.record({ ser: fc.constant(ser), hello: fc.boolean(), frames: fc.array(frameArb(ser), { minLength: 1, maxLength: 16 }) }),
    fc
      .tuple(fc.array(plausiblePayloadArb(ser), { minLength: 5, maxLength: 30 }), fc.array(frameArb(ser), { maxLength: 2 }))
      .map(([deep, tail]) => ({
        ser,
        hello: true,
        frames: [...deep.map((data) => ({ data, binary: codecs[ser].binary })), ...tail],
      })),
  ),
);
type Session = typeof sessionArb extends fc.Arbitrary<infer T> ? T : never;

async function attack(r: HostileRouter, s: Session, i: number): Promise<Outcome> {
  const hello = s.hello ? [{ data: helloFor(s.ser), binary: codecs[s.ser].binary }] : [];
  const o = await attackWs(r.url('wamp', '/ws'), [codecs[s.ser].wsProtocol], [...hello, ...s.frames]);
  const label = `connection ${i} (${s.ser})`;
  assertWampReplies(s.ser, o.received, label);
  assertCloseCode(o, label);
  return o;
}

fuzzSuite({
  title: 'random and mutated WAMP frames over WebSocket (json, msgpack, cbor) get WAMP replies or a close',
  tag: 'wampws',
  session: sessionArb,
  runs: RUNS,
  width: WIDTH,
  attack,
  config: FUZZ_AUTHZ,
  expectDenials: true,
});
