// MQTT gate, packets at the edge (issue 16): acknowledgements without their packet
// identifier, and a CONNACK for a client whose Maximum Packet Size is smaller than it.
// Raw clients (test/helpers/mqtt-raw.ts) see the exact bytes the router answers with.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { IConnackPacket, IDisconnectPacket } from 'mqtt-packet';
import { clientId, closeAllRaw, RawMqtt, type Received } from '../../helpers/mqtt-raw';
import { startRouter, type TestRouter } from '../../helpers/router';

const CLOSE_MS = 1000;

let router: TestRouter;
before(async () => {
  router = await startRouter({ mqtt: { sysIntervalSeconds: 0 } });
});
afterEach(closeAllRaw);
after(async () => {
  await closeAllRaw();
  await router.close();
});

function cmds(rs: readonly Received[]): string[] {
  return rs.map((r) => r.packet.cmd);
}

const ACKS = [
  ['PUBACK', 0x40],
  ['PUBREC', 0x50],
  ['PUBREL', 0x62],
  ['PUBCOMP', 0x70],
] as const;

for (const version of [4, 5] as const) {
  void describe(`mqtt packet edges - acknowledgements without a packet identifier [v${version}]`, () => {
    for (const [name, header] of ACKS) {
      void it(`mqtt - a ${name} with remaining length 0 is malformed [MQTT-2.3.1-1]: ${version === 5 ? 'DISCONNECT 0x81' : 'closed'}, no acknowledgement [v${version}]`, async () => {
        const { client: c, connack } = await RawMqtt.connect(router.mqttPort, version, { clientId: clientId('noid') });
        assert.ok(!connack.returnCode && !connack.reasonCode, 'connected');
        // the bytes that follow would be the client's next packet: none may be swallowed
        c.write([header, 0x00]);
        await c.waitClosed(`close after ${name} without an identifier`, CLOSE_MS);
        const rest = c.received.slice(1);
        if (version === 5) {
          assert.deepEqual(cmds(rest), ['disconnect'], 'one DISCONNECT, then close');
          assert.equal((rest[0]?.packet as IDisconnectPacket).reasonCode, 0x81);
        } else {
          assert.deepEqual(cmds(rest), [], 'closed without an answer');
        }
      });
    }

    void it(`mqtt - a PUBREL with its identifier is still answered by a whole PUBCOMP [v${version}]`, async () => {
      const { client: c } = await RawMqtt.connect(router.mqttPort, version, { clientId: clientId('withid') });
      c.write([0x62, 0x02, 0x00, 0x07]);
      const r = await c.take('pubcomp');
      // 3.1.1: 70 02 00 07; 5.0: an unknown id answers 0x92 (Packet Identifier not found)
      assert.deepEqual([...r.raw], version === 5 ? [0x70, 0x04, 0x00, 0x07, 0x92, 0x00] : [0x70, 0x02, 0x00, 0x07]);
      assert.equal(c.isClosed, false);
    });
  });
}

void describe('mqtt packet edges - CONNACK and the client maximum packet size [MQTT-3.1.2-24]', () => {
  void it('mqtt - the full CONNACK is sent when it fits', async () => {
    const { client: c, connack } = await RawMqtt.connect(router.mqttPort, 5, {
      clientId: clientId('fits'),
      properties: { maximumPacketSize: 1024 },
    });
    assert.equal(connack.reasonCode, 0);
    assert.equal(connack.properties?.retainAvailable, true);
    assert.ok((c.received[0]?.raw.length ?? 0) <= 1024);
  });

  void it('mqtt - a client whose maximum packet size is below the full CONNACK gets a smaller one that still carries the limits it must obey', async () => {
    // the full CONNACK here is over 30 bytes (assigned client identifier, limits, flags)
    const max = 20;
    const c = await RawMqtt.open(router.mqttPort, 5);
    c.send({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 5,
      clean: true,
      keepalive: 0,
      clientId: clientId('small'),
      properties: { maximumPacketSize: max },
    });
    const r = await c.take('connack', 'a CONNACK that fits', CLOSE_MS);
    assert.ok(r.raw.length <= max, `CONNACK of ${r.raw.length} bytes for a maximum of ${max}`);
    const connack = r.packet as IConnackPacket;
    assert.equal(connack.reasonCode, 0);
    assert.equal(typeof connack.properties?.maximumPacketSize, 'number', 'the server maximum is kept');
    assert.equal(typeof connack.properties?.receiveMaximum, 'number', 'the receive maximum is kept');
    assert.equal(connack.properties?.retainAvailable, undefined, 'a flag whose absence means the same is left out');
    // and the connection works
    c.send({ cmd: 'pingreq' });
    await c.take('pingresp');
  });

  void it('mqtt - with an empty client identifier the assigned one is kept, so the client learns its identifier', async () => {
    const c = await RawMqtt.open(router.mqttPort, 5);
    c.send({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 5,
      clean: true,
      keepalive: 0,
      clientId: '',
      properties: { maximumPacketSize: 42 },
    });
    const r = await c.take('connack', 'a CONNACK that fits', CLOSE_MS);
    assert.ok(r.raw.length <= 42, `CONNACK of ${r.raw.length} bytes`);
    assert.ok((r.packet as IConnackPacket).properties?.assignedClientIdentifier);
  });

  void it('mqtt - a client whose maximum packet size no CONNACK fits is closed, not left waiting', async () => {
    const c = await RawMqtt.open(router.mqttPort, 5);
    c.send({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 5,
      clean: true,
      keepalive: 0,
      clientId: clientId('tiny'),
      properties: { maximumPacketSize: 8 },
    });
    await c.waitClosed('the close: no CONNACK fits 8 bytes', CLOSE_MS);
    for (const r of c.received) assert.ok(r.raw.length <= 8, `${r.packet.cmd} of ${r.raw.length} bytes sent`);
  });

  void it('mqtt - a refusing CONNACK leaves out its reason string to fit', async () => {
    const c = await RawMqtt.open(router.mqttPort, 5);
    // a will topic with a wildcard is refused with 0x90 and the reason string "invalid will topic"
    c.send({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 5,
      clean: true,
      keepalive: 0,
      clientId: clientId('refused'),
      will: { topic: 'will/+', payload: Buffer.from('x'), qos: 0, retain: false },
      properties: { maximumPacketSize: 16 },
    });
    const r = await c.take('connack', 'the refusing CONNACK', CLOSE_MS);
    assert.ok(r.raw.length <= 16, `CONNACK of ${r.raw.length} bytes`);
    assert.equal((r.packet as IConnackPacket).reasonCode, 0x90);
    assert.equal((r.packet as IConnackPacket).properties?.reasonString, undefined);
    await c.waitClosed('close after the refusal', CLOSE_MS);
  });
});
