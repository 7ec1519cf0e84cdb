// Smoke test of the STOMP gate with real clients: @stomp/stompjs over WebSocket (ws,
// subprotocol v12.stomp) and over TCP (@stomp/tcp-wrapper); CONNECT, topic SEND and
// SUBSCRIBE, a work queue with client-individual acks, prefetch and redelivery,
// receipts, STOMP -> WAMP, MQTT -> STOMP, and /rpc/ to a WAMP callee with the result on
// a temporary queue. The full suite lives beside it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { connectMqtt, endAll, joinWamp, publish, waitFor, withTimeout, WAIT_MS } from '../../helpers/mqtt-clients';
import { startRouter, type TestRouter } from '../../helpers/router';
import { RawWampClient } from '../../helpers/wamp-clients';

// @stomp/stompjs declares its types as an ES module; its CommonJS build is loaded with
// require() and typed from those declarations
import type * as Stompjs from '@stomp/stompjs' with { 'resolution-mode': 'import' };
import type { Client as StompClient, IFrame, IMessage, StompConfig } from '@stomp/stompjs' with { 'resolution-mode': 'import' };
import { expectQuiet } from '../../helpers/wait';
const { Client } = require('@stomp/stompjs') as typeof Stompjs;
// the CommonJS build of @stomp/tcp-wrapper has no type declarations
const { TCPWrapper } = require('@stomp/tcp-wrapper') as { TCPWrapper: new (host: string, port: number) => unknown };

let router: TestRouter;
const clients: StompClient[] = [];

before(async () => {
  router = await startRouter({ mqtt: { sysIntervalSeconds: 0 } });
});
after(async () => {
  await Promise.all(clients.map((c) => withTimeout(c.deactivate(), 2000, 'STOMP deactivate').catch(() => undefined)));
  await router.close();
});

/** A stompjs client connected to the router (no reconnects); resolves with CONNECTED. */
async function connectStomp(
  factory: () => unknown,
  config: StompConfig = {},
): Promise<{ client: StompClient; connected: IFrame }> {
  const client = new Client({
    webSocketFactory: factory,
    reconnectDelay: 0,
    heartbeatIncoming: 0,
    heartbeatOutgoing: 0,
    ...config,
  });
  clients.push(client);
  const connected = await withTimeout(
    new Promise<IFrame>((resolve, reject) => {
      client.onConnect = resolve;
      client.onStompError = (f) => reject(new Error(`ERROR ${f.headers['message'] ?? ''}: ${f.body}`));
      client.onWebSocketClose = () => reject(new Error('closed before CONNECTED'));
      client.activate();
    }),
    WAIT_MS,
    'STOMP CONNECTED',
  );
  return { client, connected };
}

function overWs(config: StompConfig = {}): Promise<{ client: StompClient; connected: IFrame }> {
  return connectStomp(() => new WebSocket(router.stompWsUrl, ['v12.stomp']), config);
}

/** Collects the MESSAGEs of one subscription. */
class Inbox {
  readonly messages: IMessage[] = [];
  readonly push = (m: IMessage): void => {
    this.messages.push(m);
  };
  async count(n: number, what: string): Promise<IMessage[]> {
    await waitFor(() => this.messages.length >= n, `${what} (${n} messages, got ${this.messages.length})`);
    return this.messages.slice(0, n);
  }
}

/** SEND with a receipt; resolves when the RECEIPT arrives. */
function sendWithReceipt(
  client: StompClient,
  destination: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<IFrame> {
  const receipt = `r-${Math.random().toString(36).slice(2)}`;
  const got = new Promise<IFrame>((resolve) => client.watchForReceipt(receipt, resolve));
  client.publish({ destination, body, headers: { ...headers, receipt } });
  return withTimeout(got, WAIT_MS, `RECEIPT ${receipt}`);
}

describe('stomp smoke', () => {
  it('connect - CONNECTED negotiates 1.2 over WebSocket and TCP', async () => {
    const ws = await overWs({ connectHeaders: { login: 'guest', passcode: 'guest' } });
    assert.equal(ws.connected.headers['version'], '1.2');
    assert.equal(ws.connected.headers['server'], 'Gatehouse');
    assert.match(ws.connected.headers['session'] ?? '', /^\d+$/);
    const tcp = await connectStomp(() => new TCPWrapper('127.0.0.1', router.stompPort));
    assert.equal(tcp.connected.headers['version'], '1.2');
  });

  it('topic - SEND reaches a SUBSCRIBE with its headers, and a receipt', async () => {
    const { client } = await overWs();
    const inbox = new Inbox();
    client.subscribe('/topic/smoke.*.news', inbox.push, { id: 'news' });
    await sendWithReceipt(client, '/topic/smoke.sub.news', 'hello', { 'content-type': 'text/plain', 'x-trace': 'abc' });
    const [m] = await inbox.count(1, 'topic message');
    assert.ok(m);
    assert.equal(m.body, 'hello');
    assert.equal(m.headers['destination'], '/topic/smoke.sub.news');
    assert.equal(m.headers['subscription'], 'news');
    assert.equal(m.headers['content-type'], 'text/plain');
    assert.equal(m.headers['x-trace'], 'abc');
  });

  it('queue - client-individual acks, prefetch, and redelivery after a consumer leaves', async () => {
    const { client: producer } = await overWs();
    for (const body of ['m1', 'm2', 'm3']) await sendWithReceipt(producer, '/queue/smoke.work', body);

    // the first consumer takes one message (prefetch 1) and leaves without acking it
    const { client: first } = await overWs();
    const firstInbox = new Inbox();
    first.subscribe('/queue/smoke.work', firstInbox.push, { id: 'w', ack: 'client-individual', 'prefetch-count': '1' });
    const [taken] = await firstInbox.count(1, 'first delivery');
    assert.equal(taken?.body, 'm1');
    await expectQuiet();
    assert.equal(firstInbox.messages.length, 1, 'prefetch 1: nothing more before the ack');
    await first.deactivate();

    // the next consumer gets it again, marked redelivered, then the rest in order
    const { client: second } = await overWs();
    const inbox = new Inbox();
    second.subscribe(
      '/queue/smoke.work',
      (m) => {
        inbox.push(m);
        m.ack();
      },
      { id: 'w2', ack: 'client-individual' },
    );
    const got = await inbox.count(3, 'queue deliveries');
    assert.deepEqual(
      got.map((m) => m.body),
      ['m1', 'm2', 'm3'],
    );
    assert.equal(got[0]?.headers['redelivered'], 'true');
    assert.equal(got[0]?.headers['destination'], '/queue/smoke.work');
    await waitFor(
      () => router.router.queues.size('queue:6:realm1:smoke.work').messages === 0,
      'acked messages removed from the store',
    );
  });

  it('cross-protocol - STOMP to WAMP and MQTT to STOMP', async () => {
    // autobahn hides EVENT details it does not know: the headers are read off the wire
    const wamp = await RawWampClient.open(router.wsUrl);
    const { client: mqtt } = await connectMqtt(router.mqttUrl, { protocolVersion: 5 });
    try {
      const subId = await wamp.subscribe('smoke.wamp');
      const { client } = await overWs();
      await sendWithReceipt(client, '/topic/smoke.wamp', '{"n":1}', { 'content-type': 'application/json', 'x-trace': 'abc' });
      const ev = await wamp.event(subId, 'WAMP EVENT');
      const details = (ev[3] ?? {}) as Record<string, unknown>;
      assert.deepEqual(ev[4], [{ n: 1 }]);
      assert.equal(details['content_type'], 'application/json');
      assert.deepEqual(details['user_properties'], { 'x-trace': 'abc' });

      const inbox = new Inbox();
      const receipt = 'sub-mqtt';
      const subscribed = new Promise<IFrame>((resolve) => client.watchForReceipt(receipt, resolve));
      client.subscribe('/topic/smoke.mqtt.#', inbox.push, { id: 'm', receipt });
      await withTimeout(subscribed, WAIT_MS, 'SUBSCRIBE receipt');
      await publish(mqtt, 'smoke/mqtt/room1', Buffer.from([0, 1, 2, 255]), { qos: 1 });
      const [m] = await inbox.count(1, 'MQTT message over STOMP');
      assert.equal(m?.headers['destination'], '/topic/smoke.mqtt.room1');
      assert.deepEqual([...(m?.binaryBody ?? [])], [0, 1, 2, 255]);
    } finally {
      await endAll([mqtt]);
      await wamp.close();
    }
  });

  it('rpc - SEND to /rpc/ calls a WAMP procedure, the result comes back on a temp queue', async () => {
    const wamp = await joinWamp(router);
    try {
      await wamp.session.register('smoke.add', (args) => (args[0] as number) + (args[1] as number));
      const replies = new Inbox();
      const { client } = await overWs({ onUnhandledMessage: replies.push });
      client.publish({
        destination: '/rpc/smoke.add',
        body: '[2, 3]',
        headers: { 'reply-to': '/temp-queue/rpc', 'correlation-id': 'c1' },
      });
      const [r] = await replies.count(1, 'RPC result');
      assert.equal(r?.body, '5');
      assert.equal(r?.headers['correlation-id'], 'c1');
      assert.equal(r?.headers['destination'], '/temp-queue/rpc');
      assert.equal(r?.headers['content-type'], 'application/json');
    } finally {
      await wamp.close();
    }
  });
});
