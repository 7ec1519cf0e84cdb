// The HTTP API's endpoints with Node's fetch and with curl: publish, call, the store
// (get / put / delete / list, 404 and 412), request errors (400 bad JSON and schema),
// and that a request is no WAMP session (wamp.session.count).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { joinWamp, waitFor } from '../../helpers/mqtt-clients';
import { api, curl, startHttpRouter, type HttpTestRouter } from './helpers';

let r: HttpTestRouter;

before(async () => {
  r = await startHttpRouter();
});
after(() => r.close());

describe('http api - publish', () => {
  it('http - POST /publish reaches a WAMP subscriber with args and kwargs, and answers the publication id', async () => {
    const w = await joinWamp(r);
    try {
      const got: unknown[] = [];
      await w.session.subscribe('http.pub.one', (args, kwargs) => got.push({ args, kwargs }));
      const res = await api(`${r.apiUrl}/publish`, { body: { topic: 'http.pub.one', args: [1, 'two'], kwargs: { three: 3 } } });
      assert.equal(res.status, 200);
      assert.equal(typeof res.body['publication'], 'number');
      await waitFor(() => got.length === 1, 'the event');
      assert.deepEqual(got[0], { args: [1, 'two'], kwargs: { three: 3 } });
    } finally {
      await w.close();
    }
  });

  it('http - POST /publish with retain stores the value and answers its revision; will is refused', async () => {
    const res = await api(`${r.apiUrl}/publish`, {
      body: { topic: 'http.pub.kept', args: [{ on: true }], options: { retain: true } },
    });
    assert.equal(res.status, 200);
    assert.equal(typeof res.body['revision'], 'number');
    const got = await api(`${r.apiUrl}/store/http.pub.kept`);
    assert.deepEqual(got.body['value'], { on: true });
    const will = await api(`${r.apiUrl}/publish`, {
      body: { topic: 'http.pub.kept', args: [1], options: { retain: true, will: null } },
    });
    assert.equal(will.status, 400);
    assert.equal(will.body['error'], 'wamp.error.invalid_argument');
  });

  it('http - a when that does not hold is 412 gatehouse.error.condition_failed', async () => {
    const res = await api(`${r.apiUrl}/publish`, {
      body: { topic: 'http.pub.kept', args: [2], options: { retain: true, when: null } },
    });
    assert.equal(res.status, 412);
    assert.equal(res.body['error'], 'gatehouse.error.condition_failed');
  });

  it('http - a watch waits for its condition; a caller that goes away meanwhile writes nothing later', async () => {
    await api(`${r.apiUrl}/store/http.lock`, { method: 'PUT', body: { value: 'held' } });
    const waiting = api(`${r.apiUrl}/publish`, {
      body: { topic: 'http.lock', args: ['mine'], options: { retain: true, when: null, watch: true } },
    });
    const abort = new AbortController();
    const abandoned = fetch(`${r.apiUrl}/publish`, {
      method: 'POST',
      body: JSON.stringify({ topic: 'http.lock', args: ['abandoned'], options: { retain: true, when: null, watch: true } }),
      signal: abort.signal,
    }).catch(() => 'aborted');
    // both wait in the store's queue; the second caller leaves
    const retained = r.router.realm('realm1')?.retained;
    await waitFor(() => retained?.waitingOn('http.lock') === 2, 'two watchers');
    abort.abort();
    assert.equal(await abandoned, 'aborted');
    await waitFor(() => retained?.waitingOn('http.lock') === 1, 'the abandoned watcher dropped');
    assert.equal((await api(`${r.apiUrl}/store/http.lock`, { method: 'DELETE' })).status, 200);
    const got = await waiting;
    assert.equal(got.status, 200);
    assert.equal((await api(`${r.apiUrl}/store/http.lock`)).body['value'], 'mine');
    // released again: the abandoned watch must not take it
    assert.equal((await api(`${r.apiUrl}/store/http.lock`, { method: 'DELETE' })).status, 200);
    const after = await api(`${r.apiUrl}/store/http.lock`);
    assert.equal(after.status, 404, 'nobody holds the key');
  });

  it('http - bad JSON and bodies the schema refuses are 400 with the error shape', async () => {
    const bad = await api(`${r.apiUrl}/publish`, { raw: '{"topic":', headers: { 'content-type': 'application/json' } });
    assert.equal(bad.status, 400);
    assert.equal(bad.body['error'], 'wamp.error.invalid_argument');
    assert.match(String(bad.body['message']), /invalid JSON/);
    assert.deepEqual(Object.keys(bad.body).sort(), ['args', 'error', 'kwargs', 'message']);
    const noTopic = await api(`${r.apiUrl}/publish`, { body: { args: [1] } });
    assert.equal(noTopic.status, 400);
    assert.match(String(noTopic.body['message']), /topic/);
    const extra = await api(`${r.apiUrl}/publish`, { body: { topic: 'a.b', colour: 'red' } });
    assert.equal(extra.status, 400);
    assert.match(String(extra.body['message']), /colour/);
    const badUri = await api(`${r.apiUrl}/publish`, { body: { topic: 'a..b' } });
    assert.equal(badUri.status, 400);
    assert.equal(badUri.body['error'], 'wamp.error.invalid_uri');
    const huge = await api(`${r.apiUrl}/publish`, {
      body: { topic: 'a.b', args: ['x'.repeat(r.router.config.limits.maxMessageSize)] },
    });
    assert.equal(huge.status, 413);
    assert.equal(huge.body['error'], 'wamp.error.payload_size_exceeded');
    const reserved = await api(`${r.apiUrl}/publish`, { body: { topic: 'wamp.session.on_join' } });
    assert.equal(reserved.status, 403);
  });
});

describe('http api - store', () => {
  it('http - PUT, GET, list, conditional PUT (412), DELETE, then 404', async () => {
    const put = await api(`${r.apiUrl}/store/http.kv.a`, { method: 'PUT', body: { value: { n: 1 } } });
    assert.equal(put.status, 200);
    const rev = put.body['revision'];
    assert.equal(typeof rev, 'number');
    await api(`${r.apiUrl}/store/http.kv.b`, { method: 'PUT', body: { value: 'bee', ttl: 60 } });
    const got = await api(`${r.apiUrl}/store/http.kv.a`);
    assert.deepEqual(got.body, { key: 'http.kv.a', value: { n: 1 }, revision: rev });
    const b = await api(`${r.apiUrl}/store/http.kv.b`);
    assert.equal(typeof b.body['expiresAt'], 'number');
    const failed = await api(`${r.apiUrl}/store/http.kv.a`, { method: 'PUT', body: { value: 2, when: { n: 5 } } });
    assert.equal(failed.status, 412);
    assert.equal(failed.body['error'], 'gatehouse.error.condition_failed');
    const held = await api(`${r.apiUrl}/store/http.kv.a`, { method: 'PUT', body: { value: { n: 2 }, when: { n: 1 } } });
    assert.equal(held.status, 200);
    assert.ok((held.body['revision'] as number) > (rev as number), 'the revision is a fencing token');
    const del = await api(`${r.apiUrl}/store/http.kv.a`, { method: 'DELETE' });
    assert.equal(del.status, 200);
    const gone = await api(`${r.apiUrl}/store/http.kv.a`);
    assert.equal(gone.status, 404);
    assert.equal(gone.body['error'], 'gatehouse.error.no_such_key');
    assert.equal((await api(`${r.apiUrl}/store/http.kv.a`, { method: 'DELETE' })).status, 404);
    const badKey = await api(`${r.apiUrl}/store/a..b`);
    assert.equal(badKey.status, 400);
  });

  it('http - GET /store pages with limit and after, every key once, in key order', async () => {
    for (let i = 0; i < 7; i++) await api(`${r.apiUrl}/store/http.page.k${i}`, { method: 'PUT', body: { value: i } });
    const seen: string[] = [];
    let after: string | null = null;
    for (let pages = 0; pages < 10; pages++) {
      const q: string = `pattern=http.page.&limit=3${after === null ? '' : `&after=${after}`}`;
      const page = await api(`${r.apiUrl}/store?${q}`);
      assert.equal(page.status, 200);
      const entries = page.body['entries'] as { key: string }[];
      assert.ok(entries.length <= 3);
      seen.push(...entries.map((e) => e.key));
      after = page.body['next'] as string | null;
      if (after === null) break;
    }
    assert.deepEqual(
      seen,
      [0, 1, 2, 3, 4, 5, 6].map((i) => `http.page.k${i}`),
    );
    const wild = await api(`${r.apiUrl}/store?pattern=http..k3&match=wildcard`);
    assert.deepEqual(
      (wild.body['entries'] as { key: string }[]).map((e) => e.key),
      ['http.page.k3'],
    );
    assert.equal((await api(`${r.apiUrl}/store?limit=0`)).status, 400);
  });
});

describe('http api - realms', () => {
  it('http - ?realm= or the Gatehouse-Realm header picks the realm; defaultRealm otherwise', async () => {
    assert.equal(
      (await api(`${r.apiUrl}/store/http.realm.k?realm=other`, { method: 'PUT', body: { value: 'there' } })).status,
      200,
    );
    const viaHeader = await api(`${r.apiUrl}/store/http.realm.k`, { headers: { 'gatehouse-realm': 'other' } });
    assert.equal(viaHeader.body['value'], 'there');
    assert.equal((await api(`${r.apiUrl}/store/http.realm.k`)).status, 404, 'not in realm1');
    const w = await joinWamp(r, 'other');
    try {
      const got: unknown[] = [];
      await w.session.subscribe('http.realm.t', (args) => got.push(args[0]));
      await api(`${r.apiUrl}/publish?realm=other`, { body: { topic: 'http.realm.t', args: ['other'] } });
      await api(`${r.apiUrl}/publish`, { body: { topic: 'http.realm.t', args: ['realm1'] } });
      await api(`${r.apiUrl}/publish`, {
        body: { topic: 'http.realm.t', args: ['other again'] },
        headers: { 'gatehouse-realm': 'other' },
      });
      await waitFor(() => got.length === 2, 'the events of realm other');
      assert.deepEqual(got, ['other', 'other again']);
    } finally {
      await w.close();
    }
  });
});

describe('http api - call', () => {
  it('http - POST /call of a router procedure answers args and kwargs; no callee is 404', async () => {
    await api(`${r.apiUrl}/store/http.call.k`, { method: 'PUT', body: { value: 7 } });
    const res = await api(`${r.apiUrl}/call`, { body: { procedure: 'gatehouse.store.get', args: ['http.call.k'] } });
    assert.equal(res.status, 200);
    assert.equal((res.body['args'] as { value: number }[])[0]?.value, 7);
    const none = await api(`${r.apiUrl}/call`, { body: { procedure: 'http.nobody.home' } });
    assert.equal(none.status, 404);
    assert.equal(none.body['error'], 'wamp.error.no_such_procedure');
    const bad = await api(`${r.apiUrl}/call`, { body: { procedure: 'x.y', options: { timeout: 'soon' } } });
    assert.equal(bad.status, 400);
  });
});

describe('http api - curl', () => {
  it('http - curl publishes, writes, reads and lists the store, and gets the error shape', async () => {
    const pub = await curl(['-d', '{"topic":"http.curl.t","args":[1]}', `${r.apiUrl}/publish`]);
    assert.equal(pub.status, 200);
    assert.equal(typeof pub.body['publication'], 'number');
    const put = await curl([
      '-X',
      'PUT',
      '-H',
      'content-type: application/json',
      '-d',
      '{"value":{"by":"curl"}}',
      `${r.apiUrl}/store/http.curl.k`,
    ]);
    assert.equal(put.status, 200);
    const get = await curl([`${r.apiUrl}/store/http.curl.k`]);
    assert.deepEqual(get.body['value'], { by: 'curl' });
    const list = await curl([`${r.apiUrl}/store?pattern=http.curl.`]);
    assert.equal((list.body['entries'] as unknown[]).length, 1);
    const cond = await curl(['-X', 'PUT', '-d', '{"value":1,"when":null}', `${r.apiUrl}/store/http.curl.k`]);
    assert.equal(cond.status, 412);
    const del = await curl(['-X', 'DELETE', `${r.apiUrl}/store/http.curl.k`]);
    assert.equal(del.status, 200);
    const missing = await curl([`${r.apiUrl}/store/http.curl.k`]);
    assert.equal(missing.status, 404);
    const bad = await curl(['-d', 'not json', `${r.apiUrl}/call`]);
    assert.equal(bad.status, 400);
    assert.equal(bad.body['error'], 'wamp.error.invalid_argument');
    const call = await curl([
      '-d',
      '{"procedure":"gatehouse.store.list","args":["http.curl",{"match":"prefix"}]}',
      `${r.apiUrl}/call`,
    ]);
    assert.equal(call.status, 200);
  });
});

describe('http api - requests are not sessions', () => {
  it('http - requests and an open event stream do not show in wamp.session.count, nor join', async () => {
    const w = await joinWamp(r);
    try {
      const joins: unknown[] = [];
      await w.session.subscribe('wamp.session.on_join', (args) => joins.push(args));
      const before = await w.session.call<number>('wamp.session.count');
      const sse = await fetch(`${r.apiUrl}/subscribe?topic=http.count`, { headers: { accept: 'text/event-stream' } });
      assert.equal(sse.status, 200);
      for (let i = 0; i < 3; i++)
        assert.equal((await api(`${r.apiUrl}/publish`, { body: { topic: 'http.count', args: [i] } })).status, 200);
      assert.equal(
        (await api(`${r.apiUrl}/call`, { body: { procedure: 'wamp.session.count' } })).body['args'] instanceof Array,
        true,
      );
      const during = await w.session.call<number>('wamp.session.count');
      assert.equal(during, before, 'no session for requests');
      assert.equal(r.router.sessions, before, 'not counted against limits.maxSessions');
      assert.deepEqual(joins, []);
      await sse.body?.cancel();
    } finally {
      await w.close();
    }
  });
});
