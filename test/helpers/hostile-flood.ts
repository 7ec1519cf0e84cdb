/**
 * Flooders for the hostile suites: one client per protocol and transport that completes
 * its handshake and then writes as fast as its socket drains, for a while or until the
 * router closes it, keeping what the router sent.
 */
import net from 'node:net';
import mqttPacket from 'mqtt-packet';
import { WebSocket, type RawData } from 'ws';
import { within, type HostileRouter } from './hostile';
import { connectBytes } from './mqtt-raw';
import { helloFor } from './hostile-wamp';
import { codecs, frameHeader, handshakeBytes } from './raw-wamp';
import { pace } from './wait';

export interface FloodResult {
  name: string;
  sent: number;
  closedByRouter: boolean;
  /** the router's bytes (WebSocket: messages concatenated) */
  received: Buffer;
}

/** A flooder this many messages in is flooding (past its handshake, its rhythm set). */
const FLOWING_AFTER = 100;

/** Yields to the event loop every 100 writes, so that every flooder (and the clients checked meanwhile) runs. */
async function yieldEvery100(sent: number): Promise<void> {
  if (sent % 100 === 0) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * Writes `first` (the handshake), waits for the router's first answer, then writes
 * `next(i)` as fast as the socket drains, for `ms` or until the router closes it.
 * Calls `flowing` once: FLOWING_AFTER messages in, or when it ends before that.
 */
export async function floodTcp(
  name: string,
  port: number,
  first: Buffer,
  next: (i: number) => Buffer,
  ms: number,
  flowing: () => void = () => undefined,
): Promise<FloodResult> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  socket.on('error', () => undefined);
  const got: Buffer[] = [];
  const answered = new Promise((resolve) => socket.once('data', resolve));
  socket.on('data', (d: Buffer) => got.push(d));
  let closed = false;
  socket.once('close', () => (closed = true));
  await within(new Promise((resolve) => socket.once('connect', resolve)), 3000, `${name}: TCP connect`);
  socket.write(first);
  await within(answered, 3000, `${name}: the handshake answer`);
  const end = Date.now() + ms;
  let sent = 0;
  while (!closed && Date.now() < end) {
    // a full socket buffer: go on when it drains, or after 200 ms anyway (a flooder does not wait long)
    if (!socket.write(next(sent++))) await Promise.race([new Promise((resolve) => socket.once('drain', resolve)), pace(200)]);
    await yieldEvery100(sent);
    if (sent === FLOWING_AFTER) flowing();
  }
  if (sent < FLOWING_AFTER) flowing();
  const closedByRouter = closed;
  socket.destroy();
  return { name, sent, closedByRouter, received: Buffer.concat(got) };
}

export async function floodWs(
  name: string,
  url: string,
  protocol: string,
  first: Buffer,
  next: (i: number) => Buffer,
  binary: boolean,
  ms: number,
  flowing: () => void = () => undefined,
): Promise<FloodResult> {
  const ws = new WebSocket(url, [protocol], { perMessageDeflate: false });
  ws.on('error', () => undefined);
  const got: Buffer[] = [];
  const answered = new Promise((resolve) => ws.once('message', resolve));
  ws.on('message', (d: RawData) => got.push(Buffer.isBuffer(d) ? d : Buffer.concat(d as Buffer[])));
  let closed = false;
  ws.once('close', () => (closed = true));
  await within(new Promise((resolve) => ws.once('open', resolve)), 3000, `${name}: WebSocket open`);
  ws.send(first, { binary });
  await within(answered, 3000, `${name}: the handshake answer`);
  const end = Date.now() + ms;
  let sent = 0;
  while (!closed && Date.now() < end) {
    ws.send(next(sent++), { binary });
    // ws has no drain event: back off while a MB is queued, so the flooder's own memory stays bounded
    if (ws.bufferedAmount > 1 << 20) await pace(5);
    await yieldEvery100(sent);
    if (sent === FLOWING_AFTER) flowing();
  }
  if (sent < FLOWING_AFTER) flowing();
  const closedByRouter = closed;
  ws.terminate();
  return { name, sent, closedByRouter, received: Buffer.concat(got) };
}

const PAYLOAD = 'x'.repeat(200);
const STOMP_CONNECT = Buffer.from('CONNECT\naccept-version:1.2\nhost:realm1\n\n\0');
const STOMP_SEND = Buffer.from(`SEND\ndestination:/topic/hostile.flood\n\n${PAYLOAD}\0`);

function mqttPublish(qos: 0 | 1, version: 4 | 5): (i: number) => Buffer {
  return (i) =>
    mqttPacket.generate(
      { cmd: 'publish', topic: 'hostile/flood', payload: PAYLOAD, qos, messageId: (i % 65535) + 1, retain: false, dup: false },
      { protocolVersion: version },
    );
}

/**
 * One flooder per protocol and transport, started at once: WAMP PUBLISH (WebSocket
 * json), CALL to nobody (WebSocket cbor, each answered with ERROR), PUBLISH (RawSocket
 * msgpack); MQTT 3.1.1 QoS 0 and MQTT 5 QoS 1 over TCP, MQTT 5 QoS 0 over WebSocket;
 * STOMP SEND over TCP and WebSocket.
 */
export interface Floods {
  /** each flooder's outcome, once its `ms` are over or the router closed it */
  results: Promise<FloodResult>[];
  /** every flooder is flooding (or already done): what a check "during the flood" waits for */
  flowing: Promise<void>;
}

export function startFlooders(r: HostileRouter, ms: number): Floods {
  let reported = 0;
  let allFlowing: () => void = () => undefined;
  const flowing = new Promise<void>((resolve) => (allFlowing = resolve));
  // each flooder reports once (floodTcp / floodWs): the last one resolves `flowing`
  const report = (): void => {
    if (++reported === results.length) allFlowing();
  };
  const rawHello = helloFor('msgpack');
  const rawPublish = (i: number): Buffer => {
    const m = codecs.msgpack.encode([16, i + 1, {}, 'hostile.flood', [PAYLOAD]]);
    return Buffer.concat([frameHeader(0, m.length), m]);
  };
  const results = [
    floodWs(
      'wamp-ws-json',
      r.url('wamp', '/ws'),
      'wamp.2.json',
      helloFor('json'),
      (i) => Buffer.from(JSON.stringify([16, i + 1, {}, 'hostile.flood', [PAYLOAD]])),
      false,
      ms,
      report,
    ),
    floodWs(
      'wamp-ws-cbor',
      r.url('wamp', '/ws'),
      'wamp.2.cbor',
      helloFor('cbor'),
      (i) => codecs.cbor.encode([48, i + 1, {}, 'hostile.no.such.procedure', [PAYLOAD]]),
      true,
      ms,
      report,
    ),
    floodTcp(
      'wamp-rawsocket',
      r.ports.rawsocket,
      Buffer.concat([handshakeBytes(2), frameHeader(0, rawHello.length), rawHello]),
      rawPublish,
      ms,
      report,
    ),
    floodTcp('mqtt-tcp-v4', r.ports.mqtt, connectBytes({ clientId: '', level: 4 }), mqttPublish(0, 4), ms, report),
    floodTcp('mqtt-tcp-v5', r.ports.mqtt, connectBytes({ clientId: '', level: 5 }), mqttPublish(1, 5), ms, report),
    floodWs(
      'mqtt-ws-v5',
      r.url('mqttWs', '/mqtt'),
      'mqtt',
      connectBytes({ clientId: '', level: 5 }),
      mqttPublish(0, 5),
      true,
      ms,
      report,
    ),
    floodTcp('stomp-tcp', r.ports.stomp, STOMP_CONNECT, () => STOMP_SEND, ms, report),
    floodWs('stomp-ws', r.url('stompWs', '/stomp'), 'v12.stomp', STOMP_CONNECT, () => STOMP_SEND, false, ms, report),
  ];
  return { results, flowing };
}
