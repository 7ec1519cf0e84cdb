/**
 * A call made for a client whose protocol has no RPC (MQTT `$rpc/`, STOMP `/rpc/`), its
 * outcome handed back as one message: the result payload, or for an error the payload
 * {"error": uri, "args"?, "kwargs"?} with the error URI beside it (the gates put it in a
 * user property / header named `error`). Delivering the message is the gate's business.
 */
import type { CallFailure } from './errors';
import type { CallOptions } from './invocation';
import type { Payload } from './payload';
import type { Realm } from './realm';
import type { Session } from './session';
import { isValidUri } from './topic';

/** Receives the outcome: the message body, and the error URI when the call failed. */
export type Reply = (payload: Payload, error?: string) => void;

/**
 * Calls `procedure` as `caller`; `reply` gets the final result or the error, once.
 * Progress is not asked for. `options`: the call's timeout, and whether it outlives the
 * caller's session (the reply goes to a topic). Returns the failure when the call failed
 * at once (e.g. not authorized), so a gate can also say so in its acknowledgement.
 */
export function callForReply(
  realm: Realm,
  caller: Session,
  procedure: string,
  args: Payload,
  reply: Reply,
  options: Pick<CallOptions, 'timeoutMs' | 'outlivesCaller'> = {},
): CallFailure | undefined {
  if (!isValidUri(procedure)) {
    reply(errorBody({ uri: 'wamp.error.invalid_uri', args: [`invalid procedure: ${procedure}`] }), 'wamp.error.invalid_uri');
    return undefined;
  }
  let immediate: CallFailure | undefined;
  let calling = true;
  realm.call(caller, procedure, args, options, {
    result: (payload, progress) => {
      if (!progress) reply(payload);
    },
    error: (f: CallFailure) => {
      if (calling) immediate = f;
      reply(errorBody(f), f.uri);
    },
  });
  calling = false;
  return immediate;
}

/** The reply body of an error (a refusal the gate answers itself, say): {"error", "args"?, "kwargs"?}. */
export function errorBody(f: { uri: string; args?: unknown[]; kwargs?: Record<string, unknown> }): Payload {
  const body: Record<string, unknown> = { error: f.uri };
  if (f.args) body['args'] = f.args;
  if (f.kwargs) body['kwargs'] = f.kwargs;
  return { kwargs: body };
}
