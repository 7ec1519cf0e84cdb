import type { ISubackPacket, ISubscribePacket, IUnsubackPacket, IUnsubscribePacket } from 'mqtt-packet';
import type { EventSink, Subscription } from '../../../lib/broker';
import { Errors, RouterError } from '../../../lib/errors';
import { toRouterError } from '../../../lib/settle';
import { parseMqttSubscription } from '../../../lib/notation';
import type { ReplayTicket } from '../../../lib/retained-replay';
import type { MqttConnection } from '../connection';
import type { SubscriptionEntry } from '../mqtt-session';
import { RC } from '../reason-codes';
import { saveSession } from '../session-records';

// MQTT sessions receive through MqttSession.deliver (one copy per event), not sinks
const NO_SINK: EventSink = () => undefined;

/**
 * SUBSCRIBE -> SUBACK, then the retained messages the retain handling asks for
 * (MQTT 5 §3.8.3.1: 0 always, 1 only for a new subscription, 2 never; never for a
 * shared subscription [MQTT-3.8.4-?]).
 */
export function handleSubscribe(conn: MqttConnection, p: ISubscribePacket): void {
  const session = conn.session;
  if (!session) return;
  const v5 = conn.version === 5;
  const subscriptionId = p.properties?.subscriptionIdentifier;
  // [MQTT-2.3.1-1] (5.0 §2.2.1) a non-zero packet identifier; [MQTT-3.8.3-3] (5.0 [MQTT-3.8.3-2]) a filter at least
  if (!p.messageId) {
    conn.fail(RC.PROTOCOL_ERROR, 'packet identifier 0');
    return;
  }
  if (p.subscriptions.length === 0) {
    conn.fail(RC.PROTOCOL_ERROR, 'SUBSCRIBE without a topic filter');
    return;
  }
  // MQTT 5 §3.8.2.1.2: a subscription identifier of 0 is a protocol error
  if (subscriptionId === 0) {
    conn.fail(RC.PROTOCOL_ERROR, 'subscription identifier 0');
    return;
  }
  // a filter's reason code, or its promise while the dynamic authorizer decides
  const granted: (number | Promise<number>)[] = [];
  // retained replays, reserved when their subscription exists (snapshot taken, live
  // events held) and started after the SUBACK: a filter allowed at once must not get
  // live events before the SUBACK, nor a value twice, while another filter of the same
  // SUBSCRIBE waits for the dynamic authorizer
  const replay: ReplayTicket[] = [];
  for (const s of p.subscriptions) {
    const parsed = parseMqttSubscription(s.topic);
    if (!parsed) {
      granted.push(v5 ? RC.TOPIC_FILTER_INVALID : 0x80);
      continue;
    }
    if (parsed.share !== undefined && s.nl === true) {
      // [MQTT-3.8.3-4] no local on a shared subscription is a protocol error
      conn.fail(RC.PROTOCOL_ERROR, 'no local on a shared subscription');
      return;
    }
    const refused = (err: RouterError): number => {
      conn.ctx.counters.errors(err.def.code);
      // not authorized: 0x87 in MQTT 5, the one failure code 0x80 in 3.1.1
      return v5 ? err.def.mqtt : 0x80;
    };
    const added = (sub: Subscription): number => {
      const isNew = !session.subscriptions.has(s.topic);
      const entry: SubscriptionEntry = {
        filter: s.topic,
        pattern: parsed.pattern,
        share: parsed.share,
        qos: s.qos,
        nl: s.nl === true,
        rap: s.rap === true,
        rh: s.rh ?? 0,
        id: subscriptionId,
        sub,
        wildcardFirst: parsed.skipsDollarTopics,
      };
      session.addSubscription(entry);
      if (parsed.share === undefined && (entry.rh === 0 || (entry.rh === 1 && isNew)))
        replay.push(session.realm.reserveRetained(session.core, sub));
      return s.qos;
    };
    let sub;
    try {
      sub = session.realm.subscribePattern(session.core, parsed.pattern, NO_SINK, parsed.share);
    } catch (err) {
      if (!(err instanceof RouterError)) throw err;
      granted.push(refused(err));
      continue;
    }
    granted.push(sub instanceof Promise ? sub.then(added, (err: unknown) => refused(toRouterError(err))) : added(sub));
  }
  const answer = (codes: number[]): void => {
    if (session.durable) saveSession(conn.ctx, session);
    const suback: ISubackPacket = { cmd: 'suback', messageId: p.messageId ?? 0, granted: codes };
    conn.send(suback);
    for (const t of replay) t.start();
  };
  if (granted.some((g) => g instanceof Promise)) void Promise.all(granted.map(async (g) => g)).then(answer);
  else answer(granted as number[]);
}

/** UNSUBSCRIBE -> UNSUBACK (MQTT 5: one reason code per filter). */
export function handleUnsubscribe(conn: MqttConnection, p: IUnsubscribePacket): void {
  const session = conn.session;
  if (!session) return;
  // [MQTT-2.3.1-1] (5.0 §2.2.1) a non-zero packet identifier; [MQTT-3.10.3-2] a filter at least
  if (!p.messageId) {
    conn.fail(RC.PROTOCOL_ERROR, 'packet identifier 0');
    return;
  }
  if (p.unsubscriptions.length === 0) {
    conn.fail(RC.PROTOCOL_ERROR, 'UNSUBSCRIBE without a topic filter');
    return;
  }
  const codes: number[] = [];
  for (const filter of p.unsubscriptions) {
    const e = session.subscriptions.get(filter);
    if (!e) {
      codes.push(RC.NO_SUBSCRIPTION_EXISTED);
      continue;
    }
    try {
      session.realm.unsubscribeShared(session.core, e.sub.id, e.share);
      codes.push(RC.SUCCESS);
    } catch (err) {
      // refused: the subscription stays (MQTT 5 says so with 0x87; 3.1.1 cannot)
      if (err instanceof RouterError && err.def === Errors.notAuthorized) {
        conn.ctx.counters.errors(err.def.code);
        codes.push(err.def.mqtt);
        continue;
      }
      codes.push(RC.NO_SUBSCRIPTION_EXISTED);
    }
    session.removeSubscription(filter);
  }
  if (session.durable) saveSession(conn.ctx, session);
  const unsuback: IUnsubackPacket = { cmd: 'unsuback', messageId: p.messageId ?? 0, granted: conn.version === 5 ? codes : [] };
  conn.send(unsuback);
}
