import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  chooseWsProtocol,
  serializerForRawSocketId,
  serializerForWsProtocol,
  SerializerError,
  serializers,
  WS_PROTOCOLS,
  type Serializer,
  type SerializerName,
} from '../../lib/wamp/serializers';

const ALL = Object.values(serializers);
const NAMES: SerializerName[] = ['json', 'msgpack', 'cbor'];

// ---------------------------------------------------------------------------------
// Test vectors from wamp-proto's testsuite (see SOURCE.md and SCHEMA.json there).
//
// Serialization samples give bytes per serializer (as `bytes` text, `bytes_hex` or
// `bytes_base64`; several representations may be listed, "at least one must match")
// and `expected_attributes` named the way autobahn names message fields. FIELDS maps
// those names onto the positions of the WAMP message array (WAMP basic profile,
// "Messages"); `payload` (hex) is a transparent binary payload in the Arguments slot;
// any other attribute (e.g. HELLO's `roles`) lives in the message's dict. Validation
// samples give a raw `wmsg`; multisession files give named-field messages per step.

const VECTORS = path.resolve(__dirname, '../fixtures/wamp-vectors');

// Each field: its name(s) in the vectors (multisession files use `subscription_id`
// where singlemessage EVENT uses `subscription`, etc.).
const FIELDS: Record<number, (string | string[])[]> = {
  1: ['realm', 'details'], // HELLO
  2: ['session_id', 'details'], // WELCOME
  3: ['details', 'reason'], // ABORT
  4: ['method', 'extra'], // CHALLENGE
  5: ['signature', 'extra'], // AUTHENTICATE
  6: ['details', 'reason'], // GOODBYE
  8: ['request_type', 'request_id', 'details', 'error', 'args', 'kwargs'], // ERROR
  16: ['request_id', 'options', 'topic', 'args', 'kwargs'], // PUBLISH
  17: ['request_id', 'publication_id'], // PUBLISHED
  32: ['request_id', 'options', 'topic'], // SUBSCRIBE
  33: ['request_id', 'subscription_id'], // SUBSCRIBED
  34: ['request_id', 'subscription_id'], // UNSUBSCRIBE
  35: ['request_id'], // UNSUBSCRIBED
  36: [['subscription', 'subscription_id'], ['publication', 'publication_id'], 'details', 'args', 'kwargs'], // EVENT
  48: ['request_id', 'options', 'procedure', 'args', 'kwargs'], // CALL
  49: ['request_id', 'options'], // CANCEL
  50: ['request_id', 'details', 'args', 'kwargs'], // RESULT
  64: ['request_id', 'options', 'procedure'], // REGISTER
  65: ['request_id', 'registration_id'], // REGISTERED
  66: ['request_id', 'registration_id'], // UNREGISTER
  67: ['request_id'], // UNREGISTERED
  68: ['request_id', 'registration_id', 'details', 'args', 'kwargs'], // INVOCATION
  69: ['request_id', 'options'], // INTERRUPT
  70: ['request_id', 'options', 'args', 'kwargs'], // YIELD
  337: ['publication_id'], // EVENT_RECEIVED (provisional)
};
const CODES: Record<string, number> = {
  HELLO: 1,
  WELCOME: 2,
  ABORT: 3,
  CHALLENGE: 4,
  AUTHENTICATE: 5,
  GOODBYE: 6,
  ERROR: 8,
  PUBLISH: 16,
  PUBLISHED: 17,
  SUBSCRIBE: 32,
  SUBSCRIBED: 33,
  UNSUBSCRIBE: 34,
  UNSUBSCRIBED: 35,
  EVENT: 36,
  CALL: 48,
  CANCEL: 49,
  RESULT: 50,
  REGISTER: 64,
  REGISTERED: 65,
  UNREGISTER: 66,
  UNREGISTERED: 67,
  INVOCATION: 68,
  INTERRUPT: 69,
  YIELD: 70,
  EVENT_RECEIVED: 337,
};
const DICT_FIELDS = new Set(['details', 'options', 'extra']);
const OPTIONAL_TAIL = new Set(['args', 'kwargs']);

type Attrs = Record<string, unknown>;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}

/** Builds the WAMP message array the named attributes describe. */
function messageFromAttributes(code: number, attrs: Attrs, where: string): unknown[] {
  const fields = FIELDS[code];
  assert.ok(fields, `${where}: no field map for message code ${code}`);
  const used = new Set(['message_type', 'type', 'payload']);
  const names = fields.map((f) => (Array.isArray(f) ? f : [f]));
  const values = names.map((aliases) => {
    const name = aliases.find((a) => a in attrs);
    if (name !== undefined) used.add(name);
    return name === undefined ? undefined : attrs[name];
  });
  const argsAt = names.findIndex((a) => a[0] === 'args');
  if (attrs['payload'] !== undefined && attrs['payload'] !== null) {
    assert.ok(argsAt >= 0, `${where}: payload on a message without Arguments`);
    assert.equal(values[argsAt] ?? null, null, `${where}: both payload and args`);
    values[argsAt] = Buffer.from(attrs['payload'] as string, 'hex');
  }
  // Attributes that are not fields are read from the message's dict (HELLO/WELCOME roles).
  const extra = Object.keys(attrs).filter((k) => !used.has(k));
  if (extra.length > 0) {
    const dictAt = names.findIndex((a) => DICT_FIELDS.has(a[0] ?? ''));
    assert.ok(dictAt >= 0, `${where}: attributes ${extra.join(',')} have no place`);
    const dict = { ...((values[dictAt] as Attrs | undefined) ?? {}) };
    for (const k of extra) dict[k] = attrs[k];
    values[dictAt] = dict;
  }
  // Arguments|list and ArgumentsKw|dict are optional at the end; null means "absent".
  let n = values.length;
  while (n > 0 && OPTIONAL_TAIL.has(names[n - 1]?.[0] ?? '') && (values[n - 1] ?? null) === null) n--;
  const msg: unknown[] = [code, ...values.slice(0, n)];
  // An absent args with kwargs present would be a hole; the vectors never have one.
  msg.forEach((v, i) => assert.notEqual(v, undefined, `${where}: attributes leave position ${i} empty`));
  return msg;
}

interface Representation {
  bytes?: string;
  bytes_hex?: string;
  bytes_base64?: string;
}

/** All byte forms a representation gives; when it gives several they must agree. */
function representationBytes(rep: Representation, where: string): Buffer {
  const forms: Buffer[] = [];
  if (rep.bytes !== undefined) forms.push(Buffer.from(rep.bytes, 'utf8'));
  if (rep.bytes_hex !== undefined) forms.push(Buffer.from(rep.bytes_hex, 'hex'));
  if (rep.bytes_base64 !== undefined) forms.push(Buffer.from(rep.bytes_base64, 'base64'));
  const first = forms[0];
  assert.ok(first, `${where}: representation without bytes`);
  for (const f of forms) assert.deepEqual(f, first, `${where}: bytes/bytes_hex/bytes_base64 disagree`);
  return first;
}

function listVectorFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return listVectorFiles(p);
    return e.name.endsWith('.json') && e.name !== 'SCHEMA.json' ? [p] : [];
  });
}

const counts = {
  decoded: { json: 0, msgpack: 0, cbor: 0 } as Record<SerializerName, number>,
  byteExact: { json: 0, msgpack: 0, cbor: 0 } as Record<SerializerName, number>,
  serializationSamples: 0,
  validationSamples: 0,
  sequenceSteps: 0,
  skippedSerializers: new Set<string>(),
};

function hasUint64(v: unknown): boolean {
  if (typeof v === 'number') return v > 0xffffffff;
  if (Array.isArray(v)) return v.some(hasUint64);
  return isRecord(v) && Object.values(v).some(hasUint64);
}

/** Encodes, decodes back, and checks the value survived; returns the encoding. */
function roundTrip(s: Serializer, msg: unknown[], where: string): Buffer {
  const bytes = s.encode(msg);
  assert.ok(Buffer.isBuffer(bytes), `${where}: encode must return a Buffer`);
  assert.deepStrictEqual(s.decode(bytes), msg, `${where}: ${s.name} round trip`);
  return bytes;
}

const vectorFiles = listVectorFiles(VECTORS).sort();

describe('wamp vectors', () => {
  it('wamp vectors - directory holds vector files', () => {
    assert.ok(vectorFiles.length > 0, `no vectors found under ${VECTORS}`);
  });

  for (const file of vectorFiles) {
    const rel = path.relative(VECTORS, file);
    it(`wamp vectors - ${rel} decodes to its attributes and round-trips`, () => {
      const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
      let checked = 0;

      if (Array.isArray(doc['samples'])) {
        const code = doc['wamp_message_code'] as number;
        for (const [i, raw] of (doc['samples'] as Attrs[]).entries()) {
          const where = `${rel} sample ${i} (${String(raw['description'])})`;

          if (isRecord(raw['serializers'])) {
            counts.serializationSamples++;
            const attrs = raw['expected_attributes'] as Attrs;
            assert.equal(attrs['message_type'], code, `${where}: message_type`);
            const expected = messageFromAttributes(code, attrs, where);
            const reps = raw['serializers'] as Record<string, Representation[]>;
            let ours = 0;
            for (const [serName, list] of Object.entries(reps)) {
              const s = serializers[serName as SerializerName] as Serializer | undefined;
              if (!s) {
                counts.skippedSerializers.add(serName); // ubjson, flatbuffers: not offered
                continue;
              }
              ours++;
              let exact = false;
              for (const [j, rep] of list.entries()) {
                const bytes = representationBytes(rep, `${where} ${serName}[${j}]`);
                const decoded = s.decode(bytes);
                assert.deepStrictEqual(decoded, expected, `${where}: ${serName}[${j}] decode`);
                counts.decoded[s.name]++;
                // Re-encoding what was decoded keeps the wire's key order, so bytes compare.
                const again = s.encode(decoded);
                if (again.equals(bytes)) exact = true;
                else if (s.name === 'msgpack') {
                  assert.ok(
                    hasUint64(decoded) && again.length === bytes.length,
                    `${where}: msgpack[${j}] differs beyond int64/uint64`,
                  );
                }
              }
              roundTrip(s, expected, where);
              if (exact) counts.byteExact[s.name]++;
              // JSON and CBOR come out byte-identical to a listed representation ("at
              // least one must match"); msgpack differs only in messages with integers
              // past 32 bits, which msgpackr writes as int64 (0xd3) where Python's msgpack
              // picks uint64 (0xcf): the same integer to every decoder, the same length.
              if (s.name !== 'msgpack') assert.ok(exact, `${where}: ${serName} encoding matches no representation`);
              checked++;
            }
            assert.ok(ours > 0, `${where}: no json/msgpack/cbor representation`);
          } else {
            // A validation sample: a raw message the WAMP layer accepts or, with
            // expected_error, rejects as a protocol violation. Rejection is not the
            // serializer's job: every serializer must carry the message unchanged so
            // the WAMP layer can see (and name) what is wrong with it.
            assert.ok(Array.isArray(raw['wmsg']), `${where}: neither serializers nor wmsg`);
            counts.validationSamples++;
            const wmsg = raw['wmsg'] as unknown[];
            assert.equal(wmsg[0], code, `${where}: wmsg type`);
            for (const s of ALL) roundTrip(s, wmsg, `${where} ${s.name}`);
            checked++;
          }
        }
      } else {
        // Multisession: an ordered exchange of named-field messages, no bytes. Each
        // message must survive every serializer.
        assert.ok(Array.isArray(doc['sequence']), `${rel}: neither samples nor sequence`);
        for (const step of doc['sequence'] as Attrs[]) {
          const message = step['message'] as Attrs;
          const where = `${rel} step ${String(step['step'])}`;
          const code = CODES[String(message['type'])];
          assert.ok(code !== undefined, `${where}: unknown type ${String(message['type'])}`);
          const msg = messageFromAttributes(code, message, where);
          for (const s of ALL) roundTrip(s, msg, `${where} ${s.name}`);
          counts.sequenceSteps++;
          checked++;
        }
      }
      assert.ok(checked > 0, `${rel}: no samples checked`);
    });
  }

  it('wamp vectors - every serializer decoded samples', (t) => {
    for (const n of NAMES) assert.ok(counts.decoded[n] > 0, `${n}: no vector bytes decoded`);
    t.diagnostic(
      `decoded representations: json ${counts.decoded.json}, msgpack ${counts.decoded.msgpack}, ` +
        `cbor ${counts.decoded.cbor}; serialization samples ${counts.serializationSamples}, ` +
        `validation samples ${counts.validationSamples}, sequence steps ${counts.sequenceSteps}; ` +
        `byte-exact encodings: json ${counts.byteExact.json}, msgpack ${counts.byteExact.msgpack}, ` +
        `cbor ${counts.byteExact.cbor}; not ours: ${[...counts.skippedSerializers].join(', ')}`,
    );
  });
});

// ---------------------------------------------------------------------------------

describe('serializer lookup', () => {
  it('lookup - by WebSocket subprotocol and RawSocket id', () => {
    for (const s of ALL) {
      assert.equal(serializerForWsProtocol(s.wsProtocol), s);
      assert.equal(serializerForRawSocketId(s.rawSocketId), s);
    }
    assert.equal(serializers.json.rawSocketId, 1);
    assert.equal(serializers.msgpack.rawSocketId, 2);
    assert.equal(serializers.cbor.rawSocketId, 3);
    assert.equal(serializers.json.binary, false);
    assert.equal(serializers.msgpack.binary, true);
    assert.equal(serializers.cbor.binary, true);
    assert.equal(serializerForWsProtocol('wamp.2.ubjson'), undefined);
    assert.equal(serializerForRawSocketId(0), undefined);
    assert.equal(serializerForRawSocketId(4), undefined);
  });

  it('lookup - WS_PROTOCOLS lists all three, binary first', () => {
    assert.deepEqual(WS_PROTOCOLS, ['wamp.2.cbor', 'wamp.2.msgpack', 'wamp.2.json']);
    assert.equal(chooseWsProtocol(['wamp.2.json', 'wamp.2.msgpack']), 'wamp.2.msgpack');
    assert.equal(chooseWsProtocol(['wamp.2.json']), 'wamp.2.json');
    assert.equal(chooseWsProtocol(['mqtt', 'wamp.2.ubjson']), undefined);
  });
});

describe('serializer binary', () => {
  const bin = Buffer.from('10e3ff9053075c526f5fc06d4fe37cdb', 'hex');

  it('binary - JSON carries bytes as "\\u0000" + base64 (WAMP binary conversion example)', () => {
    const text = serializers.json.encode([16, 1, {}, 'a.b', [bin]]).toString('utf8');
    assert.equal(text, '[16,1,{},"a.b",["\\u0000EOP/kFMHXFJvX8BtT+N82w=="]]');
    assert.deepStrictEqual(serializers.json.decode(Buffer.from(text)), [16, 1, {}, 'a.b', [bin]]);
  });

  for (const s of ALL) {
    it(`binary - ${s.name} round-trips binary args, nested binary in kwargs, empty binary`, () => {
      const msg = [
        48,
        7,
        {},
        'com.x',
        [bin, 'text', Buffer.alloc(0)],
        {
          file: { name: 'a', data: Buffer.from([0, 1, 2, 255]), parts: [Buffer.from('xyz')] },
        },
      ];
      const back = s.decode(s.encode(msg));
      assert.deepStrictEqual(back, msg);
      const kw = (back as unknown[])[5] as { file: { data: unknown } };
      assert.ok(Buffer.isBuffer(kw.file.data), 'binary decodes as a Buffer');
    });

    it(`binary - ${s.name} encodes a plain Uint8Array as binary`, () => {
      const u8 = new Uint8Array([9, 8, 7]);
      const back = s.decode(s.encode([1, u8])) as unknown[];
      assert.ok(Buffer.isBuffer(back[1]));
      assert.deepEqual([...back[1]], [9, 8, 7]);
    });

    it(`binary - ${s.name} decodes from a view into a larger buffer`, () => {
      const msg = [36, 5512315355, 1, { x: 'y' }, [bin]];
      const enc = s.encode(msg);
      const big = Buffer.concat([Buffer.from('garbage-before'), enc, Buffer.from('garbage-after')]);
      const view = big.subarray(14, 14 + enc.length);
      assert.deepStrictEqual(s.decode(view), msg);
    });

    it(`binary - ${s.name} earlier encodings survive later ones`, () => {
      const a = s.encode([1, 'first', { n: 1 }]);
      const copy = Buffer.from(a);
      for (let i = 0; i < 2000; i++) s.encode([2, 'x'.repeat(i % 50), { n: i }]);
      assert.deepEqual(a, copy);
    });
  }

  it('binary - JSON rejects malformed base64 after "\\u0000"', () => {
    for (const bad of ['"\\u0000@@@@"', '"\\u0000AAA=A"', '"\\u0000A"', '"\\u0000AAAAA"']) {
      assert.throws(() => serializers.json.decode(Buffer.from(`[1,${bad}]`)), SerializerError, bad);
    }
    // unpadded canonical base64 is accepted
    assert.deepStrictEqual(serializers.json.decode(Buffer.from('[1,"\\u0000AQI"]')), [1, Buffer.from([1, 2])]);
  });

  it('binary - JSON escapes a text string starting with U+0000 as "\\u0000\\u0000" + text, and reads it back', () => {
    assert.equal(serializers.json.encode([1, '\0abc']).toString(), '[1,"\\u0000\\u0000abc"]');
    assert.equal(
      serializers.json.encode([1, Buffer.from([1]), { a: '\0' }]).toString(),
      '[1,"\\u0000AQ==",{"a":"\\u0000\\u0000"}]',
    );
    assert.deepStrictEqual(serializers.json.decode(serializers.json.encode([1, '\0abc', { a: '\0\0' }])), [
      1,
      '\0abc',
      { a: '\0\0' },
    ]);
    assert.deepStrictEqual(serializers.msgpack.decode(serializers.msgpack.encode([1, '\0abc'])), [1, '\0abc']);
  });
});

describe('serializer integers', () => {
  const ids = [0, 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 5512315355, 2 ** 53 - 1, 2 ** 53, -1, -(2 ** 31) - 1, -(2 ** 53)];

  for (const s of ALL) {
    it(`integers - ${s.name} keeps WAMP IDs up to 2^53 as numbers`, () => {
      const back = s.decode(s.encode([36, ...ids])) as unknown[];
      assert.deepStrictEqual(back, [36, ...ids]);
      for (const v of back) assert.equal(typeof v, 'number');
    });
  }

  it('integers - msgpack and cbor write IDs past 32 bits as integers, not float64', () => {
    // float64 would be 0xcb (msgpack) / 0xfb (cbor); Python and Go peers reject a
    // float where the WAMP spec wants an integer ID.
    assert.equal(serializers.msgpack.encode([5512315355]).toString('hex'), '91d300000001488f41db');
    assert.equal(serializers.cbor.encode([5512315355]).toString('hex'), '811b00000001488f41db');
    assert.equal(serializers.cbor.encode([-(2 ** 40)]).toString('hex'), '813b000000ffffffffff');
    // non-integral and out-of-range numbers stay floats
    assert.equal(serializers.msgpack.encode([1.5]).toString('hex'), '91cb3ff8000000000000');
    assert.equal(serializers.cbor.encode([2 ** 60]).toString('hex'), '81fb43b0000000000000');
  });

  it('integers - msgpack and cbor decode uint64 (0xcf / 0x1b) within 2^53 as numbers', () => {
    assert.deepStrictEqual(serializers.msgpack.decode(Buffer.from('91cf00000001488f41db', 'hex')), [5512315355]);
    assert.deepStrictEqual(serializers.cbor.decode(Buffer.from('811b00000001488f41db', 'hex')), [5512315355]);
    assert.deepStrictEqual(serializers.cbor.decode(Buffer.from('813b00000001488f41da', 'hex')), [-5512315355]);
  });

  it('integers - beyond 2^53 stay exact BigInt in msgpack and cbor; JSON writes exact digits', () => {
    const big = 2n ** 64n - 1n;
    const neg = -(2n ** 63n);
    for (const s of [serializers.msgpack, serializers.cbor]) {
      assert.deepStrictEqual(s.decode(s.encode([1, big, neg, 2n ** 53n + 1n])), [1, big, neg, 2n ** 53n + 1n]);
      assert.deepStrictEqual(s.decode(s.encode([1, 7n])), [1, 7], `${s.name}: small bigint narrows`);
    }
    assert.equal(serializers.json.encode([1, big, { n: neg }]).toString(), '[1,18446744073709551615,{"n":-9223372036854775808}]');
  });

  it('integers - JSON reads integers past 2^53 that fit 64 bits as exact BigInt, others as JSON.parse does', () => {
    const text =
      '[1,9007199254740993,-9223372036854775808,18446744073709551615,9007199254740992,18446744073709551616,1.5e300,9007199254740993.0]';
    assert.deepStrictEqual(serializers.json.decode(Buffer.from(text)), [
      1,
      9007199254740993n,
      -(2n ** 63n),
      2n ** 64n - 1n,
      2 ** 53,
      2 ** 64,
      1.5e300,
      9007199254740992,
    ]);
  });

  it('integers - JSON writes non-finite numbers as null, as JSON.stringify does', () => {
    assert.equal(serializers.json.encode([1, NaN, Infinity]).toString(), '[1,null,null]');
  });
});

describe('serializer data model', () => {
  for (const s of ALL) {
    it(`data model - ${s.name} drops undefined object values and nulls undefined elements`, () => {
      assert.deepStrictEqual(s.decode(s.encode([1, { a: 1, b: undefined }, [undefined, 2]])), [1, { a: 1 }, [null, 2]]);
    });

    it(`data model - ${s.name} refuses to encode values outside the data model`, () => {
      const cyclic: Record<string, unknown> = {};
      cyclic['self'] = cyclic;
      for (const bad of [
        new Date(0),
        new Map(),
        new Set(),
        () => 1,
        Symbol('x'),
        new Float32Array(1),
        cyclic,
        new (class X {})(),
      ]) {
        assert.throws(() => s.encode([1, { v: bad }]), SerializerError, `${s.name}: ${Object.prototype.toString.call(bad)}`);
        assert.throws(() => s.encode([1, Buffer.from([1]), [bad]]), SerializerError, `${s.name} (slow path)`);
      }
    });

    it(`data model - ${s.name} leaves a non-array top level to the caller`, () => {
      const enc = s.name === 'json' ? Buffer.from('{"a":1}') : s.encode([{ a: 1 }]).subarray(1);
      assert.deepStrictEqual(s.decode(enc), { a: 1 });
    });

    it(`data model - ${s.name} keeps a "__proto__" key from touching prototypes`, () => {
      const wire =
        s.name === 'json'
          ? Buffer.from('[1,{"__proto__":{"polluted":"\\u0000AQI="}}]')
          : s.name === 'msgpack'
            ? Buffer.from('9201' + '81a95f5f70726f746f5f5f81a8706f6c6c75746564c3', 'hex')
            : Buffer.from('8201' + 'a1695f5f70726f746f5f5fa168706f6c6c75746564f5', 'hex');
      const back = s.decode(wire) as unknown[];
      const obj = back[1] as Record<string, unknown>;
      assert.equal(Object.getPrototypeOf(obj), Object.prototype);
      assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
      assert.equal(obj['polluted'], undefined);
      // JSON keeps the key as own data; msgpackr and cbor-x rename it to "__proto_".
      const key = s.name === 'json' ? '__proto__' : '__proto_';
      assert.ok(Object.prototype.hasOwnProperty.call(obj, key), `${s.name}: key ${key}`);
    });
  }

  it('data model - msgpack rejects extension types and the never-used 0xc1', () => {
    for (const hex of ['91c1', '91d6ffffffffff', '91d40001', '91c70100ff']) {
      assert.throws(() => serializers.msgpack.decode(Buffer.from(hex, 'hex')), SerializerError, hex);
    }
  });

  it('data model - cbor rejects tags that decode to non-data objects, and undefined', () => {
    // tag 1 (epoch date), tag 258 (set), tag 0 (date string), undefined (0xf7), an unknown tag 99
    for (const hex of [
      '81c11a514b67b0',
      '81d9010283010203',
      '81c074323031332d30332d32315432303a30343a30305a',
      '81f7',
      '81d8631863',
    ]) {
      assert.throws(() => serializers.cbor.decode(Buffer.from(hex, 'hex')), SerializerError, hex);
    }
    // tag 2 (bignum) is an integer: accepted, narrowed when it fits
    assert.deepStrictEqual(serializers.cbor.decode(Buffer.from('81c2420102', 'hex')), [258]);
  });
});

// ---------------------------------------------------------------------------------
// Malformed input: anything off the wire may be garbage, and garbage must surface as
// a SerializerError (the gate's cue for a protocol error), never as another exception.

/** xorshift32: a seeded generator, so failures reproduce. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

function decodeOrSerializerError(s: Serializer, data: Buffer, what: string): void {
  try {
    s.decode(data);
  } catch (err) {
    if (!(err instanceof SerializerError)) {
      assert.fail(`${s.name} ${what} (${data.toString('hex').slice(0, 80)}): threw ${String(err)}`);
    }
  }
}

const sample = [
  48,
  5512315355,
  { receive_progress: true, timeout: 1500 },
  'com.example.add',
  [1, -2, 3.5, 'x'.repeat(40), Buffer.from('binary!'), null, true, false],
  { nested: { list: [1, [2, [3]]], s: 'ü€𝄞' } },
];

describe('serializer malformed input', () => {
  for (const s of ALL) {
    it(`malformed - ${s.name} rejects every truncation of a valid message`, () => {
      const enc = s.encode(sample);
      for (let n = 0; n < enc.length; n++) {
        assert.throws(() => s.decode(enc.subarray(0, n)), SerializerError, `${s.name} prefix ${n}/${enc.length}`);
      }
    });

    it(`malformed - ${s.name} rejects trailing garbage`, () => {
      const enc = s.encode(sample);
      for (const tail of ['00', 'ff', '5b5d', '91', '2020207b']) {
        assert.throws(() => s.decode(Buffer.concat([enc, Buffer.from(tail, 'hex')])), SerializerError, tail);
      }
    });

    it(`malformed - ${s.name} random bytes give a value or a SerializerError`, () => {
      const next = rng(0x5eed + s.rawSocketId);
      for (let i = 0; i < 3000; i++) {
        const buf = Buffer.alloc(Math.floor(next() * 64));
        for (let j = 0; j < buf.length; j++) buf[j] = Math.floor(next() * 256);
        decodeOrSerializerError(s, buf, `random #${i}`);
      }
    });

    it(`malformed - ${s.name} mutated messages give a value or a SerializerError`, () => {
      const next = rng(0xbad + s.rawSocketId);
      const enc = s.encode(sample);
      for (let i = 0; i < 3000; i++) {
        const buf = Buffer.from(enc);
        const flips = 1 + Math.floor(next() * 3);
        for (let f = 0; f < flips; f++) buf[Math.floor(next() * buf.length)] = Math.floor(next() * 256);
        decodeOrSerializerError(s, buf, `mutation #${i}`);
      }
    });

    it(`malformed - ${s.name} absurd nesting is a SerializerError, not a stack overflow`, () => {
      const depth = 200000;
      const wire =
        s.name === 'json'
          ? Buffer.from('['.repeat(depth) + ']'.repeat(depth))
          : Buffer.alloc(depth, s.name === 'msgpack' ? 0x91 : 0x81);
      decodeOrSerializerError(s, wire, 'deep nesting');
      if (s.name === 'json') {
        // the binary walk must not overflow either
        const withBinary = Buffer.from('[' + '['.repeat(depth) + ']'.repeat(depth) + ',"\\u0000AQI="]');
        decodeOrSerializerError(s, withBinary, 'deep nesting with binary');
      }
      const deep: unknown[] = [];
      let cur = deep;
      for (let i = 0; i < 5000; i++) {
        const next: unknown[] = [];
        cur.push(next);
        cur = next;
      }
      assert.throws(() => s.encode([1, deep]), SerializerError);
    });
  }

  it('malformed - JSON rejects invalid JSON, invalid UTF-8 and a BOM', () => {
    for (const bad of ['', '[1,', '[1,]', "['a']", '[1] [2]', 'nul', '[1,"\\x"]']) {
      assert.throws(() => serializers.json.decode(Buffer.from(bad)), SerializerError, bad);
    }
    assert.throws(() => serializers.json.decode(Buffer.from([0x5b, 0x22, 0xc3, 0x28, 0x22, 0x5d])), SerializerError);
    assert.throws(() => serializers.json.decode(Buffer.from('\ufeff[1]')), SerializerError);
  });
});

describe('serializer property round trip', () => {
  // Random values from the data model each serializer shares. Left out on purpose:
  // -0 (all three write integer 0), lone surrogates (not UTF-8).
  function value(next: () => number, depth: number): unknown {
    const r = next();
    if (depth > 4 || r < 0.45) {
      const k = Math.floor(next() * 10);
      switch (k) {
        case 0:
          return null;
        case 1:
          return next() < 0.5;
        case 2:
          return Math.floor(next() * 2 ** 53) * (next() < 0.5 ? -1 : 1) || 1;
        case 3:
          return Math.floor(next() * 1000);
        case 4:
          return (next() - 0.5) * 1e6;
        case 5:
          return 'k' + [...'é€𝄞 "\\\n\t'].slice(0, Math.floor(next() * 8)).join('') + String(Math.floor(next() * 1e6));
        case 6:
          return Buffer.from(Array.from({ length: Math.floor(next() * 20) }, () => Math.floor(next() * 256)));
        case 7:
          return 2 ** 32 + Math.floor(next() * 1000);
        // JSON's binary marker, escaped
        case 8:
          return next() < 0.5 ? '' : '\0' + 'x'.repeat(Math.floor(next() * 3));
        // past 2^53 within 64 bits: BigInt on every serializer
        default:
          return (2n ** 53n + BigInt(Math.floor(next() * 2 ** 40))) * (next() < 0.5 ? -1n : 1n);
      }
    }
    if (r < 0.7) return Array.from({ length: Math.floor(next() * 5) }, () => value(next, depth + 1));
    const o: Record<string, unknown> = {};
    for (let i = Math.floor(next() * 5); i > 0; i--) o['k' + String(Math.floor(next() * 100))] = value(next, depth + 1);
    return o;
  }

  for (const s of ALL) {
    it(`property - ${s.name} decode(encode(x)) equals x for random messages`, () => {
      const next = rng(0xc0ffee + s.rawSocketId);
      for (let i = 0; i < 1500; i++) {
        const msg = [Math.floor(next() * 70) + 1, value(next, 0), value(next, 0), value(next, 0)];
        assert.deepStrictEqual(s.decode(s.encode(msg)), msg, `case ${i}`);
      }
    });
  }

  it('property - every serializer decodes a message to the same value', () => {
    const next = rng(42);
    for (let i = 0; i < 500; i++) {
      const msg = [36, value(next, 0), value(next, 0)];
      const [a, b, c] = ALL.map((s) => s.decode(s.encode(msg)));
      assert.deepStrictEqual(a, b);
      assert.deepStrictEqual(b, c);
    }
  });
});
