/**
 * Demo: an Express app and a WAMP endpoint sharing one HTTP port.
 *
 *   npx tsx democli/express-mount.ts [port]
 *
 * GET http://127.0.0.1:3000/         -> served by Express
 * ws://127.0.0.1:3000/ws (realm1)    -> WAMP, on the same port
 */
import http from 'node:http';
import express from 'express';
import { Router } from '../index';

async function main(): Promise<void> {
  const port = Number(process.argv[2] ?? 3000);
  const app = express();
  const server = http.createServer(app);

  const router = new Router({ store: { path: ':memory:' } });
  await router.start();
  await router.listenWAMP({ server, path: '/ws' });

  app.get('/', (_req, res) => {
    res.type('text/plain').send('Express here. WAMP is on ws://<this host>/ws, realm realm1.\n');
  });
  app.get('/health', (_req, res) => res.json(router.health()));

  server.listen(port, '127.0.0.1', () => {
    router.log.info({ url: `http://127.0.0.1:${port}/`, wamp: `ws://127.0.0.1:${port}/ws` }, 'express + WAMP on one port');
  });

  const stop = (): void => {
    void router.close().then(() => server.close(() => process.exit(0)));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

void main();
