import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect } from '../helpers/autobahn';
import { startRouter, type TestRouter } from '../helpers/router';
import { waitFor } from '../helpers/wait';

const dir = join(__dirname, '../fixtures/tls');

/**
 * A wss:// link (README "Links", SECURITY.md): the link checks the peer's certificate
 * against its caFile and presents a client certificate; a peer that requires one
 * refuses a link whose certificate its CA did not sign.
 */
describe('links: wss:// with mutual TLS', () => {
  let cloud: TestRouter;
  let site: TestRouter;
  let port = 0;

  before(async () => {
    cloud = await startRouter();
    port = (
      await cloud.router.listenWAMP({
        port: 0,
        host: '127.0.0.1',
        tls: {
          certFile: join(dir, 'ca-server.crt'),
          keyFile: join(dir, 'ca-server.key'),
          caFile: join(dir, 'ca.crt'),
          requireClientCert: true,
        },
      })
    ).port;
    const link = (name: string, tls: Record<string, string>): Record<string, unknown> => ({
      name,
      url: `wss://127.0.0.1:${port}/ws`,
      out: ['tls.#'],
      retryMaxMs: 200,
      tls,
    });
    site = await startRouter({
      links: [
        link('good', { caFile: join(dir, 'ca.crt'), certFile: join(dir, 'client.crt'), keyFile: join(dir, 'client.key') }),
        // a client certificate the cloud's CA did not sign
        link('stranger', { caFile: join(dir, 'ca.crt'), certFile: join(dir, 'server.crt'), keyFile: join(dir, 'server.key') }),
        // a CA that did not sign the cloud's certificate: the peer is not trusted
        link('wrong-ca', {
          caFile: join(dir, 'server.crt'),
          certFile: join(dir, 'client.crt'),
          keyFile: join(dir, 'client.key'),
        }),
      ],
    });
  });
  after(async () => {
    await site?.close();
    await cloud?.close();
  });

  it('connects with the right certificates only, and carries messages over TLS', async () => {
    const s = await connect({ url: site.wsUrl });
    const c = await connect({ url: cloud.wsUrl });
    try {
      type Row = { name: string; state: string; lastError?: string };
      const list = (): Promise<Row[]> => s.session.call<Row[]>('gatehouse.link.list');
      await waitFor(async () => (await list()).find((l) => l.name === 'good')?.state === 'up', 'the good link up', 10_000);
      await waitFor(
        async () => (await list()).every((l) => l.name === 'good' || l.lastError !== undefined),
        'the others refused',
        10_000,
      );
      const rows = await list();
      assert.notEqual(rows.find((l) => l.name === 'stranger')?.state, 'up');
      assert.notEqual(rows.find((l) => l.name === 'wrong-ca')?.state, 'up');
      assert.match(rows.find((l) => l.name === 'wrong-ca')?.lastError ?? '', /certificate/i);
      const got: unknown[] = [];
      await c.session.subscribe('tls.t', (args) => got.push(args[0]));
      await s.session.publish('tls.t', ['secret'], {}, { acknowledge: true });
      await waitFor(() => got.length >= 1, 'the message over wss');
      assert.deepEqual(got, ['secret']);
    } finally {
      await s.close();
      await c.close();
    }
  });
});
