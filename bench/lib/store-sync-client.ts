/**
 * A lean WAMP JSON client for bench/store-sync-bench.ts: HELLO/WELCOME, PUBLISH with
 * options and PUBLISHED/ERROR per request, CALL/RESULT, GOODBYE. Nothing else.
 *
 * Why not bench/lib/wamp-client.ts: its publish is fire-and-forget without options,
 * and the store benchmark needs options (retain, when, watch, will, acknowledge) and,
 * per publish, its PUBLISHED (the Publication ID is the fencing token) or its ERROR URI
 * (gatehouse.error.condition_failed). It keeps that client's throughput choices, the
 * same for every router under test: sends of one event-loop turn are corked into one
 * writev, frames use a zero mask (ws skips the XOR), received text is not UTF-8
 * validated, and the hot path is callbacks rather than promises.
 */
import type { Socket } from 'node:net';
import WebSocket from 'ws';

const HELLO = 1;
const WELCOME = 2;
const ABORT = 3;
const GOODBYE = 6;
const ERROR = 8;
const PUBLISH = 16;
const PUBLISHED = 17;
const CALL = 48;
const RESULT = 50;

const ROLES = { publisher: { features: {} }, caller: { features: {} } };

/** The outcome of one request: an error URI, or the reply's id (PUBLISHED) / args (RESULT). */
export type PublishCallback = (errorUri: string | undefined, publicationId: number) => void;
export type CallCallback = (errorUri: string | undefined, args: unknown[] | undefined) => void;

export class StoreSyncClient {
  sessionId = 0;
  private nextRequest = 1;
  private readonly publishes = new Map<number, PublishCallback>();
  private readonly calls = new Map<number, CallCallback>();
  private socket: Socket | undefined;
  private onWelcome: ((err?: Error) => void) | undefined;
  private closed = false;
  private corked = false;
  private readonly uncork = (): void => {
    this.corked = false;
    this.socket?.uncork();
  };

  private constructor(private readonly ws: WebSocket) {
    ws.on('upgrade', (res) => {
      this.socket = res.socket;
      this.socket.setNoDelay(true);
    });
    ws.on('message', (data: Buffer) => this.onMessage(data));
    ws.on('close', () => {
      this.closed = true;
      this.onWelcome?.(new Error('connection closed'));
      for (const cb of this.publishes.values()) cb('connection closed', 0);
      for (const cb of this.calls.values()) cb('connection closed', undefined);
      this.publishes.clear();
      this.calls.clear();
    });
    ws.on('error', (err) => this.onWelcome?.(err));
  }

  static connect(url: string, realm: string): Promise<StoreSyncClient> {
    const ws = new WebSocket(url, ['wamp.2.json'], {
      perMessageDeflate: false,
      skipUTF8Validation: true,
      generateMask: () => undefined,
    });
    const client = new StoreSyncClient(ws);
    return new Promise((resolve, reject) => {
      client.onWelcome = (err) => {
        client.onWelcome = undefined;
        if (err) reject(err);
        else resolve(client);
      };
      ws.once('open', () => client.send([HELLO, realm, { roles: ROLES }]));
    });
  }

  /** requests sent and not yet answered */
  get inFlight(): number {
    return this.publishes.size + this.calls.size;
  }

  /**
   * PUBLISH. With `onAck`, asks for acknowledgement and calls back with PUBLISHED's
   * Publication ID or the ERROR's URI.
   */
  publish(topic: string, args: unknown[] | undefined, options: Record<string, unknown>, onAck?: PublishCallback): void {
    const id = this.nextRequest++;
    if (onAck) {
      options.acknowledge = true;
      this.publishes.set(id, onAck);
    }
    this.send(args === undefined ? [PUBLISH, id, options, topic] : [PUBLISH, id, options, topic, args]);
  }

  call(procedure: string, args: unknown[], onResult: CallCallback): void {
    const id = this.nextRequest++;
    this.calls.set(id, onResult);
    this.send([CALL, id, {}, procedure, args]);
  }

  /** GOODBYE, then wait for the socket to close (or cut it after 1 s). */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
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
    if (!this.corked && this.socket) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(this.uncork);
    }
    this.ws.send(JSON.stringify(msg));
  }

  private onMessage(data: Buffer): void {
    const m = JSON.parse(data.toString('utf8')) as unknown[];
    switch (m[0]) {
      case PUBLISHED: {
        const id = m[1] as number;
        const cb = this.publishes.get(id);
        if (cb) {
          this.publishes.delete(id);
          cb(undefined, m[2] as number);
        }
        return;
      }
      case RESULT: {
        const id = m[1] as number;
        const cb = this.calls.get(id);
        if (cb) {
          this.calls.delete(id);
          cb(undefined, m[3] as unknown[] | undefined);
        }
        return;
      }
      case ERROR: {
        const id = m[2] as number;
        const uri = String(m[4]);
        if (m[1] === PUBLISH) {
          const cb = this.publishes.get(id);
          this.publishes.delete(id);
          cb?.(uri, 0);
        } else if (m[1] === CALL) {
          const cb = this.calls.get(id);
          this.calls.delete(id);
          cb?.(uri, undefined);
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
