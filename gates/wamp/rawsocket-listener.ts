import net from 'node:net';
import { drain } from '../../lib/drain';
import type { Listener } from '../../lib/router';
import type { WampGateContext } from './context';
import { HandshakeError, handshakeError, handshakeReply, lengthExpFor, maxBytesForExp, parseHandshake } from './rawsocket-framing';
import { RawSocketTransport } from './rawsocket-transport';
import { serializerForRawSocketId } from './serializers';
import { WampSession } from './session';

export interface WampRawSocketOptions {
  port?: number;
  host?: string;
}

/** WAMP RawSocket over TCP: the 4-octet handshake, then a RawSocketTransport. */
export async function listenWampRawSocket(ctx: WampGateContext, opts: WampRawSocketOptions): Promise<Listener> {
  const limits = ctx.config.limits;
  const allowed = new Set(ctx.config.wamp.serializers);
  const ourExp = lengthExpFor(limits.maxMessageSize);
  const sockets = new Set<net.Socket>();

  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
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

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  ctx.log.info({ port }, 'WAMP RawSocket listener ready');
  return {
    port,
    async close() {
      server.close();
      await drain(() => sockets.size, 2000);
      for (const s of sockets) s.destroy();
    },
  };
}
