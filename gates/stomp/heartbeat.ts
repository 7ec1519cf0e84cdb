import type { Clock, Timer } from '../../lib/clock';
import { timerDelay } from '../../lib/timers';

export interface HeartbeatHooks {
  /** write one heart-beat EOL (which counts as a write: see sent()) */
  beat(): void;
  /** the peer has been silent too long: end the connection */
  dead(): void;
}

/**
 * Heart-beating of one connection, both directions, on one interval timer (STOMP 1.2
 * §Heart-beating). The read and write paths only note the time (heard(), sent()); the
 * timer is never re-armed per frame or per beat.
 *
 * - Sending: a beat when nothing was written for about `outMs`. The timer ticks every
 *   `tick` ms (the smaller interval in use), and beats once the silence would otherwise
 *   outlast the next tick by more than half a tick: an idle connection gets one beat per
 *   `outMs`, and after traffic stops the gap stays under 1.5 x `outMs`, inside the 2x
 *   tolerance clients apply (stompjs drops a server silent for twice the interval).
 * - Receiving: the peer is dead once silent for twice `inMs` ("some tolerance", as the
 *   spec asks; RabbitMQ closes after about two missed intervals). Checked at ticks, so it
 *   happens between 2 and 3 intervals after the last byte when only this way beats.
 */
export class Heartbeat {
  private readonly timer: Timer;
  private readonly tick: number;
  private lastRead: number;
  private lastWrite: number;

  private constructor(
    /** ms between the server's beats; 0: none */
    private readonly outMs: number,
    /** ms between the client's beats; 0: none */
    private readonly inMs: number,
    private readonly hooks: HeartbeatHooks,
    /** the router's clock (RouterOptions.clock) */
    private readonly clock: Clock,
  ) {
    const now = clock.now();
    this.lastRead = now;
    this.lastWrite = now;
    // start() makes sure at least one way beats
    this.tick = timerDelay(Math.min(...[outMs, inMs].filter((ms) => ms > 0)));
    this.timer = clock.setInterval(() => {
      this.check();
    }, this.tick);
    this.timer.unref();
  }

  /** Negotiated intervals; undefined when neither way beats (no timer). */
  static start(outMs: number, inMs: number, hooks: HeartbeatHooks, clock: Clock): Heartbeat | undefined {
    return outMs > 0 || inMs > 0 ? new Heartbeat(outMs, inMs, hooks, clock) : undefined;
  }

  /** Any octet read counts as a heart-beat from the peer. */
  heard(): void {
    this.lastRead = this.clock.now();
  }

  /** Any octet written counts as a heart-beat from us. */
  sent(): void {
    this.lastWrite = this.clock.now();
  }

  stop(): void {
    this.clock.clearInterval(this.timer);
  }

  private check(): void {
    const now = this.clock.now();
    if (this.inMs > 0 && now - this.lastRead >= this.inMs * 2) {
      this.stop();
      this.hooks.dead();
      return;
    }
    if (this.outMs > 0 && now - this.lastWrite >= this.outMs - this.tick / 2) this.hooks.beat();
  }
}
