/**
 * The PROXY protocol header (HAProxy, "The PROXY protocol", versions 1 and 2): the line
 * or block a TCP proxy (haproxy `send-proxy`, nginx `proxy_protocol on`, AWS NLB, ...)
 * writes at the start of a connection to say whom it accepted it from. Parsing only;
 * when a header is honoured (trusted proxies, per listener) is lib/proxy-accept.ts.
 *
 * Pure and incremental: give it every byte received so far, it answers from those alone
 * (`more` until a verdict), so it is byte-at-a-time safe. The bytes it looks at are
 * bounded: a v1 line is at most 107 octets (spec §2.1), and a v2 block's length field is
 * refused past V2_MAX_LENGTH before its body is waited for.
 */
import net from 'node:net';

/** The client address a header names. */
export interface ProxiedAddress {
  address: string;
  port: number;
}

export type ProxyHeaderVerdict =
  /** the bytes so far start (or may yet start) a header: wait for more */
  | { kind: 'more' }
  /** the bytes do not start a PROXY header */
  | { kind: 'none' }
  /** a header, broken: the connection is to be closed */
  | { kind: 'invalid'; reason: string }
  /**
   * A whole header of `length` octets (what follows is the proxied stream). `source`
   * absent: the proxy speaks for itself (v1 UNKNOWN, v2 LOCAL, UNSPEC or UNIX), so the
   * connection's own address stands (spec §2.1, §2.2).
   */
  | { kind: 'header'; version: 1 | 2; length: number; source?: ProxiedAddress };

/** spec §2.1: "PROXY" and a space */
const V1_SIGNATURE = Buffer.from('PROXY ', 'latin1');
/** spec §2.1: "a receiver must not try to read more than 107 characters" (CRLF included) */
export const V1_MAX_LENGTH = 107;
/** spec §2.2: the 12-octet signature, chosen never to start a v1 line or common protocol */
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V2_FIXED = 16;
/**
 * The most address-and-TLV octets accepted after the 16 fixed ones. The addresses take
 * at most 216 (AF_UNIX); the rest is TLVs (ALPN, authority, unique id, SSL, cloud
 * endpoint ids), which real proxies keep to a few hundred. The field allows 65535: a
 * bound of our own keeps a connection from making us hold 64 KiB before it has said who it is.
 */
export const V2_MAX_LENGTH = 2048;

const CR = 0x0d;
const LF = 0x0a;

/** Whether `b` starts (or, being short, may start) with a PROXY signature. */
export function proxySignature(b: Buffer): 'v1' | 'v2' | 'more' | 'none' {
  const v1 = prefixOf(b, V1_SIGNATURE);
  if (v1 === 'match') return 'v1';
  const v2 = prefixOf(b, V2_SIGNATURE);
  if (v2 === 'match') return 'v2';
  return v1 === 'prefix' || v2 === 'prefix' ? 'more' : 'none';
}

/** The verdict on the bytes a connection has sent so far. */
export function parseProxyHeader(b: Buffer): ProxyHeaderVerdict {
  const signature = proxySignature(b);
  if (signature === 'none') return { kind: 'none' };
  if (signature === 'more') return { kind: 'more' };
  return signature === 'v1' ? parseV1(b) : parseV2(b);
}

function parseV1(b: Buffer): ProxyHeaderVerdict {
  const n = Math.min(b.length, V1_MAX_LENGTH);
  let end = -1;
  for (let i = V1_SIGNATURE.length; i < n; i++) {
    const c = b[i];
    if (c === CR) {
      if (i + 1 === V1_MAX_LENGTH) return invalid('v1: longer than 107 octets');
      if (i + 1 === b.length) return { kind: 'more' };
      if (b[i + 1] !== LF) return invalid('v1: CR without LF');
      end = i;
      break;
    }
    // the line is printable US-ASCII; a bare LF or a control octet is not a header
    if (c === undefined || c < 0x20 || c > 0x7e) return invalid('v1: not a text line');
  }
  if (end < 0) return b.length >= V1_MAX_LENGTH ? invalid('v1: longer than 107 octets') : { kind: 'more' };
  const length = end + 2;
  const fields = b.toString('latin1', V1_SIGNATURE.length, end).split(' ');
  const proto = fields[0];
  // spec §2.1: with UNKNOWN the rest of the line is ignored, the real address stands
  if (proto === 'UNKNOWN') return { kind: 'header', version: 1, length };
  if (proto !== 'TCP4' && proto !== 'TCP6') return invalid('v1: unknown protocol');
  if (fields.length !== 5) return invalid('v1: expected 4 fields after the protocol');
  const [, src, dst, sport, dport] = fields as [string, string, string, string, string];
  const isFamily = proto === 'TCP4' ? net.isIPv4 : net.isIPv6;
  if (!isFamily(src) || !isFamily(dst)) return invalid('v1: address not of the protocol family');
  const port = portOf(sport);
  if (port === undefined || portOf(dport) === undefined) return invalid('v1: bad port');
  return { kind: 'header', version: 1, length, source: { address: src, port } };
}

/** spec §2.1: a decimal integer 0..65535, no leading zero */
function portOf(s: string): number | undefined {
  if (!/^(0|[1-9][0-9]{0,4})$/.test(s)) return undefined;
  const n = Number(s);
  return n <= 65535 ? n : undefined;
}

function parseV2(b: Buffer): ProxyHeaderVerdict {
  if (b.length < V2_FIXED) return { kind: 'more' };
  const verCmd = b[12] ?? 0;
  const famProto = b[13] ?? 0;
  const len = b.readUInt16BE(14);
  // spec §2.2: the high nibble is the version, 2; the low one the command, LOCAL or PROXY
  if (verCmd >> 4 !== 2) return invalid('v2: version is not 2');
  const command = verCmd & 0x0f;
  if (command > 1) return invalid('v2: unknown command');
  if (len > V2_MAX_LENGTH) return invalid(`v2: length ${len} over ${V2_MAX_LENGTH}`);
  if (b.length < V2_FIXED + len) return { kind: 'more' };
  const length = V2_FIXED + len;
  // LOCAL: the proxy's own connection (a health check); the addresses are to be ignored
  if (command === 0) return { kind: 'header', version: 2, length };
  const family = famProto >> 4;
  const transport = famProto & 0x0f;
  // a stream listener carries only STREAM (TCP) connections; UNSPEC: the proxy does not know
  if (family === 0) return { kind: 'header', version: 2, length };
  if (family > 3) return invalid('v2: unknown address family');
  if (transport !== 1) return invalid('v2: not a STREAM connection');
  // AF_UNIX: a path, no address a limit or a log could use; the real address stands
  if (family === 3) return len < 216 ? invalid('v2: address block too short') : { kind: 'header', version: 2, length };
  if (family === 1) {
    if (len < 12) return invalid('v2: address block too short');
    const address = `${b[16] ?? 0}.${b[17] ?? 0}.${b[18] ?? 0}.${b[19] ?? 0}`;
    return { kind: 'header', version: 2, length, source: { address, port: b.readUInt16BE(24) } };
  }
  if (len < 36) return invalid('v2: address block too short');
  return { kind: 'header', version: 2, length, source: { address: ipv6(b, 16), port: b.readUInt16BE(48) } };
}

/** 16 octets as an IPv6 address in its compressed form (RFC 5952), as Node reports peers. */
function ipv6(b: Buffer, at: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(b.readUInt16BE(at + 2 * i).toString(16));
  // net.SocketAddress parses and prints the canonical form
  return new net.SocketAddress({ address: groups.join(':'), family: 'ipv6' }).address;
}

function invalid(reason: string): ProxyHeaderVerdict {
  return { kind: 'invalid', reason };
}

function prefixOf(b: Buffer, expected: Buffer): 'match' | 'prefix' | 'unknown' {
  const n = Math.min(b.length, expected.length);
  for (let i = 0; i < n; i++) if (b[i] !== expected[i]) return 'unknown';
  return n === expected.length ? 'match' : 'prefix';
}
