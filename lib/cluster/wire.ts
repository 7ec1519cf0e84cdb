/**
 * What a node puts in a NATS message for one publication: everything another node
 * needs to route it as the origin did — its identity (origin node, publication id), the
 * topic and payload, and what decides who gets it or what they see (exclude / eligible
 * in all their forms, publisher disclosure, QoS, the retain flag, the store revision,
 * headers). The publisher session itself stays on its node, so `exclude_me` needs
 * nothing here: no other node has that session.
 *
 * Plain MessagePack (no msgpackr records), like the store's payloads
 * (lib/store/codec.ts): binary stays binary, 64-bit integers past 2^53 stay bigints.
 */
import { Packr } from 'msgpackr';
import type { BrokerEvent, DeliveryLists, PublishOptions, PublisherIdentity } from '../broker';
import type { MessageHeaders } from '../headers';
import { isPlainObject, type Payload } from '../payload';
import { payloadFromBytes } from '../payload-bytes';

const packr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  // 'auto' is implemented by msgpackr 2.x but missing from its typings
  int64AsType: 'auto' as 'number',
});

/** Short keys: the map's keys travel with every message. */
interface WireEvent {
  /** origin node */
  o: string;
  /** publication id */
  i: number;
  /** canonical topic */
  t: string;
  /** payload (own properties only: a bytes payload is sent as its bytes) */
  p: Payload;
  q: 0 | 1 | 2;
  /** retain flag */
  r?: true;
  /** store revision */
  v?: number;
  h?: MessageHeaders;
  /** disclosed publisher */
  d?: PublisherIdentity;
  /** delivery filter: exclude, excludeAuthid, excludeAuthrole, eligible, eligibleAuthid, eligibleAuthrole */
  x?: DeliveryLists;
}

/** A publication another node sent, ready for Realm.deliverRemote. */
export interface RemoteEvent {
  origin: string;
  topic: string;
  payload: Payload;
  revision: number | undefined;
  options: PublishOptions;
}

/** The payload's own fields: a BytesPayload's parsed view is a getter and stays home. */
export function ownPayload(p: Payload): Payload {
  const out: Payload = {};
  if (p.bytes !== undefined) out.bytes = p.bytes;
  else {
    if (p.args !== undefined) out.args = p.args;
    if (p.kwargs !== undefined) out.kwargs = p.kwargs;
  }
  if (p.passthru !== undefined) out.passthru = p.passthru;
  return out;
}

/** Encodes one routed event. Throws when MessagePack cannot carry a value (the caller counts the drop). */
export function encodeEvent(node: string, event: BrokerEvent): Uint8Array {
  const w: WireEvent = {
    o: event.origin ?? node,
    i: event.publicationId,
    t: event.topic,
    p: ownPayload(event.payload),
    q: event.qos,
  };
  if (event.retainFlag) w.r = true;
  if (event.revision !== undefined) w.v = event.revision;
  if (event.headers !== undefined) w.h = event.headers;
  if (event.discloseMe) {
    const pub = event.publisher ?? event.remotePublisher;
    if (pub) w.d = { id: pub.id, identity: { authid: pub.identity.authid, authrole: pub.identity.authrole } };
  }
  if (event.lists !== undefined) w.x = event.lists;
  return packr.pack(w);
}

/** Decodes a message from another node; undefined when it is not one (counted by the caller). */
export function decodeEvent(data: Uint8Array): RemoteEvent | undefined {
  let w: unknown;
  try {
    w = packr.unpack(data);
  } catch {
    return undefined;
  }
  if (!isWireEvent(w)) return undefined;
  const headers = w.h;
  const raw = w.p;
  // bytes get their lazy JSON / text view back, as when they arrived from a client
  const payload =
    raw.bytes !== undefined && raw.args === undefined && raw.kwargs === undefined && raw.passthru === undefined
      ? payloadFromBytes(raw.bytes, headers)
      : raw;
  const options: PublishOptions = {
    origin: w.o,
    publicationId: w.i,
    via: 'cluster',
    qos: w.q,
    retainFlag: w.r === true,
    headers,
    discloseMe: w.d !== undefined,
    publisherInfo: w.d,
    ...w.x,
  };
  return { origin: w.o, topic: w.t, payload, revision: w.v, options };
}

/**
 * The shape another node writes. Anyone who may publish on the cluster's subjects can
 * put bytes there (SECURITY.md "Cluster"), so a message is checked before it is routed:
 * what fails is dropped and counted, never thrown into a gate.
 */
function isWireEvent(v: unknown): v is WireEvent {
  return (
    isPlainObject(v) &&
    typeof v['o'] === 'string' &&
    typeof v['i'] === 'number' &&
    typeof v['t'] === 'string' &&
    isPayload(v['p']) &&
    (v['q'] === 0 || v['q'] === 1 || v['q'] === 2) &&
    (v['v'] === undefined || typeof v['v'] === 'number') &&
    (v['h'] === undefined || isHeaders(v['h'])) &&
    (v['d'] === undefined || isPublisher(v['d'])) &&
    (v['x'] === undefined || isLists(v['x']))
  );
}

export function isPayload(p: unknown): p is Payload {
  return (
    isPlainObject(p) &&
    (p['args'] === undefined || Array.isArray(p['args'])) &&
    (p['kwargs'] === undefined || isPlainObject(p['kwargs'])) &&
    (p['bytes'] === undefined || p['bytes'] instanceof Uint8Array) &&
    (p['passthru'] === undefined || (isPlainObject(p['passthru']) && typeof p['passthru']['scheme'] === 'string'))
  );
}

export function isHeaders(h: unknown): h is MessageHeaders {
  if (!isPlainObject(h)) return false;
  const optional = (key: string, type: string): boolean => h[key] === undefined || typeof h[key] === type;
  const props = h['userProperties'];
  return (
    optional('contentType', 'string') &&
    optional('utf8', 'boolean') &&
    optional('responseTopic', 'string') &&
    optional('expiresAt', 'number') &&
    (h['correlationData'] === undefined || h['correlationData'] instanceof Uint8Array) &&
    (props === undefined ||
      (isPlainObject(props) &&
        Object.values(props).every((p) => typeof p === 'string' || (Array.isArray(p) && p.every((e) => typeof e === 'string')))))
  );
}

function isPublisher(d: unknown): d is PublisherIdentity {
  if (!isPlainObject(d) || typeof d['id'] !== 'number') return false;
  const identity = d['identity'];
  return isPlainObject(identity) && typeof identity['authid'] === 'string' && typeof identity['authrole'] === 'string';
}

const LIST_KEYS = ['exclude', 'excludeAuthid', 'excludeAuthrole', 'eligible', 'eligibleAuthid', 'eligibleAuthrole'] as const;

function isLists(x: unknown): x is DeliveryLists {
  if (!isPlainObject(x)) return false;
  for (const key of LIST_KEYS) {
    const list = x[key];
    if (list === undefined) continue;
    if (!Array.isArray(list)) return false;
    const want = key === 'exclude' || key === 'eligible' ? 'number' : 'string';
    if (!list.every((e) => typeof e === want)) return false;
  }
  return true;
}
