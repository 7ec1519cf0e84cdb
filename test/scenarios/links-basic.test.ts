import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect } from '../helpers/autobahn';
import { tempDir } from '../helpers/daemon';
import { killChildRouters } from '../helpers/child-router';
import {
  client,
  linkStatus,
  linkTo,
  publishAcked,
  startLinkRouter,
  waitForLinkState,
  type LinkRouter,
} from '../helpers/link-routers';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy';
import { expectQuiet, waitFor } from '../helpers/wait';

/**
 * Links between two routers (README "Links"): a site and its designated router in the
 * cloud, each a child process with its own store, the link through a TCP proxy the test
 * cuts and restores.
 */
describe('links: a site and its designated router', () => {
  const tmp = tempDir();
  let cloud: LinkRouter;
  let site: LinkRouter;
  let proxy: TcpProxy;
  // publishers and subscribers apart: WAMP does not send a publisher its own events
  let siteC: Awaited<ReturnType<typeof client>>;
  let cloudC: Awaited<ReturnType<typeof client>>;
  let siteSub: Awaited<ReturnType<typeof client>>;
  let cloudSub: Awaited<ReturnType<typeof client>>;

  before(async () => {
    cloud = await startLinkRouter(tmp.dir, 'cloud', {});
    proxy = await startTcpProxy(cloud.ready.port);
    site = await startLinkRouter(tmp.dir, 'site', {
      links: [linkTo('up', proxy.port, { out: ['site.#', 'both.#'], in: ['cloud.#', 'both.#'], calls: ['cloud.rpc.#'] })],
    });
    siteC = await client(site);
    cloudC = await client(cloud);
    siteSub = await client(site);
    cloudSub = await client(cloud);
    await waitForLinkState(siteC.session, 'up', 'up');
  });
  after(async () => {
    await siteC?.close();
    await cloudC?.close();
    await siteSub?.close();
    await cloudSub?.close();
    await proxy?.close();
    await killChildRouters();
    tmp.remove();
  });

  it('sends up what matches out, brings down what matches in, and nothing else', async () => {
    await cloudSub.subscribe('site.#');
    await cloudSub.subscribe('other.#');
    await siteSub.subscribe('cloud.#');
    await publishAcked(siteC.session, 'site.temp', 1);
    await publishAcked(siteC.session, 'other.temp', 2);
    await publishAcked(cloudC.session, 'cloud.cmd', 3);
    await waitFor(
      () => cloudSub.received('site.#').length === 1 && siteSub.received('cloud.#').length === 1,
      'the messages across the link',
    );
    assert.deepEqual(cloudSub.received('site.#'), [1]);
    assert.deepEqual(siteSub.received('cloud.#'), [3]);
    // other.# is in no pattern: a marker sent after it arrives, it never does
    await publishAcked(siteC.session, 'site.marker', 4);
    await waitFor(() => cloudSub.received('site.#').length === 2, 'the marker');
    assert.deepEqual(cloudSub.received('other.#'), []);
  });

  it('keeps delivering locally during a cut, and the cloud gets everything after it, once each, in order', async () => {
    await cloudSub.subscribe('site.cut');
    await siteSub.subscribe('site.cut');
    proxy.cut();
    await waitForLinkState(siteC.session, 'up', 'down');
    const n = 50;
    for (let i = 0; i < n; i++) await publishAcked(siteC.session, 'site.cut', i);
    // local subscribers do not wait for the link
    await waitFor(() => siteSub.received('site.cut').length === n, 'local delivery during the cut');
    const queued = await linkStatus(siteC.session, 'up');
    assert.equal(queued.queued, n);
    assert.ok(queued.oldestAgeMs >= 0);
    assert.deepEqual(cloudSub.received('site.cut'), []);
    proxy.restore();
    await waitFor(() => cloudSub.received('site.cut').length >= n, 'the queue drained to the cloud', 20_000);
    await waitFor(async () => (await linkStatus(siteC.session, 'up')).queued === 0, 'the queue empty');
    await publishAcked(siteC.session, 'site.cut', 'end');
    await waitFor(() => cloudSub.received('site.cut').length === n + 1, 'the marker after the drain');
    assert.deepEqual(cloudSub.received('site.cut'), [...Array.from({ length: n }, (_, i) => i), 'end']);
  });

  it('takes a link whose peer stops acknowledging for down, and resends on a new connection', async () => {
    await cloudSub.subscribe('site.stall');
    proxy.stall();
    for (let i = 0; i < 5; i++) await publishAcked(siteC.session, 'site.stall', i);
    // nothing acknowledged within timeoutMs (3 s here): the link gives up on the connection
    await waitForLinkState(siteC.session, 'up', 'down');
    assert.match((await linkStatus(siteC.session, 'up')).lastError ?? '', /acknowledgement/);
    proxy.restore();
    await waitFor(() => cloudSub.received('site.stall').length >= 5, 'the messages on a new connection', 20_000);
    await publishAcked(siteC.session, 'site.stall', 'end');
    await waitFor(() => cloudSub.received('site.stall').length === 6, 'the marker');
    assert.deepEqual(cloudSub.received('site.stall'), [0, 1, 2, 3, 4, 'end']);
  });

  it('sends nothing back where it came from when in and out overlap', async () => {
    await siteSub.subscribe('both.x');
    await cloudSub.subscribe('both.x');
    await publishAcked(siteC.session, 'both.x', 'from-site');
    await publishAcked(cloudC.session, 'both.x', 'from-cloud');
    await waitFor(
      () => siteSub.received('both.x').length >= 2 && cloudSub.received('both.x').length >= 2,
      'both messages on both sides',
    );
    // a loop would bring more copies: give it the time of a few round trips
    await publishAcked(siteC.session, 'both.x', 'end-site');
    await publishAcked(cloudC.session, 'both.x', 'end-cloud');
    await waitFor(() => siteSub.received('both.x').length >= 4 && cloudSub.received('both.x').length >= 4, 'the markers');
    await expectQuiet(300);
    assert.deepEqual([...siteSub.received('both.x')].sort(), ['end-cloud', 'end-site', 'from-cloud', 'from-site']);
    assert.deepEqual([...cloudSub.received('both.x')].sort(), ['end-cloud', 'end-site', 'from-cloud', 'from-site']);
  });

  it('keeps a retained publication retained at the peer', async () => {
    await publishAcked(siteC.session, 'site.state', 'on', { retain: true });
    await waitFor(
      async () => (await linkStatus(siteC.session, 'up')).queued === 0,
      'the retained message acknowledged by the cloud',
    );
    // a subscriber that comes later still gets it from the cloud's retained store
    const late: unknown[] = [];
    await cloudC.session.subscribe('site.state', (args) => late.push(args[0]), { get_retained: true });
    await waitFor(() => late.length === 1, 'the retained value at the cloud');
    assert.deepEqual(late, ['on']);
  });

  it('forwards a call to the peer, and fails it at once with gatehouse.error.unavailable while the link is down', async () => {
    await cloudC.session.register('cloud.rpc.add', (args) => (args[0] as number) + (args[1] as number));
    assert.equal(await siteC.session.call<number>('cloud.rpc.add', [2, 3]), 5);
    proxy.cut();
    await waitForLinkState(siteC.session, 'up', 'down');
    const t0 = Date.now();
    await assert.rejects(
      siteC.session.call('cloud.rpc.add', [2, 3]),
      (err: { error?: string }) => err.error === 'gatehouse.error.unavailable',
    );
    assert.ok(Date.now() - t0 < 1000, 'at once, not after a timeout');
    proxy.restore();
    await waitForLinkState(siteC.session, 'up', 'up');
    assert.equal(await siteC.session.call<number>('cloud.rpc.add', [4, 5]), 9);
  });

  it('takes a durable request whose procedure the link serves to the peer: its destination there answers once, registered later', async () => {
    // submitted at the site while nobody serves it at the cloud yet
    const submitted = await siteC.session.call<{ id: string }>('gatehouse.request.submit', [
      'cloud.rpc.job',
      [7],
      {},
      { destinations: ['worker-1'], expires_in: 60 },
    ]);
    assert.equal(typeof submitted.id, 'string');
    const pending = await siteC.session.call<{ status: string }>('gatehouse.request.get', [submitted.id]);
    assert.equal(pending.status, 'pending');
    // the destination registers at the cloud afterwards (WAMP anonymous takes the authid it names)
    const worker = await connect({ url: cloud.wsUrl, authid: 'worker-1' });
    try {
      let calls = 0;
      await worker.session.register('cloud.rpc.job', (args) => {
        calls++;
        return (args[0] as number) * 2;
      });
      const done = await siteC.session.call<{ status: string; replies: { destination: string; args: unknown[] }[] }>(
        'gatehouse.request.get',
        [submitted.id, { wait: 20 }],
      );
      assert.equal(done.status, 'done');
      assert.deepEqual(
        done.replies.map((r) => [r.destination, r.args]),
        [['worker-1', [14]]],
      );
      assert.equal(calls, 1, 'the destination answered once');
    } finally {
      await worker.close();
    }
  });
});
