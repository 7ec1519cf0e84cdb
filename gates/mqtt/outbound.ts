import type { IPublishPacket } from 'mqtt-packet';
import { canonicalToMqtt } from '../../lib/notation';
import type { MqttConnection } from './connection';
import type { Outbound } from './mqtt-session';
import { headersToMqtt } from '../../lib/mqtt/properties';
import { bodyOf, mqttTopicName } from './publish-frame';

/**
 * Builds the PUBLISH for a message to the client: MQTT topic name, body, MQTT 5
 * properties (what is left of the message expiry, subscription identifiers, an outbound
 * topic alias when the client allows them). Undefined when the message has expired.
 */
export function outboundPublish(conn: MqttConnection, msg: Outbound, packetId: number, dup: boolean): IPublishPacket | undefined {
  const name = mqttTopicName(msg.topic)?.name ?? null;
  if (name === null) {
    conn.ctx.drop('topic_not_expressible_in_mqtt');
    return undefined;
  }
  let topic: string = name;
  const packet: IPublishPacket = {
    cmd: 'publish',
    topic,
    payload: bodyOf(msg.payload, msg.headers),
    qos: msg.qos,
    retain: msg.retain,
    dup,
  };
  if (packetId !== 0) packet.messageId = packetId;
  if (conn.version === 5) {
    const h = msg.headers;
    const props = headersToMqtt(
      h,
      conn.ctx.clock.now(),
      h?.responseTopic !== undefined ? (canonicalToMqtt(h.responseTopic) ?? undefined) : undefined,
    );
    if (!props) return undefined;
    if (msg.subscriptionIds.length > 0)
      props.subscriptionIdentifier = msg.subscriptionIds.length === 1 ? msg.subscriptionIds[0] : [...msg.subscriptionIds];
    // MQTT 5 §3.3.2.3.4: the first PUBLISH on a topic sets the alias, later ones send only the alias
    if (conn.clientTopicAliasMax > 0) {
      const known = conn.outboundAliases.get(topic);
      if (known !== undefined) {
        props.topicAlias = known;
        topic = '';
      } else if (conn.outboundAliases.size < conn.clientTopicAliasMax) {
        const alias = conn.outboundAliases.size + 1;
        conn.outboundAliases.set(topic, alias);
        props.topicAlias = alias;
      }
      packet.topic = topic;
    }
    if (Object.keys(props).length > 0) packet.properties = props;
  }
  return packet;
}
