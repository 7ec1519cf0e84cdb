import { urlHost, type Gate, type GateEndpoint } from '../../lib/gate-registry';
import { tlsFromConfig } from '../../lib/tls-options';
import { createMqttContext, type MqttGateContext } from './context';
import { stopSessions } from './lifecycle';
import { acceptMqttSocket, listenMqttTcp, listenMqttWs } from './listener';
import { restoreSessions } from './session-records';
import { joinClusterSessions } from './cluster-sessions';
import { startSysTopics } from './sys-topics';

/** The MQTT gate: TCP (mqtt.port), TLS (mqtt.tls), WebSocket (mqtt.wsPath) and the shared HTTP port. */
export const mqttGate: Gate<MqttGateContext> = {
  name: 'mqtt',
  sniffed: 'mqtt',
  createContext(router, services) {
    const ctx = createMqttContext(router);
    // in a cluster, persistent sessions live in the cluster (the node's own records are
    // not restored: another node may hold them now); else those of the last run come
    // back before the first client does
    joinClusterSessions(ctx);
    if (!ctx.shared) restoreSessions(ctx);
    const stop = startSysTopics(ctx);
    services.onClose(() => {
      stop();
      stopSessions(ctx);
    });
    return ctx;
  },
  listenTcp: (ctx, options) => listenMqttTcp(ctx, options),
  listenWebSocket: (ctx, options) => listenMqttWs(ctx, options),
  accept: (ctx, socket, type) => {
    acceptMqttSocket(ctx, socket, type);
  },
  endpoints(config) {
    const mq = config.mqtt;
    const out: GateEndpoint[] = [];
    if (mq.enabled)
      out.push({
        transport: 'tcp',
        key: 'mqtt',
        options: { host: mq.host, port: mq.port },
        describe: (port) => ({ url: `mqtt://${urlHost(mq.host)}:${port}` }),
      });
    const tls = tlsFromConfig(mq.tls);
    if (tls) {
      out.push({
        transport: 'tcp',
        key: 'mqtts',
        options: { host: mq.tls.host, port: mq.tls.port, tls },
        describe: (port) => ({ url: `mqtts://${urlHost(mq.tls.host)}:${port}` }),
      });
    }
    const path = mq.wsPath;
    if (path) out.push({ transport: 'websocket', key: 'mqttWebSocket', path, describe: (base) => ({ url: `${base}${path}` }) });
    return out;
  },
};
