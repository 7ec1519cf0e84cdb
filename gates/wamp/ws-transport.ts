import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import type { ConnectionFlow } from '../../lib/connection-flow';
import { transportOf } from '../../lib/listeners';
import type { OutboundFlow } from '../../lib/outbox';
import type { TransportInfo } from '../../lib/session';
import type { Timer } from '../../lib/clock';
import type { WampGateContext } from './context';
import type { Serializer } from '../../lib/wamp/serializers';
import type { WampConnectionHandler, WampTransport } from './transport';
import { deliverMessage, wampConnectionFlow } from './transport-flow';

const TEXT = { binary: false } as const;
const BINARY = { binary: true } as const;

/** WAMP over WebSocket (subprotocols wamp.2.json / wamp.2.msgpack / wamp.2.cbor). */
export class WsTransport implements WampTransport {
  readonly info: TransportInfo;
  private handler: WampConnectionHandler | undefined;
  /** input pause, the inbound rate limit and the outbox (lib/connection-flow.ts) */
  private readonly flowControl: ConnectionFlow;
  private readonly sendOpts: typeof TEXT | typeof BINARY;
  private alive = true;
  private pinger: Timer | undefined;

  constructor(
    private readonly ws: WebSocket,
    readonly serializer: Serializer,
    req: IncomingMessage,
    private readonly ctx: WampGateContext,
    pingIntervalMs: number,
  ) {
    this.info = transportOf('wamp', 'websocket', req.socket, serializer.wsProtocol);
    this.sendOpts = serializer.binary ? BINARY : TEXT;
    const socket = req.socket;
    this.flowControl = wampConnectionFlow(ctx, this.info.peer, socket, () => ws.bufferedAmount, {
      abort: () => {
        this.abort();
      },
      handler: () => this.handler,
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      this.onMessage(data, isBinary);
    });
    ws.on('close', () => {
      this.onClose();
    });
    ws.on('error', (err) => {
      // ws reports protocol errors (e.g. a frame over maxPayload) here, then closes.
      ctx.counters.errors('websocket');
      ctx.log.debug({ peer: this.info.peer, err: err.message }, 'websocket error');
    });
    if (pingIntervalMs > 0) {
      ws.on('pong', () => (this.alive = true));
      // liveness is a deadline the peer must meet: on the router's clock
      this.pinger = ctx.clock.setInterval(() => {
        this.ping();
      }, pingIntervalMs);
      this.pinger.unref();
    }
  }

  /** paces a retained replay by what the peer reads (lib/retained-replay.ts) */
  get flow(): OutboundFlow {
    return this.flowControl;
  }

  attach(handler: WampConnectionHandler): void {
    this.handler = handler;
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    this.alive = true;
    this.ctx.counters.in(data.length);
    if (!this.flowControl.admit(data.length)) return;
    if (isBinary !== this.serializer.binary) {
      this.handler?.malformed(`expected ${this.serializer.binary ? 'binary' : 'text'} WebSocket frames`);
      return;
    }
    deliverMessage(this.serializer, data, this.handler);
  }

  /** WebSocket ping/pong liveness: a peer that missed a whole interval is dead. */
  private ping(): void {
    if (!this.alive) {
      this.ctx.log.info({ peer: this.info.peer }, 'websocket peer unresponsive, closing');
      this.abort();
      return;
    }
    this.alive = false;
    this.ws.ping();
  }

  write(data: Buffer): boolean {
    if (this.ws.readyState !== 1) return false;
    this.flowControl.coalesce();
    this.ws.send(data, this.sendOpts);
    this.ctx.counters.out(data.length);
    return this.flowControl.wrote();
  }

  close(): void {
    this.ws.close(1000);
    // a peer that never answers the close handshake is cut off
    setTimeout(() => {
      this.ws.terminate();
    }, 2000).unref();
  }

  abort(): void {
    this.ws.terminate();
  }

  private onClose(): void {
    this.ctx.clock.clearInterval(this.pinger);
    this.flowControl.dispose();
    this.handler?.closed();
    this.handler = undefined;
  }
}
