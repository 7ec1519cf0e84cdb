// The one "when a session is lost" mechanism (lib/testaments.ts): WAMP testaments, MQTT
// wills (a detached testament with a delay) and the store's wills, on a manual clock (test/helpers/clock.ts).
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { ManualClock } from '../helpers/clock';
import { Session } from '../../lib/session';
import { Testaments, type Testament } from '../../lib/testaments';

const control = { close: (): void => undefined };

function session(): Session {
  return new Session(
    { gate: 'test', type: 'unit', peer: '127.0.0.1:1' },
    { authid: 'a', authrole: 'r', authmethod: 'anonymous', authprovider: 'static' },
    control,
  );
}

function testament(topic: string, over: Partial<Testament> = {}): Testament {
  return { topic, payload: { args: [topic] }, options: {}, scope: 'destroyed', delayMs: 0, asOwner: false, ...over };
}

describe('testaments', () => {
  let fired: string[];
  let t: Testaments;
  let clock: ManualClock;
  beforeEach(() => {
    clock = new ManualClock();
    fired = [];
    t = new Testaments(
      3,
      {
        fire: (_s, x) => fired.push(x.topic),
        sessionEnded: () => fired.push('store-wills'),
      },
      clock,
    );
  });

  it('testaments - a lost session fires what waits, then the store wills, then detached, then destroyed ones', () => {
    const s = session();
    t.add(s, testament('d1'));
    t.add(s, testament('x1', { scope: 'detached' }));
    t.setSlot(s, testament('will', { scope: 'detached', delayMs: 5000, asOwner: true }));
    t.detached(s);
    assert.deepEqual(fired, ['x1'], 'a detached testament without delay fires when the transport goes');
    t.ended(s);
    assert.deepEqual(fired, ['x1', 'will', 'store-wills', 'd1'], 'the session end does not wait for the delay');
    clock.advance(10_000);
    assert.equal(fired.length, 4, 'nothing fires twice');
  });

  it('testaments - a delayed testament fires after its delay, not before', () => {
    const s = session();
    t.setSlot(s, testament('will', { scope: 'detached', delayMs: 1000 }));
    t.detached(s);
    clock.advance(999);
    assert.deepEqual(fired, []);
    clock.advance(1);
    assert.deepEqual(fired, ['will']);
    t.ended(s);
    assert.deepEqual(fired, ['will', 'store-wills']);
  });

  it('testaments - a session resumed within the delay discards what waits; a cleared slot never fires', () => {
    const s = session();
    t.setSlot(s, testament('will', { scope: 'detached', delayMs: 1000 }));
    t.detached(s);
    t.resumed(s);
    clock.advance(2000);
    t.setSlot(s, testament('second', { scope: 'detached' }));
    t.setSlot(s, undefined); // a clean DISCONNECT
    t.detached(s);
    t.ended(s);
    assert.deepEqual(fired, ['store-wills']);
  });

  it('testaments - the limit counts added testaments; flush frees room', () => {
    const s = session();
    for (let i = 0; i < 3; i++) t.add(s, testament(`t${i}`));
    assert.throws(() => t.add(s, testament('t3')), /at most 3 testaments/);
    assert.equal(t.flush(s, 'destroyed'), 3);
    t.add(s, testament('t4'));
  });

  it('testaments - records are plain data naming their owner, so another node could fire them', () => {
    const s = session();
    t.add(s, testament('d1'));
    t.setSlot(s, testament('will', { scope: 'detached', delayMs: 1000, options: { qos: 1, retain: true } }));
    const records = t.records(s, 'realm1');
    assert.deepEqual(JSON.parse(JSON.stringify(records)), records, 'survives a JSON round trip');
    assert.deepEqual(
      records.map((r) => [r.topic, r.delayMs, r.owner]),
      [
        ['d1', 0, { realm: 'realm1', session: s.id }],
        ['will', 1000, { realm: 'realm1', session: s.id }],
      ],
    );
  });

  it('testaments - stop drops what waits without firing it', () => {
    const s = session();
    t.setSlot(s, testament('will', { scope: 'detached', delayMs: 1000 }));
    t.detached(s);
    t.stop(s);
    clock.advance(5000);
    assert.deepEqual(fired, []);
  });
});

// store.engine jetstream: each testament is recorded for other nodes (TestamentRecorder);
// here a recorder that keeps its records in a map and lets the test decide the claims
describe('testaments - recorded for other nodes', () => {
  it('testaments - recorded when set, removed when flushed, replaced or discarded; fired only when the claim wins', async () => {
    const recorded = new Map<number, string>();
    const claims: number[] = [];
    let next = 0;
    /** the claims another node won: those records are gone */
    const lost = new Set<string>();
    const fired: string[] = [];
    const clock = new ManualClock();
    const t = new Testaments(8, { fire: (_s, x) => fired.push(x.topic) }, clock, {
      realm: 'realm1',
      to: {
        record: (rec) => {
          const h = next++;
          recorded.set(h, `${rec.owner.realm}:${rec.topic}`);
          return h;
        },
        drop: (h) => void recorded.delete(h as number),
        claim: (h) => {
          claims.push(h as number);
          const topic = recorded.get(h as number) ?? '';
          recorded.delete(h as number);
          return Promise.resolve(!lost.has(topic));
        },
      },
    });
    const s = session();
    t.add(s, testament('a'));
    t.add(s, testament('b', { scope: 'detached' }));
    t.add(s, testament('taken'));
    t.setSlot(s, testament('will1', { scope: 'detached', delayMs: 1000 }));
    assert.deepEqual([...recorded.values()].sort(), ['realm1:a', 'realm1:b', 'realm1:taken', 'realm1:will1']);
    t.setSlot(s, testament('will2', { scope: 'detached', delayMs: 1000 }));
    assert.deepEqual(
      [...recorded.values()].sort(),
      ['realm1:a', 'realm1:b', 'realm1:taken', 'realm1:will2'],
      'a replaced will is removed',
    );
    t.flush(s, 'detached');
    assert.deepEqual(
      [...recorded.values()].sort(),
      ['realm1:a', 'realm1:taken', 'realm1:will2'],
      'a flushed testament is removed',
    );
    t.detached(s);
    t.resumed(s);
    assert.deepEqual(
      [...recorded.values()].sort(),
      ['realm1:a', 'realm1:taken'],
      'a will discarded by the resumption is removed',
    );
    assert.deepEqual(claims, [], 'nothing claimed yet');
    // another node claimed 'taken' (this node's lease lapsed meanwhile)
    lost.add('realm1:taken');
    t.ended(s);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(fired, ['a'], 'fired here only where the claim won');
    assert.equal(claims.length, 2);
    assert.equal(recorded.size, 0, 'no record left behind');
  });
});
