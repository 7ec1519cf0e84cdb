// The PROXY protocol header parser (lib/proxy-protocol.ts, haproxy's "The PROXY protocol"
// v1 and v2): real headers of each kind are read whole and fed byte at a time (every
// proper prefix asks for more, never a wrong verdict); broken ones are refused by the
// time the bounds (107 octets for v1, the v2 length field) say so; the openings of the
// protocols served here are never taken for a header; arbitrary bytes never throw.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  parseProxyHeader,
  proxySignature,
  V1_MAX_LENGTH,
  V2_MAX_LENGTH,
  type ProxyHeaderVerdict,
} from '../../lib/proxy-protocol';

const V2_SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

/** A v2 header: version 2, `command` (0 LOCAL, 1 PROXY), `famProto`, then `body`. */
function v2(command: number, famProto: number, body: Buffer): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(body.length);
  return Buffer.concat([V2_SIG, Buffer.from([0x20 | command, famProto]), len, body]);
}

function inet(src: number[], dst: number[], sport: number, dport: number, tlvs = Buffer.alloc(0)): Buffer {
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(sport, 0);
  ports.writeUInt16BE(dport, 2);
  return Buffer.concat([Buffer.from(src), Buffer.from(dst), ports, tlvs]);
}

function inet6(src: string, dst: string, sport: number, dport: number): Buffer {
  const bytes = (hex: string): Buffer => Buffer.from(hex.replace(/:/g, ''), 'hex');
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(sport, 0);
  ports.writeUInt16BE(dport, 2);
  return Buffer.concat([bytes(src), bytes(dst), ports]);
}

const TLV_AUTHORITY = Buffer.concat([Buffer.from([0x02, 0x00, 0x0b]), Buffer.from('example.com')]);

const valid: [string, Buffer, ProxyHeaderVerdict][] = [
  [
    'v1 TCP4',
    Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 4711 1883\r\n'),
    { kind: 'header', version: 1, length: 43, source: { address: '203.0.113.7', port: 4711 } },
  ],
  [
    'v1 TCP6',
    Buffer.from('PROXY TCP6 2001:db8::7 2001:db8::1 65535 443\r\n'),
    { kind: 'header', version: 1, length: 46, source: { address: '2001:db8::7', port: 65535 } },
  ],
  ['v1 UNKNOWN (the real address stands)', Buffer.from('PROXY UNKNOWN\r\n'), { kind: 'header', version: 1, length: 15 }],
  [
    'v1 UNKNOWN with addresses (ignored)',
    Buffer.from('PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n'),
    { kind: 'header', version: 1, length: 59 },
  ],
  [
    'v2 PROXY TCP over IPv4',
    v2(1, 0x11, inet([203, 0, 113, 7], [10, 0, 0, 1], 4711, 1883)),
    { kind: 'header', version: 2, length: 28, source: { address: '203.0.113.7', port: 4711 } },
  ],
  [
    'v2 PROXY TCP over IPv4 with a TLV',
    v2(1, 0x11, inet([198, 51, 100, 2], [10, 0, 0, 1], 1, 2, TLV_AUTHORITY)),
    { kind: 'header', version: 2, length: 42, source: { address: '198.51.100.2', port: 1 } },
  ],
  [
    'v2 PROXY TCP over IPv6',
    v2(1, 0x21, inet6('20010db8000000000000000000000007', '20010db8000000000000000000000001', 4711, 443)),
    { kind: 'header', version: 2, length: 52, source: { address: '2001:db8::7', port: 4711 } },
  ],
  ['v2 LOCAL (a health check)', v2(0, 0x00, Buffer.alloc(0)), { kind: 'header', version: 2, length: 16 }],
  [
    'v2 LOCAL with addresses (ignored)',
    v2(0, 0x11, inet([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)),
    { kind: 'header', version: 2, length: 28 },
  ],
  ['v2 PROXY UNSPEC', v2(1, 0x00, Buffer.alloc(0)), { kind: 'header', version: 2, length: 16 }],
  ['v2 PROXY over AF_UNIX', v2(1, 0x31, Buffer.alloc(216)), { kind: 'header', version: 2, length: 232 }],
];

const broken: [string, Buffer][] = [
  ['v1 unknown protocol', Buffer.from('PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n')],
  ['v1 IPv6 address under TCP4', Buffer.from('PROXY TCP4 ::1 ::1 1 2\r\n')],
  ['v1 bad address', Buffer.from('PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n')],
  ['v1 port over 65535', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n')],
  ['v1 port with a leading zero', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n')],
  ['v1 a field missing', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n')],
  ['v1 two spaces', Buffer.from('PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n')],
  ['v1 bare LF', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n')],
  ['v1 CR without LF', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX')],
  ['v1 a NUL in the line', Buffer.from('PROXY TCP4 1.2.3.4\u00005.6.7.8 1 2\r\n')],
  ['v1 longer than 107 octets', Buffer.from(`PROXY UNKNOWN ${'x'.repeat(200)}\r\n`)],
  ['v1 CRLF just past 107 octets', Buffer.from(`PROXY UNKNOWN ${'x'.repeat(V1_MAX_LENGTH - 15)}\r\n`)],
  ['v2 version 1', Buffer.concat([V2_SIG, Buffer.from([0x11, 0x11, 0, 12]), Buffer.alloc(12)])],
  ['v2 unknown command', Buffer.concat([V2_SIG, Buffer.from([0x22, 0x11, 0, 12]), Buffer.alloc(12)])],
  ['v2 length over the bound (refused before the body)', Buffer.concat([V2_SIG, Buffer.from([0x21, 0x11, 0xff, 0xff])])],
  ['v2 IPv4 block too short', v2(1, 0x11, Buffer.alloc(8))],
  ['v2 IPv6 block too short', v2(1, 0x21, Buffer.alloc(12))],
  ['v2 UDP', v2(1, 0x12, inet([1, 2, 3, 4], [5, 6, 7, 8], 1, 2))],
  ['v2 unknown family', v2(1, 0x41, Buffer.alloc(12))],
];

/** First bytes of what the listeners serve, none of which starts a header. */
const openings: [string, Buffer][] = [
  ['MQTT CONNECT', Buffer.from('101000044d5154540402003c0004', 'hex')],
  ['STOMP CONNECT', Buffer.from('CONNECT\naccept-version:1.2\n\n\0')],
  ['RawSocket handshake', Buffer.from([0x7f, 0xf1, 0, 0])],
  ['TLS ClientHello', Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])],
  ['HTTP POST', Buffer.from('POST /x HTTP/1.1\r\n\r\n')],
  ['HTTP PROPFIND', Buffer.from('PROPFIND / HTTP/1.1\r\n\r\n')],
  ['HTTP PUT', Buffer.from('PUT / HTTP/1.1\r\n\r\n')],
  ['STOMP heart-beat EOLs (CR LF, then not the v2 signature)', Buffer.from('\r\n\r\nCONNECT\n\n\0')],
];

describe('proxy protocol', () => {
  for (const [name, bytes, verdict] of valid) {
    it(`proxy protocol - ${name}: read whole, and byte at a time`, () => {
      assert.deepEqual(parseProxyHeader(bytes), verdict);
      // what follows the header is not part of it
      assert.deepEqual(parseProxyHeader(Buffer.concat([bytes, Buffer.from('\u0010\u0000more')])), verdict);
      for (let n = 0; n < bytes.length; n++)
        assert.deepEqual(parseProxyHeader(bytes.subarray(0, n)), { kind: 'more' }, `prefix of ${n}`);
    });
  }

  for (const [name, bytes] of broken) {
    it(`proxy protocol - ${name}: invalid, and no prefix says otherwise`, () => {
      const verdict = parseProxyHeader(bytes);
      assert.equal(verdict.kind, 'invalid', JSON.stringify(verdict));
      for (let n = 0; n < bytes.length; n++)
        assert.ok(['more', 'invalid'].includes(parseProxyHeader(bytes.subarray(0, n)).kind), `prefix of ${n}`);
    });
  }

  for (const [name, bytes] of openings) {
    it(`proxy protocol - ${name}: not a header`, () => {
      assert.deepEqual(parseProxyHeader(bytes), { kind: 'none' });
      assert.equal(proxySignature(bytes), 'none');
    });
  }

  it('proxy protocol - the signature is told from the first octets that differ', () => {
    assert.equal(proxySignature(Buffer.from('P')), 'more');
    assert.equal(proxySignature(Buffer.from('PROXY')), 'more');
    assert.equal(proxySignature(Buffer.from('PROXY ')), 'v1');
    assert.equal(proxySignature(V2_SIG.subarray(0, 11)), 'more');
    assert.equal(proxySignature(V2_SIG), 'v2');
    assert.equal(proxySignature(Buffer.from('PU')), 'none');
  });

  it('proxy protocol - arbitrary bytes never throw, and a verdict never needs more than the bounds', () => {
    const headerish = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
      fc
        .tuple(fc.constantFrom(Buffer.from('PROXY '), V2_SIG), fc.uint8Array({ maxLength: 300 }))
        .map(([sig, rest]) => Buffer.concat([sig, rest])),
      fc.string({ maxLength: 120 }).map((s) => Buffer.from(`PROXY ${s}\r\n`)),
    );
    fc.assert(
      fc.property(headerish, (bytes) => {
        const verdict = parseProxyHeader(bytes);
        if (verdict.kind === 'more') assert.ok(bytes.length < 16 + V2_MAX_LENGTH, `more after ${bytes.length} octets`);
        if (verdict.kind === 'more' && proxySignature(bytes) === 'v1') assert.ok(bytes.length < V1_MAX_LENGTH);
        if (verdict.kind === 'header')
          assert.ok(verdict.length <= bytes.length && (verdict.version === 2 || verdict.length <= V1_MAX_LENGTH));
      }),
      { numRuns: 2000 },
    );
  });
});
