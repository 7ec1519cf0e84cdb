// WAMP advanced: registration meta API (meta events wamp.registration.on_create /
// on_register / on_unregister / on_delete, procedures wamp.registration.list / lookup /
// match / get / list_callees / count_callees), with autobahn over every transport x
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

const META_TOPICS = ['on_create', 'on_register', 'on_unregister', 'on_delete'] as const;
const num = (a: number, b: number): number => a - b;
const noop = (): null => null;

TRANSPORT_NAMES.forEach((tn, ti) => {
  void describe(`wamp meta registration [${tn}]`, () => {
    const realm = `regs${ti}`;
    const clients: Client[] = [];
    let watcher: Client;
    let callee1: Client;
    let callee2: Client;
    const meta = new EventLog();

    const open = async (authid: string): Promise<Client> => {
      const c = await connectAs(transportOptions(router, tn), authid, realm);
      clients.push(c);
      return c;
    };
    const register = async (c: Client, procedure: string, options?: Record<string, unknown>) =>
      withTimeout(c.session.register(procedure, noop, options), WAIT_MS, `REGISTERED ${procedure}`);

    before(async () => {
      [watcher, callee1, callee2] = [await open('watcher'), await open('callee1'), await open('callee2')];
      for (const t of META_TOPICS) {
        await withTimeout(
          watcher.session.subscribe(`wamp.registration.${t}`, (args, kwargs, details) =>
            meta.push({ args, kwargs, details: { ...details, meta: t } }),
          ),
          WAIT_MS,
          `SUBSCRIBED to ${t}`,
        );
      }
    });
    after(() => closeAll(clients));

    const about = (id: number, events: ReceivedEvent[]): [string, unknown[]][] =>
      events
        .filter((e) => e.args[1] === id || (e.args[1] as Record<string, unknown> | undefined)?.['id'] === id)
        .map((e) => [e.details['meta'] as string, e.args]);

    void it(`wamp meta - on_create, on_register, on_unregister, on_delete over a shared registration's life [${tn}]`, async () => {
      const [c1, c2] = [callee1.session.id, callee2.session.id];
      const r1 = await register(callee1, 'life.proc', { invoke: 'roundrobin' });
      const r2 = await register(callee2, 'life.proc', { invoke: 'roundrobin' });
      assert.equal(r2.id, r1.id, 'shared registration: one registration, two callees');
      assert.equal(await call(watcher.session, 'wamp.registration.count_callees', [r1.id]), 2);
      assert.deepEqual(
        [...(await call<number[]>(watcher.session, 'wamp.registration.list_callees', [r1.id]))].sort(num),
        [c1, c2].sort(num),
      );
      await withTimeout(r1.unregister(), WAIT_MS, 'UNREGISTERED 1');
      await withTimeout(r2.unregister(), WAIT_MS, 'UNREGISTERED 2');
      const events = await meta.until((e) => e.details['meta'] === 'on_delete' && e.args[1] === r1.id, 'on_delete');
      const seen = about(r1.id, events);
      const [create, ...rest] = seen;
      assert.equal(create?.[0], 'on_create');
      assert.equal(create?.[1][0], c1);
      const details = create?.[1][1] as Record<string, unknown>;
      assert.deepEqual(
        { ...details, created: typeof details['created'] },
        { id: r1.id, uri: 'life.proc', match: 'exact', invoke: 'roundrobin', created: 'string' },
      );
      assert.deepEqual(rest, [
        ['on_register', [c1, r1.id]],
        ['on_register', [c2, r1.id]],
        ['on_unregister', [c1, r1.id]],
        ['on_unregister', [c2, r1.id]],
        ['on_delete', [c2, r1.id]],
      ]);
    });

    void it(`wamp meta - a leaving callee's registrations are unregistered and deleted [${tn}]`, async () => {
      const leaver = await open('leaver');
      const leaverId = leaver.session.id;
      const reg = await register(leaver, 'leaving.', { match: 'prefix' });
      const created = await meta.until(
        (e) => e.details['meta'] === 'on_create' && (e.args[1] as Record<string, unknown>)['id'] === reg.id,
        'on_create',
      );
      assert.equal((created.at(-1)?.args[1] as Record<string, unknown>)['match'], 'prefix');
      const from = meta.events.length;
      await leaver.close();
      const events = await meta.until(
        (e) => e.details['meta'] === 'on_delete' && e.args[1] === reg.id,
        'on_delete after leave',
        WAIT_MS,
        from,
      );
      assert.deepEqual(about(reg.id, events.slice(from)), [
        ['on_unregister', [leaverId, reg.id]],
        ['on_delete', [leaverId, reg.id]],
      ]);
      assert.equal(await call(watcher.session, 'wamp.registration.lookup', ['leaving.', { match: 'prefix' }]), null);
    });

    void describe(`procedures [${tn}]`, () => {
      const ids = { exact: 0, prefix: 0, wildcard: 0 };
      before(async () => {
        ids.exact = (await register(callee1, 'r.p.exact')).id;
        ids.prefix = (await register(callee1, 'r.p.', { match: 'prefix' })).id;
        ids.wildcard = (await register(callee2, 'r..end', { match: 'wildcard' })).id;
      });

      void it(`wamp meta - wamp.registration.list groups registration ids by match policy [${tn}]`, async () => {
        const list = await call<Record<string, number[]>>(watcher.session, 'wamp.registration.list');
        assert.deepEqual(list, { exact: [ids.exact], prefix: [ids.prefix], wildcard: [ids.wildcard] });
      });

      void it(`wamp meta - wamp.registration.lookup finds a registration by URI and match policy [${tn}]`, async () => {
        assert.equal(await call(watcher.session, 'wamp.registration.lookup', ['r.p.exact']), ids.exact);
        assert.equal(await call(watcher.session, 'wamp.registration.lookup', ['r.p.', { match: 'prefix' }]), ids.prefix);
        assert.equal(await call(watcher.session, 'wamp.registration.lookup', ['r..end', { match: 'wildcard' }]), ids.wildcard);
        assert.equal(await call(watcher.session, 'wamp.registration.lookup', ['r.p.']), null, 'exact lookup of a prefix URI');
        assert.equal(await call(watcher.session, 'wamp.registration.lookup', ['no.such.proc']), null);
      });

      void it(`wamp meta - wamp.registration.match returns the registration a call would reach [${tn}]`, async () => {
        assert.equal(await call(watcher.session, 'wamp.registration.match', ['r.p.exact']), ids.exact, 'exact beats prefix');
        assert.equal(await call(watcher.session, 'wamp.registration.match', ['r.p.other']), ids.prefix);
        assert.equal(await call(watcher.session, 'wamp.registration.match', ['r.p.end']), ids.prefix, 'prefix beats wildcard');
        assert.equal(await call(watcher.session, 'wamp.registration.match', ['r.x.end']), ids.wildcard);
        assert.equal(await call(watcher.session, 'wamp.registration.match', ['r.x.y.end']), null);
      });

      void it(`wamp meta - wamp.registration.get, list_callees and count_callees [${tn}]`, async () => {
        const d = await call<Record<string, unknown>>(watcher.session, 'wamp.registration.get', [ids.wildcard]);
        assert.deepEqual(
          { ...d, created: typeof d['created'] },
          { id: ids.wildcard, uri: 'r..end', match: 'wildcard', invoke: 'single', created: 'string' },
        );
        assert.deepEqual(await call(watcher.session, 'wamp.registration.list_callees', [ids.wildcard]), [callee2.session.id]);
        assert.deepEqual(await call(watcher.session, 'wamp.registration.list_callees', [ids.exact]), [callee1.session.id]);
        assert.equal(await call(watcher.session, 'wamp.registration.count_callees', [ids.prefix]), 1);
      });

      void it(`wamp meta - unknown registration ids give wamp.error.no_such_registration [${tn}]`, async () => {
        for (const proc of ['get', 'list_callees', 'count_callees']) {
          const e = await errorOf(watcher.session.call(`wamp.registration.${proc}`, [987654321]), `${proc} of an unknown id`);
          assert.equal(e.error, 'wamp.error.no_such_registration', proc);
        }
      });
    });
  });
});
