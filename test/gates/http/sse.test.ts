// GET /subscribe as Server-Sent Events: publications from MQTT (mqtt.js), STOMP
// (@stomp/stompjs), WAMP (autobahn) and HTTP reach an SSE reader as {args, kwargs} with
// the publication id; patterns; curl as a reader; a reader that does not read is
// disconnected and counted (lib/outbox.ts).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import { connectMqtt, endAll, joinWamp, uniqueId, waitFor } from '../../helpers/mqtt-clients';
import { StompjsClients } from '../../helpers/stomp-clients';
import { api, SseReader, startHttpRouter, type HttpTestRouter } from './helpers';
import { pace } from '../../helpers/wait';

let r: HttpTestRouter;
const mqttClients: MqttClient[] = [];
const stomp = new StompjsClients();

before(async () => {
  r = await startHttpRouter({
    http: { api: { keepAliveMs: 200 } },
    limits: { outboundHighWaterBytes: 64 * 1024, outboundQueueBytes: 256 * 1024, slowConsumerTimeoutMs: 300 },
  });
});
after(async () => {
  await endAll(mqttClients);
  await stomp.closeAll();
  await r.close();
});

describe('http sse - delivery from every protocol', () => {
  it('http - an MQTT publication (JSON body) reaches the SSE reader as args', async () => {
    const sse = await SseReader.open(`${r.apiUrl}/subscribe?topic=sse.mqtt.t`);
    try {
      const { client } = await connectMqtt(r.mqttUrl, { clientId: uniqueId('sse') });
      mqttClients.push(client);
      await client.publishAsync('sse/mqtt/t', JSON.stringify({ temp: 21.5 }), { qos: 1 });
      client.publish('sse/mqtt/t', 'plain words');
      await sse.count(2, 'MQTT publications');
      assert.deepEqual(sse.events[0]?.data, { args: [{ temp: 21.5 }], kwargs: {} });
      assert.match(sse.events[0]?.id ?? '', /^\d+$/);
      // not JSON: the bytes, as WAMP JSON carries binary ("\u0000" + base64)
      assert.deepEqual(sse.events[1]?.data, { args: [`\u0000${Buffer.from('plain words').toString('base64')}`], kwargs: {} });
    } finally {
      sse.close();
    }
  });

  it('http - a STOMP SEND reaches the SSE reader', async () => {
    const sse = await SseReader.open(`${r.apiUrl}/subscribe?topic=sse.stomp&match=prefix`);
    try {
      const { client } = await stomp.ws(r.stompWsUrl);
      client.publish({
        destination: '/topic/sse.stomp.x',
        body: JSON.stringify([1, 2]),
        headers: { 'content-type': 'application/json' },
      });
      await sse.count(1, 'the STOMP message');
      assert.deepEqual(sse.events[0]?.data['args'], [[1, 2]]);
    } finally {
      sse.close();
    }
  });

  it('http - a WAMP publication reaches the SSE reader with args and kwargs; wildcard patterns match', async () => {
    const sse = await SseReader.open(`${r.apiUrl}/subscribe?topic=sse..w&match=wildcard`);
    const w = await joinWamp(r);
    try {
      await w.session.publish('sse.wamp.w', [1, 'a'], { k: true }, { acknowledge: true });
      await w.session.publish('sse.wamp.other', [2], {}, { acknowledge: true });
      await w.session.publish('sse.x.w', [3], {}, { acknowledge: true });
      await sse.count(2, 'the WAMP events');
      assert.deepEqual(
        sse.events.map((e) => e.data),
        [
          { args: [1, 'a'], kwargs: { k: true }, details: { topic: 'sse.wamp.w' } },
          { args: [3], kwargs: {}, details: { topic: 'sse.x.w' } },
        ],
      );
    } finally {
      await w.close();
      sse.close();
    }
  });

  it('http - an HTTP publish reaches another SSE reader; keep-alive comments arrive', async () => {
    const sse = await SseReader.open(`${r.apiUrl}/subscribe?topic=sse.http`);
    try {
      const pub = await api(`${r.apiUrl}/publish`, { body: { topic: 'sse.http', kwargs: { hello: 'world' } } });
      await sse.count(1, 'the HTTP publication');
      assert.equal(sse.events[0]?.id, String(pub.body['publication']));
      assert.deepEqual(sse.events[0]?.data, { args: [], kwargs: { hello: 'world' } });
      await sse.until(() => sse.comments.includes('keep-alive'), 'a keep-alive comment');
    } finally {
      sse.close();
    }
  });

  it('http - curl -N reads the stream', async () => {
    const child = spawn('curl', ['-s', '-N', `${r.apiUrl}/subscribe?topic=sse.curl`]);
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    try {
      await waitFor(() => out.includes(': subscribed'), 'curl subscribed');
      await api(`${r.apiUrl}/publish`, { body: { topic: 'sse.curl', args: ['via curl'] } });
      await waitFor(() => out.includes('data: '), 'the event in curl');
      assert.match(out, /id: \d+\nevent: publication\ndata: \{"args":\["via curl"\],"kwargs":\{\}\}\n\n/);
    } finally {
      child.kill();
    }
  });

  it('http - a bad match or no topic is 400 before any stream', async () => {
    assert.equal((await SseReader.open(`${r.apiUrl}/subscribe?topic=a&match=fuzzy`)).status, 400);
    assert.equal((await SseReader.open(`${r.apiUrl}/subscribe`)).status, 400);
  });
});

describe('http sse - lifecycle', () => {
  it('http - closing the router ends open event streams', async () => {
    const other = await startHttpRouter();
    const sse = await SseReader.open(`${other.apiUrl}/subscribe?topic=sse.end`);
    assert.equal(sse.status, 200);
    await other.router.close();
    await sse.until(() => sse.ended, 'the stream ended');
    assert.ok(sse.ended);
    await other.close();
  });
});

describe('http sse - long streams', () => {
  it('http - a stream outlives http.requestTimeoutMs (it bounds receiving the request, not the answer)', async () => {
    const other = await startHttpRouter({ http: { requestTimeoutMs: 300, headersTimeoutMs: 300, api: { keepAliveMs: 50 } } });
    try {
      const sse = await SseReader.open(`${other.apiUrl}/subscribe?topic=sse.long`);
      // 20 keep-alives at 50 ms: well past three request timeouts
      await sse.until(() => sse.comments.filter((c) => c === 'keep-alive').length >= 20, '20 keep-alives', 10_000);
      assert.equal(sse.ended, false);
      await api(`${other.apiUrl}/publish`, { body: { topic: 'sse.long', args: ['still here'] } });
      await sse.count(1, 'an event after the timeouts');
      sse.close();
    } finally {
      await other.close();
    }
  });
});

describe('http sse - backpressure', () => {
  it('http - a reader that stops reading is disconnected as a slow consumer and counted; the subscription goes', async () => {
    // a raw socket that sends the request and then never reads
    const socket = net.connect(Number(new URL(r.baseUrl).port), '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write(`GET /api/subscribe?topic=sse.slow HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n`);
    let head = '';
    await new Promise<void>((resolve) => {
      const onData = (c: Buffer): void => {
        head += c.toString('latin1');
        if (head.includes('subscribed')) {
          socket.off('data', onData);
          socket.pause();
          resolve();
        }
      };
      socket.on('data', onData);
    });
    const big = 'x'.repeat(16 * 1024);
    const w = await joinWamp(r);
    const subscribed = (): boolean => (r.router.realm('realm1')?.broker.matching('sse.slow').length ?? 0) > 0;
    try {
      assert.ok(subscribed());
      // the kernel's socket buffers take a few MB before the router's queue grows
      for (let i = 0; i < 2000 && subscribed(); i++) {
        void w.session.publish('sse.slow', [big]);
        if (i % 20 === 0) await pace(10); // a publisher's rhythm, so the router's queue (not the event loop) fills
      }
      await waitFor(() => !subscribed(), 'the slow SSE reader disconnected and its subscription removed', 10_000);
      const metrics = await r.router.metrics.render();
      assert.match(metrics, /gatehouse_slow_consumers_total\{gate="http",action="disconnected"\} [1-9]/);
    } finally {
      await w.close();
      socket.destroy();
    }
  });
});
