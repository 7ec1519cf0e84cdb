import type { Payload } from './payload';

/**
 * The value a payload stands for in conditions and filters (fox-wamp semantics):
 * Arguments with one element is that element, more elements the list, none (or no
 * Arguments) is null. ArgumentsKw are headers and do not count; opaque bytes are their
 * own value. A retained publish whose value is null deletes the key.
 */
export function valueOf(p: Payload): unknown {
  const args = p.args;
  if (args && args.length > 0) return args.length === 1 ? args[0] : args;
  if (p.bytes && p.bytes.length > 0) return p.bytes;
  return null;
}

/**
 * Whether a retained publish of this payload deletes the key. A payload that came as
 * bytes (MQTT, STOMP) deletes only when it has no bytes at all [MQTT-3.3.1-10]: the four
 * bytes `null` are a value. A structured payload deletes when its value is empty.
 */
export function isEmptyValue(p: Payload): boolean {
  if (p.bytes !== undefined && p.kwargs === undefined) return p.bytes.length === 0;
  return valueOf(p) === null;
}

/**
 * Partial match: `null` matches only null; an object matches when every field it
 * names matches, recursively (extra fields in the value are fine); anything else
 * compares by value. Arrays match element by element at the given indexes.
 */
export function conditionHolds(condition: unknown, value: unknown): boolean {
  if (condition === null || condition === undefined) return value === null || value === undefined;
  if (value === null || value === undefined) return false;
  if (typeof condition === 'object') {
    if (typeof value !== 'object') return false;
    if (condition instanceof Uint8Array) {
      return value instanceof Uint8Array && Buffer.compare(Buffer.from(condition), Buffer.from(value)) === 0;
    }
    const v = value as Record<string, unknown>;
    for (const [k, c] of Object.entries(condition as Record<string, unknown>)) {
      if (!(k in v) || !conditionHolds(c, v[k])) return false;
    }
    return true;
  }
  return condition === value;
}
