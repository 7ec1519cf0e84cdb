import { Packr } from 'msgpackr';
import { Errors, RouterError } from '../errors';
import { isPlainObject } from '../payload';

/**
 * How the queue store encodes what is not a payload: message attrs and records. The
 * same plain MessagePack as codec.ts (no msgpackr records, so any MessagePack reader
 * can decode a row); binary values come back as Buffers.
 */
const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

export const NO_ATTRS: Readonly<Record<string, unknown>> = Object.freeze({});

/**
 * Encodes any value MessagePack can carry; throws `invalid_argument` otherwise, so a
 * bad value fails its own call and never the group commit it would have joined.
 */
export function encodeValue(value: unknown, what: string): Buffer {
  try {
    return packr.pack(value);
  } catch (err) {
    throw new RouterError(Errors.invalidArgument, `${what} cannot be stored: ${(err as Error).message}`);
  }
}

export function decodeValue(data: Uint8Array): unknown {
  return packr.unpack(data);
}

/** attrs are a plain object; none (or empty) is stored as NULL */
export function encodeAttrs(attrs: Readonly<Record<string, unknown>>): Buffer | null {
  if (!isPlainObject(attrs)) throw new RouterError(Errors.invalidArgument, 'message attrs must be an object');
  for (const _ in attrs) return encodeValue(attrs, 'message attrs');
  return null;
}

/** decodes stored attrs; throws if the bytes do not hold an object (a damaged row) */
export function decodeAttrs(data: Uint8Array | null): Readonly<Record<string, unknown>> {
  if (data === null) return NO_ATTRS;
  const value = packr.unpack(data) as unknown;
  if (!isPlainObject(value)) throw new RouterError(Errors.storeCorrupt, 'stored message attrs are not an object');
  return value;
}
