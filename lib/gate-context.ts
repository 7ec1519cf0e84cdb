import type { Counter } from 'prom-client';
import type { Clock } from './clock';
import type { Config } from './config';
import type { Logger } from './log';
import { InboundThrottle, type ThrottleHooks } from './rate-limit';
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
  /** the router's clock (RouterOptions.clock): the gate's keep-alives, heart-beats and session timers */
  readonly clock: Clock;
  readonly counters: GateCounterSink;
  readonly slowConsumers: { throttled: Counter.Internal; disconnected: Counter.Internal };
  /** a configured limit was hit: counted (gatehouse_limit_hits_total) and logged */
  limitHit(limit: string, details: Record<string, unknown>): void;
  /** the inbound rate limit of one connection (limits.messagesPerSecond / bytesPerSecond) */
  inboundThrottle(peer: string, hooks: Omit<ThrottleHooks, 'throttled'>): InboundThrottle;
}

/**
 * `{ ...base, more }` copies the live `config` getter as a value: a gate that extends
 * its context passes the result through here to keep it live.
 */
export function withLiveConfig<T extends GateContext>(ctx: T, router: RouterCore): T {
  return Object.defineProperty(ctx, 'config', { get: () => router.config, enumerable: true });
}

export function createGateContext(router: RouterCore, gate: string): GateContext {
  const m = router.metrics;
  const g = m.forGate(gate);
  const errs = new Map<string, Counter.Internal>();
  const log = router.log.child({ gate });
  const limitHit = (limit: string, details: Record<string, unknown>): void => {
    m.limitHits.labels(gate, limit).inc();
    log.warn({ ...details, limit }, 'limit hit');
  };
  return {
    gate,
    router,
    // read at use: a config reload applies to the next connection and operation
    get config(): Config {
      return router.config;
    },
    log,
    clock: router.clock,
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
    limitHit,
    inboundThrottle(peer, hooks) {
      return new InboundThrottle(
        router.config.limits,
        {
          ...hooks,
          throttled: (limit) => {
            limitHit(limit, { peer, action: 'throttled' });
          },
          exceeded: (limit) => {
            limitHit(`${limit}_disconnect`, { peer, action: 'disconnected' });
            hooks.exceeded(limit);
          },
        },
        router.clock,
      );
    },
  };
}
