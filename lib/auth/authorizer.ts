/**
 * Authorization, one model for every gate (README "Authorization"). The realm asks here
 * before it routes, subscribes, calls, registers or writes the store, whatever protocol
 * the session came from; gates only map the not-authorized error to their wire.
 *
 * Order of decision for (session, action, URI or pattern):
 *   1. no session (the router itself: testaments, wills of past processes, $SYS) or a
 *      router-internal session (authmethod "router"): allowed;
 *   2. the static rules of the session's role (config auth.roles, lib/auth/permissions.ts),
 *      when one of them matches;
 *   3. the dynamic authorizer (config auth.authorizer), when configured: cached, else
 *      asked (the only asynchronous case); unsubscribe and unregister are not put to it
 *      (allowed: it decided the subscription or registration being undone);
 *   4. otherwise denied, unless no roles and no authorizer are configured at all (then
 *      everything is allowed and `active` is false: the realm skips this class entirely).
 * A role that auth.roles does not list has no rules: step 3 or 4 decides.
 */
import { Errors, RouterError } from '../errors';
import type { Session } from '../session';
import { parsePattern, type TopicPattern } from '../topic';
import { DynamicAuthorizer, type DynamicAuthorizerConfig, type Invoke } from './dynamic-authorizer';
import { compileRole, decidePattern, decideTopic, type Action, type CompiledRole, type PermissionConfig } from './permissions';

export type { Action } from './permissions';

export interface RoleConfig {
  permissions: PermissionConfig[];
}

export interface AuthorizerOptions {
  /** null / undefined: no static roles */
  roles?: Readonly<Record<string, RoleConfig>> | null;
  authorizer?: DynamicAuthorizerConfig | null;
  /** calls the dynamic authorizer's procedure (the router provides it) */
  invoke?: Invoke;
  /** a refused action: logged and counted by the router */
  onDenied?(session: Session, action: Action, uri: string, realm: string): void;
  /** an event not delivered to a subscriber whose pattern reached a denied topic */
  onFiltered?(session: Session): void;
  /** the dynamic authorizer failed (error, timeout): logged */
  onAuthorizerError?(err: unknown, action: Action, uri: string): void;
  /** the router's clock: the dynamic authorizer's cache ages on it (its call timeout is the dealer's, on the same clock) */
  now?: () => number;
}

const UNDO: ReadonlySet<Action> = new Set<Action>(['unsubscribe', 'unregister']);

/** Decisions remembered per role; cleared when a role's map reaches this size. */
const DECISION_CACHE_SIZE = 10_000;

export function isRouterSession(s: Session | undefined): boolean {
  return s === undefined || s.identity.authmethod === 'router';
}

export class Authorizer {
  /** false: everything is allowed, and callers may skip every check */
  active: boolean;
  private roles: ReadonlyMap<string, CompiledRole> | undefined;
  private readonly dynamic: DynamicAuthorizer | undefined;
  /** per role: `${action}\0${uri}` -> static decision (undefined: no rule) */
  private readonly decisions = new Map<string, Map<string, boolean | undefined>>();
  /** per role: event topic -> may a subscriber of that role receive it */
  private readonly receive = new Map<string, Map<string, boolean>>();

  constructor(private readonly options: AuthorizerOptions = {}) {
    this.roles = compileRoles(options.roles);
    if (options.authorizer && options.invoke) {
      this.dynamic = new DynamicAuthorizer(
        options.authorizer,
        options.invoke,
        (err, action, uri) => options.onAuthorizerError?.(err, action, uri),
        options.now,
      );
    }
    this.active = this.roles !== undefined || this.dynamic !== undefined;
  }

  /**
   * New static roles (a config reload): every cached decision goes with the old ones.
   * The realms then re-check what their sessions hold (Realm.revokeUnauthorized); the
   * dynamic authorizer is kept as it was.
   */
  setRoles(roles: Readonly<Record<string, RoleConfig>> | null | undefined): void {
    this.roles = compileRoles(roles);
    this.decisions.clear();
    this.receive.clear();
    this.active = this.roles !== undefined || this.dynamic !== undefined;
  }

  /**
   * Checks one action. Returns undefined when allowed now, throws RouterError
   * (not_authorized) when denied now, and returns a promise (rejecting when denied) when
   * the dynamic authorizer has to be asked. `target` is a concrete URI or a pattern;
   * `whole`: a pattern must be allowed entirely even for subscribe (its events will not
   * be filtered per topic).
   */
  check(
    realm: string,
    session: Session | undefined,
    action: Action,
    target: string | TopicPattern,
    whole = false,
  ): Promise<void> | undefined {
    if (!this.active || session === undefined || isRouterSession(session)) return undefined;
    const pattern = typeof target === 'string' ? exact(target) : target;
    const decided = this.staticDecision(session.identity.authrole, action, pattern, whole);
    if (decided === true) return undefined;
    // undoing what was allowed is not put to the dynamic authorizer (it decided the subscription or registration)
    if (decided === undefined && this.dynamic && UNDO.has(action)) return undefined;
    if (decided === false || !this.dynamic) throw this.denied(session, action, pattern.uri, realm);
    const cached = this.dynamic.cached(realm, session, action, pattern);
    if (cached === true) return undefined;
    if (cached === false) throw this.denied(session, action, pattern.uri, realm);
    return this.dynamic.ask(realm, session, action, pattern).then((allow) => {
      if (!allow) throw this.denied(session, action, pattern.uri, realm);
    });
  }

  /** check() for several actions on one target: all must allow. */
  checkAll(
    realm: string,
    session: Session | undefined,
    actions: readonly Action[],
    target: string | TopicPattern,
  ): Promise<void> | undefined {
    let pending: Promise<void>[] | undefined;
    for (const a of actions) {
      const p = this.check(realm, session, a, target);
      if (p) (pending ??= []).push(p);
    }
    return pending && Promise.all(pending).then(() => undefined);
  }

  /**
   * May this subscriber receive an event on `topic`? Its subscription was allowed as a
   * pattern; this is the per-topic check for what the pattern reaches beyond its
   * permission. Static rules only: where none matches, the pattern's own decision (the
   * dynamic authorizer's, when configured) stands. Cached per role and topic.
   */
  mayReceive(session: Session, topic: string): boolean {
    if (!this.roles || isRouterSession(session)) return true;
    const role = session.identity.authrole;
    let cache = this.receive.get(role);
    if (!cache) this.receive.set(role, (cache = new Map<string, boolean>()));
    let ok = cache.get(topic);
    if (ok === undefined) {
      const d = decideTopic(this.roles.get(role)?.get('subscribe'), topic);
      ok = d ?? this.dynamic !== undefined;
      if (cache.size >= DECISION_CACHE_SIZE) cache.clear();
      cache.set(topic, ok);
    }
    if (!ok) this.options.onFiltered?.(session);
    return ok;
  }

  private staticDecision(role: string, action: Action, pattern: TopicPattern, whole: boolean): boolean | undefined {
    if (!this.roles) return undefined;
    const rules = this.roles.get(role)?.get(action);
    if (pattern.match !== 'exact') return decidePattern(rules, pattern, whole ? 'register' : action);
    let cache = this.decisions.get(role);
    if (!cache) this.decisions.set(role, (cache = new Map<string, boolean | undefined>()));
    const key = `${action}\u0000${pattern.uri}`;
    if (cache.has(key)) return cache.get(key);
    const d = decideTopic(rules, pattern.uri);
    if (cache.size >= DECISION_CACHE_SIZE) cache.clear();
    cache.set(key, d);
    return d;
  }

  private denied(session: Session, action: Action, uri: string, realm: string): RouterError {
    this.options.onDenied?.(session, action, uri, realm);
    return new RouterError(Errors.notAuthorized, `not authorized to ${action} ${uri}`);
  }

  /** the dynamic authorizer's cache size (tests, metrics) */
  get dynamicCacheEntries(): number {
    return this.dynamic?.cacheEntries ?? 0;
  }
}

function compileRoles(
  roles: Readonly<Record<string, RoleConfig>> | null | undefined,
): ReadonlyMap<string, CompiledRole> | undefined {
  if (!roles) return undefined;
  const out = new Map<string, CompiledRole>();
  for (const [name, rc] of Object.entries(roles)) out.set(name, compileRole(rc.permissions));
  return out;
}

function exact(uri: string): TopicPattern {
  return { uri, match: 'exact', key: `exact:${uri}` };
}

/** A pattern from a URI and match policy, or invalid_uri. */
export function patternOf(uri: string, match: TopicPattern['match'] | undefined): TopicPattern {
  const p = parsePattern(uri, match);
  if (!p) throw new RouterError(Errors.invalidUri, `invalid topic pattern: ${uri}`);
  return p;
}

/** Allows everything: the realm's default when the router gives none. */
export const ALLOW_ALL = new Authorizer();
