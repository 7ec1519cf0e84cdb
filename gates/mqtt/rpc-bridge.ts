import type { IPublishPacket } from 'mqtt-packet';
import { Errors, RouterError } from '../../lib/errors';
import type { MessageHeaders } from '../../lib/headers';
import { mqttTopicToCanonical } from '../../lib/notation';
import type { Payload } from '../../lib/payload';
import { argumentsFromBody } from '../../lib/payload-body';
import { callForReply } from '../../lib/rpc-reply';
import type { MqttConnection } from './connection';
import { headersFromMqtt } from './payload';

/** MQTT to WAMP RPC: a PUBLISH to `$rpc/<procedure>` calls the procedure. */
export const RPC_PREFIX = '$rpc/';

/**
 * Calls a procedure for an MQTT client (README, "MQTT to WAMP RPC"). The procedure is
 * the rest of the topic, as a WAMP URI (`$rpc/com.example.add`) or with `/` for `.`
 * (`$rpc/com/example/add`). The body becomes the arguments: a JSON array is the
 * Arguments list, a JSON object the ArgumentsKw, any other JSON value one argument,
 * other bytes one binary argument, an empty body none. The result (or the error, with
 * user property `error` = its URI and body {"error", "args", "kwargs"}) is published to
 * the MQTT 5 response topic with the request's correlation data.
 */
export function callFromMqtt(conn: MqttConnection, rest: string, p: IPublishPacket): RouterError | undefined {
  const session = conn.session;
  if (!session) return undefined;
  const procedure = rest.includes('/') ? rest.split('/').join('.') : rest;
  const rt = p.properties?.responseTopic;
  const responseTopic = rt === undefined ? undefined : mqttTopicToCanonical(rt);
  const correlationData = p.properties?.correlationData;
  const respond = (payload: Payload, error?: string): void => {
    if (responseTopic === undefined || responseTopic === null) return;
    const headers: MessageHeaders = { userProperties: error ? { error } : {} };
    if (correlationData !== undefined) headers.correlationData = correlationData;
    try {
      const r = session.realm.publish(session.core, responseTopic, payload, { excludeMe: false, qos: 1, headers });
      if (r instanceof Promise) r.catch(() => undefined);
    } catch {
      // the response topic is refused (not authorized): counted and logged by the router
    }
  };
  const failure = callForReply(session.realm, session.core, procedure, argumentsFromBody(typeof p.payload === 'string' ? Buffer.from(p.payload) : p.payload, headersFromMqtt(p.properties, Date.now())), respond);
  // a call refused as not authorized is refused at once: the PUBLISH's ack says so too
  return failure instanceof RouterError && failure.def === Errors.notAuthorized ? failure : undefined;
}
