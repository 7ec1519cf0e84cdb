import { randomUUID } from 'node:crypto';
import type * as MqttSessionsModule from '../../lib/cluster/mqtt-sessions';
import type { ClusterMqttSessions, SharedRecord } from '../../lib/cluster/mqtt-sessions';
import type { Realm } from '../../lib/realm';
import { ClusterMailbox } from './cluster-mailbox';
import { sessionKey, type MqttGateContext } from './context';
import { closeTakenOver } from './lifecycle';
import type { MqttSession, Outbound } from './mqtt-session';
import { asRecord, dropLocally, recordOf, restoreSession, restoreSubscriptions } from './session-records';

// NATS is loaded by routers in a cluster only (lib/router.ts does the same)
const mqttSessionsModule = (): typeof MqttSessionsModule =>
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use
  require('../../lib/cluster/mqtt-sessions') as typeof MqttSessionsModule;

/**
 * In a cluster, the gate's side of the shared sessions (lib/cluster/mqtt-sessions.ts):
 * persistent sessions keep their queue on the cluster's stream (cluster-mailbox.ts), a
 * CONNECT first brings its session to this node (claimSession), and a session another
 * node takes is let go here (releaseSession). A single router does nothing here.
 */
export function joinClusterSessions(ctx: MqttGateContext): void {
  const router = ctx.router;
  const cluster = router.cluster;
  const config = router.config.cluster;
  if (!cluster || !config) return;
  const log = ctx.log.child({ part: 'cluster-sessions' });
  const shared = new (mqttSessionsModule().ClusterMqttSessions)({
    prefix: config.prefix,
    node: router.node,
    replicas: router.config.store.nats.replicas,
    leaseMs: config.rpc.leaseMs,
    handoverTimeoutMs: config.mqtt.handoverTimeoutMs,
    maxMessagesPerSession: router.config.mqtt.maxQueuedMessages,
    log,
    metrics: router.metrics,
  });
  cluster.use(async (nc) => {
    const part = await shared.attach(nc);
    adoptOwn(ctx, shared).catch((err: unknown) => {
      log.warn({ err }, 'MQTT sessions this node held before were not all taken back');
    });
    return part;
  });
  shared.setHolder({
    release: (realm, clientId, discard) => releaseSession(ctx, shared, realm, clientId, discard),
    adopt: (seen) => adopt(ctx, shared, seen),
  });
  ctx.shared = shared;
  const node = router.node;
  // a publication routed here without an id of its own (a retained replay): one made up, unique
  const publicationOf = (msg: Outbound): string =>
    msg.publicationId === undefined ? `${node}:${randomUUID()}` : `${msg.origin ?? node}:${msg.publicationId}`;
  ctx.sharedMailbox = (session) =>
    new ClusterMailbox(
      shared.streamOf(session.realm.name, session.clientId),
      router.mailboxes,
      session.owner,
      publicationOf,
      (err: unknown) => {
        log.warn({ err, client: session.clientId }, 'MQTT session queue: the cluster stream refused a write');
      },
    );
}

/**
 * Before a CONNECT is established: its session is brought to this node. Clean start
 * discards it on every node; otherwise a session held elsewhere is restored here first
 * (its subscriptions feed this node from now on, buffered), then its holder lets it go
 * (or is dead), then its queue is loaded from the stream. Rejects with a RouterError
 * (unavailable) when that cannot be done: CONNACK server unavailable.
 */
export function claimSession(ctx: MqttGateContext, realm: Realm, clientId: string, clean: boolean): Promise<void> {
  return serialized(ctx, sessionKey(realm.name, clientId), () => claim(ctx, realm, clientId, clean));
}

/** One claim at a time per session: a second CONNECT for it (or an adoption) waits for the first's outcome. */
function serialized(ctx: MqttGateContext, key: string, fn: () => Promise<void>): Promise<void> {
  let pending = claims.get(ctx);
  if (!pending) claims.set(ctx, (pending = new Map<string, Promise<void>>()));
  const before = pending.get(key);
  const next = (before ? before.catch(() => undefined) : Promise.resolve()).then(fn);
  pending.set(key, next);
  const done = (): void => {
    if (pending.get(key) === next) pending.delete(key);
  };
  next.then(done, done);
  return next;
}

const claims = new WeakMap<MqttGateContext, Map<string, Promise<void>>>();

async function claim(ctx: MqttGateContext, realm: Realm, clientId: string, clean: boolean): Promise<void> {
  const shared = ctx.shared;
  if (!shared) return;
  // cut off from NATS: a clean session is served here at once (a node cut off serves its
  // own clients, README "Cluster"), not after a JetStream timeout
  if (clean && ctx.router.cluster?.health().state !== 'connected') return;
  let seen: SharedRecord | undefined;
  try {
    seen = await shared.read(realm.name, clientId);
  } catch (err) {
    // the cluster is unreachable: a clean session is served here all the same (a node
    // cut off serves its own clients, README "Cluster"); one to resume cannot be found
    if (!clean) throw err;
    ctx.log.warn({ err, client: clientId }, 'cluster unreachable: clean MQTT session not checked against the cluster');
    return;
  }
  if (!seen) return;
  const here = seen.holder === ctx.router.node;
  const key = sessionKey(realm.name, clientId);
  // a clean session connected on another node: its connection is closed there (0x8E), whatever this CONNECT asks
  if (seen.record['clean'] === true) {
    if (!here) await shared.discard(realm.name, clientId, seen);
    return;
  }
  // held here: the node's own path (openSession) resumes or discards it
  if (here && ctx.sessions.has(key)) {
    if (!clean) ctx.router.metrics.mqttTakeovers.labels('local').inc();
    return;
  }
  if (clean) {
    await shared.discard(realm.name, clientId, seen);
    return;
  }
  await bringHere(ctx, shared, seen);
}

/**
 * Restores a session held elsewhere here (its subscriptions feed this node from now on,
 * buffered), has its holder let it go (or finds it dead), then loads its queue. On
 * failure it leaves this node again and the cluster's copy is untouched.
 */
async function bringHere(ctx: MqttGateContext, shared: ClusterMqttSessions, seen: SharedRecord): Promise<void> {
  const r = asRecord(seen.record);
  const session = r && restoreSession(ctx, r, ctx.clock.now());
  if (!r || !session) {
    // expired (or not a record of ours)
    if (r) await shared.discard(r.realm, r.clientId, seen);
    return;
  }
  const mailbox = session.clusterMailbox;
  mailbox?.startLoading();
  try {
    const { record, kind } = await shared.takeOver(r.realm, r.clientId, seen);
    const final = asRecord(record.record) ?? r;
    // the holder's last word: subscriptions made or ended after the record read above
    if (final !== r) restoreSubscriptions(ctx, session, final.subscriptions);
    for (const q of final.qos2) session.inboundQos2.add(q);
    const stored = await shared.streamOf(r.realm, r.clientId).load();
    // this node's own record of a previous life (same node id) is a crash too
    mailbox?.load(stored, final.inflight ?? [], kind === 'dead' || seen.holder === ctx.router.node);
    session.recoverInflight();
    session.pump();
  } catch (err) {
    leaveHere(ctx, session);
    throw err;
  }
}

/**
 * At start: the sessions this node id held in its previous life (a restart, a crash)
 * come back offline, subscribed, with their queues, as after a crash (in-flight
 * messages resent with DUP). A client that connects meanwhile claims its own first.
 */
async function adoptOwn(ctx: MqttGateContext, shared: ClusterMqttSessions): Promise<void> {
  for (const seen of await shared.heldBy(ctx.router.node)) {
    const r = asRecord(seen.record);
    if (!r || ctx.stopped) continue;
    const key = sessionKey(r.realm, r.clientId);
    await serialized(ctx, key, async () => {
      if (ctx.sessions.has(key)) return;
      const session = restoreSession(ctx, r, ctx.clock.now());
      if (!session) {
        // expired while no node held it
        await shared.forget(r.realm, r.clientId);
        return;
      }
      const mailbox = session.clusterMailbox;
      mailbox?.startLoading();
      try {
        mailbox?.load(await shared.streamOf(r.realm, r.clientId).load(), r.inflight ?? [], true);
      } catch (err) {
        // left to its client: its CONNECT brings it here again (claim)
        leaveHere(ctx, session);
        throw err;
      }
      session.recoverInflight();
      session.pump();
    }).catch((err: unknown) => {
      ctx.log.warn({ err, client: r.clientId }, 'MQTT session this node held before not taken back');
    });
  }
}

/** A session restored for a takeover that did not happen: gone from this node, the cluster's copy untouched. */
function leaveHere(ctx: MqttGateContext, session: MqttSession): void {
  const key = sessionKey(session.realm.name, session.clientId);
  session.ended = true;
  ctx.clock.clearTimeout(session.expiryTimer);
  if (ctx.sessions.get(key) === session) ctx.sessions.delete(key);
  session.clusterMailbox?.abandon();
  dropLocally(ctx, session);
  session.realm.leave(session.core);
}

/** A session of a lapsed node: taken over here, unless a client claims it first (one claim at a time). */
function adopt(ctx: MqttGateContext, shared: ClusterMqttSessions, seen: SharedRecord): Promise<void> {
  const r = asRecord(seen.record);
  if (!r || ctx.stopped) return Promise.resolve();
  return serialized(ctx, sessionKey(r.realm, r.clientId), async () => {
    if (ctx.sessions.has(sessionKey(r.realm, r.clientId))) return;
    // as it is now: a client may have taken it elsewhere meanwhile
    const now = await shared.read(r.realm, r.clientId);
    if (now?.holder === seen.holder) await bringHere(ctx, shared, now);
  });
}

/**
 * Another node takes a session held here: its connection is closed ([MQTT-3.1.4-3],
 * MQTT 5 DISCONNECT 0x8E), the queue's writes are waited for, the final record (with
 * the packet ids in flight) written, and the session leaves this node.
 */
async function releaseSession(
  ctx: MqttGateContext,
  shared: ClusterMqttSessions,
  realmName: string,
  clientId: string,
  discard: boolean,
): Promise<boolean> {
  const key = sessionKey(realmName, clientId);
  const session = ctx.sessions.get(key);
  if (!session || session.ended) return false;
  closeTakenOver(session, 'session taken over by another node');
  // from now on nothing of it is delivered here, nor does it expire here
  session.ended = true;
  ctx.clock.clearTimeout(session.expiryTimer);
  ctx.sessions.delete(key);
  const mailbox = session.clusterMailbox;
  await mailbox?.handOver();
  if (!discard && session.durable) await shared.save(realmName, clientId, { ...recordOf(ctx, session) });
  dropLocally(ctx, session);
  session.realm.leave(session.core);
  return true;
}

/** The revision of each clean session's record (written on connect), for its conditional removal. */
const cleanRecords = new WeakMap<MqttSession, Promise<number | undefined>>();

/**
 * A session that ends with its connection, in a cluster: a record marked clean names
 * this node, so a CONNECT with its client id on another node closes this connection
 * ([MQTT-3.1.4-2]). Cut off from NATS it is served without one (README "Cluster").
 */
export function holdClean(ctx: MqttGateContext, session: MqttSession): void {
  const shared = ctx.shared;
  if (!shared || session.durable || ctx.router.cluster?.health().state !== 'connected') return;
  cleanRecords.set(
    session,
    shared.markClean(session.realm.name, session.clientId).catch((err: unknown) => {
      ctx.log.warn({ err, client: session.clientId }, 'clean MQTT session not recorded in the cluster');
      return undefined;
    }),
  );
}

/** The clean session's connection ended: its record goes, unless another node took the client id meanwhile. */
export function dropClean(ctx: MqttGateContext, session: MqttSession): void {
  const pending = cleanRecords.get(session);
  const shared = ctx.shared;
  if (!pending || !shared) return;
  cleanRecords.delete(session);
  void pending
    .then(async (revision) => {
      if (revision !== undefined) await shared.dropClean(session.realm.name, session.clientId, revision);
    })
    .catch((err: unknown) => {
      ctx.log.warn({ err, client: session.clientId }, 'clean MQTT session record not removed from the cluster');
    });
}
