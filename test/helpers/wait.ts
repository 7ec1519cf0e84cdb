/**
 * Waiting, the one helper for it (issue 18: one helper per job). Tests wait for events
 * with a deadline (`withTimeout`, `waitFor`); `sleep` is for the few places that must let
 * time pass (a window in which something must NOT happen) and for pacing a sender.
 */

/** Default deadline for anything a test waits for (generous: the test machine is shared and slow). */
export const WAIT_MS = 3000;

/** Lets `ms` pass. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

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
