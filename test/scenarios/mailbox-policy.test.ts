// One durable mailbox service (lib/mailbox/) under MQTT persistent sessions and STOMP
// queues and durable subscriptions: each gate keeps its behaviour when a mailbox is full
// (MQTT drops the oldest, a durable subscription the newest, a named queue refuses the
// SEND), and every drop is counted in one place, gatehouse_mailbox_dropped_total{kind,
// reason}, beside the gate's own drops_total series. mqtt.js and @stomp/stompjs clients.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import { connectMqtt, endAll, MessageLog, metricValue, publish, subscribe, uniqueId } from '../helpers/mqtt-clients';
import { startRouter, type TestRouter } from '../helpers/router';
import {
  Inbox,
  sendWithReceipt,
  StompjsClients,
  stop,
  subscribeConfirmed,
  withTimeout,
  WAIT_MS,
  type IFrame,
  type StompHeaders,
} from '../helpers/stomp-clients';

let r: TestRouter;
const mqtts: MqttClient[] = [];
const stompjs = new StompjsClients();

before(async () => {
  r = await startRouter({ mqtt: { sysIntervalSeconds: 0, maxQueuedMessages: 3 }, stomp: { maxQueueMessages: 3 } });
});
after(async () => {
  await endAll(mqtts);
  await stompjs.closeAll();
  await r.close();
});

const dropped = (kind: string): Promise<number> =>
  metricValue(r, 'gatehouse_mailbox_dropped_total', { kind, reason: 'queue_full' });

async function mqttClient(clientId: string, log?: MessageLog): Promise<MqttClient> {
  const { client } = await connectMqtt(
    r.mqttUrl,
    { protocolVersion: 5, clientId, clean: false, properties: { sessionExpiryInterval: 300 } },
    log,
  );
  mqtts.push(client);
  return client;
}

async function durableSubscriber(
  headers: StompHeaders,
  inbox: Inbox,
): Promise<Awaited<ReturnType<StompjsClients['tcp']>>['client']> {
  const { client } = await stompjs.tcp(r.stompPort, { connectHeaders: { 'client-id': 'mailbox-policy' } });
  await subscribeConfirmed(client, '/topic/mailbox.durable', inbox, headers);
  return client;
}

describe('mailboxes - one policy under every gate', () => {
  it('mqtt - a persistent session past mqtt.maxQueuedMessages loses its oldest, counted as the mqtt mailbox kind', async () => {
    const id = uniqueId('mbx');
    const first = await mqttClient(id);
    await subscribe(first, 'mailbox/mqtt', { qos: 1 });
    await new Promise<void>((done) => first.end(false, {}, () => done()));
    const before = await dropped('mqtt');
    const gateBefore = await metricValue(r, 'gatehouse_drops_total', { gate: 'mqtt', reason: 'queue_full' });
    const { client: pub } = await connectMqtt(r.mqttUrl, { protocolVersion: 5, clientId: uniqueId('mbx-pub') });
    mqtts.push(pub);
    for (let i = 0; i < 5; i++) await publish(pub, 'mailbox/mqtt', `m${i}`, { qos: 1 });
    const log = new MessageLog();
    await mqttClient(id, log);
    await log.count(3, 'the newest three');
    await log.quiet(3, 100, 'bounded');
    assert.deepEqual(log.texts(), ['m2', 'm3', 'm4']);
    assert.equal(await dropped('mqtt'), before + 2);
    assert.equal(await metricValue(r, 'gatehouse_drops_total', { gate: 'mqtt', reason: 'queue_full' }), gateBefore + 2);
  });

  it('stompjs - a durable subscription past stomp.maxQueueMessages keeps what it has and loses the new events, counted as the durable kind', async () => {
    const headers = { id: 'mbx-durable', durable: 'true', 'auto-delete': 'false' };
    const away = await durableSubscriber(headers, new Inbox());
    await stop(away);
    const before = await dropped('durable');
    const { client: pub } = await stompjs.tcp(r.stompPort);
    for (let i = 0; i < 5; i++) await sendWithReceipt(pub, '/topic/mailbox.durable', `d${i}`);
    const inbox = new Inbox();
    await durableSubscriber(headers, inbox);
    await inbox.count(3, 'the first three');
    await inbox.quiet(3, 100, 'bounded');
    assert.deepEqual(inbox.bodies(), ['d0', 'd1', 'd2']);
    assert.equal(await dropped('durable'), before + 2);
  });

  it('stompjs - a full named queue refuses the SEND with ERROR limit exceeded: the sender keeps the message, nothing is counted as dropped', async () => {
    const before = await dropped('queue');
    const { client } = await stompjs.tcp(r.stompPort);
    for (let i = 0; i < 3; i++) await sendWithReceipt(client, '/queue/mailbox.full', `q${i}`);
    const error = withTimeout(new Promise<IFrame>((resolve) => (client.onStompError = resolve)), WAIT_MS, 'STOMP ERROR');
    client.publish({ destination: '/queue/mailbox.full', body: 'q3' });
    assert.equal((await error).headers['message'], 'limit exceeded');
    assert.equal(await dropped('queue'), before);
    const { client: reader } = await stompjs.tcp(r.stompPort);
    const inbox = new Inbox();
    await subscribeConfirmed(reader, '/queue/mailbox.full', inbox);
    await inbox.count(3, 'what the queue held');
    assert.deepEqual(inbox.bodies(), ['q0', 'q1', 'q2']);
  });
});
