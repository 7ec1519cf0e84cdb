import { createGateContext, type GateContext } from '../../lib/gate-context';
import type { OutboxLimits } from '../../lib/outbox';
import type { RouterCore } from '../../lib/router';
import { CredentialCache } from './credential-cache';

/** What the HTTP gate's requests share: the gate context and the open event streams. */
export interface HttpGateContext extends GateContext {
  readonly outboxLimits: OutboxLimits;
  /** open Server-Sent Events streams, closed when the router closes */
  readonly streams: Set<{ close(): void }>;
  /** verified Basic / bearer credentials, briefly (credential-cache.ts) */
  readonly credentials: CredentialCache;
}

export function createHttpContext(router: RouterCore): HttpGateContext {
  const l = router.config.limits;
  return {
    ...createGateContext(router, 'http'),
    outboxLimits: {
      highWaterBytes: l.outboundHighWaterBytes,
      maxQueueBytes: l.outboundQueueBytes,
      slowConsumerTimeoutMs: l.slowConsumerTimeoutMs,
    },
    streams: new Set(),
    credentials: new CredentialCache(),
  };
}
