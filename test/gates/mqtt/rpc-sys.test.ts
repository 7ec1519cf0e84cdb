// MQTT gate extras: MQTT 5 request/response onto WAMP RPC (`$rpc/<procedure>` with a
// response topic and correlation data calls an autobahn callee) and the Mosquitto-style
// `$SYS/broker/...` counters. A call from every MQTT 5 transport, and the error of a call
// to no procedure, are the scenario matrix's (test/scenarios/matrix.test.ts).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { IClientOptions, MqttClient } from 'mqtt';
import { autobahn } from '../../helpers/autobahn';
import {
  connectMqtt,
  endAll,
  joinWamp,
  MessageLog,
  publish,
  subscribe,
  uniqueId,
  waitFor,
  withTimeout,
  WAIT_MS,
} from '../../helpers/mqtt-clients';
import { ManualClock } from '../../helpers/clock';
import { startRouter, type TestRouter } from '../../helpers/router';

let router: TestRouter;
/** $SYS refreshes run on it: the tests move it to the next one */
const clock = new ManualClock();
const clients: MqttClient[] = [];
let callee: Awaited<ReturnType<typeof joinWamp>>;
before(async () => {
  router = await startRouter({ mqtt: { sysIntervalSeconds: 1 } }, { clock });
  callee = await joinWamp(router);
  const reg = (name: string, fn: Parameters<typeof callee.session.register>[1]): Promise<unknown> =>
    withTimeout(callee.session.register(name, fn), WAIT_MS, `register ${name}`);
  await reg('com.example.add', (args) => (args as number[]).reduce((a, b) => a + b, 0));
  await reg('com.example.greet', (_args, kwargs) => `hello ${String(kwargs['name'])}`);
  await reg('com.example.echo', (args) => new autobahn.Result(args));
  await reg('com.example.fail', () => {
    throw new autobahn.Error('com.example.error.bad_input', ['nope'], { field: 'x' });
  });
});
after(async () => {
  await endAll(clients);
  await callee.close();
  await router.close();
});

async function open(url: string, opts: IClientOptions = {}, log?: MessageLog): Promise<MqttClient> {
  const { client } = await connectMqtt(url, { protocolVersion: 5, clientId: uniqueId('rpc'), ...opts }, log);
  clients.push(client);
  return client;
}

void describe('mqtt $rpc', () => {
  void it('mqtt - $rpc/<procedure> calls a WAMP procedure; the result arrives on the response topic with the correlation data', async () => {
    const c = await open(router.mqttUrl);
    const log = new MessageLog(c);
    await subscribe(c, 'replies/ok', { qos: 1 });
    const props = (corr: string): { responseTopic: string; correlationData: Buffer } => ({
      responseTopic: 'replies/ok',
      correlationData: Buffer.from(corr),
    });
    await publish(c, '$rpc/com.example.add', '[2, 3, 4]', { qos: 1, properties: props('add-1') });
    await publish(c, '$rpc/com/example/greet', '{"name":"mqtt"}', { qos: 1, properties: props('greet-1') });
    await publish(c, '$rpc/com.example.echo', '"one value"', { qos: 1, properties: props('echo-1') });
    const got = await log.count(3, 'three results');
    const byCorr = new Map(got.map((m) => [m.packet.properties?.correlationData?.toString(), m]));
    assert.equal(byCorr.get('add-1')?.payload.toString(), '9');
    assert.equal(byCorr.get('greet-1')?.payload.toString(), '"hello mqtt"');
    assert.equal(byCorr.get('echo-1')?.payload.toString(), '"one value"');
    for (const m of got) {
      assert.equal(m.topic, 'replies/ok');
      assert.equal(m.packet.properties?.userProperties?.['error'], undefined, 'no error property on a result');
    }
    await endAll([c]);
  });
});

void describe('mqtt $rpc errors', () => {
  void it('mqtt - $rpc to a failing procedure: user property error = its URI, body {error, args, kwargs}', async () => {
    const c = await open(router.mqttUrl);
    const log = new MessageLog(c);
    await subscribe(c, 'replies/err', { qos: 1 });
    await publish(c, '$rpc/com.example.fail', '[]', {
      qos: 1,
      properties: { responseTopic: 'replies/err', correlationData: Buffer.from('f1') },
    });
    const [m] = await log.count(1, 'the error');
    assert.equal(m?.packet.properties?.userProperties?.['error'], 'com.example.error.bad_input');
    assert.deepEqual(m?.packet.properties?.correlationData, Buffer.from('f1'));
    assert.deepEqual(JSON.parse(m?.payload.toString() ?? ''), {
      error: 'com.example.error.bad_input',
      args: ['nope'],
      kwargs: { field: 'x' },
    });
    await endAll([c]);
  });

  void it('mqtt - $rpc without a response topic still calls the procedure (fire and forget) and the client keeps working', async () => {
    const calls: unknown[] = [];
    const reg = await withTimeout(
      callee.session.register('com.example.sink', (args) => {
        calls.push(args[0]);
        return null;
      }),
      WAIT_MS,
      'register sink',
    );
    const c = await open(router.mqttUrl);
    await publish(c, '$rpc/com.example.sink', '"fire"', { qos: 1 });
    await waitFor(() => calls.length === 1, 'the call');
    assert.deepEqual(calls, ['fire']);
    await withTimeout(reg.unregister(), WAIT_MS, 'unregister');
    await endAll([c]);
  });
});

void describe('mqtt $SYS', () => {
  void it('mqtt - $SYS/broker/... topics carry the counters, retained, refreshed every mqtt.sysIntervalSeconds', async () => {
    const log = new MessageLog();
    const c = await open(router.mqttUrl, {}, log);
    await subscribe(c, '$SYS/broker/#', { qos: 0 });
    const expected = [
      'uptime',
      'clients/connected',
      'clients/total',
      'messages/received',
      'messages/sent',
      'bytes/received',
      'bytes/sent',
    ].map((s) => `$SYS/broker/${s}`);
    await waitFor(() => expected.every((topic) => log.messages.some((m) => m.topic === topic)), 'every $SYS topic');
    const first = log.messages.filter((m) => m.topic === expected[0]);
    assert.equal(first[0]?.packet.retain, true, 'the first one is the retained replay');
    const latest = (topic: string): number =>
      Number(
        log.messages
          .filter((m) => m.topic === topic)
          .at(-1)
          ?.payload.toString(),
      );
    for (const topic of expected) assert.ok(Number.isFinite(latest(topic)), `${topic} is a number`);
    // the retained values may predate this client: the next refresh is live
    clock.advance(1000);
    await waitFor(
      () => log.messages.some((m) => m.topic === '$SYS/broker/clients/connected' && !m.packet.retain),
      'a live $SYS refresh',
      2500,
    );
    assert.ok(latest('$SYS/broker/clients/connected') >= 1, 'at least this client is connected');
    const receivedBefore = latest('$SYS/broker/bytes/received');
    const count = log.messages.length;
    for (let i = 0; i < 5; i++) await publish(c, 'sys/traffic', 'x'.repeat(100), { qos: 1 });
    // the next refresh
    clock.advance(1000);
    await waitFor(() => log.messages.length >= count + expected.length, 'the next $SYS refresh', 2500);
    await waitFor(
      () => latest('$SYS/broker/bytes/received') >= receivedBefore + 500,
      'bytes/received to grow by what was published',
      2500,
    );
    await endAll([c]);
  });

  void it('mqtt - a filter starting with # or + does not match $SYS topics [MQTT-4.7.2-1]', async () => {
    const log = new MessageLog();
    const c = await open(router.mqttUrl, {}, log);
    await subscribe(c, '#', { qos: 0 });
    await subscribe(c, '+/broker/uptime', { qos: 0 });
    clock.advance(1000); // one $SYS refresh, published before this client's marker
    await publish(c, 'sys/marker', 'marker', { qos: 1 });
    await waitFor(() => log.messages.some((m) => m.topic === 'sys/marker'), 'the marker through #');
    assert.deepEqual(
      log.messages.filter((m) => m.topic.startsWith('$')).map((m) => m.topic),
      [],
    );
    await endAll([c]);
  });
});
