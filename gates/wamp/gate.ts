import type { Gate, GateEndpoint } from '../../lib/gate-registry';
import { tlsFromConfig } from '../../lib/tls-options';
import { createWampContext } from './context';
import { acceptRawSocket, listenWampRawSocket } from './rawsocket-listener';
import { listenWampWs } from './ws-listener';

/**
 * The WAMP gate: WebSocket (on the HTTP server's wamp.path, always, in the daemon),
 * RawSocket on a port of its own (wamp.rawsocket) and from the shared HTTP port.
 */
export const wampGate: Gate = {
  name: 'wamp',
  sniffed: 'rawsocket',
  createContext: (router) => createWampContext(router),
  listenTcp: (ctx, options) => listenWampRawSocket(ctx, options),
  listenWebSocket: (ctx, options) => listenWampWs(ctx, options),
  accept: (ctx, socket) => {
    acceptRawSocket(ctx, socket);
  },
  endpoints(config) {
    const path = config.wamp.path;
    const raw = config.wamp.rawsocket;
    const out: GateEndpoint[] = [{ transport: 'websocket', key: 'wamp', path, describe: (base) => ({ url: `${base}${path}` }) }];
    if (raw.enabled) {
      const options = { host: raw.host, port: raw.port, tls: tlsFromConfig(raw.tls) };
      out.push({
        transport: 'tcp',
        key: 'rawsocket',
        options,
        describe: (port) => ({ host: raw.host, port, tls: raw.tls.enabled }),
      });
    }
    return out;
  },
};
