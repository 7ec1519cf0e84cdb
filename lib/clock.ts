/**
 * The one clock the router's timeouts read and schedule with: call timeouts, retained
 * TTL and the requests' expiry, MQTT keep-alive, will delays and session expiry, STOMP
 * heart-beats, the WAMP HELLO / AUTHENTICATE timeout and WebSocket / RawSocket pings, the
 * dynamic authenticator's deadline and authorizer's cache, the slow consumer deadline (read
 * by the outbox's real-time drain poll), the inbound rate limit and the auth throttle, the
 * universal port's sniff deadline and the PROXY header deadline. The router is given it
 * (RouterOptions.clock, default the real one) and hands it down, so a test can drive a
 * 30-day TTL or a 2-minute keep-alive by moving a fake clock instead of sleeping.
 *
 * Timers that pace I/O rather than measure a client's deadline (the outbox's drain poll,
 * the grace before a closing socket is destroyed) stay on the real timers.
 */
export interface Timer {
  /** the timer alone does not keep the process alive (as Node's Timeout.unref) */
  unref(): unknown;
  /** starts the same delay again from now, without a new timer (a keep-alive per packet) */
  refresh(): unknown;
}

export interface Clock {
  /** milliseconds since the epoch, as Date.now() */
  now(): number;
  setTimeout(fn: () => void, ms: number): Timer;
  clearTimeout(timer: Timer | undefined): void;
  setInterval(fn: () => void, ms: number): Timer;
  clearInterval(timer: Timer | undefined): void;
}

/** Date.now and Node's timers. The handles are Node's own: no allocation is added. */
export const realClock: Clock = {
  now: Date.now,
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  // the handle came from setTimeout above: it is Node's Timeout
  clearTimeout: (timer) => {
    clearTimeout(timer as NodeJS.Timeout | undefined);
  },
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (timer) => {
    clearInterval(timer as NodeJS.Timeout | undefined);
  },
};
