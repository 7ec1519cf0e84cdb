import { Errors, RouterError } from './errors';
import type { PublishOptions } from './broker';
import type { Payload } from './payload';
import type { RetainOptions } from './retained';
import type { Session } from './session';
import { realClock, type Clock, type Timer } from './clock';
import { timerDelay } from './timers';

/**
 * WAMP advanced, testament meta API: `detached` fires when the session loses its
 * transport, `destroyed` when the session itself ends. A session without resumption (WAMP
 * here) is both at once: detached ones fire first.
 */
export type TestamentScope = 'destroyed' | 'detached';

/**
 * What a session leaves behind, as plain data (no session object, no timer), so that a
 * record could be stored and fired by another node when this one is gone.
 */
export interface Testament {
  /** canonical topic */
  topic: string;
  payload: Payload;
  options: PublishOptions & RetainOptions;
  scope: TestamentScope;
  /**
   * ms to wait after the session detaches before it fires (MQTT 5 Will Delay Interval,
   * §3.1.3.2.2); the session ending, or its resumption, settles it earlier. 0: at once.
   */
  delayMs: number;
  /**
   * Published as the owning session, its permissions checked again (an MQTT will is the
   * client's own PUBLISH, [MQTT-3.1.2-8]); otherwise by the router itself (a WAMP
   * testament, authorized when it was added).
   */
  asOwner: boolean;
}

/** Whose testament it is: enough for any node to tell which session was lost. */
export interface TestamentOwner {
  realm: string;
  session: number;
}

/** A testament with its owner: the storable form. */
export interface TestamentRecord extends Testament {
  owner: TestamentOwner;
}

/** What the mechanism does when a testament is due, and the other session-loss hook. */
export interface TestamentHooks {
  /** publishes a due testament (reporting, never throwing, a failure) */
  fire(owner: Session, t: Testament): void;
  /** the store's wills (lib/retained.ts RetainedTopics.sessionEnded), when the session ends */
  sessionEnded?(session: Session): void;
}

/**
 * Where a testament is also recorded so that another node fires it when this one dies
 * (store.engine jetstream: lib/store/jetstream/node.ts). Set when the testament is set,
 * not per message. The record's claim decides who fires: the local path claims it first
 * and fires only when its claim won, so a lapse racing a local fire fires it once.
 */
export interface TestamentRecorder<H = unknown> {
  /** the testament was set: record it (in the background), returning its handle */
  record(rec: TestamentRecord): H;
  /** it will not fire (flushed, replaced, discarded): remove the record */
  drop(handle: H): void;
  /** it is due here: resolves true when this node's claim won and it should fire */
  claim(handle: H): Promise<boolean>;
}

/** A session's testaments: those held, one named slot, and those detached and waiting. */
interface Held {
  list: Testament[];
  /** a testament a gate keeps one of and replaces (the MQTT will of the current connection) */
  slot: Testament | undefined;
  /** detached testaments waiting for their delay, with when it runs out (epoch ms) */
  pending: { t: Testament; at: number }[];
  timer: Timer | undefined;
}

/**
 * The one "when a session is lost" mechanism of the core: WAMP testaments, MQTT wills
 * (a detached testament with a delay) and the store's wills all fire from here. Gates
 * only translate: they register testaments and say when a session detaches, resumes or
 * ends.
 *
 * - detached(session): its transport is gone but the session may live on (an MQTT
 *   session with an expiry). Detached testaments without a delay fire now; those with
 *   one wait.
 * - resumed(session): it has a transport again before the delay ran out: what waits is
 *   discarded (MQTT 5 §3.1.3.2.2: the will is not sent).
 * - ended(session): it is gone. What still waits fires now ([MQTT-3.1.3-9]: the will
 *   is published at the session's end if the delay outlives it), then the store's
 *   wills (a lock the session held is released before anything else is said), then its
 *   detached and destroyed testaments.
 */
export class Testaments {
  private readonly bySession = new Map<Session, Held>();
  /** the recorded testaments' handles (with a recorder only) */
  private readonly handles = new Map<Testament, unknown>();
  /** each session's last claim in flight: its testaments fire in order */
  private readonly claiming = new Map<Session, Promise<void>>();

  /** `max`: testaments one session may hold (limits.maxTestamentsPerSession) */
  constructor(
    private readonly max: number,
    private readonly hooks: TestamentHooks,
    /** the clock of will delays (RouterOptions.clock) */
    private readonly clock: Clock = realClock,
    /** records each testament for other nodes (a realm name to say whose it is) */
    private readonly recorder?: { realm: string; to: TestamentRecorder },
  ) {}

  /** Throws limit_exceeded past `max`: each one is kept until the session leaves. */
  add(session: Session, t: Testament): void {
    const held = this.bySession.get(session);
    if (held && held.list.length >= this.max) {
      throw new RouterError(Errors.limitExceeded, `at most ${this.max} testaments per session (limits.maxTestamentsPerSession)`);
    }
    this.heldBy(session).list.push(t);
    this.record(session, t);
  }

  /**
   * Sets (or, with undefined, clears) the session's slot: the one testament a gate
   * replaces rather than adds to (an MQTT CONNECT brings the will of its connection;
   * a clean DISCONNECT discards it, [MQTT-3.14.4-3]).
   */
  setSlot(session: Session, t: Testament | undefined): void {
    const old = this.bySession.get(session)?.slot;
    if (old !== undefined && old !== t) this.drop(old);
    if (t) {
      this.heldBy(session).slot = t;
      if (old !== t) this.record(session, t);
    } else {
      const held = this.bySession.get(session);
      if (!held) return;
      held.slot = undefined;
      this.forgetIfEmpty(session, held);
    }
  }

  /** Removes the testaments of one scope (wamp.session.flush_testaments); how many went. */
  flush(session: Session, scope: TestamentScope): number {
    const held = this.bySession.get(session);
    if (!held) return 0;
    const keep = held.list.filter((t) => t.scope !== scope);
    for (const t of held.list) if (t.scope === scope) this.drop(t);
    const removed = held.list.length - keep.length;
    held.list = keep;
    this.forgetIfEmpty(session, held);
    return removed;
  }

  /** The session lost its transport and may come back: its detached testaments go off or wait. */
  detached(session: Session): void {
    const held = this.bySession.get(session);
    if (!held) return;
    const due = held.slot?.scope === 'detached' ? [...held.list, held.slot] : held.list;
    if (held.slot?.scope === 'detached') held.slot = undefined;
    held.list = held.list.filter((t) => t.scope !== 'detached');
    const now = this.clock.now();
    for (const t of due) {
      if (t.scope !== 'detached') continue;
      if (t.delayMs > 0) held.pending.push({ t, at: now + t.delayMs });
      else this.fire(session, t);
    }
    this.arm(session, held);
    this.forgetIfEmpty(session, held);
  }

  /** The session has a transport again: testaments waiting for their delay are discarded. */
  resumed(session: Session): void {
    const held = this.bySession.get(session);
    if (!held) return;
    this.disarm(held);
    for (const p of held.pending) this.drop(p.t);
    held.pending = [];
    this.forgetIfEmpty(session, held);
  }

  /** The session is gone: everything it left fires, in the order described above. */
  ended(session: Session): void {
    const held = this.bySession.get(session);
    this.bySession.delete(session);
    if (held) {
      this.disarm(held);
      for (const p of held.pending) this.fire(session, p.t);
    }
    this.hooks.sessionEnded?.(session);
    if (!held) return;
    const rest = held.slot ? [...held.list, held.slot] : held.list;
    for (const t of rest) if (t.scope === 'detached') this.fire(session, t);
    for (const t of rest) if (t.scope === 'destroyed') this.fire(session, t);
  }

  /** The router stops: timers go, nothing more fires (the store is closing). */
  stop(session: Session): void {
    const held = this.bySession.get(session);
    if (!held) return;
    this.disarm(held);
    for (const p of held.pending) this.drop(p.t);
    held.pending = [];
    this.forgetIfEmpty(session, held);
  }

  /** The session's testaments as plain records (held, slot, waiting), in the order they would fire. */
  records(session: Session, realm: string): TestamentRecord[] {
    const held = this.bySession.get(session);
    if (!held) return [];
    const owner: TestamentOwner = { realm, session: session.id };
    const all = [...held.pending.map((p) => p.t), ...held.list, ...(held.slot ? [held.slot] : [])];
    return all.map((t) => ({ ...t, owner }));
  }

  /**
   * Fires a due testament. A recorded one is claimed first (its record deleted at its
   * revision): it fires here only if no other node claimed it after this node's lease
   * lapsed, and no other node fires it after this claim.
   */
  private fire(session: Session, t: Testament): void {
    const handle = this.handles.get(t);
    if (this.recorder === undefined || handle === undefined) {
      this.hooks.fire(session, t);
      return;
    }
    this.handles.delete(t);
    // one session's testaments fire in the order described above: each claim waits for
    // the one before (a session holds few; other sessions' claims do not wait)
    const claim = this.recorder.to.claim.bind(this.recorder.to, handle);
    const before = this.claiming.get(session);
    const done: Promise<void> = (before ? before.then(claim) : claim())
      .then((won) => {
        if (won) this.hooks.fire(session, t);
      })
      // fire() reports its failures and claim() resolves; nothing may reject unhandled here
      .catch(() => undefined)
      .finally(() => {
        if (this.claiming.get(session) === done) this.claiming.delete(session);
      });
    this.claiming.set(session, done);
  }

  private record(session: Session, t: Testament): void {
    if (this.recorder === undefined || this.handles.has(t)) return;
    this.handles.set(t, this.recorder.to.record({ ...t, owner: { realm: this.recorder.realm, session: session.id } }));
  }

  private drop(t: Testament): void {
    const handle = this.handles.get(t);
    if (this.recorder === undefined || handle === undefined) return;
    this.handles.delete(t);
    this.recorder.to.drop(handle);
  }

  private heldBy(session: Session): Held {
    let held = this.bySession.get(session);
    if (!held) {
      held = { list: [], slot: undefined, pending: [], timer: undefined };
      this.bySession.set(session, held);
    }
    return held;
  }

  /**
   * One timer per session, for the earliest waiting testament. A delay past what
   * setTimeout holds (24.8 days) fires early here and is re-armed for the rest.
   */
  private arm(session: Session, held: Held): void {
    this.disarm(held);
    if (held.pending.length === 0) return;
    let next = Infinity;
    for (const p of held.pending) next = Math.min(next, p.at);
    held.timer = this.clock.setTimeout(
      () => {
        held.timer = undefined;
        const now = this.clock.now();
        const due = held.pending.filter((p) => p.at <= now);
        held.pending = held.pending.filter((p) => p.at > now);
        for (const p of due) this.fire(session, p.t);
        this.arm(session, held);
        this.forgetIfEmpty(session, held);
      },
      timerDelay(next - this.clock.now()),
    );
    held.timer.unref();
  }

  private disarm(held: Held): void {
    if (held.timer) this.clock.clearTimeout(held.timer);
    held.timer = undefined;
  }

  private forgetIfEmpty(session: Session, held: Held): void {
    if (held.list.length === 0 && held.slot === undefined && held.pending.length === 0 && this.bySession.get(session) === held) {
      this.bySession.delete(session);
    }
  }
}
