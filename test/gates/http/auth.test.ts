// Authentication (HTTP Basic against auth.users, a bearer ticket, anonymous under
// http.api.anonymous) and authorization (auth.roles) of the HTTP API, with fetch and curl.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createUserRecord } from '../../../lib/auth/user-record';
import { api, basic, curl, SseReader, startHttpRouter, type HttpTestRouter } from './helpers';

const FAST = { N: 1024, r: 8, p: 1 };
let r: HttpTestRouter;
let closed: HttpTestRouter;

before(async () => {
  const users = [
    await createUserRecord({ authid: 'alice', role: 'writer', password: 'alice-secret', scrypt: FAST }),
    await createUserRecord({ authid: 'bob', role: 'reader', password: 'bob-secret', scrypt: FAST }),
  ];
  const roles = {
    writer: { permissions: [{ uri: '', match: 'prefix', allow: ['*'] }] },
    reader: { permissions: [{ uri: 'open.', match: 'prefix', allow: ['subscribe', 'call'] }] },
    anonymous: { permissions: [{ uri: 'public.', match: 'prefix', allow: ['publish', 'subscribe'] }] },
  };
  r = await startHttpRouter({ auth: { users, roles } });
  closed = await startHttpRouter({
    autoCreateRealms: false,
    realms: [{ name: 'realm1' }],
    http: { api: { anonymous: 'never' } },
    auth: { users },
  });
});
after(async () => {
  await r.close();
  await closed.close();
});

describe('http auth - authentication', () => {
  it('http - Basic with a configured user is accepted; a wrong password or an unknown user is 401 with WWW-Authenticate', async () => {
    const ok = await api(`${r.apiUrl}/publish`, {
      body: { topic: 'private.x', args: [1] },
      auth: basic('alice', 'alice-secret'),
    });
    assert.equal(ok.status, 200);
    const wrong = await api(`${r.apiUrl}/publish`, { body: { topic: 'private.x' }, auth: basic('alice', 'nope') });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body['error'], 'wamp.error.authentication_failed');
    assert.match(wrong.headers.get('www-authenticate') ?? '', /^Basic/);
    const unknown = await api(`${r.apiUrl}/publish`, { body: { topic: 'private.x' }, auth: basic('mallory', 'x') });
    assert.equal(unknown.status, 401);
    const scheme = await api(`${r.apiUrl}/publish`, { body: { topic: 'private.x' }, auth: 'Digest abc' });
    assert.equal(scheme.status, 401);
  });

  it('http - a bearer ticket is checked like a WAMP ticket (authid in Gatehouse-Authid)', async () => {
    const ok = await api(`${r.apiUrl}/publish`, {
      body: { topic: 'private.y' },
      auth: 'Bearer alice-secret',
      headers: { 'gatehouse-authid': 'alice' },
    });
    assert.equal(ok.status, 200);
    const bad = await api(`${r.apiUrl}/publish`, {
      body: { topic: 'private.y' },
      auth: 'Bearer wrong',
      headers: { 'gatehouse-authid': 'alice' },
    });
    assert.equal(bad.status, 401);
  });

  it('http - anonymous requests follow http.api.anonymous: never refuses them with 401, users still get in', async () => {
    const anon = await api(`${closed.apiUrl}/store?pattern=a`);
    assert.equal(anon.status, 401);
    assert.equal(anon.body['error'], 'wamp.error.authentication_failed');
    const user = await api(`${closed.apiUrl}/store?pattern=a`, { auth: basic('bob', 'bob-secret') });
    assert.equal(user.status, 200);
    // curl -u
    const viaCurl = await curl(['-u', 'bob:bob-secret', '-d', '{"topic":"x.y"}', `${closed.apiUrl}/publish`]);
    assert.equal(viaCurl.status, 200);
    const noCreds = await curl(['-d', '{"topic":"x.y"}', `${closed.apiUrl}/publish`]);
    assert.equal(noCreds.status, 401);
    const sse = await SseReader.open(`${closed.apiUrl}/subscribe?topic=x.y`);
    assert.equal(sse.status, 401);
  });

  it('http - an unknown realm is 404 wamp.error.no_such_realm', async () => {
    const res = await api(`${closed.apiUrl}/store?realm=nowhere`, { auth: basic('bob', 'bob-secret') });
    assert.equal(res.status, 404);
    assert.equal(res.body['error'], 'wamp.error.no_such_realm');
  });
});

describe('http auth - authorization', () => {
  it('http - anonymous may publish to public.* only: elsewhere 403 not_authorized', async () => {
    assert.equal((await api(`${r.apiUrl}/publish`, { body: { topic: 'public.news', args: [1] } })).status, 200);
    const denied = await api(`${r.apiUrl}/publish`, { body: { topic: 'private.news', args: [1] } });
    assert.equal(denied.status, 403);
    assert.equal(denied.body['error'], 'wamp.error.not_authorized');
    const viaCurl = await curl(['-d', '{"topic":"private.news"}', `${r.apiUrl}/publish`]);
    assert.equal(viaCurl.status, 403);
  });

  it('http - a reader may not write the store nor publish (403), and reads only what it may subscribe to', async () => {
    const bob = basic('bob', 'bob-secret');
    const alice = basic('alice', 'alice-secret');
    assert.equal((await api(`${r.apiUrl}/store/open.k`, { method: 'PUT', body: { value: 1 }, auth: alice })).status, 200);
    assert.equal((await api(`${r.apiUrl}/store/secret.k`, { method: 'PUT', body: { value: 2 }, auth: alice })).status, 200);
    assert.equal((await api(`${r.apiUrl}/store/open.k`, { method: 'PUT', body: { value: 3 }, auth: bob })).status, 403);
    assert.equal((await api(`${r.apiUrl}/store/open.k`, { method: 'DELETE', auth: bob })).status, 403);
    assert.equal((await api(`${r.apiUrl}/publish`, { body: { topic: 'open.k' }, auth: bob })).status, 403);
    const read = await api(`${r.apiUrl}/store/open.k`, { auth: bob });
    assert.equal(read.status, 200);
    assert.equal(read.body['value'], 1);
    assert.equal((await api(`${r.apiUrl}/store/secret.k`, { auth: bob })).status, 403);
    const all = await api(`${r.apiUrl}/store?pattern=open.`, { auth: bob });
    assert.deepEqual(
      (all.body['entries'] as { key: string }[]).map((e) => e.key),
      ['open.k'],
    );
    assert.equal((await api(`${r.apiUrl}/call`, { body: { procedure: 'secret.proc' }, auth: bob })).status, 403);
    const sse = await SseReader.open(`${r.apiUrl}/subscribe?topic=secret.k`, { authorization: bob });
    assert.equal(sse.status, 403);
    assert.equal(sse.error?.['error'], 'wamp.error.not_authorized');
  });
});
