/**
 * Hostile clients on the WAMP RawSocket listener: valid, mutated and random 4-octet
 * handshakes, then frames whose headers lie (length beyond the negotiated maximum,
 * longer or shorter than the payload, reserved bits and frame types) around random and
 * mutated WAMP payloads (integers past 64 bits in every serializer among them), all
 * written in random-sized chunks. What comes back must be a RawSocket handshake reply
 * and well-framed WAMP; afterwards the router is alive, logged no error, serves
 * well-behaved clients and its heap is back near its start.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { codecs, type WireSerializer } from '../helpers/raw-wamp';
import { FUZZ_AUTHZ, fuzzSuite, type HostileRouter, type Outcome, attackTcp, mutatedArb } from '../helpers/hostile';
import { SERIALIZERS, assertWampReplies, helloFor, vectorMessages, wampPayloadArb } from '../helpers/hostile-wamp';

const RUNS = 60;
const WIDTH = 8;

const vectors = vectorMessages();

function header(type: number, length: number): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(length & 0xffffff, 0);
  h[0] = type & 0xff;
  return h;
}

const handshakeArb = (ser: WireSerializer): fc.Arbitrary<Buffer> => {
  const valid = fc.integer({ min: 0, max: 15 }).map((exp) => Buffer.from([0x7f, (exp << 4) | codecs[ser].rawSocketId, 0, 0]));
  return fc.oneof(
    { weight: 6, arbitrary: valid },
    { weight: 2, arbitrary: mutatedArb(valid) },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: 0, maxLength: 6 }).map((a) => Buffer.from(a)) },
  );
};

/** A frame: an honest header, a lying length, or an odd type, around a WAMP payload. */
const frameArb = (ser: WireSerializer): fc.Arbitrary<Buffer> =>
  fc
    .tuple(
      wampPayloadArb(ser, vectors[ser]),
      fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
      fc.oneof(
        { weight: 8, arbitrary: fc.constant(0) },
        { weight: 1, arbitrary: fc.integer({ min: -8, max: 8 }) },
        { weight: 1, arbitrary: fc.constantFrom(0xffffff, 1 << 20, 1 << 16) },
      ),
    )
    .map(([payload, type, skew]) => Buffer.concat([header(type, skew > 8 ? skew : Math.max(0, payload.length + skew)), payload]));

const sessionArb = fc.constantFrom(...SERIALIZERS).chain((ser) =>
  fc.record({
    ser: fc.constant(ser),
    handshake: handshakeArb(ser),
    hello: fc.boolean(),
    frames: fc.array(frameArb(ser), { minLength: 0, maxLength: 12 }),
    cuts: fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 6 }),
  }),
);
type Session = typeof sessionArb extends fc.Arbitrary<infer T> ? T : never;

/** Splits `b` into chunks of the given sizes (the rest as one chunk). */
function split(b: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (const n of sizes) {
    if (at >= b.length) break;
    out.push(b.subarray(at, at + n));
    at += n;
  }
  if (at < b.length) out.push(b.subarray(at));
  return out;
}

/** The router's bytes: a handshake reply, then (if it accepted) whole frames of WAMP, PING or PONG. */
function assertRawSocketReplies(handshake: Buffer, bytes: Buffer, label: string): void {
  if (bytes.length === 0) return;
  assert.ok(bytes.length >= 4 && bytes[0] === 0x7f, `${label}: handshake reply ${bytes.subarray(0, 4).toString('hex')}`);
  const accepted = ((bytes[1] ?? 0) & 0x0f) !== 0;
  if (!accepted) {
    assert.equal(bytes.length, 4, `${label}: bytes after a handshake error`);
    return;
  }
  const asked = (handshake[1] ?? 0) & 0x0f;
  assert.equal((bytes[1] ?? 0) & 0x0f, asked, `${label}: serializer in the reply`);
  const ser = SERIALIZERS.find((s) => codecs[s].rawSocketId === asked);
  assert.ok(ser, `${label}: router accepted serializer ${asked}`);
  const messages: Buffer[] = [];
  let at = 4;
  while (at + 4 <= bytes.length) {
    const type = bytes[at] ?? 0;
    const len = bytes.readUInt32BE(at) & 0xffffff;
    assert.ok(type <= 2, `${label}: frame type ${type}`);
    if (at + 4 + len > bytes.length) break; // cut off by our hang-up
    if (type === 0) messages.push(bytes.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  assertWampReplies(ser, messages, label);
}

async function attack(r: HostileRouter, s: Session, i: number): Promise<Outcome> {
  const hello = s.hello ? [Buffer.concat([header(0, helloFor(s.ser).length), helloFor(s.ser)])] : [];
  const stream = Buffer.concat([s.handshake, ...hello, ...s.frames]);
  const o = await attackTcp(r.ports.rawsocket, split(stream, s.cuts));
  // the router reads its handshake from the first 4 octets of the stream: a short
  // (mutated) handshake is completed by whatever follows it
  assertRawSocketReplies(stream.subarray(0, 4), Buffer.concat(o.received), `connection ${i} (${s.ser})`);
  return o;
}

fuzzSuite({
  title: 'random and mutated RawSocket handshakes and frames get RawSocket/WAMP replies or a close',
  tag: 'rawsocket',
  session: sessionArb,
  runs: RUNS,
  width: WIDTH,
  attack,
  config: FUZZ_AUTHZ,
});
