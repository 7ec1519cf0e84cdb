/**
 * The dynamic authenticator: an application-registered WAMP procedure the router
 * calls as `(realm, authid, details)` to decide about users it has no record of
 * (config auth.dynamic). Its answer is `{ role, authid?, extra? }` (or just the role
 * as a string); an error, no callee or no answer within the timeout denies.
 */
import type { Realm } from '../realm';
import { Session, type TransportInfo } from '../session';
import type { Payload } from '../payload';
import { isPlainObject } from '../payload';
import type { CallFailure } from '../errors';
import { realClock, type Clock } from '../clock';

export interface DynamicVerdict {
  /** allowed: the identity the application gave */
  granted?: { role: string; authid?: string; extra?: Record<string, unknown> };
  /** denied by the application (its error URI) */
  deniedBy?: string;
  /** no usable answer: not registered, timeout, malformed result */
  unavailable?: string;
}

export interface DynamicRequest {
  realm: string;
  authid: string;
  authmethod: string;
  /** the secret as the client sent it, under the key the method uses (ticket, password) */
  secret: { name: 'ticket' | 'password'; value: string };
  transport: TransportInfo;
}

/** The router's own caller identity for these calls. */
function routerCaller(): Session {
  return new Session(
    { gate: 'core', type: 'dynamic-authenticator', peer: '-' },
    { authid: 'gatehouse', authrole: 'router', authmethod: 'router', authprovider: 'gatehouse' },
    { close: () => undefined },
  );
}

export class DynamicAuthenticator {
  private readonly caller = routerCaller();

  constructor(
    private readonly procedure: string,
    private readonly timeoutMs: number,
    /** the router's (RouterOptions.clock): the answer's deadline is the client's login deadline */
    private readonly clock: Clock = realClock,
  ) {}

  ask(realm: Realm, req: DynamicRequest): Promise<DynamicVerdict> {
    const { transport } = req;
    const details: Record<string, unknown> = {
      authmethod: req.authmethod,
      [req.secret.name]: req.secret.value,
      transport: { gate: transport.gate, type: transport.type, peer: transport.peer, protocol: transport.protocol },
    };
    const payload: Payload = { args: [req.realm, req.authid, details] };
    return new Promise((resolve) => {
      // the dealer enforces timeoutMs too; this guard also covers a builtin that never answers
      const guard = this.clock.setTimeout(() => {
        resolve({ unavailable: 'timeout' });
      }, this.timeoutMs + 100);
      const done = (v: DynamicVerdict): void => {
        this.clock.clearTimeout(guard);
        resolve(v);
      };
      realm.call(
        this.caller,
        this.procedure,
        payload,
        { timeoutMs: this.timeoutMs },
        {
          result: (p, progress) => {
            if (!progress) done(verdictOf(p));
          },
          error: (f: CallFailure) => {
            const uri = f.uri;
            if (
              uri === 'wamp.error.no_such_procedure' ||
              uri === 'wamp.error.timeout' ||
              uri === 'wamp.error.canceled' ||
              uri === 'wamp.error.unavailable'
            ) {
              done({ unavailable: uri });
            } else {
              done({ deniedBy: uri });
            }
          },
        },
      );
    });
  }
}

function verdictOf(p: Payload): DynamicVerdict {
  const first = p.args?.[0] ?? p.kwargs;
  if (typeof first === 'string' && first !== '') return { granted: { role: first } };
  if (!isPlainObject(first)) return { unavailable: 'the authenticator returned neither a role nor {role}' };
  const role = first['role'];
  if (typeof role !== 'string' || role === '') return { unavailable: 'the authenticator returned no role' };
  const granted: NonNullable<DynamicVerdict['granted']> = { role };
  if (typeof first['authid'] === 'string' && first['authid'] !== '') granted.authid = first['authid'];
  if (isPlainObject(first['extra'])) granted.extra = first['extra'];
  return { granted };
}
