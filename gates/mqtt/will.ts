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
 * retained will goes to the store like any retained publish.
 */
export function publishWill(realm: Realm, publisher: Session | undefined, will: Will): void {
  const options = { qos: will.qos, retainFlag: will.retain, headers: will.headers, retain: will.retain || undefined };
  try {
    const r = realm.publish(publisher, will.topic, will.payload, options);
    if (r instanceof Promise) r.catch(() => undefined);
  } catch {
    // refused (not authorized: counted and logged by the router): the will is dropped
  }
}
