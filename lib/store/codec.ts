import { Packr } from 'msgpackr';
import { Errors, RouterError } from '../errors';
import type { MessageHeaders } from '../headers';
import { isPlainObject, type Payload } from '../payload';
import { payloadFromBytes } from '../payload-bytes';

/**
 * How stored payloads are encoded. Plain MessagePack (no msgpackr records, so any
 * MessagePack reader can decode a row): binary stays binary, so `bytes` and any
 * Uint8Array inside args/kwargs round-trip exactly (they come back as Buffers, a
 * Uint8Array subclass). A bigint (a 64-bit integer past 2^53 from a msgpack or CBOR
 * peer) is written as a 64-bit integer and comes back as that bigint; 64-bit integers
 * within ±2^53 decode as numbers, like every other integer the router handles.
 */
const packr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  // 'auto' is implemented by msgpackr 2.x but missing from its typings
  int64AsType: 'auto' as 'number',
});

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

/** Decodes a stored payload; throws if the bytes do not hold one (a damaged row). */
export function decodePayload(data: Uint8Array, headers?: MessageHeaders): Payload {
  const value: unknown = packr.unpack(data);
  if (!isStoredPayload(value)) throw new RouterError(Errors.storeCorrupt, 'stored value is not a payload');
  // a value stored as bytes gets its lazy JSON view back (lib/payload-bytes.ts)
  if (value.bytes !== undefined && value.args === undefined && value.kwargs === undefined && value.passthru === undefined) {
    return payloadFromBytes(value.bytes, headers);
  }
  return value;
}

function isStoredPayload(v: unknown): v is Payload {
  return (
    isPlainObject(v) &&
    (v.args === undefined || Array.isArray(v.args)) &&
    (v.kwargs === undefined || isPlainObject(v.kwargs)) &&
    (v.bytes === undefined || v.bytes instanceof Uint8Array) &&
    (v.passthru === undefined || (isPlainObject(v.passthru) && typeof v.passthru.scheme === 'string'))
  );
}

/**
 * A stored value with its writer's meta (StoreEntry.meta). Without meta the row holds the
 * payload alone, as before; with it, an envelope marked by a key no payload has.
 */
const META = '\u0000meta';

export function encodeStoredValue(value: Payload, meta: Readonly<Record<string, unknown>> | undefined): Buffer {
  if (meta === undefined) return encodePayload(value);
  encodePayload(value); // validates the payload as a plain stored value would be
  try {
    return packr.pack({ [META]: meta, payload: { ...value } });
  } catch (err) {
    throw new RouterError(Errors.invalidArgument, `value cannot be stored: ${(err as Error).message}`);
  }
}

export function decodeStoredValue(data: Uint8Array): { value: Payload; meta?: Readonly<Record<string, unknown>> } {
  const raw: unknown = packr.unpack(data);
  if (isPlainObject(raw) && isPlainObject(raw[META])) {
    // a text body is read as text again (lib/payload-text.ts): its headers are in the meta
    const headers = raw[META]['headers'];
    return { value: decodePayload(packr.pack(raw['payload']), isPlainObject(headers) ? headers : undefined), meta: raw[META] };
  }
  return { value: decodePayload(data) };
}
