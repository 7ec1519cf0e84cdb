import { urlHost, type Gate, type GateEndpoint } from '../../lib/gate-registry';
import { tlsFromConfig } from '../../lib/tls-options';
import { createStompContext, type StompGateContext } from './context';
import { acceptStompSocket, listenStompTcp, listenStompWs } from './listener';

/** The STOMP gate: TCP (stomp.port), TLS (stomp.tls), WebSocket (stomp.wsPath) and the shared HTTP port. */
export const stompGate: Gate<StompGateContext> = {
  name: 'stomp',
  sniffed: 'stomp',
  // its queues and durable subscriptions are the core's work queues
  createContext: (router, services) => createStompContext(router, services.work()),
  listenTcp: (ctx, options) => listenStompTcp(ctx, options),
  listenWebSocket: (ctx, options) => listenStompWs(ctx, options),
  accept: (ctx, socket, type) => {
    acceptStompSocket(ctx, socket, type);
  },
  endpoints(config) {
    const st = config.stomp;
    const out: GateEndpoint[] = [];
    if (st.enabled)
      out.push({
        transport: 'tcp',
        key: 'stomp',
        options: { host: st.host, port: st.port },
        describe: (port) => ({ url: `stomp://${urlHost(st.host)}:${port}` }),
      });
    const tls = tlsFromConfig(st.tls);
    if (tls) {
      out.push({
        transport: 'tcp',
        key: 'stomps',
        options: { host: st.tls.host, port: st.tls.port, tls },
        describe: (port) => ({ url: `stomp+ssl://${urlHost(st.tls.host)}:${port}` }),
      });
    }
    const path = st.wsPath;
    if (path) out.push({ transport: 'websocket', key: 'stompWebSocket', path, describe: (base) => ({ url: `${base}${path}` }) });
    return out;
  },
};
