// Transport limits over real sockets: the WebSocket Origin allow-list, connections per IP
// and in total, slowloris (nothing or half a handshake sent) on every listener, inbound
// rate limits (throttle, then the protocol's error) without harm to other clients,
// subscriptions and registrations per session, and retained keys and value size per realm.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import mqtt from 'mqtt';
import { connect } from '../helpers/autobahn';
import { frameBytes, RawStomp, rawHeader } from '../helpers/stomp-clients';
import { destroyAllRawPeers, TcpProbe, upgradeStatus, WsPeer } from '../helpers/raw-wamp';
import { startRouter, type TestRouter } from '../helpers/router';
import { pace, waitFor, withTimeout, WAIT_MS } from '../helpers/mqtt-clients';

const routers: TestRouter[] = [];
const raws: RawStomp[] = [];
after(async () => {
  for (const r of raws) r.destroy();
  destroyAllRawPeers();
  await Promise.all(routers.map((r) => r.close()));
});

async function router(config: Record<string, unknown>): Promise<TestRouter> {
  const r = await startRouter({ mqtt: { sysIntervalSeconds: 0 }, ...config });
  routers.push(r);
  return r;
}

async function limitHits(r: TestRouter, gate: string, limit: string): Promise<number> {
  const text = await r.router.metrics.render();
  const line = text.split('\n').find((l) => l.startsWith(`gatehouse_limit_hits_total{gate="${gate}",limit="${limit}"}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

const portOf = (url: string): number => Number(new URL(url).port);
const WAMP_WS = { 'Sec-WebSocket-Protocol': 'wamp.2.json' };

describe('limits - WebSocket Origin allow-list', () => {
  it('limits - a foreign Origin gets 403 and is counted; allowed, wildcard, same-host and absent Origins upgrade', async () => {
    const r = await router({ http: { allowedOrigins: ['https://app.example.com', 'https://*.example.org'] } });
    const port = portOf(r.wsUrl);
    const refused = await upgradeStatus(port, '/ws', { ...WAMP_WS, Origin: 'https://evil.example.net' });
    assert.equal(refused.status, 403);
    assert.equal(await limitHits(r, 'wamp', 'origin'), 1);
    assert.equal((await upgradeStatus(port, '/ws', { ...WAMP_WS, Origin: 'https://app.example.com' })).status, 101);
    assert.equal((await upgradeStatus(port, '/ws', { ...WAMP_WS, Origin: 'https://eu.example.org' })).status, 101);
    assert.equal((await upgradeStatus(port, '/ws', { ...WAMP_WS, Origin: `http://127.0.0.1:${port}` })).status, 101);
    assert.equal((await upgradeStatus(port, '/ws', WAMP_WS)).status, 101);
    // the same list guards the MQTT and STOMP WebSocket endpoints
    const mqttWs = await upgradeStatus(portOf(r.mqttWsUrl), '/mqtt', {
      'Sec-WebSocket-Protocol': 'mqtt',
      Origin: 'https://evil.example.net',
    });
    assert.equal(mqttWs.status, 403);
    const stompWs = await upgradeStatus(portOf(r.stompWsUrl), '/stomp', {
      'Sec-WebSocket-Protocol': 'v12.stomp',
      Origin: 'https://evil.example.net',
    });
    assert.equal(stompWs.status, 403);
  });
});

describe('limits - connections', () => {
  it('limits - connections per IP: the one over is closed at accept (TCP) or answered 429 (WebSocket)', async () => {
    const r = await router({ limits: { maxConnectionsPerIp: 3 } });
    const held = [new TcpProbe(r.mqttPort), new TcpProbe(r.stompPort), new TcpProbe(r.rawSocketPort)];
    await Promise.all(held.map((p) => p.connected));
    await waitFor(() => r.router.connections.open === 3, 'three connections counted');
    const over = new TcpProbe(r.mqttPort);
    await withTimeout(over.closed, WAIT_MS, 'the fourth TCP connection to be closed');
    assert.equal((await upgradeStatus(portOf(r.wsUrl), '/ws', WAMP_WS)).status, 429);
    assert.equal(await limitHits(r, 'mqtt', 'max_connections_per_ip'), 1);
    assert.equal(await limitHits(r, 'wamp', 'max_connections_per_ip'), 1);
    // a slot given back is taken again
    held[0]?.destroy();
    await waitFor(() => r.router.connections.open === 2, 'the closed connection released');
    const c = await mqtt.connectAsync(r.mqttUrl, { reconnectPeriod: 0, connectTimeout: WAIT_MS });
    await c.endAsync(true);
    for (const p of held) p.destroy();
  });

  it('limits - total connections: a WebSocket upgrade over the limit gets 503', async () => {
    const r = await router({ limits: { maxConnections: 1 } });
    const held = new TcpProbe(r.stompPort);
    await held.connected;
    await waitFor(() => r.router.connections.open === 1, 'one connection counted');
    assert.equal((await upgradeStatus(portOf(r.stompWsUrl), '/stomp', { 'Sec-WebSocket-Protocol': 'v12.stomp' })).status, 503);
    assert.equal(await limitHits(r, 'stomp', 'max_connections'), 1);
    held.destroy();
  });
});

describe('limits - slowloris', () => {
  it('limits - a socket that sends nothing, or half a handshake, is closed on every listener', async () => {
    const r = await router({
      http: { headersTimeoutMs: 500 },
      wamp: { helloTimeoutMs: 500 },
      mqtt: { connectTimeoutMs: 500, sysIntervalSeconds: 0 },
      stomp: { connectTimeoutMs: 500 },
    });
    const silent = [r.mqttPort, r.stompPort, r.rawSocketPort].map((p) => new TcpProbe(p));
    // half a RawSocket handshake, half a STOMP CONNECT, half an MQTT CONNECT
    const half = [r.rawSocketPort, r.stompPort, r.mqttPort].map((p) => new TcpProbe(p));
    await Promise.all(half.map((p) => p.connected));
    half[0]?.write([0x7f, 0xf1]);
    half[1]?.write(Buffer.from('CONNECT\naccept-version:1.2\n'));
    half[2]?.write([0x10, 0x20, 0x00, 0x04]);
    // HTTP: headers never finished, on each WebSocket port
    const httpProbes = [r.wsUrl, r.mqttWsUrl, r.stompWsUrl].map((u) => {
      const p = new TcpProbe(portOf(u));
      void p.connected.then(() =>
        p.write(Buffer.from(`GET ${new URL(u).pathname} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n`)),
      );
      return p;
    });
    // upgraded, but no HELLO / CONNECT
    const wamp = await WsPeer.open(r.wsUrl, 'json');
    for (const p of [...silent, ...half, ...httpProbes]) await withTimeout(p.closed, 5000, 'a slow socket to be closed');
    await withTimeout(wamp.closed, 5000, 'a WebSocket without HELLO to be closed');
  });

  it('limits - a TLS listener drops a client that never finishes the handshake', async () => {
    const dir = join(__dirname, '../fixtures/tls');
    const r = await router({ limits: { tlsHandshakeTimeoutMs: 500 } });
    const l = await r.router.listenMQTT({
      port: 0,
      tls: { certFile: join(dir, 'server.crt'), keyFile: join(dir, 'server.key') },
    });
    const probe = new TcpProbe(l.port);
    await probe.connected;
    probe.write([0x16, 0x03, 0x01]); // the start of a ClientHello, then nothing
    await withTimeout(probe.closed, 5000, 'the stalled TLS handshake to be dropped');
  });
});

describe('limits - inbound rate', () => {
  const rate = { limits: { messagesPerSecond: 50, rateLimitDisconnectMs: 3000 } };

  it('limits - MQTT: a burst is throttled but delivered, a flood gets DISCONNECT 0x96; another client is unaffected', async () => {
    const r = await router(rate);
    const sub = await mqtt.connectAsync(r.mqttUrl, { protocolVersion: 5, reconnectPeriod: 0, clientId: 'rate-sub' });
    const other = await mqtt.connectAsync(r.mqttUrl, { protocolVersion: 5, reconnectPeriod: 0, clientId: 'rate-other' });
    const flooder = await mqtt.connectAsync(r.mqttUrl, { protocolVersion: 5, reconnectPeriod: 0, clientId: 'rate-flood' });
    try {
      await sub.subscribeAsync(['rate/flood', 'rate/other'], { qos: 0 });
      const got = { flood: 0, other: 0 };
      sub.on('message', (t) => (t === 'rate/flood' ? got.flood++ : got.other++));
      // 80 in a burst: 50 fit the bucket, the rest wait for tokens (reading paused)
      for (let i = 0; i < 80; i++) flooder.publish('rate/flood', `m${i}`, { qos: 0 });
      await waitFor(() => got.flood === 80, 'the throttled burst delivered in full', 5000);
      assert.equal(await limitHits(r, 'mqtt', 'messages_per_second'), 1);
      assert.equal(flooder.connected, true);
      const disconnect = new Promise<number | undefined>((resolve) => flooder.once('disconnect', (p) => resolve(p.reasonCode)));
      for (let i = 0; i < 2000; i++) flooder.publish('rate/flood', 'x', { qos: 0 });
      for (let i = 0; i < 5; i++) {
        await other.publishAsync('rate/other', `o${i}`, { qos: 1 });
        await pace(20); // the well-behaved client's messages spread over the flood, not one burst
      }
      assert.equal(await withTimeout(disconnect, WAIT_MS, 'DISCONNECT for the flooder'), 0x96);
      await waitFor(() => got.other === 5, "the other client's messages");
      assert.equal(await limitHits(r, 'mqtt', 'messages_per_second_disconnect'), 1);
    } finally {
      await Promise.all([sub, other, flooder].map((c) => c.endAsync(true)));
    }
  });

  it('limits - WAMP: a flooding publisher is sent away with wamp.error.rate_limit_exceeded', async () => {
    const r = await router(rate);
    const flooder = await connect({ url: r.wsUrl });
    const other = await connect({ url: r.wsUrl });
    try {
      for (let i = 0; i < 2000; i++) void flooder.session.publish('rate.flood', [i]);
      const closed = await withTimeout(flooder.onclose, WAIT_MS, 'the flooder to be closed');
      assert.equal(closed.details['reason'], 'wamp.error.rate_limit_exceeded');
      assert.equal(await limitHits(r, 'wamp', 'messages_per_second_disconnect'), 1);
      await other.session.publish('rate.other', [1], {}, { acknowledge: true });
    } finally {
      await other.close();
    }
  });

  it("limits - STOMP: a burst is throttled like MQTT's (reading pauses until the debt is paid), delivered in full, counted once", async () => {
    const r = await router(rate);
    const { raw: sub } = await RawStomp.connect(r.stompPort);
    const { raw: sender } = await RawStomp.connect(r.stompPort);
    raws.push(sub, sender);
    await sub.request('SUBSCRIBE', { destination: '/topic/rate.burst', id: '1' });
    // 150 in one chunk: 50 fit the bucket, the other 100 are handled (they have been
    // read) and leave a debt of two seconds, during which the connection is not read
    const burst = Array.from({ length: 150 }, (_, i) =>
      frameBytes('SEND', { destination: '/topic/rate.burst', ...(i === 149 ? { receipt: 'burst' } : {}) }, `b${i}`),
    );
    sender.write(Buffer.concat(burst));
    await sender.receipt('burst');
    await waitFor(() => sub.pending('MESSAGE').length === 150, 'the whole burst delivered');
    const sentAt = Date.now();
    const after = sender.request('SEND', { destination: '/topic/rate.burst' }, 'after');
    await after;
    const waited = Date.now() - sentAt;
    assert.ok(waited >= 1000, `the frame after the burst was read after the debt was paid, not at once (${waited} ms)`);
    await waitFor(() => sub.pending('MESSAGE').length === 151, 'the frame after the burst delivered');
    assert.equal(sender.pending('ERROR').length, 0, 'slowed down, not refused');
    assert.equal(await limitHits(r, 'stomp', 'messages_per_second'), 1, 'one stretch of throttling');
  });

  it('limits - STOMP: a flood of SENDs gets ERROR "message rate too high"', async () => {
    const r = await router(rate);
    const { raw } = await RawStomp.connect(r.stompPort);
    raws.push(raw);
    raw.write(Buffer.concat(Array.from({ length: 2000 }, () => Buffer.from('SEND\ndestination:/topic/rate.flood\n\nx\0'))));
    const error = await raw.expect('ERROR', 'ERROR for the flood');
    assert.equal(rawHeader(error, 'message'), 'message rate too high');
    await raw.waitClosed('the flooder closed');
    const { raw: other } = await RawStomp.connect(r.stompPort);
    raws.push(other);
    await other.request('SEND', { destination: '/topic/rate.other' }, 'fine');
  });
});

describe('limits - inbound bytes per second', () => {
  it('limits - STOMP: large bodies past bytesPerSecond get ERROR "message rate too high"; small traffic passes', async () => {
    const r = await router({ limits: { bytesPerSecond: 4096, rateLimitDisconnectMs: 1000 } });
    const { raw } = await RawStomp.connect(r.stompPort);
    raws.push(raw);
    await raw.request('SEND', { destination: '/topic/bytes.small' }, 'a few bytes');
    const big = 'b'.repeat(2048);
    raw.write(Buffer.concat(Array.from({ length: 10 }, () => Buffer.from(`SEND\ndestination:/topic/bytes.big\n\n${big}\0`))));
    const error = await raw.expect('ERROR', 'ERROR for 20 KiB against 4 KiB/s');
    assert.equal(rawHeader(error, 'message'), 'message rate too high');
    assert.equal(await limitHits(r, 'stomp', 'bytes_per_second_disconnect'), 1);
  });
});

describe('limits - subscriptions and registrations per session', () => {
  const cfg = { limits: { maxSubscriptionsPerSession: 2, maxRegistrationsPerSession: 1 } };

  it('limits - WAMP: the subscription and registration over the limit get gatehouse.error.limit_exceeded', async () => {
    const r = await router(cfg);
    const c = await connect({ url: r.wsUrl });
    try {
      await c.session.subscribe('sub.a', () => undefined);
      await c.session.subscribe('sub.b', () => undefined);
      await assert.rejects(
        c.session.subscribe('sub.c', () => undefined),
        (e: { error?: string }) => e.error === 'gatehouse.error.limit_exceeded',
      );
      await c.session.register('proc.a', () => 1);
      await assert.rejects(
        c.session.register('proc.b', () => 1),
        (e: { error?: string }) => e.error === 'gatehouse.error.limit_exceeded',
      );
    } finally {
      await c.close();
    }
  });

  it('limits - MQTT: SUBACK 0x97 (v5) and 0x80 (3.1.1) for filters over the limit', async () => {
    const r = await router(cfg);
    for (const [protocolVersion, code] of [
      [5, 0x97],
      [4, 0x80],
    ] as const) {
      const c = await mqtt.connectAsync(r.mqttUrl, { protocolVersion, reconnectPeriod: 0 });
      try {
        // mqtt.js rejects a SUBACK with a failure code; the packet is on the error
        const granted = await c.subscribeAsync(['s/1', 's/2', 's/3'], { qos: 1 }).then(
          (g) => g.map((x) => x.qos),
          (err: { packet?: { granted?: number[] } }) => err.packet?.granted,
        );
        assert.deepEqual(granted, [1, 1, code]);
      } finally {
        await c.endAsync(true);
      }
    }
  });

  it('limits - STOMP: a SUBSCRIBE over the limit gets ERROR "limit exceeded"', async () => {
    const r = await router(cfg);
    const { raw } = await RawStomp.connect(r.stompPort);
    raws.push(raw);
    await raw.request('SUBSCRIBE', { id: '1', destination: '/topic/s.1' });
    await raw.request('SUBSCRIBE', { id: '2', destination: '/topic/s.2' });
    raw.send('SUBSCRIBE', { id: '3', destination: '/topic/s.3', receipt: 'r3' });
    const error = await raw.expect('ERROR', 'ERROR for the third SUBSCRIBE');
    assert.equal(rawHeader(error, 'message'), 'limit exceeded');
  });
});

describe('limits - retained store per realm', () => {
  const cfg = { limits: { maxRetainedKeysPerRealm: 2, maxRetainedValueBytes: 16 } };

  it('limits - WAMP: a key too many and a value too large are refused; overwrite and delete still work', async () => {
    const r = await router(cfg);
    const c = await connect({ url: r.wsUrl });
    const retain = (topic: string, args: unknown[]): Promise<unknown> =>
      c.session.publish(topic, args, {}, { retain: true, acknowledge: true }) as Promise<unknown>;
    try {
      await retain('ret.a', [1]);
      await retain('ret.b', [2]);
      await assert.rejects(retain('ret.c', [3]), (e: { error?: string }) => e.error === 'gatehouse.error.limit_exceeded');
      await retain('ret.a', [11]); // overwriting adds no key
      await assert.rejects(
        retain('ret.a', ['x'.repeat(64)]),
        (e: { error?: string }) => e.error === 'wamp.error.payload_size_exceeded',
      );
      await retain('ret.b', []); // an empty value deletes
      await retain('ret.c', [3]);
      assert.equal(await limitHits(r, 'wamp', 'max_retained_keys'), 1);
      assert.equal(await limitHits(r, 'wamp', 'max_retained_value_bytes'), 1);
    } finally {
      await c.close();
    }
  });

  it('limits - MQTT 5: PUBACK 0x97 (quota exceeded) for a key too many and for a value too large', async () => {
    const r = await router(cfg);
    const c = await mqtt.connectAsync(r.mqttUrl, { protocolVersion: 5, reconnectPeriod: 0 });
    const reason = (topic: string, payload: string): Promise<number | undefined> =>
      c.publishAsync(topic, payload, { qos: 1, retain: true }).then(
        (p) => (p as { reasonCode?: number } | undefined)?.reasonCode ?? 0,
        (err: { code?: number }) => err.code,
      );
    try {
      assert.equal(await reason('ret/a', '1'), 0);
      assert.equal(await reason('ret/b', '2'), 0);
      assert.equal(await reason('ret/c', '3'), 0x97);
      // 0x95 is not a PUBACK reason code (MQTT 5 §3.4.2.1): a store quota it is
      assert.equal(await reason('ret/a', 'y'.repeat(64)), 0x97);
      assert.equal(await limitHits(r, 'mqtt', 'max_retained_value_bytes'), 1);
    } finally {
      await c.endAsync(true);
    }
  });
});
