import assert from 'node:assert/strict';
import test from 'node:test';
import { Authorizer } from '../../lib/auth/authorizer';
import { DynamicAuthorizer, type DynamicAuthorizerConfig } from '../../lib/auth/dynamic-authorizer';
import { ConfigError, resolveConfig } from '../../lib/config';
import { RouterError } from '../../lib/errors';
import { Session } from '../../lib/session';
import type { TopicPattern } from '../../lib/topic';

const session = (authrole: string, authmethod = 'anonymous'): Session =>
  new Session(
    { gate: 'wamp', type: 'websocket', peer: '127.0.0.1:1' },
    { authid: 'a', authrole, authmethod, authprovider: 'static' },
    { close: () => undefined },
  );
const exact = (uri: string): TopicPattern => ({ uri, match: 'exact', key: `exact:${uri}` });
const config = (o: Partial<DynamicAuthorizerConfig> = {}): DynamicAuthorizerConfig => ({
  realm: 'realm1',
  procedure: 'authz',
  calleeRoles: ['authorizer'],
  cacheMs: 60_000,
  cacheSize: 100,
  timeoutMs: 100,
  cacheBy: 'role',
  ...o,
});

test('authz authorizer - inactive without roles or authorizer: everything allowed, nothing checked', () => {
  const a = new Authorizer();
  assert.equal(a.active, false);
  assert.equal(a.check('realm1', session('x'), 'publish', 'billing.x'), undefined);
  assert.equal(a.mayReceive(session('x'), 'billing.x'), true);
});

test('authz authorizer - static rules: allowed returns undefined, denied throws not_authorized and reports it', () => {
  const denied: string[] = [];
  const a = new Authorizer({
    roles: { user: { permissions: [{ uri: 'sensors.', match: 'prefix', allow: ['publish', 'subscribe'] }] } },
    onDenied: (s, action, uri) => denied.push(`${s.identity.authrole} ${action} ${uri}`),
  });
  assert.equal(a.check('realm1', session('user'), 'publish', 'sensors.t'), undefined);
  assert.throws(
    () => a.check('realm1', session('user'), 'publish', 'billing.t'),
    (e: unknown) => e instanceof RouterError && e.uri === 'wamp.error.not_authorized',
  );
  // a role that auth.roles does not list has no rules: default deny
  assert.throws(() => a.check('realm1', session('guest'), 'subscribe', 'sensors.t'), RouterError);
  assert.deepEqual(denied, ['user publish billing.t', 'guest subscribe sensors.t']);
  assert.equal(a.mayReceive(session('user'), 'sensors.t'), true);
  assert.equal(a.mayReceive(session('user'), 'billing.t'), false);
  // the router's own sessions and publications are never checked
  assert.equal(a.check('realm1', undefined, 'publish', 'billing.t'), undefined);
  assert.equal(a.check('realm1', session('router', 'router'), 'publish', 'billing.t'), undefined);
});

test('authz authorizer - the dynamic authorizer is asked only where no static rule decides', async () => {
  const asked: string[] = [];
  const a = new Authorizer({
    roles: { user: { permissions: [{ uri: 'billing.', match: 'prefix', deny: ['publish'] }] } },
    authorizer: config(),
    invoke: (_realm, _proc, args) => {
      asked.push(String(args[1]));
      return Promise.resolve(args[1] === 'ok.x');
    },
  });
  assert.throws(() => a.check('realm1', session('user'), 'publish', 'billing.x'), RouterError);
  await a.check('realm1', session('user'), 'publish', 'ok.x');
  await assert.rejects(a.check('realm1', session('user'), 'publish', 'no.x') ?? Promise.resolve(), RouterError);
  // cached now: answered synchronously
  assert.equal(a.check('realm1', session('user'), 'publish', 'ok.x'), undefined);
  assert.throws(() => a.check('realm1', session('user'), 'publish', 'no.x'), RouterError);
  // undoing is not put to it
  assert.equal(a.check('realm1', session('user'), 'unsubscribe', 'ok.x'), undefined);
  assert.deepEqual(asked, ['ok.x', 'no.x']);
});

test('authz dynamic authorizer - concurrent questions share one call; the cache is bounded, oldest out first', async () => {
  let calls = 0;
  const d = new DynamicAuthorizer(
    config({ cacheSize: 2 }),
    () => {
      calls++;
      return Promise.resolve(true);
    },
    () => undefined,
  );
  const s = session('user');
  await Promise.all([d.ask('realm1', s, 'publish', exact('a')), d.ask('realm1', s, 'publish', exact('a'))]);
  assert.equal(calls, 1);
  await d.ask('realm1', s, 'publish', exact('b'));
  await d.ask('realm1', s, 'publish', exact('c'));
  assert.equal(d.cacheEntries, 2);
  assert.equal(d.cached('realm1', s, 'publish', exact('a')), undefined, 'the oldest was dropped');
  assert.equal(d.cached('realm1', s, 'publish', exact('c')), true);
});

test('authz dynamic authorizer - per role or per session; expired entries are asked again; errors deny', async () => {
  const errors: unknown[] = [];
  const byRole = new DynamicAuthorizer(
    config(),
    () => Promise.resolve({ allow: true }),
    () => undefined,
  );
  await byRole.ask('realm1', session('user'), 'call', exact('p'));
  assert.equal(byRole.cached('realm1', session('user'), 'call', exact('p')), true, 'another session of the role');
  const bySession = new DynamicAuthorizer(
    config({ cacheBy: 'session' }),
    () => Promise.resolve(true),
    () => undefined,
  );
  const s = session('user');
  await bySession.ask('realm1', s, 'call', exact('p'));
  assert.equal(bySession.cached('realm1', s, 'call', exact('p')), true);
  assert.equal(bySession.cached('realm1', session('user'), 'call', exact('p')), undefined);
  // cacheMs is measured on the clock it is given: moved, not slept through
  let now = 1_000_000;
  const short = new DynamicAuthorizer(
    config({ cacheMs: 10 }),
    () => Promise.resolve(true),
    () => undefined,
    () => now,
  );
  await short.ask('realm1', s, 'call', exact('p'));
  now += 9;
  assert.equal(short.cached('realm1', s, 'call', exact('p')), true, 'kept within cacheMs');
  now += 1;
  assert.equal(short.cached('realm1', s, 'call', exact('p')), undefined, 'gone at cacheMs');
  const failing = new DynamicAuthorizer(
    config(),
    () => Promise.reject(new Error('no callee')),
    (err) => errors.push(err),
  );
  assert.equal(await failing.ask('realm1', s, 'call', exact('p')), false);
  assert.equal(errors.length, 1);
  const odd = new DynamicAuthorizer(
    config(),
    () => Promise.resolve('yes'),
    () => undefined,
  );
  assert.equal(await odd.ask('realm1', s, 'call', exact('p')), false, 'anything but true or {allow: true} denies');
});

test('authz config - a bad pattern or an unknown action fails start-up, named by its path', () => {
  const problems = (roles: unknown): string => {
    try {
      resolveConfig({ auth: { roles } });
    } catch (err) {
      if (err instanceof ConfigError) return err.problems.join('\n');
      throw err;
    }
    return '';
  };
  assert.match(
    problems({ ops: { permissions: [{ uri: 'a b', match: 'prefix', allow: ['publish'] }] } }),
    /^\/auth\/roles\/ops\/permissions\/0\/uri/m,
  );
  assert.match(
    problems({ ops: { permissions: [{ uri: 'a.', match: 'prefix', allow: ['publsh'] }] } }),
    /\/auth\/roles\/ops\/permissions\/0\/allow\/0/,
  );
  assert.equal(
    problems({
      ops: {
        permissions: [
          { uri: 'billing.#', allow: ['*'] },
          { uri: '', match: 'prefix', deny: ['call'] },
        ],
      },
    }),
    '',
  );
  const c = resolveConfig({ auth: { roles: { ops: { permissions: [{ uri: 'a' }] } } } });
  assert.deepEqual(c.auth.roles?.['ops']?.permissions[0], { uri: 'a', match: 'exact', allow: [], deny: [] });
});
