// MQTT authentication with mqtt.js: CONNECT username/password against the router's user
// records (MQTT 3.1.1 CONNACK return codes 4/5, MQTT 5 reason codes 0x86/0x87), the
// `user@realm` rule, the per-listener anonymous setting and the dynamic authenticator.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import { createUserRecord } from '../../../lib/auth/user-record';
import { autobahn } from '../../helpers/autobahn';
import mqttPacket from 'mqtt-packet';
import {
  connectMqtt,
  connectRefused,
  endAll,
  joinWamp,
  metricValue,
  MQTT_TRANSPORTS,
  mqttUrl,
  sessionsOfRole,
  uniqueId,
} from '../../helpers/mqtt-clients';
import { RawMqtt } from '../../helpers/mqtt-raw';
import { startRouter, type TestRouter } from '../../helpers/router';
import { ManualClock } from '../../helpers/clock';
import { waitFor } from '../../helpers/wait';

const FAST = { N: 1024, r: 8, p: 1 };
const BAD_USER_NAME_OR_PASSWORD = 0x86;
const NOT_AUTHORIZED = 0x87;
/** auth.dynamic.timeoutMs: the dealer's deadline for the authenticator's answer, on `clock` */
const DYNAMIC_TIMEOUT_MS = 500;
/** the router's timeouts: the authenticator's deadline passes when the test advances it */
const clock = new ManualClock();

let router: TestRouter;
let closed: TestRouter;
const clients: MqttClient[] = [];
const wamp: { close(): Promise<void> }[] = [];

before(async () => {
  const users = [
    await createUserRecord({ authid: 'alice', role: 'user', password: 'alice-secret', scrypt: FAST }),
    await createUserRecord({ authid: 'dora', role: 'user', password: 'dora-secret', realms: ['elsewhere'], scrypt: FAST }),
  ];
  router = await startRouter(
    {
      realms: [{ name: 'realm1' }, { name: 'authrealm' }],
      auth: {
        users,
        dynamic: {
          realm: 'authrealm',
          procedure: 'com.example.authenticate',
          timeoutMs: DYNAMIC_TIMEOUT_MS,
          calleeRoles: ['anonymous'],
        },
      },
    },
    { clock },
  );
  // anonymous off for MQTT only: WAMP keeps the default (loopback)
  closed = await startRouter({ mqtt: { anonymous: 'never' }, auth: { users } });
});
after(async () => {
  await endAll(clients);
  for (const w of wamp) await w.close();
  await router.close();
  await closed.close();
});

async function accepted(r: TestRouter, opts: Parameters<typeof connectMqtt>[1], url = r.mqttUrl): Promise<MqttClient> {
  const { client } = await connectMqtt(url, { clientId: uniqueId('auth'), ...opts });
  clients.push(client);
  return client;
}

void describe('mqtt auth', () => {
  for (const t of MQTT_TRANSPORTS) {
    void it(`mqtt auth - v4 and v5: the right password connects with the user's role, a wrong one is refused [${t}]`, async () => {
      const url = mqttUrl(router, t);
      const before = await sessionsOfRole(router, 'user');
      const v4 = await accepted(router, { protocolVersion: 4, username: 'alice', password: 'alice-secret' }, url);
      const v5 = await accepted(router, { protocolVersion: 5, username: 'alice', password: 'alice-secret' }, url);
      assert.equal(await sessionsOfRole(router, 'user'), before + 2);
      v4.end(true);
      v5.end(true);
      // 3.1.1 §3.2.2.3: 4 = bad user name or password; 5.0: 0x86
      assert.equal(await connectRefused(url, { protocolVersion: 4, username: 'alice', password: 'wrong' }), 4);
      assert.equal(
        await connectRefused(url, { protocolVersion: 5, username: 'alice', password: 'wrong' }),
        BAD_USER_NAME_OR_PASSWORD,
      );
    });
  }

  void it('mqtt auth - user@realm keeps choosing the realm; a user limited to other realms is not authorized', async () => {
    const c = await accepted(router, { protocolVersion: 5, username: 'alice@realm1', password: 'alice-secret' });
    assert.ok(c.connected);
    assert.equal(
      await connectRefused(router.mqttUrl, { protocolVersion: 5, username: 'dora', password: 'dora-secret' }),
      NOT_AUTHORIZED,
    );
    assert.equal(await connectRefused(router.mqttUrl, { protocolVersion: 4, username: 'dora', password: 'dora-secret' }), 5);
  });

  void it('mqtt auth - anonymous: never on the MQTT listener refuses clients without credentials, not WAMP ones', async () => {
    assert.equal(await connectRefused(closed.mqttUrl, { protocolVersion: 5 }), NOT_AUTHORIZED);
    assert.equal(await connectRefused(closed.mqttUrl, { protocolVersion: 4 }), 5);
    const c = await accepted(closed, { protocolVersion: 4, username: 'alice', password: 'alice-secret' });
    assert.ok(c.connected);
    const w = await joinWamp(closed);
    wamp.push(w);
    assert.equal(w.details['authmethod'], 'anonymous');
  });

  void it('mqtt auth - dynamic authenticator: an autobahn callee decides about users without a record', async () => {
    const backend = await joinWamp(router, 'authrealm');
    wamp.push(backend);
    const asked: Record<string, unknown>[] = [];
    await backend.session.register('com.example.authenticate', (args) => {
      const details = args[2] as Record<string, unknown>;
      asked.push({ realm: args[0], authid: args[1], ...details });
      if (details['password'] === 'dyn-pass') return { role: 'device' };
      // never answers: the router gives up after auth.dynamic.timeoutMs
      if (details['password'] === 'hang') return new Promise(() => undefined);
      throw new autobahn.Error('com.example.denied');
    });
    const before = await sessionsOfRole(router, 'device');
    const c = await accepted(router, { protocolVersion: 5, username: 'sensor-7', password: 'dyn-pass' });
    assert.ok(c.connected);
    assert.equal(await sessionsOfRole(router, 'device'), before + 1);
    assert.equal(asked[0]?.['realm'], 'realm1');
    assert.equal(asked[0]?.['authid'], 'sensor-7');
    assert.equal(asked[0]?.['authmethod'], 'password');
    assert.equal((asked[0]?.['transport'] as Record<string, unknown>)['gate'], 'mqtt');
    assert.equal(
      await connectRefused(router.mqttUrl, { protocolVersion: 5, username: 'sensor-7', password: 'nope' }),
      NOT_AUTHORIZED,
    );
    assert.equal(await connectRefused(router.mqttUrl, { protocolVersion: 4, username: 'sensor-7', password: 'nope' }), 5);
    const unavailable = { gate: 'mqtt', method: 'password', reason: 'dynamic_unavailable' };
    const timeouts = await metricValue(router, 'gatehouse_auth_failures_total', unavailable);
    const armed = clock.nextTimer(DYNAMIC_TIMEOUT_MS, "the authenticator call's timeout");
    const refused = connectRefused(router.mqttUrl, { protocolVersion: 5, username: 'sensor-7', password: 'hang' });
    await armed;
    await waitFor(() => asked.some((q) => q['password'] === 'hang'), 'the authenticator is asked about the hanging login');
    clock.advance(DYNAMIC_TIMEOUT_MS);
    assert.equal(await refused, BAD_USER_NAME_OR_PASSWORD);
    assert.equal(await metricValue(router, 'gatehouse_auth_failures_total', unavailable), timeouts + 1);
  });

  void it('mqtt auth - packets sent right behind CONNECT wait for the password check, then are handled; refused ones are dropped', async () => {
    const packets = (password: string): Buffer =>
      Buffer.concat([
        mqttPacket.generate(
          {
            cmd: 'connect',
            protocolId: 'MQTT',
            protocolVersion: 5,
            clean: true,
            keepalive: 0,
            clientId: uniqueId('pipe'),
            username: 'alice',
            password: Buffer.from(password),
          },
          { protocolVersion: 5 },
        ),
        mqttPacket.generate(
          { cmd: 'subscribe', messageId: 7, subscriptions: [{ topic: 'auth/pipelined', qos: 0 }] },
          { protocolVersion: 5 },
        ),
      ]);
    const good = await RawMqtt.socket(router.mqttPort, 5);
    good.write(packets('alice-secret'));
    const connack = await good.expect((p) => p.cmd === 'connack', 'CONNACK');
    assert.equal(connack.reasonCode, 0);
    const suback = await good.expect((p) => p.cmd === 'suback', 'SUBACK of the pipelined SUBSCRIBE');
    assert.equal(suback.messageId, 7);
    void good.destroy();

    const bad = await RawMqtt.socket(router.mqttPort, 5);
    bad.write(packets('wrong'));
    assert.equal((await bad.expect((p) => p.cmd === 'connack', 'CONNACK')).reasonCode, BAD_USER_NAME_OR_PASSWORD);
    await bad.waitClosed('refused connection closed');
    assert.ok(!bad.packets.some((p) => p.cmd === 'suback'));
  });

  void it('mqtt auth - refusals are counted by gate, method and reason', async () => {
    const labels = { gate: 'mqtt', method: 'password', reason: 'bad_credentials' };
    const before = await metricValue(router, 'gatehouse_auth_failures_total', labels);
    assert.equal(
      await connectRefused(router.mqttUrl, { protocolVersion: 5, username: 'alice', password: 'still-wrong' }),
      BAD_USER_NAME_OR_PASSWORD,
    );
    assert.equal(await metricValue(router, 'gatehouse_auth_failures_total', labels), before + 1);
    assert.ok((await metricValue(router, 'gatehouse_auth_successes_total', { gate: 'mqtt', method: 'password' })) >= 1);
  });
});
