import type { MessageHeaders } from '../../lib/headers';
import type { Payload } from '../../lib/payload';
import type { Realm } from '../../lib/realm';
import type { Session } from '../../lib/session';
import type { Testament } from '../../lib/testaments';
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
 * The will as the core's testament (lib/testaments.ts), which fires it when the
 * connection is lost: after its delay, at the session's end if that comes first, never
 * after a clean DISCONNECT or a resumption within the delay. Subscribers of every
 * protocol get it; a retained will goes to the store like any retained publish. It is
 * published as its session, so its permissions are checked again (they were at CONNECT).
 */
export function willTestament(will: Will): Testament {
  // the will belongs to the network connection ([MQTT-3.1.2-8]): it fires when the
  // session detaches from it, not only when the session ends
  // MQTT delivers a client's own messages unless it subscribed with no-local
  const options = {
    excludeMe: false,
    qos: will.qos,
    retainFlag: will.retain,
    headers: will.headers,
    retain: will.retain || undefined,
  };
  return { topic: will.topic, payload: will.payload, options, scope: 'detached', delayMs: will.delayMs, asOwner: true };
}

/**
 * May this identity leave this will? Checked at CONNECT as the PUBLISH it will be
 * (publish, and retain for a retained will) on a session not yet joined: throws
 * RouterError when refused now, a promise when the dynamic authorizer decides.
 */
export function authorizeWill(realm: Realm, probe: Session, will: Will): Promise<void> | undefined {
  realm.refuseReservedTopic(will.topic);
  const pending = [
    realm.authorize(probe, 'publish', will.topic),
    will.retain ? realm.authorize(probe, 'retain', will.topic) : undefined,
  ];
  const waiting = pending.filter((p): p is Promise<void> => p !== undefined);
  return waiting.length === 0 ? undefined : Promise.all(waiting).then(() => undefined);
}
