// WAMP message type codes and the guards that check a decoded message's fields: shared by
// the WAMP gate (gates/wamp/) and the link's WAMP client (lib/links/wamp-client.ts).

/** WAMP message type codes (WAMP basic + advanced profile). */
export const Msg = {
  HELLO: 1,
  WELCOME: 2,
  ABORT: 3,
  CHALLENGE: 4,
  AUTHENTICATE: 5,
  GOODBYE: 6,
  ERROR: 8,
  PUBLISH: 16,
  PUBLISHED: 17,
  SUBSCRIBE: 32,
  SUBSCRIBED: 33,
  UNSUBSCRIBE: 34,
  UNSUBSCRIBED: 35,
  EVENT: 36,
  CALL: 48,
  CANCEL: 49,
  RESULT: 50,
  REGISTER: 64,
  REGISTERED: 65,
  UNREGISTER: 66,
  UNREGISTERED: 67,
  INVOCATION: 68,
  INTERRUPT: 69,
  YIELD: 70,
} as const;

/** Thrown by the guards below: the message is malformed and the session must abort. */
export class ProtocolViolation extends Error {}

const MAX_ID = 2 ** 53;

/** A WAMP ID: an integer in [1, 2^53] (WAMP basic profile, "IDs"). */
export function id(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_ID) {
    throw new ProtocolViolation(`${what} must be an ID`);
  }
  return v;
}

export function dict(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) {
    throw new ProtocolViolation(`${what} must be a dict`);
  }
  return v as Record<string, unknown>;
}

export function str(v: unknown, what: string): string {
  if (typeof v !== 'string') throw new ProtocolViolation(`${what} must be a string`);
  return v;
}

/** Optional Arguments|list and ArgumentsKw|dict at positions i and i+1. */
export function payloadAt(msg: unknown[], i: number): { args?: unknown[]; kwargs?: Record<string, unknown> } {
  if (msg.length > i + 2) throw new ProtocolViolation('too many message elements');
  const out: { args?: unknown[]; kwargs?: Record<string, unknown> } = {};
  const a = msg[i];
  if (a !== undefined) {
    if (!Array.isArray(a)) throw new ProtocolViolation('Arguments must be a list');
    out.args = a;
  }
  const k = msg[i + 1];
  if (k !== undefined) out.kwargs = dict(k, 'ArgumentsKw');
  return out;
}

/** Checks the element count of a message without payload. */
export function arity(msg: unknown[], n: number, name: string): void {
  if (msg.length !== n) throw new ProtocolViolation(`${name} must have ${n} elements`);
}

export function arityRange(msg: unknown[], min: number, max: number, name: string): void {
  if (msg.length < min || msg.length > max) throw new ProtocolViolation(`${name} must have ${min} to ${max} elements`);
}
