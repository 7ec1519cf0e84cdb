import http, { type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { drain } from '../../lib/drain';
import type { Listener } from '../../lib/router';
import type { WampGateContext } from './context';
import { serializerForWsProtocol, type Serializer } from './serializers';
import { WampSession } from './session';
import { WsTransport } from './ws-transport';

/** how long sessions get to finish their closing handshake at shutdown */
const DRAIN_MS = 2000;

export interface WampWsOptions {
  /** mount on this server (e.g. an Express app's) instead of opening a port */
  server?: http.Server;
  path?: string;
  port?: number;
  host?: string;
}

/**
 * WAMP over WebSocket. Mounts on a shared http.Server by handling `upgrade` for its
 * path only, so other gates and the application keep the rest of the server.
 */
export async function listenWampWs(ctx: WampGateContext, opts: WampWsOptions): Promise<Listener> {
  const path = opts.path ?? ctx.config.wamp.path;
  const allowed = new Set(ctx.config.wamp.serializers);
  const limits = ctx.config.limits;
  const pick = (req: IncomingMessage): Serializer | undefined => {
    const header = req.headers['sec-websocket-protocol'];
    if (!header) return undefined;
    // RFC 6455: the client lists subprotocols in its order of preference
    for (const p of header.split(',')) {
      const s = serializerForWsProtocol(p.trim());
      if (s && allowed.has(s.name)) return s;
    }
    return undefined;
  };

  const wss = new WebSocketServer({
    noServer: true,
    // enforced by ws on the frame header, before the payload is buffered
    maxPayload: limits.maxMessageSize,
    perMessageDeflate: false,
    clientTracking: true,
    handleProtocols: (_protocols, req) => pick(req)?.wsProtocol ?? false,
  });
  const owned = !opts.server;
  const server = opts.server ?? http.createServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' }).end('WAMP WebSocket endpoint: upgrade required\n');
  });

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    if ((q < 0 ? url : url.slice(0, q)) !== path) {
      // another gate may own this path; if nobody does, do not leave the socket hanging
      if (server.listenerCount('upgrade') <= 1) reject(socket, 404, 'Not Found');
      return;
    }
    const serializer = pick(req);
    if (!serializer) {
      ctx.counters.errors('no_subprotocol');
      reject(socket, 400, 'Bad Request', `supported subprotocols: ${[...allowed].map((n) => `wamp.2.${n}`).join(', ')}`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      (socket as Socket).setNoDelay(true);
      const transport = new WsTransport(ws, serializer, req, ctx, {
        highWaterBytes: limits.outboundHighWaterBytes,
        maxQueueBytes: limits.outboundQueueBytes,
        slowConsumerTimeoutMs: limits.slowConsumerTimeoutMs,
      }, ctx.config.wamp.pingIntervalMs);
      transport.attach(new WampSession(ctx, transport));
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
  ctx.log.info({ path, port: owned ? port : undefined, mounted: !owned }, 'WAMP WebSocket listener ready');
  return {
    port,
    async close() {
      // Stop accepting; sessions have been sent GOODBYE by the router and get a moment
      // to answer and close cleanly before what lingers is cut off.
      server.off('upgrade', onUpgrade);
      if (owned) server.close();
      await drain(() => wss.clients.size, DRAIN_MS);
      for (const ws of wss.clients) ws.terminate();
      if (owned) server.closeAllConnections();
    },
  };
}

function reject(socket: Duplex, status: number, text: string, body = ''): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}
