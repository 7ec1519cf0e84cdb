/**
 * The MessagePack of messages the cluster queues in JetStream (lib/cluster/mqtt-sessions.ts,
 * lib/work-queues/jetstream-codec.ts): plain MessagePack like the cluster's events
 * (lib/cluster/wire.ts), so binary stays binary. Each caller keeps its own short keys;
 * this is what they share: the packer, the headers without undefined members, the guard
 * of the bytes read back and the payload revived from them.
 */
import { Packr } from 'msgpackr';
import type { MessageHeaders } from '../../headers';
import { isPlainObject, type Payload } from '../../payload';
import { payloadFromBytes } from '../../payload-bytes';

const packr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  // 'auto' is implemented by msgpackr 2.x but missing from its typings
  int64AsType: 'auto' as 'number',
});

export function packRecord(w: object): Uint8Array {
  return packr.pack(w);
}

/**
 * Undefined when the bytes are not a MessagePack map: anyone who may publish on the
 * cluster's subjects can write to its streams (SECURITY.md "Cluster"); the caller checks
 * the members it reads and drops what is not its own.
 */
export function unpackRecord(data: Uint8Array): Record<string, unknown> | undefined {
  let w: unknown;
  try {
    w = packr.unpack(data);
  } catch {
    return undefined;
  }
  return isPlainObject(w) ? w : undefined;
}

/** The headers' defined members; undefined when there are none. */
export function definedHeaders(headers: MessageHeaders): Record<string, unknown> | undefined {
  let h: Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    h ??= {};
    h[k] = v;
  }
  return h;
}

/** Bytes get their lazy JSON / text view back, as when they arrived from a client. */
export function revivePayload(raw: Payload, headers: MessageHeaders | undefined): Payload {
  return raw.bytes !== undefined && raw.args === undefined && raw.kwargs === undefined && raw.passthru === undefined
    ? payloadFromBytes(raw.bytes, headers)
    : raw;
}
