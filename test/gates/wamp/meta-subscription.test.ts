// WAMP advanced: subscription meta API (wamp.subscription.list / lookup / match / get /
// list_subscribers / count_subscribers, meta events wamp.subscription.on_create /
// on_subscribe / on_unsubscribe / on_delete), with autobahn over every transport x
// serializer. Each transport gets its own realm so lists are exact.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startRouter, type TestRouter } from '../../helpers/router';
import {
  call,
  closeAll,
  connectAs,
  errorOf,
  EventLog,
  RawWampClient,
  TRANSPORT_NAMES,
  transportOptions,
  withTimeout,
  WAIT_MS,
  type Client,
  type ReceivedEvent,
} from '../../helpers/wamp-clients';

let router: TestRouter;
before(async () => {
  router = await startRouter();
});
after(async () => {
  await router.close();
});

const META_TOPICS = ['on_create', 'on_subscribe', 'on_unsubscribe', 'on_delete'] as const;
const num = (a: number, b: number): number => a - b;

TRANSPORT_NAMES.forEach((tn, ti) => {
  void describe(`wamp meta subscription [${tn}]`, () => {
    const realm = `subs${ti}`;
    const clients: Client[] = [];
    let watcher: Client;
    let actor: Client;
    let other: Client;
    /** every subscription meta event, in arrival order, tagged with its meta topic */
    const meta = new EventLog();

    const open = async (authid: string): Promise<Client> => {
      const c = await connectAs(transportOptions(router, tn), authid, realm);
      clients.push(c);
      return c;
    };

    before(async () => {
      [watcher, actor, other] = [await open('watcher'), await open('actor'), await open('other')];
      for (const t of META_TOPICS) {
        await withTimeout(
          watcher.session.subscribe(`wamp.subscription.${t}`, (args, kwargs, details) =>
            meta.push({ args, kwargs, details: { ...details, meta: t } }),
          ),
          WAIT_MS,
          `SUBSCRIBED to ${t}`,
        );
      }
    });
    after(() => closeAll(clients));

    /** Meta events about subscription `id` (on_create carries the details dict instead of the id). */
    const about = (id: number, events: ReceivedEvent[]): [string, unknown[]][] =>
      events
        .filter((e) => e.args[1] === id || (e.args[1] as Record<string, unknown> | undefined)?.['id'] === id)
        .map((e) => [e.details['meta'] as string, e.args]);

    void it(`wamp meta - on_create, on_subscribe, on_unsubscribe, on_delete over a subscription's life [${tn}]`, async () => {
      const actorId = actor.session.id;
      const otherId = other.session.id;
      const topic = 'life.topic';
      const first = await withTimeout(
        actor.session.subscribe(topic, () => undefined),
        WAIT_MS,
        'first SUBSCRIBED',
      );
      const second = await withTimeout(
        other.session.subscribe(topic, () => undefined),
        WAIT_MS,
        'second SUBSCRIBED',
      );
      assert.equal(second.id, first.id, 'one subscription per topic, shared by its subscribers');
      await withTimeout(actor.session.unsubscribe(first), WAIT_MS, 'first UNSUBSCRIBED');
      await withTimeout(other.session.unsubscribe(second), WAIT_MS, 'second UNSUBSCRIBED');
      const events = await meta.until((e) => e.details['meta'] === 'on_delete' && e.args[1] === first.id, 'on_delete');
      const id = first.id;
      const seen = about(id, events);
      assert.equal(seen.length, 6, JSON.stringify(seen));
      const [create, ...rest] = seen;
      assert.equal(create?.[0], 'on_create');
      assert.equal(create?.[1][0], actorId);
      const details = create?.[1][1] as Record<string, unknown>;
      assert.deepEqual({ ...details, created: typeof details['created'] }, { id, uri: topic, match: 'exact', created: 'string' });
      assert.ok(!Number.isNaN(Date.parse(String(details['created']))), 'created is an ISO 8601 timestamp');
      assert.deepEqual(rest, [
        ['on_subscribe', [actorId, id]],
        ['on_subscribe', [otherId, id]],
        ['on_unsubscribe', [actorId, id]],
        ['on_unsubscribe', [otherId, id]],
        ['on_delete', [otherId, id]],
      ]);
    });

    void it(`wamp meta - a leaving session's subscriptions are unsubscribed and deleted [${tn}]`, async () => {
      const leaver = await open('leaver');
      const leaverId = leaver.session.id;
      const sub = await withTimeout(
        leaver.session.subscribe('leaving.', () => undefined, { match: 'prefix' }),
        WAIT_MS,
        'SUBSCRIBED',
      );
      const created = await meta.until(
        (e) => e.details['meta'] === 'on_create' && (e.args[1] as Record<string, unknown>)['id'] === sub.id,
        'on_create',
      );
      assert.deepEqual((created.at(-1)?.args[1] as Record<string, unknown>)['match'], 'prefix');
      const from = meta.events.length;
      await leaver.close();
      const events = await meta.until(
        (e) => e.details['meta'] === 'on_delete' && e.args[1] === sub.id,
        'on_delete after leave',
        WAIT_MS,
        from,
      );
      assert.deepEqual(about(sub.id, events.slice(from)), [
        ['on_unsubscribe', [leaverId, sub.id]],
        ['on_delete', [leaverId, sub.id]],
      ]);
    });

    void describe(`procedures [${tn}]`, () => {
      const ids = { exact: 0, prefix: 0, wildcard: 0, fox: 0 };
      before(async () => {
        ids.exact = (
          await withTimeout(
            actor.session.subscribe('m.a.w', () => undefined),
            WAIT_MS,
            'exact',
          )
        ).id;
        await withTimeout(
          other.session.subscribe('m.a.w', () => undefined),
          WAIT_MS,
          'exact, second subscriber',
        );
        ids.prefix = (
          await withTimeout(
            actor.session.subscribe('m.a.', () => undefined, { match: 'prefix' }),
            WAIT_MS,
            'prefix',
          )
        ).id;
        ids.wildcard = (
          await withTimeout(
            actor.session.subscribe('m..w', () => undefined, { match: 'wildcard' }),
            WAIT_MS,
            'wildcard',
          )
        ).id;
        ids.fox = (
          await withTimeout(
            other.session.subscribe('m.#', () => undefined),
            WAIT_MS,
            'fox-wamp',
          )
        ).id;
      });

      void it(`wamp meta - wamp.subscription.list groups subscription ids by match policy [${tn}]`, async () => {
        const list = await call<Record<string, number[]>>(actor.session, 'wamp.subscription.list');
        assert.deepEqual(Object.keys(list).sort(), ['exact', 'prefix', 'wildcard']);
        // the watcher's four meta-topic subscriptions are exact subscriptions too
        assert.equal(list['exact']?.length, 5);
        assert.ok(list['exact']?.includes(ids.exact));
        assert.deepEqual(list['prefix'], [ids.prefix]);
        assert.deepEqual([...(list['wildcard'] ?? [])].sort(num), [ids.wildcard, ids.fox].sort(num));
      });

      void it(`wamp meta - wamp.subscription.lookup finds a subscription by URI and match policy [${tn}]`, async () => {
        assert.equal(await call(actor.session, 'wamp.subscription.lookup', ['m.a.w']), ids.exact);
        assert.equal(await call(actor.session, 'wamp.subscription.lookup', ['m.a.w', { match: 'exact' }]), ids.exact);
        assert.equal(await call(actor.session, 'wamp.subscription.lookup', ['m.a.', { match: 'prefix' }]), ids.prefix);
        assert.equal(await call(actor.session, 'wamp.subscription.lookup', ['m..w', { match: 'wildcard' }]), ids.wildcard);
        assert.equal(
          await call(actor.session, 'wamp.subscription.lookup', ['m.#']),
          ids.fox,
          'fox-wamp URI finds its wildcard subscription',
        );
        assert.equal(await call(actor.session, 'wamp.subscription.lookup', ['m.a.', { match: 'exact' }]), null);
        assert.equal(await call(actor.session, 'wamp.subscription.lookup', ['m.a.w', { match: 'prefix' }]), null);
        assert.equal(await call(actor.session, 'wamp.subscription.lookup', ['no.such.topic']), null);
      });

      void it(`wamp meta - wamp.subscription.match lists every subscription a topic would reach [${tn}]`, async () => {
        const matched = await call<number[]>(actor.session, 'wamp.subscription.match', ['m.a.w']);
        assert.deepEqual([...matched].sort(num), [ids.exact, ids.prefix, ids.wildcard, ids.fox].sort(num));
        const some = await call<number[]>(actor.session, 'wamp.subscription.match', ['m.b.w']);
        assert.deepEqual([...some].sort(num), [ids.wildcard, ids.fox].sort(num));
        assert.equal(await call(actor.session, 'wamp.subscription.match', ['elsewhere.x']), null);
      });

      void it(`wamp meta - wamp.subscription.get returns the subscription details [${tn}]`, async () => {
        const exact = await call<Record<string, unknown>>(actor.session, 'wamp.subscription.get', [ids.exact]);
        assert.deepEqual(
          { ...exact, created: typeof exact['created'] },
          { id: ids.exact, uri: 'm.a.w', match: 'exact', created: 'string' },
        );
        const fox = await call<Record<string, unknown>>(actor.session, 'wamp.subscription.get', [ids.fox]);
        assert.deepEqual([fox['uri'], fox['match']], ['m.#', 'wildcard']);
        const prefix = await call<Record<string, unknown>>(actor.session, 'wamp.subscription.get', [ids.prefix]);
        assert.deepEqual([prefix['uri'], prefix['match']], ['m.a.', 'prefix']);
      });

      void it(`wamp meta - list_subscribers and count_subscribers [${tn}]`, async () => {
        const subs = await call<number[]>(actor.session, 'wamp.subscription.list_subscribers', [ids.exact]);
        assert.deepEqual([...subs].sort(num), [actor.session.id, other.session.id].sort(num));
        assert.equal(await call(actor.session, 'wamp.subscription.count_subscribers', [ids.exact]), 2);
        assert.deepEqual(await call(actor.session, 'wamp.subscription.list_subscribers', [ids.prefix]), [actor.session.id]);
        assert.equal(await call(actor.session, 'wamp.subscription.count_subscribers', [ids.fox]), 1);
      });

      void it(`wamp meta - unknown subscription ids give wamp.error.no_such_subscription [${tn}]`, async () => {
        for (const proc of ['get', 'list_subscribers', 'count_subscribers', 'get_events']) {
          const e = await errorOf(actor.session.call(`wamp.subscription.${proc}`, [987654321]), `${proc} of an unknown id`);
          assert.equal(e.error, 'wamp.error.no_such_subscription', proc);
        }
      });
    });
  });
});

void describe('wamp meta subscription wire', () => {
  void it('wamp meta - subscribing to a meta topic: SUBSCRIBED comes before any EVENT on that subscription', async () => {
    const raw = await RawWampClient.open(router.wsUrl, 'subs.wire');
    try {
      // each of these subscriptions fires on_create / on_subscribe about itself
      for (const [topic, options] of [
        ['wamp.subscription.on_subscribe', {}],
        ['wamp.subscription.on_create', {}],
        ['wamp.subscription.', { match: 'prefix' }],
        ['wamp..on_subscribe', { match: 'wildcard' }],
      ] as const) {
        const req = raw.request();
        raw.send([32, req, options, topic]);
        const reply = await raw.next((m) => (m[0] === 33 || m[0] === 8) && (m[1] === req || m[2] === req), `SUBSCRIBED ${topic}`);
        assert.equal(reply[0], 33, `SUBSCRIBE ${topic}: ${JSON.stringify(reply)}`);
        const id = reply[2];
        const subscribedAt = raw.received.indexOf(reply);
        const eventAt = raw.received.findIndex((m) => m[0] === 36 && m[1] === id);
        assert.ok(
          eventAt === -1 || eventAt > subscribedAt,
          `EVENT for subscription ${String(id)} (${topic}) sent before its SUBSCRIBED`,
        );
      }
      // the session is still alive and its subscriptions work
      const result = await raw.call('wamp.subscription.list');
      const list = (result[3] as Record<string, number[]>[])[0];
      assert.deepEqual([list?.['exact']?.length, list?.['prefix']?.length, list?.['wildcard']?.length], [2, 1, 1]);
    } finally {
      await raw.close();
    }
  });
});
