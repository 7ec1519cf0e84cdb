import type { IPublishPacket, IPubrelPacket } from 'mqtt-packet';
import { Errors, RouterError } from '../../../lib/errors';
import { mqttTopicToCanonical } from '../../../lib/notation';
import { ACK, canonicalTopic } from '../publish-frame';
import type { MqttConnection } from '../connection';
import { headersFromMqtt } from '../../../lib/mqtt/properties';
import { payloadFromMqtt } from '../payload';
import { publishAckCode, RC } from '../reason-codes';
import { callFromMqtt, RPC_PREFIX } from '../rpc-bridge';
import { saveSession } from '../session-records';

/**
 * Inbound PUBLISH (MQTT 5 §3.3, §4.3). The message goes to the core; the ack follows
 * routing, or the store commit for a retained message: PUBACK for QoS 1, PUBREC for
 * QoS 2 with the packet identifier remembered until PUBREL (exactly once: a
 * duplicate PUBLISH of a remembered identifier is acknowledged, not routed again).
 */
export function handlePublish(conn: MqttConnection, p: IPublishPacket): void {
  const session = conn.session;
  if (!session) return;
  const cfg = conn.ctx.config.mqtt;
  const id = p.messageId ?? 0;
  // [MQTT-2.3.1-1] (5.0 §2.2.1) a QoS 1 or 2 PUBLISH carries a non-zero packet identifier
  if (p.qos > 0 && id === 0) {
    conn.fail(RC.PROTOCOL_ERROR, 'packet identifier 0');
    return;
  }

  // MQTT 5 §3.3.2.3.4 topic aliases
  let name = p.topic;
  const alias = p.properties?.topicAlias;
  // MQTT 5 §3.3.2.1: an empty topic name is a protocol error unless an alias stands for it
  if (name === '' && alias === undefined) {
    conn.fail(RC.PROTOCOL_ERROR, 'empty topic name');
    return;
  }
  if (alias !== undefined) {
    if (alias === 0 || alias > cfg.topicAliasMaximum) {
      conn.fail(RC.TOPIC_ALIAS_INVALID, 'topic alias out of range');
      return;
    }
    if (name === '') {
      const known = conn.inboundAliases.get(alias);
      if (known === undefined) {
        conn.fail(RC.PROTOCOL_ERROR, 'unknown topic alias');
        return;
      }
      name = known;
    } else {
      conn.inboundAliases.set(alias, name);
    }
  }

  if (p.qos === 2 && session.inboundQos2.has(id)) {
    // [MQTT-4.3.3-9] already received: acknowledge again, do not deliver twice
    conn.awaitingPubrel.add(id);
    conn.sendAck(ACK.pubrec, id);
    return;
  }
  if (p.qos > 0 && conn.inboundPending + conn.awaitingPubrel.size >= cfg.receiveMaximum) {
    // MQTT 5 §3.3.4: more unacknowledged QoS 1/2 publications than we allowed
    conn.fail(RC.RECEIVE_MAXIMUM_EXCEEDED, 'receive maximum exceeded');
    return;
  }

  if (name.startsWith(RPC_PREFIX)) {
    const refused = callFromMqtt(conn, name.slice(RPC_PREFIX.length), p);
    if (refused instanceof Promise) {
      // the dynamic authorizer decides on the response topic: acknowledged after it
      acknowledgeWhenSettled(
        conn,
        p,
        refused.then((err) => {
          if (err) throw err;
        }),
      );
    } else if (refused) refusePublish(conn, p, refused);
    else acknowledge(conn, p, RC.SUCCESS);
    return;
  }

  const topic = conn.lastTopicName === name ? conn.lastTopic : canonicalTopic(name);
  if (topic === null) {
    conn.fail(RC.TOPIC_NAME_INVALID, `invalid topic name: ${name}`);
    return;
  }
  conn.lastTopicName = name;
  conn.lastTopic = topic;

  const now = conn.ctx.clock.now();
  let headers = headersFromMqtt(p.properties, now);
  const rt = p.properties?.responseTopic;
  if (rt !== undefined) {
    const canonical = mqttTopicToCanonical(rt);
    if (canonical === null) {
      conn.fail(RC.TOPIC_NAME_INVALID, 'invalid response topic');
      return;
    }
    headers = { ...headers, responseTopic: canonical };
  }
  const options = {
    excludeMe: false, // MQTT delivers a client's own messages unless it subscribed with no-local
    qos: p.qos,
    retainFlag: p.retain,
    retain: p.retain || undefined,
    headers,
  };
  let result;
  try {
    result = session.realm.publish(session.core, topic, payloadFromMqtt(p.payload, headers), options);
  } catch (err) {
    if (err instanceof RouterError) {
      refusePublish(conn, p, err);
      return;
    }
    throw err;
  }
  if (!(result instanceof Promise)) {
    acknowledge(conn, p, result.deliveries === 0 ? RC.NO_MATCHING_SUBSCRIBERS : RC.SUCCESS);
    return;
  }
  // retained: acknowledged once durable
  acknowledgeWhenSettled(conn, p, result);
}

/** Acknowledges once `result` settles: success, or the refusal it rejects with. */
function acknowledgeWhenSettled(conn: MqttConnection, p: IPublishPacket, result: Promise<unknown>): void {
  const session = conn.session;
  if (!session) return;
  const id = p.messageId ?? 0;
  if (p.qos === 1) conn.inboundPending++;
  if (p.qos === 2) {
    // exactly once: a duplicate arriving before the commit is not routed again
    session.inboundQos2.add(id);
    conn.awaitingPubrel.add(id);
  }
  result.then(
    () => {
      if (p.qos === 1) conn.inboundPending--;
      acknowledge(conn, p, RC.SUCCESS);
    },
    (err: unknown) => {
      if (p.qos === 1) conn.inboundPending--;
      if (p.qos === 2) {
        session.inboundQos2.delete(id);
        conn.awaitingPubrel.delete(id);
      }
      refusePublish(conn, p, err instanceof RouterError ? err : new RouterError(Errors.internal, String(err)));
    },
  );
}

function acknowledge(conn: MqttConnection, p: IPublishPacket, reasonCode: number): void {
  const id = p.messageId ?? 0;
  const v5 = conn.version === 5;
  if (p.qos === 1) {
    if (v5 && reasonCode !== RC.SUCCESS) conn.send({ cmd: 'puback', messageId: id, reasonCode });
    else conn.sendAck(ACK.puback, id);
  } else if (p.qos === 2) {
    conn.awaitingPubrel.add(id);
    const session = conn.session;
    if (session) {
      session.inboundQos2.add(id);
      // exactly once across a restart: the identifier is stored with the PUBREC's commit
      if (session.durable) saveSession(conn.ctx, session);
    }
    if (v5 && reasonCode !== RC.SUCCESS) conn.send({ cmd: 'pubrec', messageId: id, reasonCode });
    else conn.sendAck(ACK.pubrec, id);
  }
}

/**
 * A publication the core refused. MQTT 5 says why in the PUBACK/PUBREC reason code;
 * MQTT 3.1.1 has no negative ack, so the connection is closed ([MQTT-3.3.5-2]), or for
 * errors the catalogue marks `unanswerable: 'drop'`, the message is acked and dropped.
 */
function refusePublish(conn: MqttConnection, p: IPublishPacket, err: RouterError): void {
  conn.ctx.counters.errors(err.def.code);
  if (conn.version === 5 && p.qos > 0) {
    const id = p.messageId ?? 0;
    const properties = { reasonString: err.message };
    const reasonCode = publishAckCode(err.def.mqtt);
    conn.send(
      p.qos === 1
        ? { cmd: 'puback', messageId: id, reasonCode, properties }
        : { cmd: 'pubrec', messageId: id, reasonCode, properties },
    );
    return;
  }
  if (conn.version === 5) return; // QoS 0: nothing to answer
  if (err.def.unanswerable === 'drop') {
    // e.g. a table row its schema refuses: dropped, the connection stays [MQTT-3.3.5-2]
    conn.ctx.log.info(
      { session: conn.session?.core.id, topic: p.topic, code: err.def.code, reason: err.message },
      'MQTT 3.1.1 publication dropped',
    );
    acknowledge(conn, p, RC.SUCCESS);
    return;
  }
  conn.end();
}

/** PUBREL -> PUBCOMP: the QoS 2 exchange for an inbound message is complete. */
export function handlePubrel(conn: MqttConnection, p: IPubrelPacket): void {
  const id = p.messageId ?? 0;
  conn.awaitingPubrel.delete(id);
  const session = conn.session;
  const known = session?.inboundQos2.delete(id) ?? false;
  if (known && session?.durable) saveSession(conn.ctx, session);
  if (conn.version === 5 && !known) conn.send({ cmd: 'pubcomp', messageId: id, reasonCode: RC.PACKET_IDENTIFIER_NOT_FOUND });
  else conn.sendAck(ACK.pubcomp, id);
}
