/**
 * WAMP material for the hostile suites: the sample messages of test/fixtures/wamp-vectors
 * per serializer, fast-check arbitraries for WAMP frames (valid, mutated, wrong types,
 * huge ids, integers past 64 bits, depth bombs, unknown codes) and a check that what
 * the router sent back is well-formed WAMP.
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

// ---------------------------------------------------------------------------------
// integers past 64 bits and other content that decoders may spend super-linear time on

/** A string no serializer escapes, to mark where spliceValue puts raw bytes. */
const MARK = 'GATEHOUSE-SPLICE';

/**
 * `msg` encoded for `ser`, with every string MARK replaced by `raw` (an already encoded
 * value: a bignum, a depth bomb, a list built by hand). MARK is 16 characters: a
 * one-byte string head in msgpack (fixstr) and CBOR, quotes in JSON.
 */
export function spliceValue(ser: WireSerializer, msg: unknown[], raw: Buffer | string): Buffer {
  let enc = codecs[ser].encode(msg);
  const bytes = Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
  let at = enc.indexOf(MARK);
  assert.ok(at > 0, 'spliceValue: no marker in the message');
  for (; at > 0; at = enc.indexOf(MARK)) {
    const end = at + MARK.length + (ser === 'json' ? 1 : 0);
    enc = Buffer.concat([enc.subarray(0, at - 1), bytes, enc.subarray(end)]);
  }
  return enc;
}

/** The marker to put where spliceValue inserts raw bytes. */
export const SPLICE = MARK;

/**
 * One integer of about `bytes` bytes: CBOR tag 2/3 bignum (RFC 8949 §3.4.3), msgpackr's
 * bigint extension (ext 0x42), or a JSON digit string of `bytes` digits.
 */
export function bigIntegerWire(ser: WireSerializer, bytes: number, negative: boolean): Buffer {
  if (ser === 'json') return Buffer.from((negative ? '-' : '') + '9'.repeat(Math.max(1, bytes)));
  const body = Buffer.alloc(bytes, 0x5a);
  if (ser === 'msgpack') {
    const h = Buffer.from([0xc9, 0, 0, 0, 0, 0x42]);
    h.writeUInt32BE(bytes, 1);
    return Buffer.concat([h, body]);
  }
  const h = Buffer.from([negative ? 0xc3 : 0xc2, 0x5a, 0, 0, 0, 0]);
  h.writeUInt32BE(bytes, 2);
  return Buffer.concat([h, body]);
}

/** An integer that fits 64 bits, in the widest form each serializer has for it. */
function wideIntegerWire(ser: WireSerializer, n: number, negative: boolean): Buffer {
  if (ser === 'json') return Buffer.from((negative ? '-' : '') + '1' + '2'.repeat(Math.min(n, 18)));
  if (ser === 'msgpack') return Buffer.from(negative ? 'd3f000000000000001' : 'cfffffffffffffffff', 'hex');
  // a bignum of n <= 8 bytes, 0x7f first so that tag 3 (-1-n) fits int64 too
  const body = Buffer.alloc(Math.min(n, 8), 0x7f);
  return Buffer.concat([Buffer.from([negative ? 0xc3 : 0xc2, 0x40 | body.length]), body]);
}

const hugeIntTemplates: unknown[][] = [
  [1, 'realm1', { roles: { publisher: {}, subscriber: {} }, authextra: { n: MARK } }],
  [16, 7, { acknowledge: true }, 'hostile.t', [MARK]],
  [48, 8, {}, 'hostile.p', [1, [MARK]], { n: MARK }],
  [32, MARK, {}, 'hostile.t'],
];

/**
 * A message carrying integers past 64 bits (refused: protocol_violation) or right at the
 * 64-bit edge (accepted), in HELLO, PUBLISH, CALL or as a request id, for `ser`.
 */
export function hugeIntegerArb(ser: WireSerializer): fc.Arbitrary<Buffer> {
  return fc
    .record({
      template: fc.constantFrom(...hugeIntTemplates),
      fits: fc.boolean(),
      bytes: fc.oneof(fc.integer({ min: 9, max: 64 }), fc.integer({ min: 65, max: 8192 })),
      negative: fc.boolean(),
    })
    .map(({ template, fits, bytes, negative }) =>
      spliceValue(ser, template, fits ? wideIntegerWire(ser, bytes, negative) : bigIntegerWire(ser, bytes, negative)),
    );
}

/** A frame of the worst content we can build, and what the router must answer to it. */
export interface WorstFrame {
  name: string;
  /** send a HELLO first (and wait for WELCOME) */
  afterHello: boolean;
  payload: Buffer;
  /** 'abort': ABORT wamp.error.protocol_violation and a close; 'published': PUBLISHED or ERROR; 'welcome': WELCOME */
  expect: 'abort' | 'published' | 'welcome';
}

/** `count` and a head for an array (`map`: a map) with a 4-byte count. */
function head32(ser: 'msgpack' | 'cbor', count: number, map: boolean): Buffer {
  const h = Buffer.alloc(5);
  h[0] = ser === 'msgpack' ? (map ? 0xdf : 0xdd) : map ? 0xba : 0x9a;
  h.writeUInt32BE(count, 1);
  return h;
}

/** `n` distinct 4-character keys, each with value 0, as one map of `ser`. */
function tinyKeysMap(ser: WireSerializer, n: number): Buffer {
  const key = (i: number): string => i.toString(36).padStart(4, '0');
  if (ser === 'json') return Buffer.from('{' + Array.from({ length: n }, (_, i) => `"${key(i)}":0`).join(',') + '}');
  const entry = ser === 'msgpack' ? 0xa4 : 0x64; // fixstr(4) / text(4)
  const body = Buffer.alloc(n * 6);
  for (let i = 0; i < n; i++) {
    body[i * 6] = entry;
    body.write(key(i), i * 6 + 1, 'latin1');
    body[i * 6 + 5] = 0; // the integer 0 in both
  }
  return Buffer.concat([head32(ser, n, true), body]);
}

/** `n` integers at the 64-bit edge (uint64 max, int64 min): CBOR as 8-byte bignum tags. */
function edgeIntegers(ser: WireSerializer, n: number): Buffer {
  if (ser === 'json') {
    return Buffer.from(
      '[' + Array.from({ length: n }, (_, i) => (i % 2 ? '-9223372036854775808' : '18446744073709551615')).join(',') + ']',
    );
  }
  const one = ser === 'msgpack' ? ['cfffffffffffffffff', 'd38000000000000000'] : ['c248ffffffffffffffff', 'c3487fffffffffffffff'];
  const items = Array.from({ length: n }, (_, i) => Buffer.from(one[i % 2] as string, 'hex'));
  return Buffer.concat([head32(ser, n, false), ...items]);
}

/** Nested single-element lists, `depth` deep (raw value bytes). */
function nestedLists(ser: WireSerializer, depth: number): Buffer {
  if (ser === 'json') return Buffer.from('['.repeat(depth) + ']'.repeat(depth));
  return depthBomb(ser, depth);
}

/** CBOR value sharing (tags 28/29): x_k = tag28([x_k+1, tag29(k+1)]), a DAG of 2^depth paths. */
export function cborSharingDag(depth: number): Buffer {
  const parts: number[] = [];
  for (let k = 0; k < depth; k++) parts.push(0xd8, 28, 0x82);
  parts.push(0xd8, 28, 0x80);
  for (let k = depth - 1; k >= 0; k--) parts.push(0xd8, 29, 0x18, k + 1);
  return Buffer.from(parts);
}

/**
 * Frames of `maxBytes` (give or take a few) for `ser`, each of the worst content we
 * could think of: integers past 64 bits before HELLO and in a PUBLISH, nesting as deep
 * as the bytes allow, and valid but heavy PUBLISHes to `topic` (many tiny map keys;
 * many integers at the 64-bit edge, which decode as BigInt and take JSON's slow path).
 */
export function worstFrames(ser: WireSerializer, maxBytes: number, topic: string): WorstFrame[] {
  const hello: unknown[] = [1, 'realm1', { roles: { publisher: {} }, authextra: { n: MARK } }];
  const publish: unknown[] = [16, 1, { acknowledge: true }, topic, [MARK]];
  const publishKw: unknown[] = [16, 2, { acknowledge: true }, topic, [], MARK];
  const room = (msg: unknown[]): number => maxBytes - spliceValue(ser, msg, '').length;
  const bigHeader = ser === 'json' ? 1 : 6; // '-' / tag + byte string head, ext32 head
  const out: WorstFrame[] = [
    // JSON reads an integer literal past 64 bits as a double (JSON.parse's reading, linear)
    {
      name: 'integer past 64 bits in HELLO',
      afterHello: false,
      payload: spliceValue(ser, hello, bigIntegerWire(ser, room(hello) - bigHeader, true)),
      expect: ser === 'json' ? 'welcome' : 'abort',
    },
    {
      name: 'integer past 64 bits in PUBLISH',
      afterHello: true,
      payload: spliceValue(ser, publish, bigIntegerWire(ser, room(publish) - bigHeader, false)),
      expect: ser === 'json' ? 'published' : 'abort',
    },
    {
      name: 'nesting as deep as the bytes allow',
      afterHello: true,
      payload: spliceValue(ser, publish, nestedLists(ser, Math.floor((room(publish) - 1) / (ser === 'json' ? 2 : 1)))),
      expect: 'abort',
    },
    {
      name: 'many tiny map keys',
      afterHello: true,
      payload: spliceValue(ser, publishKw, tinyKeysMap(ser, Math.floor((room(publishKw) - 6) / (ser === 'json' ? 9 : 6)))),
      expect: 'published',
    },
    {
      name: 'many integers at the 64-bit edge',
      afterHello: true,
      payload: spliceValue(
        ser,
        publish,
        edgeIntegers(ser, Math.floor((room(publish) - 6) / (ser === 'json' ? 21 : ser === 'msgpack' ? 9 : 10))),
      ),
      expect: 'published',
    },
  ];
  if (ser === 'cbor') {
    out.push({
      name: 'value-sharing DAG (tags 28/29)',
      afterHello: false,
      payload: spliceValue(ser, hello, cborSharingDag(30)),
      expect: 'abort',
    });
  }
  return out;
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
    { weight: 2, arbitrary: hugeIntegerArb(ser) },
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
