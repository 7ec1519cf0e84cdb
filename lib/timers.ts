/**
 * setTimeout takes at most 2^31 - 1 ms (about 24.8 days); a longer delay makes Node fire
 * it after 1 ms and print a TimeoutOverflowWarning. Delays a client chooses (a CALL
 * timeout, a retained value's ttl, an MQTT will delay) go through timerDelay().
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** `ms` clamped to what setTimeout honours: a longer timer fires early and is re-armed or is harmless. */
export function timerDelay(ms: number): number {
  return Math.min(Math.max(0, ms), MAX_TIMER_MS);
}
