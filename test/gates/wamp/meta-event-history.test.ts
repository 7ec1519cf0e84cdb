// WAMP advanced: event history, read with wamp.subscription.get_events(subscription, limit)
// for the topics a realm's configuration names (as Crossbar does), with autobahn over
// every transport x serializer. Each transport has its own realm, configured like
//   realms: [{ name: 'realm1', eventHistory: [{ uri: 'hist.topic', limit: 5 }] }]
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startRouter, type TestRouter } from '../../helpers/router';
import {
  call,
  closeAll,
  connectAs,
  errorOf,
  TRANSPORT_NAMES,
  transportOptions,
  withTimeout,
  WAIT_MS,
  type Client,
} from '../../helpers/wamp-clients';

const realmName = (ti: number): string => (ti === 0 ? 'realm1' : `hist${ti}`);

let router: TestRouter;
before(async () => {
  router = await startRouter({
    realms: TRANSPORT_NAMES.map((_, ti) => ({
      name: realmName(ti),
      eventHistory: [
        { uri: 'hist.topic', limit: 5 },
        { uri: 'hist.pfx.', match: 'prefix', limit: 3 },
      ],
    })),
  });
});
after(async () => {
  await router.close();
});

interface HistoryRecord {
  timestamp: string;
  publication: number;
  topic: string;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
}

TRANSPORT_NAMES.forEach((tn, ti) => {
  void describe(`wamp meta event history [${tn}]`, () => {
    const clients: Client[] = [];
    let reader: Client;
    let pub: Client;
    const published: number[] = [];

    const publish = async (topic: string, args: unknown[], kwargs?: Record<string, unknown>): Promise<number> => {
      const p = pub.session.publish(topic, args, kwargs, { acknowledge: true });
      assert.ok(p);
      return (await withTimeout(p, WAIT_MS, `PUBLISHED ${topic}`)).id;
    };

    before(async () => {
      reader = await connectAs(transportOptions(router, tn), 'reader', realmName(ti));
      pub = await connectAs(transportOptions(router, tn), 'history-publisher', realmName(ti));
      clients.push(reader, pub);
    });
    after(() => closeAll(clients));

    void it(`wamp meta - get_events returns the newest events kept for a configured topic [${tn}]`, async () => {
      // history is kept whether or not anyone is subscribed: 3 events before, 4 after
      for (let n = 1; n <= 3; n++) published.push(await publish('hist.topic', [n], { n }));
      const sub = await withTimeout(
        reader.session.subscribe('hist.topic', () => undefined),
        WAIT_MS,
        'SUBSCRIBED',
      );
      for (let n = 4; n <= 7; n++) published.push(await publish('hist.topic', [n], { n }));

      const events = await call<HistoryRecord[]>(reader.session, 'wamp.subscription.get_events', [sub.id, 5]);
      // the ring keeps the last 5 (limit 5), oldest first
      assert.deepEqual(
        events.map((e) => [e.publication, e.topic, e.args, e.kwargs]),
        [3, 4, 5, 6, 7].map((n) => [published[n - 1], 'hist.topic', [n], { n }]),
      );
      for (const e of events) assert.ok(!Number.isNaN(Date.parse(e.timestamp)), `timestamp ${e.timestamp}`);

      const last3 = await call<HistoryRecord[]>(reader.session, 'wamp.subscription.get_events', [sub.id, 3]);
      assert.deepEqual(
        last3.map((e) => e.args),
        [[5], [6], [7]],
      );
      const many = await call<HistoryRecord[]>(reader.session, 'wamp.subscription.get_events', [sub.id, 100]);
      assert.deepEqual(
        many.map((e) => e.args),
        [[3], [4], [5], [6], [7]],
      );
      const noLimit = await call<HistoryRecord[]>(reader.session, 'wamp.subscription.get_events', [sub.id]);
      assert.equal(noLimit.length, 5);
    });

    void it(`wamp meta - get_events on a pattern subscription whose pattern keeps history [${tn}]`, async () => {
      const sub = await withTimeout(
        reader.session.subscribe('hist.pfx.', () => undefined, { match: 'prefix' }),
        WAIT_MS,
        'SUBSCRIBED',
      );
      const ids = [];
      for (const t of ['hist.pfx.a', 'hist.pfx.b', 'hist.other', 'hist.pfx.c.d', 'hist.pfx.e']) ids.push(await publish(t, [t]));
      const events = await call<HistoryRecord[]>(reader.session, 'wamp.subscription.get_events', [sub.id, 10]);
      // limit 3 for this pattern; hist.other is not under the prefix
      assert.deepEqual(
        events.map((e) => [e.publication, e.topic]),
        [
          [ids[1], 'hist.pfx.b'],
          [ids[3], 'hist.pfx.c.d'],
          [ids[4], 'hist.pfx.e'],
        ],
      );
    });

    void it(`wamp meta - get_events for a subscription without history is an error [${tn}]`, async () => {
      const plain = await withTimeout(
        reader.session.subscribe('hist.nothing.kept', () => undefined),
        WAIT_MS,
        'SUBSCRIBED',
      );
      await publish('hist.nothing.kept', ['x']);
      const none = await errorOf(
        reader.session.call('wamp.subscription.get_events', [plain.id, 5]),
        'get_events without history',
      );
      assert.equal(none.error, 'wamp.error.feature_not_supported');
      // history belongs to the configured pattern: an exact subscription to a topic the
      // prefix pattern covers has none of its own
      const exact = await withTimeout(
        reader.session.subscribe('hist.pfx.a', () => undefined),
        WAIT_MS,
        'SUBSCRIBED',
      );
      const notOwn = await errorOf(
        reader.session.call('wamp.subscription.get_events', [exact.id, 5]),
        'get_events on an exact sub under a history prefix',
      );
      assert.equal(notOwn.error, 'wamp.error.feature_not_supported');
    });
  });
});
