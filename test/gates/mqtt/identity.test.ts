// MQTT gate, who a session is, with mqtt.js and roles (README "Authorization", "MQTT
// sessions and identity"): a Last Will is authorized at CONNECT as the PUBLISH it will be
// (publish, and retain for a retained will; 0x87 / 3.1.1 return code 5); a persistent
// session belongs to the authid that created it, so another user cannot resume or discard
// it; a session restored after a restart keeps its owner's role.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { IClientOptions, MqttClient } from 'mqtt';
import { createUserRecord } from '../../../lib/auth/user-record';
import {
  closed,
  connectMqtt,
  connectRefused,
  endAll,
  MessageLog,
  publish,
  sessionsOfRole,
  subscribe,
  uniqueId,
} from '../../helpers/mqtt-clients';
import { startRouter, type TestRouter } from '../../helpers/router';

const FAST = { N: 1024, r: 8, p: 1 };
const NOT_AUTHORIZED = 0x87;

const roles = {
  anonymous: {
    permissions: [
      { uri: 'open.', match: 'prefix', allow: ['publish', 'subscribe'] },
      { uri: 'wamp.session.', match: 'prefix', allow: ['call'] },
    ],
  },
  user: {
    permissions: [
      { uri: 'open.', match: 'prefix', allow: ['publish', 'subscribe'] },
      { uri: 'status.', match: 'prefix', allow: ['publish', 'subscribe'] },
      { uri: 'private.', match: 'prefix', allow: ['publish', 'subscribe'] },
    ],
  },
};

let users: Awaited<ReturnType<typeof createUserRecord>>[];
let router: TestRouter;
const clients: MqttClient[] = [];
before(async () => {
  users = [
    await createUserRecord({ authid: 'alice', role: 'user', password: 'alice-secret', scrypt: FAST }),
    await createUserRecord({ authid: 'mallory', role: 'user', password: 'mallory-secret', scrypt: FAST }),
  ];
  router = await startRouter({ mqtt: { sysIntervalSeconds: 0 }, auth: { users, roles } });
});
after(async () => {
  await endAll(clients);
  await router.close();
});

async function open(
  url: string,
  opts: IClientOptions,
  log?: MessageLog,
): Promise<{ client: MqttClient; sessionPresent: boolean }> {
  const { client, connack } = await connectMqtt(url, opts, log);
  clients.push(client);
  return { client, sessionPresent: connack.sessionPresent };
}

const alice = { username: 'alice', password: 'alice-secret' };
const mallory = { username: 'mallory', password: 'mallory-secret' };
const will = (topic: string, retain = false) => ({ topic, payload: Buffer.from('gone'), qos: 1 as const, retain });

void describe('mqtt identity', () => {
  void it('mqtt identity - a will on a topic the role may not publish refuses CONNECT: v5 0x87, v4 return code 5', async () => {
    assert.equal(
      await connectRefused(router.mqttUrl, { protocolVersion: 5, clientId: uniqueId('w'), will: will('billing/x') }),
      NOT_AUTHORIZED,
    );
    assert.equal(
      await connectRefused(router.mqttUrl, { protocolVersion: 4, clientId: uniqueId('w'), will: will('billing/x') }),
      5,
    );
    // the same will is fine for a role allowed to publish there
    const ok = await open(router.mqttUrl, { protocolVersion: 5, clientId: uniqueId('w'), will: will('open/x') });
    assert.ok(ok.client.connected);
  });

  void it('mqtt identity - a retained will needs retain too; a plain one on the same topic is published', async () => {
    assert.equal(
      await connectRefused(router.mqttUrl, {
        protocolVersion: 5,
        clientId: uniqueId('w'),
        ...alice,
        will: will('status/alice', true),
      }),
      NOT_AUTHORIZED,
    );
    const log = new MessageLog();
    const watcher = await open(router.mqttUrl, { protocolVersion: 5, clientId: uniqueId('watch'), ...alice }, log);
    await subscribe(watcher.client, 'status/alice', { qos: 1 });
    const dying = await open(router.mqttUrl, {
      protocolVersion: 5,
      clientId: uniqueId('w'),
      ...alice,
      will: will('status/alice'),
    });
    const gone = closed(dying.client);
    dying.client.stream.destroy();
    await gone;
    await log.count(1, 'the will');
    assert.deepEqual(log.texts(), ['gone']);
  });

  for (const version of [4, 5] as const) {
    void it(`mqtt identity - another user cannot resume or discard a persistent session by its client id [v${version}]`, async () => {
      const id = uniqueId(`own-${version}`);
      const persistent: IClientOptions =
        version === 5
          ? { protocolVersion: 5, clientId: id, clean: false, properties: { sessionExpiryInterval: 60 } }
          : { protocolVersion: 4, clientId: id, clean: false };
      const first = await open(router.mqttUrl, { ...persistent, ...alice });
      await subscribe(first.client, 'private/alice', { qos: 1 });
      await new Promise<void>((r) => first.client.end(false, {}, () => r()));
      const refusedCode = version === 5 ? NOT_AUTHORIZED : 5;
      assert.equal(await connectRefused(router.mqttUrl, { ...persistent, ...mallory }), refusedCode, 'another user resuming');
      assert.equal(
        await connectRefused(router.mqttUrl, { ...persistent, ...mallory, clean: true }),
        refusedCode,
        'another user discarding',
      );
      // anonymous: its authid is the client id, not alice
      assert.equal(await connectRefused(router.mqttUrl, persistent), refusedCode, 'an anonymous client');
      const back = await open(router.mqttUrl, { ...persistent, ...alice });
      assert.equal(back.sessionPresent, true, 'the owner resumes its session');
    });
  }
});

void describe('mqtt identity across a restart', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-mqtt-identity-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  void it("mqtt identity - a restored session keeps its owner's role: its subscription is restored and queues", async () => {
    const file = path.join(dir, 'store.db');
    const config = { store: { path: file }, mqtt: { sysIntervalSeconds: 0 }, auth: { users, roles } };
    const opts: IClientOptions = {
      protocolVersion: 5,
      clientId: uniqueId('restored'),
      clean: false,
      properties: { sessionExpiryInterval: 300 },
      ...alice,
    };
    let r = await startRouter(config);
    const opened: MqttClient[] = [];
    try {
      const a = await connectMqtt(r.mqttUrl, opts);
      opened.push(a.client);
      await subscribe(a.client, 'private/restored', { qos: 1 });
      await new Promise<void>((res) => a.client.end(false, {}, () => res()));
      await r.close();
      r = await startRouter(config);
      // published while the owner is offline: queued only if the subscription came back
      const pub = await connectMqtt(r.mqttUrl, { protocolVersion: 5, clientId: uniqueId('pub'), ...alice });
      opened.push(pub.client);
      await publish(pub.client, 'private/restored', 'while-offline', { qos: 1 });
      const log = new MessageLog();
      const b = await connectMqtt(r.mqttUrl, opts, log);
      opened.push(b.client);
      assert.equal(b.connack.sessionPresent, true);
      await log.count(1, 'the message queued for the restored session');
      assert.deepEqual(log.texts(), ['while-offline']);
      assert.equal(await sessionsOfRole(r, 'user'), 2, 'the resumed session and the publisher have role user');
    } finally {
      await endAll(opened);
      await r.close();
    }
  });
});
