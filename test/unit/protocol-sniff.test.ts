// The first-bytes verdict of the shared HTTP port (lib/protocol-sniff.ts): each protocol's
// real opening is recognised whole and fed byte at a time (every prefix asks for more, never
// a wrong verdict), and arbitrary bytes never get a verdict that contradicts the openings.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { SNIFF_MAX_BYTES, sniffProtocol, type SniffVerdict } from '../../lib/protocol-sniff';
import { connectBytes } from '../helpers/mqtt-raw';

function mqttConnect(level: 3 | 4 | 5, clientId = 'c1'): Buffer {
  return connectBytes({ clientId, level, keepAlive: 30 });
}

const openings: [string, Buffer, SniffVerdict][] = [
  ['RawSocket handshake', Buffer.from([0x7f, 0xf1, 0, 0]), 'rawsocket'],
  ['MQTT 3.1 CONNECT', mqttConnect(3), 'mqtt'],
  ['MQTT 3.1.1 CONNECT', mqttConnect(4), 'mqtt'],
  ['MQTT 5 CONNECT', mqttConnect(5), 'mqtt'],
  ['MQTT CONNECT with a 2-octet remaining length', mqttConnect(4, 'x'.repeat(200)), 'mqtt'],
  ['STOMP CONNECT', Buffer.from('CONNECT\naccept-version:1.2\nhost:h\n\n\0'), 'stomp'],
  ['STOMP CONNECT with CRLF', Buffer.from('CONNECT\r\naccept-version:1.2\r\n\r\n\0'), 'stomp'],
  ['STOMP frame', Buffer.from('STOMP\naccept-version:1.2\nhost:h\n\n\0'), 'stomp'],
  ['STOMP CONNECT after heart-beat EOLs', Buffer.from('\n\r\n\nCONNECT\n\n\0'), 'stomp'],
  ['HTTP GET', Buffer.from('GET /health HTTP/1.1\r\nHost: x\r\n\r\n'), 'http'],
  ['HTTP CONNECT (a space after the method)', Buffer.from('CONNECT example.com:443 HTTP/1.1\r\n\r\n'), 'http'],
  ["HTTP SEARCH (shares STOMP's S)", Buffer.from('SEARCH / HTTP/1.1\r\n\r\n'), 'http'],
  ['HTTP after an empty line', Buffer.from('\r\nGET / HTTP/1.1\r\n\r\n'), 'http'],
  ['a TLS ClientHello on a plain port', Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]), 'unknown'],
  ['MQTT PUBLISH first', Buffer.from([0x30, 0x05, 0x00, 0x01, 0x61, 0x68, 0x69]), 'unknown'],
  ['CONNECT type, wrong protocol name', Buffer.from([0x10, 0x0c, 0x00, 0x04, 0x41, 0x4d, 0x51, 0x50]), 'unknown'],
  ['CONNECT type, remaining length of 5 octets', Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x01]), 'unknown'],
  ['a NUL', Buffer.from([0]), 'unknown'],
  ['a lowercase method (no HTTP method is)', Buffer.from('get / HTTP/1.1\r\n\r\n'), 'unknown'],
  ['a bare CR', Buffer.from('\rGET'), 'unknown'],
  ['nothing but EOLs', Buffer.alloc(SNIFF_MAX_BYTES, 0x0a), 'unknown'],
];

describe('protocol sniff', () => {
  for (const [name, bytes, verdict] of openings) {
    it(`protocol sniff - ${name}: ${verdict}`, () => {
      assert.equal(sniffProtocol(bytes), verdict);
    });

    it(`protocol sniff - ${name} byte at a time: more, then ${verdict} (never another)`, () => {
      let seen: SniffVerdict = 'more';
      for (let n = 1; n <= bytes.length && seen === 'more'; n++) seen = sniffProtocol(bytes.subarray(0, n));
      assert.equal(seen, verdict);
    });
  }

  it('protocol sniff - an empty buffer asks for more', () => {
    assert.equal(sniffProtocol(Buffer.alloc(0)), 'more');
  });

  it('protocol sniff - a verdict needs at most SNIFF_MAX_BYTES, and one verdict holds for every longer input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 2 * SNIFF_MAX_BYTES }), (arr) => {
        const b = Buffer.from(arr);
        let decided: SniffVerdict | undefined;
        for (let n = 1; n <= b.length; n++) {
          const v = sniffProtocol(b.subarray(0, n));
          if (decided === undefined && v !== 'more') decided = v;
          // once decided, more bytes never change the verdict (the port decides on what came first)
          if (decided !== undefined) assert.equal(v, decided);
          if (n >= SNIFF_MAX_BYTES) assert.notEqual(v, 'more');
        }
        // anything starting like MQTT's CONNECT is MQTT only with the protocol name in place
        if (decided === 'mqtt') assert.ok(b.includes(Buffer.from('MQTT')) || b.includes(Buffer.from('MQIsdp')));
      }),
      { numRuns: 2000 },
    );
  });
});
