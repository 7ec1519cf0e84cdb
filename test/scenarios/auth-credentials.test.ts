// A password given is a password checked (issue 15), on every gate, even where anonymous
// access is allowed (loopback, the default): STOMP login/passcode (stompjs), MQTT
// username/password (mqtt.js) and WAMP ticket (autobahn) that match no user, or carry a
// wrong secret, are refused with the protocol's error. No credentials, or guest/guest on
// a router without password users, stay anonymous.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import { createUserRecord } from '../../lib/auth/user-record';
import { connect as autobahnConnect, wsOptions } from '../helpers/autobahn';
import {
  connectMqtt,
  connectRefused,
  endAll,
  metricValue,
  sessionsOfRole,
  uniqueId,
  withTimeout,
  WAIT_MS,
} from '../helpers/mqtt-clients';
import { startRouter, type TestRouter } from '../helpers/router';
import { StompjsClients } from '../helpers/stomp-clients';

const FAST = { N: 1024, r: 8, p: 1 };
const BAD_USER_NAME_OR_PASSWORD = 0x86;

/** anonymous allowed (loopback), no user records at all */
let open: TestRouter;
/** anonymous allowed (loopback), a password user */
let users: TestRouter;
const stompjs = new StompjsClients();
const mqttClients: MqttClient[] = [];

before(async () => {
  open = await startRouter();
  users = await startRouter({
    auth: { users: [await createUserRecord({ authid: 'alice', role: 'user', password: 'alice-secret', scrypt: FAST })] },
  });
});
after(async () => {
  await stompjs.closeAll();
  await endAll(mqttClients);
  await open.close();
  await users.close();
});

const login = (user: string, passcode: string): { connectHeaders: Record<string, string> } => ({
  connectHeaders: { login: user, passcode },
});

/** The ABORT reason of an autobahn join offering a ticket (and anonymous after it). */
async function ticketRefusal(r: TestRouter, authid: string, secret: string): Promise<string> {
  const options = { ...wsOptions(r.wsUrl, 'json'), authmethods: ['ticket', 'anonymous'], authid, onchallenge: () => secret };
  try {
    const c = await withTimeout(autobahnConnect(options), WAIT_MS, 'WAMP join');
    await c.close();
  } catch (err) {
    const m = /wamp\.error\.[a-z_]+/.exec((err as Error).message);
    assert.ok(m, `no WAMP error URI in: ${(err as Error).message}`);
    return m[0];
  }
  assert.fail(`the ticket of ${authid} was not checked: the session was established`);
}

async function mqttAccepted(r: TestRouter, opts: Parameters<typeof connectMqtt>[1]): Promise<MqttClient> {
  const { client } = await connectMqtt(r.mqttUrl, { clientId: uniqueId('cred'), ...opts });
  mqttClients.push(client);
  return client;
}

void describe('auth credentials', () => {
  void it('auth credentials - STOMP: an unknown login with a passcode is refused where anonymous is allowed; none, and guest/guest, stay anonymous', async () => {
    const failures = await metricValue(open, 'gatehouse_auth_failures_total', { gate: 'stomp', reason: 'bad_credentials' });
    await assert.rejects(stompjs.tcp(open.stompPort, login('mallory', 'guess')), /ERROR authentication failed/);
    await assert.rejects(stompjs.ws(open.stompWsUrl, login('mallory', 'guess')), /ERROR authentication failed/);
    assert.equal(
      await metricValue(open, 'gatehouse_auth_failures_total', { gate: 'stomp', reason: 'bad_credentials' }),
      failures + 2,
    );
    const anonymous = await sessionsOfRole(open, 'anonymous');
    await stompjs.tcp(open.stompPort);
    await stompjs.tcp(open.stompPort, login('guest', 'guest'));
    // the anonymous count includes the meta-API session sessionsOfRole opens
    assert.equal(await sessionsOfRole(open, 'anonymous'), anonymous + 2);
  });

  void it('auth credentials - STOMP: an unknown login and a wrong passcode are refused with users configured and anonymous allowed', async () => {
    await assert.rejects(stompjs.tcp(users.stompPort, login('mallory', 'alice-secret')), /ERROR authentication failed/);
    await assert.rejects(stompjs.tcp(users.stompPort, login('alice', 'wrong')), /ERROR authentication failed/);
    const c = await stompjs.tcp(users.stompPort);
    assert.ok(c.connected.headers['session'], 'no credentials: anonymous');
  });

  void it('auth credentials - MQTT: an unknown user name with a password is refused where anonymous is allowed (3.1.1 return code 4, 5.0 0x86); guest/guest is anonymous', async () => {
    assert.equal(await connectRefused(open.mqttUrl, { protocolVersion: 4, username: 'mallory', password: 'guess' }), 4);
    assert.equal(
      await connectRefused(open.mqttUrl, { protocolVersion: 5, username: 'mallory', password: 'guess' }),
      BAD_USER_NAME_OR_PASSWORD,
    );
    assert.equal(
      await connectRefused(users.mqttUrl, { protocolVersion: 5, username: 'mallory', password: 'guess' }),
      BAD_USER_NAME_OR_PASSWORD,
    );
    const anonymous = await sessionsOfRole(open, 'anonymous');
    await mqttAccepted(open, { protocolVersion: 4, username: 'guest', password: 'guest' });
    await mqttAccepted(open, { protocolVersion: 5 });
    assert.equal(await sessionsOfRole(open, 'anonymous'), anonymous + 2);
  });

  void it('auth credentials - WAMP: a ticket of an unknown authid or a wrong one is checked and aborted, not turned anonymous', async () => {
    assert.equal(await ticketRefusal(open, 'mallory', 'guess'), 'wamp.error.authentication_failed');
    assert.equal(await ticketRefusal(users, 'mallory', 'alice-secret'), 'wamp.error.authentication_failed');
    assert.equal(await ticketRefusal(users, 'alice', 'wrong'), 'wamp.error.authentication_failed');
    const failures = await metricValue(open, 'gatehouse_auth_failures_total', {
      gate: 'wamp',
      method: 'ticket',
      reason: 'bad_credentials',
    });
    assert.equal(failures, 1);
  });
});
