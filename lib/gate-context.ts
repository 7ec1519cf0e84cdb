import type { Counter } from 'prom-client';
import type { Config } from './config';
import type { Logger } from './log';
import type { RouterCore } from './router';

/** Pre-bound metric children for the hot path. */
export interface GateCounterSink {
  in(bytes: number): void;
  out(bytes: number): void;
  errors(code: string): void;
}

/** Everything a gate's connections need from the router, resolved once per gate. */
export interface GateContext {
  readonly gate: string;
  readonly router: RouterCore;
  readonly config: Config;
  readonly log: Logger;
  readonly counters: GateCounterSink;
  readonly slowConsumers: { throttled: Counter.Internal; disconnected: Counter.Internal };
}

export function createGateContext(router: RouterCore, gate: string): GateContext {
  const m = router.metrics;
  const g = m.forGate(gate);
  const errs = new Map<string, Counter.Internal>();
  return {
    gate,
    router,
    config: router.config,
    log: router.log.child({ gate }),
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
          c = m.errors.labels(gate, code);
          errs.set(code, c);
        }
        c.inc();
      },
    },
    slowConsumers: {
      throttled: m.slowConsumers.labels(gate, 'throttled'),
      disconnected: m.slowConsumers.labels(gate, 'disconnected'),
    },
  };
}
