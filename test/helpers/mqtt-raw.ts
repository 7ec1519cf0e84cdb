/**
 * The raw MQTT client of the tests (conformance, robustness, QoS flows): a plain `net` socket, packets built with
 * mqtt-packet's `generate` for the chosen protocol version, or hand-crafted bytes for
 * what no codec would produce. What the server sends is framed here by hand (fixed
 * header + remaining length) so a test sees each packet's exact bytes (flags, DUP,
 * RETAIN, PUBREL's 0010) next to its decoded form, and when the connection closed.
 *
 * Every wait has a deadline and rejects with a message naming what it waited for;
 * every client opened here is tracked, and closeAllRaw() (in afterEach) destroys them.
 */
import net from 'node:net';
import mqttPacket, { type IConnackPacket, type IConnectPacket, type IPublishPacket, type Packet } from 'mqtt-packet';
import { expectQuiet, giveUpAfter, within } from './wait';

export { pace, within } from './wait';

export type MqttVersion = 3 | 4 | 5;

/** Default deadline for anything a test waits for. */
export const WAIT_MS = 2000;

/** A decoded packet with the fields a test reads of several packet types. */
export type AnyPacket = Packet & { messageId?: number; reasonCode?: number; properties?: Record<string, unknown> };

/** One packet from the server: decoded, its exact bytes, and when it arrived. */
export interface Received {
  readonly packet: Packet;
  readonly raw: Buffer;
  /** the first byte: packet type << 4 | flags */
  readonly header: number;
  readonly at: number;
}

// ----- hand-crafted bytes -----

/** MQTT Variable Byte Integer (the remaining length). */
export function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

/** A two-byte length followed by these bytes (an MQTT string or binary field). */
export function lengthPrefixed(bytes: Buffer | readonly number[]): number[] {
  const b = Buffer.from(bytes as readonly number[]);
  return [b.length >> 8, b.length & 0xff, ...b];
}

/** An MQTT UTF-8 string field of `s` (well-formed). */
export function str(s: string): number[] {
  return lengthPrefixed(Buffer.from(s, 'utf8'));
}

/** A whole packet: first byte, remaining length, body. */
export function frame(firstByte: number, body: readonly number[]): Buffer {
  return Buffer.from([firstByte, ...varint(body.length), ...body]);
}

/**
 * A CONNECT by hand, for what client libraries refuse to send (an empty client id with
 * clean session 0, a level 3 client, bad flags): `level` (default 4), `flags` (default
 * clean session) and the protocol name (default by level) are the caller's.
 */
export function connectBytes(opts: {
  clientId: string;
  level?: number;
  name?: string;
  flags?: number;
  keepAlive?: number;
  v5Props?: readonly number[];
}): Buffer {
  const level = opts.level ?? 4;
  const body = [
    ...str(opts.name ?? (level === 3 ? 'MQIsdp' : 'MQTT')),
    level,
    opts.flags ?? 0x02,
    (opts.keepAlive ?? 0) >> 8,
    (opts.keepAlive ?? 0) & 0xff,
    ...(level === 5 ? [...varint(opts.v5Props?.length ?? 0), ...(opts.v5Props ?? [])] : []),
    ...str(opts.clientId),
  ];
  return frame(0x10, body);
}

// ----- the client -----

const open = new Set<RawMqtt>();
/** every client since the last closeAllRaw(), closed or not */
const opened = new Set<RawMqtt>();

/**
 * Destroys every raw client still open and waits for their sockets to close; then fails
 * if the router sent any of them a packet the codec could not decode.
 */
export async function closeAllRaw(): Promise<void> {
  await Promise.all([...open].map((c) => c.destroy()));
  const bad = [...opened].filter((c) => c.decodeError !== undefined);
  opened.clear();
  if (bad.length > 0)
    throw new Error(`the router sent undecodable packets: ${bad.map((c) => c.decodeError?.message).join('; ')}`);
}

let nextClientId = 0;
/** A client identifier unique in this process, 23 characters at most of [0-9a-zA-Z]. */
export function clientId(tag: string): string {
  nextClientId++;
  return `${tag.replace(/[^0-9a-zA-Z]/g, '').slice(0, 14)}${process.pid % 1000}x${nextClientId}`.slice(0, 23);
}

export class RawMqtt {
  readonly received: Received[] = [];
  /** a decoding error of a server packet: the server sent something malformed */
  decodeError: Error | undefined;
  closedAt: number | undefined;
  /** when this side last wrote */
  lastWriteAt = 0;
  private readonly taken = new Set<Received>();
  private buffer: Buffer = Buffer.alloc(0);
  private readonly parser: ReturnType<typeof mqttPacket.parser>;
  private readonly waiters = new Set<() => void>();
  private readonly closed: Promise<void>;
  private nextId = 1;

  private constructor(
    private readonly socket: net.Socket,
    readonly version: MqttVersion,
  ) {
    this.parser = mqttPacket.parser({ protocolVersion: version });
    this.parser.on('error', (err: Error) => (this.decodeError ??= err));
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => undefined); // 'close' follows
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.closedAt = Date.now();
        open.delete(this);
        this.wake();
        resolve();
      }),
    );
  }

  /** A TCP connection to the router; nothing is sent yet. */
  static open(port: number, version: MqttVersion = 4): Promise<RawMqtt> {
    return within(
      new Promise<RawMqtt>((resolve, reject) => {
        const socket = net.connect({ port, host: '127.0.0.1' });
        const client = new RawMqtt(socket, version);
        open.add(client);
        opened.add(client);
        socket.once('connect', () => resolve(client));
        socket.once('error', reject);
      }),
      WAIT_MS,
      `a TCP connection to 127.0.0.1:${port}`,
    );
  }

  /** The same as open(), by the name tests of a bare socket use. */
  static socket(port: number, version: MqttVersion = 4): Promise<RawMqtt> {
    return RawMqtt.open(port, version);
  }

  /** Opens, sends CONNECT (clean, keep alive 0 unless given) and waits for CONNACK. */
  static async connect(
    port: number,
    version: MqttVersion,
    connect: Partial<IConnectPacket> = {},
  ): Promise<{ client: RawMqtt; connack: IConnackPacket }> {
    const client = await RawMqtt.open(port, version);
    const connack = await client.handshake(connect);
    return { client, connack };
  }

  /** Sends CONNECT and waits for CONNACK. */
  async handshake(connect: Partial<IConnectPacket> = {}): Promise<IConnackPacket> {
    this.send({
      cmd: 'connect',
      protocolId: this.version === 3 ? 'MQIsdp' : 'MQTT',
      protocolVersion: this.version,
      clean: true,
      keepalive: 0,
      clientId: clientId('c'),
      ...connect,
    });
    return (await this.take('connack')).packet as IConnackPacket;
  }

  /** A packet identifier for the next SUBSCRIBE, UNSUBSCRIBE or QoS > 0 PUBLISH. */
  id(): number {
    const id = this.nextId;
    this.nextId = id >= 65535 ? 1 : id + 1;
    return id;
  }

  get isClosed(): boolean {
    return this.closedAt !== undefined;
  }

  send(packet: Packet): void {
    this.write(mqttPacket.generate(packet, { protocolVersion: this.version }));
  }

  write(bytes: Buffer | readonly number[]): void {
    if (this.socket.destroyed) return;
    this.lastWriteAt = Date.now();
    this.socket.write(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes));
  }

  /**
   * The first packet received and not yet taken that matches (a command name or a
   * predicate); waits for one up to `ms`. Fails at once if the connection closes first.
   */
  async take(match: Packet['cmd'] | ((r: Received) => boolean), what?: string, ms = WAIT_MS): Promise<Received> {
    const pred = typeof match === 'string' ? (r: Received) => r.packet.cmd === match : match;
    const label = what ?? (typeof match === 'string' ? match.toUpperCase() : 'a matching packet');
    return new Promise<Received>((resolve, reject) => {
      const cancel = giveUpAfter(ms, () => {
        this.waiters.delete(check);
        reject(new Error(`timed out after ${ms} ms waiting for ${label}; received: ${this.summary()}`));
      });
      const check = (): void => {
        const found = this.received.find((r) => !this.taken.has(r) && pred(r));
        if (found) {
          this.taken.add(found);
        } else if (!this.isClosed) {
          return;
        }
        cancel();
        this.waiters.delete(check);
        if (found) resolve(found);
        else reject(new Error(`connection closed while waiting for ${label}; received: ${this.summary()}`));
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Every packet received, taken or not, in order. */
  get packets(): AnyPacket[] {
    return this.received.map((r) => r.packet);
  }

  /** Every PUBLISH received, in order. */
  publishes(): IPublishPacket[] {
    return this.received.map((r) => r.packet).filter((p): p is IPublishPacket => p.cmd === 'publish');
  }

  /** take() by the decoded packet: the first one not yet taken matching `pred`. */
  async expect(pred: (p: AnyPacket) => boolean, what: string, ms = WAIT_MS): Promise<AnyPacket> {
    return (await this.take((r) => pred(r.packet), what, ms)).packet;
  }

  /** SUBSCRIBE to one filter; resolves with the SUBACK. */
  async subscribe(
    filter: string,
    qos: 0 | 1 | 2,
    messageId = this.id(),
    extra: Record<string, unknown> = {},
  ): Promise<AnyPacket> {
    this.send({ cmd: 'subscribe', messageId, subscriptions: [{ topic: filter, qos, ...extra }] });
    return this.expect((p) => p.cmd === 'suback' && p.messageId === messageId, `SUBACK ${messageId}`);
  }

  /** Packets not yet taken that match, after waiting `ms` (for "nothing more came"). */
  async quiet(ms: number, match: Packet['cmd'] | ((r: Received) => boolean) = () => true): Promise<Received[]> {
    await expectQuiet(ms);
    const pred = typeof match === 'string' ? (r: Received) => r.packet.cmd === match : match;
    return this.received.filter((r) => !this.taken.has(r) && pred(r));
  }

  /** Waits for the server to close the connection; resolves with the time it closed. */
  async waitClosed(what: string, ms = WAIT_MS): Promise<number> {
    await within(this.closed, ms, () => `${what} (the server to close the connection); received: ${this.summary()}`);
    return this.closedAt ?? Date.now();
  }

  /** What arrived, for failure messages. */
  summary(): string {
    const parts = this.received.map((r) => {
      const p = r.packet as { cmd: string; reasonCode?: number; returnCode?: number; messageId?: number; topic?: string };
      const code = p.reasonCode ?? p.returnCode;
      return `${p.cmd}${p.messageId !== undefined ? `#${p.messageId}` : ''}${p.topic !== undefined ? `(${p.topic})` : ''}${code !== undefined ? `[0x${code.toString(16)}]` : ''}`;
    });
    return `[${parts.join(', ')}]${this.isClosed ? ' then closed' : ''}`;
  }

  /** Abrupt close (no DISCONNECT): the network failing, as far as the server can tell. */
  async destroy(): Promise<void> {
    this.socket.destroy();
    await this.closed;
  }

  /** DISCONNECT (reason 0 on v5 unless given) then close. */
  async disconnect(packet: Partial<Packet> = {}): Promise<void> {
    this.send({ cmd: 'disconnect', ...packet } as Packet);
    this.socket.end();
    await within(this.closed, WAIT_MS, 'the connection to close after DISCONNECT').catch(() => this.destroy());
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const total = packetLength(this.buffer);
      if (total === undefined || this.buffer.length < total) break;
      const raw = this.buffer.subarray(0, total);
      this.buffer = this.buffer.subarray(total);
      let decoded: Packet | undefined;
      const onPacket = (p: Packet): void => void (decoded = p);
      this.parser.once('packet', onPacket);
      this.parser.parse(Buffer.from(raw));
      this.parser.off('packet', onPacket);
      if (!decoded) continue;
      this.received.push({ packet: decoded, raw: Buffer.from(raw), header: raw[0] ?? 0, at: Date.now() });
    }
    this.wake();
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }
}

/** Bytes of the whole packet at the start of `buf`, or undefined while its header is incomplete. */
function packetLength(buf: Buffer): number | undefined {
  let value = 0;
  let mul = 1;
  for (let i = 1; i <= 4; i++) {
    const b = buf[i];
    if (b === undefined) return undefined;
    value += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) return 1 + i + value;
    mul *= 128;
  }
  return 1 + 4 + value;
}

// ----- small conveniences over RawMqtt -----

/** SUBSCRIBE and wait for the SUBACK with its packet identifier; returns the SUBACK. */
export async function subscribe(
  c: RawMqtt,
  subscriptions: readonly { topic: string; qos: 0 | 1 | 2; nl?: boolean; rap?: boolean; rh?: number }[],
  properties?: Record<string, unknown>,
): Promise<Received> {
  const messageId = c.id();
  c.send({ cmd: 'subscribe', messageId, subscriptions: [...subscriptions], ...(properties ? { properties } : {}) });
  return c.take((r) => r.packet.cmd === 'suback' && r.packet.messageId === messageId, `SUBACK #${messageId}`);
}

/** PUBLISH; for QoS 1/2 waits for the PUBACK/PUBREC and (QoS 2) completes with PUBREL/PUBCOMP. */
export async function publish(
  c: RawMqtt,
  topic: string,
  payload: string | Buffer,
  opts: { qos?: 0 | 1 | 2; retain?: boolean; dup?: boolean; properties?: Record<string, unknown> } = {},
): Promise<Received | undefined> {
  const qos = opts.qos ?? 0;
  const messageId = qos > 0 ? c.id() : undefined;
  c.send({
    cmd: 'publish',
    topic,
    payload,
    qos,
    retain: opts.retain ?? false,
    dup: opts.dup ?? false,
    ...(messageId !== undefined ? { messageId } : {}),
    ...(opts.properties ? { properties: opts.properties } : {}),
  });
  if (qos === 0) return undefined;
  const ack = await c.take(
    (r) => r.packet.cmd === (qos === 1 ? 'puback' : 'pubrec') && r.packet.messageId === messageId,
    `${qos === 1 ? 'PUBACK' : 'PUBREC'} #${messageId}`,
  );
  if (qos === 2) {
    c.send({ cmd: 'pubrel', messageId });
    await c.take((r) => r.packet.cmd === 'pubcomp' && r.packet.messageId === messageId, `PUBCOMP #${messageId}`);
  }
  return ack;
}

/** The next PUBLISH on `topic` (any topic when undefined). */
export function nextPublish(c: RawMqtt, topic?: string, ms = WAIT_MS): Promise<Received> {
  return c.take(
    (r) => r.packet.cmd === 'publish' && (topic === undefined || r.packet.topic === topic),
    `PUBLISH${topic !== undefined ? ` on ${topic}` : ''}`,
    ms,
  );
}

/** Payload of a received PUBLISH as text. */
export function text(r: Received): string {
  return r.packet.cmd === 'publish' ? Buffer.from(r.packet.payload).toString('utf8') : '';
}
