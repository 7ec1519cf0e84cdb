import type { Counter } from 'prom-client';

import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import type { TransportInfo } from '../session';
import { isAuthMethod } from './authenticator';
import type { AuthFailureReason } from './outcome';
import type { BlockNotice, ThrottleReason } from './throttle';

/**
 * Every authentication outcome is counted (gatehouse_auth_failures_total{gate,method,
 * reason}, gatehouse_auth_successes_total{gate,method}); failures are logged at warn
 * with the peer, gate, method, realm and claimed authid, never the secret.
 */
export class AuthAudit {
  private readonly failures = new Map<string, Counter.Internal>();
  private readonly successes = new Map<string, Counter.Internal>();
  private readonly throttledBy = new Map<string, Counter.Internal>();

  constructor(
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  failed(
    transport: TransportInfo,
    realm: string,
    method: string,
    authid: string | undefined,
    reason: AuthFailureReason,
    message: string,
  ): void {
    const label = methodLabel(method);
    const key = `${transport.gate}\0${label}\0${reason}`;
    let c = this.failures.get(key);
    if (!c) {
      c = this.metrics.authFailures.labels(transport.gate, label, reason);
      this.failures.set(key, c);
    }
    c.inc();
    this.log.warn(
      { peer: transport.peer, gate: transport.gate, method, realm, authid, reason },
      `authentication failed: ${message}`,
    );
  }

  /** A login refused unchecked by a failure budget (gatehouse_auth_throttled_total{gate,reason}). */
  throttled(transport: TransportInfo, reason: ThrottleReason): void {
    const key = `${transport.gate}\0${reason}`;
    let c = this.throttledBy.get(key);
    if (!c) {
      c = this.metrics.authThrottled.labels(transport.gate, reason);
      this.throttledBy.set(key, c);
    }
    c.inc();
  }

  /** A failure budget blocked an address or authid: logged once per block, not per attempt. */
  blocked(n: BlockNotice): void {
    this.log.warn(
      { [n.budget]: n.key, blockedMs: n.ms },
      `authentication throttled: ${n.budget} ${n.key} blocked for ${n.ms} ms after repeated failures`,
    );
  }

  succeeded(transport: TransportInfo, method: string): void {
    const label = methodLabel(method);
    const key = `${transport.gate}\0${label}`;
    let c = this.successes.get(key);
    if (!c) {
      c = this.metrics.authSuccesses.labels(transport.gate, label);
      this.successes.set(key, c);
    }
    c.inc();
  }
}

/**
 * The `method` label: a method this router knows, else "none" (the client named none)
 * or "other". Clients name methods (WAMP HELLO.authmethods): their strings must not
 * become label values, or each new one grows the metrics and this class's maps.
 */
export function methodLabel(method: string): string {
  if (method === '' || method === 'none') return 'none';
  return isAuthMethod(method) ? method : 'other';
}
