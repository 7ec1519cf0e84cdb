import type { PublishOptions } from './broker';
import { Errors, RouterError } from './errors';
import { isPlainObject, type Payload } from './payload';
import type { Realm } from './realm';
import type { Session } from './session';
import { after } from './settle';
import type { TestamentScope } from './testaments';
import { isValidUri, type MatchPolicy } from './topic';

/**
 * A procedure the router implements itself. `progress` is given when the caller accepts
 * progressive results (WAMP advanced: progressive call results); most ignore it.
 */
export type MetaProcedure = (
  caller: Session,
  args: unknown[],
  kwargs: Record<string, unknown>,
  progress?: (p: Payload) => void,
) => Payload | Promise<Payload>;

const one = (v: unknown): Payload => ({ args: [v] });

/**
 * WAMP advanced: session, subscription and registration meta API, testaments and
 * event history, as router-provided procedures and meta events.
 */
export function installMetaApi(realm: Realm): void {
  const p = realm.builtins;
  const { broker, dealer } = realm;

  // --- session meta API ---
  const byRoles = (kw: unknown): ((s: Session) => boolean) => {
    if (!Array.isArray(kw)) return () => true;
    const roles = new Set(kw.map(String));
    return (s) => roles.has(s.identity.authrole);
  };
  p.set('wamp.session.count', (_c, args) => one([...realm.sessions.values()].filter(byRoles(args[0])).length));
  p.set('wamp.session.list', (_c, args) => one([...realm.sessions.values()].filter(byRoles(args[0])).map((s) => s.id)));
  p.set('wamp.session.get', (_c, args) => one(sessionById(realm, args[0]).details()));
  p.set('wamp.session.kill', (caller, args, kw) => {
    const target = sessionById(realm, args[0]);
    if (target === caller) throw new RouterError(Errors.noSuchSession, 'a session cannot kill itself');
    target.control.close(killReason(kw), closeMessage(kw));
    return {};
  });
  p.set('wamp.session.kill_by_authid', (caller, args, kw) => killWhere(realm, caller, (s) => s.identity.authid === args[0], kw));
  p.set('wamp.session.kill_by_authrole', (caller, args, kw) =>
    killWhere(realm, caller, (s) => s.identity.authrole === args[0], kw),
  );

  // --- testament meta API ---
  p.set('wamp.session.add_testament', (caller, args, kw) => {
    const [topic, targs, tkwargs] = args;
    if (typeof topic !== 'string') throw new RouterError(Errors.invalidArgument, 'add_testament(topic, args, kwargs, options)');
    // checked as a PUBLISH would be: a testament must not forge router meta events
    if (!isValidUri(topic)) throw new RouterError(Errors.invalidUri, `invalid topic URI: ${topic}`);
    realm.refuseReservedTopic(topic);
    const payload: Payload = {};
    if (Array.isArray(targs)) payload.args = targs;
    if (isPlainObject(tkwargs)) payload.kwargs = tkwargs;
    const options = isPlainObject(kw['publish_options']) ? kw['publish_options'] : {};
    // the router publishes it later as itself: the permission is the caller's, now
    return after(realm.authorize(caller, 'publish', topic), () => {
      realm.testaments.add(caller, {
        topic,
        payload,
        options: publishOptionsFrom(options),
        scope: scopeOf(kw['scope']),
        delayMs: 0,
        asOwner: false,
      });
      return {};
    });
  });
  p.set('wamp.session.flush_testaments', (caller, _args, kw) => one(realm.testaments.flush(caller, scopeOf(kw['scope']))));

  // --- subscription meta API ---
  p.set('wamp.subscription.list', () => {
    const out: Record<MatchPolicy, number[]> = { exact: [], prefix: [], wildcard: [] };
    for (const s of broker.all()) out[s.match].push(s.id);
    return one(out);
  });
  p.set('wamp.subscription.lookup', (_c, args) => one(broker.lookup(uriArg(args[0]), matchOf(args[1]))?.id ?? null));
  p.set('wamp.subscription.match', (_c, args) => {
    const ids = broker.matching(uriArg(args[0])).map((s) => s.id);
    return one(ids.length ? ids : null);
  });
  p.set('wamp.subscription.get', (_c, args) => one(subscription(realm, args[0]).details()));
  p.set('wamp.subscription.list_subscribers', (_c, args) =>
    one([...subscription(realm, args[0]).subscribers.keys()].map((s) => s.id)),
  );
  p.set('wamp.subscription.count_subscribers', (_c, args) => one(subscription(realm, args[0]).subscribers.size));
  p.set('wamp.subscription.get_events', (caller, args) => {
    const sub = subscription(realm, args[0]);
    const limit = typeof args[1] === 'number' ? args[1] : undefined;
    // past events are data like live ones: subscribe on the pattern, filtered per topic
    return after(realm.authorize(caller, 'subscribe', sub.pattern), () => {
      const events = realm.history.events(sub.pattern.key, limit);
      if (!events) throw new RouterError(Errors.featureNotSupported, `no event history is kept for ${sub.uri}`);
      return one(events.filter((e) => realm.mayReceive(caller, e.topic)));
    });
  });

  // --- registration meta API ---
  p.set('wamp.registration.list', () => {
    const out: Record<MatchPolicy, number[]> = { exact: [], prefix: [], wildcard: [] };
    for (const r of dealer.all()) out[r.match].push(r.id);
    return one(out);
  });
  p.set('wamp.registration.lookup', (_c, args) => one(dealer.lookup(uriArg(args[0]), matchOf(args[1]))?.id ?? null));
  p.set('wamp.registration.match', (_c, args) => one(dealer.route(uriArg(args[0]))?.id ?? null));
  p.set('wamp.registration.get', (_c, args) => one(registration(realm, args[0]).details()));
  p.set('wamp.registration.list_callees', (_c, args) => one(registration(realm, args[0]).callees.map((e) => e.session.id)));
  p.set('wamp.registration.count_callees', (_c, args) => one(registration(realm, args[0]).callees.length));

  broker.observer = {
    onCreate: (s, sub) => {
      realm.publishMeta('wamp.subscription.on_create', [s.id, sub.details()]);
    },
    onSubscribe: (s, sub) => {
      realm.publishMeta('wamp.subscription.on_subscribe', [s.id, sub.id]);
    },
    onUnsubscribe: (s, sub) => {
      realm.publishMeta('wamp.subscription.on_unsubscribe', [s.id, sub.id]);
    },
    onDelete: (s, sub) => {
      realm.publishMeta('wamp.subscription.on_delete', [s.id, sub.id]);
    },
  };
  dealer.observer = {
    ...dealer.observer,
    onCreate: (s, reg) => {
      realm.publishMeta('wamp.registration.on_create', [s.id, reg.details()]);
    },
    onRegister: (s, reg) => {
      realm.publishMeta('wamp.registration.on_register', [s.id, reg.id]);
    },
    onUnregister: (s, reg) => {
      realm.publishMeta('wamp.registration.on_unregister', [s.id, reg.id]);
    },
    onDelete: (s, reg) => {
      realm.publishMeta('wamp.registration.on_delete', [s.id, reg.id]);
    },
  };
}

function sessionById(realm: Realm, id: unknown): Session {
  const s = typeof id === 'number' ? realm.sessions.get(id) : undefined;
  if (!s) throw new RouterError(Errors.noSuchSession, `no session ${String(id)}`);
  return s;
}

function subscription(realm: Realm, id: unknown) {
  const s = typeof id === 'number' ? realm.broker.get(id) : undefined;
  if (!s) throw new RouterError(Errors.noSuchSubscription, `no subscription ${String(id)}`);
  return s;
}

function registration(realm: Realm, id: unknown) {
  const r = typeof id === 'number' ? realm.dealer.get(id) : undefined;
  if (!r) throw new RouterError(Errors.noSuchRegistration, `no registration ${String(id)}`);
  return r;
}

function uriArg(v: unknown): string {
  if (typeof v !== 'string') throw new RouterError(Errors.invalidArgument, 'a URI string is required');
  return v;
}

function matchOf(options: unknown): MatchPolicy | undefined {
  if (!isPlainObject(options)) return undefined;
  const m = options['match'];
  return m === 'prefix' || m === 'wildcard' || m === 'exact' ? m : undefined;
}

function scopeOf(v: unknown): TestamentScope {
  return v === 'detached' ? 'detached' : 'destroyed';
}

function closeMessage(kw: Record<string, unknown>): string | undefined {
  return typeof kw['message'] === 'string' ? kw['message'] : undefined;
}

/**
 * WAMP advanced, session meta API: the kill procedures' `reason` kwarg is sent as
 * GOODBYE.Reason (wamp.error.invalid_uri if it is not a URI); wamp.close.killed by default.
 */
function killReason(kw: Record<string, unknown>): RouterError {
  const reason = kw['reason'];
  if (reason === undefined) return new RouterError(Errors.killedBySession);
  if (typeof reason !== 'string' || reason === '' || !isValidUri(reason)) {
    throw new RouterError(Errors.invalidUri, `invalid close reason URI: ${JSON.stringify(reason)}`);
  }
  return new RouterError({ ...Errors.killedBySession, wamp: reason });
}

function killWhere(realm: Realm, caller: Session, pred: (s: Session) => boolean, kw: Record<string, unknown>): Payload {
  const reason = killReason(kw);
  const victims = [...realm.sessions.values()].filter((s) => s !== caller && pred(s));
  for (const s of victims) s.control.close(reason, closeMessage(kw));
  return one(victims.map((s) => s.id));
}

/** Translates WAMP PUBLISH options (as used in testaments) to core publish options. */
export function publishOptionsFrom(o: Record<string, unknown>): PublishOptions {
  const out: PublishOptions = {};
  if (o['exclude_me'] === false) out.excludeMe = false;
  if (o['disclose_me'] === true) out.discloseMe = true;
  const nums = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is number => typeof x === 'number') : undefined);
  const strs = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : undefined);
  const set = <K extends keyof PublishOptions>(k: K, v: PublishOptions[K] | undefined) => {
    if (v !== undefined) out[k] = v;
  };
  set('exclude', nums(o['exclude']));
  set('excludeAuthid', strs(o['exclude_authid']));
  set('excludeAuthrole', strs(o['exclude_authrole']));
  set('eligible', nums(o['eligible']));
  set('eligibleAuthid', strs(o['eligible_authid']));
  set('eligibleAuthrole', strs(o['eligible_authrole']));
  return out;
}
