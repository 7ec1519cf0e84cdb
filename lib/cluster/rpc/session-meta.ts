/**
 * WAMP advanced, session and subscription meta API across the cluster:
 * wamp.session.count / list / get / kill (and kill_by_authid / kill_by_authrole) answer
 * for the sessions of every node, wamp.subscription.list / lookup / match / get /
 * list_subscribers / count_subscribers for the subscriptions of every node. Each node
 * stays the one owner of its own tables and answers for them with the realm's own
 * procedure; the node asked merges what the others say within a short timeout (a node
 * that does not answer in time is left out: the meta API must not hang on a node that
 * is going away). A subscription has the same id on every node (registration-ids.ts),
 * so the merged answers name one subscription by one id.
 *
 * The registration meta API needs no such round: every node's dealer holds the
 * callees of the whole cluster (remote-callees.ts), so wamp.registration.* already
 * covers every node. wamp.subscription.get_events stays this node's: each node keeps
 * the history of what it routed.
 */
import { Errors, RouterError, type ErrorDef } from '../../errors';
import type { MetaProcedure } from '../../meta-api';
import { isPlainObject, type Payload } from '../../payload';
import type { Realm } from '../../realm';
import type { Session } from '../../session';
import { failureOf, payloadOf, wireError, type MetaReply, type MetaRequest } from './wire';
import { proxySession } from './proxies';

export interface SessionMetaContext {
  node: string;
  /** nodes alive now */
  peers(): string[];
  /** asks one node; rejects on timeout or a node without responders */
  ask(node: string, req: MetaRequest): Promise<MetaReply>;
}

/**
 * How the nodes' answers make one:
 * - sum: numbers added up; concat: lists joined; union: ids once each (null when none);
 *   byMatch: the {exact, prefix, wildcard} id lists joined, ids once each;
 * - first: asked of this node first, then of every other: the one that has it answers;
 * - firstNonNull: likewise, where "not here" is a null answer (lookup).
 * `notHere`: the error a node gives for what only another node has; merged answers
 * leave it out, and it is the answer only when every node gives it.
 */
type Merge = 'sum' | 'concat' | 'union' | 'byMatch' | 'first' | 'firstNonNull';
interface Spec {
  merge: Merge;
  notHere?: ErrorDef;
}

const SPECS: ReadonlyMap<string, Spec> = new Map<string, Spec>([
  ['wamp.session.count', { merge: 'sum' }],
  ['wamp.session.list', { merge: 'concat' }],
  ['wamp.session.kill_by_authid', { merge: 'concat' }],
  ['wamp.session.kill_by_authrole', { merge: 'concat' }],
  ['wamp.session.get', { merge: 'first', notHere: Errors.noSuchSession }],
  ['wamp.session.kill', { merge: 'first', notHere: Errors.noSuchSession }],
  ['wamp.subscription.list', { merge: 'byMatch' }],
  ['wamp.subscription.lookup', { merge: 'firstNonNull' }],
  ['wamp.subscription.match', { merge: 'union' }],
  ['wamp.subscription.get', { merge: 'first', notHere: Errors.noSuchSubscription }],
  ['wamp.subscription.list_subscribers', { merge: 'concat', notHere: Errors.noSuchSubscription }],
  ['wamp.subscription.count_subscribers', { merge: 'sum', notHere: Errors.noSuchSubscription }],
]);

const MATCHES = ['exact', 'prefix', 'wildcard'] as const;

export class SessionMeta {
  /** each realm's own procedures, which answer for this node's sessions and subscriptions */
  private readonly local = new WeakMap<Realm, Map<string, MetaProcedure>>();
  private readonly realms = new Set<Realm>();

  constructor(private readonly ctx: SessionMetaContext) {}

  attach(realm: Realm): void {
    if (this.local.has(realm)) return;
    const own = new Map<string, MetaProcedure>();
    for (const [name, spec] of SPECS) {
      const proc = realm.builtins.get(name);
      if (!proc) continue;
      own.set(name, proc);
      realm.builtins.set(name, (caller, args, kwargs) => this.cluster(realm, name, spec, proc, caller, args, kwargs));
    }
    this.local.set(realm, own);
    this.realms.add(realm);
  }

  /** Puts the realms' own procedures back (the cluster stops). */
  detach(): void {
    for (const realm of this.realms) for (const [name, proc] of this.local.get(realm) ?? []) realm.builtins.set(name, proc);
    this.realms.clear();
  }

  /** Another node asks about this node's sessions or subscriptions. */
  async answer(req: MetaRequest, realmOf: (name: string) => Realm | undefined, from: string): Promise<MetaReply> {
    const realm = realmOf(req.realm);
    const proc = realm && this.local.get(realm)?.get(req.procedure);
    if (!proc) return { error: wireError(new RouterError(Errors.noSuchProcedure, `no ${req.procedure} in realm ${req.realm}`)) };
    // the remote caller is never a session of this node (kill refuses only that)
    const caller = proxySession(from, req.realm, 0, '', '');
    try {
      return { ok: await proc(caller, req.args, req.kwargs) };
    } catch (err) {
      return { error: wireError(err instanceof RouterError ? err : new RouterError(Errors.internal, String(err))) };
    }
  }

  private async cluster(
    realm: Realm,
    name: string,
    spec: Spec,
    proc: MetaProcedure,
    caller: Session,
    args: unknown[],
    kwargs: Record<string, unknown>,
  ): Promise<Payload> {
    const req: MetaRequest = { realm: realm.name, procedure: name, args, kwargs };
    const notHere = (uri: string): boolean => spec.notHere !== undefined && uri === spec.notHere.wamp;
    if (spec.merge === 'first' || spec.merge === 'firstNonNull') {
      // this node first: no round trip when it has the answer
      let mine: Payload | undefined;
      try {
        mine = await proc(caller, args, kwargs);
        if (spec.merge === 'first' || present(firstArg(mine))) return mine;
      } catch (err) {
        if (!(err instanceof RouterError) || !notHere(err.def.wamp)) throw err;
        // not here: the node that has it answers, the others say it is not theirs
        const replies = await this.askAll(req);
        const found = replies.find((r): r is { ok: Payload } => 'ok' in r);
        if (found) return found.ok;
        const refused = replies.find((r) => 'error' in r && !notHere(r.error.uri));
        if (refused && 'error' in refused) throw failureOf(refused.error);
        throw err;
      }
      const replies = await this.askAll(req);
      const found = replies.find((r): r is { ok: Payload } => 'ok' in r && present(firstArg(r.ok)));
      return found ? found.ok : mine;
    }
    const [mine, replies] = await Promise.all([settle(proc, caller, args, kwargs), this.askAll(req)]);
    if ('failed' in mine && !(mine.failed instanceof RouterError && notHere(mine.failed.def.wamp))) throw mine.failed;
    const answers = [mine, ...replies].flatMap((r) => ('ok' in r ? [firstArg(r.ok)] : []));
    // nobody has it: this node's own "not here" is the answer
    if ('failed' in mine && answers.length === 0) throw mine.failed;
    return { args: [merged(spec.merge, answers)] };
  }

  private async askAll(req: MetaRequest): Promise<MetaReply[]> {
    const settled = await Promise.allSettled(this.ctx.peers().map((node) => this.ctx.ask(node, req)));
    return settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  }
}

async function settle(
  proc: MetaProcedure,
  caller: Session,
  args: unknown[],
  kwargs: Record<string, unknown>,
): Promise<{ ok: Payload } | { failed: unknown }> {
  try {
    return { ok: await proc(caller, args, kwargs) };
  } catch (failed) {
    return { failed };
  }
}

function present(v: unknown): boolean {
  return v !== null && v !== undefined;
}

function merged(merge: Merge, values: unknown[]): unknown {
  const lists = (): unknown[] => values.flatMap((v): unknown[] => (Array.isArray(v) ? (v as unknown[]) : []));
  switch (merge) {
    case 'sum':
      return values.reduce((sum: number, v) => sum + (typeof v === 'number' ? v : 0), 0);
    case 'union': {
      const ids = [...new Set(lists())];
      return ids.length > 0 ? ids : null;
    }
    case 'byMatch': {
      const out: Record<string, unknown[]> = {};
      for (const m of MATCHES)
        out[m] = [
          ...new Set(values.flatMap((v): unknown[] => (isPlainObject(v) && Array.isArray(v[m]) ? (v[m] as unknown[]) : []))),
        ];
      return out;
    }
    default:
      return lists();
  }
}

function firstArg(p: Payload): unknown {
  return p.args?.[0];
}

/** A meta reply received: checked. */
export function metaReplyOf(v: Record<string, unknown> | undefined): MetaReply | undefined {
  if (!v) return undefined;
  if ('ok' in v) {
    const ok = payloadOf(v['ok']);
    return ok ? { ok } : undefined;
  }
  const error = v['error'];
  return isPlainObject(error) && typeof error['uri'] === 'string' ? { error: { ...error, uri: error['uri'] } } : undefined;
}

export function metaRequestOf(v: Record<string, unknown> | undefined): MetaRequest | undefined {
  if (!v) return undefined;
  const { realm, procedure, args, kwargs } = v;
  if (typeof realm !== 'string' || typeof procedure !== 'string' || !Array.isArray(args) || !isPlainObject(kwargs))
    return undefined;
  return { realm, procedure, args, kwargs };
}
