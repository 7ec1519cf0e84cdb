import { Errors, RouterError } from '../../lib/errors';
import type { Consumer, QueueAddress } from '../../lib/work-queues';
import type { StompConnection } from './connection';
import { deliverQueued } from './subscriptions';

/**
 * The temporary queues of one STOMP connection (`/temp-queue/<name>`, RabbitMQ style):
 * their names, at most limits.maxSubscriptionsPerSession of them, and the implicit
 * delivery of a temporary queue nobody SUBSCRIBEd to. The queues themselves are the
 * core's (lib/work-queues.ts), which removes them with the session.
 */
export class TemporaryQueues {
  /** names of this connection's temporary queues */
  private readonly names = new Set<string>();
  /** consumers for temporary queues nobody SUBSCRIBEd to */
  private readonly implicit = new Map<string, Consumer>();

  constructor(private readonly conn: StompConnection) {}

  /**
   * The temporary queue `name`. With `implicit`, messages reaching it before any
   * SUBSCRIBE to it are delivered anyway: MESSAGE with `subscription` = its
   * /temp-queue/ destination, ack auto.
   */
  queue(name: string, implicit: boolean): QueueAddress {
    const conn = this.conn;
    const session = conn.session;
    if (!session) throw new RouterError(Errors.protocolViolation, 'not connected');
    const queues = conn.ctx.work.queues;
    if (!this.names.has(name)) {
      // as many as subscriptions: each costs a queue and possibly a consumer
      const max = conn.ctx.config.limits.maxSubscriptionsPerSession;
      if (this.names.size >= max) throw new RouterError(Errors.limitExceeded, `at most ${max} temporary queues per connection`);
      this.names.add(name);
    }
    const address = queues.temporary(session, conn.realmName, name);
    if (implicit && !this.implicit.has(name) && !this.subscribed(name)) {
      const destination = `/temp-queue/${name}`;
      const target = { destination, header: destination, ack: 'auto' as const };
      const consumer = queues.consume(
        session,
        address,
        { ack: 'auto', prefetch: 0 },
        {
          writable: () => conn.writable(),
          deliver: (msg) => {
            deliverQueued(conn, target, msg);
          },
        },
      );
      this.implicit.set(name, consumer);
    }
    return address;
  }

  /** An explicit SUBSCRIBE to a temporary queue replaces its implicit delivery. */
  dropImplicit(name: string): void {
    const consumer = this.implicit.get(name);
    if (!consumer) return;
    this.implicit.delete(name);
    this.conn.ctx.work.queues.cancel(consumer);
  }

  /** The session is gone (its queues and consumers go with it in the core). */
  clear(): void {
    this.implicit.clear();
    this.names.clear();
  }

  private subscribed(name: string): boolean {
    const destination = `/temp-queue/${name}`;
    for (const s of this.conn.subscriptions.all()) if (s.destination === destination) return true;
    return false;
  }
}
