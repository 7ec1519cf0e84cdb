import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SerializerError, serializers, type SerializerName } from '../../lib/wamp/serializers';
import { MAX_DEPTH, MAX_UINT64, MIN_INT64, scanCbor, scanJson, scanMsgpack } from '../../lib/wamp/wire-scan';

const NAMES: SerializerName[] = ['json', 'msgpack', 'cbor'];
const hex = (h: string): Buffer => Buffer.from(h.replace(/\s/g, ''), 'hex');

function refused(name: SerializerName, wire: Buffer, reason: RegExp): void {
  assert.throws(
    () => serializers[name].decode(wire),
    (err: unknown) => {
      assert.ok(err instanceof SerializerError, `${name}: ${String(err)}`);
      assert.match(err.message, reason);
      return true;
    },
  );
}

/** A CBOR byte-string head of `len` bytes (major type 2, 4-byte length). */
function cborBytesHead(len: number): Buffer {
  const h = Buffer.from([0x5a, 0, 0, 0, 0]);
  h.writeUInt32BE(len, 1);
  return h;
}

/** [1, <tag 2|3 over `len` bytes of 0xff>] */
function cborBignum(tag: 2 | 3, len: number): Buffer {
  return Buffer.concat([hex('8201'), Buffer.from([0xc0 | tag]), cborBytesHead(len), Buffer.alloc(len, 0xff)]);
}

/** [1, <msgpackr bigint extension 0x42 over `len` bytes>] */
function msgpackBigExt(len: number): Buffer {
  const h = Buffer.from([0xc9, 0, 0, 0, 0, 0x42]);
  h.writeUInt32BE(len, 1);
  return Buffer.concat([hex('9201'), h, Buffer.alloc(len, 0x7f)]);
}

describe('wire scan integers', () => {
  it('integers - every serializer accepts the 64-bit extremes, int64 min and uint64 max', () => {
    for (const name of ['msgpack', 'cbor'] as const) {
      const s = serializers[name];
      assert.deepStrictEqual(s.decode(s.encode([1, MAX_UINT64, MIN_INT64])), [1, MAX_UINT64, MIN_INT64], name);
    }
    // JSON reads them exact too (lib/json-exact.ts)
    assert.deepStrictEqual(serializers.json.decode(Buffer.from('[1,18446744073709551615,-9223372036854775808]')), [
      1,
      MAX_UINT64,
      MIN_INT64,
    ]);
  });

  it('integers - CBOR bignums (tags 2/3) that fit 64 bits decode, leading zeros included', () => {
    // RFC 8949 §3.4.3: tag 2 over ff*8 is 2^64-1; tag 3 over 7f ff*7 is -2^63
    assert.deepStrictEqual(serializers.cbor.decode(hex('8201 c2 48 ffffffffffffffff')), [1, MAX_UINT64]);
    assert.deepStrictEqual(serializers.cbor.decode(hex('8201 c3 48 7fffffffffffffff')), [1, MIN_INT64]);
    assert.deepStrictEqual(serializers.cbor.decode(hex('8201 c2 4c 00000000 0000000000000102')), [1, 258]);
    assert.deepStrictEqual(serializers.cbor.decode(hex('8201 c2 40')), [1, 0]);
  });

  it('integers - one past 64 bits is refused in every serializer', () => {
    refused('cbor', hex('8201 c2 49 010000000000000000'), /integer beyond 64 bits/); // 2^64
    refused('cbor', hex('8201 c3 48 8000000000000000'), /integer beyond 64 bits/); // -2^63-1
    refused('cbor', hex('8201 3b 8000000000000000'), /integer beyond 64 bits/); // major 1: -2^63-1
    refused('cbor', hex('8201 3b ffffffffffffffff'), /integer beyond 64 bits/); // -2^64
    refused('msgpack', msgpackBigExt(9), /integer beyond 64 bits/);
  });

  it('integers - a JSON integer literal past 64 bits is a double, as JSON.parse reads it (JSON.stringify writes 2**64 so)', () => {
    assert.deepStrictEqual(
      serializers.json.decode(Buffer.from('[1,18446744073709551616,{"a":[-9223372036854775809]},100000000000000000000000]')),
      [1, 2 ** 64, { a: [-(2 ** 63)] }, 1e23],
    );
  });

  it('integers - JSON floats are floats, however long; digits inside strings are text', () => {
    const long = '1' + '0'.repeat(400);
    assert.deepStrictEqual(serializers.json.decode(Buffer.from(`[1,${long}.5,1${'0'.repeat(30)}e-10,-2E+400]`)), [
      1,
      Infinity,
      1e20,
      -Infinity,
    ]);
    assert.deepStrictEqual(serializers.json.decode(Buffer.from(`[1,"${long}","\\"${long}"]`)), [1, long, `"${long}`]);
  });

  it('integers - a 1 MB JSON integer literal decodes in linear time, to Infinity', () => {
    for (const [text, value] of [
      ['[1,' + '9'.repeat(1 << 20) + ']', Infinity],
      ['[1,-' + '9'.repeat(1 << 20) + ']', -Infinity],
    ] as const) {
      const start = performance.now();
      assert.deepStrictEqual(serializers.json.decode(Buffer.from(text)), [1, value]);
      // generous: linear is milliseconds; BigInt of a million digits took seconds
      assert.ok(performance.now() - start < 2000, `${(performance.now() - start).toFixed(0)} ms`);
    }
  });

  it('integers - 1 MB bignums in every binary serializer are refused before the decoder runs', () => {
    const wires: [SerializerName, Buffer][] = [
      ['cbor', cborBignum(2, 1 << 20)],
      ['cbor', cborBignum(3, 1 << 20)],
      ['msgpack', msgpackBigExt(1 << 20)],
    ];
    for (const [name, wire] of wires) {
      const start = performance.now();
      refused(name, wire, /integer beyond 64 bits/);
      // generous: the scan is linear (milliseconds); cbor-x took minutes on this
      assert.ok(performance.now() - start < 2000, `${name}: ${(performance.now() - start).toFixed(0)} ms`);
    }
  });

  it('integers - every encoder refuses a bigint beyond 64 bits, cheaply, and writes the extremes', () => {
    for (const name of NAMES) {
      const s = serializers[name];
      for (const bad of [MAX_UINT64 + 1n, MIN_INT64 - 1n, 2n ** 1_600_000n]) {
        assert.throws(() => s.encode([1, { n: bad }]), /integer beyond 64 bits/, `${name}: ${bad.toString(16).slice(0, 20)}`);
        assert.throws(() => s.encode([1, Buffer.from([1]), [bad]]), /integer beyond 64 bits/, `${name} (with binary)`);
      }
      assert.doesNotThrow(() => s.encode([1, MAX_UINT64, MIN_INT64]), name);
    }
  });
});

describe('wire scan nesting', () => {
  const nested = (name: SerializerName, depth: number): Buffer =>
    name === 'json'
      ? Buffer.from('['.repeat(depth) + ']'.repeat(depth))
      : Buffer.concat([
          Buffer.alloc(depth - 1, name === 'msgpack' ? 0x91 : 0x81),
          Buffer.from([name === 'msgpack' ? 0x90 : 0x80]),
        ]);

  for (const name of NAMES) {
    it(`nesting - ${name} accepts ${MAX_DEPTH} levels and refuses ${MAX_DEPTH + 1}`, () => {
      assert.doesNotThrow(() => serializers[name].decode(nested(name, MAX_DEPTH)));
      refused(name, nested(name, MAX_DEPTH + 1), /nested deeper than 1000/);
      refused(name, nested(name, 1 << 20), /nested deeper than 1000/);
    });
  }

  it('nesting - maps count as levels, and CBOR indefinite-length arrays and maps too', () => {
    // fixmap(1) with key "" whose value is the next map
    const maps = (n: number): Buffer => Buffer.concat([Buffer.from('81a0'.repeat(n), 'hex'), hex('c0')]);
    assert.doesNotThrow(() => serializers.msgpack.decode(maps(MAX_DEPTH)));
    refused('msgpack', maps(MAX_DEPTH + 1), /nested deeper than 1000/);
    const cborIndef = Buffer.concat([Buffer.alloc(MAX_DEPTH + 1, 0x9f), hex('f6'), Buffer.alloc(MAX_DEPTH + 1, 0xff)]);
    assert.match(scanCbor(cborIndef) ?? '', /nested deeper/);
    const ok = Buffer.concat([hex('9f'), hex('bf 6161 01 ff'), hex('9f 02 03 ff'), hex('ff')]);
    assert.deepStrictEqual(serializers.cbor.decode(ok), [{ a: 1 }, [2, 3]]);
    assert.match(scanCbor(hex('8201ff')) ?? '', /break outside/);
  });
});

describe('wire scan types WAMP does not carry', () => {
  it('types - CBOR value sharing (tags 28/29) is refused: a tiny frame would build an exponential DAG', () => {
    // x_k = tag28([x_{k+1}, tag29(k+1)]), 40 levels: 2^40 paths in a 200-byte frame
    const parts: number[] = [0x82, 0x01];
    for (let k = 0; k < 40; k++) parts.push(0xd8, 28, 0x82);
    parts.push(0xd8, 28, 0x80);
    for (let k = 39; k >= 0; k--) parts.push(0xd8, 29, 0x18, k + 1);
    refused('cbor', Buffer.from(parts), /CBOR tag 28 is not supported/);
  });

  it('types - CBOR tags other than 2, 3, 64 and the self-describe prefix are refused', () => {
    for (const tag of ['c4 82 21 19 6ab3', 'c5 82 20 03', 'd8 33 80', 'd8 69 80', 'd9 0103 a0', 'da 53687264 80', 'd9 d9f7 01']) {
      assert.ok(scanCbor(hex('8201' + tag.replace(/ /g, ''))) !== undefined, tag);
    }
    // RFC 8746 tag 64 (uint8 array, wampy's cbor-x default for a Uint8Array) is binary
    assert.deepStrictEqual(serializers.cbor.decode(hex('8201 d840 43 010203')), [1, Buffer.from([1, 2, 3])]);
    refused('cbor', hex('8201 d840 83 010203'), /tag 64 without a definite byte string/);
    // RFC 8949 §3.4.6 self-described CBOR, at the start only
    assert.deepStrictEqual(serializers.cbor.decode(hex('d9d9f7 8201 02')), [1, 2]);
  });

  it('types - CBOR indefinite-length strings, reserved heads and odd simple values are refused', () => {
    for (const bad of ['5f 41 61 ff', '7f 61 61 ff', '1c', 'f8 20', 'f0']) {
      assert.ok(scanCbor(hex('8201' + bad.replace(/ /g, ''))) !== undefined, bad);
    }
  });

  it('types - msgpack extension types but 0 (undefined) are refused', () => {
    // d4 00 00: fixext1 type 0, msgpackr's undefined: an unset option, dropped from a dict
    assert.deepStrictEqual(serializers.msgpack.decode(hex('9201 81 a161 d40000')), [1, {}]);
    for (const ext of ['d6ff00000000', 'd47200', 'c70169 00', 'd57000 00', 'c70173 90', 'c70178 00']) {
      refused('msgpack', hex('9201' + ext.replace(/ /g, '')), /msgpack extension type/);
    }
  });

  it('types - counts that the bytes cannot hold are truncation, not allocation', () => {
    assert.equal(scanMsgpack(hex('91 dd ffffffff')), 'truncated');
    assert.equal(scanMsgpack(hex('91 df ffffffff')), 'truncated');
    assert.equal(scanCbor(hex('81 9b ffffffffffffffff')), 'truncated');
    assert.equal(scanCbor(hex('81 5b 00000000ffffffff 00')), 'truncated');
    assert.equal(scanJson(Buffer.from('[1,2]')), undefined);
  });
});

describe('wire scan worst content within the size limit', () => {
  // About 1 MiB, the default limits.maxMessageSize, of content that is valid but heavy:
  // many tiny map keys, many 64-bit integers. Decoding and re-encoding for every
  // serializer stays linear: well under a second on a quiet machine; the bound is
  // generous for a loaded one (anything super-linear here takes minutes).
  const keys: Record<string, unknown> = {};
  for (let i = 0; i < 120_000; i++) keys[i.toString(36)] = 0;
  const bigs = Array.from({ length: 60_000 }, (_, i) => (i % 2 ? MAX_UINT64 : MIN_INT64));
  for (const name of NAMES) {
    it(`worst content - ${name}: 1 MiB of tiny keys and 64-bit integers decodes and re-encodes promptly`, () => {
      const s = serializers[name];
      for (const msg of [
        [16, 1, {}, 't', [], keys],
        [16, 1, {}, 't', bigs],
      ]) {
        const wire = s.encode(msg);
        assert.ok(wire.length > 500_000 && wire.length < 2 << 20, `${name}: ${wire.length} bytes`);
        const start = performance.now();
        const back = s.decode(wire) as unknown[];
        for (const other of NAMES) serializers[other].encode(back);
        assert.ok(performance.now() - start < 15_000, `${name}: ${(performance.now() - start).toFixed(0)} ms`);
      }
    });
  }
});
