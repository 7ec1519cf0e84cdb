import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mqtt from 'mqtt';
import type { BrokerEvent } from '../../lib/broker';
import { messageIdOf } from '../../lib/publication-taps';
import { connect } from '../helpers/autobahn';
import { startRouter, type TestRouter } from '../helpers/router';
import { waitFor, withTimeout } from '../helpers/wait';

/**
 * The seam the cluster and the links stand on (lib/publication-taps.ts): every routed
 * publication reaches the taps with a cluster-unique message id, and a tap may hold the
 * publisher's acknowledgement until it has the message safe.
 */
/** autobahn returns a promise only for an acknowledged publish */
function acked<T>(p: Promise<T> | undefined): Promise<T> {
  assert.ok(p, 'an acknowledged publish returns a promise');
  return p;
}

describe('publication taps and message identity', () => {
  let r: TestRouter;
  const seen: Array<{ realm: string; event: BrokerEvent }> = [];
  let hold: Promise<void> | undefined;

  before(async () => {
    r = await startRouter({}, { node: 'site-a' });
    r.router.taps.add({
      tapped: (realm, event) => {
        seen.push({ realm, event });
        return hold;
      },
    });
  });
  after(() => r.close());

  it('gives each local publication the id <node>:<publication id>, with no origin and no via', async () => {
    const c = await connect({ url: r.wsUrl });
    try {
      const pub = await acked(c.session.publish('taps.one', [1], {}, { acknowledge: true }));
      const got = seen.find((s) => s.event.topic === 'taps.one');
      assert.ok(got, 'the tap saw the publication');
      assert.equal(got.realm, 'realm1');
      assert.equal(got.event.origin, undefined);
      assert.equal(got.event.via, undefined);
      assert.equal(messageIdOf(got.event, r.router.node), `site-a:${pub.id}`);
    } finally {
      await c.close();
    }
  });

  it('holds a WAMP PUBLISHED and an MQTT PUBACK until the tap has the message', async () => {
    let release!: () => void;
    hold = new Promise<void>((res) => (release = res));
    const c = await connect({ url: r.wsUrl });
    const m = await mqtt.connectAsync(r.mqttUrl, { reconnectPeriod: 0 });
    try {
      let wampAcked = false;
      let mqttAcked = false;
      const w = acked(c.session.publish('taps.held', [1], {}, { acknowledge: true })).then(() => (wampAcked = true));
      const q = m.publishAsync('taps/held', 'x', { qos: 1 }).then(() => (mqttAcked = true));
      // both publications reached the tap, and neither publisher is acknowledged yet
      await waitFor(() => seen.filter((s) => s.event.topic === 'taps.held').length === 2, 'the tap sees both publications');
      await new Promise((res) => setImmediate(res));
      assert.equal(wampAcked, false);
      assert.equal(mqttAcked, false);
      release();
      await withTimeout(Promise.all([w, q]), 5000, 'acks after the tap released them');
      assert.equal(wampAcked && mqttAcked, true);
    } finally {
      hold = undefined;
      await m.endAsync();
      await c.close();
    }
  });

  it('fails an acknowledged publish whose tap refuses it', async () => {
    hold = Promise.reject(new Error('queue gone'));
    hold.catch(() => undefined);
    const c = await connect({ url: r.wsUrl });
    try {
      await assert.rejects(acked(c.session.publish('taps.refused', [1], {}, { acknowledge: true })));
    } finally {
      hold = undefined;
      await c.close();
    }
  });

  it('keeps the origin, id and via of a publication brought in from elsewhere', async () => {
    const c = await connect({ url: r.wsUrl });
    try {
      let got!: Promise<unknown[]>;
      await new Promise<void>((subscribed) => {
        got = new Promise<unknown[]>(
          (res) => void c.session.subscribe('taps.remote', (args) => res(args)).then(() => subscribed()),
        );
      });
      const realm = r.router.realm('realm1');
      assert.ok(realm);
      await realm.publish(undefined, 'taps.remote', { args: ['far'] }, { origin: 'site-b', publicationId: 4242, via: 'link:up' });
      assert.deepEqual(await withTimeout(got, 5000, 'the local subscriber gets it'), ['far']);
      const tapped = seen.find((s) => s.event.topic === 'taps.remote');
      assert.ok(tapped);
      assert.equal(tapped.event.via, 'link:up');
      assert.equal(messageIdOf(tapped.event, r.router.node), 'site-b:4242');
    } finally {
      await c.close();
    }
  });
});
