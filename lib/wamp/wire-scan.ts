// One linear pass over an inbound WAMP payload before msgpackr, cbor-x or JSON.parse
// touches it: it refuses, in time proportional to the bytes, what those decoders would
// spend super-linear time (or unbounded stack) on, and what WAMP has no use for.
//
// - Integers beyond 64 bits. WAMP's integers are at most 64-bit; a 200 KB CBOR bignum
//   (RFC 8949 §3.4.3, tags 2/3) cost cbor-x quadratic time (19 s for one frame), and the
//   same number arriving as msgpackr's bigint extension cost the CBOR re-encode 32 s.
//   Accepted: what fits int64 or uint64, [-2^63, 2^64-1].
// - Nesting deeper than MAX_DEPTH (arrays, maps, tags), checked without recursion.
// - CBOR tags other than bignums, byte arrays and the self-describe prefix; msgpack
//   extension types other than 0 (undefined). cbor-x and msgpackr decode many more by
//   default (value sharing, packed CBOR, records, dates, sets, regexps, errors). WAMP
//   needs none, and CBOR value sharing (tags 28/29) turns a 150-byte frame into a DAG
//   whose tree walk takes 2^depth steps.
//
// It only refuses: a payload it passes still goes through the decoder, which reports
// every other malformation. Each scan returns a reason, or undefined when the payload
// may be decoded.

/** Deepest nesting of arrays/maps (and CBOR tags) accepted from or written to the wire. */
export const MAX_DEPTH = 1000;

/** WAMP integers are 64-bit: [-2^63, 2^64-1] (int64 and uint64 together). */
export const MIN_INT64 = -(2n ** 63n);
export const MAX_UINT64 = 2n ** 64n - 1n;

/** Whether a bigint is inside [-2^63, 2^64-1]. Cheap for any size (sign and length). */
export function fitsWamp64(v: bigint): boolean {
  return v >= MIN_INT64 && v <= MAX_UINT64;
}

// Items still expected at each open nesting level (Infinity: indefinite-length CBOR).
// One module-level stack: scans are synchronous and never nest.
const pending = new Float64Array(MAX_DEPTH + 2);

const TOO_DEEP = `nested deeper than ${MAX_DEPTH}`;
const TRUNCATED = 'truncated';
const TOO_BIG = 'integer beyond 64 bits';

// ---------------------------------------------------------------------------------
// CBOR (RFC 8949 §3).

/** The argument of the CBOR head at `data[at]`, or -1 when truncated; `headLen` gets its size
 *  (a module variable rather than a returned pair: no allocation per item). */
let headLen = 0;
function cborArg(data: Buffer, at: number, ai: number): number {
  if (ai < 24) {
    headLen = 1;
    return ai;
  }
  const n = ai === 24 ? 1 : ai === 25 ? 2 : ai === 26 ? 4 : 8;
  headLen = 1 + n;
  if (at + headLen > data.length) return -1;
  if (n === 1) return data[at + 1] as number;
  if (n === 2) return data.readUInt16BE(at + 1);
  if (n === 4) return data.readUInt32BE(at + 1);
  // 8 bytes: exact enough for lengths and counts (anything past 2^53 is truncated anyway)
  return data.readUInt32BE(at + 1) * 0x100000000 + data.readUInt32BE(at + 5);
}

/** A bignum's byte string (tag 2/3 content) at `at`: its end, or a reason. */
function cborBignum(data: Buffer, at: number, negative: boolean): number | string {
  const b = data[at];
  if (b === undefined) return TRUNCATED;
  // RFC 8949 §3.4.3: the content is a byte string; definite length here (cbor-x does
  // not decode indefinite-length strings at all)
  if (b >> 5 !== 2 || (b & 0x1f) > 27) return 'CBOR bignum without a definite byte string';
  const len = cborArg(data, at, b & 0x1f);
  const start = at + headLen;
  if (len < 0 || start + len > data.length) return TRUNCATED;
  // leading zero bytes are legal (§3.4.3); what counts is the significant part
  let first = start;
  while (first < start + len && data[first] === 0) first++;
  const significant = start + len - first;
  // tag 3 is -1-n: n must be at most 2^63-1 for the value to fit int64
  if (significant > 8 || (negative && significant === 8 && (data[first] as number) >= 0x80)) return TOO_BIG;
  return start + len;
}

/** Why this CBOR payload is refused, or undefined. */
export function scanCbor(data: Buffer): string | undefined {
  let at = 0;
  let depth = 0; // open containers; pending[depth] = items still expected in the innermost
  pending[0] = 1; // the top level: one item
  // RFC 8949 §3.4.6: the self-described CBOR prefix, d9 d9 f7, only at the very start
  if (data[0] === 0xd9 && data[1] === 0xd9 && data[2] === 0xf7) at = 3;
  for (;;) {
    // close every finished level; the top level finishing ends the scan
    while (pending[depth] === 0) {
      if (depth === 0) return at === data.length ? undefined : 'trailing bytes';
      depth--;
      pending[depth] = (pending[depth] as number) - 1; // Infinity stays Infinity
    }
    const b = data[at];
    if (b === undefined) return TRUNCATED;
    const major = b >> 5;
    const ai = b & 0x1f;
    if (ai >= 28 && ai <= 30) return 'reserved CBOR head';
    if (ai === 31) {
      if (major === 7) {
        // break: ends the innermost indefinite-length array or map
        if (depth === 0 || pending[depth] !== Infinity) return 'CBOR break outside an indefinite container';
        at++;
        pending[depth] = 0;
        continue;
      }
      if (major !== 4 && major !== 5) return 'indefinite-length CBOR string or integer';
      if (++depth > MAX_DEPTH) return TOO_DEEP;
      pending[depth] = Infinity;
      at++;
      continue;
    }
    const arg = cborArg(data, at, ai);
    if (arg < 0) return TRUNCATED;
    at += headLen;
    switch (major) {
      case 0: // unsigned: up to 2^64-1 fits uint64
        break;
      case 1: // -1-n: fits int64 while n < 2^63
        if (ai === 27 && (data[at - 8] as number) >= 0x80) return TOO_BIG;
        break;
      case 2:
      case 3:
        if (arg > data.length - at) return TRUNCATED;
        at += arg;
        break;
      case 4:
      case 5: {
        const items = major === 5 ? arg * 2 : arg;
        // every item takes at least a byte: a larger count can only be a lie
        if (items > data.length - at) return TRUNCATED;
        // an empty container is still a level to the decoders (as "[]" is to JSON's)
        if (depth + 1 > MAX_DEPTH) return TOO_DEEP;
        if (items > 0) {
          pending[++depth] = items;
          continue; // the container is one item of its parent once it closes
        }
        break;
      }
      case 6: {
        if (arg === 2 || arg === 3) {
          const end = cborBignum(data, at, arg === 3);
          if (typeof end === 'string') return end;
          at = end;
          break;
        }
        if (arg === 64) {
          // RFC 8746 §2.1: uint8 typed array over a byte string (what cbor-x, as used by
          // wampy, writes for a Uint8Array unless told otherwise): binary
          const c = data[at];
          if (c === undefined) return TRUNCATED;
          if (c >> 5 !== 2 || (c & 0x1f) > 27) return 'CBOR tag 64 without a definite byte string';
          continue; // the byte string is the item
        }
        return `CBOR tag ${arg} is not supported`;
      }
      default: // 7: simple values and floats
        // false, true, null, undefined (20..23); half, single, double floats (25..27)
        if (ai < 20 || ai === 24) return 'unsupported CBOR simple value';
        break;
    }
    // one item of the innermost level done (Infinity stays Infinity)
    pending[depth] = (pending[depth] as number) - 1;
  }
}

// ---------------------------------------------------------------------------------
// MessagePack (msgpack spec, "Formats"). Its integers stop at int64/uint64; only
// msgpackr's bigint extension (type 0x42) carries more, and it is refused with the rest.

/** Why this msgpack payload is refused, or undefined. */
export function scanMsgpack(data: Buffer): string | undefined {
  let at = 0;
  let depth = 0;
  pending[0] = 1;
  for (;;) {
    while (pending[depth] === 0) {
      if (depth === 0) return at === data.length ? undefined : 'trailing bytes';
      depth--;
      pending[depth] = (pending[depth] as number) - 1;
    }
    const b = data[at];
    if (b === undefined) return TRUNCATED;
    at++;
    let items = 0; // for arrays and maps
    let skip = 0; // payload bytes after the head
    if (b <= 0x7f || b >= 0xe0) {
      // fixint
    } else if (b <= 0x8f) {
      items = (b & 0x0f) * 2;
    } else if (b <= 0x9f) {
      items = b & 0x0f;
    } else if (b <= 0xbf) {
      skip = b & 0x1f;
    } else {
      switch (b) {
        case 0xc0:
        case 0xc2:
        case 0xc3: // nil, false, true
          break;
        case 0xc4:
        case 0xd9: // bin8, str8
          if (at + 1 > data.length) return TRUNCATED;
          skip = 1 + (data[at] as number);
          break;
        case 0xc5:
        case 0xda: // bin16, str16
          if (at + 2 > data.length) return TRUNCATED;
          skip = 2 + data.readUInt16BE(at);
          break;
        case 0xc6:
        case 0xdb: // bin32, str32
          if (at + 4 > data.length) return TRUNCATED;
          skip = 4 + data.readUInt32BE(at);
          break;
        case 0xca:
          skip = 4;
          break; // float32
        case 0xcb:
          skip = 8;
          break; // float64
        case 0xcc:
        case 0xd0:
          skip = 1;
          break; // uint8, int8
        case 0xcd:
        case 0xd1:
          skip = 2;
          break;
        case 0xce:
        case 0xd2:
          skip = 4;
          break;
        case 0xcf:
        case 0xd3:
          skip = 8;
          break; // uint64, int64: the widest, both fit
        case 0xdc: // array16
          if (at + 2 > data.length) return TRUNCATED;
          items = data.readUInt16BE(at);
          skip = 2;
          break;
        case 0xdd:
          if (at + 4 > data.length) return TRUNCATED;
          items = data.readUInt32BE(at);
          skip = 4;
          break;
        case 0xde: // map16
          if (at + 2 > data.length) return TRUNCATED;
          items = data.readUInt16BE(at) * 2;
          skip = 2;
          break;
        case 0xdf:
          if (at + 4 > data.length) return TRUNCATED;
          items = data.readUInt32BE(at) * 2;
          skip = 4;
          break;
        default: {
          // extensions: fixext 1/2/4/8/16 (0xd4..0xd8), ext 8/16/32 (0xc7..0xc9); 0xc1 is never used
          let len: number;
          let head: number;
          if (b >= 0xd4 && b <= 0xd8) {
            len = 1 << (b - 0xd4);
            head = 0;
          } else if (b === 0xc7 || b === 0xc8 || b === 0xc9) {
            head = b === 0xc7 ? 1 : b === 0xc8 ? 2 : 4;
            if (at + head > data.length) return TRUNCATED;
            len = head === 1 ? (data[at] as number) : head === 2 ? data.readUInt16BE(at) : data.readUInt32BE(at);
          } else {
            return 'msgpack byte 0xc1 is never used';
          }
          const type = data[at + head];
          if (type === undefined) return TRUNCATED;
          // type 0 is undefined as msgpackr and notepack write it (an unset option);
          // every other type, 0x42 (bigint) included, is nothing WAMP carries
          if (type !== 0) return type === 0x42 ? TOO_BIG : `msgpack extension type ${type} is not supported`;
          skip = head + 1 + len;
        }
      }
    }
    if (skip > data.length - at) return TRUNCATED;
    at += skip;
    if (items > 0) {
      if (items > data.length - at) return TRUNCATED;
      if (++depth > MAX_DEPTH) return TOO_DEEP;
      pending[depth] = items;
      continue;
    }
    // an empty array or map is still a level to the decoders
    if ((b & 0xe0) === 0x80 || (b >= 0xdc && b <= 0xdf)) {
      if (depth + 1 > MAX_DEPTH) return TOO_DEEP;
    }
    pending[depth] = (pending[depth] as number) - 1;
  }
}

// ---------------------------------------------------------------------------------
// JSON (RFC 8259). JSON.parse is linear whatever the literal's length. An integer
// literal past 64 bits is read as JSON.parse reads it, a double (Infinity past the float
// range): JSON has no integer type, and JSON.stringify writes doubles in [2^64, 10^21) as
// such literals (autobahn sends `timeout: 2**64` that way), so refusing them would end
// sessions of ordinary clients. lib/json-exact.ts never hands BigInt more than 20 digits.

/** Why this JSON text is refused, or undefined. Strings are skipped, not checked. */
export function scanJson(data: Buffer): string | undefined {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < data.length; i++) {
    const c = data[i] as number;
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_DEPTH) return TOO_DEEP;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return undefined;
}
