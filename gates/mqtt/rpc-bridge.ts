import type { IPublishPacket } from 'mqtt-packet';
import { Errors, RouterError } from '../../lib/errors';
import { toRouterError as asRouterError } from '../../lib/settle';
import type { MessageHeaders } from '../../lib/headers';
import { mqttTopicToCanonical } from '../../lib/notation';
import type { Payload } from '../../lib/payload';
import { argumentsFromBody } from '../../lib/payload-body';
import { replyProperties, submitForReplies, type ReplyOrigin, type TextOptions } from '../../lib/requests/bridge';
import { authorizeReplyTarget } from '../../lib/queue-authorization';
import { callForReply, errorBody } from '../../lib/rpc-reply';
import type { MqttConnection } from './connection';
import { headersFromMqtt } from '../../lib/mqtt/properties';

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
 *
 * The response topic is a topic, not the requester's connection: the core's rule for
 * reply targets applies (lib/queue-authorization.ts, the same as for a STOMP reply-to),
 * checked before the call, and the reply is then written by the router, so it is
 * delivered even when the requester has gone meanwhile (`mosquitto_pub -D publish
 * response-topic ...` disconnects at once). Such a call is bounded by
 * `mqtt.rpcTimeoutMs` and the request's message expiry.
 *
 * A refused response topic is said to the client, never dropped silently: the PUBACK /
 * PUBREC carries 0x87, and since a QoS 0 request has no ack, the error reply (user
 * property `error` = wamp.error.not_authorized) is also delivered on the response topic
 * to the requester alone (nobody else subscribed there sees it: no injection). Logged
 * and counted (drops_total{gate="mqtt",reason="rpc_reply_refused"}).
 *
 * Returns the refusal (not authorized: the PUBLISH's ack says so), a promise of it when
 * the dynamic authorizer decides, or undefined when the call was made.
 */
export function callFromMqtt(
  conn: MqttConnection,
  rest: string,
  p: IPublishPacket,
): RouterError | Promise<RouterError | undefined> | undefined {
  const session = conn.session;
  if (!session) return undefined;
  const realm = session.realm;
  const core = session.core;
  const procedure = rest.includes('/') ? rest.split('/').join('.') : rest;
  const rt = p.properties?.responseTopic;
  const responseTopic = rt === undefined ? null : mqttTopicToCanonical(rt);
  const correlationData = p.properties?.correlationData;
  const respond = (payload: Payload, error?: string, origin?: ReplyOrigin): void => {
    if (responseTopic === null) return;
    const headers: MessageHeaders = { userProperties: replyProperties(error, origin) };
    if (correlationData !== undefined) headers.correlationData = correlationData;
    // a result the topic refuses (a table's row check...) is answered by its error, once
    const lost = (err: unknown): void => {
      replyLost(conn, procedure, err);
      if (error !== undefined) return;
      const e = asRouterError(err);
      respond(errorBody({ uri: e.uri, args: e.args, kwargs: e.kwargs }), e.uri, origin);
    };
    try {
      // the router's hand: the requester's permission was checked before the call
      const r = realm.publish(undefined, responseTopic, payload, { excludeMe: false, qos: 1, headers });
      if (r instanceof Promise) r.catch(lost);
    } catch (err) {
      lost(err);
    }
  };
  const request = requestOptions(p);
  const call = (): RouterError | undefined => {
    if (request) {
      // a durable request: one reply per destination (README "Durable requests")
      const body = argumentsFromBody(
        typeof p.payload === 'string' ? Buffer.from(p.payload) : p.payload,
        headersFromMqtt(p.properties, conn.ctx.clock.now()),
      );
      const refused = submitForReplies(realm, core, procedure, body, request, respond);
      // refused as not authorized (on the submit or the target): the PUBACK says so too
      return refused instanceof RouterError && refused.def === Errors.notAuthorized ? refused : undefined;
    }
    const failure = callForReply(
      realm,
      core,
      procedure,
      argumentsFromBody(
        typeof p.payload === 'string' ? Buffer.from(p.payload) : p.payload,
        headersFromMqtt(p.properties, conn.ctx.clock.now()),
      ),
      respond,
      {
        timeoutMs: timeoutOf(conn, p),
        outlivesCaller: true,
      },
    );
    // a call refused as not authorized is refused at once: the PUBLISH's ack says so too
    return failure instanceof RouterError && failure.def === Errors.notAuthorized ? failure : undefined;
  };
  if (responseTopic === null) return call();
  let pending: Promise<void> | undefined;
  const refuse = (err: unknown): RouterError => {
    const e = asRouterError(err);
    // to the requester alone: it may not publish there, so nobody else may be told
    tellRequester(conn, responseTopic, correlationData, e);
    return refused(conn, procedure, rt, e);
  };
  try {
    pending = authorizeReplyTarget(realm, core, { topic: responseTopic });
  } catch (err) {
    return refuse(err);
  }
  if (!pending) return call();
  return pending.then(call, refuse);
}

/** The error reply of a refused request, delivered on the response topic to the requester only. */
function tellRequester(conn: MqttConnection, topic: string, correlationData: Buffer | undefined, err: RouterError): void {
  const session = conn.session;
  if (!session || session.core.closed) return;
  const headers: MessageHeaders = { userProperties: replyProperties(err.uri, undefined) };
  if (correlationData !== undefined) headers.correlationData = correlationData;
  const body = errorBody({ uri: err.uri, args: err.args, kwargs: err.kwargs });
  try {
    // the router's hand (no permission to check: it goes to nobody but the requester,
    // who may still have to be allowed to receive there)
    const r = session.realm.publish(undefined, topic, body, { excludeMe: false, qos: 1, headers, eligible: [session.core.id] });
    if (r instanceof Promise) r.catch(() => undefined);
  } catch {
    // a topic the router itself may not write (an aggregate table's): the ack says it
  }
}

/** The durable request options of a `$rpc/` PUBLISH: user properties destinations, expires_in, retries. */
function requestOptions(p: IPublishPacket): TextOptions | undefined {
  const props = p.properties?.userProperties;
  const one = (name: string): string | undefined => {
    const v = props?.[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const destinations = one('destinations');
  return destinations === undefined ? undefined : { destinations, expires_in: one('expires_in'), retries: one('retries') };
}

/** The response topic may not be published to by the requester: no call is made. */
function refused(conn: MqttConnection, procedure: string, responseTopic: string | undefined, err: RouterError): RouterError {
  conn.ctx.drop('rpc_reply_refused');
  conn.ctx.log.warn(
    {
      client: conn.session?.clientId,
      peer: conn.info.peer,
      authid: conn.session?.core.identity.authid,
      procedure,
      responseTopic,
      reason: err.message,
    },
    'MQTT $rpc refused: response topic not allowed',
  );
  return err;
}

function replyLost(conn: MqttConnection, procedure: string, err: unknown): void {
  conn.ctx.drop('rpc_reply_refused');
  conn.ctx.log.warn({ err, procedure }, 'MQTT $rpc reply not delivered');
}

/** `mqtt.rpcTimeoutMs`, shortened by the request's message expiry (a later answer is stale). */
function timeoutOf(conn: MqttConnection, p: IPublishPacket): number | undefined {
  const configured = conn.ctx.config.mqtt.rpcTimeoutMs;
  const expiry = p.properties?.messageExpiryInterval;
  const fromExpiry = expiry !== undefined && expiry > 0 ? expiry * 1000 : 0;
  const t = configured > 0 && fromExpiry > 0 ? Math.min(configured, fromExpiry) : configured || fromExpiry;
  return t > 0 ? t : undefined;
}
