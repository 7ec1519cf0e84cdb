import { listenTcp } from '../../lib/listeners';
import type { Listener } from '../../lib/router';
import type { TlsOptions } from '../../lib/tls-options';
import type { WampGateContext } from './context';
import { HandshakeError, handshakeError, handshakeReply, lengthExpFor, maxBytesForExp, parseHandshake } from './rawsocket-framing';
import { RawSocketTransport } from './rawsocket-transport';
import { serializerForRawSocketId } from './serializers';
import { WampSession } from './session';

export interface WampRawSocketOptions {
  port?: number;
  host?: string;
  /** RawSocket over TLS */
  tls?: TlsOptions;
}

/** WAMP RawSocket over TCP: the 4-octet handshake, then a RawSocketTransport. */
export function listenWampRawSocket(ctx: WampGateContext, opts: WampRawSocketOptions): Promise<Listener> {
  const limits = ctx.config.limits;
  const allowed = new Set(ctx.config.wamp.serializers);
  const ourExp = lengthExpFor(limits.maxMessageSize);

  return listenTcp(ctx, { ...opts, name: opts.tls ? 'WAMP RawSocket TLS' : 'WAMP RawSocket' }, (socket) => {
    // a client that never completes the handshake is dropped (slowloris)
    const timer = setTimeout(() => socket.destroy(), ctx.config.wamp.helloTimeoutMs || 10000);
    timer.unref();
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < 4) return;
      socket.off('data', onData);
      clearTimeout(timer);
      const hs = parseHandshake(buf.subarray(0, 4));
      if (!hs.ok) {
        ctx.counters.errors('rawsocket_handshake');
        socket.end(handshakeError(hs.error));
        return;
      }
      const serializer = serializerForRawSocketId(hs.serializerId);
      if (!serializer || !allowed.has(serializer.name)) {
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
      const transport = new RawSocketTransport(socket, serializer, hs.clientMaxBytes, maxBytesForExp(ourExp), ctx, {
        highWaterBytes: limits.outboundHighWaterBytes,
        maxQueueBytes: limits.outboundQueueBytes,
        slowConsumerTimeoutMs: limits.slowConsumerTimeoutMs,
      }, ctx.config.wamp.pingIntervalMs);
      transport.attach(new WampSession(ctx, transport));
      transport.feed(buf.subarray(4));
    };
    socket.on('data', onData);
  });
}
