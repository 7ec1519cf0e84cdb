import { canonicalToMqtt, mqttTopicToCanonical } from '../../lib/notation';
import type { MessageHeaders } from '../../lib/headers';
import type { Payload } from '../../lib/payload';
import type { WriteBatch } from '../../lib/write-batch';
import { payloadToMqtt } from './payload';

/**
 * Outbound PUBLISH without properties (every MQTT 3.1.1 delivery, MQTT 5 ones that
 * carry no header, subscription identifier or topic alias), written straight into the
 * connection's write batch: fixed header, topic, packet id, body. The topic's MQTT name
 * and its bytes are looked up once per topic, the body once per message (the same
 * payload object goes to every subscriber of an event): nothing is encoded per
 * subscriber but the header bytes. Anything else goes through mqtt-packet's generator.
 */

/** An MQTT topic name and its UTF-8 bytes. */
export interface TopicName {
  readonly name: string;
  readonly bytes: Buffer;
}

/** Topic conversions seen lately, both ways; bounded: emptied when full. */
const CACHE_LIMIT = 10_000;
const toMqtt = new Map<string, TopicName | null>();
const toCanonical = new Map<string, string | null>();

/** canonicalToMqtt, remembered, with the name's bytes; null: MQTT cannot carry the topic. */
export function mqttTopicName(canonical: string): TopicName | null {
  let t = toMqtt.get(canonical);
  if (t === undefined) {
    const name = canonicalToMqtt(canonical);
    t = name === null ? null : { name, bytes: Buffer.from(name, 'utf8') };
    if (toMqtt.size >= CACHE_LIMIT) toMqtt.clear();
    toMqtt.set(canonical, t);
  }
  return t;
}

/** mqttTopicToCanonical, remembered. */
export function canonicalTopic(name: string): string | null {
  let t = toCanonical.get(name);
  if (t === undefined) {
    t = mqttTopicToCanonical(name);
    if (toCanonical.size >= CACHE_LIMIT) toCanonical.clear();
    toCanonical.set(name, t);
  }
  return t;
}

// the body of the last message written: one event fans out to its subscribers in a row
let lastPayload: Payload | undefined;
let lastHeaders: MessageHeaders | undefined;
let lastBody: Buffer = Buffer.alloc(0);

/** The MQTT body of a message; the same objects give the same Buffer. */
export function bodyOf(payload: Payload, headers: MessageHeaders | undefined): Buffer {
  if (payload !== lastPayload || headers !== lastHeaders) {
    lastBody = payloadToMqtt(payload, headers);
    lastPayload = payload;
    lastHeaders = headers;
  }
  return lastBody;
}

export interface PublishHeader {
  readonly qos: number;
  readonly retain: boolean;
  readonly dup: boolean;
  /** 0 for QoS 0 */
  readonly packetId: number;
  /** MQTT 5: an empty property list follows the packet id */
  readonly v5: boolean;
}

/** Size on the wire of a PUBLISH with no properties. */
export function publishSize(topic: TopicName, body: Buffer, h: PublishHeader): number {
  const remaining = remainingLength(topic, body, h);
  return 1 + varIntSize(remaining) + remaining;
}

/** Writes the PUBLISH into the batch; `size` is publishSize() of the same arguments. */
export function writePublish(batch: WriteBatch, size: number, topic: TopicName, body: Buffer, h: PublishHeader): void {
  const at = batch.reserve(size);
  const b = batch.target;
  let i = at;
  b[i++] = 0x30 | (h.dup ? 0x08 : 0) | (h.qos << 1) | (h.retain ? 0x01 : 0);
  let r = remainingLength(topic, body, h);
  do {
    const digit = r & 0x7f;
    r = Math.floor(r / 0x80);
    b[i++] = r > 0 ? digit | 0x80 : digit;
  } while (r > 0);
  const n = topic.bytes.length;
  b[i++] = n >> 8;
  b[i++] = n & 0xff;
  i += topic.bytes.copy(b, i);
  if (h.qos > 0) {
    b[i++] = h.packetId >> 8;
    b[i++] = h.packetId & 0xff;
  }
  if (h.v5) b[i++] = 0;
  body.copy(b, i);
}

/** Fixed header bytes of the acknowledgements (PUBREL's flags are 0010, [MQTT-3.6.1-1]). */
export const ACK = { puback: 0x40, pubrec: 0x50, pubrel: 0x62, pubcomp: 0x70 } as const;

/** PUBACK, PUBREC, PUBREL, PUBCOMP with success and no properties (header byte given). */
export function writeAck(batch: WriteBatch, headerByte: number, packetId: number, v5: boolean): number {
  const size = v5 ? 6 : 4;
  const at = batch.reserve(size);
  const b = batch.target;
  b[at] = headerByte;
  b[at + 1] = size - 2;
  b[at + 2] = packetId >> 8;
  b[at + 3] = packetId & 0xff;
  // MQTT 5: reason code 0 and an empty property list, as mqtt-packet writes them
  if (v5) b[at + 4] = b[at + 5] = 0;
  return size;
}

function remainingLength(topic: TopicName, body: Buffer, h: PublishHeader): number {
  return 2 + topic.bytes.length + (h.qos > 0 ? 2 : 0) + (h.v5 ? 1 : 0) + body.length;
}

function varIntSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : 4;
}
