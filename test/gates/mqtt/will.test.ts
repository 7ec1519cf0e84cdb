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
    // the will is stored when it is published: a live subscriber sees it go out
    const live = await watch('rwill/x');
    await kill(c);
    await live.count(1, 'the will published');
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

  // Will Delay (published after it, cancelled by a return, at the session's end when
  // sooner) is tested on the router's clock in conformance-5.test.ts [MQTT-3.1.2-8],
  // [MQTT-3.1.3-9]: no sleeping through a delay here.

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
