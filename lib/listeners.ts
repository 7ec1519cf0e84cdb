import { readFileSync } from 'node:fs';
import http, { type IncomingMessage } from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { WebSocketServer, type WebSocket } from 'ws';
import { drain } from './drain';
import type { GateContext } from './gate-context';
import type { Listener } from './router';

/** WebSocket paths the gates have mounted, per server. */
const mountedPaths = new WeakMap<http.Server, string[]>();

/** How long connections get to finish their closing handshake at shutdown. */
const DRAIN_MS = 2000;

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** CA bundle for client certificates: they are asked for, not required */
  caFile?: string;
}

/** "host:port" of a socket's peer, for logs and session meta. */
export function peerOf(socket: net.Socket): string {
  return `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
}

/**
 * A TCP (or, with `tls`, TLS) listener for a gate: every socket gets Nagle off and is
 * handed to `onSocket`; closing stops accepting, lets connections drain for a moment,
 * then cuts off the rest. The same for MQTT, STOMP and WAMP RawSocket.
 */
export async function listenTcp(
  ctx: GateContext,
  opts: { port?: number; host?: string; tls?: TlsFiles; name: string },
  onSocket: (socket: net.Socket, type: 'tcp' | 'tls') => void,
): Promise<Listener> {
  const sockets = new Set<net.Socket>();
  const type = opts.tls ? 'tls' : 'tcp';
  const accept = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined); // 'close' follows; the gate logs what matters
    socket.setNoDelay(true);
    onSocket(socket, type);
  };
  const server = opts.tls
    ? tls.createServer(
        {
          cert: readFileSync(opts.tls.certFile),
          key: readFileSync(opts.tls.keyFile),
          ...(opts.tls.caFile ? { ca: readFileSync(opts.tls.caFile), requestCert: true, rejectUnauthorized: false } : {}),
        },
        accept,
      )
    : net.createServer(accept);
  server.on('tlsClientError', () => ctx.counters.errors('tls_handshake'));
  const port = await listen(server, opts.port, opts.host);
  ctx.log.info({ port, tls: Boolean(opts.tls) }, `${opts.name} listener ready`);
  return {
    port,
    async close() {
      server.close();
      await drain(() => sockets.size, DRAIN_MS);
      for (const s of sockets) s.destroy();
    },
  };
}

export interface WebSocketListenOptions {
  /** mount on this server (e.g. an Express app's) instead of opening a port */
  server?: http.Server;
  path: string;
  port?: number;
  host?: string;
  /** for logs */
  name: string;
  /** frame size limit, enforced by ws on the frame header */
  maxPayload: number;
  /** the subprotocol to accept, or false to refuse (`ws`' handleProtocols) */
  handleProtocols: (offered: Set<string>, req: IncomingMessage) => string | false;
  /**
   * Answers an upgrade on our path before it is accepted: an HTTP status and text to
   * refuse it with (e.g. no acceptable subprotocol), or undefined to go on.
   */
  vet?: (req: IncomingMessage) => { status: number; text: string; body?: string } | undefined;
  onConnection(ws: WebSocket, req: IncomingMessage, socket: net.Socket): void;
}

/**
 * A WebSocket endpoint for a gate, on its own port or mounted on a shared
 * http.Server: it takes upgrades for its own path only, so other gates and the
 * application keep the rest of the server; an upgrade nobody takes gets a 404.
 */
export async function listenWebSocket(ctx: GateContext, opts: WebSocketListenOptions): Promise<Listener> {
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: opts.maxPayload,
    perMessageDeflate: false,
    handleProtocols: opts.handleProtocols,
  });
  const owned = !opts.server;
  const server =
    opts.server ??
    http.createServer((_req, res) => res.writeHead(426, { 'content-type': 'text/plain' }).end(`${opts.name} endpoint: upgrade required\n`));

  let paths = mountedPaths.get(server);
  if (!paths) mountedPaths.set(server, (paths = []));
  paths.push(opts.path);
  const mounted = paths;
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (path !== opts.path) {
      // another gate may own this path. If none does, and the server has no upgrade
      // handlers of its own, the first gate answers so the socket is not left hanging.
      if (!mounted.includes(path) && mounted[0] === opts.path && server.listenerCount('upgrade') <= mounted.length) {
        refuse(socket, 404, 'Not Found');
      }
      return;
    }
    const refusal = opts.vet?.(req);
    if (refusal) {
      refuse(socket, refusal.status, refusal.text, refusal.body);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      (socket as net.Socket).setNoDelay(true);
      opts.onConnection(ws, req, socket as net.Socket);
    });
  };
  server.on('upgrade', onUpgrade);
  const port = owned ? await listen(server, opts.port, opts.host) : portOf(server);
  ctx.log.info({ path: opts.path, port: owned ? port : undefined, mounted: !owned }, `${opts.name} WebSocket listener ready`);
  return {
    port,
    async close() {
      // stop accepting; sessions have had GOODBYE/DISCONNECT from the router and get a
      // moment to close cleanly before what lingers is cut off
      server.off('upgrade', onUpgrade);
      mounted.splice(mounted.indexOf(opts.path), 1);
      if (owned) server.close();
      await drain(() => wss.clients.size, DRAIN_MS);
      for (const ws of wss.clients) ws.terminate();
      if (owned) server.closeAllConnections();
    },
  };
}

function refuse(socket: Duplex, status: number, text: string, body = ''): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

async function listen(server: net.Server, port: number | undefined, host: string | undefined): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port ?? 0, host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return portOf(server);
}

function portOf(server: net.Server): number {
  const address = server.address();
  return typeof address === 'object' && address ? address.port : 0;
}
