import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect } from '../helpers/autobahn';
import { startRouter, type TestRouter } from '../helpers/router';
import { waitFor } from '../helpers/wait';

/**
 * On the receiving router a link is an ordinary client, authorized by its role
 * (README "Links"): a message the peer refuses is dropped and counted as `refused`,
 * and does not block the messages queued behind it.
 */
describe('links: a message the peer refuses', () => {
  let cloud: TestRouter;
  let site: TestRouter;
  before(async () => {
    cloud = await startRouter({
      auth: {
        roles: {
          anonymous: {
            permissions: [
              { uri: 'site.ok.', match: 'prefix', allow: ['publish', 'subscribe'] },
              { uri: 'site.no.', match: 'prefix', allow: ['subscribe'] },
            ],
          },
        },
      },
    });
    const port = new URL(cloud.wsUrl).port;
    site = await startRouter({ links: [{ name: 'up', url: `ws://127.0.0.1:${port}/ws`, out: ['site.#'], retryMaxMs: 200 }] });
  });
  after(async () => {
    await site?.close();
    await cloud?.close();
  });

  it('drops it, counted, and sends on what follows', async () => {
    const s = await connect({ url: site.wsUrl });
    const c = await connect({ url: cloud.wsUrl });
    try {
      type Row = { state: string; queued: number; droppedBy: Record<string, number> };
      const link = async (): Promise<Row | undefined> => (await s.session.call<Row[]>('gatehouse.link.list'))[0];
      await waitFor(async () => (await link())?.state === 'up', 'the link up');
      const got: unknown[] = [];
      await c.session.subscribe('site.ok.t', (args) => got.push(args[0]));
      await s.session.publish('site.ok.t', [1], {}, { acknowledge: true });
      await s.session.publish('site.no.t', [2], {}, { acknowledge: true });
      await s.session.publish('site.ok.t', [3], {}, { acknowledge: true });
      await waitFor(() => got.length === 2, 'the allowed ones');
      assert.deepEqual(got, [1, 3]);
      await waitFor(async () => (await link())?.queued === 0, 'the queue empty');
      assert.deepEqual((await link())?.droppedBy, { refused: 1 });
      assert.equal((await link())?.state, 'up', 'a refusal is not a broken link');
    } finally {
      await s.close();
      await c.close();
    }
  });
});
