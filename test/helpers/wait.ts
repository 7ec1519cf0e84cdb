/**
 * Waiting, the one helper for it (issue 18: one helper per job). Tests wait for events
 * with a deadline (`withTimeout`, `waitFor`); a router timeout is reached by moving a
 * ManualClock (./clock.ts), never by sleeping. `expectQuiet` is the one bounded window in
 * which something must NOT happen when there is no event to wait for instead; `pace` is
 * the one real-time pause, for what must really take time (see there). Every timer of a
 * test's waiting is armed in this file, so `grep -rn "setTimeout\|sleep(" test/` finds
 * no fixed wait elsewhere.
 */

/** Default deadline for anything a test waits for (generous: the test machine is shared and slow). */
export const WAIT_MS = 3000;

/**
 * Lets `ms` of real time pass where the behaviour under test needs real time and no
 * event or test clock can stand in: a sender pacing itself (a slowloris byte every N ms
 * against a real socket's timeout, a packet arriving in pieces, a load generator's
 * rhythm), a peer answering late on purpose (a slow callee or authorizer), a process
 * kept stopped (SIGSTOP) for a while. Never to wait for the router: wait for the event
 * (`waitFor`, `withTimeout`), move the ManualClock, or check silence with `expectQuiet`.
 */
export const pace = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** @deprecated the old name of `pace`, kept for branches written before it; use `pace` */
export const sleep = pace;

/** Default quiet window of `expectQuiet`: long enough for a stray message on loopback to land. */
export const QUIET_MS = 100;

/**
 * A window in which nothing must arrive (a message filtered out, a retained value not
 * replayed): there is no event to wait for, so a short bounded quiet period is the check.
 * Greppable on purpose, so an intentional quiet wait is told apart from a sleep.
 */
export const expectQuiet = (ms = QUIET_MS): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A waiting helper's own deadline, where what it waits for is a callback rather than a
 * promise (a packet matcher, a child process's output): calls `expire` after `ms` unless
 * the returned `cancel` runs first. The one give-up timer; `withTimeout` is built on it.
 */
export function giveUpAfter(ms: number, expire: () => void): () => void {
  const timer = setTimeout(expire, ms);
  return () => clearTimeout(timer);
}

/** `what` of a wait, or a function giving it when the wait fails (to name what was seen by then) */
export type What = string | (() => string);

const named = (what: What): string => (typeof what === 'string' ? what : what());

/** Rejects naming `what` after `ms` unless `p` settles first; the timer never outlives the wait. */
export function withTimeout<T>(p: PromiseLike<T> | T, ms: number, what: What): Promise<T> {
  let cancel: (() => void) | undefined;
  const deadline = new Promise<never>((_, reject) => {
    cancel = giveUpAfter(ms, () => reject(new Error(`timed out after ${ms} ms waiting for ${named(what)}`)));
  });
  return Promise.race([Promise.resolve(p), deadline]).finally(() => cancel?.());
}

/** The same as `withTimeout`, under the name the raw-client helpers use. */
export const within = withTimeout;

/**
 * Polls `cond` (every `everyMs`, 10 by default: longer for a condition that asks a server)
 * until it holds; rejects naming `what` after `ms`.
 */
export async function waitFor(cond: () => boolean | Promise<boolean>, what: What, ms = WAIT_MS, everyMs = 10): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${named(what)}`);
    await pace(everyMs);
  }
}

/**
 * Calls `attempt` until it resolves (again every `everyMs` after a rejection: a server
 * failing over, a leader not yet elected), with its value; after `ms`, rejects with the
 * last attempt's error, `what` prefixed. `onError` sees each failed attempt.
 */
export async function retryUntil<T>(
  attempt: () => Promise<T>,
  what: string,
  ms = WAIT_MS,
  everyMs = 10,
  onError: (err: unknown) => void = () => undefined,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      onError(err);
      if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms retrying ${what}`, { cause: err });
      await pace(everyMs);
    }
  }
}
