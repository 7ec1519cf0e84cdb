// WAMP advanced: testament meta API (wamp.session.add_testament / flush_testaments).
// A session's testaments are published when it goes away: lost transport or clean
// GOODBYE; `detached` scope first, then `destroyed`, each in the order added. Watchers
// on every transport x serializer check the delivered event.
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
  RawWampClient,
  startCutProxy,
  subscribeLog,
  TRANSPORT_NAMES,
  transportOptions,
  viaProxy,
  withTimeout,
  WAIT_MS,
  type Client,
  type CutProxy,
  type TransportName,
} from '../../helpers/wamp-clients';

const REALM = 'will';

let router: TestRouter;
let wsProxy: CutProxy;
let rawProxy: CutProxy;
const clients: Client[] = [];
/** one watcher per transport, each with one log per topic it watches */
const watchers = new Map<TransportName, Client>();

before(async () => {
  router = await startRouter();
  wsProxy = await startCutProxy(portOf(router.wsUrl));
  rawProxy = await startCutProxy(router.rawSocketPort);
  for (const tn of TRANSPORT_NAMES) {
    const w = await connectAs(transportOptions(router, tn), `watcher-${tn}`, REALM);
    clients.push(w);
    watchers.set(tn, w);
  }
});
after(async () => {
  await closeAll(clients);
  await Promise.all([wsProxy.close(), rawProxy.close()]);
  await router.close();
});

/** Every watcher subscribes to `topic`; returns their logs. */
async function watch(topic: string): Promise<Map<TransportName, EventLog>> {
  const logs = new Map<TransportName, EventLog>();
  for (const [tn, w] of watchers) {
    const log = new EventLog();
    await subscribeLog(w.session, topic, log);
    logs.set(tn, log);
  }
  return logs;
}

/** Waits until every watcher has `n` events on its log; returns each watcher's [args, kwargs]. */
async function received(logs: Map<TransportName, EventLog>, n: number, what: string): Promise<Map<TransportName, unknown[]>> {
  const out = new Map<TransportName, unknown[]>();
  for (const [tn, log] of logs)
    out.set(
      tn,
      (await log.count(n, `${what} at ${tn}`)).map((e) => [e.args, e.kwargs]),
    );
  return out;
}

function cuttable(tn: TransportName): { options: Record<string, unknown>; proxy: CutProxy } {
  const proxy = tn.startsWith('rawsocket') ? rawProxy : wsProxy;
  return { options: viaProxy(transportOptions(router, tn), proxy), proxy };
}

void describe('wamp meta testament', () => {
  void it('wamp meta - a testament is published when a raw WebSocket client is terminated', async () => {
    const logs = await watch('will.raw');
    const raw = await RawWampClient.open(router.wsUrl, REALM, { authid: 'raw-testator' });
    const result = await raw.call('wamp.session.add_testament', ['will.raw', ['bye', 1], { who: 'raw' }]);
    assert.deepEqual(result.slice(0, 1), [50]);
    void raw.terminate(); // no GOODBYE, no WebSocket close frame
    for (const [tn, got] of await received(logs, 1, 'raw testament')) {
      assert.deepEqual(got, [[['bye', 1], { who: 'raw' }]], tn);
    }
    await raw.whenClosed;
  });

  for (const tn of TRANSPORT_NAMES) {
    void it(`wamp meta - a testament is published when the transport is lost [${tn}]`, async () => {
      const topic = `will.lost.${tn.replace('/', '_')}`;
      const logs = await watch(topic);
      const { options, proxy } = cuttable(tn);
      const testator = await connectAs(options, 'testator', REALM);
      clients.push(testator);
      const result = await call(testator.session, 'wamp.session.add_testament', [topic, ['lost'], { from: tn }]);
      assert.equal(result ?? null, null, 'add_testament returns nothing');
      proxy.cutAll();
      for (const [watcher, got] of await received(logs, 1, 'testament after the cut')) {
        assert.deepEqual(got, [[['lost'], { from: tn }]], `${tn} -> ${watcher}`);
      }
      await withTimeout(testator.onclose, WAIT_MS, 'testator sees its connection lost');
    });

    void it(`wamp meta - a testament is published on a clean GOODBYE too [${tn}]`, async () => {
      const topic = `will.goodbye.${tn.replace('/', '_')}`;
      const logs = await watch(topic);
      const testator = await connectAs(transportOptions(router, tn), 'testator', REALM);
      await call(testator.session, 'wamp.session.add_testament', [topic, ['goodbye'], {}]);
      await testator.close();
      for (const [watcher, got] of await received(logs, 1, 'testament after GOODBYE')) {
        assert.deepEqual(got, [[['goodbye'], {}]], `${tn} -> ${watcher}`);
      }
    });
  }

  void it('wamp meta - detached testaments fire before destroyed ones, each in the order added', async () => {
    const logs = await watch('will.order');
    const testator = await connectAs(transportOptions(router, 'websocket/msgpack'), 'testator', REALM);
    for (const [name, scope] of [
      ['A', 'destroyed'],
      ['B', 'detached'],
      ['C', undefined],
      ['D', 'detached'],
    ] as const) {
      await call(testator.session, 'wamp.session.add_testament', ['will.order', [name]], scope ? { scope } : {});
    }
    await testator.close();
    for (const [watcher, got] of await received(logs, 4, 'four testaments')) {
      assert.deepEqual(
        got,
        [
          [['B'], {}],
          [['D'], {}],
          [['A'], {}],
          [['C'], {}],
        ],
        watcher,
      );
    }
  });

  void it('wamp meta - flush_testaments removes the testaments of one scope (destroyed by default)', async () => {
    const logs = await watch('will.flush');
    const testator = await connectAs(transportOptions(router, 'websocket/cbor'), 'testator', REALM);
    const add = (name: string, scope?: string) =>
      call(testator.session, 'wamp.session.add_testament', ['will.flush', [name]], scope ? { scope } : {});
    await add('destroyed-1');
    await add('detached-1', 'detached');
    await add('destroyed-2', 'destroyed');
    await call(testator.session, 'wamp.session.flush_testaments');
    await add('destroyed-3');
    await add('detached-2', 'detached');
    await call(testator.session, 'wamp.session.flush_testaments', [], { scope: 'detached' });
    await add('detached-3', 'detached');
    await testator.close();
    // a marker after the close proves nothing else was published before it
    const marker = watchers.get('websocket/json');
    assert.ok(marker);
    await withTimeout(
      marker.session.publish('will.flush', ['marker'], {}, { acknowledge: true, exclude_me: false }) ??
        Promise.reject(new Error('no ack')),
      WAIT_MS,
      'marker',
    );
    for (const [watcher, got] of await received(logs, 3, 'testaments and marker')) {
      assert.deepEqual(
        got,
        [
          [['detached-3'], {}],
          [['destroyed-3'], {}],
          [['marker'], {}],
        ],
        watcher,
      );
    }
  });

  void it('wamp meta - a testament honours its publish_options (subscriber black/whitelisting)', async () => {
    const logs = await watch('will.options');
    const testator = await connectAs(transportOptions(router, 'rawsocket/json'), 'testator', REALM);
    await call(testator.session, 'wamp.session.add_testament', ['will.options', ['filtered']], {
      publish_options: { exclude_authid: ['watcher-websocket/msgpack'], acknowledge: true },
    });
    await testator.close();
    const marker = watchers.get('websocket/json');
    assert.ok(marker);
    await withTimeout(
      marker.session.publish('will.options', ['marker'], {}, { acknowledge: true, exclude_me: false }) ??
        Promise.reject(new Error('no ack')),
      WAIT_MS,
      'marker',
    );
    for (const [tn, log] of logs) {
      const events = await log.until((e) => e.args[0] === 'marker', `marker at ${tn}`);
      assert.deepEqual(
        events.map((e) => e.args[0]),
        tn === 'websocket/msgpack' ? ['marker'] : ['filtered', 'marker'],
        tn,
      );
    }
  });

  void it('wamp meta - add_testament refuses a missing topic, an invalid URI and wamp.* topics', async () => {
    const testator = await connectAs(transportOptions(router, 'websocket/json'), 'forger', REALM);
    clients.push(testator);
    const missing = await errorOf(testator.session.call('wamp.session.add_testament', []), 'add_testament without a topic');
    assert.equal(missing.error, 'wamp.error.invalid_argument');
    const invalid = await errorOf(
      testator.session.call('wamp.session.add_testament', ['bad topic', []]),
      'add_testament with an invalid URI',
    );
    assert.equal(invalid.error, 'wamp.error.invalid_uri');
    // a testament is a publication by the session: like PUBLISH it cannot forge meta events
    const forged = await errorOf(
      testator.session.call('wamp.session.add_testament', ['wamp.session.on_leave', [1, 'admin', 'admin']]),
      'add_testament on a wamp.* topic',
    );
    assert.equal(forged.error, 'wamp.error.not_authorized');
  });

  void it('wamp meta - add_testament past limits.maxTestamentsPerSession (100) is refused; a flush frees room', async () => {
    const testator = await connectAs(transportOptions(router, 'websocket/json'), 'hoarder', REALM);
    clients.push(testator);
    for (let i = 0; i < 100; i++) await call(testator.session, 'wamp.session.add_testament', [`will.many.${i}`, [i]]);
    const over = await errorOf(testator.session.call('wamp.session.add_testament', ['will.many.x', []]), 'the 101st testament');
    assert.equal(over.error, 'gatehouse.error.limit_exceeded');
    assert.match(String(over.args[0]), /maxTestamentsPerSession/);
    assert.equal(await call(testator.session, 'wamp.session.flush_testaments'), 100);
    await call(testator.session, 'wamp.session.add_testament', ['will.many.again', []]);
  });
});
