/**
 * WAMP material for the hostile suites: the sample messages of /work/shared/wamp-vectors
 * per serializer, fast-check arbitraries for WAMP frames (valid, mutated, wrong types,
 * huge ids, depth bombs, unknown codes) and a check that what the router sent back is
 * well-formed WAMP.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { codecs, type WireSerializer } from './raw-wamp';
import { mutatedArb } from './hostile';

const VECTORS = '/work/shared/wamp-vectors/singlemessage';
export const SERIALIZERS: readonly WireSerializer[] = ['json', 'msgpack', 'cbor'];

interface VectorFile {
  samples?: { serializers?: Record<string, { bytes?: string; bytes_hex?: string }[]> }[];
}

function* files(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) yield* files(p);
    else if (name.endsWith('.json')) yield p;
  }
}

/** Every sample message of the shared vectors, encoded, per serializer. */
export function vectorMessages(): Record<WireSerializer, Buffer[]> {
  const out: Record<WireSerializer, Buffer[]> = { json: [], msgpack: [], cbor: [] };
  for (const f of files(VECTORS)) {
    const v = JSON.parse(readFileSync(f, 'utf8')) as VectorFile;
    for (const s of v.samples ?? []) {
      for (const ser of SERIALIZERS) {
        for (const enc of s.serializers?.[ser] ?? []) {
          if (enc.bytes_hex) out[ser].push(Buffer.from(enc.bytes_hex, 'hex'));
          else if (enc.bytes) out[ser].push(Buffer.from(enc.bytes, 'utf8'));
        }
      }
    }
  }
  return out;
}

const HUGE = [2 ** 53, 2 ** 53 + 2, 2 ** 64, -1, -(2 ** 53), 0, 1.5, 1e308, -1e308, 2 ** 31, 2 ** 32];
const CODES = [1, 2, 3, 4, 5, 6, 7, 8, 16, 17, 32, 33, 34, 35, 36, 48, 49, 50, 64, 65, 66, 67, 68, 69, 70];

/** A value of any WAMP-ish shape: ids, URIs, dicts, lists, strings, numbers. */
const valueArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(...HUGE),
  fc.integer(),
  fc.string({ maxLength: 40 }),
  fc.constantFrom('realm1', 'a.b.c', 'wamp.session.count', 'x..y', '', 'wamp.error.x', 'hostile.topic'),
  fc.jsonValue({ maxDepth: 3 }),
  fc.constant(null),
  fc.boolean(),
);

/** A WAMP message: a known or unknown code with random fields (wrong types included). */
const messageArb: fc.Arbitrary<unknown[]> = fc
  .tuple(fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...CODES) }, { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.constantFrom(...HUGE), fc.string({ maxLength: 3 })) }), fc.array(valueArb, { maxLength: 7 }))
  .map(([code, rest]) => [code, ...rest]);

/** A well-typed message of a code the router acts on, with plausible fields. */
const plausibleArb: fc.Arbitrary<unknown[]> = fc.oneof(
  fc.tuple(fc.constantFrom(...HUGE, 1, 2, 3), fc.constantFrom('hostile.t', 'hostile.t.#', 'a..b', ''), fc.array(valueArb, { maxLength: 2 })).map(([id, uri, args]) => [16, id, { acknowledge: true }, uri, args]),
  fc.tuple(fc.constantFrom(...HUGE, 7), fc.constantFrom('hostile.t', 'hostile', 'wamp.session.count')).map(([id, uri]) => [32, id, { match: 'prefix' }, uri]),
  fc.tuple(fc.constantFrom(...HUGE, 9), fc.constantFrom('hostile.p', 'wamp.session.list', 'wamp.registration.list')).map(([id, uri]) => [48, id, {}, uri, []]),
  fc.tuple(fc.constantFrom(...HUGE, 11), fc.constantFrom('hostile.p', 'wamp.x')).map(([id, uri]) => [64, id, {}, uri]),
  fc.tuple(fc.constantFrom(34, 66, 49, 70, 8), fc.constantFrom(...HUGE)).map(([code, id]) => (code === 8 ? [8, 68, id, {}, 'app.err'] : code === 70 ? [70, id, {}, []] : [code, id, {}])),
);

/** Nested lists `depth` deep, in the serializer's encoding (a stack-depth bomb). */
export function depthBomb(ser: WireSerializer, depth: number): Buffer {
  if (ser === 'json') return Buffer.from('['.repeat(depth) + ']'.repeat(depth));
  // msgpack fixarray(1) = 0x91, nil = 0xc0; CBOR array(1) = 0x81, null = 0xf6
  const [open, leaf] = ser === 'msgpack' ? [0x91, 0xc0] : [0x81, 0xf6];
  const b = Buffer.alloc(depth + 1, open);
  b[depth] = leaf;
  return b;
}

export function helloFor(ser: WireSerializer, realm = 'realm1'): Buffer {
  return codecs[ser].encode([1, realm, { roles: { publisher: {}, subscriber: {}, caller: {}, callee: {} } }]);
}

/** One WAMP payload for serializer `ser` (what goes in a WebSocket message or RawSocket frame). */
export function wampPayloadArb(ser: WireSerializer, vectors: Buffer[]): fc.Arbitrary<Buffer> {
  const encode = (m: unknown[]): Buffer => codecs[ser].encode(m);
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...vectors) },
    { weight: 6, arbitrary: mutatedArb(fc.constantFrom(...vectors)) },
    { weight: 4, arbitrary: messageArb.map(encode) },
    { weight: 4, arbitrary: plausibleArb.map(encode) },
    { weight: 2, arbitrary: mutatedArb(plausibleArb.map(encode)) },
    { weight: 1, arbitrary: fc.integer({ min: 100, max: 200_000 }).map((d) => depthBomb(ser, d)) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)) },
    { weight: 1, arbitrary: fc.constantFrom(...SERIALIZERS).map((other) => helloFor(other)) },
  );
}

/** Codes a router sends: WELCOME ABORT CHALLENGE GOODBYE ERROR PUBLISHED SUBSCRIBED UNSUBSCRIBED EVENT RESULT REGISTERED UNREGISTERED INVOCATION INTERRUPT */
const ROUTER_CODES = new Set([2, 3, 4, 6, 8, 17, 33, 35, 36, 50, 65, 67, 68, 69]);

/** What the router sent is WAMP: decodable arrays with router codes; ABORT/GOODBYE/ERROR carry a URI. */
export function assertWampReplies(ser: WireSerializer, payloads: Buffer[], label: string): void {
  for (const p of payloads) {
    let m: unknown;
    try {
      m = codecs[ser].decode(p);
    } catch (err) {
      assert.fail(`${label}: router sent an undecodable ${ser} message (${(err as Error).message}): ${p.toString('hex').slice(0, 80)}`);
    }
    assert.ok(Array.isArray(m) && typeof m[0] === 'number' && ROUTER_CODES.has(m[0]), `${label}: router sent ${JSON.stringify(m)?.slice(0, 200)}`);
    const uriAt = m[0] === 3 || m[0] === 6 ? 2 : m[0] === 8 ? 4 : -1;
    if (uriAt >= 0) assert.equal(typeof m[uriAt], 'string', `${label}: error/abort without URI: ${JSON.stringify(m).slice(0, 200)}`);
  }
}
