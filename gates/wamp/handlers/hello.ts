import { anonymousAllowed } from '../../../lib/auth/anonymous';
import { Errors } from '../../../lib/errors';
import { globalId } from '../../../lib/ids';
import { Session } from '../../../lib/session';
import { isValidUri } from '../../../lib/topic';
import { arity, dict, Msg, str } from '../messages';
import type { WampSession } from '../session';
import { ROUTER_ROLES } from '../roles';

/** HELLO -> WELCOME or ABORT (WAMP basic profile, session establishment). */
export function handleHello(s: WampSession, msg: unknown[]): void {
  arity(msg, 3, 'HELLO');
  const realmName = str(msg[1], 'HELLO.Realm');
  const details = dict(msg[2], 'HELLO.Details');
  if (!isValidUri(realmName)) {
    s.abort(Errors.invalidUri, `invalid realm URI: ${realmName}`);
    return;
  }
  const roles = details['roles'];
  if (typeof roles !== 'object' || roles === null || Object.keys(roles).length === 0) {
    s.abort(Errors.protocolViolation, 'HELLO.Details.roles must announce at least one role');
    return;
  }
  const refused = s.ctx.router.admit();
  if (refused) {
    s.abort(refused.def, refused.message);
    return;
  }
  const realm = s.ctx.router.realm(realmName);
  if (!realm) {
    s.abort(Errors.noSuchRealm, `no such realm: ${realmName}`);
    return;
  }
  if (!anonymousAllowed(s.ctx.config.auth.anonymous, s.transport.info.peer)) {
    s.abort(Errors.authenticationFailed, 'anonymous access is not allowed on this listener');
    return;
  }
  const methods = details['authmethods'];
  if (Array.isArray(methods) && methods.length > 0 && !methods.includes('anonymous')) {
    s.abort(Errors.authenticationFailed, `no supported authmethod among ${methods.join(', ')}`);
    return;
  }
  const callee = (roles as Record<string, unknown>)['callee'];
  const calleeFeatures = featuresOf(callee);
  s.features = {
    calleeCanceling: calleeFeatures['call_canceling'] === true,
    calleeProgressiveResults: calleeFeatures['progressive_call_results'] === true,
  };
  const authid = typeof details['authid'] === 'string' ? details['authid'] : `anonymous-${globalId().toString(36)}`;
  const core = new Session(
    s.transport.info,
    { authid, authrole: s.ctx.config.auth.anonymousRole, authmethod: 'anonymous', authprovider: 'static' },
    { close: (reason, message) => s.goodbye(reason, message) },
  );
  s.realm = realm;
  s.core = core;
  s.state = 'established';
  s.send([
    Msg.WELCOME,
    core.id,
    {
      realm: realmName,
      authid,
      authrole: core.identity.authrole,
      authmethod: 'anonymous',
      authprovider: 'static',
      roles: ROUTER_ROLES,
    },
  ]);
  realm.join(core);
}

function featuresOf(role: unknown): Record<string, unknown> {
  if (typeof role !== 'object' || role === null) return {};
  const f = (role as Record<string, unknown>)['features'];
  return typeof f === 'object' && f !== null ? (f as Record<string, unknown>) : {};
}
