import type { EventSink, Subscription } from '../../lib/broker';
import { parseMqttSubscription } from '../../lib/notation';
import { Session, type SessionIdentity } from '../../lib/session';
import { inRealm, mailboxName, type Owner } from '../../lib/mailbox';
import { isPlainObject } from '../../lib/payload';
import { sessionKey, type MqttGateContext } from './context';
import { armExpiry, closeFromCore } from './lifecycle';
import { MqttSession, type QoS } from './mqtt-session';
import { settle } from '../../lib/settle';
import type { InflightRecord } from './cluster-mailbox';

/**
 * Persistent MQTT sessions in the core's durable store: a record per session (its
 * subscriptions, expiry, inbound QoS 2 identifiers, when it was last connected) and a
 * queue of its unacknowledged messages. A broker restart brings them back.
 */
const KIND = 'mqtt-session';

interface SubscriptionRecord {
  filter: string;
  qos: QoS;
  nl: boolean;
  rap: boolean;
  rh: number;
  id?: number;
}

export interface SessionRecord {
  realm: string;
  clientId: string;
  authid: string;
  /** the owner's role and how it authenticated; absent in records of older versions */
  authrole?: string;
  authmethod?: string;
  authprovider?: string;
  expirySeconds: number;
  subscriptions: SubscriptionRecord[];
  qos2: number[];
  /** epoch ms; absent while connected */
  disconnectedAt?: number;
  /** in a cluster: messages in flight, with their packet ids, for the next holder (cluster-mailbox.ts) */
  inflight?: InflightRecord[];
}

const NO_SINK: EventSink = () => undefined;

/** A saved session as the owner of a mailbox (lib/mailbox/owner.ts), as MqttSession.owner. */
function mailboxOwner(realm: string, clientId: string): Owner {
  return { kind: 'mqtt', name: inRealm(realm, clientId) };
}

/** The session's queue name in the store (what the admin console lists). */
export function queueName(session: MqttSession): string {
  return mailboxName(session.owner);
}

/** Saves the session's state if it outlives its connection; removes it otherwise. */
export function saveSession(ctx: MqttGateContext, session: MqttSession): void {
  if (ctx.stopped) return;
  const id = sessionKey(session.realm.name, session.clientId);
  if (session.expirySeconds === 0 || session.ended) {
    ctx.offline.delete(session);
    if (ctx.router.queues.getRecord(KIND, id) !== undefined) void ctx.router.queues.deleteRecord(KIND, id);
    // it was persistent until now: its copy in the cluster goes as well
    if (session.durable) forgetShared(ctx, session);
    return;
  }
  ctx.offline.add(session, session.core.identity.authid);
  session.makeDurable(ctx.router.mailboxes);
  const record = recordOf(ctx, session);
  void ctx.router.queues.putRecord(KIND, id, record);
  ctx.shared?.save(session.realm.name, session.clientId, { ...record }).catch((err: unknown) => {
    ctx.log.warn({ err, client: session.clientId }, 'MQTT session not saved in the cluster');
  });
}

/** What is saved of a session (in the node's store, and in a cluster its shared record). */
export function recordOf(ctx: MqttGateContext, session: MqttSession): SessionRecord {
  const record: SessionRecord = {
    realm: session.realm.name,
    clientId: session.clientId,
    authid: session.core.identity.authid,
    authrole: session.core.identity.authrole,
    authmethod: session.core.identity.authmethod,
    authprovider: session.core.identity.authprovider,
    expirySeconds: session.expirySeconds,
    subscriptions: [...session.subscriptions.values()].map((e) => {
      const r: SubscriptionRecord = { filter: e.filter, qos: e.qos, nl: e.nl, rap: e.rap, rh: e.rh };
      if (e.id !== undefined) r.id = e.id;
      return r;
    }),
    qos2: [...session.inboundQos2],
  };
  if (!session.link) record.disconnectedAt = ctx.clock.now();
  const inflight = session.clusterMailbox?.inflight();
  if (inflight !== undefined && inflight.length > 0) record.inflight = inflight;
  return record;
}

function forgetShared(ctx: MqttGateContext, session: MqttSession): void {
  ctx.shared?.forget(session.realm.name, session.clientId).catch((err: unknown) => {
    ctx.log.warn({ err, client: session.clientId }, 'MQTT session not removed from the cluster');
  });
}

/** The session ended for good: its record and its queue go. */
export function forgetSession(ctx: MqttGateContext, session: MqttSession): void {
  const id = sessionKey(session.realm.name, session.clientId);
  ctx.offline.delete(session);
  if (ctx.router.queues.getRecord(KIND, id) !== undefined) void ctx.router.queues.deleteRecord(KIND, id);
  if (session.durable) forgetShared(ctx, session);
  session.discard();
}

/**
 * The session was handed to another node of the cluster: it goes from this node only
 * (its shared record and queue are the new holder's now).
 */
export function dropLocally(ctx: MqttGateContext, session: MqttSession): void {
  const id = sessionKey(session.realm.name, session.clientId);
  ctx.offline.delete(session);
  if (ctx.router.queues.getRecord(KIND, id) !== undefined) void ctx.router.queues.deleteRecord(KIND, id);
  session.discard();
}

/**
 * At start-up: every persistent session comes back, offline, with its subscriptions
 * (so messages for it are queued again) and the rest of its expiry interval.
 */
export function restoreSessions(ctx: MqttGateContext): number {
  const now = ctx.clock.now();
  let restored = 0;
  for (const [id, value] of [...ctx.router.queues.records(KIND)]) {
    const r = asRecord(value);
    const session = r && restoreSession(ctx, r, now);
    if (!session) {
      void ctx.router.queues.deleteRecord(KIND, id);
      if (r) void ctx.router.mailboxes.remove(mailboxOwner(r.realm, r.clientId));
      continue;
    }
    // saved while connected (the router stopped or crashed under it): offline from now,
    // recorded, so the next restart does not grant the whole interval again
    if (r.disconnectedAt === undefined) void ctx.router.queues.putRecord(KIND, id, { ...r, disconnectedAt: now });
    restored++;
  }
  if (restored > 0) ctx.log.info({ sessions: restored }, 'MQTT sessions restored');
  return restored;
}

/**
 * One saved session back, offline, with its subscriptions (so messages for it are
 * queued again) and the rest of its expiry interval; undefined when it has expired or
 * its realm is gone. At start-up, and in a cluster when this node takes it over.
 */
export function restoreSession(ctx: MqttGateContext, r: SessionRecord, now: number): MqttSession | undefined {
  const realm = ctx.router.realm(r.realm);
  // the expiry ran on while the router was down; a lowered maximum applies at once
  const expiry = Math.min(r.expirySeconds, ctx.config.mqtt.maxSessionExpirySeconds);
  const left = expiry - (now - (r.disconnectedAt ?? now)) / 1000;
  if (!realm || left <= 0) return undefined;
  const core = new Session(
    { gate: 'mqtt', type: 'restored', peer: '-' },
    restoredIdentity(ctx, r),
    // as any session's: wamp.session.kill ends it, a shutdown keeps it for the next
    // start (ending it here lost every restored session at the next shutdown)
    {
      close: (reason, message) => {
        closeFromCore(ctx, session, reason, message);
      },
    },
  );
  const session = new MqttSession(r.clientId, realm, core, ctx);
  session.expirySeconds = expiry;
  for (const q of r.qos2) session.inboundQos2.add(q);
  ctx.sessions.set(sessionKey(r.realm, r.clientId), session);
  realm.join(core);
  restoreSubscriptions(ctx, session, r.subscriptions);
  session.makeDurable(ctx.router.mailboxes);
  // offline, and counted as one that may be: restored sessions are not refused even
  // past a lowered limit (they were granted), but count against new ones
  ctx.offline.add(session, session.core.identity.authid);
  ctx.router.setParked(core, true);
  if (expiry < 0xffffffff) armExpiry(ctx, session, left * 1000);
  return session;
}

/**
 * Makes a restored session's subscriptions those of `subscriptions`: the missing ones
 * are subscribed (authorized again), the ones no longer there end. In a cluster the
 * record a node restores from may be older than the one its holder hands over (a
 * SUBSCRIBE just before the takeover, its record write still under way).
 */
export function restoreSubscriptions(
  ctx: MqttGateContext,
  session: MqttSession,
  subscriptions: readonly SubscriptionRecord[],
): void {
  const { realm, core } = session;
  const wanted = new Set(subscriptions.map((s) => s.filter));
  for (const [filter, e] of [...session.subscriptions]) {
    if (wanted.has(filter)) continue;
    try {
      realm.unsubscribeShared(core, e.sub.id, e.share);
    } catch (err) {
      ctx.log.warn({ client: session.clientId, filter, err }, 'restored MQTT subscription not ended');
    }
    session.removeSubscription(filter);
  }
  for (const s of subscriptions) {
    const known = session.subscriptions.get(s.filter);
    if (known) {
      // the same filter, maybe with other options (a SUBSCRIBE again)
      session.addSubscription({ ...known, qos: s.qos, nl: s.nl, rap: s.rap, rh: s.rh, id: s.id });
      continue;
    }
    const parsed = parseMqttSubscription(s.filter);
    if (!parsed) continue;
    // authorized again: the permissions may have changed since the session was saved
    const refused = (err: unknown): void => {
      ctx.log.warn({ client: session.clientId, filter: s.filter, err }, 'restored MQTT subscription refused');
    };
    const add = (sub: Subscription): void => {
      session.addSubscription({
        ...s,
        id: s.id,
        pattern: parsed.pattern,
        share: parsed.share,
        sub,
        wildcardFirst: parsed.skipsDollarTopics,
      });
    };
    try {
      settle(realm.subscribePattern(core, parsed.pattern, NO_SINK, parsed.share), add, refused);
    } catch (err) {
      refused(err);
    }
  }
}

export function asRecord(v: unknown): SessionRecord | undefined {
  if (!isPlainObject(v)) return undefined;
  const r = v as Partial<SessionRecord>;
  if (
    typeof r.realm !== 'string' ||
    typeof r.clientId !== 'string' ||
    typeof r.expirySeconds !== 'number' ||
    !Array.isArray(r.subscriptions)
  ) {
    return undefined;
  }
  return { authid: r.clientId, qos2: [], ...r } as SessionRecord;
}

/**
 * Who a restored session is until its owner connects again (then the connection's own,
 * verified identity replaces it): as saved; records of older versions, which kept only
 * the authid, get the anonymous role as they always did.
 */
function restoredIdentity(ctx: MqttGateContext, r: SessionRecord): SessionIdentity {
  if (r.authrole === undefined || r.authmethod === undefined) {
    return { authid: r.authid, authrole: ctx.config.auth.anonymousRole, authmethod: 'anonymous', authprovider: 'static' };
  }
  return { authid: r.authid, authrole: r.authrole, authmethod: r.authmethod, authprovider: r.authprovider ?? 'static' };
}
