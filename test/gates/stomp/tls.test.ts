// STOMP over TLS: router.listenSTOMP({ tls: { certFile, keyFile } }) with the self-signed
// fixture certificate for 127.0.0.1; stompit and a raw TLS socket that trust it talk
// STOMP to it, and to the plain listener across the router; a client that does not trust
// it cannot connect; plain STOMP on the TLS port gets no CONNECTED.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Router } from '../../../index';
import {
  RawStomp,
  rawHeader,
  stompitConnect,
  stompitDisconnect,
  stompitRead,
  withTimeout,
  WAIT_MS,
  type StompitClient,
  type StompitMessage,
} from '../../helpers/stomp-clients';

const dir = join(__dirname, '../../fixtures/tls');
const ca = readFileSync(join(dir, 'server.crt'));
let router: Router;
let tlsPort = 0;
let plainPort = 0;
const opened: StompitClient[] = [];
const raws: RawStomp[] = [];

before(async () => {
  router = new Router({ log: { level: 'silent' }, store: { path: ':memory:' }, mqtt: { sysIntervalSeconds: 0 } });
  tlsPort = (await router.listenSTOMP({ port: 0, tls: { certFile: join(dir, 'server.crt'), keyFile: join(dir, 'server.key') } }))
    .port;
  plainPort = (await router.listenSTOMP({ port: 0 })).port;
});
after(async () => {
  for (const c of opened) c.destroy();
  for (const r of raws) r.destroy();
  await router.close();
});

describe('stomp tls', () => {
  it('stomp - stompit over TLS trusting the certificate sends and receives, and meets a plain TCP client', async () => {
    const c = await stompitConnect({ port: tlsPort, ssl: true, ca });
    opened.push(c);
    assert.equal(c.headers['version'], '1.2');
    const got = new Promise<{ body: string; headers: Record<string, string> }>((resolve, reject) => {
      c.subscribe({ destination: '/topic/tls.check', id: 't' }, (err, m: StompitMessage) => {
        if (err) return reject(err);
        stompitRead(m).then((body) => resolve({ body, headers: m.headers }), reject);
      });
    });
    const plain = await RawStomp.connect(plainPort);
    raws.push(plain.raw);
    // the SUBSCRIBE above has no receipt: a SEND with one from the same client orders it
    await withTimeout(
      new Promise<void>((resolve, reject) =>
        c.send({ destination: '/topic/tls.sync' }, { onReceipt: resolve, onError: reject }).end('x'),
      ),
      WAIT_MS,
      'stompit RECEIPT',
    );
    await plain.raw.request('SEND', { destination: '/topic/tls.check', 'x-from': 'plain' }, 'over tcp to tls');
    const m = await withTimeout(got, WAIT_MS, 'the message over TLS');
    assert.equal(m.body, 'over tcp to tls');
    assert.equal(m.headers['x-from'], 'plain');

    await plain.raw.request('SUBSCRIBE', { id: 'p', destination: '/queue/tls.q' });
    await withTimeout(
      new Promise<void>((resolve, reject) =>
        c.send({ destination: '/queue/tls.q' }, { onReceipt: resolve, onError: reject }).end('over tls to tcp'),
      ),
      WAIT_MS,
      'stompit RECEIPT for a queue SEND',
    );
    const q = await plain.raw.expect('MESSAGE', 'the queue message over TCP');
    assert.equal(q.body.toString(), 'over tls to tcp');
    await stompitDisconnect(c);
  });

  it('stomp - a raw TLS socket speaks STOMP frames to the TLS listener (receipts, ERROR and close)', async () => {
    const raw = await RawStomp.open(tlsPort, { tls: { ca } });
    raws.push(raw);
    raw.send('CONNECT', { 'accept-version': '1.2', host: 'localhost' });
    const connected = await raw.expect('CONNECTED', 'CONNECTED over TLS');
    assert.equal(rawHeader(connected, 'version'), '1.2');
    await raw.request('SUBSCRIBE', { id: 's', destination: '/topic/tls.raw' });
    await raw.request('SEND', { destination: '/topic/tls.raw' }, 'self');
    const m = await raw.expect('MESSAGE', 'own MESSAGE over TLS');
    assert.equal(m.body.toString(), 'self');
    raw.write('GARBAGE\n\n\0');
    await raw.expect('ERROR', 'ERROR over TLS');
    await raw.waitClosed('close over TLS');
  });

  it('stomp - a client that does not trust the certificate cannot connect', async () => {
    await assert.rejects(stompitConnect({ port: tlsPort, ssl: true }), /self[- ]signed|certificate/i);
  });

  it('stomp - plain STOMP on the TLS port gets no CONNECTED', async () => {
    const socket = net.connect(tlsPort, '127.0.0.1');
    socket.on('error', () => undefined);
    let received = '';
    socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
    try {
      await withTimeout(new Promise<void>((r) => socket.once('connect', () => r())), WAIT_MS, 'TCP connect');
      socket.write('CONNECT\naccept-version:1.2\nhost:localhost\n\n\0');
      await withTimeout(
        new Promise<void>((r) => socket.once('close', () => r())),
        WAIT_MS,
        'the TLS listener to drop a plain client',
      );
      assert.doesNotMatch(received, /CONNECTED/);
    } finally {
      socket.destroy();
    }
  });
});
