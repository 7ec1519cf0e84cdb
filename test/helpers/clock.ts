/**
 * A clock the test moves (RouterOptions.clock): the router's timeouts (call timeouts,
 * TTL, will delays, session expiry, keep-alives, heart-beats, rate limits) fire when the
 * test calls `advance`, never on their own, so a test of a 2-second timeout or a 30-day
 * TTL takes no time and cannot race the machine's load.
 */
import type { Clock, Timer } from '../../index';
import { WAIT_MS, withTimeout } from './wait';

const MAX_TIMER_MS = 2 ** 31 - 1;
/** more firings than this in one advance() is a timer re-arming itself for ever */
const MAX_FIRINGS = 100_000;

class ManualTimer implements Timer {
  /** when it fires next; undefined once fired (a timeout) or cleared */
  due: number | undefined;

  constructor(
    private readonly clock: ManualClock,
    readonly fn: () => void,
    /** as Node's: see delayOf */
    readonly ms: number,
    readonly repeat: boolean,
    /** the order of arming: timers due at the same time fire in it, as Node's */
    public seq: number,
  ) {
    this.due = clock.now() + ms;
  }

  unref(): this {
    return this;
  }

  refresh(): this {
    this.due = this.clock.now() + this.ms;
    this.seq = this.clock.nextSeq();
    this.clock.arm(this);
    return this;
  }
}

export class ManualClock implements Clock {
  private t: number;
  private seq = 0;
  private readonly armed = new Set<ManualTimer>();
  private watchers: { ms: number; resolve: () => void }[] = [];

  /** starts at the real time, so stored timestamps look ordinary */
  constructor(start = Date.now()) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): Timer {
    return this.arm(new ManualTimer(this, fn, delayOf(ms), false, this.nextSeq()));
  }

  setInterval(fn: () => void, ms: number): Timer {
    return this.arm(new ManualTimer(this, fn, delayOf(ms), true, this.nextSeq()));
  }

  clearTimeout(timer: Timer | undefined): void {
    if (timer instanceof ManualTimer) {
      timer.due = undefined;
      this.armed.delete(timer);
    }
  }

  clearInterval(timer: Timer | undefined): void {
    this.clearTimeout(timer);
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way in order,
   * each with `now()` at its due time (an interval as often as it falls due). Timers armed
   * by those callbacks fire too when they fall due within the same stretch.
   */
  advance(ms: number): void {
    const end = this.t + ms;
    let fired = 0;
    for (let next = this.earliest(end); next !== undefined; next = this.earliest(end)) {
      if (++fired > MAX_FIRINGS)
        throw new Error(`more than ${MAX_FIRINGS} timers fired in ${ms} ms: a timer spins (last delay ${next.ms} ms)`);
      this.t = next.due ?? this.t;
      if (next.repeat) next.due = this.t + next.ms;
      else {
        next.due = undefined;
        this.armed.delete(next);
      }
      next.fn();
    }
    this.t = end;
  }

  /** the delays of the timers armed now (what a test waits to see before it advances) */
  delays(): number[] {
    return [...this.armed].map((t) => t.ms);
  }

  /** true when a timer of exactly `ms` is armed: the router has scheduled what the test expects */
  hasTimer(ms: number): boolean {
    for (const t of this.armed) if (t.ms === ms) return true;
    return false;
  }

  /**
   * Resolves when the router next arms a timer of `ms` (call before the action that arms
   * it): the test then knows the timeout runs from a known moment before it advances.
   */
  nextTimer(ms: number, what = `a timer of ${ms} ms`): Promise<void> {
    const armed = new Promise<void>((resolve) => this.watchers.push({ ms, resolve }));
    return withTimeout(armed, WAIT_MS, what);
  }

  /** @internal ManualTimer's */
  arm(timer: ManualTimer): ManualTimer {
    this.armed.add(timer);
    if (this.watchers.length > 0) {
      this.watchers = this.watchers.filter((w) => {
        if (w.ms !== timer.ms) return true;
        w.resolve();
        return false;
      });
    }
    return timer;
  }

  /** @internal ManualTimer's */
  nextSeq(): number {
    return ++this.seq;
  }

  private earliest(end: number): ManualTimer | undefined {
    let best: ManualTimer | undefined;
    for (const t of this.armed) {
      if (t.due === undefined || t.due > end) continue;
      if (!best || t.due < (best.due ?? Infinity) || (t.due === best.due && t.seq < best.seq)) best = t;
    }
    return best;
  }
}

/** Node's own rule: a delay under 1 ms or past 2^31 - 1 ms is 1 ms (lib/timers.ts) */
function delayOf(ms: number): number {
  return ms >= 1 && ms <= MAX_TIMER_MS ? ms : 1;
}
