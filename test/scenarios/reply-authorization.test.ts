// One rule for reply targets on every gate (lib/queue-authorization.ts, README
// "Authorization"): the reply of a bridged call (MQTT `$rpc/` response topic, STOMP
// `/rpc/` reply-to) may only go where the requester could publish itself, and not to a
// topic the router reserves; a refused target is refused before the call, on both gates,
// and the client is told: STOMP by an ERROR, MQTT by PUBACK 0x87 and, since a QoS 0
// request has no ack, by an error reply on its response topic delivered to it alone.
// mqtt.js and @stomp/stompjs requesters, an autobahn callee.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import { connectMqtt, endAll, joinWamp, MessageLog, metricValue, subscribe, uniqueId } from '../helpers/mqtt-clients';
import { startRouter, type TestRouter } from '../helpers/router';
import {
  Inbox,
  StompjsClients,
  subscribeConfirmed,
  withTimeout,
  WAIT_MS,
  type IFrame,
  type StompClient,
} from '../helpers/stomp-clients';

const NOT_AUTHORIZED = 0x87;

let r: TestRouter;
const mqtts: MqttClient[] = [];
const stompjs = new StompjsClients();
let wamp: Awaited<ReturnType<typeof joinWamp>> | undefined;
let calls = 0;

before(async () => {
  r = await startRouter({
    mqtt: { sysIntervalSeconds: 0 },
    auth: {
      roles: {
        anonymous: {
          permissions: [
            { uri: 'app.', match: 'prefix', allow: ['call', 'register'] },
            { uri: 'replies.ok', allow: ['publish', 'subscribe'] },
            // may listen there, may not write there: no reply may be sent there for it
            { uri: 'replies.denied', allow: ['subscribe'] },
            // the rules would allow it: the router's own topics are refused all the same
            { uri: 'wamp.', match: 'prefix', allow: ['publish', 'subscribe'] },
            { uri: 'gatehouse.queue.ok', allow: ['publish', 'subscribe'] },
            { uri: 'gatehouse.queue.denied', allow: ['subscribe'] },
          ],
        },
      },
    },
  });
  wamp = await joinWamp(r);
  await withTimeout(
    wamp.session.register('app.count', () => ++calls),
    WAIT_MS,
    'register',
  );
});
after(async () => {
  await endAll(mqtts);
  await stompjs.closeAll();
  await wamp?.close();
  await r.close();
});

async function mqttRequester(log: MessageLog): Promise<MqttClient> {
  const { client } = await connectMqtt(r.mqttUrl, { protocolVersion: 5, clientId: uniqueId('reply') }, log);
  mqtts.push(client);
  return client;
}

/** Publishes a `$rpc/` request; QoS 1 resolves with the PUBACK's reason code, QoS 0 with 0 once sent. */
function mqttRequest(client: MqttClient, responseTopic: string, qos: 0 | 1, id: string): Promise<number | undefined> {
  const properties = { responseTopic, correlationData: Buffer.from(id) };
  return withTimeout(
    client.publishAsync('$rpc/app.count', '[]', { qos, properties }).then(
      () => 0,
      (err: unknown) => (err as { code?: number }).code,
    ),
    WAIT_MS,
    `$rpc request ${id}`,
  );
}

/** Resolves with the next ERROR frame of a stompjs client. */
function stompError(client: StompClient): Promise<IFrame> {
  return withTimeout(new Promise<IFrame>((resolve) => (client.onStompError = resolve)), WAIT_MS, 'STOMP ERROR');
}

/** A STOMP `/rpc/` request; resolves with the ERROR it gets, or undefined when its reply came. */
async function stompRequest(replyTo: string, replies?: Inbox): Promise<IFrame | undefined> {
  const { client } = await stompjs.tcp(r.stompPort);
  if (replies) await subscribeConfirmed(client, replyTo, replies);
  const error = replies ? undefined : stompError(client);
  client.publish({ destination: '/rpc/app.count', body: '[]', headers: { 'reply-to': replyTo, 'correlation-id': 's' } });
  if (error) return error;
  await replies?.count(1, `the reply on ${replyTo}`);
  return undefined;
}

describe('reply targets - one rule for MQTT $rpc and STOMP /rpc', () => {
  it('mqtt and stompjs - a topic the requester may publish to gets the reply, on both gates', async () => {
    const log = new MessageLog();
    const c = await mqttRequester(log);
    await subscribe(c, 'replies/ok', { qos: 1 });
    assert.equal(await mqttRequest(c, 'replies/ok', 1, 'ok'), 0);
    const [m] = await log.count(1, 'the MQTT reply');
    assert.equal(m?.packet.properties?.userProperties?.['error'], undefined);
    const replies = new Inbox();
    assert.equal(await stompRequest('/topic/replies.ok', replies), undefined);
    assert.equal(replies.messages[0]?.headers['error'], undefined);
  });

  it('mqtt and stompjs - a topic it may only subscribe to is refused before the call, and the client is told on both gates', async () => {
    const before = calls;
    const refusedBefore = await metricValue(r, 'gatehouse_drops_total', { gate: 'mqtt', reason: 'rpc_reply_refused' });
    const log = new MessageLog();
    const c = await mqttRequester(log);
    await subscribe(c, 'replies/denied', { qos: 1 });
    // QoS 1: the PUBACK says so
    assert.equal(await mqttRequest(c, 'replies/denied', 1, 'q1'), NOT_AUTHORIZED);
    // QoS 0 has no ack: the error reply on the response topic, to the requester alone
    await mqttRequest(c, 'replies/denied', 0, 'q0');
    const got = await log.count(2, 'the error replies');
    for (const m of got) {
      assert.equal(m.topic, 'replies/denied');
      assert.equal(m.packet.properties?.userProperties?.['error'], 'wamp.error.not_authorized');
      assert.equal((JSON.parse(m.payload.toString()) as { error: string }).error, 'wamp.error.not_authorized');
    }
    assert.deepEqual(got.map((m) => m.packet.properties?.correlationData?.toString()).sort(), ['q0', 'q1']);
    assert.equal(await metricValue(r, 'gatehouse_drops_total', { gate: 'mqtt', reason: 'rpc_reply_refused' }), refusedBefore + 2);

    const err = await stompRequest('/topic/replies.denied');
    assert.equal(err?.headers['message'], 'not authorized');
    assert.equal(calls, before, 'no refused request was called');
  });

  it('mqtt and stompjs - a topic the router reserves is refused even where the rules would allow it, on both gates', async () => {
    const before = calls;
    const log = new MessageLog();
    const c = await mqttRequester(log);
    assert.equal(await mqttRequest(c, 'wamp/session/on_join', 1, 'w1'), NOT_AUTHORIZED);
    const err = await stompRequest('/topic/wamp.session.on_join');
    assert.equal(err?.headers['message'], 'not authorized');
    assert.equal(calls, before, 'no refused request was called');
  });

  it('stompjs - a queue follows the same rule: gatehouse.queue.<name> needs publish', async () => {
    const before = calls;
    const err = await stompRequest('/queue/denied');
    assert.equal(err?.headers['message'], 'not authorized');
    assert.equal(calls, before);
    const replies = new Inbox();
    assert.equal(await stompRequest('/queue/ok', replies), undefined);
    assert.equal(calls, before + 1);
  });
});
