// WAMP pub/sub with the real autobahn client, one suite run over every transport x
// serializer (as nexus runs one suite over every transport): basic profile publish /
// subscribe, acknowledge, and the advanced broker features publisher_exclusion,
// publisher_identification, subscriber_blackwhite_listing, pattern_based_subscription
// (plus the fox-wamp in-URI wildcards).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startRouter, type TestRouter } from '../../helpers/router';
import {
  closeAll,
  connectAs,
  errorOf,
  EventLog,
  subscribeLog,
  TRANSPORT_NAMES,
  transportOptions,
  withTimeout,
  WAIT_MS,
  type Client,
  type ReceivedEvent,
} from '../../helpers/wamp-clients';
import { expectQuiet } from '../../helpers/wait';

let router: TestRouter;
before(async () => {
  router = await startRouter();
});
after(async () => {
  await router.close();
});

async function publishAck(
  c: Client,
  topic: string,
  args?: unknown[],
  kwargs?: Record<string, unknown>,
  options: Record<string, unknown> = {},
): Promise<number> {
  const p = c.session.publish(topic, args, kwargs, { ...options, acknowledge: true });
  if (!p) throw new Error('autobahn returned no promise for an acknowledged publish');
  const pub = await withTimeout(p, WAIT_MS, `PUBLISHED for ${topic}`);
  return pub.id;
}

const argsOf = (events: ReceivedEvent[]): unknown[] => events.map((e) => e.args);

TRANSPORT_NAMES.forEach((tn, ti) => {
  void describe(`wamp pubsub [${tn}]`, () => {
    const clients: Client[] = [];
    let alice: Client;
    let bob: Client;
    let carol: Client;
    let pub: Client;
    let marker: Client;
    const topic = (name: string): string => `t${ti}.${name}`;

    before(async () => {
      const open = async (authid: string): Promise<Client> => {
        const c = await connectAs(transportOptions(router, tn), authid);
        clients.push(c);
        return c;
      };
      [alice, bob, carol, pub, marker] = await Promise.all([
        open('alice'),
        open('bob'),
        open('carol'),
        open('publisher'),
        open('marker'),
      ]);
    });
    after(() => closeAll(clients));

    void it(`wamp pubsub - a subscriber receives args and kwargs as published [${tn}]`, async () => {
      const log = new EventLog();
      await subscribeLog(alice.session, topic('basic'), log);
      const args = ['hello', 42, -7, 1.5, true, false, null, [1, [2, [3]]], { nested: { x: 'y' } }, ''];
      const kwargs = { k: 'v', n: 0, list: [{ a: 1 }, []], obj: { deep: { deeper: [null, false, 'ü€𝄞'] } }, empty: {} };
      const id = await publishAck(pub, topic('basic'), args, kwargs);
      const [ev] = await log.count(1, 'the event');
      assert.ok(ev);
      assert.deepEqual(ev.args, args);
      assert.deepEqual(ev.kwargs, kwargs);
      assert.equal(ev.details['publication'], id, 'EVENT.Publication is the id PUBLISHED returned');
      assert.equal(ev.details['topic'], topic('basic'));
      assert.equal(ev.details['publisher'], undefined, 'publisher not disclosed unless asked');
    });

    void it(`wamp pubsub - payload shapes: none, args only, kwargs only [${tn}]`, async () => {
      const log = new EventLog();
      await subscribeLog(alice.session, topic('shapes'), log);
      await publishAck(pub, topic('shapes'));
      await publishAck(pub, topic('shapes'), ['only']);
      await publishAck(pub, topic('shapes'), undefined, { only: 'kw' });
      const events = await log.count(3, 'three events');
      assert.deepEqual(
        events.map((e) => [e.args, e.kwargs]),
        [
          [[], {}],
          [['only'], {}],
          [[], { only: 'kw' }],
        ],
      );
    });

    void it(`wamp pubsub - acknowledge returns PUBLISHED with a fresh publication id per publish [${tn}]`, async () => {
      const log = new EventLog();
      await subscribeLog(alice.session, topic('ack'), log);
      const a = await publishAck(pub, topic('ack'), [1]);
      const b = await publishAck(pub, topic('ack'), [2]);
      for (const id of [a, b]) assert.ok(Number.isInteger(id) && id >= 1 && id <= 2 ** 53, `publication id ${id} is a WAMP ID`);
      assert.notEqual(a, b);
      const events = await log.count(2, 'two events');
      assert.deepEqual(
        events.map((e) => [e.details['publication'], e.args[0]]),
        [
          [a, 1],
          [b, 2],
        ],
      );
    });

    void it(`wamp pubsub - without acknowledge the publish still routes and nothing is answered [${tn}]`, async () => {
      const log = new EventLog();
      await subscribeLog(alice.session, topic('noack'), log);
      const ret = pub.session.publish(topic('noack'), ['fire-and-forget']);
      assert.equal(ret, undefined, 'autobahn has nothing to wait for');
      const [ev] = await log.count(1, 'the unacknowledged event');
      assert.deepEqual(ev?.args, ['fire-and-forget']);
    });

    void it(`wamp pubsub - publish errors are reported only when acknowledge is set [${tn}]`, async () => {
      const invalid = await errorOf(
        pub.session.publish('bad..uri', ['x'], {}, { acknowledge: true }),
        'ERROR for an invalid topic',
      );
      assert.equal(invalid.error, 'wamp.error.invalid_uri');
      const spaced = await errorOf(
        pub.session.publish('bad uri', ['x'], {}, { acknowledge: true }),
        'ERROR for a topic with a space',
      );
      assert.equal(spaced.error, 'wamp.error.invalid_uri');
      const reserved = await errorOf(
        pub.session.publish('wamp.session.on_join', [{}], {}, { acknowledge: true }),
        'ERROR for a wamp.* topic',
      );
      assert.equal(reserved.error, 'wamp.error.not_authorized');

      // Unacknowledged: the router must stay silent. autobahn treats an ERROR for a
      // request it is not waiting for as a protocol violation and drops the session, so
      // the session still working afterwards proves that no ERROR was sent.
      assert.equal(pub.session.publish('bad..uri', ['x']), undefined);
      assert.equal(pub.session.publish('wamp.session.on_join', [{}]), undefined);
      const log = new EventLog();
      await subscribeLog(alice.session, topic('after-error'), log);
      await publishAck(pub, topic('after-error'), ['still open']);
      const [ev] = await log.count(1, 'event after the silent errors');
      assert.deepEqual(ev?.args, ['still open']);
      const closed = await Promise.race([pub.onclose.then(() => true), expectQuiet().then(() => false)]);
      assert.equal(closed, false, 'publisher session still open');
    });

    void it(`wamp pubsub - publisher_exclusion: exclude_me defaults to true, false delivers to the publisher [${tn}]`, async () => {
      const own = new EventLog();
      const other = new EventLog();
      await subscribeLog(pub.session, topic('excl'), own);
      await subscribeLog(alice.session, topic('excl'), other);

      await publishAck(pub, topic('excl'), ['default']);
      await publishAck(pub, topic('excl'), ['explicit-true'], {}, { exclude_me: true });
      await publishAck(pub, topic('excl'), ['false'], {}, { exclude_me: false });
      await publishAck(marker, topic('excl'), ['marker']);

      const ownEvents = await own.until((e) => e.args[0] === 'marker', 'marker at the publisher');
      assert.deepEqual(argsOf(ownEvents), [['false'], ['marker']]);
      const otherEvents = await other.until((e) => e.args[0] === 'marker', 'marker at the other subscriber');
      assert.deepEqual(argsOf(otherEvents), [['default'], ['explicit-true'], ['false'], ['marker']]);
    });

    void it(`wamp pubsub - publisher_identification: disclose_me adds publisher, publisher_authid, publisher_authrole [${tn}]`, async () => {
      const log = new EventLog();
      await subscribeLog(alice.session, topic('disclose'), log);
      await publishAck(pub, topic('disclose'), ['shown'], {}, { disclose_me: true });
      await publishAck(pub, topic('disclose'), ['hidden']);
      await publishAck(pub, topic('disclose'), ['hidden-explicit'], {}, { disclose_me: false });
      const [shown, hidden, hiddenExplicit] = await log.count(3, 'three events');
      assert.equal(shown?.details['publisher'], pub.session.id);
      assert.equal(shown?.details['publisher_authid'], 'publisher');
      assert.equal(shown?.details['publisher_authrole'], 'anonymous');
      for (const e of [hidden, hiddenExplicit]) {
        assert.equal(e?.details['publisher'], undefined);
        assert.equal(e?.details['publisher_authid'], undefined);
        assert.equal(e?.details['publisher_authrole'], undefined);
      }
    });

    void describe(`subscriber_blackwhite_listing [${tn}]`, () => {
      const logs = new Map<string, EventLog>();
      let round = 0;
      before(async () => {
        for (const [name, c] of [
          ['alice', alice],
          ['bob', bob],
          ['carol', carol],
        ] as const) {
          const log = new EventLog();
          logs.set(name, log);
          await subscribeLog(c.session, topic('bw'), log);
        }
      });

      /** Who receives a publication with these options (a marker event closes each round). */
      async function recipients(options: Record<string, unknown>): Promise<string[]> {
        const n = ++round;
        await publishAck(pub, topic('bw'), ['filtered', n], {}, options);
        await publishAck(marker, topic('bw'), ['marker', n]);
        const got: string[] = [];
        for (const [name, log] of logs) {
          const events = await log.until((e) => e.args[0] === 'marker' && e.args[1] === n, `marker ${n} at ${name}`);
          if (events.some((e) => e.args[0] === 'filtered' && e.args[1] === n)) got.push(name);
        }
        return got.sort();
      }

      void it(`wamp pubsub - blackwhite listing: exclude and eligible by session id [${tn}]`, async () => {
        assert.deepEqual(await recipients({}), ['alice', 'bob', 'carol']);
        assert.deepEqual(await recipients({ exclude: [bob.session.id] }), ['alice', 'carol']);
        assert.deepEqual(await recipients({ exclude: [alice.session.id, carol.session.id] }), ['bob']);
        assert.deepEqual(await recipients({ eligible: [bob.session.id] }), ['bob']);
        assert.deepEqual(await recipients({ eligible: [alice.session.id, carol.session.id] }), ['alice', 'carol']);
        assert.deepEqual(await recipients({ eligible: [] }), []);
      });

      void it(`wamp pubsub - blackwhite listing: exclude_authid and eligible_authid [${tn}]`, async () => {
        assert.deepEqual(await recipients({ exclude_authid: ['alice'] }), ['bob', 'carol']);
        assert.deepEqual(await recipients({ exclude_authid: ['alice', 'carol'] }), ['bob']);
        assert.deepEqual(await recipients({ eligible_authid: ['alice', 'carol'] }), ['alice', 'carol']);
        assert.deepEqual(await recipients({ eligible_authid: ['nobody'] }), []);
      });

      void it(`wamp pubsub - blackwhite listing: exclude_authrole and eligible_authrole [${tn}]`, async () => {
        assert.deepEqual(await recipients({ exclude_authrole: ['anonymous'] }), []);
        assert.deepEqual(await recipients({ exclude_authrole: ['admin'] }), ['alice', 'bob', 'carol']);
        assert.deepEqual(await recipients({ eligible_authrole: ['anonymous'] }), ['alice', 'bob', 'carol']);
        assert.deepEqual(await recipients({ eligible_authrole: ['admin'] }), []);
      });

      void it(`wamp pubsub - blackwhite listing: combined lists, exclusion wins [${tn}]`, async () => {
        assert.deepEqual(await recipients({ eligible: [alice.session.id, bob.session.id], exclude_authid: ['bob'] }), ['alice']);
        assert.deepEqual(await recipients({ eligible_authid: ['carol'], exclude: [carol.session.id] }), []);
        assert.deepEqual(
          await recipients({ eligible_authrole: ['anonymous'], eligible_authid: ['bob', 'carol'], exclude_authid: ['carol'] }),
          ['bob'],
        );
      });
    });

    void describe(`pattern_based_subscription [${tn}]`, () => {
      /** Publishes each topic (acknowledged), then `end`; returns the topics the log saw before `end`. */
      async function seen(log: EventLog, topics: string[], end: string): Promise<unknown[]> {
        for (const t of topics) await publishAck(pub, t, [t]);
        await publishAck(pub, end, ['end']);
        const events = await log.until((e) => e.args[0] === 'end', `end marker on ${end}`);
        return events.filter((e) => e.args[0] !== 'end').map((e) => e.details['topic']);
      }

      void it(`wamp pubsub - prefix match delivers every topic starting with the prefix, with details.topic [${tn}]`, async () => {
        const log = new EventLog();
        await subscribeLog(alice.session, topic('pfx.a'), log, { match: 'prefix' });
        const got = await seen(
          log,
          [topic('pfx.a.b'), topic('pfx.b'), topic('pfx.a'), topic('pfx.a.b.c.d'), topic('pfx'), topic('pfx.ab')],
          topic('pfx.a.end'),
        );
        // WAMP advanced: prefix matching is on the string, so pfx.a also matches pfx.ab
        assert.deepEqual(got, [topic('pfx.a.b'), topic('pfx.a'), topic('pfx.a.b.c.d'), topic('pfx.ab')]);
      });

      void it(`wamp pubsub - wildcard match: an empty component matches exactly one component [${tn}]`, async () => {
        const log = new EventLog();
        await subscribeLog(alice.session, topic('wc..end'), log, { match: 'wildcard' });
        const got = await seen(
          log,
          [topic('wc.x.end'), topic('wc.x.y.end'), topic('wc.x.other'), topic('wc.y.end'), topic('wcx.x.end')],
          topic('wc.z.end'),
        );
        assert.deepEqual(got, [topic('wc.x.end'), topic('wc.y.end')]);
      });

      void it(`wamp pubsub - fox-wamp in-URI wildcard a.*.c on a plain subscribe [${tn}]`, async () => {
        const log = new EventLog();
        await subscribeLog(alice.session, topic('fx.*.c'), log);
        const got = await seen(
          log,
          [topic('fx.b.c'), topic('fx.b.d'), topic('fx.b.x.c'), topic('fx.c'), topic('fx.q.c')],
          topic('fx.end.c'),
        );
        assert.deepEqual(got, [topic('fx.b.c'), topic('fx.q.c')]);
      });

      void it(`wamp pubsub - fox-wamp in-URI wildcard a.# on a plain subscribe matches every level below [${tn}]`, async () => {
        const log = new EventLog();
        await subscribeLog(alice.session, topic('fm.#'), log);
        const got = await seen(
          log,
          [topic('fm.a'), topic('fmx.a'), topic('fm.a.b.c'), topic('other.fm.a'), topic('fm')],
          topic('fm.end'),
        );
        // `#` matches zero or more components, like MQTT's '#' [MQTT-4.7.1-2]
        assert.deepEqual(got, [topic('fm.a'), topic('fm.a.b.c'), topic('fm')]);
      });

      void it(`wamp pubsub - one session subscribed by several matching patterns gets the event once per subscription [${tn}]`, async () => {
        const log = new EventLog();
        const ids = [
          await subscribeLog(bob.session, topic('dup.y.z'), log),
          await subscribeLog(bob.session, topic('dup.'), log, { match: 'prefix' }),
          await subscribeLog(bob.session, topic('dup..z'), log, { match: 'wildcard' }),
          await subscribeLog(bob.session, topic('dup.*.z'), log),
        ];
        // dup..z (wildcard) and dup.*.z (fox-wamp) are the same pattern: one subscription
        assert.equal(ids[3], ids[2], 'a.*.c is the wildcard subscription a..c');
        assert.equal(new Set(ids).size, 3);
        const id = await publishAck(pub, topic('dup.y.z'), ['once']);
        await publishAck(pub, topic('dup.end'), ['end']);
        const events = (await log.until((e) => e.args[0] === 'end', 'end marker')).filter((e) => e.args[0] === 'once');
        // autobahn calls every handler attached to a subscription id: the fox-wamp handler
        // shares the wildcard subscription, so 4 handler calls for 3 EVENT messages
        assert.equal(events.length, 4);
        assert.deepEqual([...new Set(events.map((e) => e.subscription))].sort(), [...ids.slice(0, 3)].sort());
        for (const e of events) assert.equal(e.details['publication'], id, 'same publication each time');
      });

      void it(`wamp pubsub - subscribing twice to the same topic returns the same subscription [${tn}]`, async () => {
        const a = new EventLog();
        const b = new EventLog();
        const first = await subscribeLog(carol.session, topic('twice'), a);
        const second = await subscribeLog(carol.session, topic('twice'), b);
        assert.equal(second, first);
        await publishAck(pub, topic('twice'), ['one']);
        await publishAck(pub, topic('twice.end'), ['end']);
        const [ea] = await a.count(1, 'event at the first handler');
        const [eb] = await b.count(1, 'event at the second handler');
        assert.deepEqual([ea?.args, eb?.args], [['one'], ['one']]);
      });

      void it(`wamp pubsub - an unknown match policy or a malformed pattern is refused [${tn}]`, async () => {
        const policy = await errorOf(
          alice.session.subscribe(topic('x'), () => undefined, { match: 'regex' }),
          'SUBSCRIBE ERROR for match regex',
        );
        assert.equal(policy.error, 'wamp.error.invalid_argument');
        const hashInside = await errorOf(
          alice.session.subscribe(topic('a.#.b'), () => undefined),
          'SUBSCRIBE ERROR for a.#.b',
        );
        assert.equal(hashInside.error, 'wamp.error.invalid_uri');
        const empty = await errorOf(
          alice.session.subscribe(topic('a..b'), () => undefined),
          'SUBSCRIBE ERROR for an exact a..b',
        );
        assert.equal(empty.error, 'wamp.error.invalid_uri');
      });
    });

    void it(`wamp pubsub - unsubscribe stops delivery [${tn}]`, async () => {
      const gone = new EventLog();
      const kept = new EventLog();
      const sub = await withTimeout(carol.session.subscribe(topic('unsub'), gone.handler), WAIT_MS, 'SUBSCRIBED');
      await subscribeLog(carol.session, topic('unsub.kept'), kept);
      await publishAck(pub, topic('unsub'), ['before']);
      await gone.count(1, 'event before unsubscribe');
      await withTimeout(sub.unsubscribe(), WAIT_MS, 'UNSUBSCRIBED');
      await publishAck(pub, topic('unsub'), ['after']);
      await publishAck(pub, topic('unsub.kept'), ['marker']);
      await kept.count(1, 'marker on the kept subscription');
      assert.deepEqual(argsOf(gone.events), [['before']]);
    });
  });
});
