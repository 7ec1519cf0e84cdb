import type net from 'node:net';
import { createWebSocketStream } from 'ws';
import { listenTcp, listenWebSocket, transportOf, type WebSocketEndpointOptions } from '../../lib/listeners';
import { proxyModeFor } from '../../lib/proxy-accept';
import type { TlsOptions } from '../../lib/tls-options';
import type { Listener } from '../../lib/router';
import { MqttConnection } from './connection';
import type { MqttGateContext } from './context';

/** MQTT over TCP (and TLS when `tls` is given). */
export function listenMqttTcp(ctx: MqttGateContext, opts: { port?: number; host?: string; tls?: TlsOptions }): Promise<Listener> {
  const proxy = proxyModeFor(ctx.config, opts.tls ? 'mqttTls' : 'mqtt');
  return listenTcp(ctx, { ...opts, proxy, name: opts.tls ? 'MQTT TLS' : 'MQTT' }, (socket, type) => {
    acceptMqttSocket(ctx, socket, type);
  });
}

/** One MQTT connection over TCP or TLS: its own listener's or the shared HTTP port's (lib/universal-port.ts). */
export function acceptMqttSocket(ctx: MqttGateContext, socket: net.Socket, type: 'tcp' | 'tls'): void {
  new MqttConnection(ctx, socket, transportOf('mqtt', type, socket));
}

/**
 * MQTT over WebSocket (subprotocol `mqtt`, binary frames), on a shared http.Server's
 * `path` or a port of its own.
 */
export function listenMqttWs(ctx: MqttGateContext, opts: WebSocketEndpointOptions): Promise<Listener> {
  return listenWebSocket(ctx, {
    ...opts,
    path: opts.path ?? (ctx.config.mqtt.wsPath || '/mqtt'),
    name: 'MQTT',
    maxPayload: ctx.config.limits.maxMessageSize + 5,
    handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false),
    onConnection(ws, _req, socket) {
      const stream = createWebSocketStream(ws);
      // ws's duplex neither closes nor (while input is paused) ends when the peer goes
      // away: without this a lost client keeps its session live and its will unsent
      ws.once('close', () => stream.destroy());
      new MqttConnection(ctx, stream, transportOf('mqtt', 'websocket', socket));
    },
  });
}
