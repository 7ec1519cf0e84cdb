/**
 * The retained store over WAMP with the real autobahn client (docs/ARCHITECTURE.md "Retained store
 * and sync primitives"): retain stores, replaces and deletes; binary values stay bytes;
 * acknowledged store writes return the key's revision (the fencing token) in PUBLISHED
 * and events carry it as details.revision; ttl expiry is published as a deletion; a
 * retained subscribe taken in the middle of a stream of writes sees each key with no
 * gap and no duplicate.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { ManualClock } from '../../helpers/clock';
import { startRouter, type TestRouter } from '../../helpers/router';
import { wsOptions } from '../../helpers/autobahn';
import { Clients, errorUri, publishAck, retain, storeGet, subscribeWire } from '../../helpers/retained';
import {
  EventLog,
  RawWampClient,
  transportOptions,
  withTimeout,
  TRANSPORT_NAMES,
  type ReceivedEvent,
} from '../../helpers/wamp-clients';
import { expectQuiet } from '../../helpers/wait';

let router: TestRouter;
const clients = new Clients();

before(async () => {
  router = await startRouter();
});
afterEach(() => clients.closeAll());
after(() => router.close());

const json = (): Record<string, unknown> => wsOptions(router.wsUrl, 'json');

describe('retained - retain', () => {
  test('retained - retain: true stores the value; a later retained subscriber gets it first with details.retained and details.revision', async () => {
    const pub = await clients.open(json(), 'pub');
    const sub = await clients.open(json(), 'sub');
    const rev = await retain(pub.session, 'r1.sensor.temp', [21.5], {}, { unit: 'C' });
    const log = new EventLog();
    await subscribeWire(sub.session, 'r1.sensor.temp', log, { retained: true });
    const [ev] = await log.count(1, 'the stored value');
    assert.ok(ev);
    assert.deepEqual(ev.args, [21.5]);
    assert.deepEqual(ev.kwargs, { unit: 'C' });
    assert.equal(ev.details['retained'], true);
    assert.equal(ev.details['revision'], rev);

    // a live event afterwards is not marked retained
    const rev2 = await retain(pub.session, 'r1.sensor.temp', [22]);
    const [, live] = await log.count(2, 'the live event');
    assert.deepEqual(live?.args, [22]);
    assert.notEqual(live?.details['retained'], true);
    assert.equal(live?.details['revision'], rev2);

    // without retained: true a subscriber gets nothing stored
    const plain = new EventLog();
    await subscribeWire(sub.session, 'r1.sensor.#', plain);
    await expectQuiet();
    assert.equal(plain.events.length, 0, 'a subscribe without retained:true replays nothing');
  });

  test('retained - a retained subscribe with a filter replays only the stored values that match it', async () => {
    const pub = await clients.open(json(), 'pub');
    const sub = await clients.open(json(), 'sub');
    await retain(pub.session, 'r1.feed.1', [{ type: 'post', id: 1 }]);
    await retain(pub.session, 'r1.feed.2', [{ type: 'comment', id: 2 }]);
    await retain(pub.session, 'r1.feed.3', ['post']);
    await retain(pub.session, 'r1.feed.4', [{ type: 'post', id: 4 }]);
    const log = new EventLog();
    await subscribeWire(sub.session, 'r1.feed.#', log, { retained: true, filter: { type: 'post' } });
    await log.count(2, 'the two matching stored values');
    await retain(pub.session, 'r1.feed.5', [{ type: 'comment', id: 5 }]);
    await retain(pub.session, 'r1.feed.6', [{ type: 'post', id: 6 }]);
    await log.count(3, 'the matching live value');
    await expectQuiet(50);
    const ids = log.events.map((e) => [(e.args[0] as { id: number }).id, e.details['retained'] === true]);
    assert.deepEqual(ids.slice(0, 2).sort(), [
      [1, true],
      [4, true],
    ]);
    assert.deepEqual(ids.slice(2), [[6, false]]);
  });

  test('retained - a plain publish (no retain) is not stored', async () => {
    const pub = await clients.open(json(), 'pub');
    await publishAck(pub.session, 'r1.plain', ['x']);
    assert.equal(await storeGet(pub.session, 'r1.plain'), null);
  });

  test('retained - retain with null, empty or no Arguments deletes the key, and subscribers see the deletion', async () => {
    const pub = await clients.open(json(), 'pub');
    const sub = await clients.open(json(), 'sub');
    const shapes: { name: string; args?: unknown[]; kwargs?: Record<string, unknown> }[] = [
      { name: 'Arguments []', args: [] },
      { name: 'Arguments [null]', args: [null] },
      { name: 'no Arguments', args: undefined },
      { name: 'no Arguments, only ArgumentsKw (headers)', args: undefined, kwargs: { header: 'any' } },
    ];
    for (const [i, shape] of shapes.entries()) {
      const key = `r1.del.k${i}`;
      const stored = await retain(pub.session, key, ['value']);
      const log = new EventLog();
      await subscribeWire(sub.session, key, log);
      const del = await publishAck(pub.session, key, shape.args, shape.kwargs, { retain: true });
      assert.ok(del > stored, `${shape.name}: the deletion has a new revision`);
      assert.equal(await storeGet(pub.session, key), null, `${shape.name} must delete the key`);
      const [ev] = await log.count(1, `deletion event (${shape.name})`);
      assert.equal(ev?.details['revision'], del, `${shape.name}: the deletion event carries its revision`);
      const retainedLog = new EventLog();
      await subscribeWire(sub.session, `r1.del.k${i}.#`, retainedLog, { retained: true });
      await subscribeWire(sub.session, `r1.del`, retainedLog, { retained: true, match: 'prefix' });
      await expectQuiet(30);
      assert.equal(
        retainedLog.events.filter((e) => e.details['topic'] === key).length,
        0,
        `${shape.name}: nothing replayed for a deleted key`,
      );
    }
  });

  test('retained - a retained delete of an absent key succeeds and stores nothing', async () => {
    const pub = await clients.open(json(), 'pub');
    await publishAck(pub.session, 'r1.never', [], undefined, { retain: true });
    assert.equal(await storeGet(pub.session, 'r1.never'), null);
  });

  test('retained - a new value replaces the stored one (no merge of values or headers)', async () => {
    const pub = await clients.open(json(), 'pub');
    const sub = await clients.open(json(), 'sub');
    await retain(pub.session, 'r1.replace', [{ a: 1, b: { c: 2, d: 3 } }], {}, { h1: 'x' });
    const rev = await retain(pub.session, 'r1.replace', [{ b: { c: 9 } }]);
    const e = await storeGet(pub.session, 'r1.replace');
    assert.deepEqual(e, { key: 'r1.replace', value: { b: { c: 9 } }, revision: rev });
    const log = new EventLog();
    await subscribeWire(sub.session, 'r1.replace', log, { retained: true });
    const [ev] = await log.count(1, 'the stored value');
    assert.deepEqual(ev?.args, [{ b: { c: 9 } }]);
    assert.deepEqual(ev?.kwargs, {}, 'the old headers are gone');
    // several Arguments: the value is the list
    await retain(pub.session, 'r1.replace', ['x', 2, null]);
    assert.deepEqual((await storeGet(pub.session, 'r1.replace'))?.value, ['x', 2, null]);
  });

  for (const ser of ['msgpack', 'cbor'] as const) {
    test(`retained - a non-JSON binary value from a ${ser} session is stored and returned as bytes`, async () => {
      const bytes = Buffer.from([0xff, 0x00, 0xfe, 0x80, 0xc3, 0x28, 0x00, 0x01]);
      const pub = await clients.open(wsOptions(router.wsUrl, ser), 'pub');
      const key = `r1.bin.${ser}`;
      const rev = await retain(pub.session, key, [bytes], {}, { mime: 'application/octet-stream', raw: Buffer.from([1, 2]) });
      const e = await storeGet(pub.session, key);
      assert.ok(e);
      assert.ok(e.value instanceof Uint8Array, `value comes back as bytes, got ${typeof e.value}`);
      assert.deepEqual(Buffer.from(e.value), bytes);
      assert.equal(e.revision, rev);
      const raw = e.headers?.['raw'];
      assert.ok(raw instanceof Uint8Array);
      assert.deepEqual(Buffer.from(raw), Buffer.from([1, 2]));

      // a retained subscriber of each serializer gets the same bytes
      for (const other of ['msgpack', 'cbor'] as const) {
        const sub = await clients.open(wsOptions(router.wsUrl, other), `sub-${other}`);
        const log = new EventLog();
        await subscribeWire(sub.session, key, log, { retained: true });
        const [ev] = await log.count(1, `stored bytes to a ${other} subscriber`);
        const got = ev?.args[0];
        assert.ok(got instanceof Uint8Array, `${other}: binary argument`);
        assert.deepEqual(Buffer.from(got), bytes);
        assert.equal(ev?.details['retained'], true);
      }
      // a JSON subscriber gets the WAMP JSON binary string
      const js = await clients.open(json(), 'sub-json');
      const log = new EventLog();
      await subscribeWire(js.session, key, log, { retained: true });
      const [ev] = await log.count(1, 'stored bytes to a JSON subscriber');
      assert.equal(ev?.args[0], '\u0000' + bytes.toString('base64'));
      // and the bytes are the condition's value too: when with the same bytes holds
      const rev2 = await retain(pub.session, key, ['text'], { when: bytes });
      assert.ok(rev2 > rev);
    });
  }
});

describe('retained - acknowledge and revisions', () => {
  test('retained - PUBLISHED ids of store writes strictly increase across writes and deletes, and equal the revision gatehouse.store.get and EVENT details.revision report', async () => {
    const pub = await clients.open(json(), 'pub');
    const sub = await clients.open(wsOptions(router.wsUrl, 'msgpack'), 'sub');
    const log = new EventLog();
    await subscribeWire(sub.session, 'r2.rev', log, { match: 'prefix' });
    const keys = ['r2.rev.a', 'r2.rev.b', 'r2.rev.c'];
    const revs: { key: string; rev: number; deleted: boolean }[] = [];
    for (let i = 0; i < 30; i++) {
      const key = keys[i % 3] as string;
      const deleted = i % 5 === 4;
      const rev = deleted
        ? await publishAck(pub.session, key, [], undefined, { retain: true })
        : await retain(pub.session, key, [{ i }]);
      revs.push({ key, rev, deleted });
      if (!deleted) assert.equal((await storeGet(pub.session, key))?.revision, rev, `store.get revision of write ${i}`);
      else assert.equal(await storeGet(pub.session, key), null);
    }
    for (let i = 1; i < revs.length; i++) {
      assert.ok(
        (revs[i]?.rev ?? 0) > (revs[i - 1]?.rev ?? 0),
        `revision ${i} ${JSON.stringify(revs[i])} above ${JSON.stringify(revs[i - 1])}`,
      );
    }
    const events = await log.count(revs.length, 'every write and delete as an event');
    assert.deepEqual(
      events.map((e) => [e.details['topic'], e.details['revision'], e.details['publication']]),
      revs.map((r) => [r.key, r.rev, r.rev]),
      'each event carries its revision, which is also its publication id',
    );
    // pipelined (not awaited one by one): acks still come with increasing revisions
    const pipelined = await Promise.all(Array.from({ length: 50 }, (_, i) => retain(pub.session, keys[i % 3] as string, [i])));
    for (let i = 1; i < pipelined.length; i++) assert.ok((pipelined[i] ?? 0) > (pipelined[i - 1] ?? 0));
  });

  test('retained - a store write error is reported to an acknowledged publisher (ttl must be a positive number)', async () => {
    const pub = await clients.open(json(), 'pub');
    for (const ttl of [0, -1, 'soon']) {
      try {
        await retain(pub.session, 'r2.badttl', ['v'], { ttl });
        assert.fail(`ttl ${JSON.stringify(ttl)} accepted`);
      } catch (err) {
        assert.equal(errorUri(err), 'wamp.error.invalid_argument', `ttl ${JSON.stringify(ttl)}`);
      }
    }
    assert.equal(await storeGet(pub.session, 'r2.badttl'), null);
  });
});

describe('retained - ttl', () => {
  // TTL expiry runs on this router's clock: the tests move it instead of sleeping
  const clock = new ManualClock();
  let timed: TestRouter;
  before(async () => {
    timed = await startRouter({}, { clock });
  });
  after(() => timed.close());
  const json = (): Record<string, unknown> => wsOptions(timed.wsUrl, 'json');

  test('retained - a value with ttl expires: subscribers see a deletion event with no Arguments and gatehouse.store.get returns null', async () => {
    const pub = await clients.open(json(), 'pub');
    const sub = await clients.open(json(), 'sub');
    const log = new EventLog();
    await subscribeWire(sub.session, 'r3.ttl.key', log);
    const t0 = clock.now();
    const rev = await retain(pub.session, 'r3.ttl.key', [{ lease: 'x' }], { ttl: 0.3 });
    const e = await storeGet(pub.session, 'r3.ttl.key');
    assert.equal(e?.revision, rev);
    assert.equal(e?.expiresAt, t0 + 300);
    clock.advance(299);
    assert.equal((await storeGet(pub.session, 'r3.ttl.key'))?.revision, rev, 'kept 1 ms before its ttl');
    assert.equal(log.events.length, 1, 'no expiry event before the ttl');
    clock.advance(1);
    const events = await log.count(2, 'the write and then the expiry');
    const expiry = events[1] as ReceivedEvent;
    assert.deepEqual(expiry.args, [], 'the deletion event has no Arguments');
    assert.deepEqual(expiry.kwargs, {});
    assert.equal(await storeGet(pub.session, 'r3.ttl.key'), null);
    const retainedLog = new EventLog();
    await subscribeWire(sub.session, 'r3.ttl.key', retainedLog, { retained: true });
    await expectQuiet(50);
    assert.equal(retainedLog.events.length, 0, 'nothing is replayed after expiry');
  });

  test('retained - the ttl expiry event carries details.revision, above the write it deletes', async () => {
    const pub = await clients.open(json(), 'pub');
    const sub = await clients.open(json(), 'sub');
    const log = new EventLog();
    await subscribeWire(sub.session, 'r3.ttl.rev', log);
    const rev = await retain(pub.session, 'r3.ttl.rev', ['lease'], { ttl: 0.1 });
    clock.advance(100);
    const [, expiry] = await log.count(2, 'the write and then the expiry');
    const expiryRev = expiry?.details['revision'];
    assert.ok(
      typeof expiryRev === 'number' && expiryRev > rev,
      `expiry event revision ${String(expiryRev)} must be above ${rev}`,
    );
    const next = await retain(pub.session, 'r3.ttl.rev', ['again']);
    assert.ok(next > expiryRev);
  });

  test('retained - an overwrite without ttl keeps the key beyond the first ttl; a new ttl replaces the old', async () => {
    const pub = await clients.open(json(), 'pub');
    await retain(pub.session, 'r3.ttl.keep', ['short'], { ttl: 0.2 });
    await retain(pub.session, 'r3.ttl.keep', ['forever']);
    await retain(pub.session, 'r3.ttl.longer', ['short'], { ttl: 0.2 });
    await retain(pub.session, 'r3.ttl.longer', ['longer'], { ttl: 0.6 });
    clock.advance(350);
    assert.equal((await storeGet(pub.session, 'r3.ttl.keep'))?.value, 'forever');
    assert.equal((await storeGet(pub.session, 'r3.ttl.longer'))?.value, 'longer');
    clock.advance(249);
    assert.equal((await storeGet(pub.session, 'r3.ttl.longer'))?.value, 'longer', '1 ms before its new ttl');
    clock.advance(1);
    assert.equal(await storeGet(pub.session, 'r3.ttl.longer'), null);
  });
});

describe('retained - retained subscribe under concurrent publishes', () => {
  for (const tn of TRANSPORT_NAMES) {
    test(`retained - a retained subscribe taken mid-stream sees each key with no gap and no duplicate [${tn}]`, async () => {
      const keys = Array.from({ length: 5 }, (_, i) => `r4.${tn.replace('/', '_')}.k${i}`);
      const pattern = `r4.${tn.replace('/', '_')}`;
      const N = 400;
      const pub = await clients.open(transportOptions(router, tn), 'pub');
      const subs = await Promise.all([0, 1, 2, 3].map((i) => clients.open(transportOptions(router, tn), `sub${i}`)));
      /** acked revisions per key, in ack order */
      const acked = new Map<string, { rev: number; n: number }[]>(keys.map((k) => [k, []]));
      const logs = subs.map(() => new EventLog());
      const subscribedAt: number[] = [];
      let done = 0;
      const writes: Promise<void>[] = [];
      for (let n = 1; n <= N; n++) {
        const key = keys[n % keys.length] as string;
        writes.push(
          retain(pub.session, key, [n], {}, undefined).then((rev) => {
            acked.get(key)?.push({ rev, n });
            done++;
          }),
        );
        // subscribers join at different points of the stream, while writes are in flight
        const s = subs[Math.floor(n / 80) - 1];
        if (n % 80 === 0 && s) {
          const i = subs.indexOf(s);
          subscribedAt.push(n);
          writes.push(
            subscribeWire(s.session, pattern, logs[i] as EventLog, { retained: true, match: 'prefix' }).then(() => undefined),
          );
        }
        if (n % 20 === 0) await new Promise((r) => setImmediate(r));
      }
      await withTimeout(Promise.all(writes), 5000, 'all writes acknowledged');
      assert.equal(done, N);
      for (const [k, list] of acked) {
        for (let i = 1; i < list.length; i++)
          assert.ok((list[i]?.rev ?? 0) > (list[i - 1]?.rev ?? 0), `acks of ${k} in revision order`);
      }
      // the last event of every key reaches every subscriber
      for (const [i, log] of logs.entries()) {
        for (const k of keys) {
          const last = acked.get(k)?.at(-1);
          await log.until(
            (e) => e.details['topic'] === k && e.details['revision'] === last?.rev,
            `subscriber ${i}: last value of ${k}`,
            3000,
          );
        }
      }
      await expectQuiet(50);
      for (const [i, log] of logs.entries()) {
        let replayed = 0;
        for (const k of keys) {
          const seen = log.events.filter((e) => e.details['topic'] === k);
          const revs = seen.map((e) => e.details['revision'] as number);
          const all = acked.get(k) ?? [];
          const first = all.findIndex((a) => a.rev === revs[0]);
          assert.ok(first >= 0, `subscriber ${i} ${k}: first revision ${revs[0]} is one that was written`);
          // no gap and no duplicate: exactly the writes from the first one seen on
          assert.deepEqual(
            revs,
            all.slice(first).map((a) => a.rev),
            `subscriber ${i} ${k}: a gap or a duplicate`,
          );
          assert.deepEqual(
            seen.map((e) => e.args[0]),
            all.slice(first).map((a) => a.n),
            `subscriber ${i} ${k}: values`,
          );
          // only the first event of a key may be the replayed one
          assert.ok(
            seen.slice(1).every((e) => e.details['retained'] !== true),
            `subscriber ${i} ${k}: a retained event after a live one`,
          );
          if (seen[0]?.details['retained'] === true) replayed++;
        }
        assert.ok(replayed > 0, `subscriber ${i} (joined after write ${subscribedAt[i]}) got stored values`);
      }
    });
  }
});

describe('retained - wire form', () => {
  test('retained - PUBLISHED of a store write carries the revision as its Publication ID (raw WAMP JSON)', async () => {
    const raw = await RawWampClient.open(router.wsUrl);
    try {
      const req = raw.request();
      raw.send([16, req, { acknowledge: true, retain: true }, 'r5.wire', [{ v: 1 }]]);
      const published = await raw.next((m) => m[0] === 17 && m[1] === req, 'PUBLISHED');
      assert.equal(published.length, 3, 'PUBLISHED [17, Request, Publication]');
      const e = await raw.call('gatehouse.store.get', ['r5.wire']);
      assert.equal((e[3] as unknown[])[0] !== null && (e[3] as { revision: number }[])[0]?.revision, published[2]);
    } finally {
      await raw.close();
    }
  });
});
