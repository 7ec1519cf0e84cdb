/**
 * One link to a peer (README "Links"): local publications matching `out` go through a
 * durable queue to the peer, in order, and leave the queue only when the peer has
 * acknowledged them; `in` patterns (or, with "auto", the local subscriptions) are
 * subscribed at the peer and what arrives is published here, tagged with where it came
 * from so it never goes back out; `calls` are procedures registered here that run at
 * the peer. The transport only speaks the peer's protocol (lib/links/transport.ts).
 * This file is the connection and the way out; what comes in is link-inbound.ts, the
 * calls link-calls.ts.
 */
import type { BrokerEvent } from '../broker';
import { ApplicationError, RouterError } from '../errors';
import type { LinkConfig } from '../config';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import { messageIdOf, type PublicationTap } from '../publication-taps';
import type { Realm } from '../realm';
import type { Payload } from '../payload';
import { TopicIndex } from '../topic';
import type { LinkDropReason, LinkQueue } from './link-queue';
import { LinkCalls } from './link-calls';
import { LinkInbound } from './link-inbound';
import { topicPatternOf } from './patterns';
import type { LinkMessage, LinkTransport } from './transport';

export type LinkState = 'connecting' | 'up' | 'down' | 'stopped';

/** The link's connection as its inbound side and its calls see it. */
export interface LinkConnection {
  state(): LinkState;
  /** the transport of the current connection, if any */
  transport(): LinkTransport | undefined;
}

/** What gatehouse.link.list says of a link. */
export interface LinkStatus {
  name: string;
  url: string;
  realm: string;
  state: LinkState;
  /** ISO time of the last change of state */
  since: string;
  queued: number;
  queuedBytes: number;
  /** ms since the oldest queued message was queued; 0 when empty */
  oldestAgeMs: number;
  inFlight: number;
  sent: number;
  acknowledged: number;
  dropped: number;
  droppedBy: Partial<Record<LinkDropReason, number>>;
  received: number;
  /** the last reason the connection ended or could not be made */
  lastError?: string;
}

export interface LinkDeps {
  realm: Realm;
  /** this router's node id */
  node: string;
  queue: LinkQueue;
  /** a fresh transport per connection attempt */
  transport: () => LinkTransport;
  log: Logger;
  metrics: Metrics;
}

const MIN_RETRY_MS = 100;
/** a drop is logged at most this often per link (it is counted every time) */
const DROP_LOG_MS = 10_000;

export class Link implements PublicationTap {
  private state: LinkState = 'down';
  private since = Date.now();
  private transport: LinkTransport | undefined;
  /** bumped whenever a connection starts or ends: late callbacks of an old one are ignored */
  private generation = 0;
  /** the seq last handed to the transport on this connection */
  private cursor = 0;
  private inflight = 0;
  /** every queued message up to the cursor has been sent on this connection */
  private caughtUp = false;
  private retryMs = MIN_RETRY_MS;
  private retryTimer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private untap: (() => void) | undefined;
  private readonly out = new TopicIndex<true>();
  private matched = false;
  private readonly onMatch = (): void => {
    this.matched = true;
  };
  private readonly inbound: LinkInbound;
  private readonly calls: LinkCalls;
  private sent = 0;
  private acknowledged = 0;
  private dropped = 0;
  private readonly droppedBy: Partial<Record<LinkDropReason, number>> = {};
  private lastDropLog = 0;
  private lastError: string | undefined;
  private readonly via: string;
  private readonly sentCounter;
  private readonly ackedCounter;

  constructor(
    readonly config: LinkConfig,
    private readonly deps: LinkDeps,
  ) {
    this.via = `link:${config.name}`;
    const keys = new Set<string>();
    for (const p of config.out) {
      const pattern = topicPatternOf(p);
      if (!pattern || keys.has(pattern.key)) continue;
      keys.add(pattern.key);
      this.out.add(pattern, true);
    }
    const m = deps.metrics;
    this.sentCounter = m.linkSent.labels(config.name);
    this.ackedCounter = m.linkAcked.labels(config.name);
    const connection: LinkConnection = { state: () => this.state, transport: () => this.transport };
    this.inbound = new LinkInbound(config, this.via, deps.realm, deps.log, m.linkReceived.labels(config.name), connection);
    this.calls = new LinkCalls(config, this.via, deps.log, connection);
    deps.queue.onDrop = (reason, n) => {
      this.droppedFromQueue(reason, n);
    };
  }

  get name(): string {
    return this.config.name;
  }

  /** a method, not a field read: the state changes while connect() awaits */
  private get stopped(): boolean {
    return this.state === 'stopped';
  }

  get isUp(): boolean {
    return this.state === 'up';
  }

  start(): void {
    const realm = this.deps.realm;
    if (this.out.size > 0) this.untap = realm.taps.add(this);
    if (this.config.in === 'auto') this.inbound.followSubscriptions();
    if (this.config.calls.length > 0) this.calls.register(realm);
    const exp = this.config.queue.expirySeconds;
    if (exp > 0) {
      // also while down: an outage longer than the expiry empties the queue of what no longer matters
      this.expiryTimer = setInterval(() => this.deps.queue.expire(Date.now()), Math.min(1000, (exp * 1000) / 4));
      this.expiryTimer.unref();
    }
    void this.connect();
  }

  async stop(): Promise<void> {
    this.setState('stopped');
    this.generation++;
    this.untap?.();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.expiryTimer) clearInterval(this.expiryTimer);
    const t = this.transport;
    this.transport = undefined;
    this.calls.unregister(this.deps.realm);
    if (t) await t.close().catch(() => undefined);
  }

  /** out: a local publication matching an out pattern is queued durably inside its publisher's ack. */
  tapped(realm: string, event: BrokerEvent): Promise<void> | undefined {
    // only what a local client published: never what came from a link or the cluster
    if (event.origin !== undefined || event.via !== undefined || realm !== this.deps.realm.name) return undefined;
    this.matched = false;
    this.out.match(event.topic, this.onMatch);
    // set by onMatch, which TypeScript does not see run (microsoft/TypeScript#9998)
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
    if (!this.matched) return undefined;
    const message: LinkMessage = {
      topic: event.topic,
      payload: event.payload,
      retain: event.retainFlag,
      messageId: messageIdOf(event, this.deps.node),
      ...(event.headers ? { headers: event.headers } : {}),
    };
    const { seq, durable } = this.deps.queue.append(message);
    const t = this.transport;
    if (this.caughtUp && seq > this.cursor && this.inflight < this.config.window && t && this.state === 'up') {
      // nothing older waits: sent from memory, not read back from the store
      this.sendOne(t, seq, message);
    } else {
      this.caughtUp = false;
      this.pump();
    }
    return durable;
  }

  status(now = Date.now()): LinkStatus {
    const q = this.deps.queue;
    const s: LinkStatus = {
      name: this.name,
      url: this.config.url,
      realm: this.config.realm,
      state: this.state,
      since: new Date(this.since).toISOString(),
      queued: q.depth,
      queuedBytes: q.bytes,
      oldestAgeMs: q.oldestAgeMs(now),
      inFlight: this.inflight,
      sent: this.sent,
      acknowledged: this.acknowledged,
      dropped: this.dropped,
      droppedBy: { ...this.droppedBy },
      received: this.inbound.received,
    };
    if (this.lastError !== undefined) s.lastError = this.lastError;
    return s;
  }

  // ----- connection -----

  private async connect(): Promise<void> {
    if (this.state === 'stopped') return;
    const wasUp = this.state === 'up';
    this.setState('connecting');
    const t = this.deps.transport();
    t.onMessage = (m) => {
      this.inbound.arrived(m);
    };
    t.onClose = (reason) => {
      this.lost(t, reason);
    };
    try {
      await t.connect();
    } catch (err) {
      if (this.stopped) return;
      const reason = err instanceof Error ? err.message : String(err);
      // the first failure of an outage is a warning, the retries that follow are not news
      if (this.lastError === undefined || wasUp)
        this.deps.log.warn({ link: this.name, peer: this.config.url, reason }, 'link cannot connect');
      else this.deps.log.debug({ link: this.name, reason }, 'link still cannot connect');
      this.lastError = reason;
      this.setState('down');
      this.retryLater();
      return;
    }
    if (this.state !== 'connecting') {
      await t.close().catch(() => undefined);
      return;
    }
    this.transport = t;
    this.generation++;
    this.cursor = 0;
    this.inflight = 0;
    this.caughtUp = false;
    this.retryMs = MIN_RETRY_MS;
    const downFor = Date.now() - this.since;
    this.setState('up');
    this.lastError = undefined;
    this.deps.log.info({ link: this.name, peer: this.config.url, queued: this.deps.queue.depth, downForMs: downFor }, 'link up');
    this.inbound.subscribeAll(t);
    // resend from the head of the queue, in order: what was in flight when the last
    // connection broke may or may not have arrived (a Gatehouse peer drops the copy)
    this.pump();
  }

  private lost(t: LinkTransport, reason: string): void {
    if (t !== this.transport) return;
    this.transport = undefined;
    this.generation++;
    this.inflight = 0;
    this.cursor = 0;
    this.caughtUp = false;
    this.lastError = reason;
    this.setState('down');
    this.deps.log.warn({ link: this.name, peer: this.config.url, reason, queued: this.deps.queue.depth }, 'link down');
    this.retryLater();
  }

  private retryLater(): void {
    if (this.state === 'stopped') return;
    const wait = this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, this.config.retryMaxMs);
    this.retryTimer = setTimeout(() => void this.connect(), wait);
    this.retryTimer.unref();
  }

  private setState(state: LinkState): void {
    if (state === this.state) return;
    // connecting is a passing step: "since" tells how long the link has been up or down
    if (state !== 'connecting' && !(this.state === 'connecting' && state === 'down')) this.since = Date.now();
    this.state = state;
    this.deps.metrics.linkUp.labels(this.name).set(state === 'up' ? 1 : 0);
  }

  // ----- out -----

  /** Sends what the window has room for, oldest first. */
  private pump(): void {
    const t = this.transport;
    if (this.state !== 'up' || !t) return;
    const window = this.config.window;
    while (this.inflight < window) {
      const batch = this.deps.queue.peek(this.cursor, window - this.inflight);
      if (batch.length === 0) {
        this.caughtUp = true;
        return;
      }
      for (const q of batch) this.sendOne(t, q.seq, q.message);
    }
  }

  private sendOne(t: LinkTransport, seq: number, message: LinkMessage): void {
    const gen = this.generation;
    this.cursor = seq;
    this.inflight++;
    this.sent++;
    this.sentCounter.inc();
    t.send(message).then(
      () => {
        this.delivered(gen, seq);
      },
      (err: unknown) => {
        this.notDelivered(gen, seq, err);
      },
    );
  }

  private delivered(gen: number, seq: number): void {
    // the peer has it, whatever became of the connection since
    this.deps.queue.ack(seq);
    this.acknowledged++;
    this.ackedCounter.inc();
    if (gen !== this.generation) return;
    this.inflight--;
    this.pump();
  }

  private notDelivered(gen: number, seq: number, err: unknown): void {
    if (gen !== this.generation) return; // the connection went: resent after the reconnect
    if (err instanceof ApplicationError || err instanceof RouterError) {
      // the peer refused this message (not authorized, invalid): resending would only
      // block everything behind it, so it is dropped, counted and logged
      this.deps.log.warn({ link: this.name, err: err.message }, 'link peer refused a message: dropped');
      this.deps.queue.ack(seq);
      this.droppedFromQueue('refused', 1);
      this.inflight--;
      this.pump();
      return;
    }
    // anything else: the connection is in doubt; start over on a new one
    this.deps.log.warn(
      { link: this.name, err: err instanceof Error ? err.message : String(err) },
      'link send failed: reconnecting',
    );
    const t = this.transport;
    if (t) {
      this.lost(t, 'send failed');
      void t.close().catch(() => undefined);
    }
  }

  private droppedFromQueue(reason: LinkDropReason, n: number): void {
    this.dropped += n;
    this.droppedBy[reason] = (this.droppedBy[reason] ?? 0) + n;
    this.deps.metrics.linkDropped.labels(this.name, reason).inc(n);
    const now = Date.now();
    if (now - this.lastDropLog >= DROP_LOG_MS) {
      this.lastDropLog = now;
      this.deps.log.warn(
        { link: this.name, reason, dropped: this.dropped, queued: this.deps.queue.depth },
        'link queue dropped messages',
      );
    }
  }

  /** Whether `procedure` in `realm` is one of this link's `calls`: served at the peer. */
  serves(realm: string, procedure: string): boolean {
    return this.calls.serves(realm, procedure);
  }

  /**
   * Calls a procedure at the peer (durable requests over the link, lib/requests/);
   * rejects with gatehouse.error.unavailable at once while the link is down.
   */
  callPeer(procedure: string, payload: Payload, timeoutMs: number): Promise<Payload> {
    return this.calls.callPeer(procedure, payload, timeoutMs);
  }
}
