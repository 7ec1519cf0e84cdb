/**
 * The admin console's procedures (README "Admin console"), router-provided like the meta
 * API and authorized the same way: `call` on the procedure's URI, so a role without
 * `gatehouse.admin.*` is refused them. Actions that change something are reported to
 * the realm's audit hook with the caller (RealmObserver.onAdminAction).
 *
 *   gatehouse.admin.stats()                 -> router-wide counters (lib/admin-stats.ts)
 *   gatehouse.admin.session.get(id)         -> session details, messagesIn/messagesOut, its subscriptions and registrations
 *   gatehouse.admin.session.kick(id, {message}) -> {}; the client gets its protocol's close
 *   gatehouse.admin.queue.list()            -> [{kind, name, messages, bytes, oldestAgeMs, consumers}]
 *   gatehouse.admin.queue.purge(kind, name) -> {purged}
 */
import { Errors, RouterError } from './errors';
import { isPlainObject, type Payload } from './payload';
import type { Realm } from './realm';
import type { Session } from './session';

/** A queue of the durable queue store, as the console shows it. */
export interface QueueInfo {
  /** mqtt (a persistent session's offline queue), queue (STOMP work queue), durable (STOMP durable subscription) */
  kind: string;
  name: string;
  messages: number;
  bytes: number;
  /** age of the oldest message waiting, ms; null when empty */
  oldestAgeMs: number | null;
  /** consumers reading it now: STOMP subscribers of the queue; for an MQTT offline queue 1 while its session is connected, else 0 */
  consumers: number;
}

/** What the router supplies beyond the realm. */
export interface AdminSource {
  stats(): Promise<Record<string, unknown>>;
  queues(realm: string): QueueInfo[];
  /** removes every message of the realm's queue; resolves to how many there were (0: no such queue) */
  purge(realm: string, kind: string, name: string): Promise<number>;
}

const one = (v: unknown): Payload => ({ args: [v] });

export function installAdminApi(realm: Realm, source: AdminSource): void {
  const p = realm.builtins;

  p.set('gatehouse.admin.stats', () => source.stats().then(one));

  p.set('gatehouse.admin.session.get', (_c, args) => {
    const s = sessionArg(realm, args[0]);
    const subscriptions = [];
    for (const sub of realm.broker.all()) {
      const grouped = [...sub.groups.values()].some((g) => g.members.has(s));
      if (sub.subscribers.has(s) || grouped) subscriptions.push(sub.details());
    }
    const registrations = [];
    for (const reg of realm.dealer.all()) if (reg.entryOf(s)) registrations.push(reg.details());
    return one({ ...s.details(), messagesIn: s.messagesIn, messagesOut: s.messagesOut, subscriptions, registrations });
  });

  p.set('gatehouse.admin.session.kick', (caller, args, kw) => {
    const target = sessionArg(realm, args[0]);
    if (target === caller) throw new RouterError(Errors.invalidArgument, 'a session cannot kick itself');
    const message = optionsOf(args[1], kw)['message'];
    const text = typeof message === 'string' && message !== '' ? message : 'disconnected by an administrator';
    realm.audit(caller, 'session.kick', {
      target: target.id,
      targetAuthid: target.identity.authid,
      targetGate: target.transport.gate,
      targetPeer: target.transport.peer,
      message: text,
    });
    // each gate closes its own way (lib/session.ts SessionControl): WAMP GOODBYE
    // wamp.close.killed, MQTT 5 DISCONNECT 0x98 (3.1.1: the connection closes),
    // STOMP ERROR then close
    target.control.close(new RouterError(Errors.killedBySession, text), text);
    return {};
  });

  p.set('gatehouse.admin.queue.list', () => one(source.queues(realm.name)));

  p.set('gatehouse.admin.queue.purge', async (caller, args) => {
    const [kind, name] = args;
    if (typeof kind !== 'string' || typeof name !== 'string') {
      throw new RouterError(Errors.invalidArgument, 'gatehouse.admin.queue.purge(kind, name)');
    }
    const purged = await source.purge(realm.name, kind, name);
    realm.audit(caller, 'queue.purge', { kind, queue: name, purged });
    return one({ purged });
  });
}

function sessionArg(realm: Realm, id: unknown): Session {
  const s = typeof id === 'number' ? realm.sessions.get(id) : undefined;
  if (!s) throw new RouterError(Errors.noSuchSession, `no session ${String(id)}`);
  return s;
}

function optionsOf(arg: unknown, kw: Record<string, unknown>): Record<string, unknown> {
  return isPlainObject(arg) ? arg : kw;
}
