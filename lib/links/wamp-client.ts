/**
 * A small WAMP client over `ws` and the router's own serializers (lib/wamp/): what a
 * link needs of a WAMP peer and nothing more. Publisher (with `acknowledge`), subscriber,
 * caller; anonymous or ticket authentication (WAMP advanced "Ticket-based
 * Authentication"); TLS with the peer's certificate checked against a CA file.
 */
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { ApplicationError } from '../errors';
import type { Payload } from '../payload';
import { serializerForWsProtocol, serializers, type Serializer } from '../wamp/serializers';
import { Msg } from '../wamp/messages';
import { payloadFromWamp, pushPayload } from '../wamp/payload';
import type { LinkAuth, LinkTls } from './transport';
import { LinkError } from './link-error';

/** binary serializers first: binary payloads travel as they are */
const PROTOCOLS = [serializers.msgpack.wsProtocol, serializers.cbor.wsProtocol, serializers.json.wsProtocol];

export type EventHandler = (details: Record<string, unknown>, payload: Payload) => void;

interface Pending {
  resolve(v: unknown[]): void;
  reject(err: Error): void;
}

export interface WampClientOptions {
  url: string;
  realm: string;
  auth?: LinkAuth;
  tls?: LinkTls;
  timeoutMs: number;
}

/** Thrown for a lost connection; a peer's ERROR comes as ApplicationError. */
export class WampClientClosed extends Error {
  override readonly name = 'WampClientClosed';
}

export class WampClient {
  private ws: WebSocket | undefined;
  private serializer: Serializer = serializers.json;
  private nextRequest = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly handlers = new Map<number, EventHandler>();
  private closedWith: string | undefined;
  /** the TCP socket under the WebSocket, corked while a turn sends (one write for many messages) */
  private socket: Socket | undefined;
  private corked = false;
  private readonly uncork = (): void => {
    this.corked = false;
    this.socket?.uncork();
  };
  /** the connection ended (after connect() resolved) */
  onClose: ((reason: string) => void) | undefined;

  constructor(private readonly options: WampClientOptions) {}

  /** Opens the WebSocket and joins the realm (HELLO ... WELCOME). */
  connect(): Promise<void> {
    const o = this.options;
    const tls = o.tls;
    // servername goes on to tls.connect (ws passes its options through)
    const wsOptions: WebSocket.ClientOptions & { servername?: string } = {
      handshakeTimeout: o.timeoutMs,
      ca: tls?.caFile ? readFileSync(tls.caFile) : undefined,
      cert: tls?.certFile ? readFileSync(tls.certFile) : undefined,
      key: tls?.keyFile ? readFileSync(tls.keyFile) : undefined,
      servername: tls?.serverName,
      // never skipped (lib/links/transport.ts LinkTls)
      rejectUnauthorized: true,
      maxPayload: 64 * 1024 * 1024,
      // per-message deflate runs every frame through zlib's thread pool, one at a time:
      // it capped a link at a few hundred messages/s (bench/link-bench.ts)
      perMessageDeflate: false,
    };
    const ws = new WebSocket(o.url, PROTOCOLS, wsOptions);
    this.ws = ws;
    ws.on('upgrade', (res) => {
      this.socket = res.socket;
    });
    return new Promise<void>((resolve, reject) => {
      let joined = false;
      const timer = setTimeout(() => {
        fail(new LinkError(`no WELCOME from ${o.url} within ${o.timeoutMs} ms`));
      }, o.timeoutMs);
      const fail = (err: Error): void => {
        clearTimeout(timer);
        if (!joined) reject(err);
        ws.terminate();
      };
      ws.on('error', (err) => {
        if (!joined) fail(err);
      });
      ws.on('open', () => {
        this.serializer = serializerForWsProtocol(ws.protocol) ?? serializers.json;
        const details: Record<string, unknown> = {
          roles: { publisher: { features: {} }, subscriber: { features: {} }, caller: { features: { call_timeout: true } } },
        };
        if (o.auth?.user !== undefined) {
          details['authid'] = o.auth.user;
          details['authmethods'] = ['ticket'];
        }
        this.send([Msg.HELLO, o.realm, details]);
      });
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        let msg: unknown;
        try {
          msg = this.serializer.decode(isBinary ? data : Buffer.from(data));
        } catch (err) {
          this.abort(`undecodable message: ${(err as Error).message}`);
          return;
        }
        if (!Array.isArray(msg) || typeof msg[0] !== 'number') {
          this.abort('not a WAMP message');
          return;
        }
        if (joined) {
          this.dispatch(msg);
          return;
        }
        switch (msg[0]) {
          case Msg.WELCOME:
            joined = true;
            clearTimeout(timer);
            resolve();
            return;
          case Msg.CHALLENGE:
            if (msg[1] !== 'ticket' || o.auth?.password === undefined) {
              fail(new LinkError(`peer asked for ${String(msg[1])} authentication`));
              return;
            }
            this.send([Msg.AUTHENTICATE, o.auth.password, {}]);
            return;
          case Msg.ABORT:
            fail(new LinkError(`peer refused the session: ${String(msg[2])}`));
            return;
          default:
            fail(new LinkError(`unexpected message ${String(msg[0])} before WELCOME`));
            return;
        }
      });
      ws.on('close', (code, reason) => {
        clearTimeout(timer);
        const why = this.closedWith ?? `connection closed (${code}${reason.length > 0 ? ` ${reason.toString()}` : ''})`;
        this.closedWith = why;
        if (!joined) {
          reject(new LinkError(why));
          return;
        }
        // the link learns first, then every request in flight fails
        this.onClose?.(why);
        const err = new WampClientClosed(why);
        for (const p of this.pending.values()) p.reject(err);
        this.pending.clear();
        this.handlers.clear();
      });
    });
  }

  /** PUBLISH with acknowledge; resolves with PUBLISHED. */
  publish(topic: string, payload: Payload, options: Record<string, unknown>): Promise<unknown[]> {
    options['acknowledge'] = true;
    return this.request((id) => pushPayload([Msg.PUBLISH, id, options, topic], payload));
  }

  async subscribe(topic: string, options: Record<string, unknown>, handler: EventHandler): Promise<number> {
    const reply = await this.request((id) => [Msg.SUBSCRIBE, id, options, topic]);
    const sub = reply[2];
    if (typeof sub !== 'number') throw new LinkError('SUBSCRIBED without a subscription id');
    this.handlers.set(sub, handler);
    return sub;
  }

  async unsubscribe(subscription: number): Promise<void> {
    this.handlers.delete(subscription);
    await this.request((id) => [Msg.UNSUBSCRIBE, id, subscription]);
  }

  /** CALL with a timeout the peer enforces (WAMP advanced "Call Timeouts"); resolves with RESULT's payload. */
  async call(procedure: string, payload: Payload, timeoutMs: number): Promise<Payload> {
    const reply = await this.request((id) => pushPayload([Msg.CALL, id, { timeout: timeoutMs }, procedure], payload));
    const details = (reply[2] ?? {}) as Record<string, unknown>;
    return payloadFromWamp(reply[3] as unknown[] | undefined, reply[4] as Record<string, unknown> | undefined, details);
  }

  /** requests waiting for their answer (publishes in flight included) */
  get inFlight(): number {
    return this.pending.size;
  }

  get connected(): boolean {
    return this.ws?.readyState === WebSocket.OPEN && this.closedWith === undefined;
  }

  /** Closes at once: nothing in flight is waited for. */
  close(): Promise<void> {
    const ws = this.ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    this.closedWith ??= 'closed by the link';
    return new Promise<void>((resolve) => {
      ws.once('close', () => {
        resolve();
      });
      ws.terminate();
    });
  }

  /** Cuts the connection (a peer that no longer answers); onClose follows. */
  abort(reason: string): void {
    this.closedWith ??= reason;
    this.ws?.terminate();
  }

  private request(build: (id: number) => unknown[]): Promise<unknown[]> {
    if (!this.connected) return Promise.reject(new WampClientClosed(this.closedWith ?? 'not connected'));
    this.nextRequest = this.nextRequest >= 2 ** 53 ? 1 : this.nextRequest + 1;
    const id = this.nextRequest;
    return new Promise<unknown[]>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      try {
        this.send(build(id));
      } catch (err) {
        this.pending.delete(id);
        reject(err instanceof Error ? err : new LinkError(String(err)));
      }
    });
  }

  private send(msg: unknown[]): void {
    const ws = this.ws;
    if (!ws) return;
    if (!this.corked && this.socket) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(this.uncork);
    }
    ws.send(this.serializer.encode(msg), { binary: this.serializer.binary });
  }

  private dispatch(msg: unknown[]): void {
    switch (msg[0]) {
      case Msg.EVENT: {
        const handler = this.handlers.get(msg[1] as number);
        if (!handler) return;
        const details = (msg[3] ?? {}) as Record<string, unknown>;
        handler(
          details,
          payloadFromWamp(msg[4] as unknown[] | undefined, msg[5] as Record<string, unknown> | undefined, details),
        );
        return;
      }
      case Msg.PUBLISHED:
      case Msg.SUBSCRIBED:
      case Msg.UNSUBSCRIBED:
      case Msg.RESULT: {
        // a progressive RESULT is not asked for, so every RESULT is final
        const p = this.pending.get(msg[1] as number);
        if (!p) return;
        this.pending.delete(msg[1] as number);
        p.resolve(msg);
        return;
      }
      case Msg.ERROR: {
        const p = this.pending.get(msg[2] as number);
        if (!p) return;
        this.pending.delete(msg[2] as number);
        const args = Array.isArray(msg[5]) ? (msg[5] as unknown[]) : undefined;
        const kwargs = typeof msg[6] === 'object' && msg[6] !== null ? (msg[6] as Record<string, unknown>) : undefined;
        p.reject(new ApplicationError(String(msg[4]), args, kwargs));
        return;
      }
      case Msg.GOODBYE:
        this.send([Msg.GOODBYE, {}, 'wamp.close.goodbye_and_out']);
        this.abort(`peer said goodbye: ${String(msg[2])}`);
        return;
      case Msg.ABORT:
        this.abort(`peer aborted: ${String(msg[2])}`);
        return;
      default:
        // INVOCATION and the like: this client registers nothing
        return;
    }
  }
}
