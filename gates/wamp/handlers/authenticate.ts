import { Errors } from '../../../lib/errors';
import { arity, dict, str } from '../../../lib/wamp/messages';
import type { WampSession } from '../session';
import { finish } from './hello';

/** AUTHENTICATE -> WELCOME or ABORT (WAMP advanced, authentication). */
export function handleAuthenticate(s: WampSession, msg: unknown[]): void {
  arity(msg, 3, 'AUTHENTICATE');
  const signature = str(msg[1], 'AUTHENTICATE.Signature');
  dict(msg[2], 'AUTHENTICATE.Extra');
  const pending = s.takePendingAuthentication();
  // checking a password or asking the dynamic authenticator takes a while; the client
  // may be gone by then, and anything it sends meanwhile is a protocol violation
  Promise.resolve(pending.finish(signature))
    .then((result) => {
      if (s.state === 'verifying') finish(s, pending.realm, result, pending.id);
    })
    .catch((err: unknown) => {
      s.ctx.log.error({ err, peer: s.transport.info.peer }, 'authentication failed unexpectedly');
      s.abort(Errors.internal, 'internal error');
    });
}
