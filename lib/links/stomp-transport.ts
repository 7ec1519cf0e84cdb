import net from 'node:net';
import tls from 'node:tls';
// The router's own STOMP codec: pure byte logic, fuzzed and property-tested at the gate,
// and the same on both ends of a Gatehouse-to-Gatehouse link. It is the one import of a
// gate from lib/; the codec would move to lib/ if a second user appeared.
import { StompFrameParser } from '../stomp/frame-parser';
import { encodeFrame } from '../stomp/frame-writer';
import { header, type StompFrame, type StompVersion } from '../stomp/frame';
import { Errors, RouterError, type ErrorDef } from '../errors';
import { canonicalToStompTopic } from '../notation';
import { peerAddress, peerTlsOptions } from './peer-tls';
import { linkPatternToStompDestination } from './peer-topics';
import { messageOf, sendOf } from './stomp-headers';
import type { LinkMessage, LinkTransport, LinkTransportOptions } from './transport';

/**
 * A link to a STOMP server (RabbitMQ, ActiveMQ, another Gatehouse): stomp:// or
 * stomps://. Every SEND asks for a receipt and counts as delivered on its RECEIPT
 * (STOMP 1.2 §Header receipt; a Gatehouse peer receipts a SEND once it is durable, as
 * swpt_stomp's peers do). Destinations are `/topic/<canonical topic>`; the realm at the
 * peer is the CONNECT `host` header (RabbitMQ's virtual host). Over stomps:// the
 * peer's certificate is verified and a client certificate can name this router.
 *
 * A small client rather than @stomp/stompjs: stompjs speaks to a WebSocket-like object
 * (TCP needs @stomp/tcp-wrapper, which has no TLS), reconnects on its own, and reports
 * receipts by callback per id; here the link owns reconnects and each send() is one
 * promise. The transport never reconnects: when the connection drops (an ERROR frame
 * closes it too, STOMP 1.2 §ERROR), everything in flight fails and onClose fires once;
 * connect() may be called again and subscribes again to what was subscribed before.
 */

const LIMITS = { maxHeaders: 1000, maxHeaderLineBytes: 64 * 1024, maxBodyBytes: 64 * 1024 * 1024 };
/** STOMP 1.2 §Heart-beating: what we offer to send and ask to receive, in ms, by default */
const HEARTBEAT_MS = 10_000;

export interface StompTransportOptions {
  /** heart-beat period offered and asked for (default 10 s; 0: none) */
  heartbeatMs?: number;
}
/** a peer silent for this many of its heart-beat periods is gone */
const HEARTBEAT_GRACE = 2;

interface Waiting {
  resolve(): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

interface Connection {
  socket: net.Socket;
  parser: StompFrameParser;
  version: StompVersion;
  heartbeat?: NodeJS.Timeout;
  lastHeard: number;
}

export class StompLinkTransport implements LinkTransport {
  onMessage: ((message: LinkMessage) => void) | undefined;
  onClose: ((reason: string) => void) | undefined;

  private conn: Connection | undefined;
  private readonly url: URL;
  private readonly receipts = new Map<string, Waiting>();
  /** link pattern -> subscription id at the peer */
  private readonly subscriptions = new Map<string, string>();
  private nextId = 0;
  /** connect() has not settled: a loss then is its rejection, not onClose */
  private connecting = false;

  private readonly heartbeatMs: number;

  constructor(
    private readonly options: LinkTransportOptions,
    stompOptions: StompTransportOptions = {},
  ) {
    this.heartbeatMs = stompOptions.heartbeatMs ?? HEARTBEAT_MS;
    this.url = new URL(options.url);
    if (this.url.protocol !== 'stomp:' && this.url.protocol !== 'stomps:') {
      throw new RouterError(Errors.invalidArgument, `not a STOMP url: ${options.url}`);
    }
  }

  async connect(): Promise<void> {
    if (this.conn !== undefined) throw new RouterError(Errors.invalidArgument, 'already connected');
    this.connecting = true;
    try {
      const conn = await this.open();
      try {
        for (const [pattern, id] of this.subscriptions) await this.request(conn, 'SUBSCRIBE', subscribeHeaders(pattern, id));
      } catch (err) {
        this.lost(conn, 'resubscribe failed');
        throw err;
      }
      // (lost() may have run during the awaits: TypeScript cannot see that, microsoft/TypeScript#9998)
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
      if (this.conn !== conn) throw new RouterError(Errors.unavailable, 'connection lost while subscribing');
    } finally {
      this.connecting = false;
    }
  }

  send(message: LinkMessage): Promise<void> {
    const conn = this.conn;
    if (conn === undefined) return Promise.reject(new RouterError(Errors.unavailable, 'link is down'));
    const destination = canonicalToStompTopic(message.topic);
    if (destination === null) return Promise.reject(new RouterError(Errors.invalidUri, `STOMP cannot name ${message.topic}`));
    const { headers, body } = sendOf(message);
    return this.request(conn, 'SEND', [['destination', destination], ...headers], body);
  }

  async subscribe(pattern: string): Promise<void> {
    if (this.subscriptions.has(pattern)) return;
    const conn = this.conn;
    if (conn === undefined) throw new RouterError(Errors.unavailable, 'link is down');
    const id = `link-${++this.nextId}`;
    await this.request(conn, 'SUBSCRIBE', subscribeHeaders(pattern, id));
    this.subscriptions.set(pattern, id);
  }

  async unsubscribe(pattern: string): Promise<void> {
    const id = this.subscriptions.get(pattern);
    if (id === undefined) return;
    this.subscriptions.delete(pattern);
    const conn = this.conn;
    if (conn !== undefined) await this.request(conn, 'UNSUBSCRIBE', [['id', id]]);
  }

  close(): Promise<void> {
    const conn = this.conn;
    this.conn = undefined;
    this.failAll(new RouterError(Errors.unavailable, 'link closed'));
    if (conn === undefined) return Promise.resolve();
    clearInterval(conn.heartbeat);
    conn.parser.stop();
    if (conn.socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      conn.socket.once('close', () => {
        resolve();
      });
      // STOMP 1.2 §DISCONNECT: without a receipt, nothing is waited for
      conn.socket.end(encodeFrame({ command: 'DISCONNECT', headers: [], body: Buffer.alloc(0) }, conn.version));
      conn.socket.destroySoon();
    });
  }

  private open(): Promise<Connection> {
    const secure = this.url.protocol === 'stomps:';
    const { host, port } = peerAddress(this.url, secure ? 61614 : 61613);
    const connectFrame: StompFrame = {
      command: 'CONNECT',
      headers: [
        ['accept-version', '1.2'],
        ['host', this.options.remoteRealm],
        ['heart-beat', `${this.heartbeatMs},${this.heartbeatMs}`],
        ...(this.options.auth?.user === undefined ? [] : [['login', this.options.auth.user] as [string, string]]),
        ...(this.options.auth?.password === undefined ? [] : [['passcode', this.options.auth.password] as [string, string]]),
      ],
      body: Buffer.alloc(0),
    };
    const bytes = encodeFrame(connectFrame, '1.2'); // throws on an LF in a credential: a config error
    return new Promise((resolve, reject) => {
      const socket: net.Socket = secure
        ? tls.connect({ host, port, ...peerTlsOptions(host, this.options.tls) })
        : net.connect({ host, port });
      socket.setNoDelay(true);
      let settled = false;
      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        reject(err instanceof RouterError ? err : new RouterError(Errors.unavailable, err.message));
      };
      // unavailable: the link takes any failed connect as a lost peer, reconnects and logs it
      const timer = setTimeout(() => {
        fail(new RouterError(Errors.unavailable, `no CONNECTED within ${this.options.timeoutMs} ms`));
      }, this.options.timeoutMs);
      const conn: Connection = {
        socket,
        version: '1.2',
        lastHeard: Date.now(),
        parser: new StompFrameParser(LIMITS, {
          onFrame: (frame) => {
            conn.lastHeard = Date.now();
            if (settled) {
              this.frame(conn, frame);
            } else if (frame.command === 'CONNECTED') {
              settled = true;
              clearTimeout(timer);
              conn.version = header(frame, 'version') === '1.1' ? '1.1' : '1.2';
              conn.parser.version = conn.version;
              this.startHeartbeat(conn, header(frame, 'heart-beat'));
              // in the same turn as CONNECTED: an ERROR in the same read is not missed
              this.conn = conn;
              resolve(conn);
            } else {
              fail(errorOf(frame));
            }
          },
          onHeartbeat: () => (conn.lastHeard = Date.now()),
          onError: (err) => {
            if (settled) this.lost(conn, `bad frame from the peer: ${err.message}`);
            else fail(err);
          },
        }),
      };
      socket.on('data', (chunk: Buffer) => {
        conn.parser.push(chunk);
      });
      socket.once(secure ? 'secureConnect' : 'connect', () => socket.write(bytes));
      socket.on('error', (err: Error) => {
        if (settled) this.lost(conn, err.message);
        else fail(err);
      });
      socket.on('close', () => {
        if (settled) this.lost(conn, 'connection closed');
        else fail(new RouterError(Errors.unavailable, 'connection closed before CONNECTED'));
      });
    });
  }

  /** STOMP 1.2 §Heart-beating: each side sends at the slower of what one offers and the other asks. */
  private startHeartbeat(conn: Connection, theirs: string | undefined): void {
    const [sx = 0, sy = 0] = (theirs ?? '0,0').split(',').map(Number);
    const ours = this.heartbeatMs;
    const sendEvery = ours > 0 && sy > 0 ? Math.max(ours, sy) : 0;
    const hearEvery = ours > 0 && sx > 0 ? Math.max(ours, sx) : 0;
    if (sendEvery === 0 && hearEvery === 0) return;
    const tick = Math.min(...[sendEvery, hearEvery].filter((n) => n > 0));
    let lastSent = Date.now();
    conn.heartbeat = setInterval(() => {
      const now = Date.now();
      if (hearEvery > 0 && now - conn.lastHeard > HEARTBEAT_GRACE * hearEvery) {
        this.lost(conn, 'the peer stopped sending heart-beats');
        return;
      }
      if (sendEvery > 0 && now - lastSent >= sendEvery) {
        conn.socket.write('\n');
        lastSent = now;
      }
    }, tick);
    conn.heartbeat.unref();
  }

  private frame(conn: Connection, frame: StompFrame): void {
    switch (frame.command) {
      case 'RECEIPT': {
        const id = header(frame, 'receipt-id') ?? '';
        const waiting = this.receipts.get(id);
        if (waiting === undefined) return;
        this.receipts.delete(id);
        clearTimeout(waiting.timer);
        waiting.resolve();
        return;
      }
      case 'MESSAGE': {
        const message = messageOf(frame.headers, frame.body);
        if (message !== null) this.onMessage?.(message);
        return;
      }
      case 'ERROR': {
        // STOMP 1.2 §ERROR: the server closes the connection after it; the request it
        // names (receipt-id) fails with its reason, the rest as unavailable
        const err = errorOf(frame);
        const id = header(frame, 'receipt-id');
        const waiting = id === undefined ? undefined : this.receipts.get(id);
        if (waiting !== undefined && id !== undefined) {
          this.receipts.delete(id);
          clearTimeout(waiting.timer);
          waiting.reject(err);
        }
        this.lost(conn, `ERROR from the peer: ${err.message}`, err);
        return;
      }
      default:
        // CONNECTED again, or a client command: not a server we can talk to
        this.lost(conn, `unexpected ${frame.command} from the peer`);
    }
  }

  /** Writes a frame with a receipt; settles on its RECEIPT, fails after timeoutMs and drops the connection. */
  private request(conn: Connection, command: string, headers: [string, string][], body: Buffer = Buffer.alloc(0)): Promise<void> {
    const receipt = `r${++this.nextId}`;
    let bytes: Buffer;
    try {
      bytes = encodeFrame({ command, headers: [...headers, ['receipt', receipt]], body }, conn.version);
    } catch (err) {
      return Promise.reject(new RouterError(Errors.invalidArgument, (err as Error).message));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.receipts.delete(receipt);
        reject(new RouterError(Errors.timeout, `no RECEIPT within ${this.options.timeoutMs} ms`));
        // a peer that stops receipting is as good as gone: let the link reconnect
        this.lost(conn, 'receipt timed out');
      }, this.options.timeoutMs);
      this.receipts.set(receipt, { resolve, reject, timer });
      conn.socket.write(bytes);
    });
  }

  private lost(conn: Connection, reason: string, cause?: RouterError): void {
    if (this.conn !== conn) return; // an old connection, or closed by us
    this.conn = undefined;
    clearInterval(conn.heartbeat);
    conn.parser.stop();
    conn.socket.destroy();
    this.failAll(cause ?? new RouterError(Errors.unavailable, reason));
    if (!this.connecting) this.onClose?.(reason);
  }

  private failAll(err: RouterError): void {
    for (const waiting of this.receipts.values()) {
      clearTimeout(waiting.timer);
      waiting.reject(err);
    }
    this.receipts.clear();
  }
}

function subscribeHeaders(pattern: string, id: string): [string, string][] {
  const destination = linkPatternToStompDestination(pattern);
  if (destination === null) throw new RouterError(Errors.invalidUri, `STOMP cannot name ${pattern}`);
  return [
    ['id', id],
    ['destination', destination],
    ['ack', 'auto'],
  ];
}

/** The catalogue's error for an ERROR frame: by its `message` header, else unavailable. */
function errorOf(frame: StompFrame): RouterError {
  const message = header(frame, 'message') ?? (frame.command === 'ERROR' ? 'ERROR' : `unexpected ${frame.command}`);
  const def: ErrorDef = Object.values(Errors).find((d: ErrorDef) => d.stomp === message) ?? Errors.unavailable;
  return new RouterError(def, message);
}
