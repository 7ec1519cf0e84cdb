import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { tempDir } from '../helpers/daemon';
import { killChildRouters } from '../helpers/child-router';
import { client, linkTo, publishAcked, startLinkRouter, waitForLinkState, type LinkRouter } from '../helpers/link-routers';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy';
import { expectQuiet, waitFor } from '../helpers/wait';

/**
 * Links in a triangle (README "Links"): every router sends and receives the same
 * patterns, so each message could go round for ever; each router's subscribers see it
 * once. And `in: "auto"`, which follows the local subscriptions.
 */
describe('links: a triangle of three routers, and in: "auto"', () => {
  const tmp = tempDir();
  const proxies: TcpProxy[] = [];
  const closers: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of closers) await c().catch(() => undefined);
    for (const p of proxies) await p.close();
    await killChildRouters();
    tmp.remove();
  });

  it('delivers each message once on every router, whoever publishes it', async () => {
    const names = ['a', 'b', 'c'];
    // a -> b -> c -> a, each link out and in on the same pattern
    const toNext = await Promise.all(names.map(() => startTcpProxy()));
    proxies.push(...toNext);
    const routers: LinkRouter[] = [];
    for (const [i, name] of names.entries()) {
      routers.push(
        await startLinkRouter(tmp.dir, `tri-${name}`, {
          links: [linkTo(`to-${names[(i + 1) % 3] ?? ''}`, toNext[i]?.port ?? 0, { out: ['tri.#'], in: ['tri.#'] })],
        }),
      );
    }
    for (const [i, p] of toNext.entries()) p.target = routers[(i + 1) % 3]?.ready.port;
    const pubs = await Promise.all(routers.map((r) => client(r)));
    const subs = await Promise.all(routers.map((r) => client(r)));
    closers.push(...pubs.map((c) => () => c.close()), ...subs.map((c) => () => c.close()));
    for (const [i, c] of pubs.entries()) await waitForLinkState(c.session, `to-${names[(i + 1) % 3] ?? ''}`, 'up');
    for (const s of subs) await s.subscribe('tri.x');
    // the link subscriptions at the peers are made on connect: a first round proves them
    for (const [i, p] of pubs.entries()) await publishAcked(p.session, 'tri.x', `m${i}`);
    await waitFor(() => subs.every((s) => s.received('tri.x').length >= 3), 'every message on every router', 20_000);
    // a loop would bring copies: a second round, then a pause of many round trips
    for (const [i, p] of pubs.entries()) await publishAcked(p.session, 'tri.x', `n${i}`);
    await waitFor(() => subs.every((s) => s.received('tri.x').length >= 6), 'the second round', 20_000);
    await expectQuiet(500);
    for (const s of subs) assert.deepEqual([...s.received('tri.x')].sort(), ['m0', 'm1', 'm2', 'n0', 'n1', 'n2']);
  });

  it('in: "auto" subscribes at the peer as local clients subscribe, and unsubscribes as they leave', async () => {
    const cloud = await startLinkRouter(tmp.dir, 'auto-cloud', {});
    const proxy = await startTcpProxy(cloud.ready.port);
    proxies.push(proxy);
    const site = await startLinkRouter(tmp.dir, 'auto-site', { links: [linkTo('up', proxy.port, { in: 'auto' })] });
    const siteSub = await client(site);
    const cloudC = await client(cloud);
    closers.push(
      () => siteSub.close(),
      () => cloudC.close(),
    );
    await waitForLinkState(siteSub.session, 'up', 'up');
    // fox-wamp form at the peer: auto.*.temp is the wildcard pattern auto..temp
    const lookupWild = (): Promise<number | null> =>
      cloudC.session.call<number | null>('wamp.subscription.lookup', ['auto..temp', { match: 'wildcard' }]);
    assert.equal(await lookupWild(), null);
    const sub = await siteSub.subscribe('auto.*.temp');
    await waitFor(async () => (await lookupWild()) !== null, 'the link subscribed at the cloud');
    await publishAcked(cloudC.session, 'auto.room1.temp', 21);
    await waitFor(() => siteSub.received('auto.*.temp').length === 1, 'the cloud message at the site');
    assert.deepEqual(siteSub.received('auto.*.temp'), [21]);
    await sub.unsubscribe();
    await waitFor(async () => (await lookupWild()) === null, 'the link unsubscribed at the cloud');
  });
});
