/**
 * Floods beyond the inbound rate limits (limits.messagesPerSecond, rateLimitDisconnectMs):
 * a flooder on every protocol and transport is throttled and then disconnected with its
 * protocol's error (WAMP GOODBYE/ABORT wamp.error.rate_limit_exceeded, MQTT 5 DISCONNECT
 * 0x96, STOMP ERROR), while well-behaved clients that stay under the limit keep being
 * served; the throttling shows in the metrics. Afterwards the router is alive, logged no
 * error, and its heap is back near its start.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { HostileRouter, assertWellBehavedClientsWork, within, type Memory } from '../helpers/hostile';
import { startFlooders, type FloodResult } from '../helpers/hostile-flood';
import { codecs } from '../helpers/raw-wamp';
import { metricValue } from '../helpers/robustness';

const RATE = 200;
const DISCONNECT_MS = 1500;
/** long enough for every flooder to be disconnected: the deadline plus room for a loaded machine */
const FLOOD_MS = DISCONNECT_MS + 6000;

let r: HostileRouter;
let base: Memory;

before(async () => {
  r = await HostileRouter.start({
    wamp: { helloTimeoutMs: 10_000 },
    mqtt: { connectTimeoutMs: 10_000 },
    stomp: { connectTimeoutMs: 10_000 },
    limits: { messagesPerSecond: RATE, rateLimitDisconnectMs: DISCONNECT_MS },
  });
  await assertWellBehavedClientsWork(r, 'ratewarmup');
  base = await r.memory();
});

after(async () => {
  await r.stop();
});

function rawSocketMessages(bytes: Buffer): unknown[] {
  const out: unknown[] = [];
  for (let at = 4; at + 4 <= bytes.length;) {
    const len = bytes.readUInt32BE(at) & 0xffffff;
    if (bytes[at] === 0 && at + 4 + len <= bytes.length) out.push(codecs.msgpack.decode(bytes.subarray(at + 4, at + 4 + len)));
    at += 4 + len;
  }
  return out;
}

function mqttPackets(bytes: Buffer, version: 4 | 5): (Packet & { reasonCode?: number })[] {
  const out: (Packet & { reasonCode?: number })[] = [];
  const parser = mqttPacket.parser({ protocolVersion: version });
  parser.on('packet', (p: Packet) => out.push(p));
  parser.parse(bytes);
  return out;
}

/** Each flooder's refusal, as its protocol says it. */
function assertRefused(f: FloodResult): void {
  assert.ok(f.closedByRouter, `${f.name}: disconnected by the router (sent ${f.sent})`);
  const uri = 'wamp.error.rate_limit_exceeded';
  switch (f.name) {
    case 'wamp-ws-json':
    case 'wamp-ws-cbor': {
      // the flooder kept the WebSocket messages concatenated: the URI is in them as
      // text (JSON) or a text string (CBOR)
      assert.ok(f.received.includes(Buffer.from(uri)), `${f.name}: GOODBYE/ABORT ${uri}`);
      return;
    }
    case 'wamp-rawsocket': {
      const m = rawSocketMessages(f.received).find((x): x is unknown[] => Array.isArray(x) && (x[0] === 3 || x[0] === 6));
      assert.equal(m?.[2], uri, `${f.name}: GOODBYE/ABORT ${uri}, got ${JSON.stringify(m)}`);
      return;
    }
    case 'mqtt-tcp-v4':
      return; // MQTT 3.1.1 has no DISCONNECT from the server: the close is the answer
    case 'mqtt-tcp-v5':
    case 'mqtt-ws-v5': {
      const d = mqttPackets(f.received, 5).find((p) => p.cmd === 'disconnect');
      assert.equal(d?.reasonCode, 0x96, `${f.name}: DISCONNECT 0x96 Message rate too high`);
      return;
    }
    default:
      assert.match(f.received.toString('utf8'), /ERROR\n(.*\n)*message:/, `${f.name}: STOMP ERROR`);
  }
}

test('flooders beyond messagesPerSecond on every protocol are throttled, then disconnected with their protocol error', async (t) => {
  const floods = startFlooders(r, FLOOD_MS);
  await within(floods.flowing, 10_000, 'every flooder flooding');
  // well-behaved clients send a handful of messages: under the limit, they are served
  await assertWellBehavedClientsWork(r, 'duringratelimit');
  const results = await Promise.all(floods.results);
  t.diagnostic(results.map((f) => `${f.name}: ${f.sent} sent${f.closedByRouter ? ', disconnected' : ''}`).join('; '));
  for (const f of results) assertRefused(f);
  // counted for the operator: one disconnect per flooder, per gate
  const text = await r.metrics();
  const disconnects = (gate: string): number =>
    metricValue(text, 'gatehouse_limit_hits_total', { gate, limit: 'messages_per_second_disconnect' });
  assert.deepEqual(
    { wamp: disconnects('wamp'), mqtt: disconnects('mqtt'), stomp: disconnects('stomp') },
    { wamp: 3, mqtt: 3, stomp: 2 },
  );
  r.assertHealthy('rate-limited floods');
});

test('afterwards every protocol serves well-behaved clients and memory is back near its start', async () => {
  await assertWellBehavedClientsWork(r, 'ratelimit');
  await r.assertMemoryNear(base, 'rate-limited floods');
  r.assertHealthy('the well-behaved clients');
});
