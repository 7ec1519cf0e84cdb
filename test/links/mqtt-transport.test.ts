// The MQTT link transport (lib/links/mqtt-transport.ts) on its own against a real
// Mosquitto (test/helpers/mosquitto.ts), seen through its LinkTransport interface and
// through an independent mqtt.js client at the broker: QoS 1 with send() settled by
// PUBACK, the message id as an MQTT 5 user property, retain kept, canonical <-> MQTT
// topics and wildcards, a restart of the broker, and mqtts:// with a client certificate.
import assert from 'node:assert/strict';
import net from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import mqttPacket, { type IPublishPacket, type Packet } from 'mqtt-packet';
import { Errors, RouterError } from '../../lib/errors';
import { transportFor } from '../../lib/links/transports';
import { MqttLinkTransport, type MqttTransportOptions } from '../../lib/links/mqtt-transport';
import type { LinkMessage, LinkTransportOptions } from '../../lib/links/transport';
import { connectMqtt, endAll, MessageLog, uniqueId } from '../helpers/mqtt-clients';
import { connect, wsOptions } from '../helpers/autobahn';
import { startMosquitto, type Cleanup } from '../helpers/mosquitto';
import { startRouter } from '../helpers/router';
import { EventLog, subscribeLog } from '../helpers/wamp-clients';
import { waitFor, withTimeout, WAIT_MS } from '../helpers/wait';

const tlsDir = join(__dirname, '../fixtures/tls');
const clients: MqttClient[] = [];
const transports: MqttLinkTransport[] = [];
const suite: Cleanup & { run(): Promise<void> } = (() => {
  const fns: (() => Promise<void>)[] = [];
  return { after: (fn) => void fns.push(fn), run: async () => void (await Promise.all(fns.map((fn) => fn()))) };
})();
after(async () => {
  await Promise.all(transports.map((t) => t.close()));
  await endAll(clients);
  await suite.run();
});

function transport(
  url: string,
  extra: Partial<LinkTransportOptions> = {},
  mqttOptions: MqttTransportOptions = {},
): MqttLinkTransport {
  const t = new MqttLinkTransport({ url, remoteRealm: 'realm1', timeoutMs: WAIT_MS, ...extra }, mqttOptions);
  transports.push(t);
  return t;
}

async function watcher(url: string, filter: string, opts: { protocolVersion?: 4 | 5 } = {}): Promise<MessageLog> {
  const log = new MessageLog();
  const { client } = await connectMqtt(url, { clientId: uniqueId('w'), protocolVersion: opts.protocolVersion ?? 5 }, log);
  clients.push(client);
  await client.subscribeAsync(filter, { qos: 1 });
  return log;
}

/** What the transport hands its link, collected; `count(n)` waits for n. */
function inbox(t: MqttLinkTransport): { messages: LinkMessage[]; count(n: number, what: string): Promise<LinkMessage[]> } {
  const messages: LinkMessage[] = [];
  t.onMessage = (m) => messages.push(m);
  return {
    messages,
    async count(n, what) {
      await waitFor(() => messages.length >= n, `${what} (${n}, got ${messages.length})`);
      return messages.slice(0, n);
    },
  };
}

const msg = (topic: string, value: unknown, messageId: string, retain = false): LinkMessage => ({
  topic,
  payload: { args: [value] },
  retain,
  messageId,
});

/**
 * A broker that speaks MQTT 3.1.1 only, on a raw socket: a level-5 CONNECT gets CONNACK
 * 0x01 "unacceptable protocol version" and the connection closes [MQTT-3.1.2-2]; 3.1.1
 * gets CONNACK 0 and a PUBACK for each QoS 1 PUBLISH.
 */
async function oldPeer(): Promise<{ port: number; levels: number[]; published: IPublishPacket[] }> {
  const levels: number[] = [];
  const published: IPublishPacket[] = [];
  const server = net.createServer((socket) => {
    const parser = mqttPacket.parser({ protocolVersion: 5 });
    const write = (p: Packet): boolean => socket.write(mqttPacket.generate(p, { protocolVersion: 4 }));
    parser.on('packet', (p: Packet) => {
      if (p.cmd === 'connect') {
        levels.push(p.protocolVersion ?? 0);
        write({ cmd: 'connack', returnCode: p.protocolVersion === 4 ? 0 : 1, sessionPresent: false });
        if (p.protocolVersion !== 4) socket.end();
      } else if (p.cmd === 'publish') {
        published.push(p);
        if (p.messageId !== undefined) write({ cmd: 'puback', messageId: p.messageId });
      } else if (p.cmd === 'pingreq') {
        write({ cmd: 'pingresp' });
      }
    });
    parser.on('error', () => socket.destroy());
    socket.on('data', (d: Buffer) => parser.parse(d));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  suite.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as net.AddressInfo).port, levels, published };
}

/**
 * A raw MQTT 5 peer for the refusals: `close` ends every connection at once (no
 * CONNACK); otherwise CONNACK 0 and every SUBSCRIBE gets SUBACK 0x87 "not authorized"
 * [MQTT 5 §3.9.3].
 */
async function refusingPeer(close: boolean): Promise<number> {
  const server = net.createServer((socket) => {
    if (close) return void socket.destroy();
    const parser = mqttPacket.parser({ protocolVersion: 5 });
    const write = (p: Packet): boolean => socket.write(mqttPacket.generate(p, { protocolVersion: 5 }));
    parser.on('packet', (p: Packet) => {
      if (p.cmd === 'connect') write({ cmd: 'connack', reasonCode: 0, sessionPresent: false });
      else if (p.cmd === 'subscribe') write({ cmd: 'suback', messageId: p.messageId, granted: p.subscriptions.map(() => 0x87) });
      else if (p.cmd === 'pingreq') write({ cmd: 'pingresp' });
    });
    parser.on('error', () => socket.destroy());
    socket.on('data', (d: Buffer) => parser.parse(d));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  suite.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as net.AddressInfo).port;
}

void describe('links - MQTT transport against Mosquitto', () => {
  void it('links mqtt - send() resolves on PUBACK; topic, payload, message id and retain arrive at the broker', async () => {
    const m = await startMosquitto(suite);
    const live = await watcher(m.url, 'site/#');
    const t = transport(m.url);
    await t.connect();
    assert.equal(t.protocolVersion, 5);
    await t.send(msg('site.r1.temp', { c: 21.5 }, 'hq:1'));
    await t.send({
      ...msg('site.r1.state', 'on', 'hq:2', true),
      headers: { contentType: 'text/plain', userProperties: { unit: 'C' } },
    });
    const got = await live.count(2, 'both publications at the broker');
    assert.deepEqual(
      got.map((r) => [r.topic, r.payload.toString(), r.packet.qos]),
      [
        ['site/r1/temp', '{"c":21.5}', 1],
        ['site/r1/state', 'on', 1],
      ],
    );
    assert.deepEqual({ ...got[0]?.packet.properties?.userProperties }, { 'gatehouse-message-id': 'hq:1' });
    assert.deepEqual({ ...got[1]?.packet.properties?.userProperties }, { unit: 'C', 'gatehouse-message-id': 'hq:2' });
    assert.equal(got[1]?.packet.properties?.contentType, 'text/plain');
    // retained at the broker: a subscriber that comes later gets it, flagged retained
    const late = await watcher(m.url, 'site/r1/state');
    const [replayed] = await late.count(1, 'the retained publication');
    assert.equal(replayed?.payload.toString(), 'on');
    assert.equal(replayed?.packet.retain, true);
    // several in flight at once, all acknowledged
    await Promise.all([3, 4, 5, 6].map((i) => t.send(msg('site.r2.n', i, `hq:${i}`))));
    assert.deepEqual(
      (await live.count(6, 'four more')).slice(2).map((r) => r.payload.toString()),
      ['3', '4', '5', '6'],
    );
  });

  void it('links mqtt - subscribe() maps fox-wamp patterns to MQTT filters and hands messages over canonical; unsubscribe() stops them', async () => {
    const m = await startMosquitto(suite);
    const t = transport(m.url);
    await t.connect();
    const box = inbox(t);
    await t.subscribe('hq.*.cmd');
    await t.subscribe('fleet.#');
    const { client: pub } = await connectMqtt(m.url, { clientId: uniqueId('p'), protocolVersion: 5 });
    clients.push(pub);
    await pub.publishAsync('hq/r7/cmd', '{"go":true}', {
      qos: 1,
      properties: { userProperties: { 'gatehouse-message-id': 'hq:9', who: 'ops' } },
    });
    await pub.publishAsync('hq/r7/other', 'no', { qos: 1 });
    await pub.publishAsync('fleet/a/b%2Fc', Buffer.from([0xff, 0x00]), { qos: 1, retain: true });
    const [cmd, fleet] = await box.count(2, 'the two matching publications');
    assert.equal(cmd?.topic, 'hq.r7.cmd');
    assert.deepEqual(cmd.payload.args, [{ go: true }]);
    assert.equal(cmd.retain, false);
    assert.equal(cmd.messageId, 'hq:9');
    assert.deepEqual({ ...cmd.headers?.userProperties }, { who: 'ops' });
    assert.equal(fleet?.topic, 'fleet.a.b/c');
    assert.equal(fleet.retain, true);
    assert.deepEqual(fleet.payload.bytes, Buffer.from([0xff, 0x00]));
    assert.equal(fleet?.messageId, '');
    // a message the transport sent itself comes back with its id (a Gatehouse peer's dedup)
    await t.send(msg('fleet.x', 1, 'site:42'));
    const [, , own] = await box.count(3, 'our own publication');
    assert.equal(own?.messageId, 'site:42');
    await t.unsubscribe('fleet.#');
    // a publication under fleet after unsubscribe must not arrive; one under hq proves the pipe still flows
    await pub.publishAsync('fleet/y', '1', { qos: 1 });
    await pub.publishAsync('hq/r8/cmd', '2', { qos: 1 });
    await box.count(4, 'the hq publication after unsubscribing fleet');
    assert.deepEqual(
      box.messages.map((x) => x.topic),
      ['hq.r7.cmd', 'fleet.a.b/c', 'fleet.x', 'hq.r8.cmd'],
    );
  });

  void it('links mqtt - a broker restart fails what is in flight, fires onClose once, and connect() again restores the subscriptions', async () => {
    const m = await startMosquitto(suite);
    const t = transport(m.url);
    const closes: string[] = [];
    t.onClose = (reason) => closes.push(reason);
    await t.connect();
    const box = inbox(t);
    await t.subscribe('down.#');
    await m.stop();
    await waitFor(() => closes.length > 0, 'onClose after the broker stopped');
    const err = await t.send(msg('up.x', 1, 'a:1')).catch((e: unknown) => e);
    assert.ok(err instanceof RouterError && err.def.code === 'unavailable', `send while down: ${String(err)}`);
    await assert.rejects(t.connect(), (e: unknown) => e instanceof RouterError && e.def.code === 'unavailable');
    await m.restart();
    await t.connect();
    const live = await watcher(m.url, 'up/#');
    await t.send(msg('up.x', 2, 'a:2'));
    assert.equal((await live.count(1, 'a publication after the restart'))[0]?.payload.toString(), '2');
    const { client: pub } = await connectMqtt(m.url, { clientId: uniqueId('p') });
    clients.push(pub);
    await pub.publishAsync('down/z', 'again', { qos: 1 });
    assert.equal((await box.count(1, 'the restored subscription'))[0]?.topic, 'down.z');
    assert.equal(closes.length, 1);
  });

  void it('links mqtt - a broker that stops acknowledging: send() fails with timeout after timeoutMs and the link sees the connection go', async () => {
    const m = await startMosquitto(suite);
    const t = transport(m.url, { timeoutMs: 500 });
    const closes: string[] = [];
    t.onClose = (reason) => closes.push(reason);
    await t.connect();
    await t.send(msg('hang.a', 1, 'h:1'));
    m.pause();
    try {
      const err = await t.send(msg('hang.a', 2, 'h:2')).catch((e: unknown) => e);
      assert.ok(err instanceof RouterError && err.def.code === 'timeout', `expected timeout, got ${String(err)}`);
      assert.deepEqual(closes, ['acknowledgement timed out']);
    } finally {
      m.resume();
    }
  });

  void it('links mqtt - a peer that speaks only 3.1.1 refuses level 5; the transport falls back to 3.1.1 and still gets PUBACKs', async () => {
    const peer = await oldPeer();
    const t = transport(`mqtt://127.0.0.1:${peer.port}`);
    await t.connect();
    assert.equal(t.protocolVersion, 4);
    assert.deepEqual(peer.levels, [5, 4]);
    await t.send(msg('old.topic', 7, 'x:1', true));
    const [p] = peer.published;
    assert.equal(p?.topic, 'old/topic');
    assert.equal(p?.payload.toString(), '7');
    assert.equal(p?.qos, 1);
    assert.equal(p?.retain, true);
  });

  void it('links mqtt - a stable client id keeps the session at the broker: what was published while the link was away arrives after connect()', async () => {
    const m = await startMosquitto(suite);
    const clientId = uniqueId('link');
    const first = transport(m.url, {}, { clientId });
    await first.connect();
    await first.subscribe('away.#');
    await first.close();
    const { client: pub } = await connectMqtt(m.url, { clientId: uniqueId('p') });
    clients.push(pub);
    await pub.publishAsync('away/1', 'queued', { qos: 1 });
    const again = transport(m.url, {}, { clientId });
    const box = inbox(again);
    await again.connect();
    const [queued] = await box.count(1, 'the message queued by the broker while the link was away');
    assert.equal(queued?.topic, 'away.1');
    // and a link without a stable id starts clean (nothing is kept for it)
    const fresh = transport(m.url);
    await fresh.connect();
    await fresh.subscribe('gone.#');
    await fresh.close();
    await pub.publishAsync('gone/1', 'dropped', { qos: 1 });
    const freshAgain = transport(m.url);
    const freshBox = inbox(freshAgain);
    await freshAgain.connect();
    await freshAgain.subscribe('gone.#');
    await pub.publishAsync('gone/2', 'live', { qos: 1 });
    await freshBox.count(1, 'the live message');
    assert.deepEqual(
      freshBox.messages.map((x) => x.topic),
      ['gone.2'],
    );
  });

  void it('links mqtt - another Gatehouse through its MQTT gate: a WAMP subscriber there gets the message, an MQTT 5 one its id too', async () => {
    const r = await startRouter({ mqtt: { sysIntervalSeconds: 0 } });
    suite.after(() => r.close());
    const w = await withTimeout(connect(wsOptions(r.wsUrl, 'json')), WAIT_MS, 'autobahn join');
    suite.after(() => w.close());
    const log = new EventLog();
    await subscribeLog(w.session, 'site.r1.temp', log);
    const mqtt5 = await watcher(r.mqttUrl, 'site/#');
    const t = transportFor(r.mqttUrl)?.({ url: r.mqttUrl, remoteRealm: 'realm1', timeoutMs: WAIT_MS });
    assert.ok(t instanceof MqttLinkTransport);
    transports.push(t);
    await t.connect();
    await t.send(msg('site.r1.temp', 21.5, 'site-a:7'));
    const [e] = await log.count(1, 'the publication at the WAMP subscriber');
    assert.deepEqual(e?.args, [21.5]);
    const [viaMqtt] = await mqtt5.count(1, 'the publication at the MQTT 5 subscriber');
    assert.deepEqual({ ...viaMqtt?.packet.properties?.userProperties }, { 'gatehouse-message-id': 'site-a:7' });
  });

  void it('links mqtts - the broker certificate is verified and the client certificate presented; without it the broker refuses', async () => {
    const m = await startMosquitto(suite, {
      tls: { caFile: join(tlsDir, 'ca.crt'), certFile: join(tlsDir, 'ca-server.crt'), keyFile: join(tlsDir, 'ca-server.key') },
    });
    const url = m.tlsUrl ?? '';
    const ok = transport(url, {
      tls: { caFile: join(tlsDir, 'ca.crt'), certFile: join(tlsDir, 'client.crt'), keyFile: join(tlsDir, 'client.key') },
    });
    await ok.connect();
    const live = await watcher(m.url, 'secure/#');
    await ok.send(msg('secure.a', 'x', 's:1'));
    assert.equal((await live.count(1, 'the publication over mqtts'))[0]?.payload.toString(), '"x"');
    // no client certificate: the broker (require_certificate) ends the handshake
    const anonymous = transport(url, { tls: { caFile: join(tlsDir, 'ca.crt') } });
    await assert.rejects(withTimeout(anonymous.connect(), WAIT_MS * 2, 'refusal'), RouterError);
    // a broker certificate our CA did not sign is refused (the check is never skipped)
    const strangerCa = transport(url, {
      tls: { caFile: join(tlsDir, 'server.crt'), certFile: join(tlsDir, 'client.crt'), keyFile: join(tlsDir, 'client.key') },
    });
    await assert.rejects(withTimeout(strangerCa.connect(), WAIT_MS * 2, 'refusal'), RouterError);
  });
  void it('links mqtt - refusals are catalogue errors: a SUBACK 0x87 is not_authorized, a peer that closes before CONNACK unavailable', async () => {
    const refusing = transport(`mqtt://127.0.0.1:${await refusingPeer(false)}`);
    await refusing.connect();
    await assert.rejects(refusing.subscribe('site.#'), (err: unknown) => {
      assert.ok(err instanceof RouterError, String(err));
      assert.equal(err.def, Errors.notAuthorized, err.message);
      assert.match(err.message, /subscription to site\/# refused/);
      return true;
    });
    const closing = transport(`mqtt://127.0.0.1:${await refusingPeer(true)}`);
    await assert.rejects(withTimeout(closing.connect(), WAIT_MS * 2, 'refusal'), (err: unknown) => {
      assert.ok(err instanceof RouterError, String(err));
      assert.equal(err.def, Errors.unavailable);
      return true;
    });
  });
});
