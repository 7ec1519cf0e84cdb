/**
 * WAMP advanced, session meta API across the cluster: wamp.session.count / list / get /
 * kill (and kill_by_authid / kill_by_authrole) answer for the sessions of every node.
 * Each node answers for its own sessions with the realm's own procedure; the node asked
 * merges what the others say within a short timeout (a node that does not answer in
 * time is left out: the meta API must not hang on a node that is going away).
 *
 * The registration meta API needs no such round: every node's dealer holds the
 * callees of the whole cluster (remote-callees.ts), so wamp.registration.* already
 * covers every node. Registration ids are those of the node asked.
 */
import { Errors, RouterError } from '../../errors';
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

/** summed over the nodes */
const SUMMED = ['wamp.session.count'];
/** lists concatenated over the nodes */
const CONCATENATED = ['wamp.session.list', 'wamp.session.kill_by_authid', 'wamp.session.kill_by_authrole'];
/** asked of this node first, then of every other: the one that has the session answers */
const FIRST_FOUND = ['wamp.session.get', 'wamp.session.kill'];

const PROCEDURES = [...SUMMED, ...CONCATENATED, ...FIRST_FOUND];

export class SessionMeta {
  /** each realm's own procedures, which answer for this node's sessions */
  private readonly local = new WeakMap<Realm, Map<string, MetaProcedure>>();
  private readonly realms = new Set<Realm>();

  constructor(private readonly ctx: SessionMetaContext) {}

  attach(realm: Realm): void {
    if (this.local.has(realm)) return;
    const own = new Map<string, MetaProcedure>();
    for (const name of PROCEDURES) {
      const proc = realm.builtins.get(name);
      if (!proc) continue;
      own.set(name, proc);
      realm.builtins.set(name, (caller, args, kwargs) => this.cluster(realm, name, proc, caller, args, kwargs));
    }
    this.local.set(realm, own);
    this.realms.add(realm);
  }

  /** Puts the realms' own procedures back (the cluster stops). */
  detach(): void {
    for (const realm of this.realms) for (const [name, proc] of this.local.get(realm) ?? []) realm.builtins.set(name, proc);
    this.realms.clear();
  }

  /** Another node asks about this node's sessions. */
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

  private async cluster(realm: Realm, name: string, proc: MetaProcedure, caller: Session, args: unknown[], kwargs: Record<string, unknown>): Promise<Payload> {
    const req: MetaRequest = { realm: realm.name, procedure: name, args, kwargs };
    if (FIRST_FOUND.includes(name)) {
      try {
        return await proc(caller, args, kwargs);
      } catch (err) {
        if (!(err instanceof RouterError) || err.def !== Errors.noSuchSession) throw err;
        // not here: the node that has it answers, the others say no_such_session
        const replies = await this.askAll(req);
        const found = replies.find((r): r is { ok: Payload } => 'ok' in r);
        if (found) return found.ok;
        const refused = replies.find((r) => 'error' in r && failureOf(r.error).uri !== Errors.noSuchSession.wamp);
        if (refused && 'error' in refused) throw failureOf(refused.error);
        throw err;
      }
    }
    const [mine, replies] = await Promise.all([proc(caller, args, kwargs), this.askAll(req)]);
    const values = [firstArg(mine), ...replies.flatMap((r) => ('ok' in r ? [firstArg(r.ok)] : []))];
    if (SUMMED.includes(name)) return { args: [values.reduce((sum: number, v) => sum + (typeof v === 'number' ? v : 0), 0)] };
    return { args: [values.flatMap((v): unknown[] => (Array.isArray(v) ? (v as unknown[]) : []))] };
  }

  private async askAll(req: MetaRequest): Promise<MetaReply[]> {
    const settled = await Promise.allSettled(this.ctx.peers().map((node) => this.ctx.ask(node, req)));
    return settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
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
  if (typeof realm !== 'string' || typeof procedure !== 'string' || !Array.isArray(args) || !isPlainObject(kwargs)) return undefined;
  return { realm, procedure, args, kwargs };
}
