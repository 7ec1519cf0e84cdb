import type { Socket } from 'node:net';
import type { ConnectionFlow } from '../../lib/connection-flow';
import { transportOf } from '../../lib/listeners';
import type { OutboundFlow } from '../../lib/outbox';
import type { TransportInfo } from '../../lib/session';
import type { Timer } from '../../lib/clock';
import type { WampGateContext } from './context';
import { encodeFrame, FrameDecoder, FrameType } from './rawsocket-framing';
import type { Serializer } from '../../lib/wamp/serializers';
import type { WampConnectionHandler, WampTransport } from './transport';
import { deliverMessage, wampConnectionFlow } from './transport-flow';

const PING_PAYLOAD = Buffer.from('gatehouse');

/**
 * WAMP over RawSocket, after the handshake: length-prefixed frames, PING/PONG for
 * liveness (WAMP advanced: RawSocket transport).
 */
export class RawSocketTransport implements WampTransport {
  readonly info: TransportInfo;
  private handler: WampConnectionHandler | undefined;
  /** input pause, the inbound rate limit and the outbox (lib/connection-flow.ts) */
  private readonly flowControl: ConnectionFlow;
  private readonly decoder: FrameDecoder;
  private alive = true;
  private pinger: Timer | undefined;
  private ended = false;

  constructor(
    private readonly socket: Socket,
    readonly serializer: Serializer,
    /** the largest message the peer said it accepts */
    private readonly peerMaxBytes: number,
    /** the largest message we announced in the handshake (a power of two) */
    ourMaxBytes: number,
    private readonly ctx: WampGateContext,
    pingIntervalMs: number,
  ) {
    // same protocol spelling as the WebSocket subprotocol, so session meta reads alike
    this.info = transportOf('wamp', 'rawsocket', socket, serializer.wsProtocol);
    this.flowControl = wampConnectionFlow(ctx, this.info.peer, socket, () => socket.writableLength, {
      abort: () => {
        this.abort();
      },
      handler: () => this.handler,
    });
    this.decoder = new FrameDecoder(ourMaxBytes, {
      onFrame: (type, payload) => {
        this.onFrame(type, payload);
      },
      onError: (reason) => {
        ctx.counters.errors(`rawsocket_${reason}`);
        // no ABORT possible on a broken frame stream: the framing itself is lost
        this.handler?.malformed(`rawsocket framing error: ${reason}`);
        this.abort();
      },
    });
    socket.on('data', (chunk: Buffer) => {
      this.alive = true;
      this.decoder.push(chunk);
    });
    socket.on('close', () => {
      this.onClose();
    });
    socket.on('error', () => undefined); // 'close' follows
    if (pingIntervalMs > 0) {
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

  /** Bytes that arrived together with the handshake. */
  feed(rest: Buffer): void {
    if (rest.length > 0) this.decoder.push(rest);
  }

  private onFrame(type: FrameType, payload: Buffer): void {
    if (type === FrameType.PING) {
      this.writeFrame(FrameType.PONG, payload);
      return;
    }
    if (type === FrameType.PONG) return;
    this.ctx.counters.in(payload.length);
    if (!this.flowControl.admit(payload.length)) return;
    deliverMessage(this.serializer, payload, this.handler);
  }

  private ping(): void {
    if (!this.alive) {
      this.ctx.log.info({ peer: this.info.peer }, 'rawsocket peer unresponsive, closing');
      this.abort();
      return;
    }
    this.alive = false;
    // Never an empty PING: autobahn-js reads a frame's payload only when more bytes
    // arrive, so it answers a zero-length PING one interval late, and an idle client
    // would be dropped as dead. The peer echoes these octets in its PONG.
    this.writeFrame(FrameType.PING, PING_PAYLOAD);
  }

  private writeFrame(type: FrameType, payload: Buffer): void {
    if (this.ended) return;
    const [header, body] = encodeFrame(type, payload);
    // corked by the outbox until the end of this turn: header and body (and the
    // turn's other frames) go out in one writev
    this.flowControl.coalesce();
    this.socket.write(header);
    if (body.length > 0) this.socket.write(body);
  }

  write(data: Buffer): boolean {
    if (this.ended) return false;
    if (data.length > this.peerMaxBytes) {
      // the peer said it cannot take this; sending it would break its framing
      this.ctx.counters.errors('rawsocket_peer_max_length');
      return true;
    }
    this.writeFrame(FrameType.MESSAGE, data);
    this.ctx.counters.out(data.length);
    return this.flowControl.wrote();
  }

  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  abort(): void {
    this.ended = true;
    this.socket.destroy();
  }

  private onClose(): void {
    this.ended = true;
    this.ctx.clock.clearInterval(this.pinger);
    this.flowControl.dispose();
    this.handler?.closed();
    this.handler = undefined;
  }
}
