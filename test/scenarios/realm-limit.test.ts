/**
 * limits.maxRealms: with autoCreateRealms (the default) a client names the realm, and
 * realms are never dropped, so without a cap one anonymous client could grow the router
 * (and the metrics' per-realm series) without bound, one new realm per connection (found
 * by the hostile-client suite). Past the cap each protocol refuses an unknown realm as
 * no such realm; known realms keep working.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connect } from '../helpers/autobahn';
import { connectMqtt, connectRefused, endAll } from '../helpers/mqtt-clients';
import { expectAbortAndClose, WsPeer, destroyAllRawPeers, HELLO_DETAILS } from '../helpers/raw-wamp';
import { startRouter, type TestRouter } from '../helpers/router';
import { RawClients, frameBytes } from '../helpers/stomp-clients';

const MAX = 5;
let r: TestRouter;
const stomp = new RawClients();

before(async () => {
  r = await startRouter({ limits: { maxRealms: MAX } });
});

after(async () => {
  destroyAllRawPeers();
  stomp.closeAll();
  await r.close();
});

test('WAMP HELLOs naming new realms create them only up to limits.maxRealms, then get no_such_realm', async () => {
  // realm1 is configured: MAX - 1 more may be created
  for (let i = 1; i < MAX; i++) {
    const c = await connect({ url: r.wsUrl, protocols: ['wamp.2.json'] }, `auto.${i}`);
    await c.close();
  }
  assert.equal(r.router.realmNames().length, MAX);
  const peer = await WsPeer.open(r.wsUrl, 'json');
  peer.send([1, 'auto.one.too.many', HELLO_DETAILS]);
  await expectAbortAndClose(peer, 'wamp.error.no_such_realm');
  assert.equal(r.router.realmNames().length, MAX, 'no realm was created');
  // an existing auto-created realm still accepts sessions
  const again = await connect({ url: r.wsUrl, protocols: ['wamp.2.json'] }, 'auto.1');
  await again.close();
});

test('MQTT user@realm and STOMP login@realm cannot create realms past the cap either', async () => {
  const code = await connectRefused(r.mqttUrl, { protocolVersion: 5, username: 'bob@mqtt.new.realm' });
  assert.equal(code, 0x87, 'MQTT CONNACK: not authorized (no such realm)');
  const c = await stomp.open(r.stompPort);
  c.write(frameBytes('CONNECT', { 'accept-version': '1.2', host: 'x', login: 'bob@stomp.new.realm' }));
  const err = await c.expect('ERROR', 'ERROR for an unknown realm');
  assert.match(err.headers.find(([n]) => n === 'message')?.[1] ?? '', /no such realm/);
  assert.equal(r.router.realmNames().length, MAX);
  const { client } = await connectMqtt(r.mqttUrl, { protocolVersion: 5, username: 'bob@auto.2' });
  await endAll([client]);
});
