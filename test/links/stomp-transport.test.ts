// The STOMP link transport (lib/links/stomp-transport.ts) on its own against a real
// Gatehouse router's STOMP gate over stomps:// with mutual TLS, the peer-to-peer setup of
// swpt_stomp: the link's client certificate names it (CN = its authid), the router
// authorizes it by its role like any client, every SEND is receipted. An independent
// autobahn session at the router sees what the link sends and publishes what the link
// subscribed to. A second certificate, made here with the test CA, names a peer whose
// role may not publish: its SEND is refused with the catalogue's not_authorized.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Router } from '../../index';
import { RouterError } from '../../lib/errors';
import { StompLinkTransport } from '../../lib/links/stomp-transport';
import type { LinkMessage, LinkTls, LinkTransportOptions } from '../../lib/links/transport';
import { connect, wsOptions } from '../helpers/autobahn';
import { EventLog, subscribeLog } from '../helpers/wamp-clients';
import { waitFor, withTimeout, WAIT_MS } from '../helpers/wait';

const fixtures = join(__dirname, '../fixtures/tls');
const certDir = mkdtempSync(join(os.tmpdir(), 'gatehouse-link-certs-'));

/** A client certificate for `cn` signed by the test CA (test/fixtures/tls/README.md, the client one). */
function clientCertificate(cn: string): { certFile: string; keyFile: string } {
  const keyFile = join(certDir, `${cn}.key`);
  const csr = join(certDir, `${cn}.csr`);
  const certFile = join(certDir, `${cn}.crt`);
  const ext = join(certDir, 'client.ext');
  execFileSync(
    'openssl',
    [
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      csr,
      '-subj',
      `/CN=${cn}/O=Gatehouse Tests`,
    ],
    { stdio: 'ignore' },
  );
  execFileSync('sh', ['-c', `printf 'extendedKeyUsage=clientAuth\\n' > "${ext}"`]);
  execFileSync(
    'openssl',
    [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      join(fixtures, 'ca.crt'),
      '-CAkey',
      join(fixtures, 'ca.key'),
      '-CAcreateserial',
      '-CAserial',
      join(certDir, 'ca.srl'),
      '-out',
      certFile,
      '-days',
      '1',
      '-extfile',
      ext,
    ],
    { stdio: 'ignore' },
  );
  return { certFile, keyFile };
}

let router: Router;
let stompsPort = 0;
let wsUrl = '';
const transports: StompLinkTransport[] = [];
const wamp: { close(): Promise<void> }[] = [];

before(async () => {
  router = new Router({
    log: { level: process.env['GATEHOUSE_TEST_LOG'] ?? 'silent' },
    store: { path: ':memory:' },
    mqtt: { sysIntervalSeconds: 0 },
    // the link is an ordinary client: no anonymous STOMP, the certificate is its login
    stomp: { anonymous: 'never' },
    auth: {
      users: [
        { authid: 'device-7', role: 'site' },
        { authid: 'site-b', role: 'viewer' },
      ],
      roles: {
        site: {
          permissions: [
            { uri: 'site.', match: 'prefix', allow: ['publish', 'subscribe', 'retain'] },
            { uri: 'hq.', match: 'prefix', allow: ['subscribe'] },
          ],
        },
        viewer: { permissions: [{ uri: 'hq.', match: 'prefix', allow: ['subscribe'] }] },
        anonymous: { permissions: [{ uri: '', match: 'prefix', allow: ['*'] }] },
      },
    },
  });
  await router.start();
  stompsPort = (
    await router.listenSTOMP({
      port: 0,
      host: '127.0.0.1',
      tls: {
        certFile: join(fixtures, 'ca-server.crt'),
        keyFile: join(fixtures, 'ca-server.key'),
        caFile: join(fixtures, 'ca.crt'),
        requireClientCert: true,
      },
    })
  ).port;
  wsUrl = `ws://127.0.0.1:${(await router.listenWAMP({ port: 0, host: '127.0.0.1' })).port}/ws`;
});
after(async () => {
  await Promise.all(transports.map((t) => t.close()));
  await Promise.all(wamp.map((w) => w.close()));
  await router.close();
  rmSync(certDir, { recursive: true, force: true });
});

const siteTls: LinkTls = {
  caFile: join(fixtures, 'ca.crt'),
  certFile: join(fixtures, 'client.crt'),
  keyFile: join(fixtures, 'client.key'),
};

function transport(tlsOptions: LinkTls | undefined, extra: Partial<LinkTransportOptions> = {}): StompLinkTransport {
  const t = new StompLinkTransport({
    url: `stomps://localhost:${stompsPort}`,
    remoteRealm: 'realm1',
    timeoutMs: WAIT_MS,
    ...(tlsOptions === undefined ? {} : { tls: tlsOptions }),
    ...extra,
  });
  transports.push(t);
  return t;
}

async function wampSession(): Promise<Awaited<ReturnType<typeof connect>>['session']> {
  const c = await withTimeout(connect(wsOptions(wsUrl, 'json')), WAIT_MS, 'autobahn join');
  wamp.push(c);
  return c.session;
}

const msg = (topic: string, value: unknown, messageId: string): LinkMessage => ({
  topic,
  payload: { args: [value] },
  retain: false,
  messageId,
});

/** The sessions of the STOMP gate in realm1, as the router sees them. */
function stompIdentities(): { authid: string; authrole: string; authmethod: string }[] {
  const realm = router.realm('realm1');
  return realm ? [...realm.sessions.values()].filter((s) => s.transport.gate === 'stomp').map((s) => s.identity) : [];
}

void describe('links - STOMP transport to a Gatehouse router over stomps:// with mutual TLS', () => {
  void it('links stomp - the client certificate names the peer; send() resolves on RECEIPT and the router delivers it, in order', async () => {
    const s = await wampSession();
    const log = new EventLog();
    await subscribeLog(s, 'site.r1', log, { match: 'prefix' });
    const t = transport(siteTls);
    await t.connect();
    assert.deepEqual(
      stompIdentities().map((i) => [i.authid, i.authrole, i.authmethod]),
      [['device-7', 'site', 'tls']],
    );
    await t.send({ ...msg('site.r1.temp', { c: 21.5 }, 'site-a:1'), headers: { userProperties: { unit: 'C' } } });
    // many in flight at once: each settles on its own RECEIPT, and they arrive in order
    await Promise.all(Array.from({ length: 20 }, (_, i) => t.send(msg('site.r1.n', i, `site-a:${i + 2}`))));
    const events = await log.count(21, 'all 21 publications at the router');
    assert.deepEqual(events[0]?.args, [{ c: 21.5 }]);
    assert.equal(events[0]?.details['topic'], 'site.r1.temp');
    assert.deepEqual(
      events.slice(1).map((e) => e.args[0]),
      Array.from({ length: 20 }, (_, i) => i),
    );
    await t.close();
  });

  void it('links stomp - subscribe() at the router hands over what a WAMP client publishes there; unsubscribe() stops it', async () => {
    const t = transport(siteTls);
    await t.connect();
    const got: LinkMessage[] = [];
    t.onMessage = (m) => got.push(m);
    await t.subscribe('hq.*.cmd');
    const s = await wampSession();
    await s.publish('hq.r1.cmd', [{ go: true }], {}, { acknowledge: true });
    await s.publish('hq.r1.other', ['no'], {}, { acknowledge: true });
    await waitFor(() => got.length >= 1, 'the command at the link');
    assert.equal(got[0]?.topic, 'hq.r1.cmd');
    assert.deepEqual(got[0]?.payload.args, [{ go: true }]);
    await t.unsubscribe('hq.*.cmd');
    await t.subscribe('hq.r2.#');
    await s.publish('hq.r1.cmd', ['after unsubscribe'], {}, { acknowledge: true });
    await s.publish('hq.r2.x', ['still flowing'], {}, { acknowledge: true });
    await waitFor(() => got.length >= 2, 'the hq.r2 publication');
    assert.deepEqual(
      got.map((m) => m.topic),
      ['hq.r1.cmd', 'hq.r2.x'],
    );
    await t.close();
  });

  void it('links stomp - a role that may not publish gets not_authorized for its SEND, and the link sees the connection go', async () => {
    const t = transport({ caFile: join(fixtures, 'ca.crt'), ...clientCertificate('site-b') });
    const closes: string[] = [];
    t.onClose = (reason) => closes.push(reason);
    await t.connect();
    assert.ok(stompIdentities().some((i) => i.authid === 'site-b' && i.authrole === 'viewer'));
    const err = await t.send(msg('site.r9.temp', 1, 'site-b:1')).catch((e: unknown) => e);
    assert.ok(err instanceof RouterError && err.def.code === 'not_authorized', `expected not_authorized, got ${String(err)}`);
    await waitFor(() => closes.length === 1, 'onClose after the ERROR frame');
    // the permitted role is refused outside its patterns too
    const site = transport(siteTls);
    await site.connect();
    const denied = await site.send(msg('hq.secret', 1, 'site-a:99')).catch((e: unknown) => e);
    assert.ok(
      denied instanceof RouterError && denied.def.code === 'not_authorized',
      `expected not_authorized, got ${String(denied)}`,
    );
  });

  void it('links stomp - a peer that never receipts: send() fails with timeout after timeoutMs and the link sees the connection go', async () => {
    // a raw STOMP server that answers CONNECTED and then reads frames without a word
    const server = net.createServer((socket) => {
      socket.once('data', () => socket.write('CONNECTED\nversion:1.2\nheart-beat:0,0\n\n\0'));
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    try {
      const port = (server.address() as net.AddressInfo).port;
      const t = transport(undefined, { url: `stomp://127.0.0.1:${port}`, timeoutMs: 500 });
      const closes: string[] = [];
      t.onClose = (reason) => closes.push(reason);
      await t.connect();
      const err = await t.send(msg('site.x', 1, 'h:1')).catch((e: unknown) => e);
      assert.ok(err instanceof RouterError && err.def.code === 'timeout', `expected timeout, got ${String(err)}`);
      assert.deepEqual(closes, ['receipt timed out']);
    } finally {
      // a transport still connected would hold server.close() until the file times out
      await Promise.all(transports.map((t) => t.close()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  void it('links stomp - heart-beats both ways; a peer that falls silent is found gone after two of its periods', async () => {
    // a raw STOMP server that agrees to heart-beats every 100 ms, records ours, then sends none
    let received = '';
    const server = net.createServer((socket) => {
      socket.once('data', () => socket.write('CONNECTED\nversion:1.2\nheart-beat:100,100\n\n\0'));
      socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    try {
      const port = (server.address() as net.AddressInfo).port;
      const t = new StompLinkTransport(
        { url: `stomp://127.0.0.1:${port}`, remoteRealm: 'realm1', timeoutMs: WAIT_MS },
        { heartbeatMs: 100 },
      );
      transports.push(t);
      const closes: string[] = [];
      t.onClose = (reason) => closes.push(reason);
      const started = Date.now();
      await t.connect();
      assert.match(received, /heart-beat:100,100/);
      await waitFor(() => closes.length > 0, 'onClose for a silent peer');
      assert.deepEqual(closes, ['the peer stopped sending heart-beats']);
      assert.ok(Date.now() - started >= 200, 'not before two periods');
      // and we sent ours meanwhile: EOLs after the CONNECT frame's NUL
      assert.match(received.slice(received.indexOf('\0') + 1), /\n/);
    } finally {
      // a transport still connected would hold server.close() until the file times out
      await Promise.all(transports.map((t) => t.close()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  void it('links stomps - no client certificate, or a router certificate the CA did not sign: connect() fails', async () => {
    await assert.rejects(transport({ caFile: join(fixtures, 'ca.crt') }).connect(), RouterError);
    await assert.rejects(transport({ ...siteTls, caFile: join(fixtures, 'server.crt') }).connect(), RouterError);
    // and a name the certificate does not carry
    await assert.rejects(transport({ ...siteTls, serverName: 'elsewhere.example' }).connect(), RouterError);
  });
});
