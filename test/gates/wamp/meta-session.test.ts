// WAMP advanced: session meta API (wamp.session.count / list / get / kill /
// kill_by_authid / kill_by_authrole, meta events wamp.session.on_join / on_leave), with
// autobahn over every transport x serializer. Each transport gets its own realm, so
// counts and lists are exact.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startRouter, type TestRouter } from '../../helpers/router';
import {
  call,
  closeAll,
  connectAs,
  errorOf,
  EventLog,
  portOf,
  startCutProxy,
  subscribeLog,
  TRANSPORT_NAMES,
  transportOptions,
  withTimeout,
  viaProxy,
  WAIT_MS,
  type Client,
  type CutProxy,
  type TransportName,
} from '../../helpers/wamp-clients';

let router: TestRouter;
let wsProxy: CutProxy;
let rawProxy: CutProxy;
before(async () => {
  router = await startRouter();
  wsProxy = await startCutProxy(portOf(router.wsUrl));
  rawProxy = await startCutProxy(router.rawSocketPort);
});
after(async () => {
  await Promise.all([wsProxy.close(), rawProxy.close()]);
  await router.close();
});

const sorted = (ids: unknown): unknown => (Array.isArray(ids) ? [...(ids as number[])].sort((a, b) => a - b) : ids);

TRANSPORT_NAMES.forEach((tn, ti) => {
  void describe(`wamp meta session [${tn}]`, () => {
    const realm = `sess${ti}`;
    const clients: Client[] = [];
    let watcher: Client;
    let a: Client;
    let b: Client;
    const joins = new EventLog();
    const leaves = new EventLog();

    const open = async (
      authid: string,
      options: Record<string, unknown> = transportOptions(router, tn),
      inRealm = realm,
    ): Promise<Client> => {
      const c = await connectAs(options, authid, inRealm);
      clients.push(c);
      return c;
    };
    /** The same transport, through a proxy whose connections can be cut. */
    const cuttable = (name: TransportName): { options: Record<string, unknown>; proxy: CutProxy } => {
      const proxy = name.startsWith('rawsocket') ? rawProxy : wsProxy;
      return { options: viaProxy(transportOptions(router, name), proxy), proxy };
    };

    before(async () => {
      watcher = await open('watcher');
      a = await open('sess-a');
      b = await open('sess-b');
      await subscribeLog(watcher.session, 'wamp.session.on_join', joins);
      await subscribeLog(watcher.session, 'wamp.session.on_leave', leaves);
    });
    after(() => closeAll(clients));

    void it(`wamp meta - wamp.session.count and wamp.session.list, with authrole filters [${tn}]`, async () => {
      const all = [watcher, a, b].map((c) => c.session.id);
      assert.equal(await call(a.session, 'wamp.session.count'), 3);
      assert.deepEqual(sorted(await call(a.session, 'wamp.session.list')), sorted(all));
      assert.equal(await call(a.session, 'wamp.session.count', [['anonymous']]), 3);
      assert.deepEqual(sorted(await call(a.session, 'wamp.session.list', [['anonymous', 'admin']])), sorted(all));
      assert.equal(await call(a.session, 'wamp.session.count', [['admin']]), 0);
      assert.deepEqual(await call(a.session, 'wamp.session.list', [['admin']]), []);
    });

    void it(`wamp meta - wamp.session.get returns the session details, no_such_session otherwise [${tn}]`, async () => {
      const d = await call<Record<string, unknown>>(a.session, 'wamp.session.get', [b.session.id]);
      assert.equal(d['session'], b.session.id);
      assert.equal(d['authid'], 'sess-b');
      assert.equal(d['authrole'], 'anonymous');
      assert.equal(d['authmethod'], 'anonymous');
      assert.equal(typeof d['authprovider'], 'string');
      const transport = d['transport'] as Record<string, unknown>;
      assert.equal(transport['type'], tn.startsWith('rawsocket') ? 'rawsocket' : 'websocket');
      assert.ok(
        String(transport['protocol']).includes(tn.split('/')[1] ?? '?'),
        `transport.protocol ${String(transport['protocol'])} names the serializer`,
      );
      const unknown = await errorOf(a.session.call('wamp.session.get', [1]), 'get of an unknown session');
      assert.equal(unknown.error, 'wamp.error.no_such_session');
      const bad = await errorOf(a.session.call('wamp.session.get', ['not-an-id']), 'get with a string');
      assert.equal(bad.error, 'wamp.error.no_such_session');
    });

    void it(`wamp meta - wamp.session.on_join and on_leave on a clean GOODBYE [${tn}]`, async () => {
      const joiner = await open('joiner');
      const id = joiner.session.id; // autobahn forgets it on close
      const [join] = (await joins.until((e) => (e.args[0] as Record<string, unknown>)['session'] === id, 'on_join')).slice(-1);
      const details = join?.args[0] as Record<string, unknown>;
      assert.equal(join?.args.length, 1, 'on_join has one positional argument: the details');
      assert.equal(details['authid'], 'joiner');
      assert.equal(details['authrole'], 'anonymous');
      assert.equal(details['authmethod'], 'anonymous');
      assert.equal(typeof details['transport'], 'object');
      await joiner.close();
      const [leave] = (await leaves.until((e) => e.args[0] === id, 'on_leave')).slice(-1);
      assert.deepEqual(leave?.args, [id, 'joiner', 'anonymous']);
    });

    void it(`wamp meta - wamp.session.on_leave when the transport is lost without GOODBYE [${tn}]`, async () => {
      const { options, proxy } = cuttable(tn);
      const lost = await open('lost', options);
      const id = lost.session.id;
      await joins.until((e) => (e.args[0] as Record<string, unknown>)['session'] === id, 'on_join of the proxied session');
      proxy.cutAll();
      const [leave] = (await leaves.until((e) => e.args[0] === id, 'on_leave after the cut')).slice(-1);
      assert.deepEqual(leave?.args, [id, 'lost', 'anonymous']);
      await withTimeout(lost.onclose, WAIT_MS, 'client sees the connection lost');
      assert.equal(await call(a.session, 'wamp.session.count'), 3, 'the lost session is gone from the realm');
    });

    void it(`wamp meta - session meta events stay in their realm [${tn}]`, async () => {
      const elsewhere = await open('elsewhere', transportOptions(router, tn), `${realm}.other`);
      const here = await open('here');
      const hereId = here.session.id;
      await joins.until(
        (e) => (e.args[0] as Record<string, unknown>)['session'] === hereId,
        'on_join of the session in this realm',
      );
      const ids = joins.events.map((e) => (e.args[0] as Record<string, unknown>)['session']);
      assert.equal(ids.includes(elsewhere.session.id), false, 'no on_join from another realm');
      assert.equal(await call(elsewhere.session, 'wamp.session.count'), 1);
      await Promise.all([elsewhere.close(), here.close()]);
    });

    void it(`wamp meta - wamp.session.kill: the victim gets GOODBYE wamp.close.killed [${tn}]`, async () => {
      const victim = await open('victim');
      const id = victim.session.id;
      const result = await call(a.session, 'wamp.session.kill', [id]);
      assert.equal(result ?? null, null, 'kill returns nothing');
      // details.reason is GOODBYE.Reason as received (autobahn itself reports the
      // connection as 'lost': it closes the WebSocket without a status code)
      const closed = await withTimeout(victim.onclose, WAIT_MS, 'victim closed');
      assert.equal(closed.details['reason'], 'wamp.close.killed');
      const [leave] = (await leaves.until((e) => e.args[0] === id, 'on_leave of the victim')).slice(-1);
      assert.deepEqual(leave?.args, [id, 'victim', 'anonymous']);
    });

    void it(`wamp meta - wamp.session.kill passes reason and message to the victim's GOODBYE [${tn}]`, async () => {
      const victim = await open('victim2');
      await call(a.session, 'wamp.session.kill', [victim.session.id], {
        reason: 'com.example.maintenance',
        message: 'back soon',
      });
      const closed = await withTimeout(victim.onclose, WAIT_MS, 'victim closed');
      assert.equal(closed.details['reason'], 'com.example.maintenance');
      assert.equal(closed.details['message'], 'back soon');
      const survivor = await open('survivor');
      const invalid = await errorOf(
        a.session.call('wamp.session.kill', [survivor.session.id], { reason: 'not a uri' }),
        'kill with an invalid reason',
      );
      assert.equal(invalid.error, 'wamp.error.invalid_uri');
      assert.deepEqual(
        await call(a.session, 'wamp.session.get', [survivor.session.id]).then((d) => (d as Record<string, unknown>)['authid']),
        'survivor',
        'not killed',
      );
      await survivor.close();
    });

    void it(`wamp meta - wamp.session.kill refuses the caller itself and unknown sessions [${tn}]`, async () => {
      const self = await errorOf(a.session.call('wamp.session.kill', [a.session.id]), 'kill of oneself');
      assert.equal(self.error, 'wamp.error.no_such_session');
      const unknown = await errorOf(a.session.call('wamp.session.kill', [1]), 'kill of an unknown session');
      assert.equal(unknown.error, 'wamp.error.no_such_session');
      assert.equal(await call(a.session, 'wamp.session.count'), 3);
    });

    void it(`wamp meta - wamp.session.kill_by_authid kills every other session with that authid [${tn}]`, async () => {
      const doomed = [await open('doomed'), await open('doomed')];
      const ids = doomed.map((c) => c.session.id);
      const caller = await open('doomed');
      const result = await call(caller.session, 'wamp.session.kill_by_authid', ['doomed']);
      // Crossbar returns the killed session ids (the spec text says a count)
      assert.deepEqual(sorted(result), sorted(ids));
      for (const d of doomed) {
        const closed = await withTimeout(d.onclose, WAIT_MS, 'doomed session closed');
        assert.equal(closed.details['reason'], 'wamp.close.killed');
      }
      assert.equal(await call(caller.session, 'wamp.session.count'), 4, 'watcher, a, b and the caller remain');
      await caller.close();
    });

    void it(`wamp meta - wamp.session.kill_by_authrole kills every other session with that authrole [${tn}]`, async () => {
      const roleRealm = `${realm}.roles`;
      const others = [await open('r1', undefined, roleRealm), await open('r2', undefined, roleRealm)];
      const ids = others.map((c) => c.session.id);
      const caller = await open('r0', undefined, roleRealm);
      const none = await call(caller.session, 'wamp.session.kill_by_authrole', ['admin']);
      assert.deepEqual(none, []);
      const result = await call(caller.session, 'wamp.session.kill_by_authrole', ['anonymous']);
      assert.deepEqual(sorted(result), sorted(ids));
      for (const o of others)
        assert.equal((await withTimeout(o.onclose, WAIT_MS, 'killed by role')).details['reason'], 'wamp.close.killed');
      assert.equal(await call(caller.session, 'wamp.session.count'), 1);
      await caller.close();
    });
  });
});
