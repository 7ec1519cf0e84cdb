import { Errors, type ErrorDef } from '../errors';
import type { SessionIdentity } from '../session';

/** Why an authentication failed: the `reason` label of gatehouse_auth_failures_total. */
export type AuthFailureReason =
  /** anonymous access is off for this listener / peer */
  | 'anonymous_refused'
  /** none of the client's methods is accepted here */
  | 'no_auth_method'
  /** the realm does not accept this method */
  | 'method_not_allowed'
  /** no user record (and no dynamic authenticator) for the authid; wrong secret */
  | 'bad_credentials'
  /** the user may not join this realm */
  | 'realm_not_allowed'
  /** no or an unverified client certificate, or no role for it */
  | 'bad_certificate'
  /** the dynamic authenticator said no */
  | 'dynamic_denied'
  /** the dynamic authenticator did not answer (unregistered, timeout, bad answer) */
  | 'dynamic_unavailable'
  /** the client's AUTHENTICATE was not well-formed */
  | 'malformed'
  /** refused unchecked by a failure budget (counted in gatehouse_auth_throttled_total instead) */
  | 'throttled';

export interface AuthFailure {
  readonly reason: AuthFailureReason;
  readonly message: string;
  /** the error each protocol sends (WAMP ABORT URI, MQTT reason code, STOMP ERROR) */
  readonly def: ErrorDef;
}

export type AuthResult = { ok: true; identity: SessionIdentity } | { ok: false; failure: AuthFailure };

const DEFS: Record<AuthFailureReason, ErrorDef> = {
  anonymous_refused: Errors.notAuthorized,
  no_auth_method: Errors.noAuthMethod,
  method_not_allowed: Errors.noAuthMethod,
  bad_credentials: Errors.authenticationFailed,
  realm_not_allowed: Errors.notAuthorized,
  bad_certificate: Errors.authenticationFailed,
  dynamic_denied: Errors.notAuthorized,
  dynamic_unavailable: Errors.authenticationFailed,
  malformed: Errors.authenticationFailed,
  throttled: Errors.authThrottled,
};

export function denied(reason: AuthFailureReason, message: string): AuthResult {
  return { ok: false, failure: { reason, message, def: DEFS[reason] } };
}

export function accepted(identity: SessionIdentity): AuthResult {
  return { ok: true, identity };
}
