import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connect, wsOptions } from '../../helpers/autobahn';
import { startRouter, type TestRouter } from '../../helpers/router';
import { withTimeout } from '../../helpers/wait';

let r: TestRouter;
before(async () => {
  r = await startRouter({ mqtt: { sysIntervalSeconds: 0 } });
});
after(() => r.close());

test('retained - watchers that do not write do not stall the other satisfied watchers', async () => {
  const a = await connect(wsOptions(r.wsUrl, 'json'));
  const b = await connect(wsOptions(r.wsUrl, 'json'));
  const c = await connect(wsOptions(r.wsUrl, 'json'));
  try {
    const opts = { when: { x: 1 }, watch: true, acknowledge: true };
    const pa = a.session.publish('probe.chain', [{ from: 'a' }], {}, opts);
    const pb = b.session.publish('probe.chain', [{ from: 'b' }], {}, opts);
    // a round trip on each session: the router has read (and queued) its watch first
    await withTimeout(
      Promise.all([a.session.call('wamp.session.count'), b.session.call('wamp.session.count')]),
      2000,
      'the watchers queued',
    );
    await c.session.publish('probe.chain', [{ x: 1 }], {}, { retain: true, acknowledge: true });
    const [ra, rb] = (await withTimeout(Promise.all([pa, pb]), 2000, 'both watchers (none left stuck)')) as [
      { id: number },
      { id: number },
    ];
    assert.ok(ra.id > 0 && rb.id > 0);
  } finally {
    await Promise.all([a.close(), b.close(), c.close()]);
  }
});
