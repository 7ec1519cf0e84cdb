// STOMP authentication with @stomp/stompjs (TCP and WebSocket) and stompit: CONNECT
// login/passcode against the router's user records, an ERROR frame then close for a
// wrong one, the per-listener anonymous setting and the dynamic authenticator.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createUserRecord } from '../../../lib/auth/user-record';
import { autobahn } from '../../helpers/autobahn';
import { joinWamp, metricValue, sessionsOfRole } from '../../helpers/mqtt-clients';
import { startRouter, type TestRouter } from '../../helpers/router';
import { frameBytes, rawHeader, RawStomp, StompjsClients, stompitConnect, stompitDisconnect } from '../../helpers/stomp-clients';

const FAST = { N: 1024, r: 8, p: 1 };

let router: TestRouter;
let closed: TestRouter;
const stompjs = new StompjsClients();
const wamp: { close(): Promise<void> }[] = [];

before(async () => {
  const users = [await createUserRecord({ authid: 'alice', role: 'user', password: 'alice-secret', scrypt: FAST })];
  router = await startRouter({
    realms: [{ name: 'realm1' }, { name: 'authrealm' }],
    auth: {
      users,
      dynamic: { realm: 'authrealm', procedure: 'com.example.authenticate', timeoutMs: 2000, calleeRoles: ['anonymous'] },
    },
  });
  closed = await startRouter({ stomp: { anonymous: 'never' }, auth: { users } });
});
after(async () => {
  await stompjs.closeAll();
  for (const w of wamp) await w.close();
  await router.close();
  await closed.close();
});

const login = (user: string, passcode: string): { connectHeaders: Record<string, string> } => ({
  connectHeaders: { login: user, passcode },
});

void describe('stomp auth', () => {
  void it('stomp auth - stompjs over TCP and WebSocket: the right passcode connects as the user, a wrong one gets ERROR', async () => {
    const before = await sessionsOfRole(router, 'user');
    const tcp = await stompjs.tcp(router.stompPort, login('alice', 'alice-secret'));
    const ws = await stompjs.ws(router.stompWsUrl, login('alice', 'alice-secret'));
    assert.ok(tcp.connected.headers['session']);
    assert.ok(ws.connected.headers['session']);
    assert.equal(await sessionsOfRole(router, 'user'), before + 2);
    await assert.rejects(stompjs.tcp(router.stompPort, login('alice', 'wrong')), /ERROR authentication failed/);
    await assert.rejects(stompjs.ws(router.stompWsUrl, login('alice', 'wrong')), /ERROR authentication failed/);
    await assert.rejects(
      stompjs.tcp(router.stompPort, login('guest', 'guest')),
      /ERROR /,
      'with users configured, an unknown login is checked, not let in',
    );
  });

  void it('stomp auth - stompit: the right passcode connects, a wrong one is an error', async () => {
    const c = await stompitConnect({
      port: router.stompPort,
      connectHeaders: { host: 'localhost', login: 'alice', passcode: 'alice-secret' },
    });
    await stompitDisconnect(c);
    await assert.rejects(
      stompitConnect({ port: router.stompPort, connectHeaders: { host: 'localhost', login: 'alice', passcode: 'wrong' } }),
      /authentication failed/,
    );
  });

  void it('stomp auth - anonymous: never on the STOMP listener refuses a CONNECT without credentials', async () => {
    await assert.rejects(stompjs.tcp(closed.stompPort), /ERROR not authorized/);
    const ok = await stompjs.tcp(closed.stompPort, login('alice', 'alice-secret'));
    assert.ok(ok.connected.headers['session']);
  });

  void it('stomp auth - dynamic authenticator: an autobahn callee decides about logins without a record', async () => {
    const backend = await joinWamp(router, 'authrealm');
    wamp.push(backend);
    const asked: Record<string, unknown>[] = [];
    await backend.session.register('com.example.authenticate', (args) => {
      const details = args[2] as Record<string, unknown>;
      asked.push({ authid: args[1], ...details });
      if (details['password'] === 'dyn-pass') return { role: 'service', authid: 'svc-renamed' };
      throw new autobahn.Error('com.example.denied');
    });
    const before = await sessionsOfRole(router, 'service');
    const c = await stompjs.tcp(router.stompPort, login('svc', 'dyn-pass'));
    assert.ok(c.connected.headers['session']);
    assert.equal(await sessionsOfRole(router, 'service'), before + 1);
    assert.equal(asked[0]?.['authid'], 'svc');
    assert.equal((asked[0]?.['transport'] as Record<string, unknown>)['gate'], 'stomp');
    await assert.rejects(stompjs.tcp(router.stompPort, login('svc', 'nope')), /ERROR not authorized/);
  });

  void it('stomp auth - frames sent right behind CONNECT wait for the passcode check, then are handled', async () => {
    const raw = await RawStomp.open(router.stompPort);
    try {
      raw.write(
        Buffer.concat([
          frameBytes('CONNECT', [
            ['accept-version', '1.2'],
            ['host', 'localhost'],
            ['login', 'alice'],
            ['passcode', 'alice-secret'],
          ]),
          frameBytes('SUBSCRIBE', [
            ['id', 's1'],
            ['destination', '/topic/auth.pipelined'],
            ['receipt', 'r-sub'],
          ]),
        ]),
      );
      await raw.expect('CONNECTED', 'CONNECTED');
      const receipt = await raw.expect('RECEIPT', 'RECEIPT of the pipelined SUBSCRIBE');
      assert.equal(rawHeader(receipt, 'receipt-id'), 'r-sub');
    } finally {
      raw.destroy();
    }
  });

  void it('stomp auth - refusals are counted by gate, method and reason', async () => {
    const labels = { gate: 'stomp', method: 'password', reason: 'bad_credentials' };
    const before = await metricValue(router, 'gatehouse_auth_failures_total', labels);
    await assert.rejects(stompjs.tcp(router.stompPort, login('alice', 'wrong-again')), /ERROR authentication failed/);
    assert.equal(await metricValue(router, 'gatehouse_auth_failures_total', labels), before + 1);
  });
});
