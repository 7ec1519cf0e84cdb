// MQTT gate, connection level, with mqtt.js and a raw mqtt-packet client over TCP and
// WebSocket: CONNECT/CONNACK for protocol levels 3, 4 and 5, client identifiers,
// session present, session takeover, the realm from the username, keep alive (client
// and server side) and the DISCONNECT a v5 client gets when the router shuts down.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  closed,
  connectMqtt,
  endAll,
  joinWamp,
  MessageLog,
  MQTT_TRANSPORTS,
  mqttUrl,
  publish,
  serverDisconnect,
  subscribe,
  uniqueId,
  withTimeout,
  WAIT_MS,
} from '../../helpers/mqtt-clients';
import { connectBytes, RawMqtt } from '../../helpers/mqtt-raw';
import { startRouter, type TestRouter } from '../../helpers/router';
import type { MqttClient } from 'mqtt';

let router: TestRouter;
const clients: MqttClient[] = [];
before(async () => {
  router = await startRouter();
});
after(async () => {
  await endAll(clients);
  await router.close();
});

async function open(
  url: string,
  opts: Parameters<typeof connectMqtt>[1],
): Promise<{ client: MqttClient; connack: Awaited<ReturnType<typeof connectMqtt>>['connack'] }> {
  const r = await connectMqtt(url, opts);
  clients.push(r.client);
  return r;
}

// over WebSocket only MQTT 3.1, whose subprotocol is its own (mqttv3.1): 3.1.1 and 5 over
// WebSocket are rows of the scenario matrix (test/scenarios/matrix.test.ts)
const VERSIONS = { tcp: [3, 4, 5], ws: [3] } as const;

for (const t of MQTT_TRANSPORTS) {
  void describe(`mqtt connect [${t}]`, () => {
    for (const version of VERSIONS[t]) {
      void it(`mqtt - CONNACK accepts protocol level ${version} and the client can publish to itself [${t}]`, async () => {
        const opts =
          version === 3 ? { protocolId: 'MQIsdp' as const, protocolVersion: 3 as const } : { protocolVersion: version };
        const { client, connack } = await open(mqttUrl(router, t), { ...opts, clientId: `v${version}-${t}` });
        assert.equal(connack.sessionPresent, false);
        if (version === 5) {
          assert.equal(connack.reasonCode, 0);
          assert.equal(connack.properties?.retainAvailable, true);
          assert.equal(connack.properties?.sharedSubscriptionAvailable, true);
        } else {
          assert.equal(connack.returnCode, 0);
        }
        const log = new MessageLog(client);
        await subscribe(client, `hello/${t}/${version}`, { qos: 1 });
        await publish(client, `hello/${t}/${version}`, 'hi', { qos: 1 });
        const [m] = await log.count(1, 'own message back');
        assert.equal(m?.payload.toString(), 'hi');
        await endAll([client]);
      });
    }
  });
}

void it('mqtt - v5 empty client id gets an assigned client identifier', async () => {
  const { client, connack } = await open(router.mqttUrl, { protocolVersion: 5, clientId: '' });
  const assigned = connack.properties?.assignedClientIdentifier;
  assert.equal(typeof assigned, 'string');
  assert.ok(assigned && assigned.length > 0, 'assigned id is not empty');
  await endAll([client]);
});

void describe('mqtt connect identifiers and sessions', () => {
  void it('mqtt - v4 empty client id with clean=true is accepted (server assigns one)', async () => {
    const { client: raw, connack } = await RawMqtt.connect(router.mqttPort, 4, { clientId: '', clean: true });
    assert.equal(connack.returnCode, 0);
    void raw.destroy();
  });

  for (const [version, clean] of [
    [4, false],
    [3, true],
  ] as const) {
    void it(`mqtt - v${version} empty client id with clean=${clean} is refused with CONNACK return code 2`, async () => {
      const raw = await RawMqtt.socket(router.mqttPort, version);
      try {
        raw.write(connectBytes({ clientId: '', level: version, flags: clean ? 0x02 : 0x00 }));
        const connack = await raw.expect((p) => p.cmd === 'connack', 'CONNACK');
        assert.equal((connack as { returnCode?: number }).returnCode, 2);
        await raw.waitClosed('the refused connection to close');
      } finally {
        void raw.destroy();
      }
    });
  }

  void it('mqtt - v5 empty client id with clean start false gets an assigned identifier', async () => {
    const raw = await RawMqtt.socket(router.mqttPort, 5);
    try {
      raw.write(connectBytes({ clientId: '', level: 5, flags: 0x00 }));
      const connack = await raw.expect((p) => p.cmd === 'connack', 'CONNACK');
      assert.equal(connack.reasonCode, 0);
      assert.equal(typeof connack.properties?.['assignedClientIdentifier'], 'string');
    } finally {
      void raw.destroy();
    }
  });

  void it('mqtt - CONNECT with an unsupported protocol level is refused (return code 1)', async () => {
    const raw = await RawMqtt.socket(router.mqttPort, 4);
    try {
      const bytes = connectBytes({ clientId: 'lvl6' });
      bytes[8] = 6; // protocol level byte: 0x10 len 0x00 0x04 M Q T T <level>
      raw.write(bytes);
      await raw.waitClosed('the connection to close');
      const connack = raw.packets.find((p) => p.cmd === 'connack') as { returnCode?: number } | undefined;
      assert.ok(connack, 'a CONNACK before the close [MQTT-3.1.2-2]');
      assert.equal(connack.returnCode, 1);
    } finally {
      void raw.destroy();
    }
  });

  void it('mqtt - session present is set when clean=false resumes a stored session, not after clean=true', async () => {
    const id = uniqueId('present');
    const a = await open(router.mqttUrl, { protocolVersion: 4, clientId: id, clean: false });
    assert.equal(a.connack.sessionPresent, false, 'first connect: no session yet');
    await endAll([a.client]);
    const b = await open(router.mqttUrl, { protocolVersion: 4, clientId: id, clean: false });
    assert.equal(b.connack.sessionPresent, true, 'second connect resumes');
    await endAll([b.client]);
    const c = await open(router.mqttUrl, { protocolVersion: 4, clientId: id, clean: true });
    assert.equal(c.connack.sessionPresent, false, 'clean session discards it');
    await endAll([c.client]);
  });

  void it('mqtt - v5 session present with clean start false and a session expiry interval', async () => {
    const id = uniqueId('present5');
    const opts = { protocolVersion: 5 as const, clientId: id, clean: false, properties: { sessionExpiryInterval: 60 } };
    const a = await open(router.mqttWsUrl, opts);
    assert.equal(a.connack.sessionPresent, false);
    await endAll([a.client]);
    const b = await open(router.mqttWsUrl, opts);
    assert.equal(b.connack.sessionPresent, true);
    await endAll([b.client]);
  });

  void it('mqtt - session takeover: the first v5 connection gets DISCONNECT 0x8E, the second works', async () => {
    const id = uniqueId('takeover5');
    const first = await open(router.mqttUrl, { protocolVersion: 5, clientId: id });
    const disconnect = serverDisconnect(first.client);
    const firstClosed = closed(first.client);
    const second = await open(router.mqttUrl, { protocolVersion: 5, clientId: id });
    const p = await disconnect;
    assert.equal(p.reasonCode, 0x8e);
    await firstClosed;
    const log = new MessageLog(second.client);
    await subscribe(second.client, 'takeover/five', { qos: 1 });
    await publish(second.client, 'takeover/five', 'still here', { qos: 1 });
    await log.count(1, 'the second connection works');
    await endAll([second.client]);
  });

  void it('mqtt - session takeover: the first v4 connection is closed', async () => {
    const id = uniqueId('takeover4');
    const first = await open(router.mqttWsUrl, { protocolVersion: 4, clientId: id });
    const firstClosed = closed(first.client);
    const second = await open(router.mqttWsUrl, { protocolVersion: 4, clientId: id });
    await firstClosed;
    assert.equal(second.client.connected, true);
    await endAll([second.client]);
  });

  void it('mqtt - a username user@realm2 puts the client in realm2, which does not see realm1 traffic', async () => {
    const r2 = await open(router.mqttUrl, { protocolVersion: 5, clientId: uniqueId('r2'), username: 'alice@realm2' });
    const r1 = await open(router.mqttUrl, { protocolVersion: 5, clientId: uniqueId('r1') });
    const wamp2 = await joinWamp(router, 'realm2');
    try {
      const log2 = new MessageLog(r2.client);
      const log1 = new MessageLog(r1.client);
      const wampArgs: unknown[] = [];
      await withTimeout(
        wamp2.session.subscribe('iso.x', (args) => wampArgs.push(args[0])),
        WAIT_MS,
        'WAMP subscribe',
      );
      await subscribe(r2.client, 'iso/#', { qos: 1 });
      await subscribe(r1.client, 'iso/#', { qos: 1 });
      await publish(r1.client, 'iso/x', '"from realm1"', { qos: 1 });
      await publish(r2.client, 'iso/x', '"from realm2"', { qos: 1 });
      await log1.count(1, 'realm1 message');
      await log2.count(1, 'realm2 message');
      await log1.quiet(1, 200, 'realm1 subscriber');
      await log2.quiet(1, 0, 'realm2 subscriber');
      assert.deepEqual(log1.texts(), ['"from realm1"']);
      assert.deepEqual(log2.texts(), ['"from realm2"']);
      assert.deepEqual(wampArgs, ['from realm2'], 'the WAMP session of realm2 sees realm2 MQTT traffic only');
    } finally {
      await wamp2.close();
      await endAll([r1.client, r2.client]);
    }
  });
});

// Keep alive (a silent client closed after 1.5 times it, its will published; a client
// that pings stays) is tested on the router's clock in conformance-311.test.ts
// [MQTT-3.1.2-24] and conformance-5.test.ts [MQTT-3.1.2-22].

void describe('mqtt server keep alive and shutdown', () => {
  void it('mqtt - server keep alive: keepAliveMaxSeconds caps the client keep alive in the v5 CONNACK', async () => {
    const r = await startRouter({ mqtt: { keepAliveMaxSeconds: 5, sysIntervalSeconds: 0 } });
    const opened: MqttClient[] = [];
    try {
      const a = await connectMqtt(r.mqttUrl, { protocolVersion: 5, clientId: uniqueId('ska'), keepalive: 60 });
      opened.push(a.client);
      assert.equal(a.connack.properties?.serverKeepAlive, 5);
      const b = await connectMqtt(r.mqttUrl, { protocolVersion: 5, clientId: uniqueId('ska'), keepalive: 3 });
      opened.push(b.client);
      assert.equal(b.connack.properties?.serverKeepAlive, undefined, 'a smaller keep alive is kept');
      // keep alive 0 (none) is not allowed either: the server imposes its maximum
      const { client: raw, connack } = await RawMqtt.connect(r.mqttPort, 5, { clientId: uniqueId('ska0'), keepalive: 0 });
      assert.equal(connack.properties?.serverKeepAlive, 5);
      void raw.destroy();
    } finally {
      await endAll(opened);
      await r.close();
    }
  });

  void it('mqtt - router.close() sends a v5 client DISCONNECT 0x8B and closes a v4 client', async () => {
    const r = await startRouter({ mqtt: { sysIntervalSeconds: 0 } });
    const opened: MqttClient[] = [];
    try {
      const v5 = await connectMqtt(r.mqttUrl, { protocolVersion: 5, clientId: uniqueId('bye5') });
      const v5ws = await connectMqtt(r.mqttWsUrl, { protocolVersion: 5, clientId: uniqueId('bye5ws') });
      const v4 = await connectMqtt(r.mqttUrl, { protocolVersion: 4, clientId: uniqueId('bye4') });
      opened.push(v5.client, v5ws.client, v4.client);
      const d5 = serverDisconnect(v5.client);
      const d5ws = serverDisconnect(v5ws.client);
      const c4 = closed(v4.client);
      await r.close();
      assert.equal((await d5).reasonCode, 0x8b);
      assert.equal((await d5ws).reasonCode, 0x8b);
      await c4;
    } finally {
      await endAll(opened);
      await r.close();
    }
  });
});
