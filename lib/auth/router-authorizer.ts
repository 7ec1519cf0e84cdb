import type { Counter } from 'prom-client';
import { Errors, RouterError } from '../errors';
import type { RouterCore } from '../router';
import { Session } from '../session';
import { Authorizer } from './authorizer';
import type { Invoke } from './dynamic-authorizer';

/**
 * The router's authorizer: config auth.roles and auth.authorizer, with denials logged
 * (warn: peer, authid, role, action, uri) and counted in gatehouse_authz_denied_total.
 */
export function createAuthorizer(router: RouterCore): Authorizer {
  const { roles, authorizer } = router.config.auth;
  const log = router.log.child({ part: 'authz' });
  const counters = new Map<string, Counter.Internal>();
  const count = (gate: string, action: string): void => {
    const k = `${gate} ${action}`;
    let c = counters.get(k);
    if (!c) counters.set(k, (c = router.metrics.authzDenied.labels(gate, action)));
    c.inc();
  };
  return new Authorizer({
    roles,
    authorizer,
    invoke: authorizer ? routerCaller(router) : undefined,
    now: () => router.clock.now(),
    onDenied(session, action, uri, realm) {
      count(session.transport.gate, action);
      const { authid, authrole } = session.identity;
      log.warn(
        { gate: session.transport.gate, peer: session.transport.peer, realm, session: session.id, authid, authrole, action, uri },
        'not authorized',
      );
    },
    onFiltered(session) {
      count(session.transport.gate, 'receive');
    },
    onAuthorizerError(err, action, uri) {
      log.warn({ err, action, uri }, 'dynamic authorizer failed: denied');
    },
  });
}

/** Calls a procedure as the router itself (authmethod "router": never authorized). */
function routerCaller(router: RouterCore): Invoke {
  const caller = new Session(
    { gate: 'core', type: 'authorizer', peer: '-' },
    { authid: 'gatehouse', authrole: 'router', authmethod: 'router', authprovider: 'gatehouse' },
    { close: () => undefined },
  );
  return (realmName, procedure, args, timeoutMs) =>
    new Promise((resolve, reject) => {
      const realm = router.realm(realmName);
      if (!realm) {
        reject(new RouterError(Errors.noSuchRealm, `no realm ${realmName} for the dynamic authorizer`));
        return;
      }
      realm.call(
        caller,
        procedure,
        { args },
        { timeoutMs },
        {
          result: (payload, progress) => {
            if (!progress) resolve(payload.args?.[0]);
          },
          error: (failure) => {
            reject(failure);
          },
        },
      );
    });
}
