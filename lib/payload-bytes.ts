import type { Payload } from './payload';

/**
 * A payload that arrived as bytes (an MQTT or STOMP body, a stored value). Structured
 * readers (a WAMP subscriber, a `when` condition, a filter) see `args: [value]` when the
 * bytes are a JSON document, parsed once, on first use; everyone else gets the exact
 * bytes. Bytes that are not JSON are never parsed into anything: `args` stays
 * undefined and they travel as bytes.
 */
export function payloadFromBytes(bytes: Uint8Array): Payload {
  let parsed: unknown[] | null | undefined;
  const p: Payload = { bytes };
  Object.defineProperty(p, 'args', {
    // not enumerable: copies and the store see the bytes, not a parsed twin
    enumerable: false,
    get(): unknown[] | undefined {
      if (parsed === undefined) parsed = parseJsonDocument(bytes);
      return parsed ?? undefined;
    },
  });
  return p;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/** [value] when the bytes are one UTF-8 JSON document, else null. */
function parseJsonDocument(bytes: Uint8Array): unknown[] | null {
  if (bytes.length === 0 || !looksLikeJson(bytes)) return null;
  try {
    return [JSON.parse(decoder.decode(bytes)) as unknown];
  } catch {
    return null;
  }
}

/** Cheap first-byte check, so most binary payloads skip the decoder and the parser. */
function looksLikeJson(bytes: Uint8Array): boolean {
  for (const b of bytes) {
    if (b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d) continue;
    // { [ " - 0-9 t f n
    return b === 0x7b || b === 0x5b || b === 0x22 || b === 0x2d || (b >= 0x30 && b <= 0x39) || b === 0x74 || b === 0x66 || b === 0x6e;
  }
  return false;
}
