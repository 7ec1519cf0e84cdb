import { Errors, type RouterError } from '../../lib/errors';
import type { Realm } from '../../lib/realm';
import { Session, type SessionIdentity, type TransportInfo } from '../../lib/session';
import type { MqttConnection } from './connection';
import { sessionKey, type MqttGateContext } from './context';
import { MqttSession } from './mqtt-session';
import { RC } from './reason-codes';
import { forgetSession, queueName, saveSession } from './session-records';
import { dropClean } from './cluster-sessions';
import { timerDelay } from '../../lib/timers';

/**
 * A client id whose session belongs to another user is refused (README "MQTT sessions
 * and identity"): a persistent session is its creator's, so a CONNECT may take it over
 * (resume it, or discard it with clean start) only with the same authid. An anonymous
 * identity is a claim (the user name, else the client id), so an anonymous connection
 * never takes over a session an authenticated client created.
 */
export function ownedByAnother(ctx: MqttGateContext, realm: Realm, clientId: string, identity: SessionIdentity): boolean {
  const owner = ctx.sessions.get(sessionKey(realm.name, clientId))?.core.identity;
  if (!owner) return false;
  if (owner.authid !== identity.authid) return true;
  return identity.authmethod === 'anonymous' && owner.authmethod !== 'anonymous';
}

/**
 * Finds or creates the session a CONNECT asks for (its owner checked by ownedByAnother). An existing session with a live
 * connection is taken over ([MQTT-3.1.4-3]); clean start discards it.
 */
export function openSession(
  conn: MqttConnection,
  realm: Realm,
  clientId: string,
  cleanStart: boolean,
  identity: SessionIdentity,
): { session: MqttSession; present: boolean } {
  const ctx = conn.ctx;
  const key = sessionKey(realm.name, clientId);
  const existing = ctx.sessions.get(key);
  if (existing) {
    closeTakenOver(existing, 'session taken over by a new connection');
    // its client's connection now (the admin console shows its peer), before the
    // session is announced live again
    existing.core.transport = transportOf(conn);
    // the same authid, verified now: its current role, not the one saved or restored
    if (!cleanStart) existing.core.identity = identity;
    // its client is back (or about to be replaced): a live session again
    ctx.router.setParked(existing.core, false);
    if (!cleanStart) {
      // MQTT 5 §3.1.3.2.2: resumed within the will delay, the will is not sent
      realm.testaments.resumed(existing.core);
      return { session: existing, present: true };
    }
    endSession(ctx, existing);
  }
  const core = new Session(transportOf(conn), identity, {
    close: (reason, message) => {
      closeFromCore(ctx, session, reason, message);
    },
  });
  const session = new MqttSession(clientId, realm, core, ctx);
  core.offlineQueue = queueName(session);
  ctx.sessions.set(key, session);
  realm.join(core);
  return { session, present: false };
}

/** The session's transport: the connection's, with the protocol level it speaks. */
function transportOf(conn: MqttConnection): TransportInfo {
  return { ...conn.info, protocol: conn.version === 5 ? 'mqtt.5' : conn.version === 4 ? 'mqtt.3.1.1' : 'mqtt.3.1' };
}

/** The connection is gone: its will, and the session's expiry. */
export function connectionClosed(conn: MqttConnection): void {
  const session = conn.session;
  if (!session) return;
  conn.session = undefined;
  session.detach();
  const ctx = conn.ctx;
  connectionLost(session, conn);
  if (session.expirySeconds === 0) {
    dropClean(ctx, session);
    endSession(ctx, session);
    return;
  }
  saveSession(ctx, session); // remembers when it went offline
  ctx.router.setParked(session.core, true);
  armExpiry(ctx, session, session.expirySeconds * 1000);
}

/**
 * Ends the offline session `ms` from now ([MQTT-3.1.2-23]: the session state is kept
 * for the expiry interval after the connection closes). 0xFFFFFFFF seconds never
 * expires (MQTT 5 §3.1.2.11.2). An interval beyond what setTimeout holds (24.8 days) is
 * waited in steps.
 */
export function armExpiry(ctx: MqttGateContext, session: MqttSession, ms: number): void {
  if (ms >= 0xffffffff * 1000) return;
  const at = ctx.clock.now() + ms;
  const arm = (): void => {
    const left = at - ctx.clock.now();
    if (left <= 0) {
      endSession(ctx, session);
      return;
    }
    session.expiryTimer = ctx.clock.setTimeout(arm, timerDelay(left));
    session.expiryTimer.unref();
  };
  arm();
}

/** The session ends: subscriptions go; the core fires a delayed will now ([MQTT-3.1.3-9]). */
export function endSession(ctx: MqttGateContext, session: MqttSession): void {
  if (session.ended || ctx.stopped) return;
  session.ended = true;
  ctx.clock.clearTimeout(session.expiryTimer);
  const key = sessionKey(session.realm.name, session.clientId);
  if (ctx.sessions.get(key) === session) ctx.sessions.delete(key);
  forgetSession(ctx, session);
  session.realm.leave(session.core);
}

/**
 * A session is taken over (by a new connection here, or by another node): its
 * connection, if it has one, is closed ([MQTT-3.1.4-3], MQTT 5 DISCONNECT 0x8E) without
 * touching the session it no longer owns.
 */
export function closeTakenOver(session: MqttSession, reason: string): void {
  const conn = session.link as MqttConnection | undefined;
  if (!conn) return;
  conn.session = undefined;
  session.detach();
  connectionLost(session, conn);
  conn.disconnect(RC.SESSION_TAKEN_OVER, reason);
}

/**
 * The session's connection is gone: a clean DISCONNECT discards the will
 * ([MQTT-3.14.4-3]), and the core fires it, now or after its delay (lib/testaments.ts).
 */
export function connectionLost(session: MqttSession, conn: MqttConnection): void {
  const testaments = session.realm.testaments;
  if (conn.cleanDisconnect) testaments.setSlot(session.core, undefined);
  testaments.detached(session.core);
  // the router is closing: a will delay is not waited out (the store closes next)
  if (conn.ctx.stopped) testaments.stop(session.core);
}

/**
 * The core closes the session (wamp.session.kill, shutdown). At shutdown only the
 * connection closes: a persistent session is kept for the client's return.
 */
export function closeFromCore(ctx: MqttGateContext, session: MqttSession, reason: RouterError, message?: string): void {
  const shutdown = reason.def === Errors.systemShutdown;
  session.link?.disconnect(shutdown ? RC.SERVER_SHUTTING_DOWN : reason.def.mqtt, message ?? reason.message);
  if (!shutdown) endSession(ctx, session);
}

/**
 * The router is closing: expiry and will-delay timers stop, and nothing more is written
 * to the store (it closes next). Persistent sessions stay stored for the next start.
 */
export function stopSessions(ctx: MqttGateContext): void {
  ctx.stopped = true;
  for (const session of ctx.sessions.values()) {
    ctx.clock.clearTimeout(session.expiryTimer);
    session.expiryTimer = undefined;
    session.realm.testaments.stop(session.core);
  }
}
