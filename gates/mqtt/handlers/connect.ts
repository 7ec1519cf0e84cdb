import type { IConnackPacket, IConnectPacket } from 'mqtt-packet';
import type { AuthResult } from '../../../lib/auth/outcome';
import { globalId } from '../../../lib/ids';
import { splitLogin } from '../../../lib/login-realm';
import { mqttTopicToCanonical } from '../../../lib/notation';
import type { MqttConnection } from '../connection';
import { sessionKey } from '../context';
import { openSession, ownedByAnother } from '../lifecycle';
import { claimSession, holdClean } from '../cluster-sessions';
import { saveSession } from '../session-records';
import { headersFromMqtt } from '../../../lib/mqtt/properties';
import { payloadFromMqtt } from '../payload';
import { connackReturnCode, RC } from '../reason-codes';
import { authorizeWill, willTestament, type Will } from '../will';
import { fitConnack } from '../connack-fit';
import { Errors, RouterError } from '../../../lib/errors';
import type { Realm } from '../../../lib/realm';
import { Session, type SessionIdentity } from '../../../lib/session';

/** CONNECT -> CONNACK (MQTT 3.1 §3.1, 3.1.1 §3.1, 5.0 §3.1). */
export function handleConnect(conn: MqttConnection, p: IConnectPacket): void {
  const ctx = conn.ctx;
  const cfg = ctx.config.mqtt;
  const version = p.protocolVersion ?? 4;
  conn.setVersion(version);
  // [MQTT-3.1.2-24] from the first answer on, refusals included: nothing above the
  // client's Maximum Packet Size (0 is a protocol error, refused in accept())
  const maxPacket = version === 5 ? p.properties?.maximumPacketSize : undefined;
  if (maxPacket !== undefined && maxPacket > 0) conn.clientMaxPacket = maxPacket;

  // client identifier rules
  let clientId = p.clientId;
  let assigned: string | undefined;
  const clean = p.clean !== false;
  if (clientId === '') {
    // [MQTT-3.1.3-8] 3.1.1: an empty id needs clean session; 3.1 has no empty ids
    if (version === 3 || (version === 4 && !clean)) {
      refuse(conn, RC.CLIENT_IDENTIFIER_NOT_VALID, 'empty client identifier');
      return;
    }
    // [MQTT-3.1.3-6] assign one; MQTT 5 tells the client which (§3.2.2.3.7)
    clientId = assigned = `gatehouse-${globalId().toString(36)}`;
  } else if (version === 3 && clientId.length > 23) {
    refuse(conn, RC.CLIENT_IDENTIFIER_NOT_VALID, 'MQTT 3.1 client identifiers have at most 23 characters');
    return;
  }

  // realm: "user@realm" picks one, else the listener's
  const login = splitLogin(p.username ?? '');
  const realmName = login.realm ?? cfg.realm;
  const user = login.user;

  // a password is checked against the user part; an anonymous client without one is its client id
  const verdict = ctx.router.auth.login(
    { realm: realmName, transport: conn.info },
    { authid: user, password: p.password?.toString('utf8'), anonymousAuthid: user || clientId },
  );
  if (verdict instanceof Promise) {
    conn.holdPackets();
    verdict.then(
      (result) => {
        if (conn.state === 'closed') return;
        accept(conn, p, { clientId, assigned, clean, realmName }, result);
        conn.releasePackets();
      },
      (err: unknown) => {
        ctx.log.error({ err, peer: conn.info.peer }, 'MQTT authentication failed unexpectedly');
        refuse(conn, RC.UNSPECIFIED_ERROR, 'internal error');
      },
    );
    return;
  }
  accept(conn, p, { clientId, assigned, clean, realmName }, verdict);
}

/** The rest of CONNECT once the client is authenticated: realm, limits, will, session, CONNACK. */
function accept(
  conn: MqttConnection,
  p: IConnectPacket,
  id: { clientId: string; assigned: string | undefined; clean: boolean; realmName: string },
  result: AuthResult,
): void {
  const ctx = conn.ctx;
  const cfg = ctx.config.mqtt;
  const version = conn.version;
  const props = p.properties ?? {};
  const { clientId, assigned, clean, realmName } = id;
  // v5 0x86 bad user name or password / 0x87 not authorized; 3.1.1 return codes 4 / 5
  if (!result.ok) {
    refuse(conn, result.failure.def.mqtt, result.failure.message);
    return;
  }
  const refused = ctx.router.admit();
  if (refused) {
    refuse(conn, refused.def.mqtt === RC.SERVER_SHUTTING_DOWN ? RC.SERVER_SHUTTING_DOWN : RC.SERVER_BUSY, refused.message);
    return;
  }
  const realm = ctx.router.realm(realmName);
  if (!realm) {
    refuse(conn, RC.NOT_AUTHORIZED, `no such realm: ${realmName}`);
    return;
  }

  // the client's limits towards us (MQTT 5 §3.1.2.11)
  if (props.receiveMaximum === 0) {
    refuse(conn, RC.PROTOCOL_ERROR, 'receive maximum 0');
    return;
  }
  if (props.maximumPacketSize === 0) {
    refuse(conn, RC.PROTOCOL_ERROR, 'maximum packet size 0');
    return;
  }
  conn.receiveMaximum = props.receiveMaximum ?? 65535;
  conn.clientMaxPacket = props.maximumPacketSize ?? Infinity;
  conn.clientTopicAliasMax = props.topicAliasMaximum ?? 0;

  // keep alive, and the server's own if it caps it (MQTT 5 §3.2.2.3.14)
  let keepAlive = p.keepalive ?? 0;
  let serverKeepAlive: number | undefined;
  if (cfg.keepAliveMaxSeconds > 0 && (keepAlive === 0 || keepAlive > cfg.keepAliveMaxSeconds)) {
    keepAlive = cfg.keepAliveMaxSeconds;
    if (version === 5) serverKeepAlive = keepAlive;
  }

  // session lifetime: MQTT 5 session expiry; 3.1.1 clean session 0 = kept for
  // mqtt.persistentSessionExpirySeconds (3.1.1 has no expiry: a broker bounds it, as
  // Mosquitto's persistent_client_expiration does); both capped by the maximum
  const askedExpiry = version === 5 ? (props.sessionExpiryInterval ?? 0) : clean ? 0 : cfg.persistentSessionExpirySeconds;
  const expiry = Math.min(askedExpiry, cfg.maxSessionExpirySeconds);

  let will: Will | undefined;
  if (p.will) {
    const topic = mqttTopicToCanonical(p.will.topic);
    if (topic === null) {
      refuse(conn, RC.TOPIC_NAME_INVALID, 'invalid will topic');
      return;
    }
    const wp = p.will.properties;
    const now = conn.ctx.clock.now();
    const headers = headersFromMqtt(wp ? { ...wp } : undefined, now);
    will = {
      topic,
      payload: payloadFromMqtt(p.will.payload, headers),
      qos: p.will.qos ?? 0,
      retain: p.will.retain === true,
      headers,
      delayMs: (wp?.willDelayInterval ?? 0) * 1000,
    };
    if (wp?.responseTopic !== undefined) {
      const rt = mqttTopicToCanonical(wp.responseTopic);
      if (rt !== null) will.headers = { ...will.headers, responseTopic: rt };
    }
  }

  const granted: Granted = {
    clientId,
    assigned,
    clean,
    realm,
    identity: result.identity,
    will,
    expiry,
    askedExpiry,
    keepAlive,
    serverKeepAlive,
  };
  if (!will) {
    establish(conn, granted);
    return;
  }
  let pending: Promise<void> | undefined;
  try {
    pending = authorizeWill(realm, new Session(conn.info, result.identity, NO_CONTROL), will);
  } catch (err) {
    refuseWill(conn, err);
    return;
  }
  if (!pending) {
    establish(conn, granted);
    return;
  }
  conn.holdPackets();
  pending.then(
    () => {
      if (conn.state === 'closed') return;
      establish(conn, granted);
      conn.releasePackets();
    },
    (err: unknown) => {
      refuseWill(conn, err);
    },
  );
}

/** What CONNECT was granted, once the client and its will are authorized. */
interface Granted {
  clientId: string;
  assigned: string | undefined;
  clean: boolean;
  realm: Realm;
  identity: SessionIdentity;
  will: Will | undefined;
  expiry: number;
  askedExpiry: number;
  keepAlive: number;
  serverKeepAlive: number | undefined;
}

/** A session whose control is never used: the will is authorized before the session opens. */
const NO_CONTROL = { close: () => undefined };

/** A will the client may not leave: CONNECT refused, 0x87 (3.1.1 return code 5). */
function refuseWill(conn: MqttConnection, err: unknown): void {
  if (!(err instanceof RouterError)) {
    conn.ctx.log.error({ err, peer: conn.info.peer }, 'MQTT will authorization failed unexpectedly');
    refuse(conn, RC.UNSPECIFIED_ERROR, 'internal error');
    return;
  }
  refuse(conn, RC.NOT_AUTHORIZED, `will refused: ${err.message}`);
}

/**
 * In a cluster the session is first brought to this node, or discarded on every node
 * (gates/mqtt/cluster-sessions.ts); a session that cannot be: CONNACK server
 * unavailable (v5 0x88, 3.1.1 return code 3), never a hang.
 */
function establish(conn: MqttConnection, g: Granted): void {
  const ctx = conn.ctx;
  if (!ctx.shared) {
    establishHere(conn, g);
    return;
  }
  conn.holdPackets();
  claimSession(ctx, g.realm, g.clientId, g.clean).then(
    () => {
      if (conn.state !== 'connect') return;
      establishHere(conn, g);
      conn.releasePackets();
    },
    (err: unknown) => {
      if (conn.state !== 'connect') return;
      const known = err instanceof RouterError;
      if (!known) ctx.log.error({ err, client: g.clientId }, 'MQTT session takeover failed unexpectedly');
      refuse(conn, RC.SERVER_UNAVAILABLE, known ? err.message : 'session takeover failed');
    },
  );
}

/** The session (new or resumed), then CONNACK. */
function establishHere(conn: MqttConnection, g: Granted): void {
  const ctx = conn.ctx;
  const cfg = ctx.config.mqtt;
  const version = conn.version;
  const { clientId, assigned, clean, realm, will, expiry, askedExpiry, keepAlive, serverKeepAlive } = g;
  if (ownedByAnother(ctx, realm, clientId, g.identity)) {
    refuse(conn, RC.NOT_AUTHORIZED, `client identifier ${clientId} is in use by another user's session`);
    return;
  }
  if (expiry > 0) {
    // one more session that may be left offline, unless it resumes or replaces one
    // already counted (README "Offline sessions")
    const existing = ctx.sessions.get(sessionKey(realm.name, clientId));
    const exceeded = existing !== undefined && ctx.offline.has(existing) ? undefined : ctx.offline.exceeded(g.identity.authid);
    if (exceeded !== undefined) {
      const limit = exceeded === 'total' ? 'max_offline_sessions' : 'max_offline_sessions_per_authid';
      ctx.router.metrics.limitHits.labels('mqtt', limit).inc();
      ctx.log.warn({ client: clientId, authid: g.identity.authid, peer: conn.info.peer, limit }, 'limit hit');
      const what = limit === 'max_offline_sessions' ? 'limits.maxOfflineSessions' : 'limits.maxOfflineSessionsPerAuthid';
      // v5 0x97 quota exceeded; 3.1.1 return code 3 server unavailable (connackReturnCode)
      refuse(conn, Errors.limitExceeded.mqtt, `too many sessions that outlive their connection (${what})`);
      return;
    }
  }
  // built before the session opens: a CONNACK the client cannot take ends the attempt
  // before it takes over or discards a session (session present does not change its size)
  let connack: IConnackPacket | undefined = { cmd: 'connack', sessionPresent: false };
  if (version === 5) {
    connack.reasonCode = RC.SUCCESS;
    connack.properties = {
      receiveMaximum: cfg.receiveMaximum,
      topicAliasMaximum: cfg.topicAliasMaximum,
      maximumPacketSize: ctx.config.limits.maxMessageSize,
      retainAvailable: true,
      wildcardSubscriptionAvailable: true,
      subscriptionIdentifiersAvailable: true,
      sharedSubscriptionAvailable: true,
    };
    if (assigned !== undefined) connack.properties.assignedClientIdentifier = assigned;
    if (serverKeepAlive !== undefined) connack.properties.serverKeepAlive = serverKeepAlive;
    if (expiry !== askedExpiry) connack.properties.sessionExpiryInterval = expiry;
    connack = fitConnack(connack, conn.clientMaxPacket);
    if (!connack) {
      tooSmall(conn);
      return;
    }
  } else {
    connack.returnCode = 0;
  }
  const { session, present } = openSession(conn, realm, clientId, clean, g.identity);
  session.expirySeconds = expiry;
  conn.session = session;
  conn.state = 'connected';
  // a session that outlives its connection keeps its state in the durable store
  saveSession(ctx, session);
  // in a cluster, one that ends with its connection is named this node's (one client id per realm)
  holdClean(ctx, session);
  // the will of this connection, in place of any an earlier one left (the core fires it)
  realm.testaments.setSlot(session.core, will ? willTestament(will) : undefined);
  conn.setKeepAlive(keepAlive);
  connack.sessionPresent = present;
  conn.send(connack);
  ctx.log.debug({ client: clientId, realm: realm.name, version, present, peer: conn.info.peer }, 'MQTT client connected');
  session.attach(conn);
}

/** CONNACK with an error, then close ([MQTT-3.2.2-5]). */
function refuse(conn: MqttConnection, reason: number, message: string): void {
  conn.ctx.counters.errors(`mqtt_connect_0x${reason.toString(16)}`);
  conn.ctx.log.info({ peer: conn.info.peer, reason, message }, 'MQTT CONNECT refused');
  const connack: IConnackPacket | undefined =
    conn.version === 5
      ? fitConnack(
          { cmd: 'connack', sessionPresent: false, reasonCode: reason, properties: { reasonString: message } },
          conn.clientMaxPacket,
        )
      : { cmd: 'connack', sessionPresent: false, returnCode: connackReturnCode(reason) };
  if (connack) conn.send(connack);
  conn.end();
}

/**
 * Not even the smallest CONNACK fits the client's Maximum Packet Size: the client would
 * wait for an answer that never comes, so the connection is closed ([MQTT-3.1.2-24]: the
 * packet may not be sent; there is no smaller way to say so).
 */
function tooSmall(conn: MqttConnection): void {
  conn.ctx.counters.errors(`mqtt_connect_0x${RC.PACKET_TOO_LARGE.toString(16)}`);
  conn.ctx.log.info(
    { peer: conn.info.peer, maximumPacketSize: conn.clientMaxPacket },
    'MQTT CONNECT closed: no CONNACK fits the client maximum packet size',
  );
  conn.end();
}
