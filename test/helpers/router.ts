import { Router } from '../../index';

export interface TestRouter {
  router: Router;
  /** ws://127.0.0.1:PORT/ws */
  wsUrl: string;
  /** tcp://127.0.0.1:PORT (WAMP RawSocket) */
  rawSocketUrl: string;
  rawSocketPort: number;
  close(): Promise<void>;
}

/**
 * Starts a router for one test file: WAMP WebSocket and RawSocket on ephemeral
 * loopback ports, in-memory store, quiet logs. `config` is merged over those defaults.
 */
export async function startRouter(config: Record<string, unknown> = {}): Promise<TestRouter> {
  const router = new Router({
    log: { level: process.env['GATEHOUSE_TEST_LOG'] ?? 'silent' },
    store: { path: ':memory:' },
    ...config,
  });
  await router.start();
  const ws = await router.listenWAMP({ port: 0, host: '127.0.0.1' });
  const raw = await router.listenRawSocket({ port: 0, host: '127.0.0.1' });
  return {
    router,
    wsUrl: `ws://127.0.0.1:${ws.port}/ws`,
    rawSocketUrl: `tcp://127.0.0.1:${raw.port}`,
    rawSocketPort: raw.port,
    close: () => router.close(),
  };
}
