/**
 * A lean WAMP client for the load generator: just the messages the benchmarks need
 * (HELLO/WELCOME, SUBSCRIBE/EVENT, PUBLISH, REGISTER/INVOCATION/YIELD, CALL/RESULT,
 * GOODBYE), written for throughput rather than completeness.
 *
 * Why not autobahn or wampy: both wrap every message in promises, option objects and
 * argument checks, which would cost the generator more CPU than the router under test
 * spends; one generator process has to keep a router process busy on the other core.
 *
 * Throughput choices (the same for every router under test):
 * - sends are corked: everything sent in one event-loop turn (a batch of publishes,
 *   the YIELDs answering one read's worth of INVOCATIONs) leaves in one writev, not
 *   one write syscall per message;
 * - a zero WebSocket mask (ws's `generateMask`, documented for benchmarks) so frames
 *   are not XORed on either side, and no UTF-8 validation of received text frames;
 * - hot-path handlers are plain callbacks, not promises;
 * - with JSON, a subscriber may take EVENT frames raw (`rawEvents`) and pick out the
 *   few fields it needs itself, instead of JSON-parsing every one of them: at fan-out
 *   10 a full parse of each delivery is most of what the generator does.
 */
import type { Socket } from 'node:net';
import { Packr } from 'msgpackr';
import WebSocket from 'ws';

export type SerializerName = 'json' | 'msgpack';

// WAMP message codes (basic profile)
const HELLO = 1;
const WELCOME = 2;
const ABORT = 3;
const GOODBYE = 6;
const ERROR = 8;
const PUBLISH = 16;
const PUBLISHED = 17;
const SUBSCRIBE = 32;
const SUBSCRIBED = 33;
const EVENT = 36;
const CALL = 48;
const RESULT = 50;
const REGISTER = 64;
const REGISTERED = 65;
const INVOCATION = 68;
const YIELD = 70;

const CLIENT_ROLES = {
  publisher: { features: {} },
  subscriber: { features: {} },
  caller: { features: {} },
  callee: { features: {} },
};

export type EventHandler = (args: unknown[] | undefined) => void;
export type ResultHandler = (args: unknown[] | undefined) => void;
export type InvocationHandler = (args: unknown[] | undefined) => unknown[];

interface Pending {
  resolve(v: number): void;
  reject(e: Error): void;
}

export interface ConnectOptions {
  url: string;
  realm: string;
  serializer?: SerializerName;
}

export class WampClient {
  sessionId = 0;
  /** every message this client received or sent (any type) */
  received = 0;
  sent = 0;
  private nextRequest = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly calls = new Map<number, ResultHandler>();
  private readonly subscriptions = new Map<number, EventHandler>();
  private readonly registrations = new Map<number, InvocationHandler>();
  private readonly encode: (msg: unknown[]) => string | Buffer;
  private readonly decode: (data: Buffer) => unknown;
  private socket: Socket | undefined;
  private onWelcome: ((err?: Error) => void) | undefined;
  private closed = false;
  private corked = false;
  private readonly uncork = (): void => {
    this.corked = false;
    this.socket?.uncork();
  };
  /** protocol errors seen on the hot path (ERROR replies to CALL, undecodable input) */
  errors = 0;
  /**
   * JSON only: EVENT frames (text starting `[36,`) go here undecoded; returning false
   * sends the frame down the normal path (decode, subscription handler).
   */
  rawEvents: ((data: Buffer) => boolean) | undefined;
  private readonly json: boolean;

  private constructor(
    private readonly ws: WebSocket,
    serializer: SerializerName,
  ) {
    this.json = serializer === 'json';
    if (serializer === 'json') {
      this.encode = (msg) => JSON.stringify(msg);
      this.decode = (data) => JSON.parse(data.toString('utf8')) as unknown;
    } else {
      // plain msgpack, no record extension: what any WAMP peer can read
      const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });
      this.encode = (msg) => packr.pack(msg);
      this.decode = (data) => packr.unpack(data) as unknown;
    }
    ws.on('upgrade', (res) => {
      this.socket = res.socket;
    });
    ws.on('message', (data: Buffer) => this.onMessage(data));
    ws.on('close', () => {
      this.closed = true;
      const err = new Error('connection closed');
      this.onWelcome?.(err);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    });
    ws.on('error', (err) => this.onWelcome?.(err));
  }

  static connect(opts: ConnectOptions): Promise<WampClient> {
    const serializer = opts.serializer ?? 'json';
    const ws = new WebSocket(opts.url, [`wamp.2.${serializer}`], {
      perMessageDeflate: false,
      skipUTF8Validation: true,
      // a zero mask: ws then skips masking the payload (it is legal: the key is just 0)
      generateMask: () => undefined,
    });
    const client = new WampClient(ws, serializer);
    return new Promise<WampClient>((resolve, reject) => {
      client.onWelcome = (err) => {
        client.onWelcome = undefined;
        if (err) reject(err);
        else resolve(client);
      };
      ws.once('open', () => {
        client.send([HELLO, opts.realm, { roles: CLIENT_ROLES }]);
      });
    });
  }

  /** Bytes ws has accepted but the kernel has not yet taken. */
  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  subscribe(topic: string, handler: EventHandler, options: Record<string, unknown> = {}): Promise<number> {
    return this.request([SUBSCRIBE, 0, options, topic]).then((id) => {
      this.subscriptions.set(id, handler);
      return id;
    });
  }

  register(procedure: string, handler: InvocationHandler): Promise<number> {
    return this.request([REGISTER, 0, {}, procedure]).then((id) => {
      this.registrations.set(id, handler);
      return id;
    });
  }

  /** Fire-and-forget PUBLISH (no acknowledge: the benchmark counts what arrives). */
  publish(topic: string, args: unknown[]): void {
    this.send([PUBLISH, this.nextRequest++, {}, topic, args]);
  }

  /** PUBLISH with `acknowledge: true`: resolves with the publication id at PUBLISHED. */
  publishAcknowledged(topic: string, args: unknown[]): Promise<number> {
    return this.request([PUBLISH, 0, { acknowledge: true }, topic, args]);
  }

  call(procedure: string, args: unknown[], onResult: ResultHandler): void {
    const id = this.nextRequest++;
    this.calls.set(id, onResult);
    this.send([CALL, id, {}, procedure, args]);
  }

  get pendingCalls(): number {
    return this.calls.size;
  }

  /** GOODBYE, then wait for the socket to close (or give up after 1 s). */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.ws.terminate();
        resolve();
      }, 1000);
      this.ws.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      try {
        this.send([GOODBYE, {}, 'wamp.close.normal']);
      } catch {
        // already closing
      }
      this.ws.close(1000);
    });
  }

  private send(msg: unknown[]): void {
    this.sent++;
    if (!this.corked && this.socket) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(this.uncork);
    }
    this.ws.send(this.encode(msg));
  }

  private request(msg: unknown[]): Promise<number> {
    const id = this.nextRequest++;
    msg[1] = id;
    return new Promise<number>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.send(msg);
    });
  }

  private onMessage(data: Buffer): void {
    this.received++;
    // '[', '3', '6', ','
    if (
      this.rawEvents &&
      this.json &&
      data[0] === 0x5b &&
      data[1] === 0x33 &&
      data[2] === 0x36 &&
      data[3] === 0x2c &&
      this.rawEvents(data)
    )
      return;
    let msg: unknown;
    try {
      msg = this.decode(data);
    } catch {
      this.errors++;
      return;
    }
    if (!Array.isArray(msg)) {
      this.errors++;
      return;
    }
    const m = msg as unknown[];
    switch (m[0]) {
      case EVENT: {
        const h = this.subscriptions.get(m[1] as number);
        if (h) h(m[4] as unknown[] | undefined);
        return;
      }
      case RESULT: {
        const id = m[1] as number;
        const h = this.calls.get(id);
        if (h) {
          this.calls.delete(id);
          h(m[3] as unknown[] | undefined);
        }
        return;
      }
      case INVOCATION: {
        const h = this.registrations.get(m[2] as number);
        const out = h ? h(m[4] as unknown[] | undefined) : [];
        this.send([YIELD, m[1], {}, out]);
        return;
      }
      case SUBSCRIBED:
      case REGISTERED:
      case PUBLISHED: {
        const p = this.pending.get(m[1] as number);
        if (p) {
          this.pending.delete(m[1] as number);
          p.resolve(m[2] as number);
        }
        return;
      }
      case ERROR: {
        this.errors++;
        const id = m[2] as number;
        const p = this.pending.get(id);
        if (p) {
          this.pending.delete(id);
          p.reject(new Error(`WAMP error ${String(m[4])}`));
        }
        const c = this.calls.get(id);
        if (c) {
          this.calls.delete(id);
          c(undefined);
        }
        return;
      }
      case WELCOME:
        this.sessionId = m[1] as number;
        this.onWelcome?.();
        return;
      case ABORT:
        this.onWelcome?.(new Error(`ABORT ${String(m[2])}`));
        this.ws.close();
        return;
      case GOODBYE:
        this.ws.close(1000);
        return;
      default:
        return;
    }
  }
}
