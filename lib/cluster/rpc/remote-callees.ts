/**
 * The caller's side of cluster RPC: callees registered on other nodes, installed in this
 * node's dealers as proxy callees. The dealer then applies the shared registration
 * policies, fox-wamp concurrency, queuing, progressive calls, cancel and timeouts over
 * the callees of the whole cluster exactly as it does locally (policy lives in the
 * core); a proxy callee only carries the invocation to the callee's node and the
 * answers back.
 */
import type { Logger } from '../../log';
import type { Dealer } from '../../dealer';
import { Errors, RouterError } from '../../errors';
import type { Invocation } from '../../invocation';
import type { Payload } from '../../payload';
import type { Realm } from '../../realm';
import type { Callee, CalleeEntry, Registration } from '../../registration';
import type { RouterCore } from '../../router';
import { tellRevoked, type Session } from '../../session';
import { isProxy, nodeOf, proxySession } from './proxies';
import { recordKey, wirePayload, type CalleeRecord, type RpcSubjects, type ToCallee } from './wire';

export interface RemoteCalleesContext {
  node: string;
  router: RouterCore;
  log: Logger;
  subjects: RpcSubjects;
  send(subject: string, msg: ToCallee): void;
  /** a count for metrics: calls sent to other nodes, conflicts, calls lost with a node */
  count(what: 'call_out' | 'conflict' | 'node_lost'): void;
}

interface Installed {
  rec: CalleeRecord;
  proxy: Session;
  realm: Realm;
  /** the registration the proxy is in; undefined when it lost a conflict */
  regId: number | undefined;
}

interface PeerCallees {
  records: Map<string, Installed>;
  proxies: Map<number, Session>;
  /** one Callee per node and cancel support: the proxy's Callee says where it goes */
  plain: Callee;
  canceling: Callee;
}

interface Pending {
  inv: Invocation;
  dealer: Dealer;
  node: string;
}

export class RemoteCallees {
  private readonly peers = new Map<string, PeerCallees>();
  /** calls on remote callees by this node's id for them (the callee's node echoes it) */
  private readonly pending = new Map<number, Pending>();
  /** the id of a call, kept after it ended here: killnowait interrupts after the end */
  private readonly idOf = new WeakMap<Invocation, number>();
  /** calls handed to the node that keeps their registration's roundrobin turn */
  private readonly routed = new WeakSet<Invocation>();
  private nextId = 0;

  constructor(private readonly ctx: RemoteCalleesContext) {}

  /** Ends the call's bookkeeping (Dealer observer onCallDone, wrapped per realm). */
  callDone(inv: Invocation): void {
    const id = this.idOf.get(inv);
    if (id !== undefined) this.pending.delete(id);
  }

  /**
   * Roundrobin over the whole cluster (Dealer.forward): one node keeps a registration's
   * turn, the node of its first callee in registration order. Every node orders the
   * callees alike (registeredAt, CalleeEntry), so every node names the same keeper with
   * no round trip and no election; a call made elsewhere goes to the keeper, whose
   * dealer picks the callee (its own or another node's) and so turns once over every
   * call of the cluster. A single shared counter would need a round trip per call too,
   * and a keeper picked by hashing the procedure over the live nodes could be a node
   * with no callee, adding a hop for every call; the first callee's node always has
   * one. When that callee leaves, the next callee's node keeps the turn, from its own
   * cursor. A call that came from another node is never handed on again: a keeper
   * whose directory is behind picks among what it knows rather than send the call
   * back and forth.
   */
  forward(reg: Registration, inv: Invocation): CalleeEntry | undefined {
    if (reg.invoke !== 'roundrobin' || isProxy(inv.caller)) return undefined;
    const keeper = reg.callees[0];
    if (!keeper || !isProxy(keeper.session)) return undefined;
    this.routed.add(inv);
    return keeper;
  }

  get pendingCalls(): number {
    return this.pending.size;
  }

  /** Installs (or replaces) a node's callees with exactly these records. */
  replace(node: string, records: readonly CalleeRecord[]): void {
    const peer = this.peer(node);
    const keep = new Set(records.map(recordKey));
    for (const key of [...peer.records.keys()]) if (!keep.has(key)) this.remove(node, key);
    for (const rec of records) this.add(node, rec);
  }

  add(node: string, rec: CalleeRecord): void {
    const peer = this.peer(node);
    const key = recordKey(rec);
    if (peer.records.has(key)) return;
    const realm =
      this.ctx.router.findRealm(rec.realm) ??
      (this.ctx.router.mayJoinRealm(rec.realm) ? this.ctx.router.realm(rec.realm) : undefined);
    if (!realm) return; // no session here can be in that realm
    let proxy = peer.proxies.get(rec.session);
    if (!proxy) {
      proxy = proxySession(node, rec.realm, rec.session, rec.authid, rec.authrole);
      peer.proxies.set(rec.session, proxy);
    }
    const installed: Installed = {
      rec,
      proxy,
      realm,
      regId: this.install(realm, proxy, rec, rec.canCancel ? peer.canceling : peer.plain),
    };
    peer.records.set(key, installed);
  }

  remove(node: string, key: string): void {
    const peer = this.peers.get(node);
    const installed = peer?.records.get(key);
    if (!peer || !installed) return;
    peer.records.delete(key);
    if (installed.regId !== undefined) {
      try {
        installed.realm.dealer.unregister(installed.proxy, installed.regId);
      } catch {
        // already gone (evicted by an earlier registration)
      }
    }
    if (![...peer.records.values()].some((i) => i.proxy === installed.proxy)) peer.proxies.delete(installed.rec.session);
  }

  /**
   * A node is gone (its lease ran out, it said goodbye, it restarted): calls in flight
   * on its callees fail now with `unavailable`, the calls waiting for a callee go to
   * the callees left (or fail with no_such_procedure when none is), its callees go.
   */
  dropNode(node: string, why: string): void {
    const peer = this.peers.get(node);
    if (!peer) return;
    for (const [id, p] of [...this.pending]) {
      if (p.node !== node) continue;
      this.pending.delete(id);
      this.ctx.count('node_lost');
      p.dealer.fail(p.inv, new RouterError(Errors.unavailable, `cluster node ${node} ${why}`));
    }
    for (const key of [...peer.records.keys()]) this.remove(node, key);
    this.peers.delete(node);
  }

  nodes(): string[] {
    return [...this.peers.keys()];
  }

  /** The callee's node answered (RESULT, progressive RESULT or ERROR). */
  result(id: number, payload: Payload, progress: boolean): void {
    const p = this.pending.get(id);
    if (!p) return; // a call that already ended here (timeout, skip, killnowait)
    if (!progress) this.pending.delete(id);
    p.dealer.yield(p.inv, payload, progress);
  }

  error(id: number, failure: Parameters<Dealer['fail']>[1]): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    p.dealer.fail(p.inv, failure);
  }

  private peer(node: string): PeerCallees {
    let peer = this.peers.get(node);
    if (!peer) {
      const plain: Callee = {
        invoke: (inv) => {
          this.invoke(node, inv);
        },
        invokeProgress: (inv, final) => {
          this.progress(node, inv, final);
        },
      };
      const canceling: Callee = {
        ...plain,
        interrupt: (inv, mode, reason) => {
          this.interrupt(node, inv, mode, reason);
        },
      };
      peer = { records: new Map(), proxies: new Map(), plain, canceling };
      this.peers.set(node, peer);
    }
    return peer;
  }

  /**
   * Registers the proxy. A conflict (`single` taken, another invocation policy) that
   * two nodes raced into is settled the same way on every node: the earlier
   * registration wins (registeredAt, then node id, then session id), the later ones
   * are revoked where they live. Returns the registration id, or undefined when the
   * remote callee lost (its own node revokes it when it hears of the winner).
   */
  private install(realm: Realm, proxy: Session, rec: CalleeRecord, callee: Callee): number | undefined {
    const options = {
      match: rec.match,
      invoke: rec.invoke,
      concurrency: rec.concurrency > 0 ? rec.concurrency : undefined,
      discloseCaller: rec.discloseCaller,
      registeredAt: rec.registeredAt,
    };
    try {
      return realm.dealer.register(proxy, rec.uri, options, callee).id;
    } catch (err) {
      const conflict =
        err instanceof RouterError &&
        (err.def === Errors.procedureAlreadyExists || err.def === Errors.procedureExistsWithDifferentPolicy);
      if (!conflict) {
        this.ctx.log.warn({ err, realm: rec.realm, uri: rec.uri, node: nodeOf(proxy) }, 'cluster: remote callee not installed');
        return undefined;
      }
      const reg = realm.dealer.lookup(rec.uri, rec.match);
      if (!reg || !reg.callees.every((e) => this.earlier(rec, nodeOf(proxy), e))) {
        this.ctx.log.debug(
          { realm: rec.realm, uri: rec.uri, node: nodeOf(proxy) },
          'cluster: remote registration lost a conflict',
        );
        return undefined;
      }
      this.ctx.count('conflict');
      this.ctx.log.info(
        { realm: rec.realm, uri: rec.uri, node: nodeOf(proxy), session: rec.session },
        'cluster: an earlier registration on another node wins; the later ones are revoked',
      );
      const lost = new RouterError(Errors.procedureAlreadyExists, `procedure ${rec.uri} was registered earlier on another node`);
      for (const e of [...reg.callees]) {
        realm.dealer.unregister(e.session, reg.id);
        if (isProxy(e.session)) this.forget(e.session, rec);
        else tellRevoked(e.session, [{ kind: 'registration', id: reg.id, uri: reg.uri }], lost);
      }
      return realm.dealer.register(proxy, rec.uri, options, callee).id;
    }
  }

  /** An evicted remote callee stays in the records, marked as not installed. */
  private forget(proxy: Session, like: CalleeRecord): void {
    const peer = this.peers.get(nodeOf(proxy));
    for (const i of peer?.records.values() ?? []) {
      if (i.proxy === proxy && i.rec.uri === like.uri && i.rec.match === like.match) i.regId = undefined;
    }
  }

  private earlier(rec: CalleeRecord, node: string, e: CalleeEntry): boolean {
    if (rec.registeredAt !== e.registeredAt) return rec.registeredAt < e.registeredAt;
    const other = isProxy(e.session) ? nodeOf(e.session) : this.ctx.node;
    if (node !== other) return node < other;
    return rec.session < e.session.id;
  }

  // ----- the proxy callee -----

  private invoke(node: string, inv: Invocation): void {
    const proxy = inv.entry?.session;
    const dealer = proxy && this.ctx.router.findRealm(proxy.realmName)?.dealer;
    // not a catalogue error: an invariant: the dealer hands this proxy only invocations of its own callees
    if (!proxy || !dealer) throw new Error('no remote callee for this invocation');
    const id = ++this.nextId;
    this.pending.set(id, { inv, dealer, node });
    this.idOf.set(inv, id);
    this.ctx.count('call_out');
    this.ctx.send(this.ctx.subjects.toCallee(node), {
      k: 'invoke',
      from: this.ctx.node,
      id,
      realm: proxy.realmName,
      procedure: inv.procedure,
      callee: proxy.id,
      payload: wirePayload(inv.payload),
      timeoutMs: inv.options.timeoutMs ?? 0,
      receiveProgress: inv.options.receiveProgress === true,
      discloseMe: inv.options.discloseMe === true,
      progress: inv.options.progress === true,
      caller: { id: inv.caller.id, authid: inv.caller.identity.authid, authrole: inv.caller.identity.authrole },
      route: this.routed.has(inv),
    });
  }

  private progress(node: string, inv: Invocation, final: boolean): void {
    const id = this.idOf.get(inv);
    if (id === undefined) return;
    this.ctx.send(this.ctx.subjects.toCallee(node), {
      k: 'progress',
      from: this.ctx.node,
      id,
      payload: wirePayload(inv.payload),
      final,
    });
  }

  private interrupt(node: string, inv: Invocation, mode: 'kill' | 'killnowait', reason: string): void {
    const id = this.idOf.get(inv);
    if (id === undefined) return;
    this.ctx.send(this.ctx.subjects.toCallee(node), { k: 'cancel', from: this.ctx.node, id, mode, reason });
  }
}
