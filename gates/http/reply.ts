import type express from 'express';
import { ApplicationError, Errors, RouterError, httpStatusOf, type CallFailure } from '../../lib/errors';
import { stringifyExact } from '../../lib/json-exact';

/**
 * JSON out, the one JSON rule of every gate (lib/json-exact.ts): integers past 2^53
 * exact, binary as "\u0000" + base64 as WAMP JSON carries it.
 */
export function sendJson(res: express.Response, status: number, body: unknown): void {
  // Node's own response, not Express's res.send(): that turns the text into a Buffer and
  // hashes it for an ETag no API client revalidates against, and a Buffer goes out as a
  // second write beside the head; a string goes out with the head in one
  // (bench/RESULTS.md "HTTP API against WAMP")
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.end(stringifyExact(body) ?? 'null');
}

/** `{error, args, kwargs, message}` with the status of the error's catalogue entry. */
export function sendFailure(res: express.Response, failure: CallFailure): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const status = httpStatusOf(failure);
  // RFC 9110 §11.6.1: a 401 names the scheme that would work
  if (status === 401) res.set('www-authenticate', 'Basic realm="gatehouse", charset="UTF-8"');
  const body =
    failure instanceof ApplicationError
      ? {
          error: failure.uri,
          args: failure.args ?? [],
          kwargs: failure.kwargs ?? {},
          message: typeof failure.args?.[0] === 'string' ? failure.args[0] : failure.uri,
        }
      : { error: failure.uri, args: failure.args ?? [], kwargs: failure.kwargs ?? {}, message: failure.message };
  sendJson(res, status, body);
}

/** Anything thrown while handling a request, as a failure of the catalogue. */
export function asFailure(err: unknown): CallFailure {
  if (err instanceof RouterError || err instanceof ApplicationError) return err;
  return new RouterError(Errors.internal, err instanceof Error ? err.message : String(err));
}
