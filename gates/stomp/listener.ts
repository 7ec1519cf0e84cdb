import { readFileSync } from 'node:fs';
import http, { type IncomingMessage } from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { createWebSocketStream, WebSocketServer } from 'ws';
import { drain } from '../../lib/drain';
import type { Listener } from '../../lib/router';
import { StompConnection } from './connection';
import type { StompGateContext } from './context';

const DRAIN_MS = 2000;

/** STOMP over WebSocket subprotocols (IANA WebSocket Subprotocol Name Registry), preferred first. */
const SUBPROTOCOLS = ['v12.stomp', 'v11.stomp', 'v10.stomp'];

/** STOMP over TCP (and TLS when `tls` is given). */
export async function listenStompTcp(
  ctx: StompGateContext,
  opts: { port?: number; host?: string; tls?: { certFile: string; keyFile: string; caFile?: string } },
): Promise<Listener> {
  const sockets = new Set<net.Socket>();
  const type = opts.tls ? 'tls' : 'tcp';
  const onSocket = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.setNoDelay(true);
    new StompConnection(
      ctx,
      socket,
      { gate: 'stomp', type, peer: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}` },
      true,
    );
  };
  const server = opts.tls
    ? tls.createServer(
        {
          cert: readFileSync(opts.tls.certFile),
          key: readFileSync(opts.tls.keyFile),
          ...(opts.tls.caFile ? { ca: readFileSync(opts.tls.caFile), requestCert: true, rejectUnauthorized: false } : {}),
        },
        onSocket,
      )
    : net.createServer(onSocket);
  server.on('tlsClientError', () => ctx.counters.errors('tls_handshake'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  ctx.log.info({ port, tls: Boolean(opts.tls) }, 'STOMP listener ready');
  return {
    port,
    async close() {
      server.close();
      await drain(() => sockets.size, DRAIN_MS);
      for (const s of sockets) s.destroy();
    },
  };
}

/**
 * STOMP over WebSocket (subprotocols v12.stomp, v11.stomp, v10.stomp; frames go out as
 * binary messages, one frame per message), on a shared http.Server's `path` or a port
 * of its own. The version is still negotiated by CONNECT's accept-version.
 */
export async function listenStompWs(
  ctx: StompGateContext,
  opts: { server?: http.Server; path?: string; port?: number; host?: string },
): Promise<Listener> {
  const path = opts.path ?? (ctx.config.stomp.wsPath || '/stomp');
  const limits = ctx.parserLimits;
  const wss = new WebSocketServer({
    noServer: true,
    // a whole frame: its headers at their limits, the body, the NUL
    maxPayload: limits.maxBodyBytes + limits.maxHeaders * (limits.maxHeaderLineBytes + 2) + 64,
    perMessageDeflate: false,
    handleProtocols: (protocols) => SUBPROTOCOLS.find((p) => protocols.has(p)) ?? false,
  });
  const owned = !opts.server;
  const server =
    opts.server ?? http.createServer((_req, res) => res.writeHead(426).end('STOMP WebSocket endpoint: upgrade required\n'));
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    if ((q < 0 ? url : url.slice(0, q)) !== path) return;
    wss.handleUpgrade(req, socket, head, (ws) => {
      (socket as net.Socket).setNoDelay(true);
      const stream = createWebSocketStream(ws);
      // ws's duplex neither closes nor (while input is paused) ends when the peer goes away
      ws.once('close', () => stream.destroy());
      const info = { gate: 'stomp', type: 'websocket', peer: `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? 0}` };
      new StompConnection(ctx, stream, info, false);
    });
  };
  server.on('upgrade', onUpgrade);
  if (owned) {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  ctx.log.info({ path, port: owned ? port : undefined, mounted: !owned }, 'STOMP WebSocket listener ready');
  return {
    port,
    async close() {
      server.off('upgrade', onUpgrade);
      if (owned) server.close();
      await drain(() => wss.clients.size, DRAIN_MS);
      for (const ws of wss.clients) ws.terminate();
      if (owned) server.closeAllConnections();
    },
  };
}
