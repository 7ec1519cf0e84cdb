import type { IDisconnectPacket } from 'mqtt-packet';
import type { MqttConnection } from '../connection';
import { RC } from '../reason-codes';

/**
 * DISCONNECT from the client. Normal disconnection discards the will
 * ([MQTT-3.14.4-3]); MQTT 5 reason 0x04 asks for it to be published all the same.
 */
export function handleDisconnect(conn: MqttConnection, p: IDisconnectPacket): void {
  const session = conn.session;
  const expiry = p.properties?.sessionExpiryInterval;
  if (session && expiry !== undefined) {
    // [MQTT-3.14.2-2] a session that was to end with the connection cannot be revived here
    if (session.expirySeconds === 0 && expiry !== 0) {
      conn.fail(RC.PROTOCOL_ERROR, 'session expiry set on DISCONNECT after 0 on CONNECT');
      return;
    }
    session.expirySeconds = Math.min(expiry, conn.ctx.config.mqtt.maxSessionExpirySeconds);
  }
  conn.cleanDisconnect = (p.reasonCode ?? 0) !== RC.DISCONNECT_WITH_WILL;
  conn.end();
}
