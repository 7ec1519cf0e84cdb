import assert from 'node:assert/strict';
import { after, afterEach, describe, it } from 'node:test';
import mqtt from 'mqtt';
import { tempDir } from '../helpers/daemon';
import { killChildRouters } from '../helpers/child-router';
import { client, linkStatus, linkTo, publishAcked, startLinkRouter, waitForLinkState } from '../helpers/link-routers';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy';
import { waitFor } from '../helpers/wait';

/**
 * A link's queue (README "Links"): what a publisher had acknowledged survives a SIGKILL
 * of the site router; a full queue drops its oldest, counted; old messages expire.
 */
describe('links: the durable queue', () => {
  const tmp = tempDir();
  const proxies: TcpProxy[] = [];
  const closers: (() => Promise<void>)[] = [];

  afterEach(async () => {
    for (const c of closers.splice(0)) await c().catch(() => undefined);
    for (const p of proxies.splice(0)) await p.close();
    await killChildRouters();
  });
  after(() => tmp.remove());

  async function pair(test: string, link: Record<string, unknown>) {
    const cloud = await startLinkRouter(tmp.dir, `${test}-cloud`, {});
    const proxy = await startTcpProxy(cloud.ready.port);
    proxies.push(proxy);
    const siteConfig = { links: [linkTo('up', proxy.port, link)] };
    const site = await startLinkRouter(tmp.dir, `${test}-site`, siteConfig);
    const siteC = await client(site);
    const cloudSub = await client(cloud);
    closers.push(
      () => siteC.close(),
      () => cloudSub.close(),
    );
    await waitForLinkState(siteC.session, 'up', 'up');
    return { cloud, site, proxy, siteC, cloudSub, siteConfig };
  }

  it('loses none of the acknowledged messages when the site router is SIGKILLed with them queued', async () => {
    const { site, proxy, siteC, cloudSub, siteConfig } = await pair('kill', { out: ['site.#'] });
    await cloudSub.subscribe('site.data');
    proxy.cut();
    await waitForLinkState(siteC.session, 'up', 'down');
    // an MQTT publisher too: its PUBACK means the message is in the link queue
    const m = await mqtt.connectAsync(site.mqttUrl, { reconnectPeriod: 0 });
    const n = 40;
    for (let i = 0; i < n; i++) {
      if (i % 2 === 0) await publishAcked(siteC.session, 'site.data', i);
      else await m.publishAsync('site/data', JSON.stringify(i), { qos: 1 });
    }
    await m.endAsync();
    assert.equal((await linkStatus(siteC.session, 'up')).queued, n);
    await site.kill();
    await siteC.close().catch(() => undefined);
    proxy.restore();
    const again = await startLinkRouter(tmp.dir, 'kill-site', siteConfig);
    const c2 = await client(again);
    closers.push(() => c2.close());
    await waitFor(() => cloudSub.received('site.data').length >= n, 'the restarted site drained its queue', 30_000);
    await waitFor(async () => (await linkStatus(c2.session, 'up')).queued === 0, 'the queue empty');
    await publishAcked(c2.session, 'site.data', 'end');
    await waitFor(() => cloudSub.received('site.data').length === n + 1, 'the marker');
    // MQTT payloads arrive as the JSON text's value
    const got = cloudSub.received('site.data').map((v) => (typeof v === 'string' && v !== 'end' ? Number(v) : v));
    assert.deepEqual(got, [...Array.from({ length: n }, (_, i) => i), 'end']);
  });

  it('drops the oldest message when the queue is full, counted, and sends the rest in order', async () => {
    const { proxy, siteC, cloudSub } = await pair('full', { out: ['site.#'], queue: { maxMessages: 5 } });
    await cloudSub.subscribe('site.full');
    proxy.cut();
    await waitForLinkState(siteC.session, 'up', 'down');
    // never slows the publisher: every publish is acknowledged
    for (let i = 1; i <= 8; i++) await publishAcked(siteC.session, 'site.full', i);
    const status = await linkStatus(siteC.session, 'up');
    assert.equal(status.queued, 5);
    assert.equal(status.dropped, 3);
    assert.equal(status.droppedBy['full'], 3);
    proxy.restore();
    await waitFor(() => cloudSub.received('site.full').length >= 5, 'the rest drained', 20_000);
    await publishAcked(siteC.session, 'site.full', 'end');
    await waitFor(() => cloudSub.received('site.full').length === 6, 'the marker');
    assert.deepEqual(cloudSub.received('site.full'), [4, 5, 6, 7, 8, 'end']);
  });

  it('drops what waited longer than expirySeconds, counted', async () => {
    const { proxy, siteC, cloudSub } = await pair('expiry', { out: ['site.#'], queue: { expirySeconds: 1 } });
    await cloudSub.subscribe('site.old');
    proxy.cut();
    await waitForLinkState(siteC.session, 'up', 'down');
    for (let i = 1; i <= 3; i++) await publishAcked(siteC.session, 'site.old', i);
    await waitFor(async () => (await linkStatus(siteC.session, 'up')).droppedBy['expired'] === 3, 'the three expired', 10_000);
    assert.equal((await linkStatus(siteC.session, 'up')).queued, 0);
    proxy.restore();
    await waitForLinkState(siteC.session, 'up', 'up');
    await publishAcked(siteC.session, 'site.old', 'fresh');
    await waitFor(() => cloudSub.received('site.old').length === 1, 'the fresh one');
    assert.deepEqual(cloudSub.received('site.old'), ['fresh']);
  });
});
