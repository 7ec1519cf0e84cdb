import { Errors, RouterError } from '../errors';
import { isPlainObject, type Payload } from '../payload';
import type { Realm } from '../realm';
import type { RequestDispatcher, SubmitOptions } from './dispatcher';
import type { Reply } from './store';

/** expires_in when the submitter gives none, in seconds */
export const DEFAULT_EXPIRES_IN_S = 60;
/** the longest a request may live, in seconds (30 days) */
export const MAX_EXPIRES_IN_S = 30 * 86_400;
const MAX_DESTINATIONS = 1000;
const MAX_RETRIES = 100;

/**
 * Durable requests by RPC, for clients of every protocol (README "Durable requests"):
 *   gatehouse.request.submit(procedure, args, kwargs, {destinations, expires_in, retries}) -> {id}
 *   gatehouse.request.get(id, {wait})  -> {status: "pending"|"done", replies}
 *     (with receive_progress: each reply as a progressive result while waiting)
 * Calling them needs `call` on their URI (checked by the realm like any procedure);
 * submitting also needs `call` on the target procedure, and only the submitter's authid
 * reads the outcomes. The HTTP API's /requests go through these same procedures.
 */
export function installRequestApi(realm: Realm, dispatcher: RequestDispatcher): void {
  realm.builtins.set('gatehouse.request.submit', (caller, args, kw) => {
    const [procedure, cargs, ckwargs, opts] = args;
    if (typeof procedure !== 'string')
      throw new RouterError(Errors.invalidArgument, 'submit(procedure, args, kwargs, {destinations, expires_in, retries})');
    const payload: Payload = {};
    if (Array.isArray(cargs)) payload.args = cargs;
    else if (cargs !== undefined && cargs !== null) throw new RouterError(Errors.invalidArgument, 'args must be a list');
    if (isPlainObject(ckwargs)) payload.kwargs = ckwargs;
    else if (ckwargs !== undefined && ckwargs !== null)
      throw new RouterError(Errors.invalidArgument, 'kwargs must be a dictionary');
    const options = submitOptions(isPlainObject(opts) ? opts : kw);
    const out = dispatcher.submit(realm, caller, procedure, payload, options);
    return out instanceof Promise ? out.then((v) => ({ args: [v] })) : { args: [out] };
  });

  // a caller that accepts progressive results gets each outcome as one, {args: [reply]}
  realm.builtins.set('gatehouse.request.get', async (caller, args, kw, progress) => {
    const id = args[0];
    if (typeof id !== 'string' || id === '') throw new RouterError(Errors.invalidArgument, 'get(id, {wait})');
    const opts = isPlainObject(args[1]) ? args[1] : kw;
    const wait = opts['wait'];
    if (wait !== undefined && (typeof wait !== 'number' || !(wait >= 0)))
      throw new RouterError(Errors.invalidArgument, 'wait is a number of seconds');
    const onReply =
      progress &&
      ((reply: Reply): void => {
        progress({ args: [reply] });
      });
    return { args: [await dispatcher.get(realm, caller, id, typeof wait === 'number' ? wait * 1000 : 0, onReply || undefined)] };
  });
}

/** The submit options as the WAMP, HTTP, MQTT and STOMP forms name them (snake_case). */
export function submitOptions(o: Record<string, unknown>): SubmitOptions {
  const d = o['destinations'];
  let destinations: SubmitOptions['destinations'];
  if (d === 'all') destinations = 'all';
  else if (Array.isArray(d) && d.length > 0 && d.length <= MAX_DESTINATIONS && d.every((x) => typeof x === 'string' && x !== ''))
    destinations = d as string[];
  else throw new RouterError(Errors.invalidArgument, `destinations is "all" or a list of 1 to ${MAX_DESTINATIONS} authids`);
  const e = o['expires_in'] ?? DEFAULT_EXPIRES_IN_S;
  if (typeof e !== 'number' || !(e > 0) || e > MAX_EXPIRES_IN_S)
    throw new RouterError(Errors.invalidArgument, `expires_in is a number of seconds, > 0 and at most ${MAX_EXPIRES_IN_S}`);
  const r = o['retries'] ?? 0;
  if (typeof r !== 'number' || !Number.isInteger(r) || r < 0 || r > MAX_RETRIES)
    throw new RouterError(Errors.invalidArgument, `retries is an integer from 0 to ${MAX_RETRIES}`);
  return { destinations, expiresInMs: Math.round(e * 1000), retries: r };
}
