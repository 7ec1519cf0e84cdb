/**
 * Client-side helpers for the STOMP gate integration tests (test/gates/stomp/*.test.ts):
 * - @stomp/stompjs clients over WebSocket (`ws`) or raw TCP (@stomp/tcp-wrapper) that
 *   connect with a deadline and never reconnect, tracked so a file can end them all;
 * - an Inbox that collects MESSAGEs and waits with a deadline;
 * - a typed surface over stompit (no type declarations of its own);
 * - RawStomp: a hand-written client on a plain TCP (or TLS) socket for exact wire checks:
 *   it writes bytes as given (no escaping, no content-length unless asked) and parses what
 *   the router sends with its own small parser (header lines kept as written, escapes
 *   and all; bodies by content-length or up to NUL; heart-beat EOLs counted).
 */
import type { EventEmitter } from 'node:events';
import net from 'node:net';
import type { Duplex, Writable } from 'node:stream';
import tls from 'node:tls';
import WebSocket from 'ws';
import { pace, waitFor, withTimeout, WAIT_MS } from './mqtt-clients';
import { expectQuiet } from './wait';

// @stomp/stompjs declares its types as an ES module; its CommonJS build is loaded with
// require() and typed from those declarations
import type * as Stompjs from '@stomp/stompjs' with { 'resolution-mode': 'import' };
import type { Client as StompClient, IFrame, IMessage, StompConfig, StompHeaders } from '@stomp/stompjs' with {
  'resolution-mode': 'import',
};
export type { StompClient, IFrame, IMessage, StompConfig, StompHeaders };
export const { Client, Versions } = require('@stomp/stompjs') as typeof Stompjs;
// the CommonJS build of @stomp/tcp-wrapper has no type declarations
const { TCPWrapper } = require('@stomp/tcp-wrapper') as { TCPWrapper: new (host: string, port: number) => unknown };

export { pace, waitFor, withTimeout, WAIT_MS };

/** A promise awaited later: a rejection before that is not reported as unhandled. */
export function armed<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

// ---------------------------------------------------------------------------------
// @stomp/stompjs

/**
 * stompjs clients of one test file. `ws()` and `tcp()` resolve with CONNECTED (and
 * reject on ERROR, a close before CONNECTED, or the deadline); `closeAll()` deactivates
 * every client ever opened, each with a deadline.
 */
export class StompjsClients {
  private readonly clients: StompClient[] = [];

  async connect(factory: () => unknown, config: StompConfig = {}): Promise<{ client: StompClient; connected: IFrame }> {
    const client = new Client({
      webSocketFactory: factory,
      reconnectDelay: 0,
      heartbeatIncoming: 0,
      heartbeatOutgoing: 0,
      connectionTimeout: WAIT_MS,
      ...config,
    });
    this.clients.push(client);
    const userConnect = config.onConnect;
    const userError = config.onStompError;
    const userClose = config.onWebSocketClose;
    try {
      const connected = await withTimeout(
        new Promise<IFrame>((resolve, reject) => {
          client.onConnect = (f) => {
            client.onConnect = userConnect ?? (() => undefined);
            client.onStompError = userError ?? (() => undefined);
            client.onWebSocketClose = userClose ?? (() => undefined);
            resolve(f);
          };
          client.onStompError = (f) => reject(new Error(`ERROR ${f.headers['message'] ?? ''}: ${f.body}`));
          client.onWebSocketClose = () => reject(new Error('closed before CONNECTED'));
          client.activate();
        }),
        WAIT_MS,
        'STOMP CONNECTED',
      );
      return { client, connected };
    } catch (err) {
      await stop(client);
      throw err;
    }
  }

  /** STOMP over WebSocket (subprotocols as given, v12.stomp by default). */
  ws(
    url: string,
    config: StompConfig = {},
    protocols: string[] = ['v12.stomp'],
  ): Promise<{ client: StompClient; connected: IFrame }> {
    return this.connect(() => new WebSocket(url, protocols), config);
  }

  /** STOMP over TCP (@stomp/tcp-wrapper). */
  tcp(port: number, config: StompConfig = {}): Promise<{ client: StompClient; connected: IFrame }> {
    return this.connect(() => new TCPWrapper('127.0.0.1', port), config);
  }

  async closeAll(): Promise<void> {
    const all = this.clients.splice(0);
    await Promise.all(all.map(stop));
  }
}

/** Deactivates a stompjs client with a deadline; never rejects. */
export async function stop(client: StompClient): Promise<void> {
  await withTimeout(client.deactivate(), 2000, 'STOMP deactivate').catch(() => client.forceDisconnect());
}

/** Resolves when the client's transport closes. */
export function transportClosed(client: StompClient, what: string, ms = WAIT_MS): Promise<void> {
  return armed(
    withTimeout(
      new Promise<void>((resolve) => {
        const prev = client.onWebSocketClose;
        client.onWebSocketClose = (e) => {
          prev(e);
          resolve();
        };
      }),
      ms,
      what,
    ),
  );
}

/** Collects MESSAGEs (of one subscription, or unhandled ones) in arrival order. */
export class Inbox {
  readonly messages: IMessage[] = [];
  readonly push = (m: IMessage): void => {
    this.messages.push(m);
  };

  async count(n: number, what: string, ms = WAIT_MS): Promise<IMessage[]> {
    await waitFor(() => this.messages.length >= n, `${what} (${n} messages, got ${this.messages.length})`, ms);
    return this.messages.slice(0, n);
  }

  /** Waits `ms`, then fails if more than `n` messages arrived. */
  async quiet(n: number, ms: number, what: string): Promise<void> {
    await expectQuiet(ms);
    if (this.messages.length > n) {
      throw new Error(
        `${what}: expected ${n} messages, got ${this.messages.length} (extra: ${this.bodies().slice(n).join(', ')})`,
      );
    }
  }

  bodies(): string[] {
    return this.messages.map((m) => m.body);
  }
}

let receipts = 0;
function nextReceipt(): string {
  return `r-${process.pid}-${++receipts}`;
}

/**
 * Sends a frame built by `send(receiptId)` (which must put the id in a `receipt` header)
 * and resolves with the RECEIPT.
 */
export function withReceipt(client: StompClient, what: string, send: (receipt: string) => void): Promise<IFrame> {
  const id = nextReceipt();
  const got = new Promise<IFrame>((resolve) => client.watchForReceipt(id, resolve));
  send(id);
  return withTimeout(got, WAIT_MS, `RECEIPT for ${what}`);
}

/** SEND with a receipt; resolves when the RECEIPT arrives. */
export function sendWithReceipt(
  client: StompClient,
  destination: string,
  body: string,
  headers: StompHeaders = {},
): Promise<IFrame> {
  return withReceipt(client, `SEND to ${destination}`, (receipt) =>
    client.publish({ destination, body, headers: { ...headers, receipt } }),
  );
}

/** SUBSCRIBE with a receipt: resolves once the router has the subscription. */
export async function subscribeConfirmed(
  client: StompClient,
  destination: string,
  inbox: Inbox | ((m: IMessage) => void),
  headers: StompHeaders = {},
): Promise<void> {
  const cb = inbox instanceof Inbox ? inbox.push : inbox;
  await withReceipt(client, `SUBSCRIBE to ${destination}`, (receipt) =>
    client.subscribe(destination, cb, { ...headers, receipt }),
  );
}

// ---------------------------------------------------------------------------------
// stompit (no type declarations: this is the surface the tests use)

export interface StompitMessage extends NodeJS.ReadableStream {
  readonly headers: Record<string, string>;
  readString(encoding: string, callback: (err: Error | null, body?: string) => void): void;
}

export interface StompitSubscription {
  unsubscribe(headers?: Record<string, string>): void;
}

export interface StompitTransaction {
  send(headers: Record<string, string>): Writable;
  commit(): void;
  abort(): void;
}

export interface StompitClient extends EventEmitter {
  /** the CONNECTED frame's headers */
  headers: Record<string, string>;
  send(headers: Record<string, string>, options?: { onReceipt?: () => void; onError?: (err: Error) => void }): Writable;
  subscribe(headers: Record<string, string>, listener: (err: Error | null, message: StompitMessage) => void): StompitSubscription;
  ack(message: StompitMessage): void;
  nack(message: StompitMessage): void;
  begin(headers?: Record<string, string>): StompitTransaction;
  disconnect(callback?: (err: Error | null) => void): void;
  destroy(err?: Error): void;
}

export interface StompitConnectOptions {
  host?: string;
  port: number;
  timeout?: number;
  ssl?: boolean;
  ca?: Buffer;
  servername?: string;
  rejectUnauthorized?: boolean;
  connectHeaders?: Record<string, string>;
  /** the source address of the TCP connection */
  localAddress?: string;
  /** opens the transport instead of net.connect / tls.connect (e.g. to write a PROXY header first) */
  connect?: (options: StompitConnectOptions, onConnected: () => void) => Duplex;
}

export const stompit = require('stompit') as {
  connect(options: StompitConnectOptions, callback: (err: Error | null, client: StompitClient) => void): StompitClient;
};

/** stompit connect with a deadline; rejects with the client's error. */
export function stompitConnect(options: StompitConnectOptions): Promise<StompitClient> {
  let client: StompitClient | undefined;
  return withTimeout(
    new Promise<StompitClient>((resolve, reject) => {
      client = stompit.connect({ host: '127.0.0.1', timeout: WAIT_MS, ...options }, (err, c) => (err ? reject(err) : resolve(c)));
      // errors after connecting are the test's business
      client.on('error', () => undefined);
    }),
    WAIT_MS,
    'stompit CONNECTED',
  ).catch((err: unknown) => {
    client?.destroy();
    throw err;
  });
}

/** stompit graceful DISCONNECT (waits for its RECEIPT) with a deadline; destroys on failure. */
export async function stompitDisconnect(client: StompitClient): Promise<void> {
  await withTimeout(
    new Promise<void>((resolve, reject) => client.disconnect((err) => (err ? reject(err) : resolve()))),
    WAIT_MS,
    'stompit DISCONNECT receipt',
  ).catch((err: unknown) => {
    client.destroy();
    throw err;
  });
}

export function stompitRead(message: StompitMessage): Promise<string> {
  return withTimeout(
    new Promise<string>((resolve, reject) =>
      message.readString('utf-8', (err, body) => (err ? reject(err) : resolve(body ?? ''))),
    ),
    WAIT_MS,
    'stompit message body',
  );
}

// ---------------------------------------------------------------------------------
// a raw STOMP client

export interface RawFrame {
  command: string;
  /** header lines as received, split at the first colon: NOT unescaped */
  headers: [string, string][];
  body: Buffer;
}

/** The first value of a header as received (STOMP 1.2 §Repeated Header Entries). */
export function rawHeader(frame: RawFrame, name: string): string | undefined {
  for (const [n, v] of frame.headers) if (n === name) return v;
  return undefined;
}

export type RawHeaders = [string, string][] | Record<string, string>;

/** A frame's bytes, written exactly as given: header text is not escaped; `eol` per line. */
export function frameBytes(command: string, headers: RawHeaders = [], body: string | Buffer = '', eol = '\n'): Buffer {
  const list = Array.isArray(headers) ? headers : Object.entries(headers);
  const head = command + eol + list.map(([n, v]) => `${n}:${v}${eol}`).join('') + eol;
  return Buffer.concat([
    Buffer.from(head, 'utf8'),
    typeof body === 'string' ? Buffer.from(body, 'utf8') : body,
    Buffer.from([0]),
  ]);
}

/**
 * STOMP over a plain TCP (or TLS) socket. Every frame the router sends is kept; `expect`
 * returns the first one not yet taken that matches, waiting with a deadline.
 */
export class RawStomp {
  readonly frames: RawFrame[] = [];
  /** arrival times (ms since epoch) of heart-beat EOLs between frames */
  readonly heartbeats: number[] = [];
  readonly closed: Promise<void>;
  isClosed = false;
  closedAt = 0;
  /** what this client's parser could not read (a bug of the router's framing) */
  parseError: string | undefined;
  private buf: Buffer = Buffer.alloc(0);
  private readonly taken = new Set<RawFrame>();
  private waiters: { pred: (f: RawFrame) => boolean; resolve: (f: RawFrame) => void }[] = [];

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.isClosed = true;
        this.closedAt = Date.now();
        resolve();
      }),
    );
  }

  /** Opens the socket only (no CONNECT). With `tls`, a TLS connection trusting `ca`. */
  static async open(port: number, opts: { tls?: { ca: Buffer } } = {}): Promise<RawStomp> {
    const socket = opts.tls ? tls.connect({ port, host: '127.0.0.1', ca: opts.tls.ca }) : net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    const ready = opts.tls ? 'secureConnect' : 'connect';
    try {
      await withTimeout(
        new Promise<void>((resolve, reject) => {
          socket.once(ready, () => resolve());
          socket.once('error', reject);
        }),
        WAIT_MS,
        `${opts.tls ? 'TLS' : 'TCP'} connect`,
      );
    } catch (err) {
      socket.destroy();
      throw err;
    }
    return new RawStomp(socket);
  }

  /** Opens, sends CONNECT (or STOMP) with `headers`, resolves with CONNECTED. */
  static async connect(
    port: number,
    headers: RawHeaders = { 'accept-version': '1.2', host: 'localhost' },
    command: 'CONNECT' | 'STOMP' = 'CONNECT',
  ): Promise<{ raw: RawStomp; connected: RawFrame }> {
    const raw = await RawStomp.open(port);
    try {
      raw.send(command, headers);
      const connected = await raw.next('CONNECTED');
      if (connected.command !== 'CONNECTED') {
        throw new Error(
          `expected CONNECTED, got ${connected.command} ${JSON.stringify(connected.headers)} ${connected.body.toString()}`,
        );
      }
      return { raw, connected };
    } catch (err) {
      raw.destroy();
      throw err;
    }
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    while (this.parseError === undefined) {
      const b = this.buf;
      if (b.length === 0) return;
      // EOLs between frames are heart-beats (STOMP 1.2 §Heart-beating)
      if (b[0] === 0x0a) {
        this.heartbeats.push(Date.now());
        this.buf = b.subarray(1);
        continue;
      }
      if (b[0] === 0x0d && b[1] === 0x0a) {
        this.heartbeats.push(Date.now());
        this.buf = b.subarray(2);
        continue;
      }
      const headEnd = b.indexOf('\n\n');
      if (headEnd < 0) return;
      const lines = b.toString('utf8', 0, headEnd).split('\n');
      const command = lines.shift() ?? '';
      const headers: [string, string][] = lines.map((l) => {
        const colon = l.indexOf(':');
        return colon < 0 ? [l, ''] : [l.slice(0, colon), l.slice(colon + 1)];
      });
      const start = headEnd + 2;
      const cl = headers.find(([n]) => n === 'content-length')?.[1];
      let end: number;
      if (cl !== undefined) {
        end = start + Number(cl);
        if (!Number.isSafeInteger(end)) {
          this.parseError = `bad content-length ${cl}`;
          return;
        }
        if (b.length < end + 1) return;
        if (b[end] !== 0) {
          this.parseError = `no NUL after a content-length ${cl} body`;
          return;
        }
      } else {
        end = b.indexOf(0, start);
        if (end < 0) return;
      }
      const frame: RawFrame = { command, headers, body: Buffer.from(b.subarray(start, end)) };
      this.buf = b.subarray(end + 1);
      this.onFrame(frame);
    }
  }

  private onFrame(f: RawFrame): void {
    this.frames.push(f);
    for (const w of this.waiters) {
      if (w.pred(f)) {
        this.taken.add(f);
        this.waiters = this.waiters.filter((x) => x !== w);
        w.resolve(f);
        return;
      }
    }
  }

  /** Writes a frame (see frameBytes). */
  send(command: string, headers: RawHeaders = [], body: string | Buffer = '', eol = '\n'): void {
    this.socket.write(frameBytes(command, headers, body, eol));
  }

  write(bytes: string | Buffer): void {
    this.socket.write(bytes);
  }

  /** The first frame not yet taken that matches (a command name, or a predicate). */
  expect(match: string | ((f: RawFrame) => boolean), what: string, ms = WAIT_MS): Promise<RawFrame> {
    const pred = typeof match === 'string' ? (f: RawFrame) => f.command === match : match;
    const found = this.frames.find((f) => !this.taken.has(f) && pred(f));
    if (found) {
      this.taken.add(found);
      return Promise.resolve(found);
    }
    let waiter: { pred: (f: RawFrame) => boolean; resolve: (f: RawFrame) => void } | undefined;
    return withTimeout(
      new Promise<RawFrame>((resolve) => {
        waiter = { pred, resolve };
        this.waiters.push(waiter);
      }),
      ms,
      `${what}${this.parseError ? ` (client parse error: ${this.parseError})` : ''}`,
    ).catch((err: unknown) => {
      this.waiters = this.waiters.filter((x) => x !== waiter);
      throw err;
    });
  }

  /** The next frame not yet taken, whatever it is. */
  next(what: string, ms = WAIT_MS): Promise<RawFrame> {
    return this.expect(() => true, what, ms);
  }

  /** The RECEIPT for `id`; fails at once, showing it, if an ERROR comes instead. */
  async receipt(id: string, ms = WAIT_MS): Promise<RawFrame> {
    const f = await this.expect(
      (x) => (x.command === 'RECEIPT' && rawHeader(x, 'receipt-id') === id) || x.command === 'ERROR',
      `RECEIPT ${id}`,
      ms,
    );
    if (f.command === 'ERROR')
      throw new Error(`ERROR instead of RECEIPT ${id}: ${rawHeader(f, 'message') ?? ''} ${f.body.toString()}`);
    return f;
  }

  /** Sends a frame with a `receipt` header and waits for its RECEIPT. */
  async request(
    command: string,
    headers: [string, string][] | Record<string, string>,
    body: string | Buffer = '',
  ): Promise<RawFrame> {
    const id = `raw-${++receipts}`;
    const list = Array.isArray(headers) ? headers : Object.entries(headers);
    this.send(command, [...list, ['receipt', id]], body);
    return this.receipt(id);
  }

  /** Untaken frames of a command, in order (without taking them). */
  pending(command: string): RawFrame[] {
    return this.frames.filter((f) => !this.taken.has(f) && f.command === command);
  }

  /** Waits `ms`; fails if an untaken frame of `command` arrived meanwhile. */
  async quiet(command: string, ms: number, what: string): Promise<void> {
    await expectQuiet(ms);
    const extra = this.pending(command);
    if (extra.length > 0) throw new Error(`${what}: unexpected ${command} ${extra.map((f) => f.body.toString()).join(', ')}`);
  }

  waitClosed(what: string, ms = WAIT_MS): Promise<void> {
    return withTimeout(this.closed, ms, what);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Raw clients of one test file, destroyed together. */
export class RawClients {
  private readonly all: RawStomp[] = [];

  add(raw: RawStomp): RawStomp {
    this.all.push(raw);
    return raw;
  }

  async open(port: number): Promise<RawStomp> {
    return this.add(await RawStomp.open(port));
  }

  async connect(
    port: number,
    headers?: RawHeaders,
    command?: 'CONNECT' | 'STOMP',
  ): Promise<{ raw: RawStomp; connected: RawFrame }> {
    const r = await RawStomp.connect(port, headers, command);
    this.add(r.raw);
    return r;
  }

  closeAll(): void {
    for (const r of this.all.splice(0)) r.destroy();
  }
}
