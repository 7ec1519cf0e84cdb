import type { Payload } from './payload';
import { payloadFromBytes } from './payload-bytes';

/**
 * Core payload <-> a message body of a bytes protocol (STOMP; the same rule as the MQTT
 * gate's, README "Payloads and headers"). A payload that came as bytes leaves as those
 * exact bytes. Structured payloads are written as JSON: one argument as itself, several
 * as a JSON array, ArgumentsKw alone as a JSON object, both as
 * {"args": [...], "kwargs": {...}}; a single binary argument leaves as raw bytes.
 * Binary values inside JSON are "\u0000" + base64, as WAMP's JSON serializer writes them.
 */
export function payloadToBody(p: Payload): { body: Buffer; json: boolean } {
  if (p.bytes !== undefined) return { body: asBuffer(p.bytes), json: false };
  const { args, kwargs } = p;
  if (kwargs !== undefined && Object.keys(kwargs).length > 0) {
    return { body: json(args && args.length > 0 ? { args, kwargs } : kwargs), json: true };
  }
  if (!args || args.length === 0) return { body: EMPTY, json: false };
  if (args.length === 1) {
    const v = args[0];
    return v instanceof Uint8Array ? { body: asBuffer(v), json: false } : { body: json(v), json: true };
  }
  return { body: json(args), json: true };
}

/**
 * The arguments of a call made from a message body (STOMP `/rpc/...`): a JSON array is
 * the Arguments list, a JSON object the ArgumentsKw, any other JSON value one argument,
 * other bytes one binary argument, an empty body none.
 */
export function argumentsFromBody(bytes: Uint8Array): Payload {
  if (bytes.length === 0) return {};
  const parsed = payloadFromBytes(bytes).args;
  if (parsed === undefined) return { args: [bytes] };
  const value = parsed[0];
  if (Array.isArray(value)) return { args: value as unknown[] };
  if (typeof value === 'object' && value !== null) return { kwargs: value as Record<string, unknown> };
  return { args: [value] };
}

const EMPTY = Buffer.alloc(0);

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

function json(v: unknown): Buffer {
  return Buffer.from(
    JSON.stringify(v, (_k, x: unknown) => {
      if (x instanceof Uint8Array) return '\u0000' + Buffer.from(x).toString('base64');
      if (isSerializedBuffer(x)) return '\u0000' + Buffer.from(x.data).toString('base64');
      return x;
    }) ?? 'null',
  );
}

/** Buffer.prototype.toJSON has run before the replacer sees a Buffer. */
function isSerializedBuffer(x: unknown): x is { type: 'Buffer'; data: number[] } {
  return (
    typeof x === 'object' &&
    x !== null &&
    (x as { type?: unknown }).type === 'Buffer' &&
    Array.isArray((x as { data?: unknown }).data)
  );
}
