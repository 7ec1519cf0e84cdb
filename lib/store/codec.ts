import { Packr } from 'msgpackr';
import { Errors, RouterError } from '../errors';
import { isPlainObject, type Payload } from '../payload';

/**
 * How stored payloads are encoded. Plain MessagePack (no msgpackr records, so any
 * MessagePack reader can decode a row): binary stays binary, so `bytes` and any
 * Uint8Array inside args/kwargs round-trip exactly (they come back as Buffers, a
 * Uint8Array subclass). 64-bit integers decode as numbers, like every other integer
 * the router handles.
 */
const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

/**
 * Encodes a payload for storage. Throws `invalid_argument` for a value MessagePack
 * cannot carry (a symbol, a cyclic structure), so a bad value fails its own write and
 * never the group commit it would have joined.
 */
export function encodePayload(value: Payload): Buffer {
  if (!isPlainObject(value)) {
    throw new RouterError(Errors.invalidArgument, 'stored value must be a payload object');
  }
  try {
    // pack() returns a view on a slab that msgpackr never writes over again, so
    // holding it until the commit is safe
    return packr.pack(value);
  } catch (err) {
    throw new RouterError(Errors.invalidArgument, `value cannot be stored: ${(err as Error).message}`);
  }
}

export function decodePayload(data: Uint8Array): Payload {
  const value: unknown = packr.unpack(data);
  if (!isPlainObject(value)) throw new Error('stored value is not a payload object');
  return value as Payload;
}
