import type { MessageHeaders } from './headers';
import { stringifyExact } from './json-exact';
import type { Payload } from './payload';
import { payloadFromBytes } from './payload-bytes';
import { writesAsText } from './payload-text';

/**
 * Core payload <-> a message body of a bytes protocol (MQTT and STOMP, README
 * "Payloads across protocols"). A payload that came as bytes leaves as those exact
 * bytes. A single string argument of a message whose headers say text (content type
 * text/*, or the MQTT 5 payload format indicator without a JSON content type) leaves as
 * its bare UTF-8 text. Other structured payloads are written as JSON: one argument as
 * itself, several as a JSON array, ArgumentsKw alone as a JSON object, both as
 * {"args": [...], "kwargs": {...}}; a single binary argument leaves as raw bytes.
 * Inside JSON, binary values are "\u0000" + base64, as WAMP's JSON serializer writes
 * them, and 64-bit integers are numbers with all their digits (lib/json-exact.ts).
 */
export function payloadToBody(p: Payload, h?: MessageHeaders): { body: Buffer; json: boolean } {
  if (p.bytes !== undefined) return { body: asBuffer(p.bytes), json: false };
  const { args, kwargs } = p;
  if (kwargs !== undefined && Object.keys(kwargs).length > 0) {
    return { body: json(args && args.length > 0 ? { args, kwargs } : kwargs), json: true };
  }
  if (!args || args.length === 0) return { body: EMPTY, json: false };
  if (args.length === 1) {
    const v = args[0];
    if (v instanceof Uint8Array) return { body: asBuffer(v), json: false };
    if (typeof v === 'string' && writesAsText(h)) return { body: Buffer.from(v, 'utf8'), json: false };
    return { body: json(v), json: true };
  }
  return { body: json(args), json: true };
}

/**
 * The arguments of a call made from a message body (MQTT `$rpc/`, STOMP `/rpc/`): a JSON
 * array is the Arguments list, a JSON object the ArgumentsKw, any other JSON value one
 * argument, other bytes one binary argument, an empty body none. Text (by the same
 * headers as for a publication) is one string argument.
 */
export function argumentsFromBody(bytes: Uint8Array, h?: MessageHeaders): Payload {
  if (bytes.length === 0) return {};
  const parsed = payloadFromBytes(bytes, h).args;
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
  return Buffer.from(stringifyExact(v) ?? 'null');
}
