import { DurableSubscriptions, type SharedBindings } from './durable-subscriptions';
import type { RouterCore } from './router';
import { isRouterSession } from './auth/authorizer';
import { revokedError } from './realm';
import { tellRevoked, type Revocation, type Session } from './session';
import type { TopicPattern } from './topic';
import { authorizeDurable, authorizeQueue, queueUri } from './queue-authorization';
import { WorkQueues, type QueueAddress, type SharedQueues } from './work-queues';
import type * as JetStreamQueuesModule from './work-queues/jetstream';
import type * as JetStreamBindingsModule from './work-queues/jetstream-bindings';

// NATS is loaded by routers in a cluster only (lib/router.ts does the same)
const jetstreamQueuesModule = (): typeof JetStreamQueuesModule =>
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use
  require('./work-queues/jetstream') as typeof JetStreamQueuesModule;
const jetstreamBindingsModule = (): typeof JetStreamBindingsModule =>
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use
  require('./work-queues/jetstream-bindings') as typeof JetStreamBindingsModule;

/** The router's work queues and durable subscriptions, created once for every gate that uses them. */
export interface QueueService {
  readonly queues: WorkQueues;
  readonly durable: DurableSubscriptions;
  /**
   * A config reload changed the rules: consumers whose session may no longer subscribe
   * to their queue (`/queue/<name>`: gatehouse.queue.<name>; a durable subscription: its
   * whole pattern) are cancelled and their gate told, as the realm does for
   * subscriptions. Returns how many ended.
   */
  revokeUnauthorized(): number;
  /** router shutdown */
  close(): void;
}

/**
 * Creates the service on the router's mailboxes (open: call after router.start()), whose
 * policy bounds the queues (lib/mailbox/policies.ts), and restores the durable
 * subscriptions' feeds.
 */
export function createQueueService(router: RouterCore): QueueService {
  const log = router.log.child({ part: 'work-queues' });
  const drop = (reason: string): void => {
    router.metrics.drops.labels('queues', reason).inc();
  };
  const queues = new WorkQueues({
    mailboxes: router.mailboxes,
    store: router.queues,
    log,
    drop,
    shared: sharedQueues(router, drop),
  });
  const durable = new DurableSubscriptions({
    queues,
    store: router.queues,
    realm: (name) => router.realm(name),
    log,
    shared: sharedBindings(router),
  });
  durable.restore();
  return {
    queues,
    durable,
    revokeUnauthorized: () => revokeConsumers(router, queues, durable),
    close: () => {
      queues.close();
    },
  };
}

/** With a cluster, named queues live in its JetStream, shared by every node (issue 12). */
function sharedQueues(router: RouterCore, drop: (reason: string) => void): SharedQueues | undefined {
  const cluster = router.cluster;
  const config = router.config.cluster;
  if (!cluster || !config) return undefined;
  const shared = new (jetstreamQueuesModule().JetStreamQueues)({
    prefix: config.prefix,
    ackWaitMs: config.queues.ackWaitMs,
    replicas: router.config.store.nats.replicas,
    maxDurableMessages: router.config.stomp.maxQueueMessages,
    log: router.log.child({ part: 'cluster-queues' }),
    drop,
  });
  cluster.use((nc) => shared.attach(nc));
  return shared;
}

/** With a cluster, durable subscriptions' bindings live in its JetStream KV (issue 12). */
function sharedBindings(router: RouterCore): SharedBindings | undefined {
  const cluster = router.cluster;
  const config = router.config.cluster;
  if (!cluster || !config) return undefined;
  const shared = new (jetstreamBindingsModule().JetStreamBindings)({
    prefix: config.prefix,
    replicas: router.config.store.nats.replicas,
    // this boot of the node: a queued event's id never repeats after a restart
    node: router.nodeId,
    log: router.log.child({ part: 'cluster-durable' }),
  });
  cluster.use((nc) => shared.attach(nc));
  return shared;
}

function revokeConsumers(router: RouterCore, queues: WorkQueues, durable: DurableSubscriptions): number {
  const lost = new Map<Session, Revocation[]>();
  for (const c of queues.consumers()) {
    const session = c.session;
    if (session.closed || isRouterSession(session)) continue;
    // temporary queues belong to their connection: no permission to lose
    const pattern = c.address.kind === 'durable' ? durablePattern(durable, c.address) : undefined;
    const target = c.address.kind === 'queue' ? queueUri(c.address.name) : pattern;
    const realm = target === undefined ? undefined : router.findRealm(c.address.realm);
    if (target === undefined || !realm) continue;
    try {
      // the one rule (lib/queue-authorization.ts); a promise: only the dynamic authorizer
      // could tell, and it is not asked again
      const pending = pattern
        ? authorizeDurable(realm, session, pattern)
        : authorizeQueue(realm, session, 'subscribe', c.address);
      void pending?.catch(() => undefined);
      continue;
    } catch {
      queues.cancel(c);
    }
    const list = lost.get(session) ?? [];
    list.push({ kind: 'queue', id: 0, uri: typeof target === 'string' ? target : target.uri, consumer: c });
    lost.set(session, list);
  }
  let ended = 0;
  for (const [session, list] of lost) {
    ended += list.length;
    tellRevoked(session, list, revokedError(list));
  }
  return ended;
}

function durablePattern(durable: DurableSubscriptions, address: QueueAddress): TopicPattern | undefined {
  const name = DurableSubscriptions.nameOf(address);
  return name && durable.pattern(name);
}
