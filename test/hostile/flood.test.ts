/**
 * Floods and oversized input on every protocol, against a router in a child process
 * with a 64 KiB message limit:
 * - flooders that write PUBLISH / CALL / SEND as fast as their sockets take them while
 *   well-behaved clients of every protocol must still be served;
 * - one message over the limit per protocol and transport, and frame headers that
 *   announce a huge message without sending it: each gets that protocol's refusal
 *   (WebSocket close 1009, RawSocket close, MQTT DISCONNECT 0x95, STOMP ERROR) and the
 *   connection closes, without the router buffering the body;
 * - a realm flood: connections naming a new realm each stop creating realms at
 *   limits.maxRealms.
 * Afterwards the router is alive, logged no error, and its heap is back near its start.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import mqttPacket from 'mqtt-packet';
import {
  HostileRouter,
  assertWellBehavedClientsWork,
  attackTcp,
  attackWs,
  inParallel,
  within,
  type Memory,
} from '../helpers/hostile';
import { connectBytes } from '../helpers/mqtt-raw';
import { codecs, frameHeader, handshakeBytes } from '../helpers/raw-wamp';
import { helloFor } from '../helpers/hostile-wamp';
import { startFlooders } from '../helpers/hostile-flood';

const LIMIT = 64 * 1024;
const MAX_REALMS = 20;
/** how long each flooder writes */
const FLOOD_MS = 4000;

let r: HostileRouter;
let base: Memory;

before(async () => {
  // default handshake timeouts: a loaded router (and this loaded test process, which
  // floods and checks at once) may take over a second to read a client's HELLO
  const handshakes = {
    wamp: { helloTimeoutMs: 10_000 },
    mqtt: { connectTimeoutMs: 10_000 },
    stomp: { connectTimeoutMs: 10_000 },
  };
  r = await HostileRouter.start({ ...handshakes, limits: { maxMessageSize: LIMIT, maxRealms: MAX_REALMS } });
  await assertWellBehavedClientsWork(r, 'floodwarmup');
  base = await r.memory();
});

after(async () => {
  await r.stop();
});

test('flooders on every protocol do not stop well-behaved clients from being served', async (t) => {
  const floods = startFlooders(r, FLOOD_MS);
  await within(floods.flowing, 10_000, 'every flooder flooding');
  const t0 = Date.now();
  await assertWellBehavedClientsWork(r, 'duringflood');
  t.diagnostic(`well-behaved clients of every protocol checked in ${Date.now() - t0} ms during the flood`);
  const results = await Promise.all(floods.results);
  t.diagnostic(
    `flooders sent ${results.map((x) => `${x.name} ${x.sent}${x.closedByRouter ? ' (closed by the router)' : ''}`).join(', ')}`,
  );
  assert.ok(results.every((x) => x.sent > 0));
  r.assertHealthy('floods');
});

/** A connection that sent `bytes` is refused (`expect` on what came back) and closed by the router. */
async function expectRefusedTcp(port: number, bytes: Buffer[], what: string, expect: (got: Buffer) => void): Promise<void> {
  const o = await attackTcp(port, bytes, 3000);
  assert.ok(o.closed, `${what}: the router closes the connection`);
  expect(Buffer.concat(o.received));
}

test('one message over maxMessageSize on each protocol is refused and its connection closed', async () => {
  const big = 'y'.repeat(LIMIT + 1024);
  // WAMP WebSocket: ws enforces maxPayload on the frame header: close 1009
  for (const ser of ['json', 'msgpack', 'cbor'] as const) {
    const o = await attackWs(
      r.url('wamp', '/ws'),
      [codecs[ser].wsProtocol],
      [helloFor(ser), codecs[ser].encode([16, 1, {}, 'hostile.big', [big]])].map((data) => ({
        data,
        binary: codecs[ser].binary,
      })),
      3000,
    );
    assert.ok(o.closed, `WAMP ${ser}: closed`);
    assert.equal(o.closeCode, 1009, `WAMP ${ser}: close code`);
  }
  // RawSocket: a frame longer than the router announced in its handshake reply
  const hello = helloFor('json');
  const m = codecs.json.encode([16, 1, {}, 'hostile.big', [big]]);
  await expectRefusedTcp(
    r.ports.rawsocket,
    [handshakeBytes(1), Buffer.concat([frameHeader(0, hello.length), hello]), Buffer.concat([frameHeader(0, m.length), m])],
    'RawSocket oversized frame',
    (got) => assert.equal(got[0], 0x7f),
  );
  // MQTT 5: DISCONNECT with 0x95 Packet too large; 3.1.1: just the close
  const connect5 = connectBytes({ clientId: 'big', level: 5 });
  const publish5 = mqttPacket.generate(
    { cmd: 'publish', topic: 'hostile/big', payload: big, qos: 0, retain: false, dup: false },
    { protocolVersion: 5 },
  );
  await expectRefusedTcp(r.ports.mqtt, [connect5, publish5], 'MQTT 5 oversized PUBLISH', (got) => {
    const packets: { cmd: string; reasonCode?: number }[] = [];
    const parser = mqttPacket.parser({ protocolVersion: 5 });
    parser.on('packet', (p: { cmd: string; reasonCode?: number }) => packets.push(p));
    parser.parse(got);
    assert.deepEqual(
      packets.map((p) => `${p.cmd}:${p.reasonCode ?? ''}`),
      ['connack:0', `disconnect:${0x95}`],
    );
  });
  // STOMP: ERROR, then close
  const stompConnect = Buffer.from('CONNECT\naccept-version:1.2\nhost:realm1\n\n\0');
  await expectRefusedTcp(
    r.ports.stomp,
    [stompConnect, Buffer.from(`SEND\ndestination:/topic/hostile.big\n\n${big}\0`)],
    'STOMP oversized SEND',
    (got) => {
      const text = got.toString('utf8');
      assert.match(text, /^CONNECTED\n/);
      assert.match(text, /\0\n*ERROR\n(.*\n)*message:/);
    },
  );
  r.assertHealthy('oversized messages');
});

test('headers that announce a huge message are refused before any of it is sent', async () => {
  const hello = helloFor('json');
  // RawSocket: 16 MiB - 1 announced, nothing follows
  await expectRefusedTcp(
    r.ports.rawsocket,
    [handshakeBytes(1, 15), Buffer.concat([frameHeader(0, hello.length), hello]), frameHeader(0, 0xffffff)],
    'RawSocket 16 MiB header',
    (got) => assert.equal(got[0], 0x7f),
  );
  // MQTT: remaining length 268,435,455 (the largest the varint can say)
  const connect = connectBytes({ clientId: 'huge', level: 4 });
  await expectRefusedTcp(
    r.ports.mqtt,
    [connect, Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f])],
    'MQTT 256 MiB remaining length',
    (got) => assert.equal(got[0], 0x20, 'CONNACK first'),
  );
  // STOMP: content-length of a gigabyte
  const stompConnect = Buffer.from('CONNECT\naccept-version:1.2\nhost:realm1\n\n\0');
  await expectRefusedTcp(
    r.ports.stomp,
    [stompConnect, Buffer.from('SEND\ndestination:/topic/x\ncontent-length:1000000000\n\n')],
    'STOMP content-length 1e9',
    (got) => assert.match(got.toString('utf8'), /ERROR\n(.*\n)*message:/),
  );
  r.assertHealthy('huge announced lengths');
});

test('connections naming a new realm each stop creating realms at limits.maxRealms', async () => {
  const names = Array.from({ length: 300 }, (_, i) => `hostile.realm.${i}`);
  await inParallel(names, 16, async (name) => {
    await attackWs(r.url('wamp', '/ws'), ['wamp.2.json'], [{ data: helloFor('json', name), binary: false }], 50);
  });
  const realms = await r.realms();
  assert.ok(realms.length <= MAX_REALMS, `${realms.length} realms`);
  r.assertHealthy('the realm flood');
});

test('afterwards every protocol serves well-behaved clients and memory is back near its start', async () => {
  await assertWellBehavedClientsWork(r, 'flood');
  await r.assertMemoryNear(base, 'floods and oversized messages');
  r.assertHealthy('the well-behaved clients');
});
