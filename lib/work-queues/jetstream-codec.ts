/**
 * A work-queue message as the cluster's queue stream holds it (lib/work-queues/jetstream.ts):
 * plain MessagePack, like the cluster's events (lib/cluster/wire.ts), so binary stays
 * binary. Short keys: they are stored with every message.
 */
import { isHeaders, isPayload, ownPayload } from '../cluster/wire';
import type { MessageHeaders } from '../headers';
import type { Payload } from '../payload';
import { definedHeaders, packRecord, revivePayload, unpackRecord } from '../store/jetstream/queued-codec';

interface WireQueued {
  /** payload (own properties only) */
  p: Payload;
  /** headers, without undefined members */
  h?: MessageHeaders;
  /** enqueued at, epoch ms */
  t: number;
  /** the topic it was published to (a durable subscription's queue); absent: sent to the queue */
  o?: string;
}

export interface QueuedOnStream {
  readonly payload: Payload;
  readonly headers: MessageHeaders | undefined;
  readonly enqueuedAt: number;
  /** '' when it was sent to the queue */
  readonly topic: string;
}

export function encodeQueued(payload: Payload, headers: MessageHeaders | undefined, now: number, topic = ''): Uint8Array {
  const w: WireQueued = { p: ownPayload(payload), t: now };
  if (topic !== '') w.o = topic;
  const h = headers === undefined ? undefined : definedHeaders(headers);
  if (h !== undefined) w.h = h;
  return packRecord(w);
}

/**
 * Undefined when the bytes are not a queued message: anyone who may publish on the
 * cluster's subjects can write to the stream (SECURITY.md "Cluster"); the caller drops
 * and counts it.
 */
export function decodeQueued(data: Uint8Array): QueuedOnStream | undefined {
  const w = unpackRecord(data);
  if (
    w === undefined ||
    !isPayload(w['p']) ||
    typeof w['t'] !== 'number' ||
    (w['h'] !== undefined && !isHeaders(w['h'])) ||
    (w['o'] !== undefined && typeof w['o'] !== 'string')
  )
    return undefined;
  const headers = w['h'];
  return { payload: revivePayload(w['p'], headers), headers, enqueuedAt: w['t'], topic: w['o'] ?? '' };
}
