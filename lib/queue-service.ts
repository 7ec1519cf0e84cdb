import { DurableSubscriptions } from './durable-subscriptions';
import type { RouterCore } from './router';
import { WorkQueues, type WorkQueueLimits } from './work-queues';

/** The router's work queues and durable subscriptions, created once for every gate that uses them. */
export interface QueueService {
  readonly queues: WorkQueues;
  readonly durable: DurableSubscriptions;
  /** router shutdown */
  close(): void;
}

/**
 * Creates the service on the router's durable queue store (open: call after
 * router.start()) and restores the durable subscriptions' feeds.
 */
export function createQueueService(router: RouterCore, limits: WorkQueueLimits): QueueService {
  const log = router.log.child({ part: 'work-queues' });
  const drop = (reason: string): void => router.metrics.drops.labels('queues', reason).inc();
  const queues = new WorkQueues({ store: router.queues, limits, log, drop });
  const durable = new DurableSubscriptions({ queues, store: router.queues, realm: (name) => router.realm(name), log, drop });
  durable.restore();
  return { queues, durable, close: () => queues.close() };
}
