// WAMP serializers: JSON, MessagePack and CBOR (WAMP basic profile "Serializations";
// WAMP advanced profile "Binary support in JSON").
//
// All three map onto one data model: null, boolean, number, bigint, string, Buffer
// (binary), array and plain object. What comes off the wire is decoded into that model
// and nothing else — a Date, Set, Tag or extension object from a crafted msgpack/CBOR
// payload is a SerializerError, not something the router later trips over. Checking
// that the top level is a WAMP message (array, known type code, ...) is the caller's job.
//
// Integers: WAMP IDs go up to 2^53, so every serializer must carry them as integers.
// msgpackr and cbor-x write any integer past 32 bits as a float64, which Python and Go
// peers then reject ("invalid type float for ID"), so integers beyond the 32-bit range
// are handed to the encoders as BigInt, which they write as 64-bit integers. On decode,
// 64-bit integers within ±2^53 come back as numbers; beyond that they stay BigInt
// (exact). JSON does the same (lib/json-exact.ts): a bigint is written as a number with
// all its digits, and an integer literal past ±2^53 that fits 64 bits is read as BigInt.
// Nothing wider than 64 bits ([-2^63, 2^64-1]) is decoded or encoded: wire-scan.ts
// refuses it in every serializer before the decoder runs (a bignum costs cbor-x
// quadratic time), and the encoders refuse a wider bigint.
//
// Encoding is once per serializer per message (STYLE: hot path), so each encoder does
// a single cheap walk and copies nothing unless it has to.

import { isUtf8 } from 'node:buffer';
import { JsonValueError, parseExact, stringifyExact } from '../json-exact';
import { Packr } from 'msgpackr';
import { MAX_DEPTH, fitsWamp64, scanCbor, scanJson, scanMsgpack } from './wire-scan';
// cbor-x ships ESM typings only, and its package "exports" lead TypeScript's Node16
// resolution to them even though Node's require() loads its CommonJS build. So: take
// the types with an explicit resolution mode and load the CJS build at runtime.
import type { Encoder as CborEncoderClass } from 'cbor-x' with { 'resolution-mode': 'import' };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Encoder: CborEncoder } = require('cbor-x') as { Encoder: typeof CborEncoderClass };

export type SerializerName = 'json' | 'msgpack' | 'cbor';

export interface Serializer {
  readonly name: SerializerName;
  /** WebSocket subprotocol, e.g. 'wamp.2.json'. */
  readonly wsProtocol: string;
  /** RawSocket handshake serializer id (WAMP advanced: RawSocket Transport). */
  readonly rawSocketId: number;
  /** true: send as WebSocket binary frames; false (json): text frames. */
  readonly binary: boolean;
  /** Throws SerializerError on input outside the data model. */
  encode(msg: readonly unknown[]): Buffer;
  /** Throws SerializerError on malformed input; the top level is not checked. */
  decode(data: Buffer): unknown;
}

export class SerializerError extends Error {
  override readonly name = 'SerializerError';
}

// MAX_DEPTH (wire-scan.ts) bounds nesting on decode before the decoders run, and on
// encode here: deeper is a cycle or an attack, a SerializerError, not a stack overflow.
const MAX_EXACT = 2 ** 53;
const MAX_EXACT_BIG = BigInt(MAX_EXACT);

function describe(v: unknown): string {
  if (typeof v !== 'object' || v === null) return typeof v;
  const ctor: unknown = (v as { constructor?: unknown }).constructor;
  return typeof ctor === 'function' && ctor.name !== '' ? ctor.name : 'object';
}

function isPlainObject(v: object): v is Record<string, unknown> {
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function asBuffer(u8: Uint8Array): Buffer {
  return Buffer.isBuffer(u8) ? u8 : Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}

// Assignment to "__proto__" would run Object.prototype's setter and swap the object's
// prototype; a peer may legally send that key (JSON.parse keeps it as own data).
function setProp(o: Record<string, unknown>, k: string, val: unknown): void {
  if (k === '__proto__') {
    Object.defineProperty(o, k, { value: val, writable: true, enumerable: true, configurable: true });
  } else {
    o[k] = val;
  }
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function tooDeep(): SerializerError {
  return new SerializerError(`nesting deeper than ${MAX_DEPTH} (or a cycle)`);
}

// WAMP integers are 64-bit. A wider bigint (built by code, never decoded: the scans
// refuse it) is refused before any encoder spends super-linear time on it (cbor-x
// writes one as a bignum in quadratic time; BigInt#toString is not linear either).
function tooBig(): SerializerError {
  return new SerializerError('cannot encode an integer beyond 64 bits');
}

// ---------------------------------------------------------------------------------
// JSON, with WAMP's binary convention: a byte array travels as the string
// "\0" + base64 (WAMP advanced: Binary support in JSON, base64 per RFC 4648 §4).

// Writing is lib/json-exact.ts (the same rule as MQTT and STOMP JSON bodies): binary as
// "\0"+base64, bigint as its exact digits, a text string starting with U+0000 escaped as
// "\0\0"+text (WAMP's convention leaves such a string no form of its own; base64 never
// starts with U+0000, so the two stay apart), values outside the data model refused.
const JSON_WRITE = { escapeNul: true, strict: true } as const;

// Canonical base64, padded or not; anything else after "\0" is malformed, not a string.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}(?:==)?|[A-Za-z0-9+/]{3}=?)?$/;
// JSON text can only carry U+0000 as this escape (raw control characters are illegal
// in JSON strings), so input without it cannot contain binary and needs no walk.
const NUL_ESCAPE = Buffer.from('\\u0000');

/**
 * Turns "\0"+base64 strings back into Buffers, and "\0\0"+text back into the text
 * "\0"+text (the escape lib/json-exact.ts writes for a string starting with U+0000), in
 * place (we own the parsed tree).
 */
function reviveBinary(v: unknown, depth: number): unknown {
  if (typeof v === 'string') {
    if (v.charCodeAt(0) !== 0) return v;
    if (v.charCodeAt(1) === 0) return v.slice(1);
    const b64 = v.slice(1);
    if (!BASE64.test(b64)) throw new SerializerError('json decode: malformed base64 in binary string');
    return Buffer.from(b64, 'base64');
  }
  if (typeof v !== 'object' || v === null) return v;
  if (depth > MAX_DEPTH) throw tooDeep();
  if (Array.isArray(v)) {
    const a = v as unknown[];
    for (let i = 0; i < a.length; i++) a[i] = reviveBinary(a[i], depth + 1);
  } else {
    const o = v as Record<string, unknown>;
    for (const k in o) {
      const x = o[k];
      const y = reviveBinary(x, depth + 1);
      if (y !== x) setProp(o, k, y);
    }
  }
  return v;
}

const json: Serializer = {
  name: 'json',
  wsProtocol: 'wamp.2.json',
  rawSocketId: 1,
  binary: false,
  encode(msg) {
    let text: string | undefined;
    try {
      text = stringifyExact(msg, JSON_WRITE);
    } catch (err) {
      throw err instanceof JsonValueError
        ? new SerializerError(err.message)
        : new SerializerError(`json encode: ${errMessage(err)}`);
    }
    if (text === undefined) throw new SerializerError('json encode: nothing to encode');
    return Buffer.from(text, 'utf8');
  },
  decode(data) {
    // ws validates text frames already; RawSocket payloads arrive unchecked.
    if (!isUtf8(data)) throw new SerializerError('json decode: invalid UTF-8');
    // the same depth and integer bounds as the binary decoders and every encoder, so
    // whatever one serializer accepts the others can carry on
    const refused = scanJson(data);
    if (refused !== undefined) throw new SerializerError(`json decode: ${refused}`);
    let v: unknown;
    try {
      v = parseExact(data.toString('utf8'));
    } catch (err) {
      throw new SerializerError(`json decode: ${errMessage(err)}`);
    }
    return data.includes(NUL_ESCAPE) ? reviveBinary(v, 0) : v;
  },
};

// ---------------------------------------------------------------------------------
// MessagePack and CBOR.

/**
 * Prepares a value for msgpackr/cbor-x: integers outside [minInt, maxInt] become
 * BigInt (so they are written as 64-bit integers, not float64), undefined is dropped
 * from objects and becomes null in arrays (as in JSON), anything outside the data
 * model throws. Copy-on-write: returns `v` itself when nothing changed.
 */
function widenInts(v: unknown, minInt: number, maxInt: number, depth: number): unknown {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v;
    case 'bigint':
      if (!fitsWamp64(v)) throw tooBig();
      return v;
    case 'number':
      return (v > maxInt || v < minInt) && Number.isInteger(v) && v <= MAX_EXACT && v >= -MAX_EXACT ? BigInt(v) : v;
    case 'undefined':
      return null;
    case 'object': {
      if (v === null) return v;
      if (depth > MAX_DEPTH) throw tooDeep();
      if (Array.isArray(v)) {
        const a = v as unknown[];
        let out: unknown[] | undefined;
        for (let i = 0; i < a.length; i++) {
          const x = a[i];
          const y = widenInts(x, minInt, maxInt, depth + 1);
          if (y !== x) {
            out ??= a.slice();
            out[i] = y;
          }
        }
        return out ?? v;
      }
      if (v instanceof Uint8Array) return v;
      if (!isPlainObject(v)) throw new SerializerError(`cannot encode ${describe(v)}`);
      let out: Record<string, unknown> | undefined;
      for (const k in v) {
        const x = v[k];
        if (x === undefined) {
          out ??= { ...v };
          // a dict's keys are data: the copy loses this one
          // eslint-disable-next-line @typescript-eslint/no-dynamic-delete
          delete out[k];
          continue;
        }
        const y = widenInts(x, minInt, maxInt, depth + 1);
        if (y !== x) {
          out ??= { ...v };
          setProp(out, k, y);
        }
      }
      return out ?? v;
    }
    default:
      throw new SerializerError(`cannot encode ${typeof v}`);
  }
}

/**
 * Checks a freshly decoded msgpack/CBOR tree against the data model, in place:
 * bigint within ±2^53 -> number, Uint8Array -> Buffer (same memory); Date, Set, Map,
 * tags, extension objects, undefined -> SerializerError.
 */
function checkDecoded(v: unknown, depth: number): unknown {
  switch (typeof v) {
    case 'string':
    case 'number':
    case 'boolean':
      return v;
    case 'bigint':
      return v <= MAX_EXACT_BIG && v >= -MAX_EXACT_BIG ? Number(v) : v;
    case 'object': {
      if (v === null) return v;
      if (depth > MAX_DEPTH) throw tooDeep();
      if (Array.isArray(v)) {
        const a = v as unknown[];
        for (let i = 0; i < a.length; i++) {
          const x = a[i];
          if (
            typeof x === 'object' ||
            typeof x === 'bigint' ||
            typeof x === 'undefined' ||
            typeof x === 'symbol' ||
            typeof x === 'function'
          ) {
            a[i] = checkDecoded(x, depth + 1);
          }
        }
        return v;
      }
      if (v instanceof Uint8Array) return asBuffer(v);
      if (!isPlainObject(v)) throw new SerializerError(`unsupported decoded value ${describe(v)}`);
      for (const k in v) {
        const x = v[k];
        if (x === undefined) {
          // A dict value of undefined is an unset option: JS encoders (msgpackr, cbor-x, as
          // used by wampy) write it for every optional field left out. Drop the key, as
          // JSON.stringify and our own encoders do; undefined elsewhere stays an error.
          // eslint-disable-next-line @typescript-eslint/no-dynamic-delete
          delete v[k];
          continue;
        }
        const y = checkDecoded(x, depth + 1);
        if (y !== x) setProp(v, k, y);
      }
      return v;
    }
    default:
      // undefined (CBOR simple value 23, msgpack fixext), symbol, function
      throw new SerializerError(`unsupported decoded value ${typeof v}`);
  }
}

function wrapDecode(
  name: string,
  data: Buffer,
  scan: (b: Buffer) => string | undefined,
  decode: (b: Buffer) => unknown,
): unknown {
  const refused = scan(data);
  if (refused !== undefined) throw new SerializerError(`${name} decode: ${refused}`);
  let v: unknown;
  try {
    v = decode(data);
  } catch (err) {
    // Truncated input, trailing bytes ("end of buffer not reached"), bad headers,
    // stack overflow on absurd nesting: all surface as one error type.
    throw new SerializerError(`${name} decode: ${errMessage(err)}`);
  }
  try {
    return checkDecoded(v, 0);
  } catch (err) {
    throw new SerializerError(`${name} decode: ${errMessage(err)}`);
  }
}

function wrapEncode(name: string, encode: () => Buffer): Buffer {
  try {
    return encode();
  } catch (err) {
    throw err instanceof SerializerError ? err : new SerializerError(`${name} encode: ${errMessage(err)}`);
  }
}

// useRecords:false keeps msgpackr's record extension (and shared structures) off the
// wire; variableMapSize writes the smallest map header, as other WAMP peers do;
// int64AsType 'auto' decodes 64-bit ints within ±2^53 as numbers, beyond as BigInt.
// No structuredClone/moreTypes: plain MessagePack only.
const packr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  variableMapSize: true,
  // 'auto' is implemented by msgpackr 2.x but missing from its typings.
  int64AsType: 'auto' as 'number',
  encodeUndefinedAsNil: true,
  structuredClone: false,
  moreTypes: false,
});

const msgpack: Serializer = {
  name: 'msgpack',
  wsProtocol: 'wamp.2.msgpack',
  rawSocketId: 2,
  binary: true,
  encode(msg) {
    // msgpackr writes 32-bit ints natively (int32 ... uint32).
    return wrapEncode('msgpack', () => packr.pack(widenInts(msg, -0x80000000, 0xffffffff, 0)));
  },
  decode(data) {
    return wrapDecode('msgpack', data, scanMsgpack, (b) => packr.unpack(b) as unknown);
  },
};

// tagUint8Array:false writes a Uint8Array as a plain byte string (cbor-x would tag it
// 64, which other peers decode as a typed array, not bytes). int64AsNumber stays off:
// checkDecoded narrows 64-bit ints itself, keeping the ones past 2^53 exact.
const cborEncoder = new CborEncoder({
  useRecords: false,
  mapsAsObjects: true,
  variableMapSize: true,
  tagUint8Array: false,
  pack: false,
});

const cbor: Serializer = {
  name: 'cbor',
  wsProtocol: 'wamp.2.cbor',
  rawSocketId: 3,
  binary: true,
  encode(msg) {
    // cbor-x writes -2^32 ... 2^32-1 as CBOR integers natively (RFC 8949 §3.1).
    return wrapEncode('cbor', () => cborEncoder.encode(widenInts(msg, -0x100000000, 0xffffffff, 0)));
  },
  decode(data) {
    return wrapDecode('cbor', data, scanCbor, (b) => cborEncoder.decode(b) as unknown);
  },
};

// ---------------------------------------------------------------------------------

export const serializers: Record<SerializerName, Serializer> = { json, msgpack, cbor };

/**
 * WebSocket subprotocols in router preference order. Binary serializers first: they
 * carry binary without base64's 33% and keep integers past 2^53 exact; CBOR before
 * MessagePack because it is an IETF standard (RFC 8949) with fixed semantics for every
 * type, and the two cost about the same here. JSON last.
 */
export const WS_PROTOCOLS: string[] = [cbor.wsProtocol, msgpack.wsProtocol, json.wsProtocol];

const byWsProtocol = new Map<string, Serializer>(Object.values(serializers).map((s) => [s.wsProtocol, s]));
const byRawSocketId = new Map<number, Serializer>(Object.values(serializers).map((s) => [s.rawSocketId, s]));

export function serializerForWsProtocol(p: string): Serializer | undefined {
  return byWsProtocol.get(p);
}

export function serializerForRawSocketId(id: number): Serializer | undefined {
  return byRawSocketId.get(id);
}

/** The first of WS_PROTOCOLS the client offered (for ws' handleProtocols), or undefined. */
export function chooseWsProtocol(offered: Iterable<string>): string | undefined {
  const set = new Set(offered);
  return WS_PROTOCOLS.find((p) => set.has(p));
}
