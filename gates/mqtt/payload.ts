import type { IPublishPacket } from 'mqtt-packet';
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

/** MQTT 5 PUBLISH properties -> core headers (the topic alias is the gate's own business). */
export function headersFromMqtt(props: IPublishPacket['properties'], now: number): MessageHeaders | undefined {
  if (!props) return undefined;
  const h: MessageHeaders = {};
  if (props.contentType !== undefined) h.contentType = props.contentType;
  if (props.payloadFormatIndicator !== undefined) h.utf8 = props.payloadFormatIndicator;
  if (props.correlationData !== undefined) h.correlationData = props.correlationData;
  if (props.userProperties !== undefined) h.userProperties = props.userProperties;
  if (props.messageExpiryInterval !== undefined) h.expiresAt = now + props.messageExpiryInterval * 1000;
  return Object.keys(h).length > 0 ? h : undefined;
}

/** Core headers -> MQTT 5 PUBLISH properties; undefined when expired. */
export function headersToMqtt(h: MessageHeaders | undefined, now: number, responseTopic: string | undefined): NonNullable<IPublishPacket['properties']> | null {
  const props: NonNullable<IPublishPacket['properties']> = {};
  if (h) {
    if (h.expiresAt !== undefined) {
      const left = Math.ceil((h.expiresAt - now) / 1000);
      if (left <= 0) return null;
      // [MQTT-3.3.2-6] the interval sent on is what is left of it
      props.messageExpiryInterval = left;
    }
    if (h.contentType !== undefined) props.contentType = h.contentType;
    if (h.utf8 !== undefined) props.payloadFormatIndicator = h.utf8;
    if (h.correlationData !== undefined) props.correlationData = Buffer.from(h.correlationData);
    // none at all rather than an empty list: mqtt-packet cannot encode an empty one
    if (h.userProperties !== undefined && Object.keys(h.userProperties).length > 0) props.userProperties = h.userProperties;
  }
  if (responseTopic !== undefined) props.responseTopic = responseTopic;
  return props;
}
