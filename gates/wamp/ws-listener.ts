import type { IncomingMessage } from 'node:http';
import { listenWebSocket, type WebSocketEndpointOptions } from '../../lib/listeners';
import type { Listener } from '../../lib/router';
import type { WampGateContext } from './context';
import { serializerForWsProtocol, type Serializer } from '../../lib/wamp/serializers';
import { WampSession } from './session';
import { WsTransport } from './ws-transport';

export type WampWsOptions = WebSocketEndpointOptions;

/**
 * WAMP over WebSocket. Mounts on a shared http.Server by handling `upgrade` for its
 * path only, so other gates and the application keep the rest of the server.
 */
export function listenWampWs(ctx: WampGateContext, opts: WampWsOptions): Promise<Listener> {
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
  return listenWebSocket(ctx, {
    ...opts,
    path: opts.path ?? ctx.config.wamp.path,
    name: 'WAMP',
    // enforced by ws on the frame header, before the payload is buffered
    maxPayload: limits.maxMessageSize,
    handleProtocols: (_protocols, req) => pick(req)?.wsProtocol ?? false,
    vet(req) {
      if (pick(req)) return undefined;
      ctx.counters.errors('no_subprotocol');
      return {
        status: 400,
        text: 'Bad Request',
        body: `supported subprotocols: ${[...allowed].map((n) => `wamp.2.${n}`).join(', ')}`,
      };
    },
    onConnection(ws, req) {
      const serializer = pick(req);
      if (!serializer) {
        ws.terminate();
        return;
      }
      const transport = new WsTransport(ws, serializer, req, ctx, ctx.config.wamp.pingIntervalMs);
      transport.attach(new WampSession(ctx, transport));
    },
  });
}
