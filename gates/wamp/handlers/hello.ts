import { isAuthMethod, type AuthRequest } from '../../../lib/auth/authenticator';
import type { AuthResult } from '../../../lib/auth/outcome';
import type { AuthMethod } from '../../../lib/config';
import { Errors } from '../../../lib/errors';
import { globalId } from '../../../lib/ids';
import type { Realm } from '../../../lib/realm';
import { Session, type SessionIdentity } from '../../../lib/session';
import { isValidUri } from '../../../lib/topic';
import { arity, dict, Msg, str } from '../../../lib/wamp/messages';
import type { PendingAuthentication, WampSession } from '../session';
import { ROUTER_ROLES } from '../roles';
import { revokeOnWire } from '../revocation';

/**
 * HELLO -> WELCOME, CHALLENGE or ABORT (WAMP basic profile, session establishment;
 * WAMP advanced, authentication). The client's authmethods are tried in its order:
 * the first one this realm accepts and this router has set up is used; anonymous when
 * the client names none.
 */
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
  // authenticated first, then the realm is opened (finish): an unauthenticated client
  // must not create realms (autoCreateRealms) and use up limits.maxRealms
  if (!s.ctx.router.mayJoinRealm(realmName)) {
    s.abort(Errors.noSuchRealm, `no such realm: ${realmName}`);
    return;
  }
  const callee = (roles as Record<string, unknown>)['callee'];
  const calleeFeatures = featuresOf(callee);
  s.features = {
    calleeCanceling: calleeFeatures['call_canceling'] === true,
    calleeProgressiveResults: calleeFeatures['progressive_call_results'] === true,
    subscriptionRevocation: featuresOf((roles as Record<string, unknown>)['subscriber'])['subscription_revocation'] === true,
    registrationRevocation: calleeFeatures['registration_revocation'] === true,
  };

  const auth = s.ctx.router.auth;
  const req: AuthRequest = { realm: realmName, transport: s.transport.info };
  const authid = typeof details['authid'] === 'string' && details['authid'] !== '' ? details['authid'] : undefined;
  const offered =
    Array.isArray(details['authmethods']) && details['authmethods'].length > 0 ? details['authmethods'] : ['anonymous'];
  // 'password' is the MQTT/STOMP method; WAMP clients say ticket. A ticket offered with
  // an authid is credentials given, so it is checked (and refused when no user matches)
  // even on a router without password users, rather than skipped for anonymous
  const usable = (m: AuthMethod): boolean =>
    auth.usable(req, m) || (m === 'ticket' && authid !== undefined && auth.realmAccepts(realmName, m));
  const method = offered.find((m): m is Exclude<AuthMethod, 'password'> => isAuthMethod(m) && m !== 'password' && usable(m));
  if (method === undefined) {
    // only anonymous on offer and it is refused here: say so rather than "no method"
    const result = offered.includes('anonymous')
      ? auth.anonymous(req, authid ?? '')
      : auth.refuse(
          req,
          offered.find(isAuthMethod) ?? 'other',
          authid,
          'no_auth_method',
          `no acceptable authmethod among ${offered.map(String).join(', ')}`,
        );
    finish(s, realmName, result);
    return;
  }

  switch (method) {
    case 'anonymous':
      finish(s, realmName, auth.anonymous(req, authid ?? `anonymous-${globalId().toString(36)}`));
      return;
    case 'tls':
      finish(s, realmName, auth.tls(req));
      return;
    case 'ticket': {
      if (authid === undefined) {
        finish(s, realmName, auth.refuse(req, method, authid, 'malformed', 'ticket authentication needs an authid'));
        return;
      }
      challenge(s, { realm: realmName, method, extra: {}, finish: (ticket) => auth.password(req, 'ticket', authid, ticket) });
      return;
    }
    case 'wampcra': {
      if (authid === undefined) {
        finish(s, realmName, auth.refuse(req, method, authid, 'malformed', 'wampcra needs an authid'));
        return;
      }
      const id = globalId();
      challenge(s, { realm: realmName, id, ...auth.wampcra(req, authid, id) });
      return;
    }
    case 'cryptosign': {
      const extra = details['authextra'];
      const pubkey = typeof extra === 'object' && extra !== null ? (extra as Record<string, unknown>)['pubkey'] : undefined;
      const key = typeof pubkey === 'string' && pubkey !== '' ? pubkey : undefined;
      if (authid === undefined && key === undefined) {
        finish(s, realmName, auth.refuse(req, method, authid, 'malformed', 'cryptosign needs an authid or authextra.pubkey'));
        return;
      }
      challenge(s, { realm: realmName, ...auth.cryptosign(req, authid, key) });
      return;
    }
  }
}

/** CHALLENGE, then wait for AUTHENTICATE (handlers/authenticate.ts). */
function challenge(s: WampSession, pending: PendingAuthentication): void {
  s.awaitAuthenticate(pending);
  s.send([Msg.CHALLENGE, pending.method, pending.extra]);
}

/** The verdict on the wire: WELCOME and join (the realm opened now), or ABORT. */
export function finish(s: WampSession, realmName: string, result: AuthResult, id?: number): void {
  if (!result.ok) {
    s.abort(result.failure.def, result.failure.message);
    return;
  }
  const realm = s.ctx.router.realm(realmName);
  if (!realm) {
    s.abort(Errors.noSuchRealm, `no such realm: ${realmName}`);
    return;
  }
  welcome(s, realm, result.identity, id);
}

function welcome(s: WampSession, realm: Realm, identity: SessionIdentity, id?: number): void {
  const core = new Session(
    s.transport.info,
    identity,
    {
      close: (reason, message) => {
        s.goodbye(reason, message);
      },
      revoked: (lost, reason) => {
        revokeOnWire(s, lost, reason);
      },
    },
    id,
  );
  core.flow = s.transport.flow;
  s.realm = realm;
  s.core = core;
  s.state = 'established';
  const details: Record<string, unknown> = {
    realm: realm.name,
    authid: identity.authid,
    authrole: identity.authrole,
    authmethod: identity.authmethod,
    authprovider: identity.authprovider,
    roles: ROUTER_ROLES,
  };
  if (identity.authextra) details['authextra'] = identity.authextra;
  s.send([Msg.WELCOME, core.id, details]);
  realm.join(core);
}

function featuresOf(role: unknown): Record<string, unknown> {
  if (typeof role !== 'object' || role === null) return {};
  const f = (role as Record<string, unknown>)['features'];
  return typeof f === 'object' && f !== null ? (f as Record<string, unknown>) : {};
}
