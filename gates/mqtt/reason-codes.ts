/** MQTT 5 reason codes (MQTT 5.0 §2.4) and the 3.1.1 CONNACK return codes they map to. */
export const RC = {
  SUCCESS: 0x00,
  GRANTED_QOS_1: 0x01,
  GRANTED_QOS_2: 0x02,
  DISCONNECT_WITH_WILL: 0x04,
  NO_MATCHING_SUBSCRIBERS: 0x10,
  NO_SUBSCRIPTION_EXISTED: 0x11,
  UNSPECIFIED_ERROR: 0x80,
  MALFORMED_PACKET: 0x81,
  PROTOCOL_ERROR: 0x82,
  IMPLEMENTATION_SPECIFIC_ERROR: 0x83,
  UNSUPPORTED_PROTOCOL_VERSION: 0x84,
  CLIENT_IDENTIFIER_NOT_VALID: 0x85,
  BAD_USER_NAME_OR_PASSWORD: 0x86,
  NOT_AUTHORIZED: 0x87,
  SERVER_UNAVAILABLE: 0x88,
  SERVER_BUSY: 0x89,
  SERVER_SHUTTING_DOWN: 0x8b,
  KEEP_ALIVE_TIMEOUT: 0x8d,
  SESSION_TAKEN_OVER: 0x8e,
  TOPIC_FILTER_INVALID: 0x8f,
  TOPIC_NAME_INVALID: 0x90,
  PACKET_IDENTIFIER_IN_USE: 0x91,
  PACKET_IDENTIFIER_NOT_FOUND: 0x92,
  RECEIVE_MAXIMUM_EXCEEDED: 0x93,
  TOPIC_ALIAS_INVALID: 0x94,
  PACKET_TOO_LARGE: 0x95,
  MESSAGE_RATE_TOO_HIGH: 0x96,
  QUOTA_EXCEEDED: 0x97,
  ADMINISTRATIVE_ACTION: 0x98,
  PAYLOAD_FORMAT_INVALID: 0x99,
  RETAIN_NOT_SUPPORTED: 0x9a,
  QOS_NOT_SUPPORTED: 0x9b,
  SHARED_SUBSCRIPTIONS_NOT_SUPPORTED: 0x9e,
  SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED: 0xa1,
  WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED: 0xa2,
} as const;

/** MQTT 5 §3.4.2.1 / §3.5.2.1: the reason codes a PUBACK or PUBREC may carry. */
const PUBLISH_ACK_CODES: ReadonlySet<number> = new Set([0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]);

/**
 * The PUBACK/PUBREC form of a refusal: codes a publish ack cannot carry (mqtt-packet
 * would encode nothing) become the nearest it can. A value too large for the retained
 * store is a quota (0x97): 0x95 Packet too large exists only for DISCONNECT.
 */
export function publishAckCode(reason: number): number {
  if (PUBLISH_ACK_CODES.has(reason)) return reason;
  return reason === RC.PACKET_TOO_LARGE ? RC.QUOTA_EXCEEDED : RC.IMPLEMENTATION_SPECIFIC_ERROR;
}

/** MQTT 3.1.1 §3.2.2.3 CONNACK return codes for the v5 reasons a CONNECT can fail with. */
export function connackReturnCode(reason: number): number {
  switch (reason) {
    case RC.SUCCESS:
      return 0;
    case RC.UNSUPPORTED_PROTOCOL_VERSION:
      return 1;
    case RC.CLIENT_IDENTIFIER_NOT_VALID:
      return 2;
    case RC.SERVER_UNAVAILABLE:
    case RC.SERVER_BUSY:
    case RC.SERVER_SHUTTING_DOWN:
    case RC.QUOTA_EXCEEDED:
      return 3;
    case RC.BAD_USER_NAME_OR_PASSWORD:
      return 4;
    default:
      return 5; // not authorized
  }
}
