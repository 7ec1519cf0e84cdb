import type { MessageHeaders } from '../../lib/headers';
import type { Payload } from '../../lib/payload';
import { payloadToBody } from '../../lib/payload-body';
import { payloadFromBytes } from '../../lib/payload-bytes';

/**
 * MQTT <-> core payloads and properties. An MQTT body is bytes: other gates see
 * `args: [value]` when it is a JSON document, `args: [text]` when the content type is
 * text/* or the payload format indicator is 1 and it is not JSON, the bytes otherwise
 * (lib/payload-bytes.ts). Going out, a payload that came as bytes leaves as those exact
 * bytes; a string with a text content type as its text; other structured payloads as
 * JSON: one argument as itself, several as a JSON array, ArgumentsKw alone as a JSON
 * object, both as {"args": [...], "kwargs": {...}}. A single binary argument leaves as
 * raw bytes.
 */
export function payloadFromMqtt(body: Buffer | string, headers: MessageHeaders | undefined): Payload {
  return payloadFromBytes(typeof body === 'string' ? Buffer.from(body) : body, headers);
}

/** The body an MQTT subscriber gets (the rule is lib/payload-body.ts, shared with STOMP). */
export function payloadToMqtt(p: Payload, headers: MessageHeaders | undefined): Buffer {
  return payloadToBody(p, headers).body;
}
