/**
 * The PROXY protocol on a listening server, in one place for every TCP listener (MQTT,
 * STOMP and WAMP RawSocket, over TCP or TLS, and the HTTP port with what it serves
 * beside HTTP): each accepted socket's header is read before anything else sees the
 * socket (before the TLS handshake, before lib/universal-port.ts sniffs the first
 * bytes, before the connection limits count it), then the socket goes on to the
 * server's own 'connection' listeners with the header consumed and the client's address
 * recorded (lib/client-address.ts).
 *
 * Config proxy.protocol / proxy.listeners: `off` reads nothing. `optional`: a trusted
 * proxy (proxy.trusted) may send a header; a connection from anyone else that starts
 * with a PROXY signature is refused, since it would be claiming somebody else's
 * address. `required`: every connection must come from a trusted proxy and start with a
 * valid header. Refusals close the socket, are counted in
 * gatehouse_proxy_refused_total{listener, reason} and logged.
 */
import type { IncomingMessage } from 'node:http';
import type net from 'node:net';
import { clientAddressOf, setClientAddress } from './client-address';
import type { Config, ProxiedListener, ProxyProtocolMode } from './config';
import type { GateContext } from './gate-context';
import { parseProxyHeader, proxySignature } from './proxy-protocol';
import { plainAddress, TrustedProxies } from './trusted-proxies';

export type ProxyRefusal = 'untrusted' | 'missing' | 'malformed' | 'timeout';

/** What a server emits in place of 'connection' once a socket's header is read. */
const PROXIED = 'gatehouse:proxied';

const wrapped = new WeakSet<net.Server>();
const trustedByConfig = new WeakMap<Config['proxy'], TrustedProxies>();

const ignore = (): void => undefined;

/** The mode of one listener: its proxy.listeners entry, else proxy.protocol. */
export function proxyModeFor(config: Config, listener: ProxiedListener): ProxyProtocolMode {
  const own = config.proxy.listeners[listener];
  return own === 'inherit' ? config.proxy.protocol : own;
}

/** The trusted proxies of a configuration (made once per configuration). */
export function trustedProxiesOf(config: Config): TrustedProxies {
  let trusted = trustedByConfig.get(config.proxy);
  if (!trusted) trustedByConfig.set(config.proxy, (trusted = new TrustedProxies(config.proxy.trusted)));
  return trusted;
}

/**
 * The event `server` emits for a socket whose header (if its listener reads one) has
 * been read: where listeners go that must see the socket before anything else does.
 */
export function acceptedEvent(server: net.Server): string {
  return wrapped.has(server) ? PROXIED : 'connection';
}

/**
 * Puts PROXY header reading in front of `server`'s 'connection' listeners (Node's own:
 * the HTTP parser, the TLS handshake). Listeners added later for the raw accepted
 * socket go on acceptedEvent(server). With mode `off` nothing changes.
 */
export function readProxyHeaders(ctx: GateContext, server: net.Server, mode: ProxyProtocolMode, listener: string): void {
  if (mode === 'off' || wrapped.has(server)) return;
  wrapped.add(server);
  for (const l of server.listeners('connection')) {
    server.off('connection', l as (socket: net.Socket) => void);
    server.on(PROXIED, l as (socket: net.Socket) => void);
  }
  const trusted = trustedProxiesOf(ctx.config);
  const refused = ctx.router.metrics.proxyRefused;
  const timeoutMs = ctx.config.proxy.headerTimeoutMs;

  const refuse = (socket: net.Socket, reason: ProxyRefusal, detail?: string): void => {
    refused.labels(listener, reason).inc();
    const fields = { peer: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`, listener, reason, detail };
    // an untrusted address writing a header is somebody claiming another's address
    if (reason === 'untrusted') ctx.log.warn(fields, 'PROXY protocol: connection refused');
    else ctx.log.info(fields, 'PROXY protocol: connection refused');
    socket.destroy();
  };

  server.on('connection', (socket: net.Socket) => {
    const fromTrusted = trusted.has(socket.remoteAddress ?? '');
    if (mode === 'required' && !fromTrusted) {
      refuse(socket, 'untrusted');
      return;
    }
    let first: Buffer | undefined;
    const stop = (): void => {
      ctx.clock.clearTimeout(timer);
      socket.off('readable', onReadable);
      socket.off('close', stop);
      socket.off('error', ignore);
    };
    const pass = (rest: Buffer): void => {
      stop();
      if (rest.length > 0) socket.unshift(rest);
      server.emit(PROXIED, socket);
    };
    const onReadable = (): void => {
      for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) {
        first = first ? Buffer.concat([first, chunk]) : chunk;
      }
      if (!first) return;
      if (!fromTrusted) {
        // an untrusted peer: only make sure it is not sending a header
        const signature = proxySignature(first);
        if (signature === 'none') pass(first);
        else if (signature !== 'more') {
          stop();
          refuse(socket, 'untrusted');
        }
        return;
      }
      const verdict = parseProxyHeader(first);
      switch (verdict.kind) {
        case 'more':
          return; // bounded: parseProxyHeader gives a verdict within 107 (v1) or 16 + 2048 (v2) octets
        case 'none':
          if (mode === 'required') {
            stop();
            refuse(socket, 'missing');
            return;
          }
          pass(first);
          return;
        case 'invalid':
          stop();
          refuse(socket, 'malformed', verdict.reason);
          return;
        case 'header':
          if (verdict.source) setClientAddress(socket, verdict.source);
          pass(first.subarray(verdict.length));
          return;
      }
    };
    // the proxy writes its header at once; a client of ours always speaks first (the
    // deadline is on the router's clock: a test moves it instead of waiting)
    const timer = ctx.clock.setTimeout(() => {
      stop();
      refuse(socket, 'timeout');
    }, timeoutMs);
    timer.unref();
    socket.on('error', ignore);
    socket.once('close', stop);
    socket.on('readable', onReadable);
  });
}

/**
 * On a WebSocket upgrade (the socket is the session's from then on): when the peer is
 * a trusted proxy and config proxy.forwardedHeaders is on, the client its `Forwarded` or
 * `X-Forwarded-For` header names becomes the socket's client address. Headers from
 * anyone else are ignored: any client can write them.
 */
export function believeForwardedHeaders(config: Config, req: IncomingMessage): void {
  if (!config.proxy.forwardedHeaders) return;
  const trusted = trustedProxiesOf(config);
  if (trusted.empty) return;
  const socket = req.socket;
  const peer = plainAddress(clientAddressOf(socket).address);
  const client = trusted.clientOf(peer, req.headers);
  // the headers carry no port worth believing (X-Forwarded-For has none)
  if (client !== peer) setClientAddress(socket, { address: client, port: 0 });
}
