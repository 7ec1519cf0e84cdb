// WAMP authentication (WAMP advanced, "Authentication"): ticket, WAMP-CRA (salted),
// WAMP-cryptosign and the dynamic authenticator, with autobahn and wampy as clients.
// Each method joins with the right secret and is refused (ABORT) with a wrong one.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { createUserRecord } from '../../../lib/auth/user-record';
import { autobahn, connect, type AutobahnSession } from '../../helpers/autobahn';
import { metricValue } from '../../helpers/mqtt-clients';
import { startRouter, type TestRouter } from '../../helpers/router';
import { closeAll, transportOptions, withTimeout, WAIT_MS, type Client, type TransportName } from '../../helpers/wamp-clients';

const nacl = require('tweetnacl') as {
  sign: { keyPair(): { publicKey: Uint8Array; secretKey: Uint8Array } };
};
interface Cra {
  derive_key(secret: string, salt: string, iterations: number, keylen: number): string;
  sign(key: string, challenge: string): string;
}
const { auth_cra: cra, auth_cryptosign: cryptosign } = autobahn as unknown as {
  auth_cra: Cra;
  auth_cryptosign: { sign_challenge(key: { secretKey: Uint8Array }, extra: Record<string, unknown>): string };
};

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
// cheap hashes: these tests are about the protocol, not the cost of a guess
const FAST = { N: 1024, r: 8, p: 1 };
const carolKey = nacl.sign.keyPair();
const strangerKey = nacl.sign.keyPair();

let router: TestRouter;
let closed: TestRouter;
const clients: Client[] = [];

before(async () => {
  const users = [
    await createUserRecord({ authid: 'alice', role: 'user', password: 'alice-secret', craIterations: 1000, scrypt: FAST }),
    await createUserRecord({ authid: 'carol', role: 'signer', cryptosignKeys: [hex(carolKey.publicKey)] }),
    await createUserRecord({ authid: 'authsvc', role: 'authn', password: 'authsvc-secret', scrypt: FAST }),
    await createUserRecord({ authid: 'ed', role: 'operator', password: 'ed-secret', craIterations: 1000, scrypt: FAST }),
    await createUserRecord({ authid: 'dora', role: 'user', password: 'dora-secret', realms: ['elsewhere'], scrypt: FAST }),
  ];
  router = await startRouter({
    realms: [{ name: 'realm1' }, { name: 'authrealm' }, { name: 'ticketonly', auth: { methods: ['ticket'] } }],
    auth: {
      users,
      dynamic: { realm: 'authrealm', procedure: 'com.example.authenticate', timeoutMs: 2000, calleeRoles: ['authn'] },
    },
  });
  closed = await startRouter({ auth: { anonymous: 'never', users } });
});
after(async () => {
  await closeAll(clients);
  await router.close();
  await closed.close();
});

type Challenge = (session: AutobahnSession, method: string, extra: Record<string, unknown>) => string;

async function join(
  r: TestRouter,
  opts: Record<string, unknown>,
  realm = 'realm1',
  tn: TransportName = 'websocket/json',
): Promise<Client> {
  const c = await withTimeout(connect({ ...transportOptions(r, tn), ...opts }, realm), WAIT_MS, 'autobahn join');
  clients.push(c);
  return c;
}

/** The ABORT reason of a join that must fail. */
async function refusal(r: TestRouter, opts: Record<string, unknown>, realm = 'realm1'): Promise<string> {
  try {
    const c = await join(r, opts, realm);
    await c.close();
  } catch (err) {
    const m = /wamp\.error\.[a-z_]+/.exec((err as Error).message);
    assert.ok(m, `no WAMP error URI in: ${(err as Error).message}`);
    return m[0];
  }
  assert.fail('the session was established');
}

const ticket = (authid: string, secret: string): Record<string, unknown> => ({
  authmethods: ['ticket'],
  authid,
  onchallenge: ((_s, method) => {
    assert.equal(method, 'ticket');
    return secret;
  }) satisfies Challenge,
});

const wampcra = (authid: string, secret: string, seen?: Record<string, unknown>[]): Record<string, unknown> => ({
  authmethods: ['wampcra'],
  authid,
  onchallenge: ((_s, method, extra) => {
    assert.equal(method, 'wampcra');
    seen?.push(extra);
    const key = cra.derive_key(secret, String(extra['salt']), Number(extra['iterations']), Number(extra['keylen']));
    return cra.sign(key, String(extra['challenge']));
  }) satisfies Challenge,
});

const signWith =
  (key: { secretKey: Uint8Array }): Challenge =>
  (_s, method, extra) => {
    assert.equal(method, 'cryptosign');
    return cryptosign.sign_challenge(key, extra);
  };

void describe('wamp auth', () => {
  void it("wamp auth - ticket: the right secret joins with the user record's role, a wrong one is aborted", async () => {
    const c = await join(router, ticket('alice', 'alice-secret'));
    assert.equal(c.details['authid'], 'alice');
    assert.equal(c.details['authrole'], 'user');
    assert.equal(c.details['authmethod'], 'ticket');
    assert.equal(c.details['authprovider'], 'static');
    await c.close();
    assert.equal(await refusal(router, ticket('alice', 'wrong')), 'wamp.error.authentication_failed');
    assert.equal(
      await refusal(router, ticket('nobody', 'alice-secret')),
      'wamp.error.authentication_failed',
      'unknown users go to the dynamic authenticator, which is not registered yet: denied',
    );
  });

  for (const tn of ['websocket/json', 'websocket/msgpack', 'websocket/cbor', 'rawsocket/json'] as const) {
    void it(`wamp auth - wampcra: the signed challenge names the session WELCOME gives [${tn}]`, async () => {
      const seen: Record<string, unknown>[] = [];
      const c = await join(router, wampcra('alice', 'alice-secret', seen), 'realm1', tn);
      assert.equal(c.details['authmethod'], 'wampcra');
      assert.equal(c.details['authrole'], 'user');
      const challenge = JSON.parse(String(seen[0]?.['challenge'])) as Record<string, unknown>;
      assert.equal(challenge['session'], c.session.id);
      assert.equal(challenge['authid'], 'alice');
      assert.equal(challenge['authmethod'], 'wampcra');
      assert.equal(seen[0]?.['iterations'], 1000);
      await c.close();
    });
  }

  void it('wamp auth - wampcra: a wrong secret and an unknown user both get a challenge, then ABORT', async () => {
    assert.equal(await refusal(router, wampcra('alice', 'not-it')), 'wamp.error.authentication_failed');
    const seen: Record<string, unknown>[] = [];
    assert.equal(await refusal(router, wampcra('mallory', 'guess', seen)), 'wamp.error.authentication_failed');
    assert.equal(seen.length, 1, 'an unknown authid is challenged like a known one');
    // the challenge does not tell a user (role operator) from a decoy by its authrole
    const known: Record<string, unknown>[] = [];
    assert.equal(await refusal(router, wampcra('ed', 'guess', known)), 'wamp.error.authentication_failed');
    const role = (extra: Record<string, unknown> | undefined): unknown =>
      (JSON.parse(String(extra?.['challenge'])) as Record<string, unknown>)['authrole'];
    assert.equal(role(known[0]), role(seen[0]));
    assert.notEqual(role(known[0]), 'operator');
  });

  void it('wamp auth - cryptosign: the registered Ed25519 key joins, by authid or by pubkey alone; another key is aborted', async () => {
    const byId = await join(router, {
      authmethods: ['cryptosign'],
      authid: 'carol',
      authextra: { pubkey: hex(carolKey.publicKey) },
      onchallenge: signWith(carolKey),
    });
    assert.equal(byId.details['authid'], 'carol');
    assert.equal(byId.details['authrole'], 'signer');
    assert.equal(byId.details['authmethod'], 'cryptosign');
    await byId.close();
    const byKey = await join(router, {
      authmethods: ['cryptosign'],
      authextra: { pubkey: hex(carolKey.publicKey) },
      onchallenge: signWith(carolKey),
    });
    assert.equal(byKey.details['authid'], 'carol');
    await byKey.close();
    assert.equal(
      await refusal(router, { authmethods: ['cryptosign'], authid: 'carol', onchallenge: signWith(strangerKey) }),
      'wamp.error.authentication_failed',
    );
    assert.equal(
      await refusal(router, {
        authmethods: ['cryptosign'],
        authid: 'carol',
        authextra: { pubkey: hex(strangerKey.publicKey) },
        onchallenge: signWith(strangerKey),
      }),
      'wamp.error.authentication_failed',
    );
  });

  void it("wamp auth - the first of the client's methods the realm accepts is used", async () => {
    // ticketonly accepts ticket alone: wampcra is skipped although listed first
    const methods: string[] = [];
    const c = await join(
      router,
      {
        authmethods: ['wampcra', 'ticket'],
        authid: 'alice',
        onchallenge: ((_s, method) => {
          methods.push(method);
          return 'alice-secret';
        }) satisfies Challenge,
      },
      'ticketonly',
    );
    assert.deepEqual(methods, ['ticket']);
    assert.equal(c.details['authmethod'], 'ticket');
    await c.close();
    assert.equal(
      await refusal(router, { authmethods: ['cryptosign'], authid: 'carol', onchallenge: signWith(carolKey) }, 'ticketonly'),
      'wamp.error.no_auth_method',
    );
    assert.equal(
      await refusal(router, { authmethods: ['scram'], authid: 'alice', onchallenge: () => 'x' }),
      'wamp.error.no_auth_method',
    );
  });

  void it('wamp auth - a user limited to other realms is not authorized here', async () => {
    assert.equal(await refusal(router, ticket('dora', 'dora-secret')), 'wamp.error.not_authorized');
  });

  void it('wamp auth - anonymous: never refuses anonymous sessions, credentials still join', async () => {
    assert.equal(await refusal(closed, {}), 'wamp.error.not_authorized');
    const c = await join(closed, ticket('alice', 'alice-secret'));
    assert.equal(c.details['authid'], 'alice');
    await c.close();
  });

  void it('wamp auth - dynamic authenticator: an anonymous session cannot claim the authid of a dynamically authenticated user', async () => {
    const c = await join(router, { authid: 'dave' });
    assert.equal(c.details['authmethod'], 'anonymous');
    assert.notEqual(c.details['authid'], 'dave');
    assert.match(String(c.details['authid']), /^anonymous-[0-9a-f]{24}$/);
    await c.close();
  });

  void it('wamp auth - dynamic authenticator: only a session of a calleeRoles authrole may register its procedure', async () => {
    const intruder = await join(router, {}, 'authrealm');
    assert.equal(intruder.details['authrole'], 'anonymous');
    for (const [uri, options] of [
      ['com.example.authenticate', {}],
      ['com.example.', { match: 'prefix' }],
      ['com..authenticate', { match: 'wildcard' }],
    ] as const) {
      const err = await intruder.session
        .register(uri, () => 'admin', options)
        .then(
          () => assert.fail(`${uri} was registered`),
          (e: unknown) => e as { error: string },
        );
      assert.equal(err.error, 'wamp.error.not_authorized', uri);
    }
    // a user of another role neither
    const other = await join(router, ticket('alice', 'alice-secret'), 'authrealm');
    await assert.rejects(
      other.session.register('com.example.authenticate', () => 'admin'),
      (e: { error: string }) => e.error === 'wamp.error.not_authorized',
    );
    await intruder.close();
    await other.close();
  });

  void it('wamp auth - dynamic authenticator: a procedure an autobahn client registers decides about unknown users', async () => {
    const backend = await join(router, ticket('authsvc', 'authsvc-secret'), 'authrealm');
    const asked: unknown[][] = [];
    await backend.session.register('com.example.authenticate', (args) => {
      asked.push(args);
      const details = args[2] as Record<string, unknown>;
      if (details['ticket'] === 'dyn-pass') return { role: 'dynrole', extra: { via: 'dynamic' } };
      throw new autobahn.Error('com.example.invalid_ticket', ['no such ticket']);
    });
    const c = await join(router, ticket('dave', 'dyn-pass'));
    assert.equal(c.details['authid'], 'dave');
    assert.equal(c.details['authrole'], 'dynrole');
    assert.equal(c.details['authprovider'], 'dynamic');
    assert.deepEqual(c.details['authextra'], { via: 'dynamic' });
    await c.close();
    const [realm, authid, details] = asked[0] as [string, string, Record<string, unknown>];
    assert.equal(realm, 'realm1');
    assert.equal(authid, 'dave');
    assert.equal(details['authmethod'], 'ticket');
    assert.equal((details['transport'] as Record<string, unknown>)['gate'], 'wamp');
    assert.equal(await refusal(router, ticket('dave', 'wrong')), 'wamp.error.not_authorized');
    // static users never reach the dynamic authenticator
    const before = asked.length;
    assert.equal(await refusal(router, ticket('alice', 'dyn-pass')), 'wamp.error.authentication_failed');
    assert.equal(asked.length, before);
    await backend.close();
  });

  void it('wamp auth - wampy: ticket and wampcra with the right secret join, a wrong one fails', async () => {
    const { Wampy } = require('wampy') as {
      Wampy: new (
        url: string,
        opts: Record<string, unknown>,
      ) => { connect(): Promise<unknown>; disconnect(): Promise<unknown>; getSessionId(): number };
    };
    const open = async (opts: Record<string, unknown>): Promise<{ disconnect(): Promise<unknown>; getSessionId(): number }> => {
      const w = new Wampy(router.wsUrl, { realm: 'realm1', ws: WebSocket, autoReconnect: false, ...opts });
      await withTimeout(w.connect(), WAIT_MS, 'wampy connect');
      return w;
    };
    const t = await open({ authid: 'alice', authmethods: ['ticket'], onChallenge: () => 'alice-secret' });
    assert.ok(t.getSessionId() > 0);
    await t.disconnect();
    const aborted = { errorUri: 'wamp.error.authentication_failed' };
    await assert.rejects(open({ authid: 'alice', authmethods: ['ticket'], onChallenge: () => 'nope' }), aborted);
    const craAnswer =
      (secret: string) =>
      (_method: string, extra: Record<string, unknown>): string =>
        cra.sign(
          cra.derive_key(secret, String(extra['salt']), Number(extra['iterations']), Number(extra['keylen'])),
          String(extra['challenge']),
        );
    const w = await open({ authid: 'alice', authmethods: ['wampcra'], onChallenge: craAnswer('alice-secret') });
    assert.ok(w.getSessionId() > 0);
    await w.disconnect();
    await assert.rejects(open({ authid: 'alice', authmethods: ['wampcra'], onChallenge: craAnswer('nope') }), aborted);
  });

  void it('wamp auth - failures and successes are counted by gate, method and reason', async () => {
    const failures = await metricValue(router, 'gatehouse_auth_failures_total', {
      gate: 'wamp',
      method: 'ticket',
      reason: 'bad_credentials',
    });
    const successes = await metricValue(router, 'gatehouse_auth_successes_total', { gate: 'wamp', method: 'ticket' });
    assert.equal(await refusal(router, ticket('alice', 'wrong-again')), 'wamp.error.authentication_failed');
    const c = await join(router, ticket('alice', 'alice-secret'));
    await c.close();
    assert.equal(
      await metricValue(router, 'gatehouse_auth_failures_total', { gate: 'wamp', method: 'ticket', reason: 'bad_credentials' }),
      failures + 1,
    );
    assert.equal(await metricValue(router, 'gatehouse_auth_successes_total', { gate: 'wamp', method: 'ticket' }), successes + 1);
  });
});
