import type { Counter } from 'prom-client';

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
}

const POLL_MS = 25;

/**
 * Backpressure for one connection's outbound path, the same for every gate. Every
 * write is followed by `wrote()`: above the high water mark the peer's input pauses
 * (it may not ask for more while it does not read), above the hard limit or after the
 * timeout it is disconnected, and each step is counted.
 */
export class Outbox {
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
    this.throttledSince = Date.now();
    this.slowConsumers.throttled.inc();
    this.hooks.pauseInput();
    this.timer = setInterval(() => this.check(), POLL_MS);
    this.timer.unref();
  }

  private check(): void {
    const queued = this.hooks.queuedBytes();
    if (queued <= this.limits.highWaterBytes / 2) {
      this.release();
      this.hooks.resumeInput();
    } else if (Date.now() - this.throttledSince > this.limits.slowConsumerTimeoutMs) {
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
  }
}
