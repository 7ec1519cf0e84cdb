import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect } from '../helpers/autobahn';
import { startRouter, type TestRouter } from '../helpers/router';
import { waitFor } from '../helpers/wait';

/**
 * The receiving side of a link (README "Links"): a publication that carries its message
 * id (PUBLISH option x_gatehouse_msgid) is routed once; a resent copy, or one that
 * started at this router, is acknowledged and dropped, counted.
 */
describe('links: duplicate drop by message id', () => {
  let r: TestRouter;
  before(async () => {
    r = await startRouter({}, { node: 'cloud' });
  });
  after(() => r.close());

  async function duplicates(): Promise<number> {
    const m = await r.router.metrics.registry.getSingleMetric('gatehouse_duplicates_dropped_total')?.get();
    return (m?.values ?? []).reduce((n, v) => n + v.value, 0);
  }

  it('routes a resent message once and counts the copy; drops one that started here', async () => {
    const link = await connect({ url: r.wsUrl });
    const sub = await connect({ url: r.wsUrl });
    try {
      const got: unknown[] = [];
      await sub.session.subscribe('dedup.t', (args) => got.push(args[0]));
      const send = (value: string, id: string): Promise<unknown> | undefined =>
        link.session.publish('dedup.t', [value], {}, { acknowledge: true, x_gatehouse_msgid: id });
      await send('first', 'site-1:77');
      // the same id again (a resend after a reconnect): acknowledged, not routed
      await send('first again', 'site-1:77');
      await send('second', 'site-1:78');
      // the same publication id from another node is another message
      await send('other node', 'site-2:77');
      // a message of this router that came back by another way
      await send('looped', 'cloud:5');
      await send('end', 'site-1:79');
      await waitFor(() => got.includes('end'), 'the last message');
      assert.deepEqual(got, ['first', 'second', 'other node', 'end']);
      assert.equal(await duplicates(), 2);
    } finally {
      await link.close();
      await sub.close();
    }
  });

  it('refuses a malformed message id with invalid_argument', async () => {
    const c = await connect({ url: r.wsUrl });
    try {
      await assert.rejects(
        c.session.publish('dedup.bad', [1], {}, { acknowledge: true, x_gatehouse_msgid: 'no-id-here' }) ?? Promise.resolve(),
        (err: { error?: string }) => err.error === 'wamp.error.invalid_argument',
      );
    } finally {
      await c.close();
    }
  });
});
