/**
 * The one catalogue of router errors. Each entry has a stable code and its form on
 * every protocol; gates map codes to wire and never invent ad-hoc strings.
 */
export interface ErrorDef {
  /** stable code, used in logs and metrics labels */
  readonly code: string;
  /** WAMP error URI */
  readonly wamp: string;
  /** MQTT 5 reason code */
  readonly mqtt: number;
  /** STOMP ERROR frame `message` header */
  readonly stomp: string;
  /** HTTP status for the HTTP gate */
  readonly http: number;
  /**
   * A publication refused with this error where the protocol has no way to say no
   * (MQTT 3.1.1 [MQTT-3.3.5-2]): 'drop' acknowledges and drops it (counted, logged);
   * absent, the connection is closed.
   */
  readonly unanswerable?: 'drop';
}

function def(
  code: string,
  wamp: string,
  mqtt: number,
  stomp: string,
  http: number,
  extra: { unanswerable?: 'drop' } = {},
): ErrorDef {
  return Object.freeze({ code, wamp, mqtt, stomp, http, ...extra });
}

export const Errors = Object.freeze({
  invalidUri: def('invalid_uri', 'wamp.error.invalid_uri', 0x90, 'invalid destination', 400),
  invalidArgument: def('invalid_argument', 'wamp.error.invalid_argument', 0x83, 'invalid argument', 400),
  /** a row that its table's schema refuses (aggregate engine); the message is ajv's */
  invalidPayload: def('invalid_payload', 'wamp.error.invalid_argument', 0x99, 'invalid payload', 400, { unanswerable: 'drop' }),
  noSuchProcedure: def('no_such_procedure', 'wamp.error.no_such_procedure', 0x83, 'no such procedure', 404),
  noSuchRegistration: def('no_such_registration', 'wamp.error.no_such_registration', 0x83, 'no such registration', 404),
  noSuchSubscription: def('no_such_subscription', 'wamp.error.no_such_subscription', 0x11, 'no such subscription', 404),
  noSuchSession: def('no_such_session', 'wamp.error.no_such_session', 0x83, 'no such session', 404),
  /** a retained-store key that holds nothing (HTTP API GET/DELETE /store/{key}) */
  noSuchKey: def('no_such_key', 'gatehouse.error.no_such_key', 0x83, 'no such key', 404),
  noSuchRealm: def('no_such_realm', 'wamp.error.no_such_realm', 0x85, 'no such realm', 404),
  procedureAlreadyExists: def(
    'procedure_already_exists',
    'wamp.error.procedure_already_exists',
    0x83,
    'procedure already exists',
    409,
  ),
  procedureExistsWithDifferentPolicy: def(
    'procedure_exists_with_different_invocation_policy',
    'wamp.error.procedure_exists_with_different_invocation_policy',
    0x83,
    'procedure exists with different invocation policy',
    409,
  ),
  canceled: def('canceled', 'wamp.error.canceled', 0x83, 'canceled', 499),
  timeout: def('timeout', 'wamp.error.timeout', 0x83, 'timeout', 504),
  unavailable: def('unavailable', 'wamp.error.unavailable', 0x88, 'unavailable', 503),
  /** a procedure forwarded over a link (config links[].calls) while the link is down: fails at once */
  linkDown: def('link_down', 'gatehouse.error.unavailable', 0x88, 'link down', 503),
  // MQTT 3.1.1 has no negative PUBACK: a refused publication is acked and dropped, as
  // Mosquitto does (README "Authorization")
  notAuthorized: def('not_authorized', 'wamp.error.not_authorized', 0x87, 'not authorized', 403, { unanswerable: 'drop' }),
  authenticationFailed: def('authentication_failed', 'wamp.error.authentication_failed', 0x86, 'authentication failed', 401),
  /** too many failed logins from this address or for this authid (lib/auth/throttle.ts); MQTT 5: 0x9F connection rate exceeded */
  authThrottled: def('auth_throttled', 'wamp.error.authentication_failed', 0x9f, 'too many failed logins', 429),
  noAuthMethod: def('no_auth_method', 'wamp.error.no_auth_method', 0x8c, 'no acceptable authentication method', 401),
  protocolViolation: def('protocol_violation', 'wamp.error.protocol_violation', 0x82, 'protocol violation', 400),
  payloadSizeExceeded: def('payload_size_exceeded', 'wamp.error.payload_size_exceeded', 0x95, 'payload too large', 413),
  optionNotAllowed: def('option_not_allowed', 'wamp.error.option_not_allowed', 0x83, 'option not allowed', 400),
  featureNotSupported: def('feature_not_supported', 'wamp.error.feature_not_supported', 0x83, 'feature not supported', 501),
  limitExceeded: def('limit_exceeded', 'gatehouse.error.limit_exceeded', 0x97, 'limit exceeded', 429),
  rateLimited: def('rate_limited', 'wamp.error.rate_limit_exceeded', 0x96, 'message rate too high', 429),
  // HTTP: 412 Precondition Failed, what a conditional write that does not hold is (RFC 9110 §15.5.13)
  /** a durable request's destination did not answer before the request expired (kwargs.destination names it) */
  expired: def('expired', 'gatehouse.error.expired', 0x83, 'expired', 504),
  conditionFailed: def('condition_failed', 'gatehouse.error.condition_failed', 0x83, 'condition failed', 412),
  systemShutdown: def('system_shutdown', 'wamp.close.system_shutdown', 0x8b, 'server shutting down', 503),
  slowConsumer: def('slow_consumer', 'gatehouse.close.slow_consumer', 0x97, 'slow consumer', 503),
  killedBySession: def('killed', 'wamp.close.killed', 0x98, 'killed', 410),
  /** a config reload removed the session's realm (WAMP: the router closes the realm); MQTT 5: 0x98 administrative action */
  realmRemoved: def('realm_removed', 'wamp.close.close_realm', 0x98, 'realm removed', 410),
  internal: def('internal', 'wamp.error.runtime_error', 0x80, 'internal error', 500),
  /** stored bytes this build cannot decode (a damaged row, a foreign store): to a client it is an internal error */
  storeCorrupt: def('store_corrupt', 'wamp.error.runtime_error', 0x80, 'internal error', 500),
} satisfies Record<string, ErrorDef>);

export type ErrorName = keyof typeof Errors;

/** An error raised by the routing core, carrying its catalogue entry. */
export class RouterError extends Error {
  readonly def: ErrorDef;
  readonly args?: unknown[];
  readonly kwargs?: Record<string, unknown>;

  constructor(errorDef: ErrorDef, message?: string, kwargs?: Record<string, unknown>) {
    super(message ?? errorDef.code);
    this.name = 'RouterError';
    this.def = errorDef;
    if (message !== undefined) this.args = [message];
    if (kwargs !== undefined) this.kwargs = kwargs;
  }

  /** the WAMP URI this error travels as */
  get uri(): string {
    return this.def.wamp;
  }
}

/**
 * An error produced by an application (a callee's ERROR reply). Its URI is the
 * application's own, passed through unchanged to the caller.
 */
export class ApplicationError extends Error {
  constructor(
    readonly uri: string,
    readonly args?: unknown[],
    readonly kwargs?: Record<string, unknown>,
    readonly details: Record<string, unknown> = {},
  ) {
    super(uri);
    this.name = 'ApplicationError';
  }
}

export type CallFailure = RouterError | ApplicationError;

/** WAMP URI -> HTTP status, from the catalogue (the first entry of a shared URI wins). */
const HTTP_BY_URI: ReadonlyMap<string, number> = (() => {
  const m = new Map<string, number>();
  for (const d of Object.values<ErrorDef>(Errors)) if (!m.has(d.wamp)) m.set(d.wamp, d.http);
  return m;
})();

/**
 * The HTTP status of a failure: a router error's from its catalogue entry; an
 * application error keeps its own URI and gets the status of the catalogue entry that
 * URI names (a callee raising wamp.error.invalid_argument: 400), else 500.
 */
export function httpStatusOf(failure: CallFailure): number {
  if (failure instanceof RouterError) return failure.def.http;
  return HTTP_BY_URI.get(failure.uri) ?? 500;
}
