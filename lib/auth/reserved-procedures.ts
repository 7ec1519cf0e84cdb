/**
 * Procedures the router itself calls with secrets or decisions (the dynamic authenticator
 * of config auth.dynamic, the dynamic authorizer of auth.authorizer): only a session whose
 * authrole the config lists (`calleeRoles`) may register them, or any pattern that would
 * catch their calls. Else whoever registered first would collect passwords or grant rights.
 */
import type { Config } from '../config';
import { Errors, RouterError } from '../errors';
import type { Session } from '../session';
import { patternMatches, type TopicPattern } from '../topic';

interface Reservation {
  /** '' = every realm (the dynamic authenticator without its own realm) */
  readonly realm: string;
  readonly procedure: string;
  readonly roles: ReadonlySet<string>;
  /** config path, for the refusal message */
  readonly what: string;
}

export class ReservedProcedures {
  private readonly reservations: Reservation[] = [];

  constructor(auth: Config['auth']) {
    const d = auth.dynamic;
    if (d.procedure !== '') {
      this.reservations.push({ realm: d.realm, procedure: d.procedure, roles: new Set(d.calleeRoles), what: 'auth.dynamic' });
    }
    const a = auth.authorizer;
    if (a)
      this.reservations.push({ realm: a.realm, procedure: a.procedure, roles: new Set(a.calleeRoles), what: 'auth.authorizer' });
  }

  /** Throws not_authorized when `session` may not register `pattern` in `realm`. */
  checkRegister(realm: string, session: Session, pattern: TopicPattern): void {
    for (const r of this.reservations) {
      if (r.realm !== '' && r.realm !== realm) continue;
      if (!patternMatches(pattern, r.procedure)) continue;
      if (r.roles.has(session.identity.authrole)) continue;
      throw new RouterError(
        Errors.notAuthorized,
        `${r.procedure} is the router's ${r.what} procedure: only authroles in ${r.what}.calleeRoles may register it`,
      );
    }
  }
}
