import { Errors, RouterError } from '../../../lib/errors';
import { settle } from '../../../lib/settle';
import type { Invocation } from '../../../lib/invocation';
import type { Callee, InvokePolicy, Registration } from '../../../lib/registration';
import { arity, dict, id, Msg, str } from '../../../lib/wamp/messages';
import { addPassthruDetails, pushPayload } from '../../../lib/wamp/payload';
import type { WampSession } from '../session';
import { matchOption } from './subscribe';

/** REGISTER [64, Request|id, Options|dict, Procedure|uri] */
export function handleRegister(s: WampSession, msg: unknown[]): void {
  arity(msg, 4, 'REGISTER');
  const request = id(msg[1], 'REGISTER.Request');
  const options = dict(msg[2], 'REGISTER.Options');
  const procedure = str(msg[3], 'REGISTER.Procedure');
  const { realm, core } = s.joined;
  try {
    if (procedure.startsWith('wamp.'))
      throw new RouterError(Errors.invalidUri, 'the wamp.* procedures are reserved for the router');
    const concurrency = options['concurrency'];
    if (concurrency !== undefined && (typeof concurrency !== 'number' || !Number.isInteger(concurrency) || concurrency < 1)) {
      throw new RouterError(Errors.invalidArgument, 'REGISTER.Options.concurrency must be a positive integer');
    }
    const ref: { registration?: Registration } = {};
    const callee: Callee = {
      invoke: (inv) => {
        sendInvocation(s, inv, ref.registration?.id ?? 0);
      },
      invokeProgress: (inv, final) => {
        sendProgressChunk(s, inv, ref.registration?.id ?? 0, final);
      },
    };
    // WAMP advanced: INTERRUPT only to callees that announced call_canceling.
    if (s.features.calleeCanceling)
      callee.interrupt = (inv, mode, reason) => {
        sendInterrupt(s, inv, mode, reason);
      };
    const registered = realm.register(
      core,
      procedure,
      {
        match: matchOption(options['match']),
        invoke: (options['invoke'] as InvokePolicy | undefined) ?? 'single',
        concurrency: typeof concurrency === 'number' ? concurrency : undefined,
        discloseCaller: options['disclose_caller'] === true,
      },
      callee,
    );
    // at once, or once the dynamic authorizer has answered
    settle(
      registered,
      (registration) => {
        ref.registration = registration;
        if (s.state === 'established') s.send([Msg.REGISTERED, request, registration.id]);
      },
      (err) => {
        if (s.state === 'established') s.sendError(Msg.REGISTER, request, err);
      },
    );
  } catch (err) {
    if (!(err instanceof RouterError)) throw err;
    s.sendError(Msg.REGISTER, request, err);
  }
}

/** UNREGISTER [66, Request|id, REGISTERED.Registration|id] */
export function handleUnregister(s: WampSession, msg: unknown[]): void {
  arity(msg, 3, 'UNREGISTER');
  const request = id(msg[1], 'UNREGISTER.Request');
  const registration = id(msg[2], 'UNREGISTER.Registration');
  const { realm, core } = s.joined;
  try {
    realm.unregister(core, registration);
    s.send([Msg.UNREGISTERED, request]);
  } catch (err) {
    if (!(err instanceof RouterError)) throw err;
    s.sendError(Msg.UNREGISTER, request, err);
  }
}

/** INVOCATION [68, Request|id, REGISTERED.Registration|id, Details|dict, CALL.Arguments, CALL.ArgumentsKw] */
function sendInvocation(s: WampSession, inv: Invocation, registrationId: number): void {
  const request = s.takeInvocationId();
  s.invocations.set(request, inv);
  s.invocationIds.set(inv, request);
  const details = inv.details();
  // More chunks follow this one while the caller has not sent its last, and also when
  // chunks arrived while the call waited for a callee (they are delivered right after).
  if (!inv.inputDone || inv.pendingChunks.length > 0) details['progress'] = true;
  addPassthruDetails(details, inv.payload);
  try {
    s.send(pushPayload([Msg.INVOCATION, request, registrationId, details], inv.payload));
  } catch (err) {
    // Not sent (e.g. the arguments have no form in this callee's serializer): the dealer
    // fails the call. Keep no entry for it, or every such call from a hostile caller
    // would pin its payload in this innocent callee's session.
    s.invocations.delete(request);
    s.invocationIds.delete(inv);
    throw err;
  }
}

/** WAMP advanced: progressive call invocations reuse the INVOCATION request ID. */
function sendProgressChunk(s: WampSession, inv: Invocation, registrationId: number, final: boolean): void {
  const request = s.invocationIds.get(inv);
  if (request === undefined) return;
  const details: Record<string, unknown> = final ? {} : { progress: true };
  addPassthruDetails(details, inv.payload);
  s.send(pushPayload([Msg.INVOCATION, request, registrationId, details], inv.payload));
}

/** INTERRUPT [69, INVOCATION.Request|id, Options|dict] */
function sendInterrupt(s: WampSession, inv: Invocation, mode: 'kill' | 'killnowait', reason: string): void {
  const request = s.invocationIds.get(inv);
  if (request === undefined) return;
  if (mode === 'killnowait') {
    // the caller has its answer already; a late YIELD or ERROR is ignored
    s.invocations.delete(request);
    s.invocationIds.delete(inv);
  }
  s.send([Msg.INTERRUPT, request, { mode, reason }]);
}
