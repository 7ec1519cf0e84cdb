import { Errors, RouterError } from './errors';

/** A core answer that is usually immediate and sometimes not (the dynamic authorizer). */
export type MaybePromise<T> = T | Promise<T>;

/**
 * Calls `ok` with the value: in this turn when it is one, once the promise resolves
 * otherwise; `fail` with the RouterError when it rejects (or when `ok` throws then).
 * Gates use it so that the immediate path stays synchronous.
 */
export function settle<T>(value: MaybePromise<T>, ok: (v: T) => void, fail: (err: RouterError) => void): void {
  if (!(value instanceof Promise)) {
    ok(value);
    return;
  }
  value.then(ok).catch((err: unknown) => {
    fail(toRouterError(err));
  });
}

export function toRouterError(err: unknown): RouterError {
  if (err instanceof RouterError) return err;
  return new RouterError(Errors.internal, err instanceof Error ? err.message : String(err));
}

/** Runs `then` now when nothing is pending, else once `pending` resolves. */
export function after<T>(pending: Promise<void> | undefined, then: () => T | Promise<T>): T | Promise<T> {
  return pending ? pending.then(then) : then();
}
