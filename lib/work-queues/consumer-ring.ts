import type { Session } from '../session';
import type { Consumer } from '../work-queues';

/** A queue's consumers in round-robin order, and whose turn is next. */
export interface Ring {
  readonly consumers: Consumer[];
  /** round-robin position */
  next: number;
}

/**
 * Which queue each consumer reads and which consumers each session has: the bookkeeping a
 * work-queue owner keeps for its consumers, the same for local queues (lib/work-queues.ts)
 * and the cluster's queues on JetStream (./jetstream.ts).
 */
export class ConsumerRing<Q extends Ring> {
  private readonly queueOf = new Map<Consumer, Q>();
  private readonly bySession = new Map<Session, Set<Consumer>>();

  /** the consumer joins the end of the queue's turn */
  join(q: Q, consumer: Consumer): void {
    q.consumers.push(consumer);
    this.queueOf.set(consumer, q);
    let own = this.bySession.get(consumer.session);
    if (!own) this.bySession.set(consumer.session, (own = new Set()));
    own.add(consumer);
  }

  /** the consumer leaves its queue (the turn stays with the consumer that had it); its queue, if it had one */
  leave(consumer: Consumer): Q | undefined {
    const q = this.queueOf.get(consumer);
    if (!q) return undefined;
    this.queueOf.delete(consumer);
    const at = q.consumers.indexOf(consumer);
    if (at >= 0) {
      q.consumers.splice(at, 1);
      if (q.next > at) q.next--;
      if (q.next >= q.consumers.length) q.next = 0;
    }
    const own = this.bySession.get(consumer.session);
    own?.delete(consumer);
    if (own?.size === 0) this.bySession.delete(consumer.session);
    return q;
  }

  queueOfConsumer(consumer: Consumer): Q | undefined {
    return this.queueOf.get(consumer);
  }

  /** every consumer (a copy: the caller may cancel while it goes through them) */
  all(): Consumer[] {
    return [...this.queueOf.keys()];
  }

  /** the session's consumers (a copy) */
  ofSession(session: Session): Consumer[] {
    const own = this.bySession.get(session);
    return own ? [...own] : [];
  }
}

/** The next consumer in turn with capacity; the turn moves past it. */
export function nextInTurn(q: Ring): Consumer | undefined {
  const n = q.consumers.length;
  for (let i = 0; i < n; i++) {
    const idx = (q.next + i) % n;
    const c = q.consumers[idx];
    if (c?.hasCapacity) {
      q.next = (idx + 1) % n;
      return c;
    }
  }
  return undefined;
}
