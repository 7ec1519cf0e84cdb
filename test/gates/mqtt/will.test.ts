// MQTT gate, Last Will, with mqtt.js and autobahn: a client whose connection is lost has
// its will published to MQTT and WAMP subscribers; a clean DISCONNECT discards it;
// MQTT 5 will delay (no will when the session resumes in time; the will when the
// session ends first) and DISCONNECT 0x04 "with will".
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { IClientOptions, MqttClient } from 'mqtt';
import {
  closed,
  connectMqtt,
  endAll,
  joinWamp,
  MessageLog,
  MQTT_TRANSPORTS,
  mqttUrl,
  sleep,
  subscribe,
  uniqueId,
  waitFor,
  withTimeout,
  WAIT_MS,
} from '../../helpers/mqtt-clients';
import { startRouter, type TestRouter } from '../../helpers/router';

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

/** A watcher subscribed to `topic`; returns its log. */
async function watch(topic: string): Promise<MessageLog> {
  const log = new MessageLog();
  const c = await open(router.mqttUrl, { protocolVersion: 5, clientId: uniqueId('watch') }, log);
  await subscribe(c, topic, { qos: 1 });
  return log;
}

/** Kills the client's connection without DISCONNECT. */
async function kill(c: MqttClient): Promise<void> {
  const done = closed(c);
  c.stream.destroy();
  await done;
}

for (const t of MQTT_TRANSPORTS) {
  for (const version of [4, 5] as const) {
    void it(`mqtt - a killed client's will reaches MQTT and WAMP subscribers [${t} v${version}]`, async () => {
      const topic = `will/${t}/${version}/status`;
      const log = await watch(topic);
      const wamp = await joinWamp(router);
      try {
        const events: unknown[][] = [];
        await withTimeout(
          wamp.session.subscribe(`will.${t}.${version}.status`, (args) => events.push(args)),
          WAIT_MS,
          'WAMP subscribe',
        );
        const c = await open(mqttUrl(router, t), {
          protocolVersion: version,
          clientId: uniqueId('dying'),
          will: { topic, payload: Buffer.from(JSON.stringify({ online: false })), qos: 1, retain: false },
        });
        await kill(c);
        const [m] = await log.count(1, 'the will over MQTT');
        assert.deepEqual(JSON.parse(m?.payload.toString() ?? ''), { online: false });
        assert.equal(m?.packet.qos, 1);
        await waitFor(() => events.length >= 1, 'the will over WAMP');
        assert.deepEqual(events[0], [{ online: false }]);
      } finally {
        await wamp.close();
      }
    });

    void it(`mqtt - a clean DISCONNECT discards the will [${t} v${version}]`, async () => {
      const topic = `nowill/${t}/${version}`;
      const log = await watch(topic);
      const c = await open(mqttUrl(router, t), {
        protocolVersion: version,
        clientId: uniqueId('polite'),
        will: { topic, payload: Buffer.from('x'), qos: 1, retain: false },
      });
      await new Promise<void>((r) => c.end(false, {}, () => r()));
      await log.quiet(0, 300, 'no will after DISCONNECT');
    });
  }
}

void describe('mqtt will details', () => {
  void it('mqtt - a retained will is kept for later subscribers', async () => {
    const c = await open(router.mqttUrl, {
      protocolVersion: 4,
      clientId: uniqueId('rwill'),
      will: { topic: 'rwill/x', payload: Buffer.from('offline'), qos: 1, retain: true },
    });
    await kill(c);
    await sleep(100);
    const log = await watch('rwill/x');
    const [m] = await log.count(1, 'the retained will');
    assert.equal(m?.payload.toString(), 'offline');
    assert.equal(m?.packet.retain, true);
  });

  void it('mqtt - v5 DISCONNECT with reason 0x04 publishes the will', async () => {
    const log = await watch('will04/x');
    const c = await open(router.mqttUrl, {
      protocolVersion: 5,
      clientId: uniqueId('w04'),
      will: { topic: 'will04/x', payload: Buffer.from('asked-for'), qos: 1, retain: false },
    });
    await new Promise<void>((r) => c.end(false, { reasonCode: 0x04 }, () => r()));
    const [m] = await log.count(1, 'the will after DISCONNECT 0x04');
    assert.equal(m?.payload.toString(), 'asked-for');
  });

  const delayed = (clientId: string, delay: number, expiry: number): IClientOptions => ({
    protocolVersion: 5,
    clientId,
    clean: false,
    properties: { sessionExpiryInterval: expiry },
    will: { topic: 'wdelay/x', payload: Buffer.from(clientId), qos: 1, retain: false, properties: { willDelayInterval: delay } },
  });

  void it('mqtt - v5 will delay: the will waits for the delay, then is published', async () => {
    const log = await watch('wdelay/x');
    const id = uniqueId('wd-late');
    const c = await open(router.mqttUrl, delayed(id, 1, 60));
    const killedAt = Date.now();
    await kill(c);
    await sleep(500);
    assert.equal(log.messages.filter((m) => m.payload.toString() === id).length, 0, 'not before the delay');
    await waitFor(() => log.messages.some((m) => m.payload.toString() === id), 'the delayed will');
    const elapsed = Date.now() - killedAt;
    assert.ok(elapsed >= 900, `published after ${elapsed} ms`);
  });

  void it('mqtt - v5 will delay: a client that reconnects within the delay has no will published', async () => {
    const log = await watch('wdelay/x');
    const id = uniqueId('wd-back');
    const c = await open(router.mqttUrl, delayed(id, 1, 60));
    await kill(c);
    await sleep(300);
    const back = await open(router.mqttUrl, {
      protocolVersion: 5,
      clientId: id,
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    });
    await sleep(1200);
    assert.equal(log.messages.filter((m) => m.payload.toString() === id).length, 0, 'the resumed session cancelled the will');
    await endAll([back]);
  });

  void it('mqtt - v5 will delay longer than the session expiry: the will is published when the session ends', async () => {
    const log = await watch('wdelay/x');
    const id = uniqueId('wd-expiry');
    const c = await open(router.mqttUrl, delayed(id, 30, 1));
    const killedAt = Date.now();
    await kill(c);
    await waitFor(() => log.messages.some((m) => m.payload.toString() === id), 'the will at session end', 3000);
    const elapsed = Date.now() - killedAt;
    assert.ok(elapsed >= 900 && elapsed < 2500, `published after ${elapsed} ms (session expiry 1 s)`);
  });

  void it('mqtt - session takeover publishes the old connection will (no delay)', async () => {
    const log = await watch('wtake/x');
    const id = uniqueId('wtake');
    await open(router.mqttUrl, {
      protocolVersion: 5,
      clientId: id,
      will: { topic: 'wtake/x', payload: Buffer.from('taken'), qos: 1, retain: false },
    });
    await open(router.mqttUrl, { protocolVersion: 5, clientId: id });
    const [m] = await log.count(1, 'the will of the taken-over connection');
    assert.equal(m?.payload.toString(), 'taken');
  });
});
