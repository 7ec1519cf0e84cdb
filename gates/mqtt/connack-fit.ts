import mqttPacket, { type IConnackPacket } from 'mqtt-packet';

type ConnackProperties = NonNullable<IConnackPacket['properties']>;

/**
 * CONNACK properties the client loses nothing without (MQTT 5 §3.2.2.3): absent, an
 * "available" flag means available (§3.2.2.3.5, .11, .12, .13), and an absent Topic Alias
 * Maximum is 0 (§3.2.2.3.8), so the client merely sends no aliases.
 */
const AVAILABLE_FLAGS = [
  'retainAvailable',
  'wildcardSubscriptionAvailable',
  'subscriptionIdentifiersAvailable',
  'sharedSubscriptionAvailable',
] as const;

function size(connack: IConnackPacket): number {
  return mqttPacket.generate(connack, { protocolVersion: 5 }).length;
}

/**
 * The CONNACK as large as the client accepts, or undefined when even the smallest does
 * not fit. [MQTT-3.1.2-24] the server must not send a packet above the client's Maximum
 * Packet Size; [MQTT-3.2.2-19] [MQTT-3.2.2-20] the Reason String and User Properties are
 * the properties to leave out first; then those whose absence means what we would say.
 * What remains (Receive Maximum, Maximum Packet Size, an assigned client identifier, the
 * server's keep alive and session expiry) binds the client and is never left out.
 */
export function fitConnack(connack: IConnackPacket, maxPacket: number): IConnackPacket | undefined {
  if (maxPacket === Infinity || size(connack) <= maxPacket) return connack;
  const properties: ConnackProperties = { ...connack.properties };
  delete properties.reasonString;
  delete properties.userProperties;
  let smaller: IConnackPacket = { ...connack, properties };
  if (size(smaller) <= maxPacket) return smaller;
  const required: ConnackProperties = { ...properties };
  // the keys are AVAILABLE_FLAGS' fixed names, not data
  // eslint-disable-next-line @typescript-eslint/no-dynamic-delete
  for (const key of AVAILABLE_FLAGS) if (required[key] !== false) delete required[key];
  delete required.topicAliasMaximum;
  smaller = { ...connack, properties: required };
  return size(smaller) <= maxPacket ? smaller : undefined;
}
