import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import mqtt from 'mqtt';
import { Router } from '../../../index';

const dir = join(__dirname, '../../fixtures/tls');
let router: Router;
let port = 0;

before(async () => {
  router = new Router({ log: { level: 'silent' }, store: { path: ':memory:' }, mqtt: { sysIntervalSeconds: 0 } });
  const l = await router.listenMQTT({ port: 0, tls: { certFile: join(dir, 'server.crt'), keyFile: join(dir, 'server.key') } });
  port = l.port;
});

after(() => router.close());

test('mqtt tls - a client that trusts the certificate publishes and receives over mqtts', async () => {
  const ca = readFileSync(join(dir, 'server.crt'));
  const client = await mqtt.connectAsync(`mqtts://127.0.0.1:${port}`, {
    ca,
    protocolVersion: 5,
    reconnectPeriod: 0,
    connectTimeout: 3000,
  });
  try {
    await client.subscribeAsync('tls/check', { qos: 1 });
    const got = new Promise<string>((resolve) => client.once('message', (_t, p) => resolve(p.toString())));
    await client.publishAsync('tls/check', 'over tls', { qos: 1 });
    assert.equal(await got, 'over tls');
  } finally {
    await client.endAsync(true);
  }
});

test('mqtt tls - a client that does not trust the certificate cannot connect', async () => {
  await assert.rejects(
    mqtt.connectAsync(`mqtts://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 3000 }),
    /self[- ]signed|certificate/i,
  );
});

test('mqtt tls - plain MQTT on the TLS port gets no CONNACK', async () => {
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 1500 });
  const outcome = await new Promise<string>((resolve) => {
    client.once('connect', () => resolve('connected'));
    client.once('error', () => resolve('error'));
    client.once('close', () => resolve('closed'));
  });
  client.end(true);
  assert.notEqual(outcome, 'connected');
});
