/**
 * Topics no client may publish to, whatever its protocol: the router's wamp.* meta
 * events and an aggregate table's change feed and computed tables. MQTT (mqtt.js) and
 * STOMP (stompjs) cannot forge wamp.session.on_leave; a testament (autobahn) cannot
 * name such a topic, and a testament whose row its table refuses is dropped at session
 * leave without taking the router down.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import { wsOptions } from '../helpers/autobahn';
import { FIXTURE_DIR } from '../helpers/aggregate';
import { connectMqtt, connectRefused, endAll, metricValue, uniqueId } from '../helpers/mqtt-clients';
import { expectQuiet } from '../helpers/wait';
import { startRouter, type TestRouter } from '../helpers/router';
import { StompjsClients, withTimeout, WAIT_MS, type IFrame, type StompClient } from '../helpers/stomp-clients';
import { call, closeAll, connectAs, errorOf, EventLog, subscribeLog, type Client } from '../helpers/wamp-clients';

let r: TestRouter;
let watcher: Client;
const leaves = new EventLog();
const wamp: Client[] = [];
const mqttClients: MqttClient[] = [];
const stomp = new StompjsClients();

before(async () => {
  r = await startRouter({ mqtt: { sysIntervalSeconds: 0 }, aggregate: { dir: FIXTURE_DIR } });
  watcher = await connectAs(wsOptions(r.wsUrl, 'json'));
  await subscribeLog(watcher.session, 'wamp.session.on_leave', leaves);
});
after(async () => {
  await endAll(mqttClients);
  await stomp.closeAll();
  await closeAll(wamp);
  await closeAll([watcher]);
  await r.close();
});

/** on_leave events whose first argument is not a real session id (a number) */
const forged = (): unknown[] => leaves.events.filter((e) => typeof e.args[0] !== 'number');

function stompError(client: StompClient): Promise<IFrame> {
  return withTimeout(new Promise<IFrame>((resolve) => (client.onStompError = resolve)), WAIT_MS, 'STOMP ERROR');
}

async function wampClient(): Promise<Client> {
  const c = await connectAs(wsOptions(r.wsUrl, 'json'));
  wamp.push(c);
  return c;
}

void describe('reserved topics', () => {
  it('reserved topics - MQTT 5 cannot publish a wamp.* meta event: PUBACK 0x87, nothing delivered', async () => {
    const { client } = await connectMqtt(r.mqttUrl, { protocolVersion: 5, clientId: uniqueId('forge') });
    mqttClients.push(client);
    let code: number;
    try {
      const ack = await withTimeout(client.publishAsync('wamp/session/on_leave', '"forged"', { qos: 1 }), WAIT_MS, 'PUBACK');
      code = (ack as { reasonCode?: number } | undefined)?.reasonCode ?? 0;
    } catch (err) {
      code = (err as { code?: number }).code ?? -1;
    }
    assert.equal(code, 0x87);
    await expectQuiet();
    assert.deepEqual(forged(), []);
  });

  it('reserved topics - an MQTT will on wamp.* or a change feed refuses CONNECT: v4 return code 5, v5 0x87', async () => {
    const will = (topic: string) => ({ topic, payload: Buffer.from('"forged"'), qos: 0 as const, retain: false });
    assert.equal(
      await connectRefused(r.mqttUrl, { protocolVersion: 4, clientId: uniqueId('w'), will: will('wamp/session/on_leave') }),
      5,
    );
    assert.equal(
      await connectRefused(r.mqttUrl, { protocolVersion: 5, clientId: uniqueId('w'), will: will('table/detail/changes') }),
      0x87,
    );
  });

  it('reserved topics - STOMP cannot SEND to /topic/wamp.*: ERROR "not authorized", nothing delivered', async () => {
    const { client } = await stomp.tcp(r.stompPort);
    const err = stompError(client);
    client.publish({ destination: '/topic/wamp.session.on_leave', body: 'forged' });
    assert.equal((await err).headers['message'], 'not authorized');
    await expectQuiet();
    assert.deepEqual(forged(), []);
  });

  it('reserved topics - add_testament refuses a change feed and a computed table', async () => {
    const c = await wampClient();
    const feed = await errorOf(
      c.session.call('wamp.session.add_testament', ['table.detail.changes', [], { op: 'insert' }]),
      'change feed testament',
    );
    assert.equal(feed.error, 'wamp.error.not_authorized');
    const computed = await errorOf(
      c.session.call('wamp.session.add_testament', ['table.invoice', [], { customer: 'c', invoice: 'i' }]),
      'computed table testament',
    );
    assert.equal(computed.error, 'wamp.error.not_authorized');
    await c.close();
    // the router is still up: a new client works
    const next = await wampClient();
    assert.equal(typeof (await call(next.session, 'wamp.session.count')), 'number');
  });

  it('reserved topics - a testament whose row its table refuses is dropped at leave; the router stays up', async () => {
    const before = await metricValue(r, 'gatehouse_drops_total', { reason: 'testament_refused' });
    const c = await wampClient();
    const id = c.session.id;
    await call(c.session, 'wamp.session.add_testament', ['table.detail', [], { invoice: 'x', amount: 'not a number' }]);
    await c.close();
    await leaves.until((e) => e.args[0] === id, 'on_leave of the testator');
    assert.equal(await metricValue(r, 'gatehouse_drops_total', { reason: 'testament_refused' }), before + 1);
    const next = await wampClient();
    assert.equal(typeof (await call(next.session, 'wamp.session.count')), 'number');
  });
});
