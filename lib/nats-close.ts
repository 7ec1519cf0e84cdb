import type { NatsConnection } from '@nats-io/transport-node';

/**
 * Closes a NATS connection: drained (what is in flight goes out) when a server answers,
 * closed anyway after `graceMs`. A drain waits for the connection to come back, so with
 * NATS unreachable and reconnects unbounded (the cluster's and the store's connections)
 * it would hold a router's close() for ever.
 */
export async function closeNats(nc: NatsConnection, graceMs = 2000): Promise<void> {
  if (nc.isClosed()) return;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, graceMs);
    timer.unref();
  });
  await Promise.race([nc.drain().catch(() => undefined), late]);
  clearTimeout(timer);
  if (!nc.isClosed()) await nc.close().catch(() => undefined);
}
