/**
 * Who a mailbox belongs to. One naming for every owner, so MQTT persistent sessions,
 * STOMP work queues, durable subscriptions and router links share one store namespace
 * without colliding: the store name is `<kind>:<name>`, and an owner living in a realm
 * names itself with inRealm() (`<realm length>:<realm>:<local name>`), unambiguous
 * whatever the realm and the local name hold. These are the queue names the store has
 * always held (`mqtt:5:realm:client`, `queue:6:realm1:jobs`), so no data moves.
 */
export type OwnerKind =
  /** an MQTT session that outlives its connection (gates/mqtt/session-records.ts) */
  | 'mqtt'
  /** a named work queue (STOMP `/queue/<name>`) */
  | 'queue'
  /** a durable topic subscription's queue (lib/durable-subscriptions.ts) */
  | 'durable'
  /** a temporary queue owned by one connection, deleted with it */
  | 'temp'
  /** a router link's out-queue (lib/links/) */
  | 'link';

const KINDS: ReadonlySet<string> = new Set<OwnerKind>(['mqtt', 'queue', 'durable', 'temp', 'link']);

/** Every owner kind, for whoever must go through all of them (the age sweep). */
export const OWNER_KINDS = [...KINDS] as readonly OwnerKind[];

export function isOwnerKind(kind: string): kind is OwnerKind {
  return KINDS.has(kind);
}

export interface Owner {
  readonly kind: OwnerKind;
  readonly name: string;
}

/** A local name within a realm, as owners that live in a realm spell it. */
export function inRealm(realm: string, name: string): string {
  return `${realm.length}:${realm}:${name}`;
}

/** The owner's queue name in the store (made once per owner object: hot paths pass the same one). */
export function mailboxName(owner: Owner): string {
  let name = names.get(owner);
  if (name === undefined) names.set(owner, (name = `${owner.kind}:${owner.name}`));
  return name;
}

const names = new WeakMap<Owner, string>();
