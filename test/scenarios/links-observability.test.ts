import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import mqtt from 'mqtt';
import { connect } from '../helpers/autobahn';
import { startRouter, type TestRouter } from '../helpers/router';
import { withTimeout } from '../helpers/wait';

/**
 * A link seen from outside (README "Links"): gatehouse.link.list from MQTT as well as
 * WAMP, the drop counter in Prometheus, /health. The peer is a port nobody listens on,
 * so the link stays down and its queue fills.
 */
describe('links: gatehouse.link.list, metrics and health', () => {
  let r: TestRouter;
  before(async () => {
    // a port that refuses: bound, then closed
    const probe = net.createServer();
    await new Promise<void>((res) => probe.listen(0, '127.0.0.1', res));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((res) => probe.close(() => res()));
    r = await startRouter({
      links: [{ name: 'nowhere', url: `ws://127.0.0.1:${port}/ws`, out: ['obs.#'], queue: { maxMessages: 2 }, retryMaxMs: 200 }],
    });
  });
  after(() => r.close());

  it('counts the oldest dropped from a full queue, and shows the link down with its backlog', async () => {
    const c = await connect({ url: r.wsUrl });
    try {
      for (let i = 0; i < 3; i++) await c.session.publish('obs.t', [i], {}, { acknowledge: true });
      const metrics = await r.router.metrics.render();
      assert.match(metrics, /gatehouse_link_dropped_total\{link="nowhere",reason="full"\} 1/);
      assert.match(metrics, /gatehouse_link_queued\{link="nowhere"\} 2/);
      assert.match(metrics, /gatehouse_link_up\{link="nowhere"\} 0/);
      const health = r.router.health();
      assert.equal(health.status, 'ok', 'a link that is down does not make the router unhealthy');
      assert.equal(health.links?.[0]?.name, 'nowhere');
      assert.equal(health.links?.[0]?.queued, 2);
      assert.notEqual(health.links?.[0]?.state, 'up');
      const list =
        await c.session.call<{ name: string; queued: number; dropped: number; droppedBy: Record<string, number> }[]>(
          'gatehouse.link.list',
        );
      assert.equal(list[0]?.queued, 2);
      assert.deepEqual(list[0]?.droppedBy, { full: 1 });
    } finally {
      await c.close();
    }
  });

  it('answers gatehouse.link.list to an MQTT client ($rpc/)', async () => {
    const m = await mqtt.connectAsync(r.mqttUrl, { protocolVersion: 5, reconnectPeriod: 0 });
    try {
      await m.subscribeAsync('replies/links', { qos: 1 });
      const reply = new Promise<string>((res) => m.on('message', (_t, payload) => res(payload.toString())));
      await m.publishAsync('$rpc/gatehouse.link.list', '[]', {
        qos: 1,
        properties: { responseTopic: 'replies/links', correlationData: Buffer.from('1') },
      });
      const body = JSON.parse(await withTimeout(reply, 5000, 'the reply')) as { name: string }[];
      assert.equal(body[0]?.name, 'nowhere');
    } finally {
      await m.endAsync();
    }
  });
});
