/**
 * Who may use a work queue, and who may name a reply target: one rule for every gate
 * (README "Authorization"). Work queues are not routed by the realm, and a reply to a
 * bridged call (MQTT `$rpc/`, STOMP `/rpc/`) is written with the router's hand, so
 * neither is checked by realm.publish() on the client's behalf: the gates ask here.
 *
 * - A named queue is the URI `gatehouse.queue.<name>`: sending to it needs `publish`,
 *   consuming it `subscribe` (so a prefix rule covers a family of queues).
 * - A temporary queue belongs to one connection; its name holds 128 random bits, and
 *   knowing it is the permission (lib/work-queues.ts temporary()). No rule applies.
 * - A durable subscription's queue is consumed as its topic pattern, which must be
 *   allowed as a whole (its events are not filtered per topic).
 * - A reply target must be one the requester could publish to itself: a topic it may
 *   publish on and that is not reserved to the router (realm.refuseReservedTopic), or a
 *   queue it may send to. It is checked before the call is made, so a refused target
 *   never receives a reply, not even an error reply (no injection into others' topics
 *   or queues).
 *
 * Each check returns undefined (allowed), throws RouterError not_authorized (denied), or
 * returns a promise when the dynamic authorizer decides.
 */
import type { Realm } from './realm';
import type { Session } from './session';
import type { TopicPattern } from './topic';
import type { QueueAddress } from './work-queues';

/**
 * The URI a work queue has in the authorization model (README "Authorization"):
 * `/queue/orders.eu` is `gatehouse.queue.orders.eu`, so a prefix rule covers a family.
 */
export function queueUri(name: string): string {
  return `gatehouse.queue.${name}`;
}

/** Where a bridged call's reply goes: a topic (canonical) or a work queue. */
export type ReplyTarget = { readonly topic: string } | { readonly queue: QueueAddress };

/** Sending to (`publish`) or consuming (`subscribe`) a work queue. */
export function authorizeQueue(
  realm: Realm,
  session: Session,
  action: 'publish' | 'subscribe',
  address: QueueAddress,
): Promise<void> | undefined {
  // temporary queues: the unguessable name is the capability; durable queues are
  // consumed through their pattern (authorizeDurable) and fed by the router only
  if (address.kind !== 'queue') return undefined;
  return realm.authorize(session, action, queueUri(address.name));
}

/** Consuming a durable subscription: its whole pattern must be allowed. */
export function authorizeDurable(realm: Realm, session: Session, pattern: TopicPattern): Promise<void> | undefined {
  return realm.authorize(session, 'subscribe', pattern, true);
}

/** Naming `target` as the reply target of a call: checked before the call is made. */
export function authorizeReplyTarget(realm: Realm, session: Session, target: ReplyTarget): Promise<void> | undefined {
  if ('queue' in target) return authorizeQueue(realm, session, 'publish', target.queue);
  // the router writes the reply: its reserved topics would otherwise be open to anyone
  realm.refuseReservedTopic(target.topic);
  return realm.authorize(session, 'publish', target.topic);
}
