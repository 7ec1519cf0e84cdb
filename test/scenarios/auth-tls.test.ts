// Authentication by TLS client certificate on every gate (authmethod `tls`): autobahn
// over wss, mqtt.js over mqtts and stompit over TLS present the test CA's client
// certificate (CN device-7) and join as the user record of that CN, with anonymous
// access off; without a certificate the same clients are refused with their protocol's
// error. Certificates and listeners are those of test/scenarios/tls.test.ts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Router } from '../../index';
import type { SessionIdentity } from '../../lib/session';
import { connect } from '../helpers/autobahn';
import { connectMqtt, connectRefused, endAll } from '../helpers/mqtt-clients';
import { stompitConnect, stompitDisconnect, withTimeout, WAIT_MS, type StompitConnectOptions } from '../helpers/stomp-clients';
import type { MqttClient } from 'mqtt';

const dir = join(__dirname, '../fixtures/tls');
const pem = (name: string): Buffer => readFileSync(join(dir, name));
const ca = pem('ca.crt');
const client = { cert: pem('client.crt'), key: pem('client.key') };
/** a certificate the test CA did not sign (autobahn speaks TLS only with a client certificate) */
const stranger = { cert: pem('server.crt'), key: pem('server.key') };
const optional = {
  certFile: join(dir, 'ca-server.crt'),
  keyFile: join(dir, 'ca-server.key'),
  caFile: join(dir, 'ca.crt'),
  requestCert: true,
};

let router: Router;
const ports = { wss: 0, mqtts: 0, stomps: 0 };
const mqttClients: MqttClient[] = [];

before(async () => {
  router = new Router({
    log: { level: 'silent' },
    store: { path: ':memory:' },
    mqtt: { sysIntervalSeconds: 0 },
    auth: { anonymous: 'never', users: [{ authid: 'device-7', role: 'device' }] },
  });
  await router.start();
  ports.wss = (await router.listenWAMP({ port: 0, tls: optional })).port;
  ports.mqtts = (await router.listenMQTT({ port: 0, tls: optional })).port;
  ports.stomps = (await router.listenSTOMP({ port: 0, tls: optional })).port;
});
after(async () => {
  await endAll(mqttClients);
  await router.close();
});

/** Identities of the gate's live sessions in realm1. */
function identities(gate: string): SessionIdentity[] {
  const realm = router.realm('realm1');
  return realm ? [...realm.sessions.values()].filter((s) => s.transport.gate === gate).map((s) => s.identity) : [];
}

const device7 = { authid: 'device-7', authrole: 'device', authmethod: 'tls', authprovider: 'static' };

void describe('auth tls', () => {
  void it("auth tls - WAMP: authmethod tls over wss joins as the certificate's CN; an unverified certificate fits no method", async () => {
    const c = await withTimeout(
      connect({ url: `wss://127.0.0.1:${ports.wss}/ws`, tlsConfiguration: { ca, ...client }, authmethods: ['tls'] }),
      WAIT_MS,
      'wss join',
    );
    try {
      assert.equal(c.details['authid'], 'device-7');
      assert.equal(c.details['authrole'], 'device');
      assert.equal(c.details['authmethod'], 'tls');
    } finally {
      await c.close();
    }
    await assert.rejects(
      withTimeout(
        connect({ url: `wss://127.0.0.1:${ports.wss}/ws`, tlsConfiguration: { ca, ...stranger }, authmethods: ['tls'] }),
        WAIT_MS,
        'wss join',
      ),
      /wamp\.error\.no_auth_method/,
    );
    await assert.rejects(
      withTimeout(
        connect({ url: `wss://127.0.0.1:${ports.wss}/ws`, tlsConfiguration: { ca, ...stranger } }),
        WAIT_MS,
        'wss join',
      ),
      /wamp\.error\.not_authorized/,
      'anonymous is off',
    );
  });

  void it("auth tls - MQTT: a CONNECT without credentials over mqtts is the certificate's user; without one it is refused", async () => {
    const url = `mqtts://127.0.0.1:${ports.mqtts}`;
    const { client: c } = await connectMqtt(url, { ca, servername: 'localhost', protocolVersion: 5, ...client });
    mqttClients.push(c);
    assert.deepEqual(identities('mqtt'), [device7]);
    assert.equal(await connectRefused(url, { ca, servername: 'localhost', protocolVersion: 5 }), 0x87);
    assert.equal(await connectRefused(url, { ca, servername: 'localhost', protocolVersion: 4 }), 5);
  });

  void it('auth tls - STOMP: stompit over TLS with the certificate connects as its user; without one it gets ERROR', async () => {
    const opts = {
      port: ports.stomps,
      ssl: true,
      ca,
      servername: 'localhost',
      connectHeaders: { host: 'localhost' },
    } as StompitConnectOptions;
    const c = await stompitConnect({ ...opts, ...client });
    assert.deepEqual(identities('stomp'), [device7]);
    await stompitDisconnect(c);
    await assert.rejects(stompitConnect(opts), /not authorized/);
  });
});
