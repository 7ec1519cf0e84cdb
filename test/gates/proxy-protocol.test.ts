// Proxies in front of the router (config proxy; lib/proxy-accept.ts, lib/trusted-proxies.ts):
// a test plays haproxy, writing a PROXY protocol header (v1 text, v2 binary) before real
// clients' bytes on the MQTT, MQTT TLS, STOMP, WAMP RawSocket listeners and the HTTP port
// with its protocol sniff, and X-Forwarded-For / Forwarded on WebSocket upgrades. From the
// trusted proxy (127.0.0.1) the named client is who the router sees: the anonymous
// loopback rule, the per-IP connection limit, the login throttle and the session meta's
// transport peer all follow it; on the HTTPS port the header comes before TLS. A header from an untrusted address (127.0.0.2) is refused, counted and
// logged; with `required`, a missing, malformed or late header closes the connection.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { Router } from '../../index';
import { createUserRecord } from '../../lib/auth/user-record';
import { createLogger } from '../../lib/log';
import { connectMqttFrom, connectRefusedFrom, endAll, metricValue, waitFor, withTimeout, WAIT_MS } from '../helpers/mqtt-clients';
import { connectBytes } from '../helpers/mqtt-raw';
import { ManualClock } from '../helpers/clock';
import { expectQuiet } from '../helpers/wait';
import { proxyV1, proxyV2 } from '../helpers/proxy-header';
import {
  codecs,
  destroyAllRawPeers,
  frameHeader,
  handshakeBytes,
  HELLO_DETAILS,
  RawSocketPeer,
  TcpProbe,
  WsPeer,
  type RawPeer,
} from '../helpers/raw-wamp';
import { startRouter, type TestRouter } from '../helpers/router';
import { stompitConnect, stompitDisconnect, type StompitConnectOptions } from '../helpers/stomp-clients';

const tlsDir = join(__dirname, '../fixtures/tls');
const quiet = { log: { level: process.env['GATEHOUSE_TEST_LOG'] ?? 'silent' } };
const routers: { close(): Promise<void> }[] = [];
const mqttClients: MqttClient[] = [];

/** MQTT 3.1.1 CONACK return codes [MQTT-3.2.2.3]: 5 = not authorized */
const NOT_AUTHORIZED_311 = 5;
/** MQTT 5 reason codes: 0x87 Not authorized, 0x86 Bad user name or password, 0x9F Connection rate exceeded */
const NOT_AUTHORIZED_5 = 0x87;
const BAD_USER_NAME_OR_PASSWORD = 0x86;
const CONNECTION_RATE_EXCEEDED = 0x9f;

/** The session meta's transport peer of the peer's own session (wamp.session.get). */
async function seenPeer(peer: RawPeer): Promise<string> {
  const id = await peer.hello();
  peer.send([48, 1, {}, 'wamp.session.get', [id]]);
  const m = await peer.next(WAIT_MS, 'RESULT of wamp.session.get');
  assert.ok(Array.isArray(m) && m[0] === 50, JSON.stringify(m));
  const details = (m[3] as [{ transport: { peer: string } }])[0];
  return details.transport.peer;
}

/** CONNECT (3.1.1, no username) on a raw socket; the CONNACK return code. */
async function connackCode(probe: TcpProbe): Promise<number> {
  probe.write(connectBytes({ clientId: `p${Math.random().toString(36).slice(2)}` }));
  const connack = await probe.read(4, WAIT_MS, 'CONNACK');
  assert.equal(connack[0], 0x20);
  return connack[3] ?? -1;
}

/** Writes `bytes` one octet per write, each handed to the kernel before the next (Nagle off). */
async function trickle(probe: TcpProbe, bytes: Buffer): Promise<void> {
  await probe.connected;
  for (const b of bytes) await new Promise<void>((resolve) => probe.socket.write(Buffer.from([b]), () => resolve()));
}

/** Resolves when the router closes the probe without having sent a byte. */
async function refusedSilently(probe: TcpProbe, what: string): Promise<void> {
  await withTimeout(probe.closed, WAIT_MS, `${what}: connection closed`);
  assert.equal(probe.pending.length, 0, `${what}: nothing sent back`);
}

/** stompit over a socket that writes `preamble` first (and from `localAddress`). */
function stompitVia(port: number, preamble: Buffer | undefined, localAddress?: string): StompitConnectOptions {
  return {
    port,
    connect: (_options, onConnected) => {
      const socket = net.connect({ port, host: '127.0.0.1', ...(localAddress ? { localAddress } : {}) }, onConnected);
      if (preamble) socket.write(preamble);
      return socket;
    },
  };
}

after(async () => {
  destroyAllRawPeers();
  await endAll(mqttClients);
  for (const r of routers) await r.close();
});

describe('proxy protocol, optional, 127.0.0.1 trusted', () => {
  let r: TestRouter;
  let mqttTlsPort = 0;

  before(async () => {
    r = await startRouter({
      ...quiet,
      proxy: { trusted: ['127.0.0.1/32'], protocol: 'optional' },
      // WAMP sessions anonymous from anywhere (the meta API shows their peer); MQTT and STOMP keep the loopback rule
      wamp: { anonymous: 'always' },
      mqtt: { sysIntervalSeconds: 0 },
    });
    routers.push(r);
    mqttTlsPort = (
      await r.router.listenMQTT({
        port: 0,
        host: '127.0.0.1',
        tls: { certFile: join(tlsDir, 'server.crt'), keyFile: join(tlsDir, 'server.key') },
      })
    ).port;
  });

  it('proxy protocol - MQTT: a v1 header names the client the loopback rule judges', async () => {
    const { client } = await connectMqttFrom(r.mqttPort, { preamble: proxyV1('127.0.0.9', 40001) }, { protocolVersion: 4 });
    mqttClients.push(client);
    // the proxy itself is loopback; the client it speaks for is not
    assert.equal(
      await connectRefusedFrom(r.mqttPort, { preamble: proxyV1('203.0.113.7', 40002) }, { protocolVersion: 4 }),
      NOT_AUTHORIZED_311,
    );
  });

  it('proxy protocol - MQTT 5: a v2 header, IPv4 and IPv6 clients', async () => {
    assert.equal(
      await connectRefusedFrom(r.mqttPort, { preamble: proxyV2('203.0.113.7', 40003) }, { protocolVersion: 5 }),
      NOT_AUTHORIZED_5,
    );
    assert.equal(
      await connectRefusedFrom(r.mqttPort, { preamble: proxyV2('2001:db8::7', 40004) }, { protocolVersion: 5 }),
      NOT_AUTHORIZED_5,
    );
    const { client } = await connectMqttFrom(r.mqttPort, { preamble: proxyV2('::1', 40005) }, { protocolVersion: 5 });
    mqttClients.push(client);
  });

  it('proxy protocol - MQTT over TLS: the header comes before the TLS handshake', async () => {
    const tlsOptions = { rejectUnauthorized: false };
    assert.equal(
      await connectRefusedFrom(mqttTlsPort, { preamble: proxyV2('203.0.113.8', 40006), tls: tlsOptions }, { protocolVersion: 4 }),
      NOT_AUTHORIZED_311,
    );
    const { client } = await connectMqttFrom(
      mqttTlsPort,
      { preamble: proxyV1('127.0.0.9', 40007), tls: tlsOptions },
      { protocolVersion: 4 },
    );
    mqttClients.push(client);
  });

  it('proxy protocol - MQTT: headers delivered one octet at a time', async () => {
    for (const [header, code] of [
      [proxyV1('203.0.113.9', 40008), NOT_AUTHORIZED_311],
      [proxyV2('203.0.113.9', 40009), NOT_AUTHORIZED_311],
      [proxyV1('127.0.0.9', 40010), 0],
      [proxyV2('127.0.0.9', 40011), 0],
    ] as const) {
      const probe = new TcpProbe(r.mqttPort);
      await trickle(probe, header);
      assert.equal(await connackCode(probe), code, header.toString('latin1'));
      probe.destroy();
    }
  });

  it('proxy protocol - STOMP (stompit over a socket that writes the header first)', async () => {
    await assert.rejects(stompitConnect(stompitVia(r.stompPort, proxyV1('203.0.113.10', 40012))));
    const client = await stompitConnect(stompitVia(r.stompPort, proxyV2('127.0.0.10', 40013)));
    await stompitDisconnect(client);
  });

  it('proxy protocol - WAMP RawSocket: the session meta shows the client the header named', async () => {
    const v1 = await RawSocketPeer.open(r.rawSocketPort, 'json', { preamble: proxyV1('203.0.113.11', 40014) });
    assert.equal(await seenPeer(v1), '203.0.113.11:40014');
    const v2 = await RawSocketPeer.open(r.rawSocketPort, 'cbor', { preamble: proxyV2('2001:db8::11', 40015) });
    assert.equal(await seenPeer(v2), '2001:db8::11:40015');
    // no header from the trusted proxy: optional, the proxy's own address stands
    const direct = await RawSocketPeer.open(r.rawSocketPort, 'json');
    assert.match(await seenPeer(direct), /^127\.0\.0\.1:\d+$/);
  });

  it('proxy protocol - a header from an untrusted address is refused, counted and closed; its plain clients are served', async () => {
    const listeners: [string, number][] = [
      ['MQTT', r.mqttPort],
      ['STOMP', r.stompPort],
      ['WAMP RawSocket', r.rawSocketPort],
      ['MQTT TLS', mqttTlsPort],
    ];
    for (const [listener, port] of listeners) {
      for (const header of [proxyV1('127.0.0.1', 40016), proxyV2('127.0.0.1', 40017)]) {
        const before = await metricValue(r, 'gatehouse_proxy_refused_total', { listener, reason: 'untrusted' });
        const probe = new TcpProbe(port, undefined, undefined, { localAddress: '127.0.0.2' });
        // a forged header, and a real client's opening right behind it
        await trickle(probe, header.subarray(0, 3));
        probe.write(Buffer.concat([header.subarray(3), handshakeBytes(1)]));
        await refusedSilently(probe, `${listener} forged header`);
        assert.equal(
          await metricValue(r, 'gatehouse_proxy_refused_total', { listener, reason: 'untrusted' }),
          before + 1,
          listener,
        );
      }
    }
    // 127.0.0.2 without a header is an ordinary (loopback) client
    const { client } = await connectMqttFrom(r.mqttPort, '127.0.0.2', { protocolVersion: 4 });
    mqttClients.push(client);
    const raw = await RawSocketPeer.open(r.rawSocketPort, 'msgpack', { localAddress: '127.0.0.2' });
    assert.match(await seenPeer(raw), /^127\.0\.0\.2:\d+$/);
  });

  it('proxy protocol - X-Forwarded-For and Forwarded on a WebSocket upgrade, believed from the trusted proxy only', async () => {
    const xff = await WsPeer.open(r.wsUrl, 'json', { headers: { 'x-forwarded-for': '198.51.100.1, 203.0.113.20' } });
    assert.equal(await seenPeer(xff), '203.0.113.20:0');
    const fwd = await WsPeer.open(r.wsUrl, 'msgpack', { headers: { forwarded: 'for="[2001:db8::20]:4711";proto=https' } });
    assert.equal(await seenPeer(fwd), '2001:db8::20:0');
    const forged = await WsPeer.open(r.wsUrl, 'json', {
      headers: { 'x-forwarded-for': '203.0.113.21' },
      localAddress: '127.0.0.2',
    });
    assert.match(await seenPeer(forged), /^127\.0\.0\.2:\d+$/);
    // MQTT over WebSocket: the loopback rule judges the forwarded client
    const over = (forwardedFor: string, localAddress?: string): MqttClient =>
      mqtt.connect(r.mqttWsUrl, {
        reconnectPeriod: 0,
        connectTimeout: WAIT_MS,
        protocolVersion: 4,
        wsOptions: { headers: { 'x-forwarded-for': forwardedFor }, ...(localAddress ? { localAddress } : {}) },
      });
    const refused = over('203.0.113.22');
    mqttClients.push(refused);
    const code = await withTimeout(
      new Promise<number | undefined>((resolve) => refused.once('error', (e) => resolve((e as { code?: number }).code))),
      WAIT_MS,
      'refused',
    );
    assert.equal(code, NOT_AUTHORIZED_311);
    const untrusted = over('203.0.113.22', '127.0.0.2');
    mqttClients.push(untrusted);
    await withTimeout(
      new Promise((resolve) => untrusted.once('connect', resolve)),
      WAIT_MS,
      'CONNACK for a header from an untrusted peer (ignored)',
    );
  });
});

describe('proxy protocol, per-IP limits count the forwarded client', () => {
  let r: TestRouter;

  before(async () => {
    r = await startRouter({
      ...quiet,
      proxy: { trusted: ['127.0.0.1'], protocol: 'optional' },
      limits: { maxConnectionsPerIp: 1 },
      wamp: { anonymous: 'always' },
      mqtt: { sysIntervalSeconds: 0 },
    });
    routers.push(r);
  });

  it('proxy protocol - many clients through one proxy address; one client past its limit is refused', async () => {
    const a = await RawSocketPeer.open(r.rawSocketPort, 'json', { preamble: proxyV1('198.51.100.1', 41001) });
    const b = await RawSocketPeer.open(r.rawSocketPort, 'json', { preamble: proxyV2('198.51.100.2', 41002) });
    await a.hello();
    await b.hello();
    const hits = await metricValue(r, 'gatehouse_limit_hits_total', { limit: 'max_connections_per_ip' });
    const again = new TcpProbe(r.rawSocketPort, undefined, undefined, {
      preamble: Buffer.concat([proxyV1('198.51.100.1', 41003), handshakeBytes(1)]),
    });
    await refusedSilently(again, 'a second connection of 198.51.100.1');
    assert.equal(await metricValue(r, 'gatehouse_limit_hits_total', { limit: 'max_connections_per_ip' }), hits + 1);
  });
});

describe('proxy protocol, the login throttle counts the forwarded client', () => {
  let r: TestRouter;

  before(async () => {
    const users = [
      await createUserRecord({ authid: 'alice', role: 'user', password: 'alice-secret', scrypt: { N: 1024, r: 8, p: 1 } }),
    ];
    const throttle = { maxFailures: 2, authidMaxFailures: 100 };
    r = await startRouter({
      ...quiet,
      proxy: { trusted: ['127.0.0.1'], protocol: 'optional' },
      auth: { users, throttle },
      mqtt: { sysIntervalSeconds: 0 },
    });
    routers.push(r);
  });

  it('proxy protocol - failures behind one proxy block the guessing client, not its neighbours', async () => {
    const login = (client: string): { preamble: Buffer } => ({ preamble: proxyV2(client, 44000) });
    for (let i = 0; i < 2; i++) {
      const code = await connectRefusedFrom(r.mqttPort, login('203.0.113.40'), {
        protocolVersion: 5,
        username: 'alice',
        password: 'guess',
      });
      assert.equal(code, BAD_USER_NAME_OR_PASSWORD);
    }
    // the guesser is blocked, even with the right password
    assert.equal(
      await connectRefusedFrom(r.mqttPort, login('203.0.113.40'), {
        protocolVersion: 5,
        username: 'alice',
        password: 'alice-secret',
      }),
      CONNECTION_RATE_EXCEEDED,
    );
    // another client through the same proxy (the same socket address, 127.0.0.1) is not
    const { client } = await connectMqttFrom(r.mqttPort, login('203.0.113.41'), {
      protocolVersion: 5,
      username: 'alice',
      password: 'alice-secret',
    });
    mqttClients.push(client);
  });
});

describe('proxy protocol, required', () => {
  let r: TestRouter;
  const lines: string[] = [];
  const HEADER_MS = 300;
  /** the header deadline is reached by moving this clock */
  const clock = new ManualClock();

  before(async () => {
    const logger = createLogger({ level: 'info', destination: { write: (line: string) => void lines.push(line) } });
    r = await startRouter(
      { proxy: { trusted: ['127.0.0.1'], protocol: 'required', headerTimeoutMs: HEADER_MS }, mqtt: { sysIntervalSeconds: 0 } },
      { logger, clock },
    );
    routers.push(r);
  });

  /** `cause` makes the refusal happen once the count before it is read (default: the probe's bytes) */
  const refusedFor = async (
    reason: string,
    probe: TcpProbe,
    what: string,
    cause = (): Promise<void> | void => undefined,
  ): Promise<void> => {
    const before = await metricValue(r, 'gatehouse_proxy_refused_total', { listener: 'MQTT', reason });
    await cause();
    await refusedSilently(probe, what);
    await waitFor(
      () => lines.some((l) => l.includes('PROXY protocol: connection refused') && l.includes(`"reason":"${reason}"`)),
      `a log line for ${reason}`,
    );
    assert.equal(await metricValue(r, 'gatehouse_proxy_refused_total', { listener: 'MQTT', reason }), before + 1, reason);
  };

  it('proxy protocol - required: missing, malformed, late and untrusted are closed; a valid header is served', async () => {
    await refusedFor(
      'missing',
      new TcpProbe(r.mqttPort, undefined, undefined, { preamble: connectBytes({ clientId: 'no-header' }) }),
      'no header',
    );
    await refusedFor(
      'malformed',
      new TcpProbe(r.mqttPort, undefined, undefined, { preamble: Buffer.from('PROXY TCP4 1.2.3.4 nonsense\r\n') }),
      'a malformed v1',
    );
    await refusedFor(
      'malformed',
      new TcpProbe(r.mqttPort, undefined, undefined, { preamble: Buffer.from(`PROXY UNKNOWN ${'x'.repeat(120)}`) }),
      'an endless v1',
    );
    const deadline = clock.nextTimer(HEADER_MS, 'the PROXY header deadline');
    const late = new TcpProbe(r.mqttPort, undefined, undefined, { preamble: Buffer.from('PROXY TCP4 1.2') });
    await deadline;
    await refusedFor('timeout', late, 'half a header', async () => {
      clock.advance(HEADER_MS - 1);
      await expectQuiet();
      assert.equal(late.closedAt, undefined, 'half a header is waited for until the deadline');
      clock.advance(1);
    });
    await refusedFor(
      'untrusted',
      new TcpProbe(r.mqttPort, undefined, undefined, { localAddress: '127.0.0.2' }),
      'an untrusted address',
    );
    assert.ok(
      lines.some((l) => l.includes('"level":40') && l.includes('"reason":"untrusted"')),
      'untrusted is a warning',
    );
    const { client } = await connectMqttFrom(r.mqttPort, { preamble: proxyV2('127.0.0.5', 42001) }, { protocolVersion: 4 });
    mqttClients.push(client);
  });
});

/** A router whose own HTTP server (router.createHttpServer, as the daemon's) listens on a loopback port. */
async function startHttpPort(config: Record<string, unknown>): Promise<{ router: Router; port: number }> {
  const router = new Router({
    ...quiet,
    store: { path: ':memory:' },
    wamp: { anonymous: 'always' },
    mqtt: { sysIntervalSeconds: 0 },
    ...config,
  });
  await router.start();
  const server = router.createHttpServer((_req, res) => res.end('ok'));
  await router.listenWAMP({ server, path: '/ws' });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  routers.push({
    close: async () => {
      await router.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  });
  return { router, port: typeof address === 'object' && address ? address.port : 0 };
}

describe('proxy protocol on the HTTPS port (before the TLS handshake, then the sniff)', () => {
  it('proxy protocol - HTTPS port: MQTT over TLS behind a header', async () => {
    const tls = { enabled: true, certFile: join(tlsDir, 'server.crt'), keyFile: join(tlsDir, 'server.key') };
    const { port } = await startHttpPort({
      http: { tls },
      proxy: { trusted: ['127.0.0.1/32'], listeners: { http: 'required' } },
    });
    const tlsOptions = { rejectUnauthorized: false };
    assert.equal(
      await connectRefusedFrom(port, { preamble: proxyV1('203.0.113.50', 45001), tls: tlsOptions }, { protocolVersion: 4 }),
      NOT_AUTHORIZED_311,
    );
    const { client } = await connectMqttFrom(
      port,
      { preamble: proxyV2('127.0.0.50', 45002), tls: tlsOptions },
      { protocolVersion: 4 },
    );
    mqttClients.push(client);
  });
});

describe('proxy protocol on the HTTP port (before the protocol sniff)', () => {
  let port = 0;

  before(async () => {
    ({ port } = await startHttpPort({ proxy: { trusted: ['127.0.0.1/32'], listeners: { http: 'optional' } } }));
  });

  it('proxy protocol - HTTP port: MQTT behind a header is sniffed and judged by the forwarded client', async () => {
    assert.equal(
      await connectRefusedFrom(port, { preamble: proxyV1('203.0.113.30', 43001) }, { protocolVersion: 4 }),
      NOT_AUTHORIZED_311,
    );
    const { client } = await connectMqttFrom(port, { preamble: proxyV2('127.0.0.30', 43002) }, { protocolVersion: 4 });
    mqttClients.push(client);
    const probe = new TcpProbe(port);
    await trickle(probe, proxyV2('127.0.0.31', 43003));
    assert.equal(await connackCode(probe), 0);
    probe.destroy();
  });

  it('proxy protocol - HTTP port: plain HTTP and a WAMP WebSocket behind a header', async () => {
    const response = await withTimeout(
      new Promise<number>((resolve, reject) => {
        const req = http.get({
          port,
          host: '127.0.0.1',
          path: '/',
          agent: false,
          createConnection: () => {
            const socket = net.connect({ port, host: '127.0.0.1' });
            socket.write(proxyV1('203.0.113.31', 43004));
            return socket;
          },
        });
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
      }),
      WAIT_MS,
      'HTTP response',
    );
    assert.equal(response, 200);
    // the RawSocket served on the HTTP port, behind a v2 header
    const raw = await RawSocketPeer.open(port, 'json', { preamble: proxyV2('203.0.113.32', 43005) });
    assert.equal(await seenPeer(raw), '203.0.113.32:43005');
    // a forged header from 127.0.0.2 never reaches the sniff
    const forged = new TcpProbe(port, undefined, undefined, {
      localAddress: '127.0.0.2',
      preamble: Buffer.concat([proxyV1('127.0.0.1', 1), Buffer.from('GET / HTTP/1.1\r\n\r\n')]),
    });
    await refusedSilently(forged, 'forged header on the HTTP port');
    // without a header the HTTP port is as before
    const frame = codecs.json.encode([1, 'realm1', HELLO_DETAILS]);
    const plain = new TcpProbe(port);
    plain.write(Buffer.concat([handshakeBytes(1), frameHeader(0, frame.length), frame]));
    assert.equal((await plain.read(4, WAIT_MS, 'RawSocket handshake reply'))[0], 0x7f);
    plain.destroy();
  });
});
