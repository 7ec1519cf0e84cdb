/**
 * The router-wide figures behind the admin console (lib/admin-api.ts): the metrics'
 * counters read as numbers, sessions per gate and realm, the stores' sizes, and the
 * durable queues of a realm.
 */
import { statSync } from 'node:fs';
import type { Counter } from 'prom-client';
import type { AdminSource, QueueInfo } from './admin-api';
import type { Metrics } from './metrics';
import type { Realm } from './realm';
import type { QueueStore, RetainedStore } from './store';
import { packageVersion } from './version';

export interface StatsDeps {
  metrics: Metrics;
  realms: () => Iterable<Realm>;
  store: RetainedStore;
  queues: QueueStore;
  /** the database file ('' or ':memory:' has no size on disk) */
  storePath: string;
  startedAt: number;
  /** sessions kept for clients not connected (MQTT persistent sessions) */
  parked: () => number;
  /** removes a queue's messages; the router's work queues do it for the STOMP kinds */
  purge: (storeName: string, kind: string, realm: string, name: string) => Promise<void>;
  /** consumers of a STOMP queue (work queue or durable subscription) by store name */
  consumers: (storeName: string) => number;
  /** retained keys when another engine than `store` holds them (store.engine jetstream) */
  retainedKeys?: () => number | undefined;
}

/** A queue's name in the store: `<kind>:<realm length>:<realm>:<name>` (work-queues.ts, mqtt session-records.ts). */
export function parseQueueName(storeName: string): { kind: string; realm: string; name: string } | undefined {
  const m = /^([a-z]+):(\d+):/.exec(storeName);
  const kind = m?.[1];
  if (!m || kind === undefined) return undefined;
  const start = m[0].length;
  const length = Number(m[2]);
  const realm = storeName.slice(start, start + length);
  if (storeName[start + length] !== ':') return undefined;
  return { kind, realm, name: storeName.slice(start + length + 1) };
}

async function byLabel(counter: Counter, label: string): Promise<{ total: number; by: Record<string, number> }> {
  const by: Record<string, number> = {};
  let total = 0;
  for (const v of (await counter.get()).values) {
    const key = String(v.labels[label] ?? '');
    by[key] = (by[key] ?? 0) + v.value;
    total += v.value;
  }
  return { total, by };
}

function fileSize(path: string): number | null {
  if (path === '' || path === ':memory:' || path.startsWith('file:')) return null;
  try {
    return statSync(path).size;
  } catch {
    return null;
  }
}

export function adminSource(d: StatsDeps): AdminSource {
  return {
    async stats() {
      const sessions: { gate: string; realm: string; count: number }[] = [];
      for (const realm of d.realms()) {
        const perGate = new Map<string, number>();
        for (const s of realm.sessions.values()) perGate.set(s.transport.gate, (perGate.get(s.transport.gate) ?? 0) + 1);
        for (const [gate, count] of perGate) sessions.push({ gate, realm: realm.name, count });
      }
      const gates: Record<string, { messagesIn: number; messagesOut: number; bytesIn: number; bytesOut: number }> = {};
      for (const [gate, c] of d.metrics.gateTotals()) {
        gates[gate] = { messagesIn: c.messagesIn, messagesOut: c.messagesOut, bytesIn: c.bytesIn, bytesOut: c.bytesOut };
      }
      const q = d.queues.stats;
      return {
        now: Date.now(),
        uptimeSeconds: Math.round((Date.now() - d.startedAt) / 1000),
        version: packageVersion(),
        sessions,
        parkedSessions: d.parked(),
        gates,
        drops: await byLabel(d.metrics.drops, 'reason'),
        slowConsumers: await byLabel(d.metrics.slowConsumers, 'action'),
        errors: await byLabel(d.metrics.errors, 'code'),
        store: {
          keys: d.retainedKeys?.() ?? d.store.stats.keys,
          queues: q.queues,
          queuedMessages: q.messages,
          queuedBytes: q.bytes,
          fileBytes: fileSize(d.storePath),
          // one transaction per event-loop turn (lib/store/group-commit.ts); it blocks the loop that long
          commits: d.store.stats.commits,
          lastCommitMs: d.store.stats.lastCommitMs,
          avgCommitMs: d.store.stats.avgCommitMs,
        },
      };
    },

    queues(realm) {
      const out: QueueInfo[] = [];
      const now = Date.now();
      // MQTT offline queues: read by their session while it is connected
      const connected = new Set<string>();
      for (const r of d.realms()) {
        if (r.name !== realm) continue;
        for (const s of r.sessions.values()) if (s.offlineQueue !== undefined && !s.parked) connected.add(s.offlineQueue);
      }
      for (const storeName of d.queues.queues()) {
        const q = parseQueueName(storeName);
        if (!q || q.realm !== realm) continue;
        const size = d.queues.size(storeName);
        const [oldest] = d.queues.read(storeName, 0, 1);
        out.push({
          kind: q.kind,
          name: q.name,
          messages: size.messages,
          bytes: size.bytes,
          oldestAgeMs: oldest ? now - oldest.enqueuedAt : null,
          consumers: q.kind === 'mqtt' ? (connected.has(storeName) ? 1 : 0) : d.consumers(storeName),
        });
      }
      return out.sort((a, b) => (a.kind + a.name < b.kind + b.name ? -1 : 1));
    },

    async purge(realm, kind, name) {
      const storeName = `${kind}:${realm.length}:${realm}:${name}`;
      const { messages } = d.queues.size(storeName);
      if (messages > 0) await d.purge(storeName, kind, realm, name);
      return messages;
    },
  };
}
