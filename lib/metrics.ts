/**
 * Prometheus metrics. Each Metrics owns its own Registry rather than prom-client's
 * global one, so several routers can live in one process (tests) without their
 * metric names colliding.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

const PREFIX = 'gatehouse_';

/** Label children bound to one gate, for per-message counting on hot paths. */
export interface GateCounters {
  readonly messagesIn: Counter.Internal;
  readonly messagesOut: Counter.Internal;
  readonly bytesIn: Counter.Internal;
  readonly bytesOut: Counter.Internal;
}

export type SlowConsumerAction = 'throttled' | 'disconnected';

export class Metrics {
  readonly registry = new Registry();

  /** open sessions */
  readonly sessions: Gauge<'gate' | 'realm'>;
  /** sessions ever opened */
  readonly sessionsTotal: Counter<'gate'>;
  readonly messagesIn: Counter<'gate'>;
  readonly messagesOut: Counter<'gate'>;
  readonly bytesIn: Counter<'gate'>;
  readonly bytesOut: Counter<'gate'>;
  /** messages not delivered, by reason (e.g. slow_consumer, payload_size_exceeded) */
  readonly drops: Counter<'gate' | 'reason'>;
  /** errors sent to clients, by catalogue code (lib/errors.ts) */
  readonly errors: Counter<'gate' | 'code'>;
  /** action: throttled | disconnected */
  readonly slowConsumers: Counter<'gate' | 'action'>;
  readonly publications: Counter<'realm'>;
  readonly deliveries: Counter<'realm'>;
  /** outcome: e.g. ok, error, timeout, canceled, no_callee */
  readonly calls: Counter<'realm' | 'outcome'>;
  readonly subscriptions: Gauge<'realm'>;
  readonly registrations: Gauge<'realm'>;

  private readonly gates = new Map<string, GateCounters>();

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: PREFIX });

    const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> =>
      new Counter({ name: PREFIX + name, help, labelNames, registers });
    const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]): Gauge<L> =>
      new Gauge({ name: PREFIX + name, help, labelNames, registers });

    this.sessions = gauge('sessions', 'Open sessions', ['gate', 'realm']);
    // Not "sessions_total": in OpenMetrics that name would clash with the gauge above.
    this.sessionsTotal = counter('sessions_opened_total', 'Sessions opened since start', ['gate']);
    this.messagesIn = counter('messages_in_total', 'Messages received from clients', ['gate']);
    this.messagesOut = counter('messages_out_total', 'Messages sent to clients', ['gate']);
    this.bytesIn = counter('bytes_in_total', 'Bytes received from clients', ['gate']);
    this.bytesOut = counter('bytes_out_total', 'Bytes sent to clients', ['gate']);
    this.drops = counter('drops_total', 'Messages dropped instead of delivered', ['gate', 'reason']);
    this.errors = counter('errors_total', 'Errors returned to clients', ['gate', 'code']);
    this.slowConsumers = counter('slow_consumers_total', 'Slow consumers throttled or disconnected', ['gate', 'action']);
    this.publications = counter('publications_total', 'Publications routed', ['realm']);
    this.deliveries = counter('deliveries_total', 'Events delivered to subscribers', ['realm']);
    this.calls = counter('calls_total', 'Calls routed, by outcome', ['realm', 'outcome']);
    this.subscriptions = gauge('subscriptions', 'Active subscriptions', ['realm']);
    this.registrations = gauge('registrations', 'Active registrations', ['realm']);
  }

  /** Pre-bound label children for one gate; `labels()` per message is too slow. */
  forGate(gate: string): GateCounters {
    let bound = this.gates.get(gate);
    if (bound === undefined) {
      bound = Object.freeze({
        messagesIn: this.messagesIn.labels(gate),
        messagesOut: this.messagesOut.labels(gate),
        bytesIn: this.bytesIn.labels(gate),
        bytesOut: this.bytesOut.labels(gate),
      });
      this.gates.set(gate, bound);
    }
    return bound;
  }

  /** Content-Type of render()'s output. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text exposition of every metric. */
  async render(): Promise<string> {
    return this.registry.metrics();
  }
}
