import type { Counter } from 'prom-client';
import { createGateContext, withLiveConfig, type GateContext } from '../../lib/gate-context';
import type { QueueService } from '../../lib/queue-service';
import type { RouterCore } from '../../lib/router';
import type { StompParserLimits } from '../../lib/stomp/frame-parser';
import { TransactionBudget } from './transactions';

/** The STOMP gate's shared state: the router context, the work queues, resolved limits. */
export interface StompGateContext extends GateContext {
  /** the core's work queues and durable subscriptions */
  readonly work: QueueService;
  /** frame limits for every connection's parser */
  readonly parserLimits: StompParserLimits;
  /** `server` header of CONNECTED */
  readonly serverName: string;
  /** bytes held by the open transactions of every connection (stomp.limits.maxTransactionBytesTotal) */
  readonly transactionBudget: TransactionBudget;
  /** counts a message not delivered */
  drop(reason: string): void;
}

export function createStompContext(router: RouterCore, work: QueueService): StompGateContext {
  const base = createGateContext(router, 'stomp');
  const cfg = router.config.stomp;
  const drops = new Map<string, Counter.Internal>();
  return withLiveConfig(
    {
      ...base,
      work,
      parserLimits: {
        maxHeaders: cfg.limits.maxHeaders,
        maxHeaderLineBytes: cfg.limits.maxHeaderLineBytes,
        maxBodyBytes: cfg.limits.maxBodyBytes || router.config.limits.maxMessageSize,
      },
      serverName: 'Gatehouse',
      transactionBudget: new TransactionBudget(cfg.limits.maxTransactionBytesTotal),
      drop(reason) {
        let c = drops.get(reason);
        if (!c) {
          c = router.metrics.drops.labels('stomp', reason);
          drops.set(reason, c);
        }
        c.inc();
      },
    },
    router,
  );
}
