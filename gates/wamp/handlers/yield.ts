import { ApplicationError } from '../../../lib/errors';
import { arityRange, dict, id, Msg, payloadAt, ProtocolViolation, str } from '../../../lib/wamp/messages';
import { payloadFromWamp } from '../../../lib/wamp/payload';
import type { WampSession } from '../session';

/** YIELD [70, INVOCATION.Request|id, Options|dict, Arguments|list, ArgumentsKw|dict] */
export function handleYield(s: WampSession, msg: unknown[]): void {
  arityRange(msg, 3, 5, 'YIELD');
  const request = id(msg[1], 'YIELD.Request');
  const options = dict(msg[2], 'YIELD.Options');
  const { args, kwargs } = payloadAt(msg, 3);
  const inv = s.invocations.get(request);
  if (!inv) return; // answer to a canceled or timed-out invocation: ignored
  const progress = options['progress'] === true;
  if (!progress) forget(s, request);
  s.joined.realm.dealer.yield(inv, payloadFromWamp(args, kwargs, options), progress);
}

/** ERROR [8, INVOCATION, INVOCATION.Request|id, Details|dict, Error|uri, Arguments|list, ArgumentsKw|dict] */
export function handleInvocationError(s: WampSession, msg: unknown[]): void {
  arityRange(msg, 5, 7, 'ERROR');
  if (msg[1] !== Msg.INVOCATION) throw new ProtocolViolation('a client may only send ERROR for an INVOCATION');
  const request = id(msg[2], 'ERROR.Request');
  const details = dict(msg[3], 'ERROR.Details');
  const uri = str(msg[4], 'ERROR.Error');
  const { args, kwargs } = payloadAt(msg, 5);
  const inv = s.invocations.get(request);
  if (!inv) return;
  forget(s, request);
  s.joined.realm.dealer.fail(inv, new ApplicationError(uri, args, kwargs, details));
}

function forget(s: WampSession, request: number): void {
  const inv = s.invocations.get(request);
  s.invocations.delete(request);
  if (inv) s.invocationIds.delete(inv);
}
