/**
 * Hand-rolled WAMP peers for robustness tests: a `ws` WebSocket and a `net` socket
 * speaking RawSocket by hand, each encoding with msgpackr / cbor-x / JSON directly
 * (never the router's own serializer or framing modules), so a test can send bytes
 * and messages no well-behaved client library would.
 */
import net from 'node:net';
import http from 'node:http';
import tls from 'node:tls';
import { Packr } from 'msgpackr';
import { WebSocket, type RawData } from 'ws';
import { within } from './wait';

export { within } from './wait';
// cbor-x ships ESM typings only (see lib/wamp/serializers.ts); load its CJS build.
const cborx = require('cbor-x') as {
  Encoder: new (opts: Record<string, unknown>) => { encode(v: unknown): Buffer; decode(b: Buffer): unknown };
};

export type WireSerializer = 'json' | 'msgpack' | 'cbor';

// Session and request IDs go up to 2^53: read 64-bit integers as numbers.
const cbor = new cborx.Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: false, int64AsNumber: true });
const msgpack = new Packr({ useRecords: false, int64AsType: 'number' });

export const codecs: Record<
  WireSerializer,
  { rawSocketId: number; wsProtocol: string; binary: boolean; encode(v: unknown): Buffer; decode(b: Buffer): unknown }
> = {
  json: {
    rawSocketId: 1,
    wsProtocol: 'wamp.2.json',
    binary: false,
    encode: (v) => Buffer.from(JSON.stringify(v), 'utf8'),
    decode: (b) => JSON.parse(b.toString('utf8')) as unknown,
  },
  msgpack: {
    rawSocketId: 2,
    wsProtocol: 'wamp.2.msgpack',
    binary: true,
    encode: (v) => msgpack.pack(v),
    decode: (b) => msgpack.unpack(b) as unknown,
  },
  cbor: { rawSocketId: 3, wsProtocol: 'wamp.2.cbor', binary: true, encode: (v) => cbor.encode(v), decode: (b) => cbor.decode(b) },
};

export const HELLO_DETAILS = { roles: { publisher: {}, subscriber: {}, caller: {}, callee: {} } };

export interface CloseInfo {
  /** WebSocket close code (1006 when the TCP connection just dropped); undefined on RawSocket */
  code?: number;
  at: number;
}

export type TransportKind = 'websocket' | 'rawsocket';

export interface RawPeerOptions {
  /** RawSocket: answer the router's PINGs (default true) */
  answerPings?: boolean;
  /** WebSocket: answer the router's pings (default true); ws >= 8.16 */
  autoPong?: boolean;
  /** RawSocket: over TLS with these options (e.g. { ca, servername }) */
  tls?: tls.ConnectionOptions;
  /** connect from this source address (127.0.0.2, ...: Linux answers on all of 127.0.0.0/8) */
  localAddress?: string;
  /** WebSocket: extra headers on the upgrade request (e.g. X-Forwarded-For) */
  headers?: Record<string, string>;
  /** RawSocket: bytes written first, before TLS and the handshake (e.g. a PROXY protocol header) */
  preamble?: Buffer;
}

/**
 * One raw WAMP connection. Incoming messages are decoded and queued; next() takes the
 * oldest, or waits. Anything that cannot be decoded is queued as { undecodable }.
 */
export abstract class RawPeer {
  readonly received: unknown[] = [];
  private waiters: ((m: unknown) => void)[] = [];
  closedAt: number | undefined;
  readonly closed: Promise<CloseInfo>;
  protected resolveClosed!: (c: CloseInfo) => void;
  /** bytes of WAMP payload received (for flood tests) */
  bytesIn = 0;
  /** set by the test when it does not want messages queued (floods) */
  discard = false;
  /** liveness pings from the router (RawSocket PING frames, WebSocket pings) */
  pingsReceived = 0;

  constructor(
    readonly kind: TransportKind,
    readonly serializer: WireSerializer,
  ) {
    this.closed = new Promise<CloseInfo>((r) => (this.resolveClosed = r));
  }

  get label(): string {
    return `${this.kind}/${this.serializer}`;
  }

  get isClosed(): boolean {
    return this.closedAt !== undefined;
  }

  protected markClosed(code?: number): void {
    if (this.closedAt !== undefined) return;
    this.closedAt = Date.now();
    this.resolveClosed({ code, at: this.closedAt });
  }

  protected deliver(payload: Buffer): void {
    this.bytesIn += payload.length;
    if (this.discard) return;
    let msg: unknown;
    try {
      msg = codecs[this.serializer].decode(payload);
    } catch (err) {
      msg = { undecodable: (err as Error).message };
    }
    const w = this.waiters.shift();
    if (w) w(msg);
    else this.received.push(msg);
  }

  /** The next message from the router; rejects on timeout, or if the connection closes first. */
  next(ms = 2000, what = 'a message'): Promise<unknown> {
    if (this.received.length > 0) return Promise.resolve(this.received.shift());
    if (this.isClosed) return Promise.reject(new Error(`${this.label}: connection closed while waiting for ${what}`));
    let waiter: ((m: unknown) => void) | undefined;
    const forget = (): boolean => {
      const i = waiter ? this.waiters.indexOf(waiter) : -1;
      if (i >= 0) this.waiters.splice(i, 1);
      return i >= 0;
    };
    return within(
      new Promise<unknown>((resolve, reject) => {
        waiter = resolve;
        this.waiters.push(resolve);
        void this.closed.then(() => {
          if (forget()) reject(new Error(`${this.label}: connection closed while waiting for ${what}`));
        });
      }),
      ms,
      `${this.label}: waiting for ${what}`,
    ).finally(forget); // a timed-out wait must not swallow the next message
  }

  /** Sends one WAMP message encoded with this peer's serializer. */
  send(msg: unknown): void {
    this.sendPayload(codecs[this.serializer].encode(msg));
  }

  /** Sends bytes as one transport message (WebSocket message / RawSocket frame). */
  abstract sendPayload(payload: Buffer | string, opts?: { binary?: boolean }): void;

  /** Drops the connection from our side (cleanup). */
  abstract destroy(): void;

  /** Stops reading from the socket (a slow consumer). */
  abstract pauseReading(): void;
  abstract resumeReading(): void;

  /** HELLO -> WELCOME; returns the session id. */
  async hello(realm = 'realm1'): Promise<number> {
    this.send([1, realm, HELLO_DETAILS]);
    const m = await this.next(2000, 'WELCOME');
    if (!Array.isArray(m) || m[0] !== 2 || typeof m[1] !== 'number') {
      throw new Error(`${this.label}: expected WELCOME, got ${JSON.stringify(m)}`);
    }
    return m[1];
  }
}

// --------------------------------------------------------------------------------

export class WsPeer extends RawPeer {
  constructor(
    serializer: WireSerializer,
    readonly ws: WebSocket,
  ) {
    super('websocket', serializer);
    ws.on('message', (data: RawData) => this.deliver(Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[])));
    ws.on('close', (code: number) => this.markClosed(code));
    ws.on('error', () => undefined); // 'close' follows
    // ws answers first (autoPong) and emits 'ping' after
    ws.on('ping', () => this.pingsReceived++);
  }

  static async open(url: string, serializer: WireSerializer, opts: RawPeerOptions = {}): Promise<WsPeer> {
    const ws = new WebSocket(url, [codecs[serializer].wsProtocol], {
      autoPong: opts.autoPong ?? true,
      perMessageDeflate: false,
      ...(opts.headers ? { headers: opts.headers } : {}),
      ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
    });
    const peer = new WsPeer(serializer, ws);
    peers.add(peer);
    await within(
      new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
        ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode ?? '?'}`)));
      }),
      2000,
      `opening WebSocket ${serializer}`,
    );
    return peer;
  }

  sendPayload(payload: Buffer | string, opts: { binary?: boolean } = {}): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(payload, { binary: opts.binary ?? codecs[this.serializer].binary });
  }

  get socket(): net.Socket {
    return (this.ws as unknown as { _socket: net.Socket })._socket;
  }

  pauseReading(): void {
    this.socket.pause();
  }

  resumeReading(): void {
    this.socket.resume();
  }

  destroy(): void {
    this.ws.terminate();
    peers.delete(this);
  }
}

// --------------------------------------------------------------------------------

/**
 * A TCP connection with no framing of its own: bytes in, bytes out. The base of the
 * RawSocket peer, and used alone for handshake tests.
 */
export class TcpProbe {
  readonly socket: net.Socket;
  private buf: Buffer = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  closedAt: number | undefined;
  readonly closed: Promise<void>;
  readonly connected: Promise<void>;

  /**
   * `tlsOptions`: over TLS; `connected` then waits for the handshake. `from`: the source
   * address, and bytes written in clear before anything else (a PROXY protocol header).
   */
  constructor(
    port: number,
    onData?: (chunk: Buffer) => boolean,
    tlsOptions?: tls.ConnectionOptions,
    from: { localAddress?: string; preamble?: Buffer } = {},
  ) {
    if (tlsOptions && !from.preamble && !from.localAddress) this.socket = tls.connect({ port, host: '127.0.0.1', ...tlsOptions });
    else {
      const tcp = net.connect({ port, host: '127.0.0.1', ...(from.localAddress ? { localAddress: from.localAddress } : {}) });
      if (from.preamble) tcp.write(from.preamble);
      this.socket = tlsOptions ? tls.connect({ socket: tcp, ...tlsOptions }) : tcp;
    }
    this.socket.setNoDelay(true);
    this.connected = new Promise((resolve, reject) => {
      this.socket.once(tlsOptions ? 'secureConnect' : 'connect', resolve);
      this.socket.once('error', reject);
    });
    this.socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      this.socket.once('close', () => {
        this.closedAt = Date.now();
        resolve();
        this.wake?.();
      }),
    );
    this.socket.on('data', (chunk: Buffer) => {
      if (onData?.(chunk)) return;
      this.buf = Buffer.concat([this.buf, chunk]);
      this.wake?.();
    });
    probes.add(this);
  }

  get isClosed(): boolean {
    return this.closedAt !== undefined;
  }

  write(b: Buffer | number[]): void {
    if (!this.socket.destroyed) this.socket.write(Buffer.isBuffer(b) ? b : Buffer.from(b));
  }

  /** Bytes received so far and not yet taken. */
  get pending(): Buffer {
    return this.buf;
  }

  /** Waits for exactly n bytes and takes them; rejects on timeout or close. */
  async read(n: number, ms = 2000, what = `${n} bytes`): Promise<Buffer> {
    await within(
      new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (this.buf.length >= n) resolve();
          else if (this.isClosed) reject(new Error(`closed after ${this.buf.length} of ${n} bytes while reading ${what}`));
          else this.wake = check;
        };
        check();
      }),
      ms,
      `reading ${what}`,
    );
    this.wake = undefined;
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  destroy(): void {
    this.socket.destroy();
    probes.delete(this);
  }
}

/** RawSocket handshake octets: 0x7F, LLLL SSSS, 0, 0. */
export function handshakeBytes(serializerId: number, lengthExp = 15): Buffer {
  return Buffer.from([0x7f, (lengthExp << 4) | serializerId, 0, 0]);
}

export function frameHeader(type: number, length: number): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(length, 0);
  h[0] = (h[0] ?? 0) | type;
  return h;
}

export class RawSocketPeer extends RawPeer {
  readonly probe: TcpProbe;
  /** the maximum message length the router announced in its handshake reply */
  routerMaxBytes = 0;
  private answerPings: boolean;
  private acc: Buffer = Buffer.alloc(0);
  private handshaken = false;

  private constructor(port: number, serializer: WireSerializer, opts: RawPeerOptions) {
    super('rawsocket', serializer);
    this.answerPings = opts.answerPings ?? true;
    this.probe = new TcpProbe(
      port,
      (chunk) => {
        if (!this.handshaken) return false; // the probe buffers the handshake reply
        this.onFrames(chunk);
        return true;
      },
      opts.tls,
      { localAddress: opts.localAddress, preamble: opts.preamble },
    );
    void this.probe.closed.then(() => this.markClosed());
  }

  static async open(port: number, serializer: WireSerializer, opts: RawPeerOptions = {}): Promise<RawSocketPeer> {
    const peer = new RawSocketPeer(port, serializer, opts);
    peers.add(peer);
    await within(peer.probe.connected, 2000, 'RawSocket connect');
    peer.probe.write(handshakeBytes(codecs[serializer].rawSocketId));
    const reply = await peer.probe.read(4, 2000, 'RawSocket handshake reply');
    if (reply[0] !== 0x7f || ((reply[1] ?? 0) & 0x0f) !== codecs[serializer].rawSocketId) {
      throw new Error(`RawSocket handshake refused: ${reply.toString('hex')}`);
    }
    peer.routerMaxBytes = 2 ** (9 + ((reply[1] ?? 0) >> 4));
    peer.handshaken = true;
    const rest = peer.probe.pending;
    if (rest.length > 0) peer.onFrames(Buffer.from(rest));
    return peer;
  }

  private onFrames(chunk: Buffer): void {
    this.acc = this.acc.length === 0 ? chunk : Buffer.concat([this.acc, chunk]);
    while (this.acc.length >= 4) {
      const type = (this.acc[0] ?? 0) & 0x07;
      const len = this.acc.readUInt32BE(0) & 0xffffff;
      if (this.acc.length < 4 + len) return;
      const payload = this.acc.subarray(4, 4 + len);
      this.acc = this.acc.subarray(4 + len);
      if (type === 1) {
        this.pingsReceived++;
        if (this.answerPings) this.writeFrame(2, payload);
      } else if (type === 0) {
        this.deliver(payload);
      }
    }
  }

  writeFrame(type: number, payload: Buffer): void {
    this.probe.write(Buffer.concat([frameHeader(type, payload.length), payload]));
  }

  sendPayload(payload: Buffer | string): void {
    this.writeFrame(0, Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8'));
  }

  pauseReading(): void {
    this.probe.socket.pause();
  }

  resumeReading(): void {
    this.probe.socket.resume();
  }

  destroy(): void {
    this.probe.destroy();
    peers.delete(this);
  }
}

// --------------------------------------------------------------------------------

const peers = new Set<RawPeer>();
const probes = new Set<TcpProbe>();

/** Drops every raw connection still open (call from after()/afterEach()). */
export function destroyAllRawPeers(): void {
  for (const p of [...peers]) p.destroy();
  for (const p of [...probes]) p.destroy();
}

export interface AttackTransport {
  name: string;
  kind: TransportKind;
  serializer: WireSerializer;
  open(opts?: RawPeerOptions): Promise<RawPeer>;
}

/** The six transport x serializer combinations the router serves. */
export function rawTransports(wsUrl: string, rawSocketPort: number): AttackTransport[] {
  const out: AttackTransport[] = [];
  for (const serializer of ['json', 'msgpack', 'cbor'] as const) {
    out.push({ name: `websocket/${serializer}`, kind: 'websocket', serializer, open: (o) => WsPeer.open(wsUrl, serializer, o) });
  }
  for (const serializer of ['json', 'msgpack', 'cbor'] as const) {
    out.push({
      name: `rawsocket/${serializer}`,
      kind: 'rawsocket',
      serializer,
      open: (o) => RawSocketPeer.open(rawSocketPort, serializer, o),
    });
  }
  return out;
}

/** Asserts the next message is ABORT with `uri`, then that the connection closes. */
export async function expectAbortAndClose(peer: RawPeer, uri: string, ms = 2000): Promise<CloseInfo> {
  const m = await peer.next(ms, `ABORT ${uri}`);
  if (!Array.isArray(m) || m[0] !== 3 || m[2] !== uri) {
    throw new Error(`${peer.label}: expected ABORT ${uri}, got ${JSON.stringify(m)}`);
  }
  return within(peer.closed, ms, `${peer.label}: connection to close after ABORT`);
}

/**
 * The session is alive and well: a PUBLISH with acknowledge gets PUBLISHED. Any
 * message in between (an EVENT, say) fails the check.
 */
export async function expectSessionAlive(peer: RawPeer, request: number): Promise<void> {
  peer.send([16, request, { acknowledge: true }, 'robust.alive']);
  const m = await peer.next(2000, 'PUBLISHED');
  if (!Array.isArray(m) || m[0] !== 17 || m[1] !== request) {
    throw new Error(`${peer.label}: expected PUBLISHED for ${request}, got ${JSON.stringify(m)}`);
  }
}

/** A bare HTTP upgrade request; resolves with the status code the server answers. */
export function upgradeStatus(
  port: number,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  return within(
    new Promise((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1',
        port,
        path,
        agent: false,
        headers: {
          Connection: 'Upgrade',
          Upgrade: 'websocket',
          'Sec-WebSocket-Version': '13',
          'Sec-WebSocket-Key': Buffer.from('0123456789abcdef').toString('base64'),
          ...headers,
        },
      });
      req.on('upgrade', (res, socket) => {
        socket.destroy();
        resolve({ status: res.statusCode ?? 0, body: '' });
      });
      req.on('response', (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    }),
    2000,
    `HTTP upgrade ${path}`,
  );
}
