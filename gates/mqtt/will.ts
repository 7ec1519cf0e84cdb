import type { MessageHeaders } from '../../lib/headers';
import type { Payload } from '../../lib/payload';
import type { Realm } from '../../lib/realm';
import type { Session } from '../../lib/session';
import type { QoS } from './mqtt-session';

/** The Last Will of a connection (MQTT 3.1.2.5 / 5.0 §3.1.3.2), in core terms. */
export interface Will {
  /** canonical topic */
  topic: string;
  payload: Payload;
  qos: QoS;
  retain: boolean;
  headers: MessageHeaders | undefined;
  /** MQTT 5 will delay interval, ms */
  delayMs: number;
}

/**
 * Publishes a will through the core, so subscribers of every protocol get it; a
 * retained will goes to the store like any retained publish. The publisher is the
 * will's session, so its permissions are checked again (they were at CONNECT).
 */
export function publishWill(realm: Realm, publisher: Session, will: Will): void {
  // MQTT delivers a client's own messages unless it subscribed with no-local
  const options = { excludeMe: false, qos: will.qos, retainFlag: will.retain, headers: will.headers, retain: will.retain || undefined };
  try {
    const r = realm.publish(publisher, will.topic, will.payload, options);
    if (r instanceof Promise) r.catch(() => undefined);
  } catch {
    // refused (not authorized: counted and logged by the router): the will is dropped
  }
}

/**
 * May this identity leave this will? Checked at CONNECT as the PUBLISH it will be
 * (publish, and retain for a retained will) on a session not yet joined: throws
 * RouterError when refused now, a promise when the dynamic authorizer decides.
 */
export function authorizeWill(realm: Realm, probe: Session, will: Will): Promise<void> | undefined {
  realm.refuseReservedTopic(will.topic);
  const pending = [realm.authorize(probe, 'publish', will.topic), will.retain ? realm.authorize(probe, 'retain', will.topic) : undefined];
  const waiting = pending.filter((p): p is Promise<void> => p !== undefined);
  return waiting.length === 0 ? undefined : Promise.all(waiting).then(() => undefined);
}
