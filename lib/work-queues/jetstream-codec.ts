/**
 * A work-queue message as the cluster's queue stream holds it (lib/work-queues/jetstream.ts):
 * plain MessagePack, like the cluster's events (lib/cluster/wire.ts), so binary stays
 * binary. Short keys: they are stored with every message.
 */
import { Packr } from 'msgpackr';
import { isHeaders, isPayload, ownPayload } from '../cluster/wire';
import type { MessageHeaders } from '../headers';
import { isPlainObject, type Payload } from '../payload';
import { payloadFromBytes } from '../payload-bytes';

const packr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  // 'auto' is implemented by msgpackr 2.x but missing from its typings
  int64AsType: 'auto' as 'number',
});

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
  if (headers !== undefined) {
    const h: Record<string, unknown> = {};
    let any = false;
    for (const [k, v] of Object.entries(headers)) {
      if (v === undefined) continue;
      h[k] = v;
      any = true;
    }
    if (any) w.h = h;
  }
  return packr.pack(w);
}

/**
 * Undefined when the bytes are not a queued message: anyone who may publish on the
 * cluster's subjects can write to the stream (SECURITY.md "Cluster"); the caller drops
 * and counts it.
 */
export function decodeQueued(data: Uint8Array): QueuedOnStream | undefined {
  let w: unknown;
  try {
    w = packr.unpack(data);
  } catch {
    return undefined;
  }
  if (
    !isPlainObject(w) ||
    !isPayload(w['p']) ||
    typeof w['t'] !== 'number' ||
    (w['h'] !== undefined && !isHeaders(w['h'])) ||
    (w['o'] !== undefined && typeof w['o'] !== 'string')
  )
    return undefined;
  const headers = w['h'];
  const raw = w['p'];
  // bytes get their lazy JSON / text view back, as when they arrived from a client
  const payload =
    raw.bytes !== undefined && raw.args === undefined && raw.kwargs === undefined && raw.passthru === undefined
      ? payloadFromBytes(raw.bytes, headers)
      : raw;
  return { payload, headers, enqueuedAt: w['t'], topic: w['o'] ?? '' };
}
