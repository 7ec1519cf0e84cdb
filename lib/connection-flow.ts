import type { Clock } from './clock';
import type { Config } from './config';
import type { GateContext } from './gate-context';
import { InputPause } from './input-pause';
import { Outbox, type OutboundFlow, type OutboxHooks, type OutboxLimits } from './outbox';
import { FrameCap, type InboundThrottle } from './rate-limit';

/** What a gate's connection tells its flow about the transport underneath. */
export interface ConnectionFlowHooks<M> {
  /** bytes written but not yet flushed (the socket's, plus any batch of the gate's own) */
  queuedBytes(): number;
  /** hold writes in user space until uncork (net.Socket cork/uncork) */
  cork?(): void;
  uncork?(): void;
  /** calls `cb` once when the transport has flushed what it queued ('drain') */
  onDrain?(cb: () => void): void;
  /** disconnect the peer as a slow consumer (counted by the flow) */
  kill(): void;
  /** over the inbound rate limit too long: close with the protocol's error */
  rateExceeded(): void;
  /** past the hard cap of messages per second (`cap`): close with the protocol's error */
  capExceeded?(limit: number, message: M | undefined): void;
  /** reading resumed because the outbound queue drained (a gate may hand out more work) */
  outboxResumed?(): void;
}

export interface ConnectionFlowOptions {
  /**
   * A hard limit of messages per second, read at use (a config reload applies): past
   * it the connection goes at once instead of being slowed (stomp.limits.framesPerSecond).
   * 0: none.
   */
  cap?: () => number;
}

/** One OutboxLimits per limits config, shared by its connections (issue 15, footprint). */
const outboxLimitsOf = new WeakMap<Config['limits'], OutboxLimits>();
export function outboxLimits(limits: Config['limits']): OutboxLimits {
  let l = outboxLimitsOf.get(limits);
  if (l === undefined) {
    l = {
      highWaterBytes: limits.outboundHighWaterBytes,
      maxQueueBytes: limits.outboundQueueBytes,
      slowConsumerTimeoutMs: limits.slowConsumerTimeoutMs,
    };
    outboxLimitsOf.set(limits, l);
  }
  return l;
}

/**
 * The flow control of one connection, the same for every gate: reading pauses while
 * any reason holds (its outbound queue over the high water mark, its inbound rate over
 * the limit, or a reason of the gate's own such as a CONNECT being authenticated); the
 * inbound rate limit (limits.messagesPerSecond / bytesPerSecond) and an optional hard
 * cap; and the outbox (lib/outbox.ts), which it also is as an OutboundFlow for paced
 * writers. A gate makes one per connection and disposes of it when the connection closes.
 */
export class ConnectionFlow<M = undefined> implements OutboxHooks, OutboundFlow {
  private readonly input: InputPause;
  private readonly throttle: InboundThrottle;
  private readonly outbox: Outbox;
  private readonly cap: FrameCap | undefined;
  /** the clock of the frame cap's windows (RouterOptions.clock) */
  private readonly clock: Clock;
  // OutboxHooks the transport may not have: the outbox looks for them (no cork, no
  // 'drain' wake-up), so they are set only when the transport has them
  cork?: () => void;
  uncork?: () => void;
  onDrain?: (cb: () => void) => void;

  constructor(
    ctx: GateContext,
    peer: string,
    /** what is paused: the socket (or a stream over it) the connection reads */
    readable: { pause(): unknown; resume(): unknown },
    private readonly hooks: ConnectionFlowHooks<M>,
    options: ConnectionFlowOptions = {},
  ) {
    this.clock = ctx.clock;
    const input = (this.input = new InputPause(readable));
    this.throttle = ctx.inboundThrottle(peer, {
      pause: () => {
        input.pause('rate');
      },
      resume: () => {
        input.resume('rate');
      },
      exceeded: () => {
        hooks.rateExceeded();
      },
    });
    if (hooks.cork && hooks.uncork) {
      this.cork = hooks.cork.bind(hooks);
      this.uncork = hooks.uncork.bind(hooks);
    }
    if (hooks.onDrain) this.onDrain = hooks.onDrain.bind(hooks);
    // the connection's flow is its outbox's hooks (methods, not a closure each)
    this.outbox = new Outbox(outboxLimits(ctx.config.limits), this, ctx.slowConsumers, ctx.clock);
    if (options.cap) this.cap = new FrameCap(options.cap);
  }

  // ----- input -----

  /** Reading pauses for `reason` until resume(reason); other reasons hold it on. */
  pause(reason: string): void {
    this.input.pause(reason);
  }

  resume(reason: string): void {
    this.input.resume(reason);
  }

  /**
   * Counts one inbound message of `bytes` (`message`: what the cap hook is told about);
   * false when the connection must go (its hook has run). Allocates nothing.
   */
  admit(bytes: number, message?: M): boolean {
    if (!this.throttle.admit(bytes)) return false;
    if (this.cap === undefined) return true;
    const over = this.cap.take(this.clock.now());
    if (over === 0) return true;
    this.hooks.capExceeded?.(over, message);
    return false;
  }

  // ----- output -----

  /** Call before a write: writes of this turn leave together (Outbox.coalesce). */
  coalesce(): void {
    this.outbox.coalesce();
  }

  /** Call after every write. Returns false when the peer has been dropped. */
  wrote(): boolean {
    return this.outbox.wrote();
  }

  /** The peer is not reading fast enough: its input is paused until it catches up. */
  get throttled(): boolean {
    return this.outbox.throttled;
  }

  /** The connection closed: timers stop, waiting writers wake. */
  dispose(): void {
    this.throttle.dispose();
    this.outbox.dispose();
  }

  // ----- OutboundFlow (paced writers: lib/retained-replay.ts) -----

  get open(): boolean {
    return this.outbox.open;
  }

  ready(): boolean {
    return this.outbox.ready();
  }

  wait(cb: () => void): void {
    this.outbox.wait(cb);
  }

  get holdBytes(): number {
    return this.outbox.holdBytes;
  }

  overflow(): void {
    this.outbox.overflow();
  }

  // ----- OutboxHooks -----

  queuedBytes(): number {
    return this.hooks.queuedBytes();
  }

  pauseInput(): void {
    this.input.pause('outbox');
  }

  resumeInput(): void {
    this.input.resume('outbox');
    this.hooks.outboxResumed?.();
  }

  kill(): void {
    this.hooks.kill();
  }
}
