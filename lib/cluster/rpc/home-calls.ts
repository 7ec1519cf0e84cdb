/**
 * The callee's side of cluster RPC: invocations other nodes send to a callee of this
 * node. Each runs as a directed call on the local callee (Dealer.callCallee, like the
 * durable requests), with a proxy of the remote caller so caller identification works.
 * The caller's node already chose the callee by policy; here fox-wamp `concurrency`
 * holds over the calls of every node: an invocation that finds its callee busy waits
 * here, in arrival order, for one of the callee's calls to end.
 *
 * A roundrobin call comes here unaddressed when this node keeps the registration's turn
 * (remote-callees.ts, forward): it is routed by this node's dealer like a call of its
 * own clients, to a callee here or on another node.
 */
import type { Dealer } from '../../dealer';
import { Errors, RouterError, type CallFailure } from '../../errors';
import type { CallOptions, CallerSink, Invocation } from '../../invocation';
import type { Payload } from '../../payload';
import type { CalleeEntry, Registration } from '../../registration';
import type { RouterCore } from '../../router';
import type { Session } from '../../session';
import { isProxy, proxySession } from './proxies';
import { wireError, wirePayload, reasonOf, type RpcSubjects, type ToCallee, type ToCaller } from './wire';

export interface HomeCallsContext {
  router: RouterCore;
  subjects: RpcSubjects;
  send(subject: string, msg: ToCaller): void;
  count(what: 'call_in' | 'callee_gone'): void;
}

type Invoke = Extract<ToCallee, { k: 'invoke' }>;

interface HomeCall {
  key: string;
  from: string;
  id: number;
  dealer: Dealer;
  /** the callee it was sent to; undefined for a call this node routes (roundrobin turn) */
  entry: CalleeEntry | undefined;
  /** set once it runs on the callee */
  inv: Invocation | undefined;
  /** until it runs: the call and the progressive chunks that came meanwhile */
  start: { caller: Session; procedure: string; payload: Payload; options: CallOptions } | undefined;
  chunks: { payload: Payload; final: boolean }[];
}

export class HomeCalls {
  private readonly calls = new Map<string, HomeCall>();
  /** invocations waiting for a busy callee (concurrency), per callee */
  private readonly queues = new Map<CalleeEntry, HomeCall[]>();

  constructor(private readonly ctx: HomeCallsContext) {}

  get size(): number {
    return this.calls.size;
  }

  handle(m: ToCallee): void {
    const key = `${m.from}\u0000${m.id}`;
    if (m.k === 'invoke') {
      this.invoke(key, m);
      return;
    }
    const call = this.calls.get(key);
    if (!call) return; // ended here already
    if (m.k === 'progress') {
      if (call.inv) call.dealer.progress(call.inv, m.payload, m.final);
      else call.chunks.push({ payload: m.payload, final: m.final });
      return;
    }
    if (call.inv) {
      call.dealer.cancel(call.inv, m.mode, reasonOf(m.reason));
      return;
    }
    // still waiting for the callee: it never ran, the caller gets its answer now
    this.unqueue(call);
    this.end(call, reasonOf(m.reason));
  }

  private invoke(key: string, m: Invoke): void {
    this.ctx.count('call_in');
    if (m.route) {
      this.route(key, m);
      return;
    }
    const dealer = this.ctx.router.findRealm(m.realm)?.dealer;
    const reg = dealer?.route(m.procedure);
    const entry = reg?.callees.find((e) => e.session.id === m.callee && !isProxy(e.session));
    if (!dealer || !entry) {
      // it left before the invocation arrived: the caller's directory was behind
      this.ctx.count('callee_gone');
      this.reply(m.from, { k: 'error', id: m.id, error: wireError(new RouterError(Errors.canceled, 'callee went away')) });
      return;
    }
    const { caller, options } = callOf(m);
    const call: HomeCall = {
      key,
      from: m.from,
      id: m.id,
      dealer,
      entry,
      inv: undefined,
      start: { caller, procedure: m.procedure, payload: m.payload, options },
      chunks: [],
    };
    this.calls.set(key, call);
    if (entry.hasCapacity) this.run(call);
    else {
      const q = this.queues.get(entry) ?? [];
      q.push(call);
      this.queues.set(entry, q);
    }
  }

  /** This node keeps the roundrobin turn: its dealer picks the callee, here or elsewhere. */
  private route(key: string, m: Invoke): void {
    const dealer = this.ctx.router.findRealm(m.realm)?.dealer;
    if (!dealer) {
      this.reply(m.from, {
        k: 'error',
        id: m.id,
        error: wireError(new RouterError(Errors.noSuchProcedure, `no callee registered for procedure ${m.procedure}`)),
      });
      return;
    }
    const { caller, options } = callOf(m);
    const call: HomeCall = {
      key,
      from: m.from,
      id: m.id,
      dealer,
      entry: undefined,
      inv: undefined,
      start: undefined,
      chunks: [],
    };
    this.calls.set(key, call);
    // undefined: already answered through the sink (no callee left, a limit)
    call.inv = dealer.call(caller, m.procedure, m.payload, options, this.sinkOf(call));
  }

  private sinkOf(call: HomeCall): CallerSink {
    return {
      result: (payload, progress) => {
        if (!progress) this.calls.delete(call.key);
        this.reply(call.from, { k: 'result', id: call.id, payload: wirePayload(payload), progress });
      },
      error: (failure) => {
        this.end(call, failure);
      },
    };
  }

  private run(call: HomeCall): void {
    const start = call.start;
    if (!start || !call.entry) return;
    call.start = undefined;
    const sink = this.sinkOf(call);
    const callee = call.entry.session;
    call.inv = call.dealer.callCallee(start.caller, start.procedure, (s) => s === callee, start.payload, start.options, sink);
    if (!call.inv) {
      this.end(call, new RouterError(Errors.canceled, 'callee went away'));
      return;
    }
    for (const c of call.chunks.splice(0)) call.dealer.progress(call.inv, c.payload, c.final);
  }

  private end(call: HomeCall, failure: CallFailure): void {
    this.calls.delete(call.key);
    this.reply(call.from, { k: 'error', id: call.id, error: wireError(failure) });
  }

  /** A call of this realm's dealer ended: a callee it freed takes the next waiting invocation. */
  callDone(inv: Invocation): void {
    const entry = inv.entry;
    const q = entry && this.queues.get(entry);
    if (!entry || !q) return;
    while (q.length > 0 && entry.hasCapacity) {
      const next = q.shift();
      if (next) this.run(next);
    }
    if (q.length === 0) this.queues.delete(entry);
  }

  /** A local callee left a registration: invocations waiting for it fail. */
  calleeLeft(session: Session, reg: Registration): void {
    for (const [entry, q] of [...this.queues]) {
      if (entry.session !== session || reg.callees.includes(entry)) continue;
      this.queues.delete(entry);
      for (const call of q) this.end(call, new RouterError(Errors.canceled, 'callee went away'));
    }
  }

  /** A caller's node is gone: its calls end here (the callees that can be are interrupted). */
  dropNode(node: string): void {
    for (const call of [...this.calls.values()]) {
      if (call.from !== node) continue;
      this.calls.delete(call.key);
      if (call.inv) call.dealer.cancel(call.inv, 'killnowait', new RouterError(Errors.canceled, `cluster node ${node} is gone`));
      else this.unqueue(call);
    }
  }

  private unqueue(call: HomeCall): void {
    if (!call.entry) return;
    const q = this.queues.get(call.entry);
    const i = q?.indexOf(call) ?? -1;
    if (q && i >= 0) q.splice(i, 1);
    if (q?.length === 0) this.queues.delete(call.entry);
  }

  private reply(node: string, msg: ToCaller): void {
    this.ctx.send(this.ctx.subjects.toCaller(node), msg);
  }
}

/** The remote caller's stand-in and the call's options, as the caller's node sent them. */
function callOf(m: Invoke): { caller: Session; options: CallOptions } {
  const options: CallOptions = {
    receiveProgress: m.receiveProgress,
    discloseMe: m.discloseMe,
    progress: m.progress,
  };
  // the callee sees the caller's timeout (INVOCATION.Details.timeout) and is
  // interrupted when it passes, also when the caller's node is gone by then
  if (m.timeoutMs > 0) options.timeoutMs = m.timeoutMs;
  const caller = proxySession(m.from, m.realm, m.caller.id, m.caller.authid, m.caller.authrole);
  // a stand-in for one call: closed, so the dealer forgets it with its last call
  caller.closed = true;
  return { caller, options };
}
