/**
 * Inbound rate limits per connection (limits.messagesPerSecond, limits.bytesPerSecond):
 * two token buckets, each holding one second's worth. A message that overdraws a bucket
 * is still handled (it has been read), but reading pauses until the debt is paid back:
 * a short burst is only slowed down. A connection that stays over the limit for
 * limits.rateLimitDisconnectMs is told to go with its protocol's error.
 */
import { realClock, type Clock, type Timer } from './clock';

export interface RateLimits {
  /** 0: unlimited */
  messagesPerSecond: number;
  /** 0: unlimited */
  bytesPerSecond: number;
  /** over the limit without a break this long: disconnect */
  rateLimitDisconnectMs: number;
}

export type RateLimitName = 'messages_per_second' | 'bytes_per_second';

class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    now: number,
  ) {
    this.tokens = rate;
    this.last = now;
  }

  /** Takes `n` tokens; the result is how many ms until the bucket is out of debt (0: none). */
  take(n: number, now: number): number {
    this.tokens = Math.min(this.rate, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
    this.tokens -= n;
    return this.tokens >= 0 ? 0 : (-this.tokens * 1000) / this.rate;
  }
}

/** Time under the limit that ends a stretch over it: the time a bucket takes to refill. */
const STRETCH_GAP_MS = 1000;

/** What to do after one inbound message. */
export type RateVerdict =
  | { action: 'ok' }
  | { action: 'throttle'; pauseMs: number; limit: RateLimitName; started: boolean }
  | { action: 'disconnect'; limit: RateLimitName };

/** The rate state of one connection; pure (the clock is passed in), for unit tests. */
export class InboundRate {
  private readonly messages: TokenBucket | undefined;
  private readonly bytes: TokenBucket | undefined;
  /** when the current stretch over the limit began */
  private overSince: number | undefined;
  /** when a message last went over the limit */
  private lastOver = 0;

  constructor(
    private readonly limits: RateLimits,
    now: number,
  ) {
    if (limits.messagesPerSecond > 0) this.messages = new TokenBucket(limits.messagesPerSecond, now);
    if (limits.bytesPerSecond > 0) this.bytes = new TokenBucket(limits.bytesPerSecond, now);
  }

  static enabled(limits: RateLimits): boolean {
    return limits.messagesPerSecond > 0 || limits.bytesPerSecond > 0;
  }

  take(bytes: number, now: number): RateVerdict {
    const waitMessages = this.messages?.take(1, now) ?? 0;
    const waitBytes = this.bytes?.take(bytes, now) ?? 0;
    const wait = Math.max(waitMessages, waitBytes);
    if (wait === 0) {
      // the stretch ends after a whole bucket's time (a second) with nothing over the
      // limit, not at the first message that fits: a flooder resumed a little late finds
      // a token or two, and must not start a fresh stretch each time it is resumed
      if (now - this.lastOver >= STRETCH_GAP_MS) this.overSince = undefined;
      return { action: 'ok' };
    }
    this.lastOver = now;
    const limit: RateLimitName = waitMessages >= waitBytes ? 'messages_per_second' : 'bytes_per_second';
    const started = this.overSince === undefined;
    const since = (this.overSince ??= now);
    // the debt alone would keep it over the limit past the deadline: no use waiting for that
    if (now + wait - since >= this.limits.rateLimitDisconnectMs) return { action: 'disconnect', limit };
    return { action: 'throttle', pauseMs: Math.ceil(wait), limit, started };
  }
}

export interface ThrottleHooks {
  pause(): void;
  resume(): void;
  /** a stretch of throttling began (count and log it) */
  throttled(limit: RateLimitName): void;
  /** over the limit too long: close the connection with the protocol's error */
  exceeded(limit: RateLimitName): void;
}

/** InboundRate wired to a connection: pauses and resumes its reading, says when to disconnect. */
export class InboundThrottle {
  private readonly rate: InboundRate | undefined;
  private timer: Timer | undefined;
  private done = false;

  constructor(
    limits: RateLimits,
    private readonly hooks: ThrottleHooks,
    /** the clock of the rate windows and pauses (RouterOptions.clock) */
    private readonly clock: Clock = realClock,
  ) {
    if (InboundRate.enabled(limits)) this.rate = new InboundRate(limits, clock.now());
  }

  /**
   * Counts one inbound message of `bytes`; false when the connection must go (hooks.exceeded
   * ran). After that everything passes uncounted: the protocol is closing and reads only
   * what it needs for that (a WAMP GOODBYE reply).
   */
  admit(bytes: number): boolean {
    if (!this.rate || this.done) return true;
    const v = this.rate.take(bytes, this.clock.now());
    if (v.action === 'ok') return true;
    if (v.action === 'disconnect') {
      this.done = true;
      if (this.timer) {
        this.dispose();
        this.hooks.resume();
      }
      this.hooks.exceeded(v.limit);
      return false;
    }
    if (v.started) this.hooks.throttled(v.limit);
    if (this.timer) this.clock.clearTimeout(this.timer);
    else this.hooks.pause();
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.hooks.resume();
    }, v.pauseMs);
    this.timer.unref();
    return true;
  }

  dispose(): void {
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/**
 * A hard cap of messages per second in fixed one-second windows, read at use (a config
 * reload applies at once): past it the connection goes at once instead of being slowed
 * (stomp.limits.framesPerSecond, the older, stricter STOMP limit).
 */
export class FrameCap {
  private windowStart = 0;
  private count = 0;

  constructor(private readonly limit: () => number) {}

  /** Counts one message; 0 when it fits, else the limit it went past. */
  take(now: number): number {
    const limit = this.limit();
    if (limit <= 0) return 0;
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.count = 0;
    }
    return ++this.count <= limit ? 0 : limit;
  }
}
