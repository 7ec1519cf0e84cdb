/**
 * Message headers that travel with an event whatever protocol carries it: MQTT 5
 * publish properties, STOMP headers, WAMP details. Each gate maps its own names to
 * these and back (see README, "Payloads and headers").
 */
export interface MessageHeaders {
  /** MQTT 5 content type / STOMP content-type */
  contentType?: string;
  /** MQTT 5 payload format indicator: true = UTF-8 text */
  utf8?: boolean;
  /** request/response: where the answer goes (canonical topic) */
  responseTopic?: string;
  correlationData?: Uint8Array;
  /** MQTT 5 user properties / STOMP custom headers / WAMP details.user_properties */
  userProperties?: Record<string, string | string[]>;
  /** epoch ms after which the message must not be delivered (MQTT 5 message expiry) */
  expiresAt?: number;
}
