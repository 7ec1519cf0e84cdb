// Pub/sub as it is on the wire, with a hand-written WAMP JSON client over a plain
// WebSocket: exact message shapes that client libraries hide (autobahn fills in
// details.topic itself, drops ppt_* details, and cannot show that no ERROR was sent).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startRouter, type TestRouter } from '../../helpers/router';
import { RawWampClient } from '../../helpers/wamp-clients';

let router: TestRouter;
let sub: RawWampClient;
let pub: RawWampClient;
before(async () => {
  router = await startRouter();
  sub = await RawWampClient.open(router.wsUrl);
  pub = await RawWampClient.open(router.wsUrl, 'realm1', { authid: 'wire-publisher' });
});
after(async () => {
  await Promise.all([sub.close(), pub.close()]);
  await router.close();
});

/** PUBLISH with acknowledge; resolves with the PUBLISHED or ERROR message. */
async function publish(topic: string, options: Record<string, unknown>, ...payload: unknown[]): Promise<unknown[]> {
  const req = pub.request();
  pub.send([16, req, { acknowledge: true, ...options }, topic, ...payload]);
  return pub.next((m) => (m[0] === 17 && m[1] === req) || (m[0] === 8 && m[1] === 16 && m[2] === req), `reply to PUBLISH ${req}`);
}

void describe('wamp pubsub wire', () => {
  void it('wamp pubsub - PUBLISHED and EVENT messages have the basic profile shape', async () => {
    const id = await sub.subscribe('wire.basic');
    const from = sub.received.length;
    const published = await publish('wire.basic', {}, [1, 'a'], { k: { n: null } });
    assert.equal(published[0], 17);
    assert.equal(published.length, 3);
    const pubId = published[2] as number;
    assert.ok(Number.isInteger(pubId) && pubId >= 1 && pubId <= 2 ** 53);
    const ev = await sub.event(id, 'EVENT', from);
    // exact subscription: no details.topic (the subscriber knows it)
    assert.deepEqual(ev, [36, id, pubId, {}, [1, 'a'], { k: { n: null } }]);
  });

  void it('wamp pubsub - EVENT carries Arguments/ArgumentsKw only when the publication had them', async () => {
    const id = await sub.subscribe('wire.shapes');
    const from = sub.received.length;
    const a = (await publish('wire.shapes', {}))[2];
    const b = (await publish('wire.shapes', {}, ['x']))[2];
    const c = (await publish('wire.shapes', {}, [], { y: 1 }))[2];
    await sub.next((m) => m[0] === 36 && m[2] === c, 'third EVENT', undefined, from);
    const events = sub.received.slice(from).filter((m) => m[0] === 36 && m[1] === id);
    assert.deepEqual(events, [
      [36, id, a, {}],
      [36, id, b, {}, ['x']],
      [36, id, c, {}, [], { y: 1 }],
    ]);
  });

  void it('wamp pubsub - pattern subscriptions get details.topic, identification adds publisher fields', async () => {
    const prefix = await sub.subscribe('wire.pat.', { match: 'prefix' });
    const wild = await sub.subscribe('wire..leaf', { match: 'wildcard' });
    const fox = await sub.subscribe('wire.fox.#');
    const from = sub.received.length;
    const p1 = (await publish('wire.pat.one', { disclose_me: true }, ['p']))[2];
    const p2 = (await publish('wire.any.leaf', {}, ['w']))[2];
    const p3 = (await publish('wire.fox.a.b', {}, ['f']))[2];
    assert.deepEqual(await sub.event(prefix, 'prefix EVENT', from), [
      36,
      prefix,
      p1,
      { topic: 'wire.pat.one', publisher: pub.sessionId, publisher_authid: 'wire-publisher', publisher_authrole: 'anonymous' },
      ['p'],
    ]);
    assert.deepEqual(await sub.event(wild, 'wildcard EVENT', from), [36, wild, p2, { topic: 'wire.any.leaf' }, ['w']]);
    assert.deepEqual(await sub.event(fox, 'fox-wamp EVENT', from), [36, fox, p3, { topic: 'wire.fox.a.b' }, ['f']]);
  });

  void it('wamp pubsub - publish errors: ERROR with acknowledge, silence without', async () => {
    const from = pub.received.length;
    const req = pub.request();
    pub.send([16, req, {}, 'wire..bad', ['x']]);
    const reqReserved = pub.request();
    pub.send([16, reqReserved, {}, 'wamp.session.on_leave', ['x']]);
    const acked = await publish('wire..bad', {}, ['x']);
    assert.equal(acked[0], 8);
    assert.deepEqual(acked.slice(1, 5), [16, acked[2], {}, 'wamp.error.invalid_uri']);
    const reserved = await publish('wamp.session.on_leave', {}, [1]);
    assert.deepEqual(reserved.slice(0, 2), [8, 16]);
    assert.equal(reserved[4], 'wamp.error.not_authorized');
    // everything the router answered since: only the two acknowledged ERRORs
    const answers = pub.received.slice(from).filter((m) => m[0] === 8 || m[0] === 17);
    assert.deepEqual(
      answers.map((m) => m[2]),
      [acked[2], reserved[2]],
      `no reply for the unacknowledged requests ${req} and ${reqReserved}`,
    );
  });

  void it('wamp pubsub - payload_passthru_mode: ppt_* options come out as EVENT details, payload untouched', async () => {
    const id = await sub.subscribe('wire.ppt');
    const from = sub.received.length;
    const opts = { ppt_scheme: 'x_custom', ppt_serializer: 'native', ppt_cipher: 'none', ppt_keyid: 'k1' };
    const pubId = (await publish('wire.ppt', opts, ['\u0000AQID']))[2];
    const ev = await sub.event(id, 'passthru EVENT', from);
    assert.deepEqual(ev, [36, id, pubId, opts, ['\u0000AQID']]);
  });

  void it('wamp pubsub - the publisher is excluded by default on the wire too', async () => {
    const own = await pub.subscribe('wire.self');
    const from = pub.received.length;
    const first = (await publish('wire.self', {}, ['excluded']))[2];
    const second = (await publish('wire.self', { exclude_me: false }, ['included']))[2];
    const ev = await pub.event(own, 'own EVENT', from);
    assert.deepEqual(ev, [36, own, second, {}, ['included']]);
    assert.equal(
      pub.received.slice(from).some((m) => m[0] === 36 && m[2] === first),
      false,
    );
  });
});
