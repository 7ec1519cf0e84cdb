import type { Counter } from 'prom-client';
import type { Config } from '../../lib/config';
import type { Logger } from '../../lib/log';
import type { RouterCore } from '../../lib/router';

/** Pre-bound metric children for the hot path. */
export interface WampCounters {
  in(bytes: number): void;
  out(bytes: number): void;
  errors(code: string): void;
}

/** Everything a WAMP connection needs from the router, resolved once per listener. */
export interface WampGateContext {
  readonly router: RouterCore;
  readonly config: Config;
  readonly log: Logger;
  readonly counters: WampCounters;
  readonly slowConsumers: { throttled: Counter.Internal; disconnected: Counter.Internal };
}

export function createWampContext(router: RouterCore): WampGateContext {
  const m = router.metrics;
  const g = m.forGate('wamp');
  const errs = new Map<string, Counter.Internal>();
  return {
    router,
    config: router.config,
    log: router.log.child({ gate: 'wamp' }),
    counters: {
      in(bytes) {
        g.messagesIn++;
        g.bytesIn += bytes;
      },
      out(bytes) {
        g.messagesOut++;
        g.bytesOut += bytes;
      },
      errors(code) {
        let c = errs.get(code);
        if (!c) {
          c = m.errors.labels('wamp', code);
          errs.set(code, c);
        }
        c.inc();
      },
    },
    slowConsumers: {
      throttled: m.slowConsumers.labels('wamp', 'throttled'),
      disconnected: m.slowConsumers.labels('wamp', 'disconnected'),
    },
  };
}
