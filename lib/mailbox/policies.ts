import type { Config } from '../config';
import type { MailboxPolicy } from './mailboxes';
import type { OwnerKind } from './owner';

/**
 * Each owner kind's policy from the config, read at each append so a reload applies at
 * once. What a full mailbox does is each gate's behaviour as documented (README
 * "Offline sessions", "STOMP work queues"):
 * - MQTT persistent session: mqtt.maxQueuedMessages / maxQueuedBytes, the oldest dropped
 *   (gatehouse_drops_total{gate="mqtt",reason="queue_full"}).
 * - STOMP queue and temporary queue: stomp.maxQueueMessages / maxQueueBytes, the SEND
 *   refused (ERROR limit exceeded).
 * - durable subscription: the same bounds, the new event dropped and counted (its
 *   publisher does not know the subscription exists).
 * - link: the same bounds, the oldest dropped; a link opens its mailbox with its own.
 */
export function mailboxPolicy(config: Config, kind: OwnerKind): MailboxPolicy {
  // per append: made once per config (a reload replaces the config object)
  let kinds = cache.get(config);
  if (!kinds) cache.set(config, (kinds = new Map<OwnerKind, MailboxPolicy>()));
  let policy = kinds.get(kind);
  if (!policy) kinds.set(kind, (policy = policyOf(config, kind)));
  return policy;
}

const cache = new WeakMap<Config, Map<OwnerKind, MailboxPolicy>>();

function policyOf(config: Config, kind: OwnerKind): MailboxPolicy {
  switch (kind) {
    case 'mqtt':
      return {
        maxMessages: config.mqtt.maxQueuedMessages,
        maxBytes: config.mqtt.maxQueuedBytes,
        whenFull: 'drop-oldest',
        gate: 'mqtt',
      };
    case 'queue':
    case 'temp':
      return {
        maxMessages: config.stomp.maxQueueMessages,
        maxBytes: config.stomp.maxQueueBytes,
        whenFull: 'reject',
        gate: 'queues',
      };
    case 'durable':
      return {
        maxMessages: config.stomp.maxQueueMessages,
        maxBytes: config.stomp.maxQueueBytes,
        whenFull: 'drop-newest',
        gate: 'queues',
      };
    case 'link':
      return {
        maxMessages: config.stomp.maxQueueMessages,
        maxBytes: config.stomp.maxQueueBytes,
        whenFull: 'drop-oldest',
        gate: 'links',
      };
  }
}
