/**
 * Starts a Gatehouse router as the daemon serves it (lib/cli.ts): one HTTP server made
 * by Router.createHttpServer with the HTTP API under /api (Express) and WAMP WebSocket
 * on /ws of the same port, for bench/http-bench.ts. Prints `PORT <n>` on stdout once it
 * accepts connections, and exits on SIGTERM/SIGINT.
 *
 *   node --import tsx bench/servers/http-gatehouse-server.ts
 */
import type { AddressInfo } from 'node:net';
import express from 'express';
import { Router } from '../../index';

async function main(): Promise<void> {
  const router = new Router({ log: { level: 'silent' }, store: { path: ':memory:' } });
  await router.start();
  const app = express();
  app.disable('x-powered-by');
  app.use(router.config.http.api.path, router.httpApi());
  const server = router.createHttpServer(app);
  await router.listenWAMP({ server, path: router.config.wamp.path });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  process.stdout.write(`PORT ${(server.address() as AddressInfo).port}\n`);
  const stop = (): void => {
    // no graceful drain: the driver has already closed its sessions and sockets
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`http-gatehouse-server: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
