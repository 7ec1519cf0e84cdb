/**
 * Authentication, the same on every gate: one step per method, each returning a
 * SessionIdentity or a typed failure (outcome.ts), each audited (audit.ts). Gates
 * carry credentials to these steps and the verdict back to the wire; they decide
 * nothing themselves.
 */
import { randomBytes } from 'node:crypto';
import { realClock, type Clock } from '../clock';
import type { AuthMethod, Config, UserRecord } from '../config';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import type { Realm } from '../realm';
import type { SessionIdentity, TransportInfo } from '../session';
import { anonymousAllowed, type AnonymousPolicy } from './anonymous';
import { AuthAudit } from './audit';
import { cryptosignChallenge, verifyCryptosign } from './cryptosign';
import { DynamicAuthenticator } from './dynamic';
import { accepted, denied, type AuthFailureReason, type AuthResult } from './outcome';
import { DEFAULT_SCRYPT, hashPassword, verifyPassword } from './passwords';
import { AuthThrottle, type Attempt, type AttemptOutcome, type ThrottleRefusal } from './throttle';
import { UserDirectory, userMayJoin } from './user-directory';
import { craChallenge, decoyCraRecord, verifyCra } from './wampcra';

/** Who is authenticating, where. */
export interface AuthRequest {
  /** the realm the client asks to join */
  realm: string;
  transport: TransportInfo;
}

/** A challenge sent to a WAMP client; `finish` checks its AUTHENTICATE signature. */
export interface PendingChallenge {
  method: 'wampcra' | 'cryptosign';
  extra: Record<string, unknown>;
  finish(signature: string): AuthResult | Promise<AuthResult>;
}

/** The authrole every WAMP-CRA challenge names, whoever asks. */
const CHALLENGE_ROLE = 'user';

const ALL_METHODS: readonly AuthMethod[] = ['anonymous', 'ticket', 'wampcra', 'cryptosign', 'tls', 'password'];

export function isAuthMethod(m: unknown): m is AuthMethod {
  return typeof m === 'string' && (ALL_METHODS as readonly string[]).includes(m);
}

export class Authenticator {
  private users: UserDirectory;
  private readonly audit: AuthAudit;
  private readonly dynamic: DynamicAuthenticator | undefined;
  /** keys the decoy challenges of unknown authids */
  private readonly pepper = randomBytes(32);
  /** the dummy hash of dummyHash(), made on first use */
  private dummy: Promise<string> | undefined;
  /** failure budgets of password, ticket and WAMP-CRA logins (config auth.throttle) */
  private readonly throttle: AuthThrottle;

  constructor(
    private config: Config,
    metrics: Metrics,
    log: Logger,
    /** the realm the dynamic authenticator's procedure lives in */
    private readonly realmOf: (name: string) => Realm | undefined,
    /** the router's clock: the throttle's windows and blocks, the dynamic authenticator's deadline (tests pass a fake one) */
    clock: Clock = realClock,
  ) {
    this.users = new UserDirectory(config.auth.users);
    this.audit = new AuthAudit(metrics, log.child({ component: 'auth' }));
    this.throttle = new AuthThrottle(
      config.auth.throttle,
      () => clock.now(),
      (n) => {
        this.audit.blocked(n);
      },
    );
    const d = config.auth.dynamic;
    this.dynamic = d.procedure === '' ? undefined : new DynamicAuthenticator(d.procedure, d.timeoutMs, clock);
  }

  /**
   * A reloaded config: users, anonymous policies, realm methods and roles apply to the
   * next login; sessions already joined keep the identity they logged in with. The
   * throttle and the dynamic authenticator stay as they were (a restart changes them).
   */
  reconfigure(config: Config): void {
    this.config = config;
    this.users = new UserDirectory(config.auth.users);
    this.dummy = undefined;
  }

  /** The anonymous policy of the gate `transport` arrived on (its own setting, else auth.anonymous). */
  anonymousPolicy(transport: TransportInfo): AnonymousPolicy {
    const gate = transport.gate;
    const own =
      gate === 'wamp' || gate === 'mqtt' || gate === 'stomp'
        ? this.config[gate].anonymous
        : gate === 'http'
          ? this.config.http.api.anonymous
          : 'inherit';
    return own === 'inherit' ? this.config.auth.anonymous : own;
  }

  /** Does the realm accept `method` at all (realms[].auth.methods; absent: all)? */
  realmAccepts(realm: string, method: AuthMethod): boolean {
    const methods = this.config.realms.find((r) => r.name === realm)?.auth?.methods;
    return methods === undefined || methods.includes(method);
  }

  /**
   * Can `method` be tried for this request: accepted by the realm and set up on this
   * router (users with that kind of secret, a dynamic authenticator, a certificate)?
   */
  usable(req: AuthRequest, method: AuthMethod): boolean {
    if (!this.realmAccepts(req.realm, method)) return false;
    switch (method) {
      case 'anonymous':
        return anonymousAllowed(this.anonymousPolicy(req.transport), req.transport.peer);
      case 'ticket':
      case 'password':
        return this.users.hasPasswords || this.dynamic !== undefined;
      case 'wampcra':
        return this.users.hasWampcra;
      case 'cryptosign':
        return this.users.hasCryptosign;
      case 'tls':
        return this.certificateRole(req.transport) !== undefined;
    }
  }

  /** Count and log a failure found by a gate (e.g. no acceptable method), and return it. */
  refuse(req: AuthRequest, method: string, authid: string | undefined, reason: AuthFailureReason, message: string): AuthResult {
    return this.settle(req, method, authid, denied(reason, message));
  }

  anonymous(req: AuthRequest, authid: string): AuthResult {
    if (!this.realmAccepts(req.realm, 'anonymous')) {
      return this.refuse(req, 'anonymous', authid, 'method_not_allowed', `realm ${req.realm} does not accept anonymous sessions`);
    }
    if (!anonymousAllowed(this.anonymousPolicy(req.transport), req.transport.peer)) {
      return this.refuse(req, 'anonymous', authid, 'anonymous_refused', 'anonymous access is not allowed on this listener');
    }
    // an anonymous client may name itself, but not as someone who has a user record
    if (this.users.get(authid) !== undefined) {
      return this.refuse(req, 'anonymous', authid, 'bad_credentials', `authid ${authid} belongs to a user: credentials required`);
    }
    // with a dynamic authenticator any authid may be a user the router has no record of:
    // an anonymous session gets a name of its own instead of the one it claims
    const named = this.dynamic ? `anonymous-${randomBytes(12).toString('hex')}` : authid;
    return this.settle(
      req,
      'anonymous',
      authid,
      accepted({ authid: named, authrole: this.config.auth.anonymousRole, authmethod: 'anonymous', authprovider: 'static' }),
    );
  }

  /**
   * A secret sent in the clear over the (ideally TLS) transport: WAMP ticket, MQTT
   * password, STOMP passcode. A user record with a password decides; without one the
   * dynamic authenticator does, when configured; else no user matches and it is
   * refused. Every attempt passes the failure budgets first (throttle.ts).
   */
  async password(req: AuthRequest, method: 'ticket' | 'password', authid: string, secret: string): Promise<AuthResult> {
    if (!this.realmAccepts(req.realm, method)) {
      return this.refuse(req, method, authid, 'method_not_allowed', `realm ${req.realm} does not accept ${method}`);
    }
    const attempt = await this.throttle.admit(req.transport.peer, authid);
    if (isRefusal(attempt)) return this.throttled(req, attempt);
    return this.counted(attempt, () => this.checkPassword(req, method, authid, secret));
  }

  private async checkPassword(
    req: AuthRequest,
    method: 'ticket' | 'password',
    authid: string,
    secret: string,
  ): Promise<AuthResult> {
    if (authid === '') return this.refuse(req, method, authid, 'bad_credentials', 'a password without a user name');
    const user = this.users.get(authid);
    if (user?.password !== undefined) {
      const ok = await verifyPassword(secret, user.password);
      if (!ok) return this.refuse(req, method, authid, 'bad_credentials', 'wrong password');
      return this.settle(req, method, authid, this.forUser(req, user, method));
    }
    if (this.dynamic) return this.settle(req, method, authid, await this.askDynamic(req, method, authid, secret));
    // as slow as a wrong password, so the answer time does not tell who exists (with no
    // password users there is nobody to tell apart)
    if (this.users.hasPasswords) await verifyPassword(secret, await this.dummyHash());
    return this.refuse(req, method, authid, 'bad_credentials', 'no such user');
  }

  /**
   * MQTT CONNECT and STOMP CONNECT. A password given is a password checked: against the
   * user records or the dynamic authenticator, and refused when none matches, even where
   * anonymous access is allowed (a verified client certificate decides instead where
   * this router cannot check passwords). No password, an empty one, or, on a router
   * that cannot check passwords, RabbitMQ's conventional guest/guest is no credential:
   * a verified client certificate, else anonymous (as `anonymousAuthid`).
   */
  login(
    req: AuthRequest,
    login: { authid: string; password: string | undefined; anonymousAuthid: string },
  ): AuthResult | Promise<AuthResult> {
    const checkable = (this.users.hasPasswords || this.dynamic !== undefined) && this.realmAccepts(req.realm, 'password');
    const password = login.password;
    // many STOMP and MQTT clients send RabbitMQ's default user unasked
    const guest = login.authid === 'guest' && password === 'guest' && !checkable;
    if (password !== undefined && password !== '' && !guest) {
      if (!checkable && this.usable(req, 'tls')) return this.tls(req);
      return this.password(req, 'password', login.authid, password);
    }
    if (this.usable(req, 'tls')) return this.tls(req);
    return this.anonymous(req, login.anonymousAuthid);
  }

  /** TLS client certificate: the subject CN is the authid. */
  tls(req: AuthRequest): AuthResult {
    const cert = req.transport.clientCertificate;
    const cn = cert?.subject['CN'];
    if (!this.realmAccepts(req.realm, 'tls'))
      return this.refuse(req, 'tls', cn, 'method_not_allowed', `realm ${req.realm} does not accept tls`);
    if (!cert?.authorized || cn === undefined || cn === '') {
      return this.refuse(req, 'tls', cn, 'bad_certificate', 'no verified client certificate with a subject CN');
    }
    const user = this.users.get(cn);
    if (user) return this.settle(req, 'tls', cn, this.forUser(req, user, 'tls'));
    const role = this.config.auth.tls.role;
    if (role === '') return this.refuse(req, 'tls', cn, 'bad_certificate', `no user ${cn} and no auth.tls.role`);
    return this.settle(
      req,
      'tls',
      cn,
      accepted({
        authid: cn,
        authrole: role,
        authmethod: 'tls',
        authprovider: 'static',
        authextra: { fingerprint256: cert.fingerprint256 },
      }),
    );
  }

  /**
   * WAMP-CRA: a challenge for `authid`. An unknown authid gets a decoy challenge and
   * fails at AUTHENTICATE like a wrong secret; the challenge names the neutral authrole
   * CHALLENGE_ROLE for everyone (WELCOME gives the real one).
   */
  wampcra(req: AuthRequest, authid: string, sessionId: number): PendingChallenge {
    const user = this.users.get(authid);
    const record = user?.wampcra ?? decoyCraRecord(this.pepper, authid);
    // the same authrole for every authid: the real role would tell users from decoys
    const c = craChallenge(record, { authid, authrole: CHALLENGE_ROLE, authprovider: 'static', session: sessionId });
    return {
      method: 'wampcra',
      extra: c.extra,
      finish: async (signature) => {
        const attempt = await this.throttle.admit(req.transport.peer, authid);
        if (isRefusal(attempt)) return this.throttled(req, attempt);
        return this.counted(attempt, () => {
          if (!user?.wampcra || !verifyCra(c.expected, signature)) {
            return this.refuse(req, 'wampcra', authid, 'bad_credentials', user?.wampcra ? 'wrong signature' : 'no such user');
          }
          return this.settle(req, 'wampcra', authid, this.forUser(req, user, 'wampcra'));
        });
      },
    };
  }

  /**
   * WAMP-cryptosign: the user is named by authid, or found by the public key the
   * client announced (HELLO.Details.authextra.pubkey).
   */
  cryptosign(req: AuthRequest, authid: string | undefined, pubkey: string | undefined): PendingChallenge {
    let user = authid === undefined ? undefined : this.users.get(authid);
    if (authid === undefined && pubkey !== undefined) user = this.users.byCryptosignKey(pubkey);
    let keys = user?.cryptosign ?? [];
    // a client naming its key is held to it
    if (pubkey !== undefined) keys = keys.filter((k) => k.toLowerCase() === pubkey.toLowerCase());
    const challenge = cryptosignChallenge();
    return {
      method: 'cryptosign',
      extra: { challenge, channel_binding: null },
      finish: (signature) => {
        const who = user?.authid ?? authid;
        if (!user || !verifyCryptosign(challenge, signature, keys)) {
          return this.refuse(req, 'cryptosign', who, 'bad_credentials', user ? 'wrong signature' : 'no such user or key');
        }
        return this.settle(req, 'cryptosign', who, this.forUser(req, user, 'cryptosign'));
      },
    };
  }

  /** A hash of a random password with the users' scrypt cost, checked for unknown authids. */
  private dummyHash(): Promise<string> {
    this.dummy ??= hashPassword(randomBytes(16).toString('hex'), this.users.scryptParams() ?? DEFAULT_SCRYPT);
    return this.dummy;
  }

  private forUser(req: AuthRequest, user: UserRecord, method: AuthMethod): AuthResult {
    if (!userMayJoin(user, req.realm)) return denied('realm_not_allowed', `user ${user.authid} may not join realm ${req.realm}`);
    const identity: SessionIdentity = { authid: user.authid, authrole: user.role, authmethod: method, authprovider: 'static' };
    return accepted(identity);
  }

  /** The role a client certificate maps to, if it is verified and maps to one. */
  private certificateRole(transport: TransportInfo): string | undefined {
    const cert = transport.clientCertificate;
    const cn = cert?.subject['CN'];
    if (!cert?.authorized || cn === undefined || cn === '') return undefined;
    const role = this.users.get(cn)?.role ?? this.config.auth.tls.role;
    return role === '' ? undefined : role;
  }

  private async askDynamic(req: AuthRequest, method: 'ticket' | 'password', authid: string, secret: string): Promise<AuthResult> {
    const name = this.config.auth.dynamic.realm || req.realm;
    const realm = this.realmOf(name);
    if (!this.dynamic || !realm) return denied('dynamic_unavailable', `no realm ${name} for the dynamic authenticator`);
    const v = await this.dynamic.ask(realm, {
      realm: req.realm,
      authid,
      authmethod: method,
      secret: { name: method === 'ticket' ? 'ticket' : 'password', value: secret },
      transport: req.transport,
    });
    if (v.granted) {
      const g = v.granted;
      const identity: SessionIdentity = {
        authid: g.authid ?? authid,
        authrole: g.role,
        authmethod: method,
        authprovider: 'dynamic',
      };
      if (g.extra) identity.authextra = g.extra;
      return accepted(identity);
    }
    if (v.deniedBy !== undefined) return denied('dynamic_denied', `denied by the dynamic authenticator (${v.deniedBy})`);
    return denied('dynamic_unavailable', `dynamic authenticator unavailable: ${v.unavailable ?? 'no answer'}`);
  }

  /** Runs an admitted check and tells the throttle how it ended. */
  private async counted(attempt: Attempt, check: () => AuthResult | Promise<AuthResult>): Promise<AuthResult> {
    let outcome: AttemptOutcome = 'neither';
    try {
      const result = await check();
      outcome = attemptOutcome(result);
      return result;
    } finally {
      attempt.done(outcome);
    }
  }

  /** A refusal by a failure budget: counted apart, not logged per attempt (the block was, when it began). */
  private throttled(req: AuthRequest, r: ThrottleRefusal): AuthResult {
    this.audit.throttled(req.transport, r.reason);
    const who = r.reason === 'address' ? 'from this address' : 'for this authid';
    return denied('throttled', `too many failed logins ${who}: retry in ${Math.ceil(r.retryAfterMs / 1000)} s`);
  }

  private settle(req: AuthRequest, method: string, authid: string | undefined, result: AuthResult): AuthResult {
    if (result.ok) this.audit.succeeded(req.transport, method);
    else this.audit.failed(req.transport, req.realm, method, authid, result.failure.reason, result.failure.message);
    return result;
  }
}

function isRefusal(a: Attempt | ThrottleRefusal): a is ThrottleRefusal {
  return 'reason' in a;
}

/** Only a wrong secret is a guess that failed; a refusal for other reasons counts for nothing. */
function attemptOutcome(result: AuthResult): AttemptOutcome {
  if (result.ok) return 'succeeded';
  const reason = result.failure.reason;
  return reason === 'bad_credentials' || reason === 'dynamic_denied' ? 'failed' : 'neither';
}
