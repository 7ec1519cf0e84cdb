import type { Counter } from 'prom-client';
import { createGateContext, withLiveConfig, type GateContext } from '../../lib/gate-context';
import type { RouterCore } from '../../lib/router';
import type { MqttSession } from './mqtt-session';
import type { Mailbox } from './mailbox';
import type { ClusterMqttSessions } from '../../lib/cluster/mqtt-sessions';
import { OwnerQuota } from '../../lib/mailbox';

/** The MQTT gate's shared state: the router context plus the sessions by client id. */
export interface MqttGateContext extends GateContext {
  /** live and persistent sessions, by realm + client id */
  readonly sessions: Map<string, MqttSession>;
  /**
   * the sessions that may be left offline, against limits.maxOfflineSessions(PerAuthid):
   * the core's mailbox quota, counted per authid from CONNECT (lib/mailbox/owner-quota.ts)
   */
  readonly offline: OwnerQuota<MqttSession>;
  /** counts a message not delivered (offline QoS 0, full queue, too large for the client) */
  drop(reason: string): void;
  readonly startedAt: number;
  /** set when the router closes: session timers stop, nothing more is written */
  stopped: boolean;
  /** in a cluster: the sessions shared by every node (lib/cluster/mqtt-sessions.ts) */
  shared?: ClusterMqttSessions;
  /** in a cluster: the durable mailbox of a session, on the cluster's stream */
  sharedMailbox?: (session: MqttSession) => Mailbox;
}

export function createMqttContext(router: RouterCore): MqttGateContext {
  const base = createGateContext(router, 'mqtt');
  const drops = new Map<string, Counter.Internal>();
  return withLiveConfig(
    {
      ...base,
      sessions: new Map(),
      offline: new OwnerQuota<MqttSession>(
        router.config.limits.maxOfflineSessions,
        router.config.limits.maxOfflineSessionsPerAuthid,
      ),
      startedAt: router.clock.now(),
      stopped: false,
      drop(reason) {
        let c = drops.get(reason);
        if (!c) {
          c = router.metrics.drops.labels('mqtt', reason);
          drops.set(reason, c);
        }
        c.inc();
      },
    },
    router,
  );
}

export function sessionKey(realm: string, clientId: string): string {
  return `${realm}\u0000${clientId}`;
}
