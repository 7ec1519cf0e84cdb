import type { Counter } from 'prom-client';
import { realClock, type Clock } from './clock';

export interface OutboxLimits {
  /** queued bytes above which the peer's input is paused (throttled) */
  highWaterBytes: number;
  /** queued bytes above which the peer is disconnected at once */
  maxQueueBytes: number;
  /** a peer that stays throttled this long is disconnected */
  slowConsumerTimeoutMs: number;
}

export interface OutboxHooks {
  /** bytes written but not yet flushed to the kernel */
  queuedBytes(): number;
  pauseInput(): void;
  resumeInput(): void;
  /** disconnect the peer as a slow consumer */
  kill(): void;
  /** hold writes in user space until uncork (net.Socket cork/uncork) */
  cork?(): void;
  uncork?(): void;
  /** calls `cb` once when the socket has flushed what it queued (net.Socket 'drain') */
  onDrain?(cb: () => void): void;
}

/**
 * A connection's outbound path as a paced writer sees it (the retained replay,
 * lib/retained-replay.ts): it writes while ready(), then waits for the peer to take
 * what was written, so a replay larger than the outbound limit flows instead of
 * overrunning it.
 */
export interface OutboundFlow {
  /** false once the connection is gone (or, MQTT, the session lost its connection) */
  readonly open: boolean;
  /** may a paced writer write more now? */
  ready(): boolean;
  /** calls `cb` once, when ready() may have turned true or the connection closed */
  wait(cb: () => void): void;
  /** bytes of live events a paced writer may hold back for this peer (limits.outboundQueueBytes) */
  readonly holdBytes: number;
  /** the peer fell behind what may be held for it: disconnect it as a slow consumer, counted */
  overflow(): void;
}

const POLL_MS = 25;

/**
 * Backpressure for one connection's outbound path, the same for every gate. Every
 * write is followed by `wrote()`: above the high water mark the peer's input pauses
 * (it may not ask for more while it does not read), above the hard limit or after the
 * timeout it is disconnected, and each step is counted.
 */
export class Outbox implements OutboundFlow {
  private throttledSince = 0;
  private timer: NodeJS.Timeout | undefined;
  private dead = false;
  private corked = false;
  private readonly uncork = (): void => {
    this.corked = false;
    this.hooks.uncork?.();
  };

  constructor(
    private readonly limits: OutboxLimits,
    private readonly hooks: OutboxHooks,
    private readonly slowConsumers: { throttled: Counter.Internal; disconnected: Counter.Internal },
    /**
     * the router's: slowConsumerTimeoutMs is a deadline the peer must meet, so it is read
     * on it; the drain poll itself paces I/O and stays on the real timers
     */
    private readonly clock: Clock = realClock,
  ) {}

  /**
   * Call before a write: the socket is corked until the current turn's synchronous work
   * is done, so the events one incoming message fans out to a peer leave in one
   * writev instead of one syscall each.
   */
  coalesce(): void {
    if (this.corked || !this.hooks.cork) return;
    this.corked = true;
    this.hooks.cork();
    process.nextTick(this.uncork);
  }

  /** Call after every write. Returns false when the peer has been dropped. */
  wrote(): boolean {
    if (this.dead) return false;
    const queued = this.hooks.queuedBytes();
    if (queued <= this.limits.highWaterBytes) return true;
    if (queued > this.limits.maxQueueBytes) {
      this.drop();
      return false;
    }
    if (this.throttledSince === 0) this.throttle();
    return true;
  }

  get throttled(): boolean {
    return this.throttledSince !== 0;
  }

  private throttle(): void {
    this.throttledSince = this.clock.now();
    this.slowConsumers.throttled.inc();
    this.hooks.pauseInput();
    this.timer = setInterval(() => {
      this.check();
    }, POLL_MS);
    this.timer.unref();
  }

  private check(): void {
    const queued = this.hooks.queuedBytes();
    if (queued <= this.limits.highWaterBytes / 2) {
      this.release();
      this.hooks.resumeInput();
    } else if (this.clock.now() - this.throttledSince > this.limits.slowConsumerTimeoutMs) {
      this.drop();
    }
  }

  private release(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.throttledSince = 0;
  }

  private drop(): void {
    if (this.dead) return;
    this.dead = true;
    this.release();
    this.slowConsumers.disconnected.inc();
    this.hooks.kill();
  }

  /** The connection closed: stop watching. */
  dispose(): void {
    this.dead = true;
    this.release();
    this.wake();
  }

  // ----- OutboundFlow: paced writers -----

  private waiters: (() => void)[] = [];
  private waitTimer: NodeJS.Timeout | undefined;
  private drainArmed = false;

  get open(): boolean {
    return !this.dead;
  }

  /**
   * A paced writer fills the queue up to half the high water mark, so it never makes
   * the peer look slow (throttled, then dropped) while the peer is reading; only a
   * single message larger than that goes over it.
   */
  ready(): boolean {
    return !this.dead && this.hooks.queuedBytes() < this.limits.highWaterBytes / 2;
  }

  get holdBytes(): number {
    return this.limits.maxQueueBytes;
  }

  overflow(): void {
    this.drop();
  }

  /**
   * Wakes the writer once the queue is down to a quarter of the high water mark: on the
   * socket's 'drain' (it flushed everything), or at the latest at the next poll (a
   * transport queue the socket does not see, e.g. ws's sender).
   */
  wait(cb: () => void): void {
    this.waiters.push(cb);
    if (this.waiters.length === 1) setImmediate(this.recheck);
  }

  private readonly recheck = (): void => {
    if (this.waitTimer) clearTimeout(this.waitTimer);
    this.waitTimer = undefined;
    if (this.waiters.length === 0) return;
    if (this.dead || this.hooks.queuedBytes() <= this.limits.highWaterBytes / 4) {
      this.wake();
      return;
    }
    if (!this.drainArmed && this.hooks.onDrain) {
      this.drainArmed = true;
      this.hooks.onDrain(this.drained);
    }
    this.waitTimer = setTimeout(this.recheck, POLL_MS);
    this.waitTimer.unref();
  };

  private readonly drained = (): void => {
    this.drainArmed = false;
    this.recheck();
  };

  private wake(): void {
    if (this.waitTimer) clearTimeout(this.waitTimer);
    this.waitTimer = undefined;
    const waiters = this.waiters;
    if (waiters.length === 0) return;
    this.waiters = [];
    for (const cb of waiters) cb();
  }
}
