/**
 * The scenario matrix (issue 18): the same scenarios over every pair of protocol x
 * transport, generated from one table (test/helpers/matrix-peers.ts PEERS), as nexus
 * runs one suite over every transport and serializer.
 *
 * - publish -> subscribe: every row publishes to every row (WAMP JSON / MessagePack /
 *   CBOR over WebSocket and RawSocket with autobahn, wampy; MQTT 3.1.1 and 5 over TCP
 *   and WebSocket; STOMP 1.2 over TCP and WebSocket with stompjs and stompit; HTTP)
 * - retained: every row that can retain writes a value every row that can read one gets,
 *   marked as a replay (WAMP details.retained; MQTT RETAIN 1 at the granted QoS 1)
 * - RPC: every row that can call calls a procedure of every row that can register
 * - errors: a call to a procedure nobody registered fails with wamp.error.no_such_procedure
 *   in every caller's form (WAMP ERROR, MQTT 5 user property and body, STOMP header and
 *   body, HTTP body)
 * - authorization: a SUBSCRIBE the role may not make is refused in every gate's form
 *   (WAMP ERROR, MQTT SUBACK 0x87 / 0x80, STOMP ERROR, HTTP 403), on a second router with
 *   rules
 *
 * One router, one publishing and one subscribing connection per row (a WAMP publisher
 * is not sent its own events), a topic per pair, so the pairs do not see each other.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  PEERS,
  startHttpRouter,
  type Feature,
  type HttpTestRouter,
  type Peer,
  type PeerRow,
  type Received,
} from '../helpers/matrix-peers';
import { allowAllBut } from '../helpers/router';
import { waitFor } from '../helpers/wait';

let r: HttpTestRouter;
/** per row: the connection that publishes / calls, and the one that subscribes / answers */
const pubs = new Map<string, Peer>();
const subs = new Map<string, Peer>();
const received: Received[] = [];

before(async () => {
  r = await startHttpRouter({ mqtt: { sysIntervalSeconds: 0 } });
  for (const row of PEERS) {
    pubs.set(row.id, await row.open(r));
    subs.set(row.id, await row.open(r));
  }
});

after(async () => {
  for (const got of received) await got.close();
  for (const p of [...pubs.values(), ...subs.values()]) await p.close().catch(() => undefined);
  await r.close();
});

const peer = (map: Map<string, Peer>, id: string): Peer => {
  const p = map.get(id);
  if (!p) throw new Error(`no peer ${id}`);
  return p;
};

/** a topic component from a row id */
const part = (id: string): string => id.replace(/-/g, '_');

describe('matrix - publish reaches a subscriber', () => {
  for (const from of PEERS) {
    for (const to of PEERS) {
      it(`matrix - ${from.id} -> ${to.id}: publish reaches the subscriber`, async () => {
        const topic = `mx.ps.${part(from.id)}.${part(to.id)}`;
        const value = { from: from.id, to: to.id, n: 1 };
        const got = await peer(subs, to.id).subscribe(topic);
        received.push(got);
        await peer(pubs, from.id).publish(topic, value);
        await waitFor(() => got.values.length > 0, `${to.id} receives from ${from.id}`);
        assert.deepEqual(got.values, [value]);
      });
    }
  }
});

const having = (f: Feature): readonly PeerRow[] => PEERS.filter((row) => row.features.includes(f));

/** the optional method a row's features promise */
function needed<T>(fn: T | undefined, what: string): T {
  if (fn === undefined) throw new Error(`the matrix table promises ${what}`);
  return fn;
}

describe('matrix - a retained value reaches a later subscriber', () => {
  for (const from of having('retain')) {
    for (const to of having('retained')) {
      it(`matrix - ${from.id} -> ${to.id}: a retained value is replayed`, async () => {
        const topic = `mx.rt.${part(from.id)}.${part(to.id)}`;
        const value = { kept: from.id, for: to.id };
        const w = peer(pubs, from.id);
        await needed(w.retain, `${from.id} retain`)(topic, value);
        const reader = peer(subs, to.id);
        assert.deepEqual(await needed(reader.retained, `${to.id} retained`)(topic), value);
      });
    }
  }
});

describe('matrix - a call reaches a callee and its result comes back', () => {
  before(async () => {
    for (const row of having('register')) {
      const callee = peer(subs, row.id);
      await needed(callee.register, `${row.id} register`)(`mx.rpc.${part(row.id)}`, (v) => ({ echo: v, by: row.id }));
    }
  });
  for (const caller of having('call')) {
    for (const callee of having('register')) {
      it(`matrix - ${caller.id} calls ${callee.id}`, async () => {
        const c = peer(pubs, caller.id);
        const value = { q: caller.id };
        assert.deepEqual(await needed(c.call, `${caller.id} call`)(`mx.rpc.${part(callee.id)}`, value), {
          echo: value,
          by: callee.id,
        });
      });
    }
  }
});

describe('matrix - errors reach the caller in its protocol', () => {
  for (const caller of having('call')) {
    it(`matrix - ${caller.id}: a call to no procedure fails with wamp.error.no_such_procedure`, async () => {
      const c = peer(pubs, caller.id);
      assert.equal(await needed(c.callError, `${caller.id} callError`)('mx.nobody.home'), 'wamp.error.no_such_procedure');
    });
  }
});

describe('matrix - an authorization refusal reaches the client in its protocol', () => {
  let guarded: HttpTestRouter;
  before(async () => {
    guarded = await startHttpRouter({
      mqtt: { sysIntervalSeconds: 0 },
      auth: allowAllBut('mx.secret.', ['subscribe']),
    });
  });
  after(() => guarded.close());
  for (const row of PEERS) {
    const expected = row.refusal;
    if (expected === undefined) continue;
    it(`matrix - ${row.id}: a SUBSCRIBE the role may not make is refused (${expected})`, async () => {
      const p = await row.open(guarded);
      try {
        assert.equal(await needed(p.subscribeRefused, `${row.id} subscribeRefused`)(`mx.secret.${part(row.id)}`), expected);
      } finally {
        await p.close().catch(() => undefined);
      }
    });
  }
});
