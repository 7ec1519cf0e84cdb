import { ApplicationError, Errors, RouterError, type CallFailure } from '../../../lib/errors';
import type { CallerSink } from '../../../lib/invocation';
import type { CancelMode } from '../../../lib/registration';
import { isValidUri } from '../../../lib/topic';
import { arity, arityRange, dict, id, Msg, payloadAt, ProtocolViolation, str } from '../../../lib/wamp/messages';
import { SerializerError } from '../../../lib/wamp/serializers';
import { addPassthruDetails, payloadFromWamp, pushPayload } from '../../../lib/wamp/payload';
import type { WampSession } from '../session';

/** CALL [48, Request|id, Options|dict, Procedure|uri, Arguments|list, ArgumentsKw|dict] */
export function handleCall(s: WampSession, msg: unknown[]): void {
  arityRange(msg, 4, 6, 'CALL');
  const request = id(msg[1], 'CALL.Request');
  const options = dict(msg[2], 'CALL.Options');
  const procedure = str(msg[3], 'CALL.Procedure');
  const { args, kwargs } = payloadAt(msg, 4);
  const { realm, core } = s.joined;
  const progress = options['progress'] === true;

  // WAMP advanced: progressive call invocations reuse the first CALL's request ID.
  const running = s.calls.get(request);
  if (running) {
    if (running.inputDone) throw new ProtocolViolation(`CALL request ID ${request} is already in use`);
    realm.dealer.progress(running, payloadFromWamp(args, kwargs, options), !progress);
    return;
  }

  if (!isValidUri(procedure)) {
    s.sendError(Msg.CALL, request, new RouterError(Errors.invalidUri, `invalid procedure URI: ${procedure}`));
    return;
  }
  const timeout = options['timeout'];
  if (timeout !== undefined && (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 0)) {
    s.sendError(
      Msg.CALL,
      request,
      new RouterError(Errors.invalidArgument, 'CALL.Options.timeout must be a non-negative integer (ms)'),
    );
    return;
  }
  const sink: CallerSink = {
    result(payload, isProgress) {
      const details: Record<string, unknown> = isProgress ? { progress: true } : {};
      addPassthruDetails(details, payload);
      if (!isProgress) s.calls.delete(request);
      if (s.state !== 'established') return;
      if (!trySend(s, pushPayload([Msg.RESULT, request, details], payload)) && !isProgress) unencodable(s, request);
    },
    error(failure: CallFailure) {
      s.calls.delete(request);
      if (s.state !== 'established') return;
      const details = failure instanceof ApplicationError ? failure.details : {};
      try {
        s.sendError(Msg.CALL, request, failure, details);
      } catch (err) {
        if (!(err instanceof SerializerError)) throw err;
        unencodable(s, request);
      }
    },
  };
  const inv = realm.call(
    core,
    procedure,
    payloadFromWamp(args, kwargs, options),
    {
      timeoutMs: typeof timeout === 'number' ? timeout : 0,
      receiveProgress: options['receive_progress'] === true,
      discloseMe: options['disclose_me'] === true,
      progress,
    },
    sink,
  );
  if (inv && inv.state !== 'done') s.calls.set(request, inv);
}

/**
 * Sends a message this caller's serializer may not be able to carry (a result from a
 * callee on another serializer). False when it cannot: the problem is this call's, not
 * the callee's, whose YIELD handling must not see the exception.
 */
function trySend(s: WampSession, msg: unknown[]): boolean {
  try {
    s.send(msg);
    return true;
  } catch (err) {
    if (err instanceof SerializerError) return false;
    throw err;
  }
}

function unencodable(s: WampSession, request: number): void {
  s.ctx.counters.errors('result_not_encodable');
  s.sendError(
    Msg.CALL,
    request,
    new RouterError(Errors.invalidArgument, `the result cannot be encoded with ${s.transport.serializer.name}`),
  );
}

/** CANCEL [49, CALL.Request|id, Options|dict] (WAMP advanced: call canceling) */
export function handleCancel(s: WampSession, msg: unknown[]): void {
  arity(msg, 3, 'CANCEL');
  const request = id(msg[1], 'CANCEL.Request');
  const options = dict(msg[2], 'CANCEL.Options');
  const mode = options['mode'] ?? 'killnowait';
  if (mode !== 'skip' && mode !== 'kill' && mode !== 'killnowait') {
    throw new ProtocolViolation('unknown CANCEL mode');
  }
  const inv = s.calls.get(request);
  if (!inv) return; // the call has already finished: nothing to cancel
  s.joined.realm.dealer.cancel(inv, mode satisfies CancelMode);
}
