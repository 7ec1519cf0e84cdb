import type { IPublishPacket } from 'mqtt-packet';
import type { MessageHeaders } from '../headers';

/**
 * MQTT 5 PUBLISH properties <-> core message headers: the one mapping, used by the MQTT
 * gate (gates/mqtt) and the MQTT link (lib/links/mqtt-transport.ts), so a message
 * crosses a link as it crosses the gate. The response topic is the caller's: the gate
 * and the link each turn it into a topic of their own notation.
 */

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
export function headersToMqtt(
  h: MessageHeaders | undefined,
  now: number,
  responseTopic: string | undefined,
): NonNullable<IPublishPacket['properties']> | null {
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
