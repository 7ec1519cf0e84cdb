// MQTT gate, retained messages, with mqtt.js and autobahn: an empty retained payload
// deletes, the MQTT 5 subscription options retain handling 0/1/2 and retain as
// published, and the QoS of a replay. A retained value written by any protocol reaching a
// later subscriber of any protocol (RETAIN 1, WAMP details.retained) is the scenario
// matrix's (test/scenarios/matrix.test.ts, docs/test-coverage.md).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { IClientOptions, MqttClient } from 'mqtt';
import {
  connectMqtt,
  endAll,
  joinWamp,
  MessageLog,
  publish,
  subscribe,
  uniqueId,
  withTimeout,
  WAIT_MS,
} from '../../helpers/mqtt-clients';
import { startRouter, type TestRouter } from '../../helpers/router';
import { expectQuiet } from '../../helpers/wait';

let router: TestRouter;
const clients: MqttClient[] = [];
before(async () => {
  router = await startRouter({ mqtt: { sysIntervalSeconds: 0 } });
});
after(async () => {
  await endAll(clients);
  await router.close();
});

async function open(url: string, opts: IClientOptions, log?: MessageLog): Promise<MqttClient> {
  const { client } = await connectMqtt(url, opts, log);
  clients.push(client);
  return client;
}

void describe('mqtt retained deletion and subscription options', () => {
  void it('mqtt - an empty retained payload deletes the retained message', async () => {
    const pub = await open(router.mqttUrl, { protocolVersion: 4, clientId: uniqueId('rdel') });
    await publish(pub, 'rdel/x', 'keep', { qos: 1, retain: true });
    const s1 = await open(router.mqttUrl, { protocolVersion: 4, clientId: uniqueId('rdel-s1') });
    const log1 = new MessageLog(s1);
    await subscribe(s1, 'rdel/x', { qos: 1 });
    await log1.count(1, 'the retained message before deletion');
    await publish(pub, 'rdel/x', '', { qos: 1, retain: true });
    const s2 = await open(router.mqttUrl, { protocolVersion: 4, clientId: uniqueId('rdel-s2') });
    const log2 = new MessageLog(s2);
    await subscribe(s2, 'rdel/x', { qos: 1 });
    await log2.quiet(0, 250, 'deleted: nothing retained');
    const wamp = await joinWamp(router);
    try {
      const events: unknown[] = [];
      await withTimeout(
        wamp.session.subscribe('rdel.x', (args) => events.push(args), { retained: true }),
        WAIT_MS,
        'WAMP subscribe',
      );
      await expectQuiet();
      assert.deepEqual(events, [], 'the WAMP side sees no retained value either');
    } finally {
      await wamp.close();
    }
    await endAll([pub, s1, s2]);
  });

  void it('mqtt - retain handling 0 sends retained on every subscribe, 1 only on a new subscription, 2 never (v5)', async () => {
    const pub = await open(router.mqttUrl, { protocolVersion: 5, clientId: uniqueId('rh-pub') });
    for (const rh of [0, 1, 2]) await publish(pub, `rh/${rh}`, `r${rh}`, { qos: 1, retain: true });
    const c = await open(router.mqttUrl, { protocolVersion: 5, clientId: uniqueId('rh') });
    const log = new MessageLog(c);
    for (const rh of [0, 1, 2] as const) await subscribe(c, `rh/${rh}`, { qos: 1, rh });
    await log.count(2, 'first subscribes');
    await log.quiet(2, 200, 'first subscribes');
    assert.deepEqual(log.texts().sort(), ['r0', 'r1']);
    // subscribe again to the same filters: only rh 0 replays
    for (const rh of [0, 1, 2] as const) await subscribe(c, `rh/${rh}`, { qos: 1, rh });
    await log.count(3, 'resubscribes');
    await log.quiet(3, 200, 'resubscribes');
    assert.equal(log.texts()[2], 'r0');
    await endAll([pub, c]);
  });

  void it('mqtt - retain as published keeps the retain flag on live messages (v5), without it the flag is cleared', async () => {
    const c = await open(router.mqttUrl, { protocolVersion: 5, clientId: uniqueId('rap') });
    const log = new MessageLog(c);
    await subscribe(c, 'rap/yes', { qos: 1, rap: true });
    await subscribe(c, 'rap/no', { qos: 1, rap: false });
    const pub = await open(router.mqttUrl, { protocolVersion: 5, clientId: uniqueId('rap-pub') });
    await publish(pub, 'rap/yes', 'a', { qos: 1, retain: true });
    await publish(pub, 'rap/no', 'b', { qos: 1, retain: true });
    await publish(pub, 'rap/yes', 'c', { qos: 1, retain: false });
    const got = await log.count(3, 'live messages');
    const flags = Object.fromEntries(got.map((m) => [m.payload.toString(), m.packet.retain]));
    assert.deepEqual(flags, { a: true, b: false, c: false });
    await endAll([c, pub]);
  });

  void it('mqtt - a retained message is replayed at most at the granted QoS', async () => {
    const pub = await open(router.mqttUrl, { protocolVersion: 4, clientId: uniqueId('rq-pub') });
    await publish(pub, 'rq/x', 'v', { qos: 2, retain: true });
    const c = await open(router.mqttUrl, { protocolVersion: 4, clientId: uniqueId('rq') });
    const log = new MessageLog(c);
    await subscribe(c, 'rq/x', { qos: 0 });
    const [m] = await log.count(1, 'the retained message');
    assert.equal(m?.packet.qos, 0);
    assert.equal(m?.packet.retain, true);
    await endAll([pub, c]);
  });
});
