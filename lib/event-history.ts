import type { BrokerEvent } from './broker';
import { parsePattern, TopicIndex, type MatchPolicy } from './topic';

export interface HistoryConfig {
  uri: string;
  match?: MatchPolicy;
  limit: number;
}

export interface HistoryRecord {
  timestamp: string;
  publication: number;
  topic: string;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
}

class Ring {
  readonly items: HistoryRecord[] = [];
  constructor(
    readonly key: string,
    readonly limit: number,
  ) {}

  push(r: HistoryRecord): void {
    this.items.push(r);
    if (this.items.length > this.limit) this.items.shift();
  }
}

/**
 * WAMP advanced: event history. History is kept only for the topic patterns the realm
 * configuration names (as Crossbar does), each in a bounded ring; a subscription with
 * the same pattern can read it through `wamp.subscription.get_events`.
 */
export class EventHistory {
  private readonly index = new TopicIndex<Ring>();
  private readonly byKey = new Map<string, Ring>();

  constructor(configs: readonly HistoryConfig[]) {
    for (const c of configs) {
      const p = parsePattern(c.uri, c.match);
      if (!p || this.byKey.has(p.key)) continue;
      const ring = new Ring(p.key, c.limit);
      this.byKey.set(p.key, ring);
      this.index.add(p, ring);
    }
  }

  get enabled(): boolean {
    return this.byKey.size > 0;
  }

  record(event: BrokerEvent): void {
    if (this.byKey.size === 0) return;
    this.index.match(event.topic, (ring) => {
      const r: HistoryRecord = { timestamp: new Date().toISOString(), publication: event.publicationId, topic: event.topic };
      if (event.payload.args) r.args = event.payload.args;
      if (event.payload.kwargs) r.kwargs = event.payload.kwargs;
      ring.push(r);
    });
  }

  /** The newest `limit` events kept for a pattern key, oldest first; undefined if none kept. */
  events(patternKey: string, limit?: number): HistoryRecord[] | undefined {
    const ring = this.byKey.get(patternKey);
    if (!ring) return undefined;
    const n = limit && limit > 0 ? Math.min(limit, ring.items.length) : ring.items.length;
    return ring.items.slice(ring.items.length - n);
  }
}
