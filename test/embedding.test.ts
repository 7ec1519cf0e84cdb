import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import express from 'express';
import { Router } from '../index';
import { connect, wsOptions } from './helpers/autobahn';

let server: http.Server;
let router: Router;
let port = 0;

before(async () => {
  const app = express();
  app.get('/hello', (_req, res) => res.type('text/plain').send('express says hi'));
  server = http.createServer(app);
  router = new Router({ log: { level: 'silent' }, store: { path: ':memory:' } });
  await router.start();
  await router.listenWAMP({ server, path: '/ws' });
  // several gates on one server: each takes its own path only
  await router.listenMQTTWebSocket({ server, path: '/mqtt' });
  await router.listenSTOMPWebSocket({ server, path: '/stomp' });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  await router.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

test('embedding - Express and WAMP share one http.Server port', async () => {
  const res = await fetch(`http://127.0.0.1:${port}/hello`);
  assert.equal(await res.text(), 'express says hi');

  const a = await connect(wsOptions(`ws://127.0.0.1:${port}/ws`, 'json'));
  const b = await connect(wsOptions(`ws://127.0.0.1:${port}/ws`, 'msgpack'));
  await b.session.register('demo.echo', (args) => args);
  assert.deepEqual(await a.session.call('demo.echo', ['x', 1]), ['x', 1]);
  await a.close();
  await b.close();
});

test('embedding - a WebSocket upgrade on a path no gate owns gets 404, not a hanging socket', async () => {
  const { WebSocket } = await import('ws');
  const ws = new WebSocket(`ws://127.0.0.1:${port}/other`, ['wamp.2.json']);
  const status = await new Promise<number>((resolve) => {
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('open', () => resolve(101));
    ws.on('error', () => undefined);
  });
  ws.terminate();
  assert.equal(status, 404);
});

test('embedding - router.close() ends sessions with wamp.close.system_shutdown', async () => {
  const r2 = new Router({ log: { level: 'silent' }, store: { path: ':memory:' } });
  await r2.start();
  const l = await r2.listenWAMP({ port: 0 });
  const c = await connect(wsOptions(`ws://127.0.0.1:${l.port}/ws`, 'cbor'));
  await r2.close();
  const closed = await c.onclose;
  assert.equal(closed.details['reason'], 'wamp.close.system_shutdown');
  assert.equal(r2.health().status, 'draining');
});
