import type { AuthResult } from '../../../lib/auth/outcome';
import { Errors, RouterError } from '../../../lib/errors';
import { splitLogin } from '../../../lib/login-realm';
import { Session, type Revocation } from '../../../lib/session';
import type { StompConnection } from '../connection';
import { header, STOMP_VERSIONS, type StompFrame, type StompVersion } from '../../../lib/stomp/frame';

const SUPPORTED = STOMP_VERSIONS.join(',');

/**
 * CONNECT or STOMP -> CONNECTED (STOMP 1.2 §CONNECT or STOMP Frame, §Protocol
 * Negotiation, §Heart-beating).
 *
 * - Version: the highest of `accept-version` we speak; 1.0 when the header is absent;
 *   none in common: ERROR with a `version` header listing ours, then close.
 * - Realm: a login `user@realm` names one (created if the router creates realms on
 *   demand); else `host` names one if a realm of that name exists (clients commonly put
 *   the server's host name there, so an unknown host is not a realm); else the
 *   listener's realm (config stomp.realm).
 * - Credentials (lib/auth/): `login` (without `@realm`) and `passcode` are checked
 *   against the user records (or the dynamic authenticator) when the router has any;
 *   else a verified client certificate, else the anonymous policy (config
 *   auth.anonymous / stomp.anonymous) decides, and the login is the session's authid.
 *   A refusal is an ERROR frame, then close.
 * - The authenticated authid owns the client's durable subscriptions
 *   (lib/durable-subscriptions.ts); a `client-id` (ActiveMQ, Artemis) is a namespace
 *   inside it, never another user's: see durableOwner().
 */
export function handleConnect(conn: StompConnection, frame: StompFrame): void {
  const ctx = conn.ctx;
  const cfg = ctx.config.stomp;

  const version = negotiateVersion(header(frame, 'accept-version'));
  if (version === undefined) {
    const err = new RouterError(Errors.protocolViolation, `no common protocol version: this server speaks STOMP ${SUPPORTED}`);
    conn.fail(err, frame, [['version', SUPPORTED]]);
    return;
  }
  conn.setVersion(version);
  // STOMP 1.0 peers pad header values (`login: bob`); 1.1+ values are never trimmed
  const value = (name: string): string | undefined => {
    const v = header(frame, name);
    return v !== undefined && version === '1.0' ? v.trim() : v;
  };

  let outMs = 0;
  let inMs = 0;
  if (version !== '1.0') {
    const hb = parseHeartBeat(value('heart-beat'));
    if (hb === undefined) {
      conn.protocolError('heart-beat must be two non-negative integers: "cx,cy"', frame);
      return;
    }
    const [cx, cy] = hb;
    // STOMP 1.2 §Heart-beating: each direction runs at the larger of what one side can
    // send and the other wants, and not at all if either says 0
    outMs = cfg.heartbeat.send === 0 || cy === 0 ? 0 : Math.max(cfg.heartbeat.send, cy);
    inMs = cx === 0 || cfg.heartbeat.receive === 0 ? 0 : Math.max(cx, cfg.heartbeat.receive);
  }

  const login = splitLogin(value('login') ?? '');
  const user = login.user;
  const host = value('host');
  // the realm the client asks for, to authenticate against (checked for existence below)
  const realmName = login.realm ?? (host !== undefined && ctx.router.realmNames().includes(host) ? host : cfg.realm);
  const verdict = ctx.router.auth.login(
    { realm: realmName, transport: conn.info },
    { authid: user, password: value('passcode'), anonymousAuthid: user || 'anonymous' },
  );
  const connect: Connect = { version, outMs, inMs, realmName, clientId: value('client-id') };
  if (verdict instanceof Promise) {
    conn.holdFrames();
    verdict.then(
      (result) => {
        if (conn.state === 'closed' || conn.state === 'closing') return;
        accept(conn, frame, connect, result);
        conn.releaseFrames();
      },
      (err: unknown) => {
        ctx.log.error({ err, peer: conn.info.peer }, 'STOMP authentication failed unexpectedly');
        conn.fail(new RouterError(Errors.internal, 'internal error'), frame);
      },
    );
    return;
  }
  accept(conn, frame, connect, verdict);
}

/** What CONNECT settled before authentication. */
interface Connect {
  version: StompVersion;
  outMs: number;
  inMs: number;
  realmName: string;
  clientId: string | undefined;
}

/** The rest of CONNECT once the client is authenticated: realm, session, CONNECTED. */
function accept(conn: StompConnection, frame: StompFrame, c: Connect, result: AuthResult): void {
  const ctx = conn.ctx;
  const cfg = ctx.config.stomp;
  const { version, outMs, inMs } = c;
  // ERROR (message: authentication failed / not authorized), then close
  if (!result.ok) {
    conn.fail(new RouterError(result.failure.def, result.failure.message), frame);
    return;
  }
  const refused = ctx.router.admit();
  if (refused) {
    conn.fail(refused, frame);
    return;
  }
  const realm = ctx.router.realm(c.realmName);
  if (!realm) {
    conn.fail(new RouterError(Errors.noSuchRealm, `no such realm: ${c.realmName}`), frame);
    return;
  }

  const session = new Session({ ...conn.info, protocol: `stomp.${version}` }, result.identity, {
    // the core ends the session (wamp.session.kill, shutdown): ERROR, then close
    close: (reason, message) => {
      conn.fail(new RouterError(reason.def, message ?? reason.message));
    },
    // rights taken away (config reload): ERROR naming the subscription, then close, as
    // RabbitMQ ends a STOMP connection whose permissions changed
    revoked: (lost, reason) => {
      conn.fail(reason, undefined, revokedHeaders(conn, lost));
    },
  });
  conn.session = session;
  conn.realm = realm;
  conn.owner = durableOwner(result.identity.authid, c.clientId);
  conn.state = 'connected';
  realm.join(session);

  const headers: [string, string][] = [];
  if (version !== '1.0') {
    headers.push(['version', version], ['heart-beat', `${cfg.heartbeat.send},${cfg.heartbeat.receive}`]);
  }
  headers.push(['session', String(session.id)], ['server', ctx.serverName]);
  conn.sendFrame('CONNECTED', headers);
  conn.startHeartbeats(outMs, inMs);
  ctx.log.debug({ session: session.id, realm: realm.name, version, peer: conn.info.peer }, 'STOMP client connected');
}

/**
 * The owner of a connection's durable subscriptions: the authenticated authid, with the
 * client-chosen `client-id` (if any) only as a namespace inside it, length-prefixed so
 * no authid/client-id pair reads as another. A client id never reaches another user's
 * subscriptions. Anonymous clients own theirs by their anonymous authid (README
 * "STOMP durable subscriptions").
 */
export function durableOwner(authid: string, clientId: string | undefined): string {
  return clientId === undefined ? `${authid.length}:${authid}` : `${authid.length}:${authid}/${clientId}`;
}

/** The highest version both speak; 1.0 when the client names none (STOMP 1.2 §Protocol Negotiation). */
export function negotiateVersion(acceptVersion: string | undefined): StompVersion | undefined {
  if (acceptVersion === undefined) return '1.0';
  const offered = new Set(acceptVersion.split(',').map((v) => v.trim()));
  for (let i = STOMP_VERSIONS.length - 1; i >= 0; i--) {
    const v = STOMP_VERSIONS[i];
    if (v !== undefined && offered.has(v)) return v;
  }
  return undefined;
}

/** `cx,cy` in ms; absent means 0,0; undefined when malformed. */
export function parseHeartBeat(v: string | undefined): [number, number] | undefined {
  if (v === undefined) return [0, 0];
  const m = /^\s*(\d{1,10})\s*,\s*(\d{1,10})\s*$/.exec(v);
  if (!m) return undefined;
  // an interval beyond what a timer can hold means "rarely": the timer's maximum
  const clamp = (s: string | undefined): number => Math.min(Number(s), 2 ** 31 - 1);
  return [clamp(m[1]), clamp(m[2])];
}

/** The `subscription` header of a revocation ERROR: the client's id of the first subscription lost. */
function revokedHeaders(conn: StompConnection, lost: readonly Revocation[]): [string, string][] {
  for (const l of lost) {
    if (l.kind === 'subscription') for (const s of conn.subscriptions.onCore(l.id)) return [['subscription', s.header ?? s.id]];
    if (l.kind === 'queue')
      for (const s of conn.subscriptions.all()) if (s.consumer === l.consumer) return [['subscription', s.header ?? s.id]];
  }
  return [];
}
