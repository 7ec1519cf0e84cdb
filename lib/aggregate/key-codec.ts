/**
 * Primary keys as order-preserving bytes: comparing two encoded keys with memcmp (what
 * SQLite does for BLOBs) orders them like their field tuples. A number is its float64
 * with the sign bit flipped (negatives: every bit flipped); a string is its UTF-8 bytes
 * with 0x00 escaped as 0x00 0xFF, ended by 0x00 0x01. Each field's encoding is
 * prefix-free, so the keys sharing leading fields are exactly one byte range.
 */
import type { KeyType, Row } from './types';

const STRING_END = Buffer.from([0x00, 0x01]);
/** above every key: a key's first two bytes are at most 0xFF 0xF0 (+Infinity) */
export const KEY_MAX = Buffer.from([0xff, 0xff, 0xff]);
export const KEY_MIN = Buffer.alloc(0);

function encodeNumber(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(n === 0 ? 0 : n); // -0 and 0 are one key
  if ((b[0] as number) & 0x80) {
    for (let i = 0; i < 8; i++) b[i] = ~(b[i] as number) & 0xff;
  } else {
    b[0] = (b[0] as number) | 0x80;
  }
  return b;
}

function encodeString(s: string): Buffer {
  const raw = Buffer.from(s, 'utf8');
  if (!raw.includes(0)) return Buffer.concat([raw, STRING_END]);
  const out: number[] = [];
  for (const byte of raw) {
    out.push(byte);
    if (byte === 0) out.push(0xff);
  }
  return Buffer.concat([Buffer.from(out), STRING_END]);
}

/** The encoded key of `values` (already checked to have the key's types). */
export function encodeKey(types: readonly KeyType[], values: readonly unknown[]): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    parts.push(types[i] === 'number' ? encodeNumber(v as number) : encodeString(v as string));
  }
  return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
}

/** Does `v` fit a key field of this type? */
export function fitsKey(type: KeyType | undefined, v: unknown): boolean {
  return type === 'number' ? typeof v === 'number' && Number.isFinite(v) : type === 'string' && typeof v === 'string';
}

/** The key values of `row`, by field name, or undefined when one is missing or mistyped. */
export function keyValues(fields: readonly string[], types: readonly KeyType[], row: Row): unknown[] | undefined {
  const values: unknown[] = [];
  for (let i = 0; i < fields.length; i++) {
    const v = row[fields[i] as string];
    if (!fitsKey(types[i], v)) return undefined;
    values.push(v);
  }
  return values;
}

/** The smallest byte string above every string that starts with `prefix`. */
export function prefixEnd(prefix: Buffer): Buffer {
  let end = prefix.length;
  while (end > 0 && prefix[end - 1] === 0xff) end--;
  if (end === 0) return KEY_MAX;
  const out = Buffer.from(prefix.subarray(0, end));
  out[end - 1] = (out[end - 1] as number) + 1;
  return out;
}

/** Paging cursors are encoded keys, opaque to clients. */
export function cursorOf(key: Buffer): string {
  return key.toString('base64url');
}

export function keyFromCursor(cursor: string): Buffer | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(cursor)) return undefined;
  return Buffer.from(cursor, 'base64url');
}
