/**
 * Slowloris on every listener: many connections at once that send nothing, or send
 * their handshake (HTTP upgrade request, RawSocket octets, MQTT CONNECT, STOMP CONNECT)
 * one byte at a time, slower than the router's handshake timeouts (1 s in this router's
 * config: wamp.helloTimeoutMs, mqtt/stomp.connectTimeoutMs, http.headersTimeoutMs). Each must be
 * closed by the router, not left to hold a socket and its buffers; afterwards the router
 * is alive, logged no error, serves well-behaved clients and its heap is back near its
 * start.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import {
  HostileRouter,
  SHORT_TIMEOUTS,
  assertWellBehavedClientsWork,
  attackTcp,
  pace,
  within,
  type Memory,
} from '../helpers/hostile';
import { connectBytes } from '../helpers/mqtt-raw';

/** connections per kind of slow client */
const PER_KIND = 30;
/** one byte this often: a handshake of 4+ bytes takes longer than the 1 s timeout */
const BYTE_EVERY_MS = 400;
/** the router's timeout plus room for a loaded machine */
const CLOSE_DEADLINE_MS = SHORT_TIMEOUTS.wamp.helloTimeoutMs + 5000;

let r: HostileRouter;
let base: Memory;

before(async () => {
  r = await HostileRouter.start({
    http: { headersTimeoutMs: 1000, requestTimeoutMs: 2000 },
    limits: { tlsHandshakeTimeoutMs: 1000 },
  });
  await assertWellBehavedClientsWork(r, 'slowwarmup');
  base = await r.memory();
});

after(async () => {
  await r.stop();
});

/**
 * A TCP client that writes `bytes` one at a time, BYTE_EVERY_MS apart, and keeps quiet
 * after them; resolves when the router closes the connection, rejects after the deadline.
 */
async function slowTcp(port: number, bytes: Buffer, what: string): Promise<void> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  socket.on('error', () => undefined);
  socket.on('data', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  let done = false;
  void closed.then(() => (done = true));
  const writer = (async () => {
    await new Promise((resolve) => socket.once('connect', resolve));
    for (const b of bytes) {
      if (done) return;
      socket.write(Buffer.from([b]));
      await pace(BYTE_EVERY_MS); // a slowloris: a byte every N ms against the real socket's timeout
    }
  })();
  try {
    await within(closed, CLOSE_DEADLINE_MS, `the router to close a slow ${what}`);
  } finally {
    socket.destroy();
    await writer;
  }
}

/** A WebSocket that opens and then says nothing; resolves when the router closes it. */
async function silentWs(url: string, protocol: string): Promise<void> {
  const ws = new WebSocket(url, [protocol], { perMessageDeflate: false });
  ws.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
  try {
    await within(closed, CLOSE_DEADLINE_MS, `the router to close a silent WebSocket (${protocol})`);
  } finally {
    ws.terminate();
  }
}

const times = <T>(n: number, f: () => Promise<T>): Promise<T>[] => Array.from({ length: n }, f);
const NOTHING = Buffer.alloc(0);

test('silent and byte-by-byte handshakes on every listener are closed by the router', async () => {
  const connect = connectBytes({ clientId: 'slow', level: 4 });
  const stompConnect = Buffer.from('CONNECT\naccept-version:1.2\nhost:realm1\n\n\0');
  const p = r.ports;
  await Promise.all([
    ...times(PER_KIND, () => silentWs(r.url('wamp', '/ws'), 'wamp.2.json')),
    ...times(PER_KIND, () => slowTcp(p.rawsocket, NOTHING, 'RawSocket (nothing)')),
    ...times(PER_KIND, () => slowTcp(p.rawsocket, Buffer.from([0x7f, 0xf1, 0, 0]), 'RawSocket handshake')),
    ...times(PER_KIND, () => slowTcp(p.mqtt, NOTHING, 'MQTT (nothing)')),
    ...times(PER_KIND, () => slowTcp(p.mqtt, connect, 'MQTT CONNECT')),
    ...times(PER_KIND, () => silentWs(r.url('mqttWs', '/mqtt'), 'mqtt')),
    ...times(PER_KIND, () => slowTcp(p.stomp, NOTHING, 'STOMP (nothing)')),
    ...times(PER_KIND, () => slowTcp(p.stomp, stompConnect, 'STOMP CONNECT')),
    ...times(PER_KIND, () => silentWs(r.url('stompWs', '/stomp'), 'v12.stomp')),
  ]);
  r.assertHealthy('slowloris');
});

test('WebSocket upgrade requests sent byte by byte on every WebSocket listener are dropped (http.headersTimeoutMs)', async () => {
  const upgrade = (path: string, protocol: string): Buffer =>
    Buffer.from(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n` +
        `Sec-WebSocket-Key: ${Buffer.from('0123456789abcdef').toString('base64')}\r\nSec-WebSocket-Protocol: ${protocol}\r\n\r\n`,
    );
  const p = r.ports;
  await Promise.all([
    ...times(PER_KIND, () => slowTcp(p.wamp, upgrade('/ws', 'wamp.2.json'), 'WAMP WebSocket upgrade')),
    ...times(PER_KIND, () => slowTcp(p.mqttWs, upgrade('/mqtt', 'mqtt'), 'MQTT WebSocket upgrade')),
    ...times(PER_KIND, () => slowTcp(p.stompWs, upgrade('/stomp', 'v12.stomp'), 'STOMP WebSocket upgrade')),
    ...times(PER_KIND, () => slowTcp(p.wamp, NOTHING, 'HTTP connection that sends nothing')),
  ]);
  r.assertHealthy('slow upgrades');
});

test('TLS listeners drop plaintext garbage, silent clients and handshakes sent byte by byte (limits.tlsHandshakeTimeoutMs)', async () => {
  const p = r.ports;
  const tlsPorts = [p.wss, p.rawsocketTls, p.mqtts, p.stomps];
  // the start of a TLS 1.2 ClientHello record: the server waits for the rest
  const clientHello = Buffer.from('16030100c8010000c40303' + '00'.repeat(40), 'hex');
  await Promise.all(
    tlsPorts.flatMap((port) => [
      ...times(PER_KIND / 3, () => slowTcp(port, NOTHING, 'silent TLS connection')),
      ...times(PER_KIND / 3, () => slowTcp(port, clientHello, 'ClientHello byte by byte')),
      ...times(PER_KIND / 3, async () => {
        const o = await attackTcp(port, [Buffer.from('GET / HTTP/1.1\r\n\r\nCONNECT\n\n\0\x10\x0c\x00\x04MQTT')], 2000);
        assert.ok(o.closed, `plaintext to TLS port ${port} is refused`);
      }),
    ]),
  );
  r.assertHealthy('hostile TLS clients');
});

test('a RawSocket client that completes the handshake but never sends HELLO is closed too', async () => {
  await Promise.all(
    times(PER_KIND, async () => {
      const socket = net.connect({ port: r.ports.rawsocket, host: '127.0.0.1' });
      socket.on('error', () => undefined);
      const reply = new Promise<Buffer>((resolve) => socket.once('data', resolve));
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      socket.write(Buffer.from([0x7f, 0xf1, 0, 0]));
      assert.equal((await within(reply, 3000, 'handshake reply'))[0], 0x7f);
      try {
        await within(closed, CLOSE_DEADLINE_MS, 'the router to close a RawSocket session that never says HELLO');
      } finally {
        socket.destroy();
      }
    }),
  );
  r.assertHealthy('handshake without HELLO');
});

test('afterwards every protocol serves well-behaved clients and memory is back near its start', async () => {
  await assertWellBehavedClientsWork(r, 'slowloris');
  await r.assertMemoryNear(base, 'slowloris');
  r.assertHealthy('the well-behaved clients');
});
