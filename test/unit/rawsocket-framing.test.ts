import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  encodeFrame,
  FrameDecoder,
  frameHeader,
  FrameType,
  HandshakeError,
  handshakeError,
  handshakeReply,
  lengthExpFor,
  MAX_FRAME_PAYLOAD,
  maxBytesForExp,
  parseHandshake,
  type FrameErrorReason,
} from '../../gates/wamp/rawsocket-framing';

// WAMP advanced profile, RawSocket Transport.

describe('rawsocket handshake', () => {
  it('handshake - parses serializer and LENGTH from the second octet', () => {
    // 0xF2: LENGTH 15 (2^24, capped to what a 24-bit frame length says), msgpack
    assert.deepEqual(parseHandshake(Buffer.from([0x7f, 0xf2, 0, 0])), {
      ok: true,
      serializerId: 2,
      maxLengthExp: 15,
      clientMaxBytes: MAX_FRAME_PAYLOAD,
    });
    // 0x01: LENGTH 0 (512 octets), JSON
    assert.deepEqual(parseHandshake(Buffer.from([0x7f, 0x01, 0, 0])), {
      ok: true,
      serializerId: 1,
      maxLengthExp: 0,
      clientMaxBytes: 512,
    });
    // 0xA3: LENGTH 10 (2^19), CBOR
    assert.deepEqual(parseHandshake(Buffer.from([0x7f, 0xa3, 0, 0])), {
      ok: true,
      serializerId: 3,
      maxLengthExp: 10,
      clientMaxBytes: 2 ** 19,
    });
  });

  it('handshake - passes unknown serializer ids through for the caller to refuse', () => {
    const r = parseHandshake(Buffer.from([0x7f, 0x1f, 0, 0]));
    assert.deepEqual(r, { ok: true, serializerId: 15, maxLengthExp: 1, clientMaxBytes: 1024 });
  });

  it('handshake - serializer 0 is illegal: serializer unsupported', () => {
    assert.deepEqual(parseHandshake(Buffer.from([0x7f, 0xf0, 0, 0])), { ok: false, error: 1 });
  });

  it('handshake - non-zero reserved octets: use of reserved bits', () => {
    assert.deepEqual(parseHandshake(Buffer.from([0x7f, 0xf1, 1, 0])), { ok: false, error: 3 });
    assert.deepEqual(parseHandshake(Buffer.from([0x7f, 0xf1, 0, 0x80])), { ok: false, error: 3 });
  });

  it('handshake - a first octet other than 0x7F is refused with a sendable code', () => {
    for (const first of [0x47 /* 'G' of GET */, 0x16 /* TLS */, 0x00, 0xff]) {
      const r = parseHandshake(Buffer.from([first, 0xf1, 0, 0]));
      assert.deepEqual(r, { ok: false, error: HandshakeError.RESERVED_BITS });
      assert.ok(!r.ok);
      assert.doesNotThrow(() => handshakeError(r.error));
    }
  });

  it('handshake - reads only the first four octets and needs all four', () => {
    assert.equal(parseHandshake(Buffer.from([0x7f, 0x32, 0, 0, 0xde, 0xad])).ok, true);
    assert.throws(() => parseHandshake(Buffer.from([0x7f, 0x32, 0])), RangeError);
  });

  it('handshake - reply echoes the serializer with our LENGTH', () => {
    assert.deepEqual(handshakeReply(2, 15), Buffer.from([0x7f, 0xf2, 0, 0]));
    assert.deepEqual(handshakeReply(1, 0), Buffer.from([0x7f, 0x01, 0, 0]));
    assert.deepEqual(handshakeReply(3, 11), Buffer.from([0x7f, 0xb3, 0, 0]));
    assert.throws(() => handshakeReply(0, 1), RangeError);
    assert.throws(() => handshakeReply(16, 1), RangeError);
    assert.throws(() => handshakeReply(1, 16), RangeError);
    assert.throws(() => handshakeReply(1, -1), RangeError);
  });

  it('handshake - error replies put the code in the high nibble, low nibble zero', () => {
    assert.deepEqual(handshakeError(HandshakeError.SERIALIZER_UNSUPPORTED), Buffer.from([0x7f, 0x10, 0, 0]));
    assert.deepEqual(handshakeError(HandshakeError.MAX_LENGTH_UNACCEPTABLE), Buffer.from([0x7f, 0x20, 0, 0]));
    assert.deepEqual(handshakeError(HandshakeError.RESERVED_BITS), Buffer.from([0x7f, 0x30, 0, 0]));
    assert.deepEqual(handshakeError(HandshakeError.MAX_CONNECTIONS), Buffer.from([0x7f, 0x40, 0, 0]));
    // "the error code 0 MUST NOT be used"
    assert.throws(() => handshakeError(0), RangeError);
    assert.throws(() => handshakeError(16), RangeError);
  });

  it('handshake - lengthExpFor picks the smallest covering exponent, capped at 15', () => {
    assert.equal(lengthExpFor(0), 0);
    assert.equal(lengthExpFor(512), 0);
    assert.equal(lengthExpFor(513), 1);
    assert.equal(lengthExpFor(1024), 1);
    assert.equal(lengthExpFor(1024 * 1024), 11);
    assert.equal(lengthExpFor(1024 * 1024 + 1), 12);
    assert.equal(lengthExpFor(2 ** 24), 15);
    assert.equal(lengthExpFor(2 ** 30), 15);
    for (let e = 0; e <= 15; e++) assert.equal(lengthExpFor(maxBytesForExp(e)), e);
  });
});

interface Collected {
  frames: [number, Buffer][];
  errors: FrameErrorReason[];
  decoder: FrameDecoder;
}

function collector(maxPayload: number): Collected {
  const c: Collected = { frames: [], errors: [], decoder: undefined as unknown as FrameDecoder };
  c.decoder = new FrameDecoder(maxPayload, {
    onFrame: (type, payload) => c.frames.push([type, Buffer.from(payload)]),
    onError: (reason) => c.errors.push(reason),
  });
  return c;
}

function wire(...frames: [FrameType, Buffer][]): Buffer {
  return Buffer.concat(frames.flatMap(([t, p]) => encodeFrame(t, p)));
}

describe('rawsocket frames', () => {
  const msg = Buffer.from('[1,"realm1",{"roles":{"caller":{}}}]');

  it('frames - header is type octet plus 24-bit big-endian length; payload is not copied', () => {
    const [h, p] = encodeFrame(FrameType.MESSAGE, msg);
    assert.deepEqual(h, Buffer.from([0, 0, 0, msg.length]));
    assert.equal(p, msg);
    assert.deepEqual(frameHeader(FrameType.PING, 0x123456), Buffer.from([1, 0x12, 0x34, 0x56]));
    assert.deepEqual(frameHeader(FrameType.PONG, MAX_FRAME_PAYLOAD), Buffer.from([2, 0xff, 0xff, 0xff]));
    assert.throws(() => frameHeader(FrameType.MESSAGE, MAX_FRAME_PAYLOAD + 1), RangeError);
    assert.throws(() => frameHeader(3, 1), RangeError);
  });

  it('frames - one whole frame per chunk', () => {
    const c = collector(1024);
    c.decoder.push(wire([FrameType.MESSAGE, msg]));
    assert.deepEqual(c.frames, [[0, msg]]);
    assert.equal(c.decoder.bufferedBytes, 0);
  });

  it('frames - split at every byte boundary, for a run of frames', () => {
    const frames: [FrameType, Buffer][] = [
      [FrameType.MESSAGE, msg],
      [FrameType.PING, Buffer.from('ping-payload')],
      [FrameType.MESSAGE, Buffer.alloc(0)],
      [FrameType.PONG, Buffer.from('ping-payload')],
      [FrameType.MESSAGE, Buffer.from('x')],
    ];
    const bytes = wire(...frames);
    for (let i = 0; i <= bytes.length; i++) {
      for (let j = i; j <= bytes.length; j++) {
        const c = collector(1024);
        c.decoder.push(bytes.subarray(0, i));
        c.decoder.push(bytes.subarray(i, j));
        c.decoder.push(bytes.subarray(j));
        assert.deepEqual(c.frames, frames, `split at ${i}/${j}`);
        assert.deepEqual(c.errors, []);
        assert.equal(c.decoder.bufferedBytes, 0);
      }
    }
  });

  it('frames - byte at a time', () => {
    const bytes = wire([FrameType.MESSAGE, msg], [FrameType.PING, Buffer.from([1, 2, 3])]);
    const c = collector(1024);
    for (const b of bytes) c.decoder.push(Buffer.from([b]));
    assert.deepEqual(c.frames, [
      [0, msg],
      [1, Buffer.from([1, 2, 3])],
    ]);
  });

  it('frames - many frames in one chunk come out in order', () => {
    const frames: [FrameType, Buffer][] = Array.from({ length: 500 }, (_, i) => [
      (i % 3) as FrameType,
      Buffer.from(`message number ${i}`),
    ]);
    const c = collector(1024);
    c.decoder.push(wire(...frames));
    assert.deepEqual(c.frames, frames);
  });

  it('frames - a frame inside one chunk is handed out as a view, not a copy', () => {
    const bytes = wire([FrameType.MESSAGE, msg], [FrameType.MESSAGE, msg]);
    const seen: Buffer[] = [];
    const d = new FrameDecoder(1024, { onFrame: (_t, p) => seen.push(p) });
    d.push(bytes);
    assert.equal(seen.length, 2);
    bytes[4] = 0x7b; // was '[': a view sees the change, a copy would not
    bytes[4 + 4 + msg.length] = 0x7b;
    for (const p of seen) assert.equal(p[0], 0x7b);
  });

  it('frames - a large payload in small chunks is reassembled', () => {
    const big = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    const bytes = wire([FrameType.MESSAGE, big], [FrameType.PING, Buffer.from('after')]);
    const c = collector(big.length);
    // 1-octet chunks for the header, 7-octet chunks for the rest: ~600k pushes (the
    // cost of this shape is measured in bench/codec-speed.ts, not here).
    for (let i = 0; i < 4; i++) c.decoder.push(bytes.subarray(i, i + 1));
    for (let i = 4; i < bytes.length; i += 7) c.decoder.push(bytes.subarray(i, i + 7));
    assert.equal(c.frames.length, 2);
    assert.ok(c.frames[0]?.[1].equals(big));
    assert.deepEqual(c.frames[1], [1, Buffer.from('after')]);
  });

  it('frames - ping and pong keep their types and payloads', () => {
    const c = collector(64);
    c.decoder.push(
      wire([FrameType.PING, Buffer.from('abc')], [FrameType.PONG, Buffer.from('abc')], [FrameType.PING, Buffer.alloc(0)]),
    );
    assert.deepEqual(c.frames, [
      [1, Buffer.from('abc')],
      [2, Buffer.from('abc')],
      [1, Buffer.alloc(0)],
    ]);
  });

  it('frames - oversized length is refused from the header alone', () => {
    const c = collector(1000);
    c.decoder.push(Buffer.from([0, 0, 0x03, 0xe8])); // exactly 1000: fine
    assert.deepEqual(c.errors, []);
    const d = collector(1000);
    d.decoder.push(Buffer.from([0, 0, 0x03])); // header incomplete: nothing yet
    assert.deepEqual(d.errors, []);
    d.decoder.push(Buffer.from([0xe9])); // 1001: refused before any payload arrives
    assert.deepEqual(d.errors, ['oversized']);
    assert.equal(d.decoder.failed, true);
    assert.equal(d.decoder.bufferedBytes, 0);
    d.decoder.push(Buffer.alloc(1001)); // and input after the error is ignored
    assert.deepEqual(d.frames, []);
    assert.equal(d.decoder.bufferedBytes, 0);
  });

  it('frames - oversized ping is refused too', () => {
    const c = collector(16);
    c.decoder.push(frameHeader(FrameType.PING, 17));
    assert.deepEqual(c.errors, ['oversized']);
  });

  it('frames - reserved bits in the first octet are refused', () => {
    for (const b0 of [0x80, 0x40, 0x20, 0x10, 0xf0]) {
      const c = collector(1024);
      c.decoder.push(Buffer.from([b0, 0, 0, 1, 0x41]));
      assert.deepEqual(c.errors, ['reserved_bits'], `first octet ${b0.toString(16)}`);
      assert.deepEqual(c.frames, []);
    }
  });

  it('frames - reserved message types 3-7 are refused', () => {
    for (let t = 3; t <= 7; t++) {
      const c = collector(1024);
      c.decoder.push(Buffer.from([t, 0, 0, 0]));
      assert.deepEqual(c.errors, ['bad_type'], `type ${t}`);
    }
  });

  it('frames - the X bit means exactly 2^24 and nothing else', () => {
    // Newer spec text: X (0x08) is a 25th length bit, legal only with L = 0.
    const withX = collector(2 ** 24);
    withX.decoder.push(Buffer.from([0x08, 0, 0, 0]));
    assert.deepEqual(withX.errors, []);
    withX.decoder.push(Buffer.alloc(2 ** 24, 7));
    assert.equal(withX.frames.length, 1);
    assert.equal(withX.frames[0]?.[1].length, 2 ** 24);

    const tooBig = collector(2 ** 24 - 1);
    tooBig.decoder.push(Buffer.from([0x08, 0, 0, 0]));
    assert.deepEqual(tooBig.errors, ['oversized']);

    const misuse = collector(2 ** 24);
    misuse.decoder.push(Buffer.from([0x08, 0, 0, 1]));
    assert.deepEqual(misuse.errors, ['reserved_bits']);
  });

  it('frames - an error in the middle of a chunk stops delivery at once', () => {
    const c = collector(1024);
    c.decoder.push(Buffer.concat([wire([FrameType.MESSAGE, msg]), Buffer.from([0x05, 0, 0, 0]), wire([FrameType.MESSAGE, msg])]));
    assert.deepEqual(c.frames, [[0, msg]]);
    assert.deepEqual(c.errors, ['bad_type']);
  });

  it('frames - destroy() from inside onFrame stops further frames', () => {
    const seen: number[] = [];
    const d: FrameDecoder = new FrameDecoder(1024, {
      onFrame: (t) => {
        seen.push(t);
        d.destroy();
      },
    });
    d.push(wire([FrameType.PING, Buffer.alloc(0)], [FrameType.MESSAGE, msg]));
    assert.deepEqual(seen, [1]);
    assert.equal(d.failed, true);
  });

  it('frames - handlers can be assigned after construction', () => {
    const d = new FrameDecoder(1024);
    const seen: Buffer[] = [];
    d.onFrame = (_t, p) => seen.push(p);
    d.push(wire([FrameType.MESSAGE, msg]));
    assert.deepEqual(seen, [msg]);
  });

  it('frames - random splits of random frame runs decode exactly', () => {
    let x = 0x9e3779b9;
    const next = (): number => {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      return x / 0x100000000;
    };
    for (let round = 0; round < 200; round++) {
      const frames: [FrameType, Buffer][] = Array.from({ length: 1 + Math.floor(next() * 20) }, () => {
        const p = Buffer.alloc(Math.floor(next() * (next() < 0.1 ? 5000 : 40)));
        for (let i = 0; i < p.length; i++) p[i] = Math.floor(next() * 256);
        return [Math.floor(next() * 3) as FrameType, p];
      });
      const bytes = wire(...frames);
      const c = collector(5000);
      let at = 0;
      while (at < bytes.length) {
        const n = 1 + Math.floor(next() * (next() < 0.5 ? 8 : 3000));
        c.decoder.push(bytes.subarray(at, at + n));
        at += n;
      }
      assert.deepEqual(c.frames, frames, `round ${round}`);
      assert.deepEqual(c.errors, []);
    }
  });
});
