/**
 * JSON with exact integers: the one rule for every place a payload becomes JSON or is
 * read from it (MQTT and STOMP bodies, the WAMP JSON serializer, the RPC bridges; README
 * "Payloads across protocols").
 *
 * Writing: a bigint (a 64-bit integer from a msgpack or CBOR peer) is a JSON number
 * written with all its digits (9007199254740993, never a string, never rounded); binary
 * is "\u0000" + base64 (WAMP advanced: Binary support in JSON); everything else is what
 * JSON.stringify writes (-0 as 0, NaN and ±Infinity as null, undefined left out of
 * objects and null in arrays).
 *
 * Reading: JSON.parse, except that an integer literal outside ±2^53 that fits 64 bits
 * (-2^63 ... 2^64-1) becomes a bigint, so it reaches msgpack/CBOR peers as the 64-bit
 * integer it was. JSON.parse stays the fast path: only text holding a run of 16 digits
 * (the shortest integer past 2^53 has 16) is read a second time by the small reader
 * below, after JSON.parse has accepted it.
 */

export class JsonValueError extends Error {
  override readonly name = 'JsonValueError';
}

/** Deeper than this is a cycle or an attack (the WAMP serializers use the same bound). */
export const MAX_JSON_DEPTH = 1000;

export interface StringifyOptions {
  /**
   * WAMP JSON: a text string starting with U+0000 would read back as binary, so it is
   * written with one more U+0000 in front ("\u0000\u0000..."): base64 never starts with
   * U+0000, so readers tell the two apart, and parseWampString() undoes it.
   */
  escapeNul?: boolean;
  /**
   * Values outside the data model (class instances, symbols, functions) throw
   * JsonValueError; without it they are left to JSON.stringify (a Date as its ISO text).
   */
  strict?: boolean;
}

/** JSON text of `v` under the rule above; undefined where JSON.stringify gives undefined. */
export function stringifyExact(v: unknown, o: StringifyOptions = {}): string | undefined {
  return needsSlowPath(v, 0, o) ? stringifySlow(v, 0, o) : JSON.stringify(v);
}

function isPlainObject(v: object): v is Record<string, unknown> {
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function describe(v: object): string {
  const ctor: unknown = (v as { constructor?: unknown }).constructor;
  return typeof ctor === 'function' && ctor.name !== '' ? ctor.name : 'object';
}

function tooDeep(): JsonValueError {
  return new JsonValueError(`nesting deeper than ${MAX_JSON_DEPTH} (or a cycle)`);
}

/**
 * True as soon as `v` is found to hold what JSON.stringify cannot write our way (bigint,
 * binary, an escaped string). Costs ~20% of a JSON.stringify; a replacer costs 150%.
 */
function needsSlowPath(v: unknown, depth: number, o: StringifyOptions): boolean {
  switch (typeof v) {
    case 'object':
      break;
    case 'bigint':
      // the WAMP data model stops at 64 bits (lib/wamp/wire-scan.ts refuses wider input)
      if (o.strict && (v < INT64_MIN || v > UINT64_MAX)) throw new JsonValueError('integer beyond 64 bits');
      return true;
    case 'string':
      return o.escapeNul === true && v.charCodeAt(0) === 0;
    case 'symbol':
    case 'function':
      if (o.strict) throw new JsonValueError(`cannot encode ${typeof v}`);
      return false;
    default: // number, boolean; undefined follows JSON.stringify's own rule
      return false;
  }
  if (v === null) return false;
  if (depth > MAX_JSON_DEPTH) throw tooDeep();
  if (Array.isArray(v)) {
    const a = v as unknown[];
    for (let i = 0; i < a.length; i++) if (needsSlowPath(a[i], depth + 1, o)) return true;
    return false;
  }
  if (v instanceof Uint8Array) return true;
  if (!isPlainObject(v)) {
    if (o.strict) throw new JsonValueError(`cannot encode ${describe(v)}`);
    return false;
  }
  for (const k in v) if (needsSlowPath(v[k], depth + 1, o)) return true;
  return false;
}

function stringifySlow(v: unknown, depth: number, o: StringifyOptions): string | undefined {
  switch (typeof v) {
    case 'object':
      break;
    case 'bigint':
      if (o.strict && (v < INT64_MIN || v > UINT64_MAX)) throw new JsonValueError('integer beyond 64 bits');
      return v.toString();
    case 'string':
      return JSON.stringify(o.escapeNul === true && v.charCodeAt(0) === 0 ? '\0' + v : v);
    case 'symbol':
    case 'function':
      if (o.strict) throw new JsonValueError(`cannot encode ${typeof v}`);
      return undefined;
    default:
      // numbers (non-finite -> null, -0 -> 0), booleans, undefined: as JSON.stringify
      return JSON.stringify(v);
  }
  if (v === null) return 'null';
  if (depth > MAX_JSON_DEPTH) throw tooDeep();
  if (Array.isArray(v)) {
    return '[' + (v as unknown[]).map((x) => stringifySlow(x, depth + 1, o) ?? 'null').join(',') + ']';
  }
  if (v instanceof Uint8Array) return JSON.stringify(binaryToJsonString(v));
  if (!isPlainObject(v)) {
    if (o.strict) throw new JsonValueError(`cannot encode ${describe(v)}`);
    return JSON.stringify(v);
  }
  const parts: string[] = [];
  for (const k in v) {
    const s = stringifySlow(v[k], depth + 1, o);
    if (s !== undefined) parts.push(JSON.stringify(k) + ':' + s);
  }
  return '{' + parts.join(',') + '}';
}

/** WAMP advanced, Binary support in JSON: "\0" + base64 (RFC 4648 §4). */
export function binaryToJsonString(u8: Uint8Array): string {
  const b = Buffer.isBuffer(u8) ? u8 : Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
  return '\0' + b.toString('base64');
}

// ---------------------------------------------------------------------------------
// Reading

const MAX_EXACT = 2n ** 53n;
const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;

/** JSON.parse, with integers past ±2^53 that fit 64 bits as bigint. Throws SyntaxError. */
export function parseExact(text: string): unknown {
  const value: unknown = JSON.parse(text);
  if (!hasDigitRun16(text)) return value;
  try {
    return new ExactReader(text).document();
  } catch (err) {
    // nested past the bound: keep JSON.parse's reading (rounded) rather than fail
    if (err instanceof JsonValueError) return value;
    throw err;
  }
}

/**
 * Whether the text holds 16 digits in a row (the shortest integer past 2^53 has 16).
 * Looks at every 16th character while it is not a digit, so it costs a fraction of a
 * regular expression (/[0-9]{16}/ tries each position) on the hot path.
 */
export function hasDigitRun16(s: string): boolean {
  const n = s.length;
  let end = 15; // the last character of a run that could still be there
  while (end < n) {
    if (!isDigit(s.charCodeAt(end))) {
      end += 16; // every window holding this character is broken
      continue;
    }
    let j = end - 1;
    while (j > end - 16 && isDigit(s.charCodeAt(j))) j--;
    if (j === end - 16) return true;
    end = j + 16; // s[j] is not a digit: the next run can end 16 past it at the earliest
  }
  return false;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** An integer literal's value under the rule: number within ±2^53, bigint within 64 bits. */
function integerValue(literal: string): number | bigint {
  // 2^64-1 has 20 digits, -2^63 a sign and 19: anything longer is past 64 bits, and is
  // not handed to BigInt (a megabyte of digits would cost it seconds of event loop)
  if (literal.length > 20 + (literal.charCodeAt(0) === 0x2d ? 1 : 0)) return Number(literal);
  const n = BigInt(literal);
  if (n <= MAX_EXACT && n >= -MAX_EXACT) return Number(n);
  // beyond 64 bits no WAMP serializer has an integer for it: a number, as JSON.parse reads it
  return n >= INT64_MIN && n <= UINT64_MAX ? n : Number(literal);
}

/**
 * Reads text JSON.parse has already accepted, so it checks nothing: one linear pass,
 * strings decoded by JSON.parse itself, objects built as JSON.parse builds them (the
 * last of duplicate keys wins, "__proto__" is an own key).
 */
class ExactReader {
  private i = 0;

  constructor(private readonly s: string) {}

  document(): unknown {
    return this.value(0);
  }

  private skipSpace(): void {
    const s = this.s;
    let c = s.charCodeAt(this.i);
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = s.charCodeAt(++this.i);
  }

  private value(depth: number): unknown {
    this.skipSpace();
    const c = this.s.charCodeAt(this.i);
    if (c === 0x22) return this.string();
    if (c === 0x7b) return this.object(depth + 1);
    if (c === 0x5b) return this.array(depth + 1);
    if (c === 0x74) return ((this.i += 4), true);
    if (c === 0x66) return ((this.i += 5), false);
    if (c === 0x6e) return ((this.i += 4), null);
    return this.number();
  }

  private string(): string {
    const s = this.s;
    const start = this.i;
    let i = start + 1;
    for (;;) {
      const c = s.charCodeAt(i);
      if (c === 0x5c) i += 2;
      else if (c === 0x22) break;
      else i++;
    }
    this.i = i + 1;
    const raw = s.slice(start + 1, i);
    return raw.includes('\\') ? (JSON.parse(s.slice(start, i + 1)) as string) : raw;
  }

  private number(): number | bigint {
    const s = this.s;
    const start = this.i;
    let integer = true;
    let i = start;
    for (;;) {
      const c = s.charCodeAt(i);
      if (c >= 0x30 && c <= 0x39) i++;
      else if (c === 0x2d || c === 0x2b) i++;
      else if (c === 0x2e || c === 0x65 || c === 0x45) {
        integer = false;
        i++;
      } else break;
    }
    this.i = i;
    const literal = s.slice(start, i);
    // 16 characters with a sign is 15 digits: always exact
    return integer && literal.length >= 16 ? integerValue(literal) : Number(literal);
  }

  private array(depth: number): unknown[] {
    if (depth > MAX_JSON_DEPTH) throw tooDeep();
    this.i++;
    const out: unknown[] = [];
    this.skipSpace();
    if (this.s.charCodeAt(this.i) === 0x5d) {
      this.i++;
      return out;
    }
    for (;;) {
      out.push(this.value(depth));
      this.skipSpace();
      if (this.s.charCodeAt(this.i++) === 0x5d) return out; // else ','
    }
  }

  private object(depth: number): Record<string, unknown> {
    if (depth > MAX_JSON_DEPTH) throw tooDeep();
    this.i++;
    const out: Record<string, unknown> = {};
    this.skipSpace();
    if (this.s.charCodeAt(this.i) === 0x7d) {
      this.i++;
      return out;
    }
    for (;;) {
      this.skipSpace();
      const key = this.string();
      this.skipSpace();
      this.i++; // ':'
      const v = this.value(depth);
      if (key === '__proto__') {
        // assignment would run Object.prototype's setter; JSON.parse makes an own key
        Object.defineProperty(out, key, { value: v, writable: true, enumerable: true, configurable: true });
      } else {
        out[key] = v;
      }
      this.skipSpace();
      if (this.s.charCodeAt(this.i++) === 0x7d) return out; // else ','
    }
  }
}
