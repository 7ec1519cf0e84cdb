import type { DurableName } from '../../../lib/durable-subscriptions';
import { Errors, RouterError } from '../../../lib/errors';
import type { Realm } from '../../../lib/realm';
import type { Session } from '../../../lib/session';
import { settle, type MaybePromise } from '../../../lib/settle';
import { authorizeDurable, authorizeQueue as authorizeWorkQueue } from '../../../lib/queue-authorization';
import type { AckMode } from '../../../lib/work-queues';
import { asRouterError, type StompConnection } from '../connection';
import { resolveDestination, type Target } from '../destinations';
import { header, type StompFrame } from '../../../lib/stomp/frame';
import { deliverQueued, type StompSubscription } from '../subscriptions';

/**
 * SUBSCRIBE (STOMP 1.2 §SUBSCRIBE).
 *
 * - `id` is required from STOMP 1.1 on and unique per connection; a STOMP 1.0
 *   subscription without one is known by its destination.
 * - `ack`: auto (default), client (cumulative), client-individual.
 * - `prefetch-count` (RabbitMQ) or `activemq.prefetchSize`: unacknowledged messages at
 *   most, for queue subscriptions; default config stomp.defaultPrefetch; 0 = unlimited.
 * - /topic/: a core subscription; MESSAGEs as events are routed. Durable when the frame
 *   says so (see durableName()): then the subscription's work queue is consumed, and
 *   keeps collecting while the client is away.
 * - /queue/, /temp-queue/: the client competes with the queue's other consumers.
 */
export function handleSubscribe(conn: StompConnection, frame: StompFrame): void {
  const session = conn.session;
  const realm = conn.realm;
  if (!session || !realm) return;
  const destination = header(frame, 'destination');
  if (destination === undefined) {
    conn.protocolError('SUBSCRIBE needs a destination header', frame);
    return;
  }
  const idHeader = header(frame, 'id');
  if (idHeader === undefined && conn.version !== '1.0') {
    conn.protocolError('SUBSCRIBE needs an id header', frame);
    return;
  }
  const id = idHeader ?? destination;
  if (conn.subscriptions.get(id)) {
    conn.fail(new RouterError(Errors.invalidArgument, `subscription id ${JSON.stringify(id)} is already in use`), frame);
    return;
  }
  const max = conn.ctx.config.limits.maxSubscriptionsPerSession;
  if (conn.subscriptions.size >= max) {
    conn.fail(new RouterError(Errors.limitExceeded, `at most ${max} subscriptions per session`), frame);
    return;
  }

  let opened: MaybePromise<StompSubscription>;
  try {
    const ack = ackMode(header(frame, 'ack'));
    const prefetch = prefetchOf(frame) ?? conn.ctx.config.stomp.defaultPrefetch;
    const target = resolveDestination(conn, destination, 'subscribe');
    const base = { id, destination, ack, header: idHeader };
    const durable = target.kind === 'topic' ? durableName(conn, frame, id) : undefined;
    const open = (): MaybePromise<StompSubscription> => openSubscription(conn, target, base, prefetch, durable);
    const pending = authorizeQueue(realm, session, target, durable);
    opened = pending ? pending.then(open) : open();
  } catch (err) {
    conn.fail(asRouterError(err), frame);
    return;
  }
  settle(
    opened,
    (sub) => {
      conn.subscriptions.add(sub);
      conn.receipt(frame);
    },
    (err) => {
      conn.fail(err, frame);
    },
  );
}

type SubscriptionBase = Pick<StompSubscription, 'id' | 'destination' | 'ack' | 'header'>;

/**
 * Work queues are not routed by the realm: the core's rule for them is asked here
 * (lib/queue-authorization.ts). Topic subscriptions are checked by the realm itself.
 */
function authorizeQueue(
  realm: Realm,
  session: Session,
  target: Target,
  durable: DurableName | undefined,
): Promise<void> | undefined {
  if (target.kind === 'queue') return authorizeWorkQueue(realm, session, 'subscribe', target.address);
  if (target.kind === 'topic' && durable) return authorizeDurable(realm, session, target.pattern);
  return undefined;
}

function openSubscription(
  conn: StompConnection,
  target: Target,
  base: SubscriptionBase,
  prefetch: number,
  durable: DurableName | undefined,
): MaybePromise<StompSubscription> {
  const session = conn.session;
  const realm = conn.realm;
  if (!session || !realm || session.closed) throw new RouterError(Errors.noSuchSession, 'the connection has closed');
  const work = conn.ctx.work;
  const ack = base.ack;
  const sink = (s: StompSubscription): Parameters<typeof work.queues.consume>[3] => ({
    writable: () => conn.writable(),
    deliver: (msg) => {
      deliverQueued(conn, s, msg);
    },
  });
  if (target.kind === 'topic') {
    if (durable) {
      const address = work.durable.bind(realm, durable, target.pattern);
      const s: { -readonly [K in keyof StompSubscription]: StompSubscription[K] } = { ...base, durable };
      s.consumer = work.queues.consume(session, address, { ack, prefetch }, sink(s));
      return s;
    }
    const subscribed = realm.subscribePattern(session, target.pattern, conn.topicSink);
    return subscribed instanceof Promise ? subscribed.then((core) => ({ ...base, core })) : { ...base, core: subscribed };
  }
  if (target.kind === 'queue') {
    if (target.temp !== undefined) conn.dropImplicitTemp(target.temp);
    const s: { -readonly [K in keyof StompSubscription]: StompSubscription[K] } = { ...base };
    s.consumer = work.queues.consume(session, target.address, { ack, prefetch }, sink(s));
    return s;
  }
  throw new RouterError(Errors.invalidUri, `cannot subscribe to ${base.destination}`);
}

/**
 * UNSUBSCRIBE (STOMP 1.2 §UNSUBSCRIBE) by `id` (STOMP 1.0: or by destination). A queue
 * subscription's unacknowledged messages go back to the queue, redelivered.
 *
 * A durable topic subscription is only detached (its queue keeps collecting) unless the
 * frame asks for its removal, as RabbitMQ and ActiveMQ do: `durable: true` (or
 * `persistent: true`), `activemq.subscriptionName` or `durable-subscription-name`. Then
 * the subscription and its messages are deleted, also when this connection is not
 * consuming it (the name is then the header's value, or the `id` for `durable: true`).
 */
export function handleUnsubscribe(conn: StompConnection, frame: StompFrame): void {
  const session = conn.session;
  const realm = conn.realm;
  if (!session || !realm) return;
  const idHeader = header(frame, 'id');
  let sub: StompSubscription | undefined;
  if (idHeader !== undefined) sub = conn.subscriptions.get(idHeader);
  else if (conn.version === '1.0') {
    const destination = header(frame, 'destination');
    if (destination === undefined) {
      conn.protocolError('UNSUBSCRIBE needs an id or a destination header', frame);
      return;
    }
    sub = conn.subscriptions.byDestination(destination);
  } else {
    conn.protocolError('UNSUBSCRIBE needs an id header', frame);
    return;
  }

  let remove: DurableName | undefined;
  try {
    remove = durableName(conn, frame, idHeader ?? '');
  } catch (err) {
    conn.fail(asRouterError(err), frame);
    return;
  }
  if (!sub) {
    if (remove && conn.ctx.work.durable.has(remove)) {
      removeDurable(conn, realm, session, remove, frame);
      return;
    }
    conn.fail(
      new RouterError(Errors.noSuchSubscription, `no subscription ${JSON.stringify(idHeader ?? header(frame, 'destination'))}`),
      frame,
    );
    return;
  }
  const lastOnCore = conn.subscriptions.remove(sub);
  if (sub.core && lastOnCore) {
    try {
      realm.unsubscribe(session, sub.core.id);
    } catch (err) {
      if (err instanceof RouterError && err.def === Errors.notAuthorized) {
        conn.subscriptions.add(sub); // refused: the subscription stays as it was
        conn.fail(err, frame);
        return;
      }
      // already gone from the broker: nothing to undo
    }
  }
  if (sub.consumer) conn.ctx.work.queues.cancel(sub.consumer);
  if (sub.durable && remove) {
    removeDurable(conn, realm, session, sub.durable, frame);
    return;
  }
  conn.receipt(frame);
}

/**
 * Deletes a durable subscription of this connection's owner: allowed with unsubscribe on
 * its pattern (README "Authorization"), else ERROR and the subscription stays.
 */
function removeDurable(conn: StompConnection, realm: Realm, session: Session, d: DurableName, frame: StompFrame): void {
  const pattern = conn.ctx.work.durable.pattern(d);
  let pending: Promise<void> | undefined;
  try {
    pending = pattern ? realm.authorize(session, 'unsubscribe', pattern) : undefined;
  } catch (err) {
    conn.fail(asRouterError(err), frame);
    return;
  }
  const unbind = (): void => void conn.ctx.work.durable.unbind(d);
  if (!pending) {
    unbind();
    conn.receipt(frame);
    return;
  }
  conn.receipt(frame, pending.then(unbind));
}

function ackMode(v: string | undefined): AckMode {
  if (v === undefined || v === 'auto' || v === 'client' || v === 'client-individual') return v ?? 'auto';
  throw new RouterError(Errors.invalidArgument, `ack must be auto, client or client-individual, not ${JSON.stringify(v)}`);
}

function prefetchOf(frame: StompFrame): number | undefined {
  const v = header(frame, 'prefetch-count') ?? header(frame, 'activemq.prefetchSize');
  if (v === undefined) return undefined;
  if (!/^\d{1,9}$/.test(v))
    throw new RouterError(Errors.invalidArgument, `prefetch-count must be a non-negative integer, not ${JSON.stringify(v)}`);
  return Number(v);
}

/**
 * The durable subscription a SUBSCRIBE (or UNSUBSCRIBE) names, if any. Names, first
 * found: `activemq.subscriptionName` (ActiveMQ), `durable-subscription-name` or
 * `durable-subscriber-name` (Artemis), and with `durable: true` or `persistent: true`
 * (RabbitMQ) the subscription `id`. The owner is the connection's (its authid and client-id).
 */
export function durableName(conn: StompConnection, frame: StompFrame, id: string): DurableName | undefined {
  const named =
    header(frame, 'activemq.subscriptionName') ??
    header(frame, 'durable-subscription-name') ??
    header(frame, 'durable-subscriber-name');
  const flagged = header(frame, 'durable') === 'true' || header(frame, 'persistent') === 'true';
  const name = named ?? (flagged ? id : undefined);
  if (name === undefined) return undefined;
  if (name === '') throw new RouterError(Errors.invalidArgument, 'a durable subscription needs a name');
  return { realm: conn.realmName, owner: conn.owner, name };
}
