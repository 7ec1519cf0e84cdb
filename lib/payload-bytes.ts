import type { MessageHeaders } from './headers';
import { parseExact } from './json-exact';
import type { Payload } from './payload';
import { bodyReading } from './payload-text';

/**
 * A payload that arrived as bytes (an MQTT or STOMP body, a stored value). Structured
 * readers (a WAMP subscriber, a `when` condition, a filter) see `args: [value]` when the
 * bytes are a JSON document (integers past 2^53 exact, lib/json-exact.ts), or
 * `args: [text]` when the headers say the body is text (lib/payload-text.ts), parsed
 * once, on first use; everyone else gets the exact bytes. Bytes that are neither are
 * never parsed into anything: `args` stays undefined and they travel as bytes.
 */
export function payloadFromBytes(bytes: Uint8Array, headers?: MessageHeaders): Payload {
  switch (bodyReading(headers)) {
    case 'json':
      return new BytesPayload(bytes);
    case 'utf8':
      return new Utf8Payload(bytes);
    case 'text':
      return new TextPayload(bytes);
  }
}

/** parsed views, kept off the object so it compares and copies as `{ bytes }` */
const parsedViews = new WeakMap<BytesPayload, unknown[] | null>();

/**
 * The getter lives on the prototype: not an own property, so copies, the store's
 * encoder and Object.keys see only `bytes`; and no per-message defineProperty (which a
 * profile of the MQTT QoS 1 path showed at 8% of the router's time). The reading (JSON,
 * UTF-8, text) is the class, for the same reason.
 */
class BytesPayload implements Payload {
  constructor(readonly bytes: Uint8Array) {}

  get args(): unknown[] | undefined {
    let parsed = parsedViews.get(this);
    if (parsed === undefined) {
      parsed = this.parse();
      parsedViews.set(this, parsed);
    }
    return parsed ?? undefined;
  }

  protected parse(): unknown[] | null {
    return parseJsonDocument(this.bytes);
  }
}

/** MQTT 5 payload format indicator 1: JSON when it is JSON, else the text. */
class Utf8Payload extends BytesPayload {
  protected override parse(): unknown[] | null {
    return parseJsonDocument(this.bytes) ?? text(this.bytes);
  }
}

/** Content type text/*: the text, whatever it looks like. */
class TextPayload extends BytesPayload {
  protected override parse(): unknown[] | null {
    return text(this.bytes);
  }
}

const decoder = new TextDecoder('utf-8', { fatal: true });
// text keeps a byte order mark, so it leaves as the bytes it came as
const textDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** [text] when the bytes are UTF-8, else null (they stay bytes). */
function text(bytes: Uint8Array): unknown[] | null {
  try {
    return [textDecoder.decode(bytes)];
  } catch {
    return null;
  }
}

/** [value] when the bytes are one UTF-8 JSON document, else null. */
function parseJsonDocument(bytes: Uint8Array): unknown[] | null {
  if (bytes.length === 0 || !looksLikeJson(bytes)) return null;
  try {
    return [parseExact(decoder.decode(bytes))];
  } catch {
    return null;
  }
}

/** Cheap first-byte check, so most binary payloads skip the decoder and the parser. */
function looksLikeJson(bytes: Uint8Array): boolean {
  for (const b of bytes) {
    if (b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d) continue;
    // { [ " - 0-9 t f n
    return (
      b === 0x7b || b === 0x5b || b === 0x22 || b === 0x2d || (b >= 0x30 && b <= 0x39) || b === 0x74 || b === 0x66 || b === 0x6e
    );
  }
  return false;
}
