import type { MessageHeaders } from './headers';

/**
 * When a message body is text (README "Payloads across protocols", issue 15). Most IoT
 * payloads are text that is not JSON (`on`, `21.5 C`); the headers say so:
 * - content type `text/*` (charset absent, utf-8 or us-ascii): the body is text, a
 *   string for WAMP, even when it would parse as JSON;
 * - MQTT 5 payload format indicator 1 (MQTT 5 §3.3.2.3.2: UTF-8 encoded character data)
 *   without a JSON content type: a JSON document is read as JSON, any other UTF-8 body as
 *   a string;
 * - otherwise: JSON when it is a JSON document, else bytes (as before).
 */
export type BodyReading = 'json' | 'utf8' | 'text';

export function bodyReading(h: MessageHeaders | undefined): BodyReading {
  if (h === undefined) return 'json';
  const ct = h.contentType;
  if (ct !== undefined) {
    if (isUtf8Text(ct)) return 'text';
    if (isJsonType(ct)) return 'json';
  }
  return h.utf8 === true ? 'utf8' : 'json';
}

/**
 * Whether a single string argument leaves as its bare UTF-8 text rather than a JSON
 * string literal: the same headers that make a body read as a string (so the round trip
 * MQTT text -> WAMP string -> MQTT text is lossless).
 */
export function writesAsText(h: MessageHeaders | undefined): boolean {
  return h !== undefined && bodyReading(h) !== 'json';
}

function mediaType(ct: string): string {
  const semi = ct.indexOf(';');
  return (semi < 0 ? ct : ct.slice(0, semi)).trim().toLowerCase();
}

function isJsonType(ct: string): boolean {
  const t = mediaType(ct);
  return t === 'application/json' || t.endsWith('+json');
}

const UTF8_CHARSET = /;\s*charset\s*=\s*"?([^";\s]+)/i;

function isUtf8Text(ct: string): boolean {
  if (!mediaType(ct).startsWith('text/')) return false;
  const m = UTF8_CHARSET.exec(ct);
  if (m === null) return true; // RFC 2046 §4.1.2: US-ASCII by default, a subset of UTF-8
  const cs = (m[1] ?? '').toLowerCase();
  return cs === 'utf-8' || cs === 'utf8' || cs === 'us-ascii';
}
