// Topics round-trip exactly across protocols (issue 16 item 6, README "Topics across
// protocols"): two MQTT names are two topics and two retained keys, whatever their `%`;
// the literal `*` component of a WAMP URI is MQTT `int/*` and STOMP `/topic/int.%2A`, in
// both directions. mqtt.js, autobahn and @stomp/stompjs clients over real sockets.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import { connectMqtt, endAll, joinWamp, MessageLog, publish, subscribe, uniqueId } from '../helpers/mqtt-clients';
import { Inbox, sendWithReceipt, StompjsClients, subscribeConfirmed } from '../helpers/stomp-clients';
import { EventLog, subscribeLog, withTimeout, WAIT_MS } from '../helpers/wamp-clients';
import { startRouter, type TestRouter } from '../helpers/router';

let router: TestRouter;
const mqttClients: MqttClient[] = [];
const wamps: { close(): Promise<void> }[] = [];
const stomp = new StompjsClients();

before(async () => {
  router = await startRouter({ mqtt: { sysIntervalSeconds: 0 } });
});
after(async () => {
  await endAll(mqttClients);
  for (const w of wamps) await w.close();
  await stomp.closeAll();
  await router.close();
});

async function mqttClient(log?: MessageLog): Promise<MqttClient> {
  const { client } = await connectMqtt(router.mqttUrl, { protocolVersion: 5, clientId: uniqueId('notation') }, log);
  mqttClients.push(client);
  return client;
}

async function wamp(): Promise<Awaited<ReturnType<typeof joinWamp>>> {
  const w = await joinWamp(router);
  wamps.push(w);
  return w;
}

void describe('topic notation - MQTT names round-trip exactly', () => {
  void it('mqtt - retained publishes to pct/50% and pct/50%25 are two topics: another client receives both names exactly, and both retained values exist separately', async () => {
    const liveLog = new MessageLog();
    const live = await mqttClient(liveLog);
    await subscribe(live, 'pct/#', { qos: 1 });
    const publisher = await mqttClient();
    await publish(publisher, 'pct/50%', 'fifty percent', { qos: 1, retain: true });
    await publish(publisher, 'pct/50%25', 'fifty percent twenty-five', { qos: 1, retain: true });
    const got = await liveLog.count(2, 'both live messages');
    assert.deepEqual(
      got.map((m) => [m.topic, m.payload.toString()]),
      [
        ['pct/50%', 'fifty percent'],
        ['pct/50%25', 'fifty percent twenty-five'],
      ],
    );
    // the retained store has two keys: a later subscriber gets both values under their own names
    const laterLog = new MessageLog();
    const later = await mqttClient(laterLog);
    await subscribe(later, 'pct/#', { qos: 1 });
    const retained = await laterLog.count(2, 'both retained messages');
    assert.deepEqual(
      new Map(retained.map((m) => [m.topic, m.payload.toString()])),
      new Map([
        ['pct/50%', 'fifty percent'],
        ['pct/50%25', 'fifty percent twenty-five'],
      ]),
    );
    assert.ok(
      retained.every((m) => m.packet.retain),
      'delivered as retained',
    );
    // and an exact subscription to one name gets that one value only
    const exactLog = new MessageLog();
    const exact = await mqttClient(exactLog);
    await subscribe(exact, 'pct/50%25', { qos: 1 });
    const [one] = await exactLog.count(1, 'the retained pct/50%25');
    assert.equal(one?.payload.toString(), 'fifty percent twenty-five');
    await exactLog.quiet(1, 200, 'no other retained value on pct/50%25');
  });
});

void describe('topic notation - a literal * component', () => {
  void it('wamp - WAMP int.* reaches MQTT as int/* and STOMP as /topic/int.%2A; MQTT int/* and STOMP /topic/int.%2A reach the same WAMP topic', async () => {
    const mqttLog = new MessageLog();
    const m = await mqttClient(mqttLog);
    await subscribe(m, 'int/*', { qos: 1 });
    const { client: s } = await stomp.tcp(router.stompPort);
    const inbox = new Inbox();
    await subscribeConfirmed(s, '/topic/int.%2A', inbox);
    const w = await wamp();
    // `match: wildcard` takes a whole * as a literal component (an exact `int.*` is fox-wamp's wildcard)
    const events = new EventLog();
    await subscribeLog(w.session, 'int.*', events, { match: 'wildcard' });

    // from WAMP
    const ack = w.session.publish('int.*', ['from wamp'], {}, { acknowledge: true, exclude_me: false });
    await withTimeout(ack ?? Promise.reject(new Error('no ack')), WAIT_MS, 'PUBLISHED int.*');
    const [fromWamp] = await mqttLog.count(1, 'MQTT gets WAMP int.*');
    assert.equal(fromWamp?.topic, 'int/*');
    const [stompFromWamp] = await inbox.count(1, 'STOMP gets WAMP int.*');
    assert.equal(stompFromWamp?.headers['destination'], '/topic/int.%2A');
    await events.count(1, 'WAMP gets its own int.*');

    // from MQTT: the name it was delivered under leads back to the same topic
    await publish(m, 'int/*', '"from mqtt"', { qos: 1 });
    const [, fromMqtt] = await events.count(2, 'WAMP gets MQTT int/*');
    assert.equal(fromMqtt?.details['topic'], 'int.*');
    assert.deepEqual(fromMqtt?.args, ['from mqtt']);
    await inbox.count(2, 'STOMP gets MQTT int/*');

    // from STOMP
    await sendWithReceipt(s, '/topic/int.%2A', '"from stomp"', { 'content-type': 'application/json' });
    const [, , fromStomp] = await events.count(3, 'WAMP gets STOMP /topic/int.%2A');
    assert.equal(fromStomp?.details['topic'], 'int.*');
    const all = await mqttLog.count(3, 'MQTT gets all three');
    assert.deepEqual(
      all.map((x) => [x.topic, x.payload.toString()]),
      [
        ['int/*', '"from wamp"'],
        ['int/*', '"from mqtt"'],
        ['int/*', '"from stomp"'],
      ],
    );
  });
});

void describe('topic notation - a WAMP URI no other notation can name', () => {
  void it("wamp - WAMP wild.50% (a % that starts no escape) is not delivered to MQTT under another topic's name; STOMP gets it under the destination it subscribed to", async () => {
    const mqttLog = new MessageLog();
    const m = await mqttClient(mqttLog);
    await subscribe(m, 'wild/#', { qos: 1 });
    const { client: s } = await stomp.tcp(router.stompPort);
    const inbox = new Inbox();
    await subscribeConfirmed(s, '/topic/wild.*', inbox);
    const w = await wamp();
    for (const uri of ['wild.50%', 'wild.50%25']) {
      const ack = w.session.publish(uri, [uri], {}, { acknowledge: true });
      await withTimeout(ack ?? Promise.reject(new Error('no ack')), WAIT_MS, `PUBLISHED ${uri}`);
    }
    const got = await inbox.count(2, 'STOMP gets both');
    assert.deepEqual(
      got.map((x) => [x.headers['destination'], x.body]),
      [
        ['/topic/wild.*', '"wild.50%"'],
        ['/topic/wild.50%25', '"wild.50%25"'],
      ],
    );
    // MQTT: only the topic it can name (wild/50%), never wild.50% under that same name
    const [only] = await mqttLog.count(1, 'MQTT gets wild.50%25');
    assert.equal(only?.topic, 'wild/50%');
    assert.equal(only?.payload.toString(), '"wild.50%25"');
    await mqttLog.quiet(1, 200, 'nothing else on MQTT');
  });
});
