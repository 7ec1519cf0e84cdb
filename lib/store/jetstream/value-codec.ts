import { Errors, RouterError } from '../../errors';
import type { Payload } from '../../payload';
import { decodeStoredValue, encodeStoredValue } from '../codec';
import type { KvEntry, KvPutOptions } from '../kv-engine';

/**
 * A stored KV value: one flag byte, then (flag 1) the expiry as a float64 of epoch ms,
 * then the payload as the SQLite engine stores it (codec.ts, meta included). The expiry
 * lives in the value because nats-server 2.9 has no per-key TTL (Nats-TTL is 2.11).
 */
const PLAIN = 0;
const EXPIRES = 1;

export function encodeValue(value: Payload, opts: KvPutOptions | undefined): Uint8Array {
  const body = encodeStoredValue(value, opts?.meta);
  const ttlMs = opts?.ttlMs;
  if (ttlMs === undefined) {
    const out = new Uint8Array(body.length + 1);
    out[0] = PLAIN;
    out.set(body, 1);
    return out;
  }
  if (!(Number.isFinite(ttlMs) && ttlMs > 0)) {
    throw new RouterError(Errors.invalidArgument, 'ttlMs must be a positive number');
  }
  const out = new Uint8Array(body.length + 9);
  out[0] = EXPIRES;
  new DataView(out.buffer).setFloat64(1, Date.now() + ttlMs);
  out.set(body, 9);
  return out;
}

export function decodeValue(data: Uint8Array): Pick<KvEntry, 'value' | 'meta' | 'expiresAt'> {
  const flag = data[0];
  if (flag === PLAIN) return decodeStoredValue(data.subarray(1));
  if (flag === EXPIRES) {
    const expiresAt = new DataView(data.buffer, data.byteOffset, data.byteLength).getFloat64(1);
    return { ...decodeStoredValue(data.subarray(9)), expiresAt };
  }
  throw new RouterError(Errors.storeCorrupt, `stored KV value has an unknown format (${String(flag)})`);
}
