// Two users of different roles (README "Authentication", "Authorization"): the accountant
// (role billing) may use billing.* and sensors.*, the operator (role ops) only sensors.*.
// Each logs in with its password on WAMP (ticket), MQTT and STOMP and gets the same rights
// on all three; anonymous sessions (a role with no rules) may do nothing.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import { createUserRecord } from '../../lib/auth/user-record';
import { connect, wsOptions } from '../helpers/autobahn';
import { connectMqtt, endAll, MessageLog, subscribe, uniqueId, waitFor } from '../helpers/mqtt-clients';
import { expectQuiet } from '../helpers/wait';
import { startRouter, type TestRouter } from '../helpers/router';
import { StompjsClients, withTimeout, WAIT_MS, type IFrame } from '../helpers/stomp-clients';
import { closeAll, errorOf, EventLog, subscribeLog, type Client } from '../helpers/wamp-clients';

const NOT_AUTHORIZED = 'wamp.error.not_authorized';
const FAST = { N: 1024, r: 8, p: 1 };

let r: TestRouter;
const wamp: Client[] = [];
const mqttClients: MqttClient[] = [];
const stompjs = new StompjsClients();

before(async () => {
  const users = [
    await createUserRecord({ authid: 'accountant', role: 'billing', password: 'acc-secret', scrypt: FAST }),
    await createUserRecord({ authid: 'operator', role: 'ops', password: 'ops-secret', scrypt: FAST }),
  ];
  r = await startRouter({
    mqtt: { sysIntervalSeconds: 0 },
    auth: {
      users,
      roles: {
        billing: { permissions: [{ uri: '', match: 'prefix', allow: ['publish', 'subscribe'] }] },
        ops: {
          permissions: [
            { uri: 'sensors.', match: 'prefix', allow: ['publish', 'subscribe'] },
            { uri: 'billing.', match: 'prefix', deny: ['*'] },
          ],
        },
      },
    },
  });
});
after(async () => {
  await closeAll(wamp);
  await endAll(mqttClients);
  await stompjs.closeAll();
  await r.close();
});

async function wampUser(authid?: string, secret?: string): Promise<Client> {
  const options =
    authid === undefined
      ? wsOptions(r.wsUrl, 'json')
      : { ...wsOptions(r.wsUrl, 'json'), authmethods: ['ticket'], authid, onchallenge: () => secret };
  const c = await withTimeout(connect(options), WAIT_MS, `join as ${authid ?? 'anonymous'}`);
  wamp.push(c);
  return c;
}

async function mqttUser(username: string, password: string): Promise<{ client: MqttClient; log: MessageLog }> {
  const log = new MessageLog();
  const { client } = await connectMqtt(r.mqttUrl, { clientId: uniqueId(username), protocolVersion: 5, username, password }, log);
  mqttClients.push(client);
  return { client, log };
}

function publishAck(c: Client, topic: string, value: unknown): Promise<unknown> {
  return withTimeout(
    c.session.publish(topic, [value], {}, { acknowledge: true }) ?? Promise.reject(new Error('no ack')),
    WAIT_MS,
    `PUBLISHED ${topic}`,
  );
}

describe('authorization - two users, two roles, every protocol', () => {
  it('WAMP: the accountant may publish billing, the operator may not', async () => {
    const acc = await wampUser('accountant', 'acc-secret');
    const ops = await wampUser('operator', 'ops-secret');
    assert.equal(acc.details['authrole'], 'billing');
    assert.equal(ops.details['authrole'], 'ops');
    const log = new EventLog();
    await subscribeLog(acc.session, 'billing.invoice', log);
    assert.equal(
      (
        await errorOf(
          ops.session.subscribe('billing.invoice', () => undefined),
          'operator subscribe',
        )
      ).error,
      NOT_AUTHORIZED,
    );
    assert.equal(
      (await errorOf(ops.session.publish('billing.invoice', [1], {}, { acknowledge: true }), 'operator publish')).error,
      NOT_AUTHORIZED,
    );
    const acc2 = await wampUser('accountant', 'acc-secret');
    await publishAck(acc2, 'billing.invoice', 100);
    const [e] = await log.count(1, 'billing event');
    assert.deepEqual(e?.args, [100]);
  });

  it('MQTT: same rights with username/password; the operator subscribed to # gets sensors but not billing', async () => {
    const acc = await mqttUser('accountant', 'acc-secret');
    const ops = await mqttUser('operator', 'ops-secret');
    await subscribe(acc.client, 'billing/#', { qos: 1 });
    await subscribe(ops.client, '#', { qos: 1 });
    const refused = await ops.client.publishAsync('billing/invoice', 'x', { qos: 1 }).then(
      () => 0,
      (err: unknown) => (err as { code?: number }).code,
    );
    assert.equal(refused, 0x87);
    const writer = await wampUser('accountant', 'acc-secret');
    await publishAck(writer, 'billing.invoice', 7);
    await publishAck(writer, 'sensors.temp', 20);
    await acc.log.count(1, 'accountant billing message');
    await waitFor(() => ops.log.messages.some((m) => m.topic === 'sensors/temp'), 'operator sensors message');
    await expectQuiet();
    assert.deepEqual(
      ops.log.messages.map((m) => m.topic),
      ['sensors/temp'],
    );
  });

  it('STOMP: the operator gets ERROR "not authorized" for billing, the accountant does not', async () => {
    const login = (user: string, passcode: string) => ({ connectHeaders: { login: user, passcode } });
    const ops = await stompjs.tcp(r.stompPort, login('operator', 'ops-secret'));
    const err = withTimeout(new Promise<IFrame>((resolve) => (ops.client.onStompError = resolve)), WAIT_MS, 'STOMP ERROR');
    ops.client.publish({ destination: '/topic/billing.invoice', body: 'x' });
    assert.equal((await err).headers['message'], 'not authorized');
    const acc = await stompjs.tcp(r.stompPort, login('accountant', 'acc-secret'));
    const watcher = await wampUser('accountant', 'acc-secret');
    const log = new EventLog();
    await subscribeLog(watcher.session, 'billing.stomp', log);
    acc.client.publish({ destination: '/topic/billing.stomp', body: '"ok"', headers: { 'content-type': 'application/json' } });
    await log.count(1, 'billing event from STOMP');
  });

  it('an anonymous session (a role without rules) may do nothing', async () => {
    const anon = await wampUser();
    assert.equal(anon.details['authrole'], 'anonymous');
    assert.equal(
      (await errorOf(anon.session.publish('sensors.temp', [1], {}, { acknowledge: true }), 'anonymous publish')).error,
      NOT_AUTHORIZED,
    );
    assert.equal(
      (
        await errorOf(
          anon.session.subscribe('sensors.temp', () => undefined),
          'anonymous subscribe',
        )
      ).error,
      NOT_AUTHORIZED,
    );
  });
});
