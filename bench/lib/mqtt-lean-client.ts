/**
 * A deliberately small MQTT 3.1.1 client for the MQTT benchmark's load generator, on
 * `net` and `mqtt-packet`. The same client drives every broker, so whatever it costs
 * it costs them all alike; it is kept cheap so that the broker, not the generator, is
 * what saturates.
 *
 * - Control packets (CONNECT, SUBSCRIBE, DISCONNECT) are built by mqtt-packet, and the
 *   replies (CONNACK, SUBACK) are decoded by mqtt-packet's parser.
 * - The hot path is by hand: reads use `onread` (one reused buffer, no stream events); PUBLISH frames are written from a per-publisher template
 *   into one slab per flush (one `write` per connection per event-loop turn), and the
 *   reader frames the byte stream itself, handing PUBLISH payloads (as offsets into the
 *   chunk, no copy) and PUBACK identifiers to callbacks without building packet objects.
 *
 * Nothing here is a general-purpose client: no reconnect, no QoS 2, no keep-alive
 * pings (benchmark connections live for seconds; keep alive is 60 s).
 */
import net from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';

const PUBLISH = 3;
const PUBACK = 4;
const SLAB = 64 * 1024;
const READ_BUFFER = 256 * 1024;

/** Called for each PUBLISH received: payload is data[start, end). */
export type PublishHandler = (data: Buffer, start: number, end: number, qos: number, packetId: number) => void;

export interface PublishTemplate {
  /** fixed header + topic (+ room for the packet identifier) + payload */
  readonly bytes: Buffer;
  /** offset of the packet identifier, or -1 for QoS 0 */
  readonly packetIdAt: number;
  /** offset of the payload */
  readonly payloadAt: number;
}

/** A PUBLISH frame for `topic` with a payload of `payloadBytes`, to be patched per message. */
export function publishTemplate(topic: string, qos: 0 | 1, payloadBytes: number): PublishTemplate {
  const t = Buffer.from(topic, 'utf8');
  const remaining = 2 + t.length + (qos > 0 ? 2 : 0) + payloadBytes;
  const lenBytes: number[] = [];
  let n = remaining;
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    lenBytes.push(b);
  } while (n > 0);
  const bytes = Buffer.alloc(1 + lenBytes.length + remaining);
  let i = 0;
  bytes[i++] = (PUBLISH << 4) | (qos << 1);
  for (const b of lenBytes) bytes[i++] = b;
  bytes.writeUInt16BE(t.length, i);
  i += 2;
  t.copy(bytes, i);
  i += t.length;
  const packetIdAt = qos > 0 ? i : -1;
  if (qos > 0) i += 2;
  return { bytes, packetIdAt, payloadAt: i };
}

export class LeanMqttClient {
  onPublish: PublishHandler = () => undefined;
  onPuback: (packetId: number) => void = () => undefined;
  /** frames the client did not expect, and protocol failures */
  errors = 0;
  private slab = Buffer.allocUnsafe(SLAB);
  private used = 0;
  private pending: Buffer | undefined;
  private readonly parser = mqttPacket.parser({ protocolVersion: 4 });
  private readonly waiting: Array<(p: Packet) => void> = [];
  private closed = false;
  private readonly closedPromise: Promise<void>;

  private constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    this.parser.on('packet', (p: Packet) => {
      const w = this.waiting.shift();
      if (w) w(p);
      else this.errors++;
    });
    this.parser.on('error', () => this.errors++);
    socket.on('error', () => undefined);
    this.closedPromise = new Promise((resolve) =>
      socket.once('close', () => {
        this.closed = true;
        resolve();
      }),
    );
  }

  static async connect(port: number, clientId: string): Promise<LeanMqttClient> {
    // `onread`: libuv reads into one reused buffer and calls back directly, skipping the
    // readable-stream machinery and its per-chunk allocation ('data' is not emitted)
    const ref: { client?: LeanMqttClient } = {};
    const socket = net.connect({
      port,
      host: '127.0.0.1',
      onread: {
        buffer: Buffer.allocUnsafe(READ_BUFFER),
        callback: (nread: number, buf: Uint8Array): boolean => {
          ref.client?.onData(Buffer.from(buf.buffer, buf.byteOffset, nread));
          return true;
        },
      },
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const c = new LeanMqttClient(socket);
    ref.client = c;
    const connack = c.next();
    socket.write(
      mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean: true, keepalive: 60 }),
    );
    const p = await withTimeout(connack, 10_000, `CONNACK for ${clientId}`);
    if (p.cmd !== 'connack' || p.returnCode !== 0) throw new Error(`${clientId}: connection refused (${JSON.stringify(p)})`);
    return c;
  }

  async subscribe(topic: string, qos: 0 | 1): Promise<void> {
    const suback = this.next();
    this.socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos }] }));
    const p = await withTimeout(suback, 10_000, `SUBACK for ${topic}`);
    if (p.cmd !== 'suback' || p.granted.some((g) => typeof g !== 'number' || g >= 0x80)) {
      throw new Error(`subscribe ${topic} refused: ${JSON.stringify(p)}`);
    }
  }

  /**
   * Appends one PUBLISH from `t` to this turn's output and returns the offset of its
   * payload in `out()`, for the caller to fill in before `flush()`.
   */
  appendPublish(t: PublishTemplate, packetId: number): number {
    const len = t.bytes.length;
    if (this.used + len > this.slab.length) this.flush();
    const at = this.used;
    t.bytes.copy(this.slab, at);
    if (t.packetIdAt >= 0) this.slab.writeUInt16BE(packetId, at + t.packetIdAt);
    this.used += len;
    return at + t.payloadAt;
  }

  /** The buffer `appendPublish` offsets refer to (valid until the next flush). */
  out(): Buffer {
    return this.slab;
  }

  puback(packetId: number): void {
    if (this.used + 4 > this.slab.length) this.flush();
    const s = this.slab;
    const at = this.used;
    s[at] = PUBACK << 4;
    s[at + 1] = 2;
    s[at + 2] = packetId >> 8;
    s[at + 3] = packetId & 0xff;
    this.used += 4;
  }

  /** Writes what this turn appended, in one write. */
  flush(): void {
    if (this.used === 0 || this.closed) return;
    this.socket.write(this.slab.subarray(0, this.used));
    // the socket keeps a reference until the bytes are out: start a fresh slab
    this.slab = Buffer.allocUnsafe(SLAB);
    this.used = 0;
  }

  /** Bytes queued in user space, not yet accepted by the kernel. */
  get writableLength(): number {
    return this.socket.writableLength;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.flush();
    this.socket.end(mqttPacket.generate({ cmd: 'disconnect' }));
    const timer = setTimeout(() => this.socket.destroy(), 2000);
    await this.closedPromise;
    clearTimeout(timer);
  }

  private next(): Promise<Packet> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private onData(chunk: Buffer): void {
    let data = chunk;
    if (this.pending) {
      data = Buffer.concat([this.pending, chunk]);
      this.pending = undefined;
    }
    let i = 0;
    const n = data.length;
    while (i < n) {
      // fixed header: type/flags, then the remaining length (1-4 bytes, 7 bits each)
      if (i + 2 > n) break;
      const b0 = data[i]!;
      let len = 0;
      let mul = 1;
      let j = i + 1;
      let complete = false;
      for (let k = 0; k < 4 && j < n; k++) {
        const b = data[j++]!;
        len += (b & 0x7f) * mul;
        mul *= 128;
        if ((b & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete || j + len > n) break;
      const end = j + len;
      const type = b0 >> 4;
      if (type === PUBLISH) {
        const qos = (b0 >> 1) & 3;
        let p = j + 2 + ((data[j]! << 8) | data[j + 1]!);
        let id = 0;
        if (qos > 0) {
          id = (data[p]! << 8) | data[p + 1]!;
          p += 2;
        }
        this.onPublish(data, p, end, qos, id);
      } else if (type === PUBACK) {
        this.onPuback((data[j]! << 8) | data[j + 1]!);
      } else {
        // a copy: the read buffer is reused, and the codec may hold on to what it is given
        this.parser.parse(Buffer.from(data.subarray(i, end)));
      }
      i = end;
    }
    if (i < n) this.pending = Buffer.from(data.subarray(i));
    // acknowledgements appended by the handlers leave together, once per event-loop
    // turn: a broker that writes one packet per segment makes many small reads
    if (this.used > 0 && !this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.scheduledFlush);
    }
  }

  private flushScheduled = false;
  private readonly scheduledFlush = (): void => {
    this.flushScheduled = false;
    this.flush();
  };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
    }),
  ]);
}
