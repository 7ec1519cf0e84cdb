import { randomUUID } from 'node:crypto';
import { Errors, RouterError, type CallFailure } from '../errors';
import type { Invocation } from '../invocation';
import type { Logger } from '../log';
import type { Payload } from '../payload';
import type { Realm } from '../realm';
import { Session } from '../session';
import { after } from '../settle';
import { timerDelay } from '../timers';
import { realClock, type Clock, type Timer } from '../clock';
import { isValidUri } from '../topic';
import type { Reply, RequestRecord, RequestStore } from './store';

export interface SubmitOptions {
  /** authids, or "all": the authids of the callees registered for the procedure now */
  destinations: readonly string[] | 'all';
  expiresInMs: number;
  retries: number;
}

export interface RequestView {
  status: 'pending' | 'done';
  replies: Reply[];
}

/** a done request's outcomes stay readable this long after it is done (README "Durable requests") */
export const RETENTION_MS = 10 * 60_000;
/** pending requests per realm; more is limit_exceeded */
export const MAX_PENDING_PER_REALM = 10_000;
/** get's longest wait */
export const MAX_WAIT_MS = 300_000;

/** the dispatcher serving each realm, for gates that submit requests (the RPC bridges) */
const byRealm = new WeakMap<Realm, RequestDispatcher>();

export function requestsOf(realm: Realm): RequestDispatcher | undefined {
  return byRealm.get(realm);
}

/** A router at the other end of a link, where a request's procedure is served. */
export interface RemotePeer {
  readonly name: string;
  /** rejects at once while the link is down */
  callPeer(procedure: string, payload: Payload, timeoutMs: number): Promise<Payload>;
}

/** how long a forwarded request's long poll at the peer waits, s */
const REMOTE_WAIT_S = 30;
/** after a failed call to the peer (the link is down), the next try */
const REMOTE_RETRY_MS = 1000;

/** One delivery in flight; `inv` is set once the dealer started it. */
interface Attempt {
  inv?: Invocation | undefined;
}

/**
 * Delivers durable requests (README "Durable requests"): each destination authid gets
 * the call as soon as a callee with that authid is registered for the procedure (now,
 * or when one registers later: Dealer.registerHooks), and exactly one outcome is kept
 * per destination: the result, the callee's error, the router's error once the retries
 * are used up, or gatehouse.error.expired when the request expires first. The records
 * live in the queue store (RequestStore), so a restart loses only the attempts that
 * were in flight, and those are delivered again.
 */
export class RequestDispatcher {
  private readonly callers = new Map<string, { realm: Realm; caller: Session }>();
  /** `${id}\0${destination}` -> the delivery in flight */
  private readonly inflight = new Map<string, Attempt>();
  /** per request: its expiry timer while pending, its removal timer once done */
  private readonly timers = new Map<string, Timer>();
  /** per request: get()s waiting for it to be done */
  private readonly waiters = new Map<string, Set<() => void>>();
  /** per request: who hears of each outcome as it comes (in memory: not after a restart) */
  private readonly watchers = new Map<string, Set<(reply: Reply) => void>>();
  /** per realm: the ids of its requests not done yet (a registration looks only at these) */
  private readonly pending = new Map<string, Set<string>>();
  private closed = false;
  /** where a procedure is served over a link (lib/links/): set by the router */
  remotes: ((realm: string, procedure: string) => RemotePeer | undefined) | undefined;
  /** forwarded requests being followed at their peer */
  private readonly following = new Set<string>();

  constructor(
    private readonly store: RequestStore,
    private readonly log: Logger,
    /** counts each destination's outcome (result, error, expired, lost) and each retry */
    private readonly count: (outcome: string) => void = () => undefined,
    /** the clock of expiry, retention and get's wait (RouterOptions.clock) */
    private readonly clock: Clock = realClock,
  ) {}

  /** Re-arms the timers of the stored requests (start-up); delivery waits for their realm. */
  restore(): void {
    let n = 0;
    for (const r of this.store.all()) {
      this.schedule(r);
      if (isDone(r)) continue;
      this.pendingOf(r.realm).add(r.id);
      if (r.remote) this.follow(r.id);
      n++;
    }
    if (n > 0) this.log.info({ requests: n }, 'pending durable requests restored');
  }

  /** A realm exists: its callees can now be reached. */
  attach(realm: Realm): void {
    const caller = new Session(
      { gate: 'core', type: 'durable-request', peer: '-' },
      { authid: 'gatehouse', authrole: 'router', authmethod: 'router', authprovider: 'gatehouse' },
      { close: () => undefined },
    );
    this.callers.set(realm.name, { realm, caller });
    byRealm.set(realm, this);
    realm.dealer.registerHooks.add((session) => {
      this.onRegister(realm.name, session.identity.authid);
    });
    for (const r of this.pendingRequests(realm.name)) this.dispatchAll(r);
  }

  submit(
    realm: Realm,
    by: Session,
    procedure: string,
    payload: Payload,
    options: SubmitOptions,
  ): Promise<{ id: string }> | { id: string } {
    if (!isValidUri(procedure)) throw new RouterError(Errors.invalidUri, `invalid procedure URI: ${procedure}`);
    // the caller must be allowed to call what it asks the router to call for it
    return after(realm.authorize(by, 'call', procedure), async () => {
      if (this.pendingOf(realm.name).size >= MAX_PENDING_PER_REALM)
        throw new RouterError(Errors.limitExceeded, `at most ${MAX_PENDING_PER_REALM} pending requests per realm`);
      // a procedure a link's `calls` cover is served at the peer: so are its destinations
      const peer = options.destinations === 'all' ? undefined : this.remotes?.(realm.name, procedure);
      const destinations =
        options.destinations === 'all' ? registeredAuthids(realm, procedure) : [...new Set(options.destinations)];
      if (destinations.length === 0) {
        throw new RouterError(
          Errors.noSuchProcedure,
          `no callee registered for ${procedure} ("all" names the callees registered when the request is submitted)`,
        );
      }
      const now = this.clock.now();
      const record: RequestRecord = {
        id: randomUUID(),
        realm: realm.name,
        procedure,
        ...(payload.args ? { args: payload.args } : {}),
        ...(payload.kwargs ? { kwargs: payload.kwargs } : {}),
        destinations,
        owner: by.identity.authid,
        createdAt: now,
        expiresAt: now + options.expiresInMs,
        retries: options.retries,
        lost: {},
        replies: [],
        ...(peer ? { remote: { link: peer.name } } : {}),
      };
      // stored before the id is handed out: {id} means it survives a restart
      await this.store.put(record);
      this.pendingOf(realm.name).add(record.id);
      realm.audit(by, 'request.submit', { id: record.id, procedure, destinations });
      this.schedule(record);
      if (record.remote) this.follow(record.id);
      else this.dispatchAll(record);
      return { id: record.id };
    });
  }

  /**
   * The outcomes so far; with waitMs, once the request is done or the wait is over.
   * `onReply` hears each outcome as it comes (those already in first) while waiting.
   */
  async get(realm: Realm, by: Session, id: string, waitMs: number, onReply?: (reply: Reply) => void): Promise<RequestView> {
    const r = this.store.get(id);
    if (!r || r.realm !== realm.name) throw new RouterError(Errors.noSuchKey, `no request ${id}`);
    if (r.owner !== by.identity.authid && by.identity.authmethod !== 'router') {
      throw new RouterError(Errors.notAuthorized, `request ${id} belongs to another authid`);
    }
    const unwatch = onReply ? this.watch(id, onReply) : undefined;
    try {
      if (!isDone(r) && waitMs > 0) await this.waitDone(id, Math.min(waitMs, MAX_WAIT_MS));
    } finally {
      unwatch?.();
    }
    return view(this.store.get(id) ?? r);
  }

  /**
   * Calls `fn` with each outcome of request `id`, those already in first, until it is
   * done or the returned function is called.
   */
  watch(id: string, fn: (reply: Reply) => void): () => void {
    const r = this.store.get(id);
    for (const reply of r?.replies ?? []) fn(reply);
    if (!r || isDone(r)) return () => undefined;
    let set = this.watchers.get(id);
    if (!set) this.watchers.set(id, (set = new Set()));
    set.add(fn);
    return () => set.delete(fn);
  }

  close(): void {
    this.watchers.clear();
    this.closed = true;
    for (const t of this.timers.values()) this.clock.clearTimeout(t);
    this.timers.clear();
    for (const set of this.waiters.values()) for (const wake of set) wake();
    this.waiters.clear();
  }

  // ----- over a link -----

  /**
   * A request served at a link's peer: submitted there once (its id kept in the record,
   * so a restart follows the same request), then long-polled until it is done, each
   * outcome copied into the record as it comes. While the link is down every step is
   * tried again each second; the request's own expiry still ends it here.
   */
  private follow(id: string): void {
    if (this.following.has(id)) return;
    this.following.add(id);
    const step = async (): Promise<boolean> => {
      const r = this.store.get(id);
      if (this.closed || !r || isDone(r) || !r.remote) return false;
      const peer = this.remotes?.(r.realm, r.procedure);
      if (!peer || peer.name !== r.remote.link)
        throw new RouterError(Errors.unavailable, `link ${r.remote.link} is not configured`);
      const remaining = r.expiresAt - this.clock.now();
      if (remaining <= 0) return false; // the expiry timer settles it
      if (r.remote.id === undefined) {
        const options = {
          destinations: r.destinations,
          expires_in: Math.max(1, Math.ceil(remaining / 1000)),
          retries: r.retries,
        };
        const res = await peer.callPeer(
          'gatehouse.request.submit',
          { args: [r.procedure, r.args ?? [], r.kwargs ?? {}, options] },
          10_000,
        );
        const remoteId = (res.args?.[0] as { id?: unknown } | undefined)?.id;
        if (typeof remoteId !== 'string')
          throw new RouterError(Errors.invalidArgument, `link ${peer.name}: the peer gave no request id`);
        const now = this.store.get(id);
        if (!now) return false;
        await this.store.put({ ...now, remote: { link: peer.name, id: remoteId } });
        return true;
      }
      const wait = Math.max(1, Math.min(REMOTE_WAIT_S, Math.floor(remaining / 1000)));
      const res = await peer.callPeer('gatehouse.request.get', { args: [r.remote.id, { wait }] }, (wait + 10) * 1000);
      const viewed = res.args?.[0] as { status?: unknown; replies?: unknown } | undefined;
      const replies = Array.isArray(viewed?.replies) ? (viewed.replies as Reply[]) : [];
      for (const reply of replies)
        if (typeof reply.destination === 'string' && r.destinations.includes(reply.destination)) this.reply(id, reply);
      return !isDone(this.store.get(id) ?? r);
    };
    const loop = (): void => {
      step().then(
        (again) => {
          if (again) loop();
          else this.following.delete(id);
        },
        (err: unknown) => {
          if (this.closed) return;
          this.log.debug({ id, err }, 'durable request: the link peer did not answer, trying again');
          const t = this.clock.setTimeout(loop, REMOTE_RETRY_MS);
          t.unref();
        },
      );
    };
    loop();
  }

  // ----- delivery -----

  private onRegister(realm: string, authid: string): void {
    // a request served over a link is delivered at the peer, never here
    for (const r of this.pendingRequests(realm)) if (!r.remote && r.destinations.includes(authid)) this.dispatch(r, authid);
  }

  private pendingOf(realm: string): Set<string> {
    let set = this.pending.get(realm);
    if (!set) this.pending.set(realm, (set = new Set()));
    return set;
  }

  /** the realm's requests not done, read now (a snapshot: dispatching may finish some) */
  private pendingRequests(realm: string): RequestRecord[] {
    const out: RequestRecord[] = [];
    for (const id of this.pending.get(realm) ?? []) {
      const r = this.store.get(id);
      if (r && !isDone(r)) out.push(r);
    }
    return out;
  }

  private dispatchAll(r: RequestRecord): void {
    if (r.remote) return; // delivered at the link's peer (follow())
    for (const d of r.destinations) this.dispatch(r, d);
  }

  private dispatch(r: RequestRecord, destination: string): void {
    const key = `${r.id}\0${destination}`;
    const at = this.callers.get(r.realm);
    if (this.closed || !at || this.inflight.has(key) || hasReply(r, destination)) return;
    const remaining = r.expiresAt - this.clock.now();
    if (remaining <= 0) return; // the expiry timer settles it
    const attempt: Attempt = {};
    this.inflight.set(key, attempt);
    const current = (): boolean => this.inflight.get(key) === attempt;
    const payload: Payload = {};
    if (r.args) payload.args = [...r.args];
    if (r.kwargs) payload.kwargs = { ...r.kwargs };
    const inv = at.realm.dealer.callCallee(
      at.caller,
      r.procedure,
      (s) => !s.closed && s.identity.authid === destination,
      payload,
      // the expiry timer, not the call timeout, ends a call that outlives the request
      { timeoutMs: remaining + 1000 },
      {
        result: (p, progress) => {
          if (progress || !current()) return;
          this.inflight.delete(key);
          this.count('result');
          this.reply(r.id, { destination, args: p.args ?? (p.bytes ? [p.bytes] : []), kwargs: p.kwargs ?? {} });
        },
        error: (failure) => {
          if (!current()) return;
          this.inflight.delete(key);
          this.failed(r.id, destination, failure);
        },
      },
    );
    if (!inv) {
      if (current()) this.inflight.delete(key);
      return;
    }
    attempt.inv = inv;
  }

  private failed(id: string, destination: string, failure: CallFailure): void {
    const r = this.store.get(id);
    if (!r || hasReply(r, destination)) return;
    // the dealer fails a call with `canceled` only when its callee went away (the
    // router never cancels a delivery it still wants): a retry, while the budget lasts
    if (failure instanceof RouterError && failure.def === Errors.canceled) {
      const lost = (r.lost[destination] ?? 0) + 1;
      if (lost <= r.retries) {
        this.count('retry');
        const next: RequestRecord = { ...r, lost: { ...r.lost, [destination]: lost } };
        void this.store.put(next).catch((err: unknown) => {
          this.log.error({ err, id }, 'durable request not stored');
        });
        // a later turn: the dealer is still detaching the callee that went away
        setImmediate(() => {
          const now = this.store.get(id);
          if (now && !isDone(now)) this.dispatch(now, destination);
        });
        return;
      }
      this.count('lost');
      this.reply(
        id,
        errorReply(destination, Errors.canceled.wamp, [
          `the callee of ${destination} went away ${lost} time(s), retries: ${r.retries}`,
        ]),
      );
      return;
    }
    this.count('error');
    this.reply(id, errorReply(destination, failure.uri, failure.args ?? [], failure.kwargs ?? {}));
  }

  private reply(id: string, reply: Reply): void {
    const r = this.store.get(id);
    if (!r || hasReply(r, reply.destination)) return;
    const replies = [...r.replies, reply];
    const next: RequestRecord =
      replies.length >= r.destinations.length ? { ...r, replies, doneAt: this.clock.now() } : { ...r, replies };
    void this.store.put(next).catch((err: unknown) => {
      this.log.error({ err, id }, 'durable request outcome not stored');
    });
    this.tell(id, [reply]);
    if (isDone(next)) this.done(next);
  }

  private tell(id: string, replies: readonly Reply[]): void {
    const set = this.watchers.get(id);
    if (!set) return;
    for (const fn of [...set]) {
      for (const reply of replies) {
        try {
          fn(reply);
        } catch (err) {
          this.log.warn({ err, id }, 'a durable request watcher failed');
        }
      }
    }
  }

  private done(r: RequestRecord): void {
    this.pending.get(r.realm)?.delete(r.id);
    this.watchers.delete(r.id);
    this.schedule(r);
    const set = this.waiters.get(r.id);
    this.waiters.delete(r.id);
    if (set) for (const wake of set) wake();
  }

  // ----- timers -----

  /** Pending: expires at expiresAt. Done: removed RETENTION_MS after it was done. */
  private schedule(r: RequestRecord): void {
    const old = this.timers.get(r.id);
    if (old) this.clock.clearTimeout(old);
    const done = isDone(r);
    const at = done ? (r.doneAt ?? this.clock.now()) + RETENTION_MS : r.expiresAt;
    const timer = this.clock.setTimeout(
      () => {
        if (done) this.remove(r.id);
        else this.expire(r.id);
      },
      timerDelay(Math.max(0, at - this.clock.now())),
    );
    timer.unref();
    this.timers.set(r.id, timer);
  }

  private expire(id: string): void {
    this.timers.delete(id);
    const r = this.store.get(id);
    if (!r || isDone(r)) return;
    const replies = [...r.replies];
    for (const d of r.destinations) {
      if (hasReply(r, d)) continue;
      const key = `${id}\0${d}`;
      const attempt = this.inflight.get(key);
      this.inflight.delete(key);
      const inv = attempt?.inv;
      if (inv && inv.state !== 'done') this.callers.get(r.realm)?.realm.dealer.cancel(inv, 'killnowait');
      this.count('expired');
      replies.push(errorReply(d, Errors.expired.wamp, [`${d} did not answer before the request expired`], { destination: d }));
    }
    const next: RequestRecord = { ...r, replies, doneAt: this.clock.now() };
    void this.store.put(next).catch((err: unknown) => {
      this.log.error({ err, id }, 'durable request expiry not stored');
    });
    this.tell(id, replies.slice(r.replies.length));
    this.done(next);
  }

  private remove(id: string): void {
    this.timers.delete(id);
    this.store.delete(id);
  }

  private waitDone(id: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      let set = this.waiters.get(id);
      if (!set) this.waiters.set(id, (set = new Set()));
      const wake = (): void => {
        this.clock.clearTimeout(timer);
        set.delete(wake);
        resolve();
      };
      const timer = this.clock.setTimeout(wake, ms);
      set.add(wake);
    });
  }
}

function isDone(r: RequestRecord): boolean {
  return r.replies.length >= r.destinations.length;
}

function hasReply(r: RequestRecord, destination: string): boolean {
  return r.replies.some((x) => x.destination === destination);
}

function errorReply(destination: string, error: string, args: unknown[], kwargs: Record<string, unknown> = {}): Reply {
  return { destination, error, args, kwargs };
}

function view(r: RequestRecord): RequestView {
  return { status: isDone(r) ? 'done' : 'pending', replies: [...r.replies] };
}

/** the distinct authids of the callees registered for `procedure` now */
function registeredAuthids(realm: Realm, procedure: string): string[] {
  const reg = realm.dealer.route(procedure);
  return reg ? [...new Set(reg.callees.map((e) => e.session.identity.authid))] : [];
}
