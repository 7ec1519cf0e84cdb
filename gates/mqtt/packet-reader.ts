import type { Packet } from 'mqtt-packet';

/**
 * Frames an MQTT byte stream into packets. The packets that make up the traffic
 * (PUBLISH without MQTT 5 properties, PUBACK, PUBREC, PUBREL, PUBCOMP, PINGREQ) are
 * decoded here, straight from the read chunk: the payload is a view of it, nothing is
 * copied. Every other packet, and any of those that is unusual in any way (properties,
 * a string that is not plain, a length that does not add up), goes whole to the codec
 * of record (mqtt-packet), which decodes or rejects it as it always has. The objects
 * made here have the fields mqtt-packet gives the same packet
 * (test/unit/mqtt-packet-reader.test.ts proves it on random packets).
 *
 * Until the connection has its protocol level (CONNECT handled) and after anything the
 * framing itself cannot make sense of (a variable byte integer over 4 bytes, a packet
 * above the maximum size), all bytes go to the codec as they come, as before.
 */
export class PacketReader {
  /** protocol level of the connection; the fast path is off until set */
  version: 0 | 3 | 4 | 5 = 0;
  /** once true, every byte goes to the codec as it arrives */
  private streaming = false;
  /** bytes of an incomplete packet, waiting for the rest */
  private held: Buffer[] = [];
  private heldBytes = 0;
  /** bytes needed before the held ones are worth joining (0: not known yet) */
  private needed = 0;

  constructor(
    /** mqtt-packet's parser: emits what it decodes through its own events */
    private readonly codec: { parse(buf: Buffer): unknown },
    private readonly emit: (p: Packet) => void,
    /** packets larger than this go to the codec as a stream (the connection's size check applies there) */
    private readonly maxPacketBytes: number,
    /** false once the connection is closed: stop at the next packet */
    private readonly open: () => boolean,
  ) {}

  push(chunk: Buffer): void {
    if (this.streaming) {
      this.codec.parse(chunk);
      return;
    }
    let buf = chunk;
    if (this.heldBytes > 0) {
      this.held.push(chunk);
      this.heldBytes += chunk.length;
      if (this.heldBytes < this.needed) return;
      buf = Buffer.concat(this.held, this.heldBytes);
      this.held = [];
      this.heldBytes = 0;
    }
    this.needed = 0;
    let pos = 0;
    const n = buf.length;
    while (pos < n && this.open()) {
      // fixed header: one byte, then the remaining length (1 to 4 bytes, 7 bits each)
      let length = 0;
      let mul = 1;
      let i = pos + 1;
      let complete = false;
      while (i < n && i <= pos + 4) {
        const b = buf[i++] ?? 0;
        length += (b & 0x7f) * mul;
        mul *= 0x80;
        if (b < 0x80) {
          complete = true;
          break;
        }
      }
      if (!complete) {
        if (i > pos + 4) {
          this.stream(buf.subarray(pos));
          return;
        } // over 4 bytes: the codec says so
        break; // header incomplete
      }
      const total = i - pos + length;
      if (total > this.maxPacketBytes) {
        this.stream(buf.subarray(pos));
        return;
      }
      if (pos + total > n) {
        this.needed = total;
        break;
      }
      const end = pos + total;
      const p = this.version === 0 ? undefined : this.decode(buf, pos, i, end);
      if (p) this.emit(p);
      else this.codec.parse(buf.subarray(pos, end));
      pos = end;
    }
    if (pos < n && this.open()) {
      const rest = buf.subarray(pos);
      this.held.push(rest);
      this.heldBytes = rest.length;
    }
  }

  private stream(rest: Buffer): void {
    this.streaming = true;
    this.held = [];
    this.heldBytes = 0;
    this.codec.parse(rest);
  }

  /** One whole packet, header byte at `start`, body from `body` to `end`; undefined: the codec's. */
  private decode(buf: Buffer, start: number, body: number, end: number): Packet | undefined {
    const b0 = buf[start] ?? 0;
    const length = end - body;
    switch (b0 >> 4) {
      case 3:
        return this.publish(buf, b0, body, end);
      case 4:
        return b0 === 0x40 ? this.confirmation('puback', 0, buf, body, length, PUBACK_CODES) : undefined;
      case 5:
        return b0 === 0x50 ? this.confirmation('pubrec', 0, buf, body, length, PUBACK_CODES) : undefined;
      case 6:
        return b0 === 0x62 ? this.confirmation('pubrel', 1, buf, body, length, PUBREL_CODES) : undefined;
      case 7:
        return b0 === 0x70 ? this.confirmation('pubcomp', 0, buf, body, length, PUBREL_CODES) : undefined;
      case 12:
        return b0 === 0xc0 && length === 0
          ? ({ cmd: 'pingreq', retain: false, qos: 0, dup: false, length: 0, topic: null, payload: null } as unknown as Packet)
          : undefined;
      default:
        return undefined;
    }
  }

  private publish(buf: Buffer, b0: number, body: number, end: number): Packet | undefined {
    const qos = (b0 >> 1) & 3;
    if (qos === 3) return undefined;
    let pos = body;
    if (end - pos < 2) return undefined;
    const topicEnd = pos + 2 + ((buf[pos] ?? 0) << 8) + (buf[pos + 1] ?? 0);
    pos += 2;
    if (topicEnd > end) return undefined;
    const topic = this.topicName(buf, pos, topicEnd);
    if (topic === undefined) return undefined;
    pos = topicEnd;
    let messageId: number | undefined;
    if (qos > 0) {
      if (pos + 2 > end) return undefined;
      messageId = ((buf[pos] ?? 0) << 8) + (buf[pos + 1] ?? 0);
      pos += 2;
    }
    if (this.version === 5) {
      // only the empty property list here: properties are the codec's
      if (pos >= end || buf[pos] !== 0) return undefined;
      pos++;
    }
    const p: Record<string, unknown> = {
      cmd: 'publish',
      retain: (b0 & 1) !== 0,
      qos,
      dup: (b0 & 8) !== 0,
      length: end - body,
      topic,
      payload: buf.subarray(pos, end),
    };
    if (messageId !== undefined) p.messageId = messageId;
    return p as unknown as Packet;
  }

  // the last topic name read: a publisher mostly repeats it, and then the bytes compare
  // equal and the string is the same one (which also spares the gate's topic lookup)
  private lastTopicBytes: Buffer = Buffer.alloc(0);
  private lastTopic = '';

  /**
   * The topic name when its bytes are printable ASCII (what topic names nearly always
   * are); undefined otherwise, so the codec and its UTF-8 checks ([MQTT-1.5.3-1],
   * [MQTT-1.5.3-2]) decide.
   */
  private topicName(buf: Buffer, start: number, end: number): string | undefined {
    const last = this.lastTopicBytes;
    let same = end - start === last.length;
    for (let i = start, j = 0; i < end; i++, j++) {
      const b = buf[i] ?? 0;
      if (b < 0x20 || b > 0x7e) return undefined;
      if (same && b !== last[j]) same = false;
    }
    if (same) return this.lastTopic;
    this.lastTopicBytes = Buffer.from(buf.subarray(start, end));
    this.lastTopic = buf.toString('latin1', start, end);
    return this.lastTopic;
  }

  /** PUBACK/PUBREC/PUBREL/PUBCOMP: the id, and in MQTT 5 a reason code and an empty property list. */
  private confirmation(
    cmd: string,
    qos: number,
    buf: Buffer,
    body: number,
    length: number,
    codes: ReadonlySet<number>,
  ): Packet | undefined {
    if (length < 2) return undefined;
    const p: Record<string, unknown> = {
      cmd,
      retain: false,
      qos,
      dup: false,
      length,
      topic: null,
      payload: null,
      messageId: ((buf[body] ?? 0) << 8) + (buf[body + 1] ?? 0),
    };
    if (this.version === 5) {
      if (length > 4 || (length === 4 && buf[body + 3] !== 0)) return undefined;
      const reasonCode = length > 2 ? (buf[body + 2] ?? 0) : 0;
      if (!codes.has(reasonCode)) return undefined;
      p.reasonCode = reasonCode;
    } else if (length !== 2) {
      return undefined;
    }
    return p as unknown as Packet;
  }
}

/** MQTT 5 §3.4.2.1 PUBACK (and §3.5.2.1 PUBREC) reason codes */
const PUBACK_CODES: ReadonlySet<number> = new Set([0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]);
/** MQTT 5 §3.6.2.1 PUBREL (and §3.7.2.1 PUBCOMP) reason codes */
const PUBREL_CODES: ReadonlySet<number> = new Set([0x00, 0x92]);
