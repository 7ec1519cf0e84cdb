/**
 * WAMP material for the hostile suites: the sample messages of test/fixtures/wamp-vectors
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

const VECTORS = path.resolve(__dirname, '../fixtures/wamp-vectors/singlemessage');
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

/** A request or subscription id: mostly valid (1..2^53), sometimes not. */
const idArb: fc.Arbitrary<number> = fc.oneof(
  { weight: 12, arbitrary: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }) },
  { weight: 1, arbitrary: fc.constantFrom(...HUGE) },
);

/** A value of any WAMP-ish shape: ids, URIs, dicts, lists, strings, numbers. */
const valueArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(...HUGE),
  fc.integer(),
  fc.string({ maxLength: 40 }),
  fc.constantFrom('realm1', 'a.b.c', 'wamp.session.count', 'x..y', '', 'wamp.error.x', 'hostile.topic', 'billing.eu'),
  fc.jsonValue({ maxDepth: 3 }),
  fc.constant(null),
  fc.boolean(),
);

/** A WAMP message: a known or unknown code with random fields (wrong types included). */
const messageArb: fc.Arbitrary<unknown[]> = fc
  .tuple(
    fc.oneof(
      { weight: 5, arbitrary: fc.constantFrom(...CODES) },
      { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.constantFrom(...HUGE), fc.string({ maxLength: 3 })) },
    ),
    fc.array(valueArb, { maxLength: 7 }),
  )
  .map(([code, rest]) => [code, ...rest]);

/** Procedures the router itself answers (meta API, store, tables): called with random arguments. */
const ROUTER_PROCEDURES = [
  'wamp.session.count',
  'wamp.session.list',
  'wamp.session.get',
  'wamp.session.add_testament',
  'wamp.session.flush_testaments',
  'wamp.registration.list',
  'wamp.registration.lookup',
  'wamp.registration.match',
  'wamp.registration.get',
  'wamp.registration.list_callees',
  'wamp.registration.count_callees',
  'wamp.subscription.list',
  'wamp.subscription.lookup',
  'wamp.subscription.match',
  'wamp.subscription.get',
  'wamp.subscription.list_subscribers',
  'wamp.subscription.count_subscribers',
  'wamp.subscription.get_events',
  'gatehouse.store.get',
  'gatehouse.store.list',
  'gatehouse.store.delete',
  'gatehouse.table.get',
  'gatehouse.table.list',
  'gatehouse.table.query',
  'wamp.session.kill',
  'wamp.session.kill_by_authrole',
];
const dictArb = fc.dictionary(
  fc.constantFrom(
    'match',
    'timeout',
    'retain',
    'when',
    'watch',
    'will',
    'ttl',
    'exclude_me',
    'exclude',
    'eligible',
    'acknowledge',
    'receive_progress',
    'progress',
    'invoke',
    'concurrency',
    'disclose_me',
    'limit',
    'prefix',
    'key',
    'sessionid',
    'headers',
    'content_type',
  ),
  valueArb,
  { maxKeys: 4 },
);

/** A well-typed message of a code the router acts on, with plausible fields. */
const plausibleArb: fc.Arbitrary<unknown[]> = fc.oneof(
  fc
    .tuple(
      idArb,
      dictArb,
      fc.constantFrom(...ROUTER_PROCEDURES),
      fc.array(valueArb, { maxLength: 3 }),
      fc.dictionary(fc.string({ maxLength: 8 }), valueArb, { maxKeys: 3 }),
    )
    .map(([id, opts, uri, args, kwargs]) => [48, id, opts, uri, args, kwargs]),
  fc
    .tuple(
      idArb,
      dictArb,
      fc.constantFrom('hostile.t', 'hostile.t.#', 'hostile.*.x', 'hostile', 'billing.eu', 'billing'),
      fc.array(valueArb, { maxLength: 2 }),
    )
    .map(([id, opts, uri, args]) => [16, id, opts, uri, args]),
  fc
    .tuple(idArb, dictArb, fc.constantFrom('hostile.t', 'hostile.', 'hostile.*.x', '', 'billing.', 'billing.eu'))
    .map(([id, opts, uri]) => [32, id, opts, uri]),
  fc
    .tuple(idArb, dictArb, fc.constantFrom('hostile.p', 'hostile.', 'wamp.session.count', 'billing.charge'))
    .map(([id, opts, uri]) => [64, id, opts, uri]),
  fc.tuple(idArb, dictArb, fc.constantFrom('hostile.p', 'hostile.q')).map(([id, opts, uri]) => [48, id, opts, uri, [1]]),
  fc
    .tuple(idArb, fc.constantFrom('hostile.t', 'hostile.t.#', 'a..b', ''), fc.array(valueArb, { maxLength: 2 }))
    .map(([id, uri, args]) => [16, id, { acknowledge: true }, uri, args]),
  fc
    .tuple(idArb, fc.constantFrom('hostile.t', 'hostile', 'wamp.session.count'))
    .map(([id, uri]) => [32, id, { match: 'prefix' }, uri]),
  fc
    .tuple(idArb, fc.constantFrom('hostile.p', 'wamp.session.list', 'wamp.registration.list'))
    .map(([id, uri]) => [48, id, {}, uri, []]),
  fc.tuple(idArb, fc.constantFrom('hostile.p', 'wamp.x')).map(([id, uri]) => [64, id, {}, uri]),
  fc
    .tuple(fc.constantFrom(34, 66, 49, 70, 8), fc.constantFrom(...HUGE))
    .map(([code, id]) => (code === 8 ? [8, 68, id, {}, 'app.err'] : code === 70 ? [70, id, {}, []] : [code, id, {}])),
);

/** A well-formed message with random options and arguments, encoded: keeps a session alive to reach deeper code. */
export function plausiblePayloadArb(ser: WireSerializer): fc.Arbitrary<Buffer> {
  return plausibleArb.map((m) => codecs[ser].encode(m));
}

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
      assert.fail(
        `${label}: router sent an undecodable ${ser} message (${(err as Error).message}): ${p.toString('hex').slice(0, 80)}`,
      );
    }
    assert.ok(
      Array.isArray(m) && typeof m[0] === 'number' && ROUTER_CODES.has(m[0]),
      `${label}: router sent ${JSON.stringify(m)?.slice(0, 200)}`,
    );
    const uriAt = m[0] === 3 || m[0] === 6 ? 2 : m[0] === 8 ? 4 : -1;
    if (uriAt >= 0)
      assert.equal(typeof m[uriAt], 'string', `${label}: error/abort without URI: ${JSON.stringify(m).slice(0, 200)}`);
  }
}
