import type { IPubackPacket, IPubcompPacket, IPubrecPacket } from 'mqtt-packet';
import type { MqttConnection } from '../connection';

/** PUBACK: a QoS 1 message to the client is done (an unknown id is ignored). */
export function handlePuback(conn: MqttConnection, p: IPubackPacket): void {
  conn.session?.completed(p.messageId ?? 0);
}

/** PUBREC: QoS 2 step one; we answer PUBREL and wait for PUBCOMP. */
export function handlePubrec(conn: MqttConnection, p: IPubrecPacket): void {
  const id = p.messageId ?? 0;
  const known = conn.session?.received(id, p.reasonCode ?? 0) ?? false;
  // MQTT 5 §4.3.3: PUBREL even for an id we do not know, with "not found"
  if (!known && conn.version === 5 && (p.reasonCode ?? 0) < 0x80) conn.send({ cmd: 'pubrel', messageId: id, reasonCode: 0x92 });
}

/** PUBCOMP: a QoS 2 message to the client is done. */
export function handlePubcomp(conn: MqttConnection, p: IPubcompPacket): void {
  conn.session?.completed(p.messageId ?? 0);
}
