import type net from 'node:net';
import { listenTcp } from '../../lib/listeners';
import { proxyModeFor } from '../../lib/proxy-accept';
import type { Listener } from '../../lib/router';
import type { TlsOptions } from '../../lib/tls-options';
import type { WampGateContext } from './context';
import {
  HandshakeError,
  handshakeError,
  handshakeReply,
  lengthExpFor,
  maxBytesForExp,
  parseHandshake,
} from './rawsocket-framing';
import { RawSocketTransport } from './rawsocket-transport';
import { serializerForRawSocketId } from '../../lib/wamp/serializers';
import { WampSession } from './session';

export interface WampRawSocketOptions {
  port?: number;
  host?: string;
  /** RawSocket over TLS */
  tls?: TlsOptions;
}

/** WAMP RawSocket over TCP: the 4-octet handshake, then a RawSocketTransport. */
export function listenWampRawSocket(ctx: WampGateContext, opts: WampRawSocketOptions): Promise<Listener> {
  const proxy = proxyModeFor(ctx.config, 'rawsocket');
  return listenTcp(ctx, { ...opts, proxy, name: opts.tls ? 'WAMP RawSocket TLS' : 'WAMP RawSocket' }, (socket) => {
    acceptRawSocket(ctx, socket);
  });
}

/**
 * One RawSocket connection, from its first octet: the 4-octet handshake, then a
 * RawSocketTransport. Its own listener's or the shared HTTP port's (lib/universal-port.ts).
 */
export function acceptRawSocket(ctx: WampGateContext, socket: net.Socket): void {
  const limits = ctx.config.limits;
  const ourExp = lengthExpFor(limits.maxMessageSize);
  // a client that never completes the handshake is dropped (slowloris); a client's
  // deadline, so on the router's clock
  const timer = ctx.clock.setTimeout(() => socket.destroy(), ctx.config.wamp.helloTimeoutMs || 10000);
  timer.unref();
  let buf = Buffer.alloc(0);
  const onData = (chunk: Buffer): void => {
    buf = Buffer.concat([buf, chunk]);
    if (buf.length < 4) return;
    socket.off('data', onData);
    ctx.clock.clearTimeout(timer);
    const hs = parseHandshake(buf.subarray(0, 4));
    if (!hs.ok) {
      ctx.counters.errors('rawsocket_handshake');
      socket.end(handshakeError(hs.error));
      return;
    }
    const serializer = serializerForRawSocketId(hs.serializerId);
    if (!serializer || !ctx.config.wamp.serializers.includes(serializer.name)) {
      ctx.counters.errors('rawsocket_serializer');
      socket.end(handshakeError(HandshakeError.SERIALIZER_UNSUPPORTED));
      return;
    }
    const refused = ctx.router.admit();
    if (refused) {
      socket.end(handshakeError(HandshakeError.MAX_CONNECTIONS));
      return;
    }
    socket.write(handshakeReply(serializer.rawSocketId, ourExp));
    const transport = new RawSocketTransport(
      socket,
      serializer,
      hs.clientMaxBytes,
      maxBytesForExp(ourExp),
      ctx,
      ctx.config.wamp.pingIntervalMs,
    );
    transport.attach(new WampSession(ctx, transport));
    transport.feed(buf.subarray(4));
  };
  socket.on('data', onData);
  // gone before the handshake: its timer goes too (a manual clock would keep it armed)
  socket.once('close', () => {
    ctx.clock.clearTimeout(timer);
  });
}
