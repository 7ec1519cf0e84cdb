/**
 * Who an HTTP request is. A request is not a WAMP session: it is authenticated like
 * every gate's clients (lib/auth/authenticator.ts) and authorized by the realm like
 * them, but it never joins the realm: no session meta events, no place in the realm's
 * session table, not counted against limits.maxSessions. The Session object made here
 * lives as long as the request (an event stream: as long as the stream).
 */
import type express from 'express';
import type { AuthRequest } from '../../lib/auth/authenticator';
import type { AuthResult } from '../../lib/auth/outcome';
import { Errors, RouterError } from '../../lib/errors';
import type { Realm } from '../../lib/realm';
import { Session, type SessionControl, type TransportInfo } from '../../lib/session';
import type { HttpGateContext } from './context';

/** The header naming the realm (else ?realm=, else config defaultRealm). */
export const REALM_HEADER = 'gatehouse-realm';
/** The header naming the authid of a bearer ticket. */
export const AUTHID_HEADER = 'gatehouse-authid';

export interface RequestScope {
  realm: Realm;
  session: Session;
}

/** Authenticates the request and resolves its realm; throws RouterError (401, 403, 404, 429, 503). */
export async function requestScope(
  ctx: HttpGateContext,
  req: express.Request,
  control: SessionControl = { close: () => undefined },
): Promise<RequestScope> {
  const router = ctx.router;
  if (router.health().status !== 'ok') throw new RouterError(Errors.systemShutdown, 'router is shutting down');
  const name = realmName(ctx, req);
  if (!router.mayJoinRealm(name)) throw new RouterError(Errors.noSuchRealm, `no such realm: ${name}`);
  const transport: TransportInfo = {
    gate: 'http',
    type: 'http',
    peer: `${req.socket.remoteAddress ?? ''}:${req.socket.remotePort ?? 0}`,
    protocol: `HTTP/${req.httpVersion}`,
  };
  const authorization = req.headers.authorization;
  // the bearer's authid is part of the credential
  const credential =
    authorization === undefined || authorization === '' ? undefined : `${authorization}\0${header(req, AUTHID_HEADER) ?? ''}`;
  let identity = credential === undefined ? undefined : ctx.credentials.get(name, credential);
  if (!identity) {
    const result = await authenticate(ctx, { realm: name, transport }, authorization, header(req, AUTHID_HEADER));
    if (!result.ok) {
      const def = result.failure.def === Errors.noAuthMethod ? Errors.authenticationFailed : result.failure.def;
      throw new RouterError(def, result.failure.message);
    }
    identity = result.identity;
    if (credential !== undefined) ctx.credentials.set(name, credential, identity);
  }
  const realm = router.realm(name);
  if (!realm) throw new RouterError(Errors.noSuchRealm, `no such realm: ${name}`);
  const session = new Session(transport, identity, control);
  session.realmName = realm.name;
  return { realm, session };
}

function header(req: express.Request, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function realmName(ctx: HttpGateContext, req: express.Request): string {
  const q = req.query['realm'];
  if (typeof q === 'string' && q !== '') return q;
  return header(req, REALM_HEADER) ?? ctx.config.defaultRealm;
}

/**
 * HTTP Basic (RFC 7617): a user name and password checked like an MQTT or STOMP login.
 * Bearer (RFC 6750): a WAMP ticket, its authid in the Gatehouse-Authid header. No
 * Authorization header: anonymous, under http.api.anonymous.
 */
function authenticate(
  ctx: HttpGateContext,
  ar: AuthRequest,
  authorization: string | undefined,
  authid: string | undefined,
): AuthResult | Promise<AuthResult> {
  const auth = ctx.router.auth;
  if (authorization === undefined || authorization === '') {
    if (!auth.usable(ar, 'anonymous'))
      return auth.refuse(
        ar,
        'anonymous',
        undefined,
        'bad_credentials',
        'credentials required: anonymous access is not allowed here',
      );
    return auth.anonymous(ar, authid ?? 'anonymous');
  }
  const space = authorization.indexOf(' ');
  const scheme = (space < 0 ? authorization : authorization.slice(0, space)).toLowerCase();
  const credentials = space < 0 ? '' : authorization.slice(space + 1).trim();
  if (scheme === 'basic') {
    const decoded = Buffer.from(credentials, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return auth.refuse(ar, 'password', undefined, 'malformed', 'Basic credentials are user:password');
    return auth.password(ar, 'password', decoded.slice(0, colon), decoded.slice(colon + 1));
  }
  if (scheme === 'bearer') return auth.password(ar, 'ticket', authid ?? '', credentials);
  return auth.refuse(ar, scheme, undefined, 'no_auth_method', `unsupported authorization scheme: ${scheme}`);
}
