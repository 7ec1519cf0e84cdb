// MQTT `$rpc/` replies go to a topic, not to the requester's connection (issues 15 and
// 16): the requester must be allowed to publish on the response topic, checked before the
// call; and once allowed, the reply is published there even when the requester has gone
// (what `mosquitto_pub -t '$rpc/...' -D publish response-topic ...` does), the call still
// bounded by its timeout. mqtt.js clients, autobahn callees.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { IClientOptions, MqttClient } from 'mqtt';
import {
  closed,
  connectMqtt,
  endAll,
  joinWamp,
  MessageLog,
  pace,
  publish,
  subscribe,
  uniqueId,
  withTimeout,
  WAIT_MS,
} from '../../helpers/mqtt-clients';
import { allowAllBut, startRouter, type TestRouter } from '../../helpers/router';

const NOT_AUTHORIZED = 0x87;

let router: TestRouter;
const clients: MqttClient[] = [];
const wamps: { close(): Promise<void> }[] = [];

before(async () => {
  router = await startRouter({
    mqtt: { sysIntervalSeconds: 0 },
    auth: allowAllBut('secret.', ['publish']),
  });
});
after(async () => {
  await endAll(clients);
  for (const w of wamps) await w.close();
  await router.close();
});

async function open(opts: IClientOptions = {}, log?: MessageLog): Promise<MqttClient> {
  const { client } = await connectMqtt(router.mqttUrl, { protocolVersion: 5, clientId: uniqueId('rpcr'), ...opts }, log);
  clients.push(client);
  return client;
}

async function callee(): Promise<Awaited<ReturnType<typeof joinWamp>>> {
  const w = await joinWamp(router);
  wamps.push(w);
  return w;
}

/** The PUBACK reason code of a QoS 1 PUBLISH (0 when accepted). */
function pubackCode(
  client: MqttClient,
  topic: string,
  payload: string,
  properties: Record<string, unknown>,
): Promise<number | undefined> {
  return withTimeout(
    client.publishAsync(topic, payload, { qos: 1, properties }).then(
      () => 0,
      (err: unknown) => (err as { code?: number }).code,
    ),
    WAIT_MS,
    `PUBACK for ${topic}`,
  );
}

void describe('mqtt $rpc - the response topic', () => {
  void it('mqtt - a $rpc request whose response topic the requester may not publish to is refused before the call: PUBACK 0x87, the procedure is not called', async () => {
    const w = await callee();
    let calls = 0;
    await withTimeout(
      w.session.register('com.example.counted', () => ++calls),
      WAIT_MS,
      'register',
    );
    const log = new MessageLog();
    const c = await open({}, log);
    await subscribe(c, 'open/replies', { qos: 1 });
    const denied = { responseTopic: 'secret/replies', correlationData: Buffer.from('d1') };
    assert.equal(await pubackCode(c, '$rpc/com.example.counted', '[]', denied), NOT_AUTHORIZED);
    // the router's own topics are no response topic either
    const reserved = { responseTopic: 'wamp/session/on_join', correlationData: Buffer.from('d2') };
    assert.equal(await pubackCode(c, '$rpc/com.example.counted', '[]', reserved), NOT_AUTHORIZED);
    // an allowed one is called: the first call the procedure sees
    const allowed = { responseTopic: 'open/replies', correlationData: Buffer.from('a1') };
    assert.equal(await pubackCode(c, '$rpc/com.example.counted', '[]', allowed), 0);
    const [m] = await log.count(1, 'the reply on open/replies');
    assert.equal(m?.payload.toString(), '1', 'the refused requests were never called');
    assert.equal(calls, 1);
  });
});

void describe('mqtt $rpc - the requester leaves', () => {
  void it('mqtt - a requester that disconnects right after publishing (mosquitto_pub -D) still gets its reply published on the response topic, for a client subscribed there', async () => {
    const w = await callee();
    let invoked!: () => void;
    const wasInvoked = new Promise<void>((r) => (invoked = r));
    let answer!: (v: unknown) => void;
    await withTimeout(
      w.session.register('com.example.later', (args) => {
        invoked();
        // answered only once the requester's session is gone
        return new Promise((r) => (answer = () => r(`later ${String(args[0])}`)));
      }),
      WAIT_MS,
      'register',
    );
    let left!: () => void;
    const requesterLeft = new Promise<void>((r) => (left = r));
    const requesterId = uniqueId('requester');
    await withTimeout(
      w.session.subscribe('wamp.session.on_leave', (args) => {
        if (args[1] === requesterId) left();
      }),
      WAIT_MS,
      'subscribe on_leave',
    );
    const log = new MessageLog();
    const b = await open({}, log);
    await subscribe(b, 'answers/later', { qos: 1 });

    // A: clean start, no session expiry: its session ends with the connection
    const { client: a } = await connectMqtt(router.mqttUrl, { protocolVersion: 5, clientId: requesterId, clean: true });
    a.publish('$rpc/com.example.later', '["x"]', {
      qos: 0,
      properties: { responseTopic: 'answers/later', correlationData: Buffer.from('L1') },
    });
    a.end();
    await closed(a);
    await withTimeout(requesterLeft, WAIT_MS, "the requester's session to end");
    await withTimeout(wasInvoked, WAIT_MS, 'the invocation');
    answer(undefined);
    const [m] = await log.count(1, 'the reply on answers/later');
    assert.equal(m?.payload.toString(), '"later x"');
    assert.deepEqual(m?.packet.properties?.correlationData, Buffer.from('L1'));
  });

  void it("mqtt - a requester's $rpc call that outlives it still ends at its timeout (the request's message expiry): the error goes to the response topic", async () => {
    const w = await callee();
    await withTimeout(
      w.session.register('com.example.never', () => new Promise(() => undefined)),
      WAIT_MS,
      'register',
    );
    const log = new MessageLog();
    const b = await open({}, log);
    await subscribe(b, 'answers/never', { qos: 1 });
    const { client: a } = await connectMqtt(router.mqttUrl, { protocolVersion: 5, clientId: uniqueId('gone'), clean: true });
    await publish(a, '$rpc/com.example.never', '[]', {
      qos: 1,
      properties: { responseTopic: 'answers/never', correlationData: Buffer.from('N1'), messageExpiryInterval: 1 },
    });
    a.end();
    await closed(a);
    const [m] = await log.count(1, 'the timeout error on answers/never', WAIT_MS + 1000);
    assert.equal(m?.packet.properties?.userProperties?.['error'], 'wamp.error.timeout');
    assert.deepEqual(m?.packet.properties?.correlationData, Buffer.from('N1'));
  });
});

void describe('mqtt $rpc - the response topic, decided by the dynamic authorizer', () => {
  let dyn: TestRouter;
  before(async () => {
    dyn = await startRouter({
      mqtt: { sysIntervalSeconds: 0 },
      auth: {
        roles: {
          anonymous: {
            permissions: [
              { uri: 'authz.check', allow: ['register'] },
              { uri: 'com.', match: 'prefix', allow: ['register', 'call'] },
              { uri: '', match: 'prefix', allow: ['subscribe'] },
            ],
          },
        },
        authorizer: { realm: 'realm1', procedure: 'authz.check', calleeRoles: ['anonymous'], timeoutMs: 1000 },
      },
    });
  });
  after(async () => {
    await dyn.close();
  });

  void it('mqtt - the request waits for the authorizer: a response topic it denies gets PUBACK 0x87 and no call, one it allows gets the reply', async () => {
    const w = await joinWamp(dyn);
    wamps.push(w);
    // the authorizer answers later than at once, so the PUBLISH's ack must wait for it
    const decide = (args: unknown[]): Promise<boolean> => pace(20).then(() => String(args[1]).startsWith('dyn.ok.'));
    await withTimeout(w.session.register('authz.check', decide), WAIT_MS, 'register authz.check');
    let calls = 0;
    await withTimeout(
      w.session.register('com.example.dyn', () => ++calls),
      WAIT_MS,
      'register',
    );
    const log = new MessageLog();
    const { client: c } = await connectMqtt(dyn.mqttUrl, { protocolVersion: 5, clientId: uniqueId('dyn') }, log);
    clients.push(c);
    await subscribe(c, 'dyn/ok/replies', { qos: 1 });
    const denied = { responseTopic: 'dyn/no/replies', correlationData: Buffer.from('n') };
    assert.equal(await pubackCode(c, '$rpc/com.example.dyn', '[]', denied), NOT_AUTHORIZED);
    const allowed = { responseTopic: 'dyn/ok/replies', correlationData: Buffer.from('y') };
    assert.equal(await pubackCode(c, '$rpc/com.example.dyn', '[]', allowed), 0);
    const [m] = await log.count(1, 'the reply on dyn/ok/replies');
    assert.equal(m?.payload.toString(), '1', 'the denied request was never called');
  });
});
