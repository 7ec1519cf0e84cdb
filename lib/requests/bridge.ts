import { Errors, RouterError, type CallFailure } from '../errors';
import type { Payload } from '../payload';
import type { Realm } from '../realm';
import type { Session } from '../session';
import { toRouterError } from '../settle';
import { isValidUri } from '../topic';
import { requestsOf } from './dispatcher';
import type { Reply } from './store';

/** The request options as MQTT user properties / STOMP headers carry them: text. */
export interface TextOptions {
  destinations: string;
  expires_in?: string | undefined;
  retries?: string | undefined;
}

/** Where one reply is from: gates send these as user properties / headers request-id and request-destination. */
export interface ReplyOrigin {
  id: string;
  destination: string;
}

/** Receives one message: the body, the error URI when it is an error, and its origin (none for a refused submit). */
export type DestinationReply = (payload: Payload, error: string | undefined, origin: ReplyOrigin | undefined) => void;

/** The user properties (MQTT) / headers (STOMP) of a reply: error, request-id, request-destination. */
export function replyProperties(error: string | undefined, origin: ReplyOrigin | undefined): Record<string, string> {
  const props: Record<string, string> = {};
  if (error !== undefined) props['error'] = error;
  if (origin) {
    props['request-id'] = origin.id;
    props['request-destination'] = origin.destination;
  }
  return props;
}

/**
 * A durable request made by a gate whose protocol has no RPC (MQTT `$rpc/`, STOMP
 * `/rpc/`) when the message names `destinations`: submitted as
 * gatehouse.request.submit (so authorized like it), then `reply` gets one message per
 * destination as its outcome comes, in the form of lib/rpc-reply.ts (an error: body
 * {"error", "args", "kwargs"} and the URI beside it). A refused submit is one error
 * message without a destination, and returned when it was refused at once (so a gate
 * can say so in its acknowledgement too). The messages come from memory: outcomes that arrive
 * after a router restart are read with gatehouse.request.get (each message names its
 * request-id).
 */
export function submitForReplies(
  realm: Realm,
  caller: Session,
  procedure: string,
  payload: Payload,
  text: TextOptions,
  reply: DestinationReply,
): CallFailure | undefined {
  let immediate: CallFailure | undefined;
  let submitting = true;
  const fail = (f: CallFailure): CallFailure => {
    if (submitting) immediate = f;
    reply(errorBody(f), f.uri, undefined);
    return f;
  };
  const dispatcher = requestsOf(realm);
  if (!dispatcher) return fail(new RouterError(Errors.featureNotSupported, 'this router has no durable requests'));
  if (!isValidUri(procedure)) return fail(new RouterError(Errors.invalidUri, `invalid procedure: ${procedure}`));
  let options: Record<string, unknown>;
  try {
    options = parseOptions(text);
  } catch (err) {
    return fail(toRouterError(err));
  }
  const args = [procedure, payload.args ?? (payload.bytes ? [payload.bytes] : []), payload.kwargs ?? {}, options];
  realm.call(
    caller,
    'gatehouse.request.submit',
    { args },
    { outlivesCaller: true },
    {
      result: (p) => {
        const id = (p.args?.[0] as { id?: unknown } | undefined)?.id;
        if (typeof id !== 'string') return;
        dispatcher.watch(id, (r: Reply) => {
          const origin = { id, destination: r.destination };
          if ('error' in r) reply(errorBody({ uri: r.error, args: r.args, kwargs: r.kwargs }), r.error, origin);
          else reply({ args: r.args, kwargs: r.kwargs }, undefined, origin);
        });
      },
      error: fail,
    },
  );
  submitting = false;
  return immediate;
}

/** destinations: "all", a JSON list, or authids separated by commas; the numbers as text */
function parseOptions(text: TextOptions): Record<string, unknown> {
  const d = text.destinations.trim();
  let destinations: unknown =
    d === 'all'
      ? 'all'
      : d
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '');
  if (d.startsWith('[')) {
    try {
      destinations = JSON.parse(d) as unknown;
    } catch {
      throw new RouterError(Errors.invalidArgument, 'destinations is "all", a JSON list or authids separated by commas');
    }
  }
  const out: Record<string, unknown> = { destinations };
  if (text.expires_in !== undefined) out['expires_in'] = Number(text.expires_in);
  if (text.retries !== undefined) out['retries'] = Number(text.retries);
  return out;
}

function errorBody(f: { uri: string; args?: unknown[] | undefined; kwargs?: Record<string, unknown> | undefined }): Payload {
  const body: Record<string, unknown> = { error: f.uri };
  if (f.args) body['args'] = f.args;
  if (f.kwargs) body['kwargs'] = f.kwargs;
  return { kwargs: body };
}
