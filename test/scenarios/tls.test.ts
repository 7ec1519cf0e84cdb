// TLS on every listener with real clients: autobahn over wss (with a client certificate),
// WAMP RawSocket over TLS (a raw client: autobahn's RawSocket has no TLS), mqtt.js over
// mqtts and wss, stompit over TLS and stompjs over wss. The server certificate is signed by
// the test CA (test/fixtures/tls); client certificates are verified against it and reach
// the core as TransportInfo.clientCertificate. Required client certificates refuse a
// client without one. reloadCertificates() swaps a listener's certificate; a bad file
// keeps the old one.
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import { Router } from '../../index';
import type { ClientCertificate, TransportInfo } from '../../lib/session';
import { connect } from '../helpers/autobahn';
import { codecs, frameHeader, handshakeBytes } from '../helpers/raw-wamp';
import {
  StompjsClients,
  stompitConnect,
  subscribeConfirmed,
  stompitDisconnect,
  withTimeout,
  WAIT_MS,
  type StompitConnectOptions,
} from '../helpers/stomp-clients';

const dir = join(__dirname, '../fixtures/tls');
const pem = (name: string): Buffer => readFileSync(join(dir, name));
const ca = pem('ca.crt');
const client = { cert: pem('client.crt'), key: pem('client.key') };
/** a certificate the test CA did not sign */
const stranger = { cert: pem('server.crt'), key: pem('server.key') };
const serverFiles = { certFile: join(dir, 'ca-server.crt'), keyFile: join(dir, 'ca-server.key'), caFile: join(dir, 'ca.crt') };

let router: Router;
const ports = { wss: 0, raw: 0, mqtts: 0, mqttsRequired: 0, mqttWss: 0, stomps: 0, stompWss: 0 };
const stompjs = new StompjsClients();

before(async () => {
  router = new Router({ log: { level: 'silent' }, store: { path: ':memory:' }, mqtt: { sysIntervalSeconds: 0 } });
  await router.start();
  const optional = { ...serverFiles, requestCert: true };
  const required = { ...serverFiles, requireClientCert: true };
  ports.wss = (await router.listenWAMP({ port: 0, tls: optional })).port;
  ports.raw = (await router.listenRawSocket({ port: 0, tls: required })).port;
  ports.mqtts = (await router.listenMQTT({ port: 0, tls: optional })).port;
  ports.mqttsRequired = (await router.listenMQTT({ port: 0, tls: required })).port;
  ports.mqttWss = (await router.listenMQTTWebSocket({ port: 0, path: '/mqtt', tls: optional })).port;
  // buffers instead of files: the embedded form
  ports.stomps = (await router.listenSTOMP({ port: 0, tls: { cert: pem('ca-server.crt'), key: pem('ca-server.key'), ca } })).port;
  ports.stompWss = (await router.listenSTOMPWebSocket({ port: 0, path: '/stomp', tls: optional })).port;
});

after(async () => {
  await stompjs.closeAll();
  await router.close();
});

/** The live sessions of a gate, as the core sees their transports. */
function transports(gate: string): TransportInfo[] {
  const realm = router.realm('realm1');
  return realm ? [...realm.sessions.values()].filter((s) => s.transport.gate === gate).map((s) => s.transport) : [];
}

/** Connects mqtt.js once: 'connected', or how it failed ('error' / 'closed'). */
async function mqttOutcome(url: string, opts: mqtt.IClientOptions): Promise<string> {
  const c = mqtt.connect(url, { servername: 'localhost', reconnectPeriod: 0, connectTimeout: WAIT_MS, ...opts });
  c.on('error', () => undefined);
  const outcome = await withTimeout(
    new Promise<string>((resolve) => {
      c.once('connect', () => resolve('connected'));
      c.once('error', () => resolve('error'));
      c.once('close', () => resolve('closed'));
    }),
    WAIT_MS * 2,
    'the mqtts outcome',
  );
  await c.endAsync(true);
  return outcome;
}

function assertDevice7(cert: ClientCertificate | undefined): void {
  assert.ok(cert, 'a client certificate on the session');
  assert.equal(cert.subject['CN'], 'device-7');
  assert.equal(cert.subject['O'], 'Gatehouse Tests');
  assert.equal(cert.authorized, true);
  assert.match(cert.fingerprint256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
}

describe('tls - WAMP', () => {
  it('tls - autobahn over wss with a client certificate joins, routes, and the core sees the certificate', async () => {
    const c = await connect({ url: `wss://127.0.0.1:${ports.wss}/ws`, tlsConfiguration: { ca, ...client } });
    try {
      let resolveGot: (v: unknown) => void = () => undefined;
      const got = new Promise<unknown>((resolve) => (resolveGot = resolve));
      await withTimeout(
        c.session.subscribe('tls.wamp', (args) => resolveGot(args[0])),
        WAIT_MS,
        'SUBSCRIBED over wss',
      );
      await c.session.publish('tls.wamp', ['secure'], {}, { acknowledge: true, exclude_me: false });
      assert.equal(await withTimeout(got, WAIT_MS, 'the event over wss'), 'secure');
      const s = router.findSession(c.session.id);
      assert.equal(s?.transport.type, 'websocket');
      assertDevice7(s?.transport.clientCertificate);
    } finally {
      await c.close();
    }
  });

  it('tls - a plain ws:// client on the wss port gets no WebSocket', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${ports.wss}/ws`, ['wamp.2.json']);
    const outcome = await new Promise<string>((resolve) => {
      ws.once('open', () => resolve('open'));
      ws.once('error', () => resolve('error'));
    });
    ws.terminate();
    assert.equal(outcome, 'error');
  });

  it('tls - RawSocket over TLS with the required client certificate: handshake, HELLO, WELCOME', async () => {
    const socket = tls.connect({ port: ports.raw, host: '127.0.0.1', ca, ...client, servername: 'localhost' });
    try {
      await withTimeout(new Promise<void>((r, j) => socket.once('secureConnect', r).once('error', j)), WAIT_MS, 'TLS connect');
      let buf = Buffer.alloc(0);
      const read = (n: number): Promise<Buffer> =>
        withTimeout(
          new Promise<Buffer>((resolve) => {
            const check = (): void => {
              if (buf.length < n) return void socket.once('data', (d: Buffer) => ((buf = Buffer.concat([buf, d])), check()));
              const out = buf.subarray(0, n);
              buf = buf.subarray(n);
              resolve(out);
            };
            check();
          }),
          WAIT_MS,
          `${n} bytes over RawSocket TLS`,
        );
      socket.write(handshakeBytes(codecs.json.rawSocketId));
      const reply = await read(4);
      assert.equal(reply[0], 0x7f);
      const hello = codecs.json.encode([1, 'realm1', { roles: { subscriber: {} } }]);
      socket.write(Buffer.concat([frameHeader(0, hello.length), hello]));
      const header = await read(4);
      const len = header.readUInt32BE(0) & 0xffffff;
      const welcome = codecs.json.decode(await read(len)) as unknown[];
      assert.equal(welcome[0], 2, 'WELCOME');
      const s = router.findSession(welcome[1] as number);
      assert.equal(s?.transport.type, 'rawsocket');
      assertDevice7(s?.transport.clientCertificate);
    } finally {
      socket.destroy();
    }
  });

  it('tls - RawSocket over TLS refuses a client without a certificate', async () => {
    const socket = tls.connect({ port: ports.raw, host: '127.0.0.1', ca, servername: 'localhost' });
    socket.on('error', () => undefined);
    let welcomed = false;
    socket.on('data', () => (welcomed = true));
    socket.once('secureConnect', () => socket.write(handshakeBytes(codecs.json.rawSocketId)));
    await withTimeout(new Promise<void>((r) => socket.once('close', () => r())), WAIT_MS, 'the refused TLS client to be closed');
    assert.equal(welcomed, false, 'no handshake reply without a client certificate');
  });
});

describe('tls - MQTT', () => {
  it('tls - mqtt.js over mqtts with a client certificate: pub/sub, certificate on the session', async () => {
    const c = await mqtt.connectAsync(`mqtts://127.0.0.1:${ports.mqtts}`, {
      ca,
      ...client,
      servername: 'localhost',
      protocolVersion: 5,
      reconnectPeriod: 0,
      clientId: 'mqtts-cert',
    });
    try {
      await c.subscribeAsync('tls/mqtt', { qos: 1 });
      const got = new Promise<string>((resolve) => c.once('message', (_t, p) => resolve(p.toString())));
      await c.publishAsync('tls/mqtt', 'over mqtts', { qos: 1 });
      assert.equal(await withTimeout(got, WAIT_MS, 'the message over mqtts'), 'over mqtts');
      const info = transports('mqtt').find((t) => t.type === 'tls' && t.clientCertificate);
      assertDevice7(info?.clientCertificate);
    } finally {
      await c.endAsync(true);
    }
  });

  it('tls - a certificate the CA did not sign is reported unauthorized where certificates are optional', async () => {
    const c = await mqtt.connectAsync(`mqtts://127.0.0.1:${ports.mqtts}`, {
      ca,
      ...stranger,
      servername: 'localhost',
      reconnectPeriod: 0,
      clientId: 'mqtts-stranger',
    });
    try {
      const info = transports('mqtt').find((t) => t.clientCertificate?.subject['CN'] === 'localhost');
      assert.equal(info?.clientCertificate?.authorized, false);
    } finally {
      await c.endAsync(true);
    }
  });

  it('tls - a listener requiring client certificates takes mqtt.js with one and refuses it without', async () => {
    const url = `mqtts://127.0.0.1:${ports.mqttsRequired}`;
    assert.equal(await mqttOutcome(url, { ca, ...client }), 'connected');
    assert.notEqual(await mqttOutcome(url, { ca }), 'connected', 'no certificate');
    assert.notEqual(await mqttOutcome(url, { ca, ...stranger }), 'connected', 'a certificate the CA did not sign');
  });

  it('tls - mqtt.js over wss publishes and receives', async () => {
    const c = await mqtt.connectAsync(`wss://127.0.0.1:${ports.mqttWss}/mqtt`, {
      ca,
      servername: 'localhost',
      reconnectPeriod: 0,
      wsOptions: { ca },
    });
    try {
      await c.subscribeAsync('tls/mqttws', { qos: 1 });
      const got = new Promise<string>((resolve) => c.once('message', (_t, p) => resolve(p.toString())));
      await c.publishAsync('tls/mqttws', 'over wss', { qos: 1 });
      assert.equal(await withTimeout(got, WAIT_MS, 'the message over MQTT wss'), 'over wss');
      assert.ok(transports('mqtt').some((t) => t.type === 'websocket' && t.clientCertificate === undefined));
    } finally {
      await c.endAsync(true);
    }
  });
});

describe('tls - STOMP', () => {
  it('tls - stompit over TLS with a client certificate connects (buffers given to listenSTOMP)', async () => {
    const opts = { port: ports.stomps, ssl: true, ca, servername: 'localhost', ...client } as StompitConnectOptions;
    const c = await stompitConnect(opts);
    try {
      assert.equal(c.headers['version'], '1.2');
      assertDevice7(transports('stomp').find((t) => t.type === 'tls')?.clientCertificate);
    } finally {
      await stompitDisconnect(c);
    }
  });

  it('tls - stompjs over wss sends and receives', async () => {
    const url = `wss://127.0.0.1:${ports.stompWss}/stomp`;
    const { client: c } = await stompjs.connect(() => new WebSocket(url, ['v12.stomp'], { ca, ...client }));
    let delivered: (body: string) => void = () => undefined;
    const got = new Promise<string>((resolve) => (delivered = resolve));
    await subscribeConfirmed(c, '/topic/tls.stomp', (m) => delivered(m.body));
    c.publish({ destination: '/topic/tls.stomp', body: 'over wss' });
    assert.equal(await withTimeout(got, WAIT_MS, 'the STOMP message over wss'), 'over wss');
    assertDevice7(transports('stomp').find((t) => t.type === 'websocket')?.clientCertificate);
  });
});

describe('tls - certificate reload', () => {
  it('tls - reloadCertificates() swaps the certificate; a bad file keeps the old one', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-tls-'));
    const r = new Router({ log: { level: 'silent' }, store: { path: ':memory:' }, mqtt: { sysIntervalSeconds: 0 } });
    try {
      const certFile = join(tmp, 'cert.pem');
      const keyFile = join(tmp, 'key.pem');
      copyFileSync(join(dir, 'server.crt'), certFile);
      copyFileSync(join(dir, 'server.key'), keyFile);
      const { port } = await r.listenSTOMP({ port: 0, tls: { certFile, keyFile } });
      const issuer = async (): Promise<string | undefined> => {
        const s = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false });
        try {
          await withTimeout(
            new Promise<void>((res, rej) => s.once('secureConnect', res).once('error', rej)),
            WAIT_MS,
            'TLS connect',
          );
          const cn = s.getPeerCertificate().issuer.CN;
          return Array.isArray(cn) ? cn.join(',') : cn;
        } finally {
          s.destroy();
        }
      };
      assert.equal(await issuer(), 'localhost', 'the self-signed certificate first');

      copyFileSync(join(dir, 'ca-server.crt'), certFile);
      copyFileSync(join(dir, 'ca-server.key'), keyFile);
      assert.deepEqual(r.reloadCertificates(), { reloaded: ['STOMP TLS'], failed: [] });
      assert.equal(await issuer(), 'Gatehouse Test CA', 'the CA-signed certificate after reload');
      // a client trusting only the CA now connects
      const c = await stompitConnect({ port, ssl: true, ca, servername: 'localhost' });
      await stompitDisconnect(c);

      writeFileSync(certFile, 'not a certificate');
      assert.deepEqual(r.reloadCertificates(), { reloaded: [], failed: ['STOMP TLS'] });
      assert.equal(await issuer(), 'Gatehouse Test CA', 'still the last good certificate');
    } finally {
      await r.close();
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
