import type { Broker, BrokerEvent, Subscription } from './broker';
import { retainedMetaOf, type RetainedTopics } from './retained';
import type { LiveHold, Session } from './session';
import type { StoreEntry } from './store/types';

/** Store entries read per page: small enough that a page is cheap to hold across waits. */
const PAGE = 256;
/** Counted per held event beside its payload: the event object and its bookkeeping. */
const EVENT_OVERHEAD = 64;

/**
 * Retained replay, paced by the subscriber's socket (DESIGN.md "Retained store": stored
 * values first, then live events, with no gap and no duplicate).
 *
 * A replay is a snapshot at the store revision R of the moment of subscribing: the
 * matching keys are read in pages, in key order, and an entry whose revision is above R
 * is skipped, since its change was published after the subscription and comes live.
 * Pages are written while the connection's outbound flow is ready, then the replay
 * waits for the peer to read (lib/outbox.ts OutboundFlow), so a replay of any size
 * flows through the outbound limit and never makes a reading peer a slow consumer.
 *
 * Live events for the session are held meanwhile (Session.held, filled by the broker)
 * and delivered after the replay, in order and paced the same way. What is held is
 * bounded by the flow's holdBytes: past it the peer is not keeping up with its own
 * live traffic, and it is disconnected as a slow consumer.
 *
 * Replays of one session run one after the other; its live events wait for all of them.
 */
export function replayRetained(broker: Broker, retained: RetainedTopics, session: Session, sub: Subscription): void {
  reserveReplay(broker, retained, session, sub).start();
}

/** A replay whose snapshot is taken and whose live events are held, not yet started. */
export interface ReplayTicket {
  /** the gate confirmed the subscription: the replay goes out, then the held events */
  start(): void;
}

/**
 * Takes the snapshot (revision R) and starts holding the session's live events at the
 * moment the subscription exists, while the gate has not confirmed it yet: MQTT answers
 * one SUBACK for all filters of a SUBSCRIBE, so a filter the authorizer allowed at once
 * waits for one it decides later. Without the hold a value published meanwhile would go
 * out live before the SUBACK and again in the replay (its revision <= a later R).
 */
export function reserveReplay(broker: Broker, retained: RetainedTopics, session: Session, sub: Subscription): ReplayTicket {
  let queue = queues.get(session);
  if (!queue) {
    queue = new ReplayQueue(broker, session);
    queues.set(session, queue);
  }
  const job: Job = {
    sub,
    retained,
    snapshot: retained.revision(),
    after: undefined,
    page: [],
    at: 0,
    exhausted: false,
    started: false,
  };
  const q = queue;
  q.add(job);
  return {
    start: () => {
      q.start(job);
    },
  };
}

const queues = new WeakMap<Session, ReplayQueue>();

interface Job {
  readonly sub: Subscription;
  readonly retained: RetainedTopics;
  /** the store revision at subscribe time: entries above it come live */
  readonly snapshot: number;
  /** cursor: the last key read */
  after: string | undefined;
  /** the page being written, from `at` on */
  page: StoreEntry[];
  at: number;
  exhausted: boolean;
  /** the subscription was confirmed (ReplayTicket.start): until then it and all after it wait */
  started: boolean;
}

/** A live event held back: for one subscription, or one copy for a singleDelivery session. */
type Held = { event: BrokerEvent; sub: Subscription } | { event: BrokerEvent; subs: readonly Subscription[] };

class ReplayQueue implements LiveHold {
  private readonly jobs: Job[] = [];
  /** held live events in arrival order; those before heldAt are delivered (cleared slots) */
  private held: (Held | undefined)[] = [];
  private heldAt = 0;
  private heldBytes = 0;
  private waiting = false;
  private running = false;
  private readonly resume = (): void => {
    this.waiting = false;
    // woken from inside the loop (a write closed the connection): go on next turn
    if (this.running)
      setImmediate(() => {
        this.run();
      });
    else this.run();
  };

  constructor(
    private readonly broker: Broker,
    private readonly session: Session,
  ) {
    session.held = this;
  }

  add(job: Job): void {
    this.jobs.push(job);
  }

  start(job: Job): void {
    job.started = true;
    // the first page goes out in the same turn as the subscription's confirmation
    if (!this.waiting) this.run();
  }

  // ----- LiveHold: filled by the broker -----

  event(event: BrokerEvent, sub: Subscription): void {
    this.hold({ event, sub });
  }

  events(event: BrokerEvent, subs: readonly Subscription[]): void {
    this.hold({ event, subs });
  }

  private hold(h: Held): void {
    this.held.push(h);
    this.heldBytes += sizeOf(h.event);
    const flow = this.session.flow;
    if (flow && this.heldBytes > flow.holdBytes) {
      // not reading fast enough to take even its live events: a slow consumer
      this.end();
      flow.overflow();
    }
  }

  // ----- the pacing loop -----

  private run(): void {
    if (this.running) return;
    this.running = true;
    try {
      this.pump();
    } finally {
      this.running = false;
    }
  }

  private pump(): void {
    const flow = this.session.flow;
    for (;;) {
      if (this.session.closed || (flow && !flow.open)) {
        this.abandon();
        return;
      }
      if (flow && !flow.ready()) {
        this.waiting = true;
        flow.wait(this.resume);
        return;
      }
      const step = this.next();
      if (step === 'done') {
        this.end();
        return;
      }
      if (step === 'unconfirmed') return; // ReplayTicket.start runs the loop again
    }
  }

  /** Delivers the next replayed value or held event; 'done' when all is done. */
  private next(): 'more' | 'done' | 'unconfirmed' {
    const job = this.jobs[0];
    if (job) {
      if (!job.started) return 'unconfirmed';
      const entry = this.nextEntry(job);
      if (entry === undefined) this.jobs.shift();
      else this.broker.deliverTo(this.session, job.sub, replayEvent(entry));
      return 'more';
    }
    if (this.heldAt >= this.held.length) return 'done';
    const h = this.held[this.heldAt];
    this.held[this.heldAt++] = undefined;
    if (h === undefined) return 'more';
    this.heldBytes -= sizeOf(h.event);
    if (this.heldAt > 1024 && this.heldAt * 2 > this.held.length) this.compact();
    this.deliverHeld(h);
    return 'more';
  }

  /** The job's next entry to replay, reading pages as needed; undefined when the job is done. */
  private nextEntry(job: Job): StoreEntry | undefined {
    const now = Date.now();
    for (;;) {
      const e = job.page[job.at];
      if (e !== undefined) {
        job.at++;
        // changed after the subscription: the change comes live (no duplicate)
        if (e.revision > job.snapshot) continue;
        // a message whose expiry has passed is not delivered any more [MQTT-3.3.2-5]
        const expiresAt = retainedMetaOf(e)?.headers?.expiresAt;
        if (expiresAt !== undefined && expiresAt <= now) continue;
        return e;
      }
      // unsubscribed meanwhile: the rest of the replay is not wanted
      if (job.exhausted || !this.broker.subscriptionsOf(this.session).has(job.sub)) return undefined;
      const { entries, next } = job.retained.page(job.sub.pattern, job.after, PAGE);
      job.page = entries;
      job.at = 0;
      job.after = next;
      job.exhausted = next === undefined;
    }
  }

  private deliverHeld(h: Held): void {
    try {
      if ('sub' in h) {
        // only while the session still has that subscription (UNSUBSCRIBED ends its
        // events), through its current sink (a WAMP re-SUBSCRIBE replaces it)
        const sink = h.sub.subscribers.get(this.session);
        if (sink) sink(h.event, h.sub);
      } else {
        this.session.singleDelivery?.(h.event, h.subs);
      }
    } catch (err) {
      this.broker.onDeliveryError(this.session, err);
    }
  }

  private compact(): void {
    this.held = this.held.slice(this.heldAt);
    this.heldAt = 0;
  }

  /** All replayed and every held event delivered: live events flow directly again. */
  private end(): void {
    this.jobs.length = 0;
    this.held = [];
    this.heldAt = 0;
    this.heldBytes = 0;
    if (this.session.held === this) this.session.held = undefined;
    if (queues.get(this.session) === this) queues.delete(this.session);
  }

  /**
   * The connection is gone. A session that ended takes nothing more; one that outlives
   * its connection (MQTT) gets its held live events the ordinary way (its offline
   * queue), and the rest of the replay is dropped, as a retained message is only sent
   * on subscribing.
   */
  private abandon(): void {
    const rest = this.session.closed ? [] : this.held.slice(this.heldAt);
    this.end();
    for (const h of rest) if (h) this.deliverHeld(h);
  }
}

/** A stored value as a replayed event (EVENT details `retained: true`, MQTT retain flag). */
function replayEvent(entry: StoreEntry): BrokerEvent {
  const meta = retainedMetaOf(entry);
  return {
    // the revision, as for a live store write: a WAMP client reads it from the event
    publicationId: entry.revision,
    topic: entry.key,
    payload: entry.value,
    publisher: undefined,
    discloseMe: false,
    retained: true,
    revision: entry.revision,
    // the publication's own QoS when it had one [MQTT-3.3.1-5]; else the subscriber's
    qos: meta?.qos ?? 2,
    retainFlag: true,
    headers: meta?.headers,
    origin: undefined,
    via: undefined,
    deliveries: 1,
  };
}

/** Estimated bytes of a held event, once per event however many sessions hold it. */
function sizeOf(event: BrokerEvent): number {
  let n = sizes.get(event);
  if (n === undefined) {
    const p = event.payload;
    n = EVENT_OVERHEAD + event.topic.length;
    if (p.bytes !== undefined) n += p.bytes.byteLength;
    if (p.args !== undefined) n += jsonLength(p.args);
    if (p.kwargs !== undefined) n += jsonLength(p.kwargs);
    sizes.set(event, n);
  }
  return n;
}

const sizes = new WeakMap<BrokerEvent, number>();

function jsonLength(v: object): number {
  try {
    return JSON.stringify(v).length;
  } catch {
    return EVENT_OVERHEAD; // not JSON (bytes inside, a cycle): a nominal size
  }
}
