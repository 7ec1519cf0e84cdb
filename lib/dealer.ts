import { Errors, RouterError, type CallFailure } from './errors';
import { IdSequence } from './ids';
import { Invocation, type CallerSink, type CallOptions } from './invocation';
import type { Payload } from './payload';
import { CalleeEntry, INVOKE_POLICIES, Registration, type CancelMode, type Callee, type InvokePolicy } from './registration';
import type { Session } from './session';
import { isValidUri, type MatchPolicy } from './topic';
import { timerDelay } from './timers';
import { realClock, type Clock } from './clock';

export interface RegisterOptions {
  match?: MatchPolicy;
  invoke?: InvokePolicy;
  /** fox-wamp: at most N invocations in flight for this callee, the rest queued in order */
  concurrency?: number;
  /** caller identification forced by the callee */
  discloseCaller?: boolean;
  /**
   * When the callee registered (default: now). The cluster (lib/cluster/rpc/) registers
   * remote callees with the time they registered on their own node, so callees are in
   * the same order everywhere and `first` / `last` agree across nodes.
   */
  registeredAt?: number;
}

export interface DealerObserver {
  onCreate?(session: Session, reg: Registration): void;
  onRegister?(session: Session, reg: Registration): void;
  onUnregister?(session: Session, reg: Registration): void;
  onDelete?(session: Session, reg: Registration): void;
  onCallDone?(inv: Invocation, outcome: 'result' | 'error' | 'canceled' | 'timeout'): void;
}

export interface DealerLimits {
  maxRegistrationsPerSession: number;
  maxPendingCallsPerSession: number;
  defaultCallTimeoutMs: number;
}

/**
 * RPC for one realm. Owns registrations and in-flight invocations; nobody else touches
 * them. Invocation routing: exact match first, then the longest matching prefix, then
 * the most specific wildcard (WAMP advanced: pattern-based registration).
 */
export class Dealer {
  private readonly exact = new Map<string, Registration>();
  private readonly patterns: Registration[] = [];
  private readonly byId = new Map<number, Registration>();
  private readonly bySession = new Map<Session, Set<Registration>>();
  private readonly pendingByCaller = new Map<Session, Set<Invocation>>();
  private readonly regIds = new IdSequence();
  private readonly callIds = new IdSequence();
  observer: DealerObserver = {};
  /**
   * Called after a callee registered, on a later turn (once its REGISTERED is out):
   * the durable requests (lib/requests/) deliver what waited for this callee.
   */
  readonly registerHooks = new Set<(session: Session, reg: Registration) => void>();
  /**
   * Where a new registration's id comes from, when set: a cluster (lib/cluster/rpc/)
   * derives it from the procedure, so one registration has the same id on every node.
   * An id already in use here falls back to this dealer's own sequence.
   */
  registrationId: ((uri: string, match: MatchPolicy) => number) | undefined;
  /**
   * Added to the registration time of callees registered here (a fraction of a
   * millisecond): a cluster gives each node its own, so callees of two nodes registered
   * in the same millisecond are in the same order on every node, and those of one node
   * stay in the order they registered.
   */
  registeredAtFraction = 0;
  /**
   * When set, may choose the callee of a new call before the invocation policy does: a
   * cluster hands a roundrobin call to the node that keeps the registration's turn
   * (lib/cluster/rpc/remote-callees.ts). The entry returned takes the call whatever its
   * concurrency: the node it leads to applies that.
   */
  forward: ((reg: Registration, inv: Invocation) => CalleeEntry | undefined) | undefined = undefined;

  constructor(
    private limits: DealerLimits,
    /** the clock of call timeouts (RouterOptions.clock) */
    private readonly clock: Clock = realClock,
  ) {}

  /** New limits (a config reload): they apply to the next register and call. */
  setLimits(limits: DealerLimits): void {
    this.limits = limits;
  }

  register(session: Session, uri: string, options: RegisterOptions, callee: Callee): Registration {
    const match = options.match ?? 'exact';
    if (!validProcedure(uri, match)) throw new RouterError(Errors.invalidUri, `invalid procedure URI: ${uri}`);
    const invoke = options.invoke ?? 'single';
    if (!INVOKE_POLICIES.includes(invoke)) {
      throw new RouterError(Errors.invalidArgument, `unknown invocation policy: ${invoke}`);
    }
    const concurrency = options.concurrency ?? Infinity;
    if (!(concurrency >= 1)) throw new RouterError(Errors.invalidArgument, 'concurrency must be a positive integer');
    const own = this.bySession.get(session) ?? new Set<Registration>();
    if (own.size >= this.limits.maxRegistrationsPerSession) {
      throw new RouterError(Errors.limitExceeded, `at most ${this.limits.maxRegistrationsPerSession} registrations per session`);
    }
    let reg = this.find(uri, match);
    let created = false;
    if (reg) {
      if (reg.invoke === 'single' || invoke === 'single') {
        throw new RouterError(Errors.procedureAlreadyExists, `procedure already registered: ${uri}`);
      }
      if (reg.invoke !== invoke) {
        throw new RouterError(
          Errors.procedureExistsWithDifferentPolicy,
          `procedure ${uri} is registered with policy ${reg.invoke}`,
        );
      }
      if (reg.entryOf(session)) {
        throw new RouterError(Errors.procedureAlreadyExists, `this session already registered ${uri}`);
      }
    } else {
      const wanted = this.registrationId?.(uri, match);
      reg = new Registration(wanted !== undefined && !this.byId.has(wanted) ? wanted : this.regIds.take(), uri, match, invoke);
      if (match === 'exact') this.exact.set(uri, reg);
      else this.patterns.push(reg);
      this.byId.set(reg.id, reg);
      created = true;
    }
    reg.addCallee(
      new CalleeEntry(
        session,
        callee,
        concurrency,
        options.discloseCaller === true,
        options.registeredAt ?? Date.now() + this.registeredAtFraction,
      ),
    );
    own.add(reg);
    this.bySession.set(session, own);
    if (created) this.observer.onCreate?.(session, reg);
    this.observer.onRegister?.(session, reg);
    if (this.registerHooks.size > 0) {
      const done = reg;
      // a later turn: the callee must have its REGISTERED before the first INVOCATION
      setImmediate(() => {
        if (session.closed || !done.entryOf(session)) return;
        for (const hook of this.registerHooks) hook(session, done);
      });
    }
    return reg;
  }

  unregister(session: Session, registrationId: number): Registration {
    const reg = this.byId.get(registrationId);
    const entry = reg?.entryOf(session);
    if (!reg || !entry) throw new RouterError(Errors.noSuchRegistration, `no registration ${registrationId}`);
    this.bySession.get(session)?.delete(reg);
    this.detach(reg, entry);
    return reg;
  }

  /**
   * Starts a call. Results and errors go to `sink`; the returned invocation is the
   * handle for progressive input and cancelation.
   */
  call(caller: Session, procedure: string, payload: Payload, options: CallOptions, sink: CallerSink): Invocation | undefined {
    const reg = this.route(procedure);
    if (!reg) {
      sink.error(new RouterError(Errors.noSuchProcedure, `no callee registered for procedure ${procedure}`));
      return undefined;
    }
    let pending = this.pendingByCaller.get(caller);
    if (pending && pending.size >= this.limits.maxPendingCallsPerSession) {
      sink.error(
        new RouterError(Errors.limitExceeded, `at most ${this.limits.maxPendingCallsPerSession} calls in flight per session`),
      );
      return undefined;
    }
    if (!pending) {
      pending = new Set();
      this.pendingByCaller.set(caller, pending);
    }
    const timeoutMs = options.timeoutMs || this.limits.defaultCallTimeoutMs;
    const inv = new Invocation(this.callIds.take(), caller, sink, procedure, reg, { ...options, timeoutMs }, payload);
    pending.add(inv);
    // a timeout beyond setTimeout's range (~24.8 days) is held to it, not fired at once
    if (timeoutMs > 0)
      inv.timer = this.clock.setTimeout(() => {
        this.timeout(inv, timeoutMs);
      }, timerDelay(timeoutMs));
    const entry = this.forward?.(reg, inv) ?? reg.pick();
    if (entry) this.start(inv, entry);
    else reg.waiting.push(inv);
    return inv;
  }

  /**
   * A call to one chosen callee of `procedure` (durable requests address callees by
   * authid): the first callee `accept`s, one with free capacity if any, else the first
   * accepted regardless of its concurrency (a directed call cannot wait in the shared
   * queue, which any callee may drain). Returns undefined, with the sink untouched, when
   * no registered callee is accepted. Not counted against maxPendingCallsPerSession:
   * the caller is the router.
   */
  callCallee(
    caller: Session,
    procedure: string,
    accept: (callee: Session) => boolean,
    payload: Payload,
    options: CallOptions,
    sink: CallerSink,
  ): Invocation | undefined {
    const reg = this.route(procedure);
    if (!reg) return undefined;
    let chosen: CalleeEntry | undefined;
    for (const e of reg.callees) {
      if (!accept(e.session)) continue;
      if (e.hasCapacity) {
        chosen = e;
        break;
      }
      chosen ??= e;
    }
    if (!chosen) return undefined;
    let pending = this.pendingByCaller.get(caller);
    if (!pending) {
      pending = new Set();
      this.pendingByCaller.set(caller, pending);
    }
    const inv = new Invocation(this.callIds.take(), caller, sink, procedure, reg, options, payload);
    pending.add(inv);
    const callTimeoutMs = options.timeoutMs;
    if (callTimeoutMs)
      inv.timer = this.clock.setTimeout(() => {
        this.timeout(inv, callTimeoutMs);
      }, timerDelay(callTimeoutMs));
    this.start(inv, chosen);
    return inv;
  }

  /** Progressive call invocations: a further input chunk from the caller. */
  progress(inv: Invocation, payload: Payload, final: boolean): void {
    if (inv.state === 'done' || inv.inputDone) return;
    if (final) inv.inputDone = true;
    if (inv.state === 'waiting') {
      inv.pendingChunks.push({ payload, final });
      return;
    }
    inv.payload = payload;
    inv.entry?.callee.invokeProgress(inv, final);
  }

  /** The callee's YIELD. */
  yield(inv: Invocation, payload: Payload, progress: boolean): void {
    if (inv.state !== 'invoked') return; // late answer to a canceled or timed-out call
    if (progress) {
      if (inv.options.receiveProgress) {
        inv.caller.messagesOut++;
        inv.sink.result(payload, true);
      }
      return;
    }
    this.finish(inv, 'result');
    inv.caller.messagesOut++;
    inv.sink.result(payload, false);
  }

  /**
   * The callee's ERROR for an invocation. A router error too: a remote callee's node
   * (lib/cluster/rpc/) passes on the error its own dealer raised, or says it is gone.
   */
  fail(inv: Invocation, error: CallFailure): void {
    if (inv.state !== 'invoked') return;
    const outcome = inv.cancelRequested ? 'canceled' : 'error';
    this.finish(inv, outcome);
    inv.sink.error(error);
  }

  /** WAMP advanced: call canceling. */
  cancel(
    inv: Invocation,
    mode: CancelMode = 'killnowait',
    reason: CallFailure = new RouterError(Errors.canceled, 'call canceled'),
  ): void {
    if (inv.state === 'done') return;
    if (inv.state === 'waiting') {
      this.finish(inv, 'canceled');
      inv.sink.error(reason);
      return;
    }
    const entry = inv.entry;
    if (mode === 'skip' || !entry?.callee.interrupt) {
      this.finish(inv, 'canceled');
      inv.sink.error(reason);
      return;
    }
    const reasonUri = reason instanceof RouterError ? reason.uri : Errors.canceled.wamp;
    if (mode === 'kill') {
      // The caller waits for the callee's answer to the INTERRUPT.
      if (inv.cancelRequested) return;
      inv.cancelRequested = true;
      entry.callee.interrupt(inv, 'kill', reasonUri);
      return;
    }
    this.finish(inv, 'canceled');
    entry.callee.interrupt(inv, 'killnowait', reasonUri);
    inv.sink.error(reason);
  }

  /**
   * A session left: its registrations go, its calls are canceled (but those whose outcome
   * goes to a topic, outlivesCaller, which run on to their end or timeout), calls to it fail.
   */
  removeSession(session: Session): void {
    const pending = this.pendingByCaller.get(session);
    if (pending) {
      // Waiting calls first: canceling an invoked one frees a callee slot, and the
      // drain that follows would otherwise hand this session's next waiting call to a
      // callee only to interrupt it right away.
      const calls = [...pending].filter((inv) => inv.options.outlivesCaller !== true);
      for (const inv of calls) if (inv.state === 'waiting') this.cancel(inv, 'killnowait');
      for (const inv of calls) this.cancel(inv, 'killnowait');
      // the calls that run on stay listed under their (closed) caller: a callee that
      // leaves must still fail them; the last one to finish removes the entry
      if (pending.size === 0) this.pendingByCaller.delete(session);
    }
    const own = this.bySession.get(session);
    if (!own) return;
    this.bySession.delete(session);
    for (const reg of own) {
      const entry = reg.entryOf(session);
      if (entry) this.detach(reg, entry);
    }
  }

  private detach(reg: Registration, entry: CalleeEntry): void {
    // Out of the registration first: finishing its calls below drains waiting calls,
    // and they must go to the remaining callees, never to the one leaving.
    const inflight = [...this.pendingOn(entry)];
    reg.removeCallee(entry);
    // Calls in flight on this callee can never be answered now.
    for (const inv of inflight) {
      this.finish(inv, 'canceled');
      inv.sink.error(new RouterError(Errors.canceled, 'callee went away'));
    }
    this.observer.onUnregister?.(entry.session, reg);
    if (reg.callees.length === 0) {
      if (reg.match === 'exact') this.exact.delete(reg.uri);
      else this.patterns.splice(this.patterns.indexOf(reg), 1);
      this.byId.delete(reg.id);
      for (const inv of reg.waiting.splice(0)) {
        this.finish(inv, 'canceled');
        inv.sink.error(new RouterError(Errors.noSuchProcedure, `procedure ${inv.procedure} was unregistered`));
      }
      this.observer.onDelete?.(entry.session, reg);
    } else {
      this.drain(reg);
    }
  }

  private *pendingOn(entry: CalleeEntry): Iterable<Invocation> {
    if (entry.inflight === 0) return;
    for (const set of this.pendingByCaller.values()) {
      for (const inv of set) if (inv.entry === entry && inv.state === 'invoked') yield inv;
    }
  }

  private start(inv: Invocation, entry: CalleeEntry): void {
    inv.entry = entry;
    inv.state = 'invoked';
    entry.inflight++;
    try {
      entry.callee.invoke(inv);
    } catch (err) {
      // the callee's transport cannot carry this call (e.g. its serializer cannot encode
      // the arguments): the call fails, the callee and the caller carry on
      this.finish(inv, 'error');
      inv.sink.error(
        new RouterError(
          Errors.invalidArgument,
          `the callee cannot receive this call: ${err instanceof Error ? err.message : String(err)}`,
        ),
      );
      return;
    }
    // chunks that arrived while the call waited for a callee
    for (const chunk of inv.pendingChunks.splice(0)) {
      // the callee's invoke above may have ended the call (TypeScript cannot see that:
      // microsoft/TypeScript#9998)
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
      if (inv.state !== 'invoked') break;
      inv.payload = chunk.payload;
      entry.callee.invokeProgress(inv, chunk.final);
    }
  }

  private finish(inv: Invocation, outcome: 'result' | 'error' | 'canceled' | 'timeout'): void {
    const wasInvoked = inv.state === 'invoked';
    inv.state = 'done';
    if (inv.timer) this.clock.clearTimeout(inv.timer);
    const pending = this.pendingByCaller.get(inv.caller);
    if (pending?.delete(inv) === true && pending.size === 0 && inv.caller.closed) this.pendingByCaller.delete(inv.caller);
    const reg = inv.registration;
    if (wasInvoked && inv.entry) {
      inv.entry.inflight--;
      this.drain(reg);
    } else {
      const i = reg.waiting.indexOf(inv);
      if (i >= 0) reg.waiting.splice(i, 1);
    }
    this.observer.onCallDone?.(inv, outcome);
  }

  /** Hands waiting calls to callees that have capacity again, in arrival order. */
  private drain(reg: Registration): void {
    while (reg.waiting.length > 0) {
      const entry = reg.pick();
      if (!entry) return;
      const inv = reg.waiting.shift();
      if (inv) this.start(inv, entry);
    }
  }

  private timeout(inv: Invocation, ms: number): void {
    inv.timer = undefined;
    this.cancel(inv, 'killnowait', new RouterError(Errors.timeout, `call timed out after ${ms} ms`));
  }

  // ----- lookups -----

  /** The registration a call to `procedure` goes to. */
  route(procedure: string): Registration | undefined {
    const exact = this.exact.get(procedure);
    if (exact) return exact;
    let best: Registration | undefined;
    let bestScore = -1;
    for (const reg of this.patterns) {
      const score = matchScore(reg, procedure);
      if (score > bestScore) {
        best = reg;
        bestScore = score;
      }
    }
    return best;
  }

  private find(uri: string, match: MatchPolicy): Registration | undefined {
    if (match === 'exact') return this.exact.get(uri);
    return this.patterns.find((r) => r.uri === uri && r.match === match);
  }

  get(id: number): Registration | undefined {
    return this.byId.get(id);
  }

  lookup(uri: string, match: MatchPolicy = 'exact'): Registration | undefined {
    return this.find(uri, match);
  }

  all(): IterableIterator<Registration> {
    return this.byId.values();
  }

  registrationsOf(session: Session): ReadonlySet<Registration> {
    return this.bySession.get(session) ?? new Set();
  }

  get size(): number {
    return this.byId.size;
  }
}

function validProcedure(uri: string, match: MatchPolicy): boolean {
  if (match === 'exact') return isValidUri(uri);
  if (match === 'prefix') return isValidUri(uri, { allowPrefixDot: true });
  return isValidUri(uri, { allowEmptyComponents: true });
}

/**
 * How well a pattern registration matches, -1 for no match. Any prefix beats any
 * wildcard; a longer prefix beats a shorter one; a wildcard with more fixed components
 * beats one with fewer.
 */
function matchScore(reg: Registration, procedure: string): number {
  if (reg.match === 'prefix') {
    return procedure.startsWith(reg.uri) ? 1_000_000 + reg.uri.length : -1;
  }
  const want = reg.uri.split('.');
  const got = procedure.split('.');
  if (want.length !== got.length) return -1;
  let fixed = 0;
  for (let i = 0; i < want.length; i++) {
    const w = want[i];
    if (w === '') continue;
    if (w !== got[i]) return -1;
    fixed++;
  }
  return fixed;
}
