/**
 * Waiting, the one helper for it (issue 18: one helper per job). Tests wait for events
 * with a deadline (`withTimeout`, `waitFor`); a router timeout is reached by moving a
 * ManualClock (./clock.ts), never by sleeping. `expectQuiet` is the one bounded window in
 * which something must NOT happen when there is no event to wait for instead; `sleep` is
 * left for pacing a sender.
 */

/** Default deadline for anything a test waits for (generous: the test machine is shared and slow). */
export const WAIT_MS = 3000;

/** Lets `ms` pass. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Default quiet window of `expectQuiet`: long enough for a stray message on loopback to land. */
export const QUIET_MS = 100;

/**
 * A window in which nothing must arrive (a message filtered out, a retained value not
 * replayed): there is no event to wait for, so a short bounded quiet period is the check.
 * Greppable on purpose, so an intentional quiet wait is told apart from a sleep.
 */
export const expectQuiet = (ms = QUIET_MS): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Rejects naming `what` after `ms` unless `p` settles first; the timer never outlives the wait. */
export function withTimeout<T>(p: PromiseLike<T> | T, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([Promise.resolve(p), deadline]).finally(() => clearTimeout(timer));
}

/** The same as `withTimeout`, under the name the raw-client helpers use. */
export const within = withTimeout;

/** Polls `cond` (every 10 ms) until it holds; rejects naming `what` after `ms`. */
export async function waitFor(cond: () => boolean | Promise<boolean>, what: string, ms = WAIT_MS): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}
