/**
 * Flooders for the hostile suites: one client per protocol and transport that completes
 * its handshake and then writes as fast as its socket drains, for a while or until the
 * router closes it, keeping what the router sent.
 */
import net from 'node:net';
import mqttPacket from 'mqtt-packet';
import { WebSocket, type RawData } from 'ws';
import { sleep, within, type HostileRouter } from './hostile';
import { connectBytes } from './mqtt-raw';
import { helloFor } from './hostile-wamp';
import { codecs, frameHeader, handshakeBytes } from './raw-wamp';

export interface FloodResult {
  name: string;
  sent: number;
  closedByRouter: boolean;
  /** the router's bytes (WebSocket: messages concatenated) */
  received: Buffer;
}

/** Yields to the event loop every 100 writes, so that every flooder (and the clients checked meanwhile) runs. */
async function pace(sent: number): Promise<void> {
  if (sent % 100 === 0) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * Writes `first` (the handshake), waits for the router's first answer, then writes
 * `next(i)` as fast as the socket drains, for `ms` or until the router closes it.
 */
export async function floodTcp(
  name: string,
  port: number,
  first: Buffer,
  next: (i: number) => Buffer,
  ms: number,
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
    if (!socket.write(next(sent++))) await Promise.race([new Promise((resolve) => socket.once('drain', resolve)), sleep(200)]);
    await pace(sent);
  }
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
    if (ws.bufferedAmount > 1 << 20) await sleep(5);
    await pace(sent);
  }
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
export function startFlooders(r: HostileRouter, ms: number): Promise<FloodResult>[] {
  const rawHello = helloFor('msgpack');
  const rawPublish = (i: number): Buffer => {
    const m = codecs.msgpack.encode([16, i + 1, {}, 'hostile.flood', [PAYLOAD]]);
    return Buffer.concat([frameHeader(0, m.length), m]);
  };
  return [
    floodWs(
      'wamp-ws-json',
      r.url('wamp', '/ws'),
      'wamp.2.json',
      helloFor('json'),
      (i) => Buffer.from(JSON.stringify([16, i + 1, {}, 'hostile.flood', [PAYLOAD]])),
      false,
      ms,
    ),
    floodWs(
      'wamp-ws-cbor',
      r.url('wamp', '/ws'),
      'wamp.2.cbor',
      helloFor('cbor'),
      (i) => codecs.cbor.encode([48, i + 1, {}, 'hostile.no.such.procedure', [PAYLOAD]]),
      true,
      ms,
    ),
    floodTcp(
      'wamp-rawsocket',
      r.ports.rawsocket,
      Buffer.concat([handshakeBytes(2), frameHeader(0, rawHello.length), rawHello]),
      rawPublish,
      ms,
    ),
    floodTcp('mqtt-tcp-v4', r.ports.mqtt, connectBytes({ clientId: '', level: 4 }), mqttPublish(0, 4), ms),
    floodTcp('mqtt-tcp-v5', r.ports.mqtt, connectBytes({ clientId: '', level: 5 }), mqttPublish(1, 5), ms),
    floodWs(
      'mqtt-ws-v5',
      r.url('mqttWs', '/mqtt'),
      'mqtt',
      connectBytes({ clientId: '', level: 5 }),
      mqttPublish(0, 5),
      true,
      ms,
    ),
    floodTcp('stomp-tcp', r.ports.stomp, STOMP_CONNECT, () => STOMP_SEND, ms),
    floodWs('stomp-ws', r.url('stompWs', '/stomp'), 'v12.stomp', STOMP_CONNECT, () => STOMP_SEND, false, ms),
  ];
}
