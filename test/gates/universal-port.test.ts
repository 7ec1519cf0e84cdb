// One port for every protocol (lib/universal-port.ts, config http.protocols): on the HTTP
// server the router makes, each protocol's real client connects to the ONE port and their
// messages cross: autobahn over WebSocket and over RawSocket, mqtt.js with MQTT 3.1.1 and
// 5, @stomp/stompjs over TCP, and an HTTP GET /health. Over TLS the same, recognised after
// the handshake (a raw RawSocket client: autobahn's RawSocket has no TLS; stompit over TLS).
// Garbage first bytes, a half CONNECT and silence are closed and counted
// (gatehouse_sniff_refused_total) while the clients on the port keep working; a protocol
// switched off is refused; all off, the port is plain HTTP.
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import type { MqttClient } from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { Router, type RouterOptions } from '../../index';
import { ManualClock } from '../helpers/clock';
import { expectQuiet } from '../helpers/wait';
import { adminHandler } from '../../lib/admin-routes';
import { connect, rawSocketTransport, wsOptions, type AutobahnSession } from '../helpers/autobahn';
import { connectMqtt, endAll, MessageLog, publish, subscribe, uniqueId } from '../helpers/mqtt-clients';
import { destroyAllRawPeers, RawSocketPeer, TcpProbe, type RawPeer } from '../helpers/raw-wamp';
import {
  Inbox,
  sendWithReceipt,
  StompjsClients,
  stompitConnect,
  stompitDisconnect,
  stompitRead,
  subscribeConfirmed,
  waitFor,
  withTimeout,
  WAIT_MS,
  type StompitClient,
} from '../helpers/stomp-clients';

const tlsDir = join(__dirname, '../fixtures/tls');
const ca = readFileSync(join(tlsDir, 'ca.crt'));
const TLS_CONFIG = { enabled: true, certFile: join(tlsDir, 'ca-server.crt'), keyFile: join(tlsDir, 'ca-server.key') };
const TOPIC = { wamp: 'one.port.news', mqtt: 'one/port/news', stomp: '/topic/one.port.news' };

interface UniversalRouter {
  router: Router;
  port: number;
  close(): Promise<void>;
}

const routers: UniversalRouter[] = [];
const mqttClients: MqttClient[] = [];
const wampClosers: (() => Promise<void>)[] = [];
const stompjs = new StompjsClients();

/**
 * A router whose HTTP server (router.createHttpServer, as the daemon's) serves /health
 * and WAMP on /ws, listening on an ephemeral loopback port; `httpConfig` is the config's
 * http block, `config` the rest.
 */
async function startUniversal(
  httpConfig: Record<string, unknown> = {},
  config: Record<string, unknown> = {},
  options: RouterOptions = {},
): Promise<UniversalRouter> {
  const router = new Router(
    {
      log: { level: process.env['GATEHOUSE_TEST_LOG'] ?? 'silent' },
      store: { path: ':memory:' },
      mqtt: { sysIntervalSeconds: 0 },
      http: httpConfig,
      ...config,
    },
    options,
  );
  await router.start();
  const app = express();
  const admin = adminHandler({ metrics: router.metrics, health: () => router.health(), metricsPath: '/metrics' });
  app.use((req, res, next) => {
    if (!admin(req, res)) next();
  });
  // the size of a request body: the bytes the sniff read first must reach Node's parser in order
  app.post('/length', (req, res) => {
    let n = 0;
    req.on('data', (d: Buffer) => (n += d.length));
    req.on('end', () => res.json({ length: n }));
  });
  const server = router.createHttpServer(app);
  await router.listenWAMP({ server, path: '/ws' });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const r = {
    router,
    port,
    async close() {
      server.close();
      await router.close();
      server.closeAllConnections();
    },
  };
  routers.push(r);
  return r;
}

after(async () => {
  await endAll(mqttClients);
  await stompjs.closeAll();
  await Promise.all(wampClosers.map((c) => c().catch(() => undefined)));
  destroyAllRawPeers();
  await Promise.all(routers.map((r) => r.close()));
});

async function wamp(options: Record<string, unknown>): Promise<AutobahnSession> {
  const c = await withTimeout(connect(options), WAIT_MS, 'WAMP join');
  wampClosers.push(() => c.close());
  return c.session;
}

async function mqttOn(
  url: string,
  protocolVersion: 4 | 5,
  extra: Record<string, unknown> = {},
): Promise<{ client: MqttClient; log: MessageLog }> {
  const log = new MessageLog();
  const { client } = await connectMqtt(url, { clientId: uniqueId('one-port'), protocolVersion, ...extra }, log);
  mqttClients.push(client);
  await subscribe(client, TOPIC.mqtt, { qos: 1 });
  return { client, log };
}

/** GET /health with its own connection; resolves with the status and the report. */
function health(port: number, secure = false): Promise<{ status: number; body: { status?: string } }> {
  return withTimeout(
    new Promise((resolve, reject) => {
      const opts = { host: '127.0.0.1', port, path: '/health', agent: false as const };
      const onResponse = (res: http.IncomingMessage): void => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as { status?: string } }));
      };
      const req = secure ? https.get({ ...opts, ca, servername: 'localhost' }, onResponse) : http.get(opts, onResponse);
      req.on('error', reject);
    }),
    WAIT_MS,
    'GET /health',
  );
}

/** An event collector for a WAMP subscription: the first argument of each event. */
async function wampInbox(session: AutobahnSession): Promise<string[]> {
  const got: string[] = [];
  await session.subscribe(TOPIC.wamp, (args) => void got.push(String(args[0])));
  return got;
}

/**
 * The next message of type `code` from a raw WAMP peer; EVENTs met on the way are kept in
 * `events` (their first argument).
 */
async function rawExpect(peer: RawPeer, code: number, what: string, events: string[]): Promise<unknown[]> {
  for (;;) {
    const m = (await peer.next(WAIT_MS, what)) as unknown[];
    if (m[0] === 36) events.push(String((m[4] as unknown[] | undefined)?.[0]));
    if (m[0] === code) return m;
    if (m[0] !== 36) assert.fail(`${what}: got ${JSON.stringify(m)}`);
  }
}

async function stompitInbox(client: StompitClient): Promise<string[]> {
  const got: string[] = [];
  client.subscribe({ destination: TOPIC.stomp, ack: 'auto' }, (err, message) => {
    if (!err) void stompitRead(message).then((body) => got.push(JSON.parse(body) as string));
  });
  // a SEND with a receipt after the SUBSCRIBE: frames are handled in order
  await stompitSend(client, JSON.stringify('probe'));
  await waitFor(() => got.includes('probe'), 'the stompit subscription');
  got.length = 0;
  return got;
}

function stompitSend(client: StompitClient, body: string): Promise<void> {
  return withTimeout(
    new Promise<void>((resolve, reject) => {
      const frame = client.send(
        { destination: TOPIC.stomp, 'content-type': 'application/json' },
        { onReceipt: resolve, onError: reject },
      );
      frame.end(body);
    }),
    WAIT_MS,
    'stompit SEND receipt',
  );
}

const sorted = (xs: readonly string[]): string[] => [...xs].sort();

async function refusals(r: UniversalRouter): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const v of (await r.router.metrics.sniffRefused.get()).values) out[String(v.labels.reason)] = v.value;
  return out;
}

describe('universal port - plain', () => {
  let r: UniversalRouter;
  before(async () => {
    r = await startUniversal();
  });

  it('universal port - autobahn WebSocket and RawSocket, MQTT 3.1.1 and 5, STOMP and HTTP on one port: every message reaches every client', async () => {
    const url = `127.0.0.1:${r.port}`;
    const ws = await wamp(wsOptions(`ws://${url}/ws`, 'json'));
    const raw = await wamp({ transports: [rawSocketTransport(`tcp://${url}`)] });
    const inboxes = { ws: await wampInbox(ws), rawsocket: await wampInbox(raw) };
    const m4 = await mqttOn(`mqtt://${url}`, 4);
    const m5 = await mqttOn(`mqtt://${url}`, 5);
    const { client: stomp } = await stompjs.tcp(r.port);
    const stompInbox = new Inbox();
    await subscribeConfirmed(stomp, TOPIC.stomp, stompInbox);

    const pubOpts = { acknowledge: true, exclude_me: false };
    await ws.publish(TOPIC.wamp, ['from-ws'], {}, pubOpts);
    await raw.publish(TOPIC.wamp, ['from-rawsocket'], {}, pubOpts);
    await publish(m4.client, TOPIC.mqtt, JSON.stringify('from-mqtt4'), { qos: 1 });
    await publish(m5.client, TOPIC.mqtt, JSON.stringify('from-mqtt5'), { qos: 1 });
    await sendWithReceipt(stomp, TOPIC.stomp, JSON.stringify('from-stomp'), { 'content-type': 'application/json' });

    const all = sorted(['from-ws', 'from-rawsocket', 'from-mqtt4', 'from-mqtt5', 'from-stomp']);
    await waitFor(() => inboxes.ws.length >= 5 && inboxes.rawsocket.length >= 5, 'five events on each WAMP session');
    assert.deepEqual(sorted(inboxes.ws), all);
    assert.deepEqual(sorted(inboxes.rawsocket), all);
    for (const m of [m4, m5]) {
      const got = await m.log.count(5, 'five MQTT messages');
      assert.deepEqual(sorted(got.map((x) => JSON.parse(x.payload.toString()) as string)), all);
    }
    const frames = await stompInbox.count(5, 'five STOMP messages');
    assert.deepEqual(sorted(frames.map((f) => JSON.parse(f.body) as string)), all);

    const res = await health(r.port);
    assert.equal(res.status, 200);
    assert.equal(res.body.status, 'ok');

    // each reached its own gate, as a TCP connection of that gate
    const realm = r.router.realm('realm1');
    const kinds = [...(realm?.sessions.values() ?? [])].map((s) => `${s.transport.gate}/${s.transport.type}`);
    for (const k of ['wamp/websocket', 'wamp/rawsocket', 'mqtt/tcp', 'stomp/tcp'])
      assert.ok(kinds.includes(k), `${k} in ${kinds.join(', ')}`);
  });

  it('universal port - MQTT 3.1 (protocol name MQIsdp) is recognised too', async () => {
    const { client } = await connectMqtt(`mqtt://127.0.0.1:${r.port}`, {
      clientId: uniqueId('mqisdp'),
      protocolVersion: 3,
      protocolId: 'MQIsdp',
    });
    mqttClients.push(client);
    await subscribe(client, 'one/port/v3', { qos: 1 });
    const got = new Promise<string>((resolve) => client.once('message', (_t, p) => resolve(p.toString())));
    await publish(client, 'one/port/v3', 'three-one', { qos: 1 });
    assert.equal(await withTimeout(got, WAIT_MS, 'the MQTT 3.1 message'), 'three-one');
  });

  it('universal port - a large HTTP request sent in one write reaches the application whole', async () => {
    const body = Buffer.alloc(3 * 1024 * 1024, 0x61);
    const answer = await withTimeout(
      new Promise<string>((resolve, reject) => {
        const req = http.request(
          {
            host: '127.0.0.1',
            port: r.port,
            path: '/length',
            method: 'POST',
            agent: false,
            headers: { 'content-length': body.length },
          },
          (res) => {
            let text = '';
            res.setEncoding('utf8').on('data', (d: string) => (text += d));
            res.on('end', () => resolve(text));
          },
        );
        req.on('error', reject);
        req.end(body);
      }),
      WAIT_MS * 3,
      'POST /length',
    );
    assert.deepEqual(JSON.parse(answer), { length: body.length });
  });

  it('universal port - a RawSocket handshake arriving one byte at a time is recognised and answered', async () => {
    const probe = new TcpProbe(r.port);
    await withTimeout(probe.connected, WAIT_MS, 'connect');
    for (const b of [0x7f, 0xf1, 0, 0]) {
      probe.write([b]);
      await new Promise((resolve) => setImmediate(resolve));
    }
    const reply = await probe.read(4, WAIT_MS, 'the handshake reply');
    assert.equal(reply[0], 0x7f);
    assert.equal((reply[1] ?? 0) & 0x0f, 1, 'JSON');
    probe.destroy();
  });
});

describe('universal port - TLS', () => {
  let r: UniversalRouter;
  before(async () => {
    r = await startUniversal({ tls: TLS_CONFIG });
  });

  it('universal port - over TLS, wss, RawSocket, mqtts, STOMP and https share the port: recognised after the handshake, messages cross', async () => {
    const url = `127.0.0.1:${r.port}`;
    const tlsClient = { ca, servername: 'localhost' };
    // first: its subscription check publishes a probe the others are not yet there to get
    const stomp = await stompitConnect({ port: r.port, ssl: true, ...tlsClient });
    const stompInbox = await stompitInbox(stomp);
    // autobahn passes `ca` on only together with a client certificate (the server asks for none)
    const clientCert = { cert: readFileSync(join(tlsDir, 'client.crt')), key: readFileSync(join(tlsDir, 'client.key')) };
    const wss = await wamp({ ...wsOptions(`wss://${url}/ws`, 'json'), tlsConfiguration: { ca, ...clientCert } });
    const wssInbox = await wampInbox(wss);
    const raw = await RawSocketPeer.open(r.port, 'json', { tls: tlsClient });
    await raw.hello();
    const rawEvents: string[] = [];
    raw.send([32, 1, {}, TOPIC.wamp]);
    await rawExpect(raw, 33, 'SUBSCRIBED', rawEvents);
    const m5 = await mqttOn(`mqtts://${url}`, 5, tlsClient);

    await wss.publish(TOPIC.wamp, ['from-wss'], {}, { acknowledge: true, exclude_me: false });
    raw.send([16, 2, { acknowledge: true, exclude_me: false }, TOPIC.wamp, ['from-rawsocket-tls']]);
    await rawExpect(raw, 17, 'PUBLISHED', rawEvents);
    await publish(m5.client, TOPIC.mqtt, JSON.stringify('from-mqtts'), { qos: 1 });
    await stompitSend(stomp, JSON.stringify('from-stomp-tls'));

    const all = sorted(['from-wss', 'from-rawsocket-tls', 'from-mqtts', 'from-stomp-tls']);
    await waitFor(() => wssInbox.length >= 4 && stompInbox.length >= 4, 'four events over wss and STOMP');
    assert.deepEqual(sorted(wssInbox), all);
    assert.deepEqual(sorted(stompInbox), all);
    const got = await m5.log.count(4, 'four MQTT messages');
    assert.deepEqual(sorted(got.map((x) => JSON.parse(x.payload.toString()) as string)), all);
    while (rawEvents.length < 4) await rawExpect(raw, 36, 'EVENT', rawEvents);
    assert.deepEqual(sorted(rawEvents), all);

    const res = await health(r.port, true);
    assert.equal(res.status, 200);
    const realm = r.router.realm('realm1');
    const kinds = [...(realm?.sessions.values() ?? [])].map((s) => `${s.transport.gate}/${s.transport.type}`);
    for (const k of ['mqtt/tls', 'stomp/tls']) assert.ok(kinds.includes(k), `${k} in ${kinds.join(', ')}`);
    await stompitDisconnect(stomp);
  });

  it('universal port - over TLS, an MQTT CONNECT sent in the clear is no TLS handshake and gets nothing', async () => {
    const probe = new TcpProbe(r.port);
    await withTimeout(probe.connected, WAIT_MS, 'connect');
    probe.write(
      mqttPacket.generate({
        cmd: 'connect',
        protocolVersion: 4,
        clientId: 'clear',
        keepalive: 0,
        clean: true,
        protocolId: 'MQTT',
      }),
    );
    await withTimeout(probe.closed, WAIT_MS, 'the plain client to be closed');
    assert.ok(!probe.pending.includes(Buffer.from([0x20, 0x02])), 'no CONNACK');
  });
});

describe('universal port - hostile first bytes', () => {
  const SNIFF_MS = 1000;
  /** the sniff deadline is reached by moving this clock */
  const clock = new ManualClock();
  /** sniff deadlines armed now (no other timer of the router has their length) */
  const sniffDeadlines = (): number => clock.delays().filter((ms) => ms === SNIFF_MS).length;
  let r: UniversalRouter;
  before(async () => {
    r = await startUniversal({ sniffTimeoutMs: SNIFF_MS }, {}, { clock });
  });

  it('universal port - garbage, a half CONNECT and silence are closed and counted; the clients on the port keep working', async () => {
    const url = `127.0.0.1:${r.port}`;
    const m5 = await mqttOn(`mqtt://${url}`, 5);
    const ws = await wamp(wsOptions(`ws://${url}/ws`, 'json'));
    const wsInbox = await wampInbox(ws);
    const before = await refusals(r);

    const random = Buffer.alloc(256);
    for (let i = 0; i < random.length; i++) random[i] = (i * 131 + 7) & 0xff;
    random[0] = 0x00; // no protocol starts with NUL
    const connect = mqttPacket.generate({
      cmd: 'connect',
      protocolVersion: 4,
      clientId: 'half',
      keepalive: 0,
      clean: true,
      protocolId: 'MQTT',
    });
    const cases: [string, Buffer | undefined, 'unknown' | 'timeout'][] = [
      ['random bytes', random, 'unknown'],
      ['a TLS ClientHello on the plain port', Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00]), 'unknown'],
      [
        'a CONNECT with a foreign protocol name',
        Buffer.from([0x10, 0x0c, 0x00, 0x04, 0x41, 0x4d, 0x51, 0x50, 0x04, 0x02, 0x00, 0x00]),
        'unknown',
      ],
      ['a half CONNECT', connect.subarray(0, 5), 'timeout'],
      ['a half STOMP command', Buffer.from('\nCONNE'), 'timeout'],
      ['silence', undefined, 'timeout'],
    ];
    const deadlinesBefore = sniffDeadlines();
    const probes = cases.map(([, bytes]) => {
      const p = new TcpProbe(r.port);
      if (bytes) void p.connected.then(() => p.write(bytes));
      return p;
    });
    const named = probes.map((p, i) => ({ p, name: cases[i]?.[0] ?? '?', reason: cases[i]?.[2] }));
    const closed = (reason: 'unknown' | 'timeout'): Promise<void[]> =>
      Promise.all(
        named.filter((c) => c.reason === reason).map((c) => withTimeout(c.p.closed, WAIT_MS, `${c.name} to be closed`)),
      );
    // refused at once: closed with no time passing
    await closed('unknown');
    // the others wait for the deadline, and not a millisecond less
    await waitFor(() => sniffDeadlines() === deadlinesBefore + 3, 'the three stalled connections on their sniff deadline');
    clock.advance(SNIFF_MS - 1);
    await expectQuiet();
    for (const c of named)
      if (c.reason === 'timeout') assert.equal(c.p.closedAt, undefined, `${c.name}: open before the deadline`);
    clock.advance(1);
    await closed('timeout');
    for (const [i, p] of probes.entries()) assert.equal(p.pending.length, 0, `${cases[i]?.[0] ?? '?'}: nothing sent back`);
    const now = await refusals(r);
    assert.equal((now['unknown'] ?? 0) - (before['unknown'] ?? 0), 3, 'three unknown');
    assert.equal((now['timeout'] ?? 0) - (before['timeout'] ?? 0), 3, 'three timeouts');

    // the clients that were there keep working, and new ones of every kind get in
    const m4 = await mqttOn(`mqtt://${url}`, 4);
    await publish(m5.client, TOPIC.mqtt, JSON.stringify('still here'), { qos: 1 });
    await m4.log.count(1, 'the message on a new MQTT client');
    await m5.log.count(1, 'the message on the old MQTT client');
    await waitFor(() => wsInbox.includes('still here'), 'the event on the old WAMP session');
    const raw = await RawSocketPeer.open(r.port, 'json');
    await raw.hello();
    const { client: stomp } = await stompjs.tcp(r.port);
    await sendWithReceipt(stomp, TOPIC.stomp, JSON.stringify('stomp too'));
    await waitFor(() => wsInbox.includes('stomp too'), 'the STOMP message on the old WAMP session');
    assert.equal((await health(r.port)).status, 200);
  });
});

describe('universal port - configuration', () => {
  it('universal port - a protocol switched off in http.protocols is refused; the others and HTTP still work', async () => {
    const r = await startUniversal({ protocols: { mqtt: false, rawsocket: false } });
    const before = await refusals(r);
    const mqttProbe = new TcpProbe(r.port);
    await withTimeout(mqttProbe.connected, WAIT_MS, 'connect');
    mqttProbe.write(
      mqttPacket.generate({ cmd: 'connect', protocolVersion: 4, clientId: 'off', keepalive: 0, clean: true, protocolId: 'MQTT' }),
    );
    const rawProbe = new TcpProbe(r.port);
    await withTimeout(rawProbe.connected, WAIT_MS, 'connect');
    rawProbe.write([0x7f, 0xf1, 0, 0]);
    await withTimeout(Promise.all([mqttProbe.closed, rawProbe.closed]), WAIT_MS, 'both to be closed');
    assert.equal(mqttProbe.pending.length + rawProbe.pending.length, 0, 'no CONNACK, no handshake reply');
    assert.equal(((await refusals(r))['disabled'] ?? 0) - (before['disabled'] ?? 0), 2);

    const { client: stomp } = await stompjs.tcp(r.port);
    await sendWithReceipt(stomp, TOPIC.stomp, JSON.stringify('stomp on'));
    assert.equal((await health(r.port)).status, 200);
  });

  it('universal port - the connection limits count what the port hands to gates (limits.maxConnectionsPerIp)', async () => {
    const r = await startUniversal({}, { limits: { maxConnectionsPerIp: 1 } });
    const url = `mqtt://127.0.0.1:${r.port}`;
    const first = await mqttOn(url, 5);
    const refused = new TcpProbe(r.port);
    await withTimeout(refused.connected, WAIT_MS, 'connect');
    refused.write(
      mqttPacket.generate({
        cmd: 'connect',
        protocolVersion: 4,
        clientId: 'second',
        keepalive: 0,
        clean: true,
        protocolId: 'MQTT',
      }),
    );
    await withTimeout(refused.closed, WAIT_MS, 'the second MQTT connection from this address to be closed');
    assert.equal(refused.pending.length, 0, 'no CONNACK');
    const hits = (await r.router.metrics.limitHits.get()).values.find(
      (v) => v.labels.gate === 'mqtt' && v.labels.limit === 'max_connections_per_ip',
    );
    assert.equal(hits?.value, 1);
    // HTTP is not a gate's connection: it still gets through
    assert.equal((await health(r.port)).status, 200);
    await endAll([first.client]);
  });

  it('universal port - with every protocol off the port is plain HTTP: an MQTT CONNECT gets HTTP 400', async () => {
    const r = await startUniversal({ protocols: { mqtt: false, rawsocket: false, stomp: false } });
    const probe = new TcpProbe(r.port);
    await withTimeout(probe.connected, WAIT_MS, 'connect');
    probe.write(
      mqttPacket.generate({
        cmd: 'connect',
        protocolVersion: 4,
        clientId: 'plain',
        keepalive: 0,
        clean: true,
        protocolId: 'MQTT',
      }),
    );
    const status = await probe.read(12, WAIT_MS, 'an HTTP status line');
    assert.equal(status.toString('latin1'), 'HTTP/1.1 400');
    probe.destroy();
  });

  it('universal port - router.close() ends the sessions it handed to gates; the server keeps serving HTTP', async () => {
    const r = await startUniversal();
    const url = `127.0.0.1:${r.port}`;
    const m = await mqttOn(`mqtt://${url}`, 5);
    const raw = await RawSocketPeer.open(r.port, 'json');
    await raw.hello();
    const mqttClosed = new Promise<void>((resolve) => m.client.once('close', () => resolve()));
    await withTimeout(r.router.close(), 10_000, 'router.close()');
    await withTimeout(Promise.all([mqttClosed, raw.closed]), WAIT_MS, 'the handed-off connections to close');
    // the application's server goes on: HTTP answers (health says draining), gates are gone
    assert.equal((await health(r.port)).status, 503);
    const late = new TcpProbe(r.port);
    await withTimeout(late.connected, WAIT_MS, 'connect');
    late.write([0x7f, 0xf1, 0, 0]);
    await withTimeout(late.closed, WAIT_MS, 'a RawSocket client after close to be closed');
    assert.notEqual(late.pending[0], 0x7f, 'no RawSocket handshake reply');
  });
});
