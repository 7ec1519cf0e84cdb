import { Router, type RouterOptions } from '../../index';

export interface TestRouter {
  router: Router;
  /** ws://127.0.0.1:PORT/ws */
  wsUrl: string;
  /** tcp://127.0.0.1:PORT (WAMP RawSocket) */
  rawSocketUrl: string;
  rawSocketPort: number;
  /** mqtt://127.0.0.1:PORT */
  mqttUrl: string;
  mqttPort: number;
  /** ws://127.0.0.1:PORT/mqtt */
  mqttWsUrl: string;
  /** STOMP over TCP */
  stompPort: number;
  /** ws://127.0.0.1:PORT/stomp (subprotocols v12.stomp, v11.stomp, v10.stomp) */
  stompWsUrl: string;
  close(): Promise<void>;
}

/**
 * Starts a router for one test file: WAMP WebSocket and RawSocket on ephemeral
 * loopback ports, in-memory store, quiet logs. `config` is merged over those defaults;
 * `options` go to the Router (e.g. a fake `clock`).
 */
export async function startRouter(config: Record<string, unknown> = {}, options: RouterOptions = {}): Promise<TestRouter> {
  const router = new Router(
    {
      log: { level: process.env['GATEHOUSE_TEST_LOG'] ?? 'silent' },
      store: { path: ':memory:' },
      ...config,
    },
    options,
  );
  await router.start();
  const ws = await router.listenWAMP({ port: 0, host: '127.0.0.1' });
  const raw = await router.listenRawSocket({ port: 0, host: '127.0.0.1' });
  const mqtt = await router.listenMQTT({ port: 0, host: '127.0.0.1' });
  const mqttWs = await router.listenMQTTWebSocket({ port: 0, host: '127.0.0.1', path: '/mqtt' });
  const stomp = await router.listenSTOMP({ port: 0, host: '127.0.0.1' });
  const stompWs = await router.listenSTOMPWebSocket({ port: 0, host: '127.0.0.1', path: '/stomp' });
  return {
    router,
    wsUrl: `ws://127.0.0.1:${ws.port}/ws`,
    rawSocketUrl: `tcp://127.0.0.1:${raw.port}`,
    rawSocketPort: raw.port,
    mqttUrl: `mqtt://127.0.0.1:${mqtt.port}`,
    mqttPort: mqtt.port,
    mqttWsUrl: `ws://127.0.0.1:${mqttWs.port}/mqtt`,
    stompPort: stomp.port,
    stompWsUrl: `ws://127.0.0.1:${stompWs.port}/stomp`,
    close: () => router.close(),
  };
}

/**
 * An `auth` config in which anonymous may do everything but the `deny` actions on `uri`
 * (a prefix unless `match` says exact): how a test makes one refusal happen.
 */
export function allowAllBut(uri: string, deny: string[], match: 'exact' | 'prefix' = 'prefix'): Record<string, unknown> {
  return {
    roles: {
      anonymous: {
        permissions: [
          { uri: '', match: 'prefix', allow: ['*'] },
          { uri, match, deny },
        ],
      },
    },
  };
}
