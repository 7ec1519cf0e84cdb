/**
 * Which protocol a connection speaks, from its first bytes only: the decision behind the
 * one port that serves every protocol (lib/universal-port.ts). Every protocol served
 * there has the client speak first, and each one's opening bytes differ from the others'
 * within a few octets, so nothing is parsed beyond them.
 */

export type SniffedProtocol = 'rawsocket' | 'mqtt' | 'stomp';

/**
 * `more`: the bytes so far are a prefix of some protocol's opening, wait for more;
 * `unknown`: no protocol served here starts like this.
 */
export type SniffVerdict = SniffedProtocol | 'http' | 'more' | 'unknown';

/**
 * The most bytes a verdict needs: MQTT's 1 + 4 + 8 octets, STOMP's command and EOL
 * after a few heart-beat EOLs. Past it, still undecided (nothing but EOLs) is unknown.
 */
export const SNIFF_MAX_BYTES = 64;

const RAWSOCKET_MAGIC = 0x7f;
/** MQTT CONNECT: packet type 1, flags 0 [MQTT-2.2.2-1] */
const MQTT_CONNECT = 0x10;
/** the protocol name of CONNECT's variable header, with its 2-octet length: 3.1.1 and 5.0 [MQTT-3.1.2-1], and 3.1 */
const MQTT_NAMES = [Buffer.from('\u0000\u0004MQTT', 'latin1'), Buffer.from('\u0000\u0006MQIsdp', 'latin1')];
/** STOMP 1.2 §Connecting: the first frame is CONNECT or STOMP; a command line ends with EOL = [CR] LF */
const STOMP_OPENINGS = ['CONNECT\n', 'CONNECT\r\n', 'STOMP\n', 'STOMP\r\n'].map((s) => Buffer.from(s, 'latin1'));
const LF = 0x0a;
const CR = 0x0d;

/** Decides (or asks for more) from the first bytes a connection sent. */
export function sniffProtocol(b: Buffer): SniffVerdict {
  const verdict = decide(b);
  return verdict === 'more' && b.length >= SNIFF_MAX_BYTES ? 'unknown' : verdict;
}

function decide(b: Buffer): SniffVerdict {
  const first = b[0];
  if (first === undefined) return 'more';
  // WAMP RawSocket: the handshake's first octet is the magic 0x7F
  if (first === RAWSOCKET_MAGIC) return 'rawsocket';
  if (first === MQTT_CONNECT) return mqtt(b);
  return text(b);
}

function mqtt(b: Buffer): SniffVerdict {
  // the remaining length: 1 to 4 octets, 7 bits each, high bit = more follow [MQTT-1.5.5]
  let i = 1;
  for (;;) {
    const octet = b[i];
    if (octet === undefined) return 'more';
    i++;
    if ((octet & 0x80) === 0) break;
    if (i === 5) return 'unknown';
  }
  const rest = b.subarray(i);
  for (const name of MQTT_NAMES) {
    const verdict = prefixMatch(rest, name);
    if (verdict !== 'unknown') return verdict === 'match' ? 'mqtt' : 'more';
  }
  return 'unknown';
}

function text(b: Buffer): SniffVerdict {
  // heart-beat EOLs may come before the first frame (STOMP 1.2 §Heart-beating); HTTP
  // servers ignore empty lines before a request line (RFC 9112 §2.2)
  let i = 0;
  while (i < b.length) {
    if (b[i] === LF) i++;
    else if (b[i] === CR) {
      if (i + 1 === b.length) return 'more';
      if (b[i + 1] !== LF) break;
      i += 2;
    } else break;
  }
  if (i === b.length) return 'more';
  const rest = b.subarray(i);
  let partial = false;
  for (const opening of STOMP_OPENINGS) {
    const verdict = prefixMatch(rest, opening);
    if (verdict === 'match') return 'stomp';
    if (verdict === 'prefix') partial = true;
  }
  // "CONNE" may yet be STOMP's CONNECT or HTTP's (a space follows that one)
  if (partial) return 'more';
  // an HTTP request line starts with its method (RFC 9112 §3); Node's parser knows only
  // the registered ones, all of them uppercase letters (IANA HTTP Method Registry)
  const c = rest[0] ?? 0;
  return c >= 0x41 && c <= 0x5a ? 'http' : 'unknown';
}

/** `match`: b starts with `expected`; `prefix`: b is shorter and so far agrees. */
function prefixMatch(b: Buffer, expected: Buffer): 'match' | 'prefix' | 'unknown' {
  const n = Math.min(b.length, expected.length);
  for (let i = 0; i < n; i++) if (b[i] !== expected[i]) return 'unknown';
  return n === expected.length ? 'match' : 'prefix';
}
