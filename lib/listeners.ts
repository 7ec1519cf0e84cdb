import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { WebSocketServer, type WebSocket } from 'ws';
import { clientAddressOf } from './client-address';
import type { ProxyProtocolMode } from './config';
import { drain } from './drain';
import type { GateContext } from './gate-context';
import { originMatcher } from './origins';
import { acceptedEvent, believeForwardedHeaders, proxyModeFor, readProxyHeaders } from './proxy-accept';
import type { Listener } from './router';
import type { TransportInfo } from './session';
import { clientCertificateOf, tlsServerOptions, type TlsOptions } from './tls-options';

/** WebSocket paths the gates have mounted, per server. */
const mountedPaths = new WeakMap<http.Server, string[]>();

/** How long connections get to finish their closing handshake at shutdown. */
const DRAIN_MS = 2000;

/**
 * "host:port" of a socket's client, for logs, limits and session meta: its peer, or
 * whom a trusted proxy said it speaks for (lib/client-address.ts).
 */
export function peerOf(socket: net.Socket): string {
  const client = clientAddressOf(socket);
  return `${client.address}:${client.port}`;
}

/** The core's view of a connection: gate, transport type, peer, and a TLS client's certificate. */
export function transportOf(gate: string, type: string, socket: net.Socket, protocol?: string): TransportInfo {
  const info: TransportInfo = { gate, type, peer: peerOf(socket) };
  if (protocol !== undefined) info.protocol = protocol;
  const cert = clientCertificateOf(socket);
  if (cert) info.clientCertificate = cert;
  return info;
}

/**
 * Takes a connection slot for a new socket (limits.maxConnections / maxConnectionsPerIp)
 * and gives it back when the socket closes; the name of the limit when it is refused.
 */
export function admitConnection(ctx: GateContext, socket: net.Socket): string | undefined {
  const ip = clientAddressOf(socket).address;
  const refused = ctx.router.connections.acquire(ip);
  if (refused) {
    ctx.limitHit(refused, { peer: peerOf(socket) });
    return refused;
  }
  socket.once('close', () => {
    ctx.router.connections.release(ip);
  });
  return undefined;
}

/** A TLS server's failed handshakes are counted and logged; its certificate reloads until it closes. */
function watchTls(ctx: GateContext, server: net.Server, options: TlsOptions | undefined, name: string): void {
  if (!options || !(server instanceof tls.Server)) return;
  server.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => {
    ctx.counters.errors('tls_handshake');
    ctx.log.info({ peer: peerOf(socket), err: err.message }, `${name} TLS handshake failed`);
    // with a listener here Node leaves the socket open (a stalled handshake would linger)
    socket.destroy();
  });
  const remove = ctx.router.certificates.add(server, options, name);
  server.once('close', remove);
}

/**
 * A TCP (or, with `tls`, TLS) listener for a gate: every socket gets Nagle off and is
 * handed to `onSocket`; closing stops accepting, lets connections drain for a moment,
 * then cuts off the rest. The same for MQTT, STOMP and WAMP RawSocket. With `proxy`
 * (config proxy.listeners) each connection's PROXY header is read first (lib/proxy-accept.ts).
 */
export async function listenTcp(
  ctx: GateContext,
  opts: { port?: number; host?: string; tls?: TlsOptions; name: string; proxy?: ProxyProtocolMode },
  onSocket: (socket: net.Socket, type: 'tcp' | 'tls') => void,
): Promise<Listener> {
  const sockets = new Set<net.Socket>();
  const type = opts.tls ? 'tls' : 'tcp';
  const server = opts.tls
    ? tls.createServer(tlsServerOptions(opts.tls, ctx.config.limits.tlsHandshakeTimeoutMs))
    : net.createServer();
  readProxyHeaders(ctx, server, opts.proxy ?? 'off', opts.name);
  const accepted = acceptedEvent(server);
  // the connection limits apply at accept (after a PROXY header has named the client),
  // before a TLS handshake costs anything
  server.on(accepted, (socket: net.Socket) => {
    socket.on('error', () => undefined); // 'close' follows; the gate logs what matters
    if (admitConnection(ctx, socket)) socket.destroy();
  });
  server.on(opts.tls ? 'secureConnection' : accepted, (socket: net.Socket) => {
    if (socket.destroyed) return;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.setNoDelay(true);
    onSocket(socket, type);
  });
  watchTls(ctx, server, opts.tls, opts.name);
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

/** What an application passes to mount a gate's WebSocket endpoint. */
export interface WebSocketEndpointOptions {
  /** mount on this server (e.g. an Express app's) instead of opening a port */
  server?: http.Server;
  path?: string;
  port?: number;
  host?: string;
  /** with its own port: serve wss:// */
  tls?: TlsOptions;
  /** browser origins allowed to connect (default: http.allowedOrigins) */
  allowedOrigins?: readonly string[];
}

export interface WebSocketListenOptions {
  /** mount on this server (e.g. an Express app's) instead of opening a port */
  server?: http.Server;
  path: string;
  port?: number;
  host?: string;
  /** with its own port: HTTPS (wss://). A mounted endpoint is TLS when its server is. */
  tls?: TlsOptions;
  /** browser origins allowed to connect (default: http.allowedOrigins) */
  allowedOrigins?: readonly string[];
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
  const server = opts.server ?? createHttpServer(ctx, opts.tls, `${opts.name} WebSocket`);
  const originAllowed = originMatcher(opts.allowedOrigins ?? ctx.config.http.allowedOrigins);

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
    // from a trusted proxy, the client it names (Forwarded / X-Forwarded-For) is the peer from here on
    believeForwardedHeaders(ctx.config, req);
    const origin = req.headers.origin;
    if (!originAllowed(origin, req.headers.host)) {
      ctx.counters.errors('origin_refused');
      ctx.limitHit('origin', { peer: peerOf(req.socket), origin });
      refuse(socket, 403, 'Forbidden', 'origin not allowed');
      return;
    }
    const refusal = opts.vet?.(req);
    if (refusal) {
      refuse(socket, refusal.status, refusal.text, refusal.body);
      return;
    }
    const limit = admitConnection(ctx, req.socket);
    if (limit) {
      // too many in all: the service is busy (503); too many from this address: 429
      if (limit === 'max_connections') refuse(socket, 503, 'Service Unavailable', 'too many connections');
      else refuse(socket, 429, 'Too Many Requests', 'too many connections from this address');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      // an http.Server emits 'upgrade' with the request's own connection: req.socket is
      // this same socket, typed as the net.Socket it is
      req.socket.setNoDelay(true);
      opts.onConnection(ws, req, req.socket);
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

/**
 * The HTTP(S) server of a WebSocket endpoint with its own port: plain requests get 426,
 * and slow or incomplete requests (upgrades included) are dropped (http.headersTimeoutMs,
 * http.requestTimeoutMs). Reads PROXY headers as config proxy.listeners.http says.
 */
export function createHttpServer(
  ctx: GateContext,
  tlsOptions: TlsOptions | undefined,
  name: string,
  app?: http.RequestListener,
): http.Server {
  const handler: http.RequestListener =
    app ?? ((_req, res) => res.writeHead(426, { 'content-type': 'text/plain' }).end(`${name} endpoint: upgrade required\n`));
  const h = ctx.config.http;
  const timeouts: http.ServerOptions = {
    headersTimeout: h.headersTimeoutMs,
    requestTimeout: h.requestTimeoutMs,
    // how often Node checks those timeouts (default 30 s, far too coarse for them)
    connectionsCheckingInterval: Math.min(1000, h.headersTimeoutMs),
  };
  const server = tlsOptions
    ? https.createServer({ ...tlsServerOptions(tlsOptions, ctx.config.limits.tlsHandshakeTimeoutMs), ...timeouts }, handler)
    : http.createServer(timeouts, handler);
  // a PROXY header comes before the TLS handshake and before the first bytes the HTTP
  // port's protocol sniff looks at (lib/universal-port.ts listens on acceptedEvent)
  readProxyHeaders(ctx, server, proxyModeFor(ctx.config, 'http'), name);
  if (tlsOptions) watchTls(ctx, server, tlsOptions, name);
  return server;
}

function refuse(socket: Duplex, status: number, text: string, body = ''): void {
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
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
