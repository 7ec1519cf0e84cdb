import type net from 'node:net';
import { createWebSocketStream } from 'ws';
import { listenTcp, listenWebSocket, transportOf, type WebSocketEndpointOptions } from '../../lib/listeners';
import { proxyModeFor } from '../../lib/proxy-accept';
import type { TlsOptions } from '../../lib/tls-options';
import type { Listener } from '../../lib/router';
import { StompConnection } from './connection';
import type { StompGateContext } from './context';

/** STOMP over WebSocket subprotocols (IANA WebSocket Subprotocol Name Registry), preferred first. */
const SUBPROTOCOLS = ['v12.stomp', 'v11.stomp', 'v10.stomp'];

/** STOMP over TCP (and TLS when `tls` is given). */
export function listenStompTcp(
  ctx: StompGateContext,
  opts: { port?: number; host?: string; tls?: TlsOptions },
): Promise<Listener> {
  const proxy = proxyModeFor(ctx.config, opts.tls ? 'stompTls' : 'stomp');
  return listenTcp(ctx, { ...opts, proxy, name: opts.tls ? 'STOMP TLS' : 'STOMP' }, (socket, type) => {
    acceptStompSocket(ctx, socket, type);
  });
}

/** One STOMP connection over TCP or TLS: its own listener's or the shared HTTP port's (lib/universal-port.ts). */
export function acceptStompSocket(ctx: StompGateContext, socket: net.Socket, type: 'tcp' | 'tls'): void {
  new StompConnection(ctx, socket, transportOf('stomp', type, socket), true);
}

/**
 * STOMP over WebSocket (subprotocols v12.stomp, v11.stomp, v10.stomp; frames go out as
 * binary messages, one frame per message), on a shared http.Server's `path` or a port
 * of its own. The version is still negotiated by CONNECT's accept-version.
 */
export function listenStompWs(ctx: StompGateContext, opts: WebSocketEndpointOptions): Promise<Listener> {
  const limits = ctx.parserLimits;
  return listenWebSocket(ctx, {
    ...opts,
    path: opts.path ?? (ctx.config.stomp.wsPath || '/stomp'),
    name: 'STOMP',
    // a whole frame: its headers at their limits, the body, the NUL
    maxPayload: limits.maxBodyBytes + limits.maxHeaders * (limits.maxHeaderLineBytes + 2) + 64,
    handleProtocols: (protocols) => SUBPROTOCOLS.find((p) => protocols.has(p)) ?? false,
    onConnection(ws, _req, socket) {
      const stream = createWebSocketStream(ws);
      // ws's duplex neither closes nor (while input is paused) ends when the peer goes away
      ws.once('close', () => stream.destroy());
      new StompConnection(ctx, stream, transportOf('stomp', 'websocket', socket), false);
    },
  });
}
