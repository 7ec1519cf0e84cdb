// WAMP HELLO hardening, with autobahn: a realm is opened (created, with autoCreateRealms)
// only once the client is authenticated, so refused clients cannot use up
// limits.maxRealms; the auth metrics' `method` label takes only method names the router
// knows, never the strings a client puts in HELLO.authmethods.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createUserRecord } from '../../../lib/auth/user-record';
import { connect } from '../../helpers/autobahn';
import { metricValue } from '../../helpers/mqtt-clients';
import { startRouter, type TestRouter } from '../../helpers/router';
import { closeAll, withTimeout, WAIT_MS, type Client } from '../../helpers/wamp-clients';

const FAST = { N: 1024, r: 8, p: 1 };
// realm1 is configured: two more may be created
const MAX_REALMS = 3;

let router: TestRouter;
const clients: Client[] = [];

before(async () => {
  const users = [await createUserRecord({ authid: 'alice', role: 'user', password: 'alice-secret', scrypt: FAST })];
  router = await startRouter({ limits: { maxRealms: MAX_REALMS }, auth: { anonymous: 'never', users } });
});
after(async () => {
  await closeAll(clients);
  await router.close();
});

/** Joins over WebSocket/JSON; resolves with the client, or the ABORT reason URI. */
async function join(opts: Record<string, unknown>, realm: string): Promise<Client | string> {
  try {
    const c = await withTimeout(
      connect({ url: router.wsUrl, protocols: ['wamp.2.json'], ...opts }, realm),
      WAIT_MS,
      'autobahn join',
    );
    clients.push(c);
    return c;
  } catch (err) {
    const m = /wamp\.error\.[a-z_]+/.exec((err as Error).message);
    assert.ok(m, `no WAMP error URI in: ${(err as Error).message}`);
    return m[0];
  }
}

const ticket = (secret: string): Record<string, unknown> => ({
  authmethods: ['ticket'],
  authid: 'alice',
  onchallenge: () => secret,
});

void describe('wamp hello', () => {
  void it('wamp hello - refused clients create no realm; an authenticated one still can', async () => {
    for (let i = 0; i < MAX_REALMS + 1; i++) {
      assert.equal(await join({}, `anon.${i}`), 'wamp.error.not_authorized', 'anonymous is refused');
      assert.equal(await join(ticket('wrong'), `wrong.${i}`), 'wamp.error.authentication_failed', 'a wrong ticket is refused');
    }
    assert.deepEqual(router.router.realmNames(), ['realm1']);
    const ok = await join(ticket('alice-secret'), 'fresh.realm');
    assert.notEqual(typeof ok, 'string', `alice joins a new realm (got ${typeof ok === 'string' ? ok : 'a session'})`);
    assert.deepEqual(router.router.realmNames().sort(), ['fresh.realm', 'realm1']);
  });

  void it('wamp hello - unknown authmethods are counted as method "other", not under their own names', async () => {
    const other = await metricValue(router, 'gatehouse_auth_failures_total', {
      gate: 'wamp',
      method: 'other',
      reason: 'no_auth_method',
    });
    const evil = ['x-evil-1', 'x-evil-2'];
    for (const m of evil)
      assert.equal(
        await join({ authmethods: [m], authid: 'alice', onchallenge: () => 'x' }, 'realm1'),
        'wamp.error.no_auth_method',
      );
    assert.equal(
      await metricValue(router, 'gatehouse_auth_failures_total', { gate: 'wamp', method: 'other', reason: 'no_auth_method' }),
      other + evil.length,
    );
    for (const m of evil) assert.equal(await metricValue(router, 'gatehouse_auth_failures_total', { method: m }), 0);
    // a known method the realm does not take keeps its name
    const ticketFailures = await metricValue(router, 'gatehouse_auth_failures_total', { gate: 'wamp', method: 'ticket' });
    assert.equal(await join(ticket('wrong'), 'realm1'), 'wamp.error.authentication_failed');
    assert.equal(
      await metricValue(router, 'gatehouse_auth_failures_total', { gate: 'wamp', method: 'ticket' }),
      ticketFailures + 1,
    );
  });
});
