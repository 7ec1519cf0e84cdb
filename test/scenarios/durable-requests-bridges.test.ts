// Durable requests from MQTT 5 (`$rpc/` with user properties destinations, expires_in,
// retries) and STOMP (`/rpc/` with those headers): one reply per destination to the
// response topic / reply-to, naming it in request-destination (README "Durable requests").
// mqtt.js and @stomp/stompjs requesters, autobahn callees that log in with their authid.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import { wsOptions } from '../helpers/autobahn';
import { connectMqtt, endAll, MessageLog, subscribe, uniqueId } from '../helpers/mqtt-clients';
import { allowAllBut, startRouter, type TestRouter } from '../helpers/router';
import { Inbox, StompjsClients, subscribeConfirmed } from '../helpers/stomp-clients';
import { closeAll, connectAs, type Client } from '../helpers/wamp-clients';

let router: TestRouter;
const mqtts: MqttClient[] = [];
const wamps: Client[] = [];
const stompjs = new StompjsClients();

before(async () => {
  router = await startRouter({
    mqtt: { sysIntervalSeconds: 0 },
    auth: allowAllBut('work.denied', ['call'], 'exact'),
  });
});
after(async () => {
  await endAll(mqtts);
  await stompjs.closeAll();
  await closeAll(wamps);
  await router.close();
});

async function callee(authid: string, procedure: string): Promise<void> {
  const c = await connectAs(wsOptions(router.wsUrl, 'json'), authid);
  wamps.push(c);
  await c.session.register(procedure, (args) => `${authid}:${String(args[0])}`, { invoke: 'roundrobin' });
}

describe('durable requests over the RPC bridges', () => {
  it('mqtt - $rpc/ with user property destinations: one reply per destination on the response topic, an absent one expired', async () => {
    const log = new MessageLog();
    const { client } = await connectMqtt(router.mqttUrl, { protocolVersion: 5, clientId: uniqueId('dr') }, log);
    mqtts.push(client);
    await subscribe(client, 'replies/dr', { qos: 1 });
    await client.publishAsync('$rpc/work.mqtt', '["q"]', {
      qos: 1,
      properties: {
        responseTopic: 'replies/dr',
        correlationData: Buffer.from('c1'),
        userProperties: { destinations: 'm-a,ghost', expires_in: '1.5' },
      },
    });
    // the destination registers after the request was made
    await callee('m-a', 'work.mqtt');
    const replies = await log.count(2, 'one reply per destination', 10_000);
    const byDest = new Map(replies.map((m) => [m.packet.properties?.userProperties?.['request-destination'], m]));
    const a = byDest.get('m-a');
    assert.equal(a?.payload.toString(), '"m-a:q"');
    assert.equal(a?.packet.properties?.correlationData?.toString(), 'c1');
    assert.equal(a?.packet.properties?.userProperties?.['error'], undefined);
    const ghost = byDest.get('ghost');
    assert.equal(ghost?.packet.properties?.userProperties?.['error'], 'gatehouse.error.expired');
    assert.equal(
      (JSON.parse(ghost?.payload.toString() ?? '{}') as { kwargs: Record<string, unknown> }).kwargs['destination'],
      'ghost',
    );
    assert.equal(typeof a?.packet.properties?.userProperties?.['request-id'], 'string');
  });

  it('mqtt - a request for a procedure the requester may not call is refused: PUBACK 0x87 and one error reply', async () => {
    const log = new MessageLog();
    const { client } = await connectMqtt(router.mqttUrl, { protocolVersion: 5, clientId: uniqueId('dr') }, log);
    mqtts.push(client);
    await subscribe(client, 'replies/denied', { qos: 1 });
    const puback = await client
      .publishAsync('$rpc/work.denied', '[]', {
        qos: 1,
        properties: { responseTopic: 'replies/denied', userProperties: { destinations: 'm-a' } },
      })
      .then(
        (p) => (p as { reasonCode?: number } | undefined)?.reasonCode ?? 0,
        (err: { code?: number }) => err.code,
      );
    assert.equal(puback, 0x87);
    const [reply] = await log.count(1, 'the refusal');
    assert.equal(reply?.packet.properties?.userProperties?.['error'], 'wamp.error.not_authorized');
    assert.equal(reply?.packet.properties?.userProperties?.['request-destination'], undefined);
  });

  it('stomp - /rpc/ with header destinations: one reply per destination at reply-to', async () => {
    await callee('s-a', 'work.stomp');
    await callee('s-b', 'work.stomp');
    const { client } = await stompjs.ws(router.stompWsUrl);
    const replies = new Inbox();
    await subscribeConfirmed(client, '/temp-queue/dr', replies, { id: 'dr' });
    client.publish({
      destination: '/rpc/work.stomp',
      body: '["x"]',
      headers: { 'reply-to': '/temp-queue/dr', 'correlation-id': 'k1', destinations: 'all', expires_in: '30' },
    });
    const got = await replies.count(2, 'one reply per destination');
    const bodies = new Map(got.map((m) => [m.headers['request-destination'], m.body]));
    assert.deepEqual([...bodies.keys()].sort(), ['s-a', 's-b']);
    assert.equal(bodies.get('s-a'), '"s-a:x"');
    assert.equal(bodies.get('s-b'), '"s-b:x"');
    assert.equal(got[0]?.headers['correlation-id'], 'k1');
  });
});
