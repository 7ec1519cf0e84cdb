// MQTT 5 features of the MQTT gate, with mqtt.js and a raw mqtt-packet client: message
// expiry, topic aliases both ways, shared subscriptions, subscription identifiers, no
// local, user properties, reason codes, request/response, receive maximum, maximum
// packet size both ways.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { IClientOptions, MqttClient } from 'mqtt';
import type { IConnectPacket, IPublishPacket, Packet } from 'mqtt-packet';
import {
  closed,
  connectMqtt,
  endAll,
  MessageLog,
  metricValue,
  publish,
  serverDisconnect,
  subscribe,
  uniqueId,
  waitFor,
} from '../../helpers/mqtt-clients';
import { RawMqtt } from '../../helpers/mqtt-raw';
import { ManualClock } from '../../helpers/clock';
import { startRouter, type TestRouter } from '../../helpers/router';
import { expectQuiet } from '../../helpers/wait';

let router: TestRouter;
/** message expiry is judged by it: the tests move it instead of sleeping */
const clock = new ManualClock();
const clients: MqttClient[] = [];
const raws: RawMqtt[] = [];
before(async () => {
  router = await startRouter({ mqtt: { sysIntervalSeconds: 0 } }, { clock });
});
after(async () => {
  for (const r of raws) void r.destroy();
  await endAll(clients);
  await router.close();
});

async function open(opts: IClientOptions = {}, log?: MessageLog, url = router.mqttUrl): Promise<MqttClient> {
  const { client } = await connectMqtt(url, { protocolVersion: 5, clientId: uniqueId('m5'), ...opts }, log);
  clients.push(client);
  return client;
}

async function raw(connect: Partial<IConnectPacket>): Promise<RawMqtt> {
  const { client } = await RawMqtt.connect(router.mqttPort, 5, connect);
  raws.push(client);
  return client;
}

function sent(c: MqttClient): Packet[] {
  const list: Packet[] = [];
  c.on('packetreceive', (p) => list.push(p));
  return list;
}

void describe('mqtt5 message expiry', () => {
  void it('mqtt - an expired message is not delivered to a returning subscriber; a live one carries the remaining interval', async () => {
    const id = uniqueId('exp');
    const opts: IClientOptions = { clientId: id, clean: false, properties: { sessionExpiryInterval: 60 } };
    const sub = await open(opts);
    await subscribe(sub, 'exp/#', { qos: 1 });
    await new Promise<void>((r) => sub.end(false, {}, () => r()));
    const pub = await open();
    await publish(pub, 'exp/short', 'short', { qos: 1, properties: { messageExpiryInterval: 1 } });
    await publish(pub, 'exp/long', 'long', { qos: 1, properties: { messageExpiryInterval: 10 } });
    await publish(pub, 'exp/none', 'none', { qos: 1 });
    clock.advance(1300);
    const log = new MessageLog();
    await open(opts, log);
    await log.count(2, 'the unexpired messages');
    await log.quiet(2, 200, 'expired message');
    assert.deepEqual(log.texts(), ['long', 'none']);
    const left = log.messages[0]?.packet.properties?.messageExpiryInterval;
    assert.equal(left, 9, 'the remaining expiry interval: 8.7 s of 10, rounded up');
    assert.equal(log.messages[1]?.packet.properties?.messageExpiryInterval, undefined);
  });
});

void describe('mqtt5 topic aliases', () => {
  void it('mqtt - inbound: a client that registers a topic alias and then publishes by alias only is routed on the topic', async () => {
    const log = new MessageLog();
    const sub = await open({}, log);
    await subscribe(sub, 'alias/in', { qos: 1 });
    const pub = await open({ autoUseTopicAlias: true });
    const wire: Packet[] = [];
    pub.on('packetsend', (p) => wire.push(p));
    await publish(pub, 'alias/in', 'one', { qos: 1, properties: { topicAlias: 1 } });
    await publish(pub, 'alias/in', 'two', { qos: 1 });
    await publish(pub, 'alias/in', 'three', { qos: 0 });
    await log.count(3, 'messages published by alias');
    assert.deepEqual(
      log.messages.map((m) => m.topic),
      ['alias/in', 'alias/in', 'alias/in'],
    );
    const pubs = wire.filter((p): p is IPublishPacket => p.cmd === 'publish');
    assert.equal(pubs[1]?.topic, '', 'the second PUBLISH used the alias only');
    assert.equal(pubs[1]?.properties?.topicAlias, 1);
  });

  void it('mqtt - inbound: an alias above the server maximum gets DISCONNECT 0x94; an unknown alias 0x82', async () => {
    const a = await raw({ clientId: uniqueId('alias-big') });
    a.send({
      cmd: 'publish',
      topic: 'x',
      payload: Buffer.from('x'),
      qos: 0,
      dup: false,
      retain: false,
      properties: { topicAlias: 65000 },
    });
    const d1 = await a.expect((p) => p.cmd === 'disconnect', 'DISCONNECT');
    assert.equal(d1.reasonCode, 0x94);
    await a.waitClosed('close after 0x94');
    const b = await raw({ clientId: uniqueId('alias-unknown') });
    b.send({
      cmd: 'publish',
      topic: '',
      payload: Buffer.from('x'),
      qos: 0,
      dup: false,
      retain: false,
      properties: { topicAlias: 3 },
    });
    const d2 = await b.expect((p) => p.cmd === 'disconnect', 'DISCONNECT');
    assert.equal(d2.reasonCode, 0x82);
    await b.waitClosed('close after 0x82');
  });

  void it('mqtt - outbound: a client announcing topicAliasMaximum gets aliases, up to its maximum', async () => {
    const c = await open({ properties: { topicAliasMaximum: 2 } });
    const received = sent(c);
    const log = new MessageLog(c);
    await subscribe(c, 'aout/#', { qos: 1 });
    const pub = await open();
    for (const topic of ['aout/a', 'aout/a', 'aout/b', 'aout/b', 'aout/c', 'aout/c', 'aout/a'])
      await publish(pub, topic, topic, { qos: 1 });
    await log.count(7, 'the messages');
    assert.deepEqual(
      log.messages.map((m) => m.topic),
      log.texts(),
      'mqtt.js resolved every alias to the right topic',
    );
    const wire = received.filter((p): p is IPublishPacket => p.cmd === 'publish').map((p) => [p.topic, p.properties?.topicAlias]);
    assert.deepEqual(wire, [
      ['aout/a', 1],
      ['', 1],
      ['aout/b', 2],
      ['', 2],
      ['aout/c', undefined],
      ['aout/c', undefined],
      ['', 1],
    ]);
    const plain = await open();
    const plainWire = sent(plain);
    const plainLog = new MessageLog(plain);
    await subscribe(plain, 'aout/#', { qos: 1 });
    await publish(pub, 'aout/a', 'x', { qos: 1 });
    await publish(pub, 'aout/a', 'y', { qos: 1 });
    await plainLog.count(2, 'messages to a client without aliases');
    assert.ok(
      plainWire.every((p) => p.cmd !== 'publish' || (p.topic === 'aout/a' && p.properties?.topicAlias === undefined)),
      'no alias without topicAliasMaximum',
    );
  });
});

void describe('mqtt5 shared subscriptions', () => {
  void it('mqtt - $share/g/topic: each message goes to exactly one member, spread over the members; a plain subscriber gets all', async () => {
    const N = 30;
    const members = await Promise.all([0, 1, 2].map(() => open()));
    const logs = members.map((c) => new MessageLog(c));
    for (const c of members) await subscribe(c, '$share/g1/shared/jobs', { qos: 1 });
    const plainLog = new MessageLog();
    const plain = await open({}, plainLog);
    await subscribe(plain, 'shared/jobs', { qos: 1 });
    const pub = await open();
    for (let i = 0; i < N; i++) await publish(pub, 'shared/jobs', `j${i}`, { qos: 1 });
    await plainLog.count(N, 'the plain subscriber');
    await waitFor(() => logs.reduce((n, l) => n + l.messages.length, 0) >= N, 'all jobs delivered to the group');
    await expectQuiet();
    const all = logs.flatMap((l) => l.texts());
    assert.equal(all.length, N, 'exactly one copy per message');
    assert.equal(new Set(all).size, N, 'no message twice');
    for (const [i, l] of logs.entries()) assert.ok(l.messages.length >= 5, `member ${i} got ${l.messages.length} of ${N}`);
    for (const l of logs) assert.ok(l.messages.every((m) => m.topic === 'shared/jobs'));
  });

  void it('mqtt - a member that leaves the group no longer gets messages; two groups each get every message once', async () => {
    const a = await open();
    const b = await open();
    const other = await open();
    const [la, lb, lo] = [new MessageLog(a), new MessageLog(b), new MessageLog(other)];
    await subscribe(a, '$share/ga/sh2/x', { qos: 1 });
    await subscribe(b, '$share/ga/sh2/x', { qos: 1 });
    await subscribe(other, '$share/gb/sh2/x', { qos: 1 });
    await a.unsubscribeAsync('$share/ga/sh2/x');
    const pub = await open();
    for (let i = 0; i < 4; i++) await publish(pub, 'sh2/x', `m${i}`, { qos: 1 });
    await lb.count(4, 'the remaining member of ga');
    await lo.count(4, 'the only member of gb');
    await la.quiet(0, 150, 'the member that left');
  });

  void it('mqtt - retained messages are not sent to a new shared subscription', async () => {
    const pub = await open();
    await publish(pub, 'sh3/x', 'retained', { qos: 1, retain: true });
    const c = await open();
    const log = new MessageLog(c);
    await subscribe(c, '$share/g3/sh3/x', { qos: 1 });
    await log.quiet(0, 200, 'shared subscription and retained');
    await publish(pub, 'sh3/x', '', { qos: 1, retain: true });
  });
});

void describe('mqtt5 subscription options and properties', () => {
  void it('mqtt - subscription identifiers: one copy carrying the identifiers of every matching subscription', async () => {
    const c = await open();
    const log = new MessageLog(c);
    await subscribe(c, 'sid/+', { qos: 1, properties: { subscriptionIdentifier: 7 } });
    await subscribe(c, 'sid/#', { qos: 1, properties: { subscriptionIdentifier: 9 } });
    await subscribe(c, 'sid/b', { qos: 1 });
    await publish(c, 'sid/a', 'a', { qos: 1 });
    await publish(c, 'sid/a/deep', 'deep', { qos: 1 });
    await publish(c, 'sid/b', 'b', { qos: 1 });
    await log.count(3, 'the messages');
    await log.quiet(3, 150, 'one copy each');
    const ids = (i: number): number[] => {
      const v = log.messages[i]?.packet.properties?.subscriptionIdentifier;
      return (Array.isArray(v) ? v : v === undefined ? [] : [v]).slice().sort((x, y) => x - y);
    };
    const byText = new Map(log.messages.map((m, i) => [m.payload.toString(), ids(i)]));
    assert.deepEqual(byText.get('a'), [7, 9]);
    assert.deepEqual(byText.get('deep'), [9]);
    assert.deepEqual(byText.get('b'), [7, 9], 'the filter without an identifier adds none');
  });

  void it('mqtt - no local: the client does not get its own messages, others do', async () => {
    const c = await open();
    const log = new MessageLog(c);
    await subscribe(c, 'nl/x', { qos: 1, nl: true });
    const other = await open();
    const otherLog = new MessageLog(other);
    await subscribe(other, 'nl/x', { qos: 1 });
    await publish(c, 'nl/x', 'mine', { qos: 1 });
    await publish(other, 'nl/x', 'theirs', { qos: 1 });
    await log.count(1, 'the other client message');
    await log.quiet(1, 150, 'no local');
    assert.deepEqual(log.texts(), ['theirs']);
    await otherLog.count(2, 'the subscriber without no local');
  });

  void it('mqtt - no local on a shared subscription is a protocol error (DISCONNECT 0x82)', async () => {
    const r = await raw({ clientId: uniqueId('nl-share') });
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/g/nl2', qos: 1, nl: true }] });
    const d = await r.expect((p) => p.cmd === 'disconnect', 'DISCONNECT');
    assert.equal(d.reasonCode, 0x82);
  });

  void it('mqtt - user properties, content type and payload format pass through MQTT to MQTT', async () => {
    const c = await open();
    const log = new MessageLog(c);
    await subscribe(c, 'up/x', { qos: 1 });
    await publish(c, 'up/x', 'text', {
      qos: 1,
      properties: { userProperties: { a: '1', b: ['x', 'y'] }, contentType: 'text/plain', payloadFormatIndicator: true },
    });
    const [m] = await log.count(1, 'the message');
    const p = m?.packet.properties;
    assert.deepEqual({ ...p?.userProperties }, { a: '1', b: ['x', 'y'] });
    assert.equal(p?.contentType, 'text/plain');
    assert.equal(p?.payloadFormatIndicator, true);
  });

  void it('mqtt - request/response: response topic and correlation data reach the responder and come back', async () => {
    const responder = await open();
    responder.on('message', (_topic, payload, packet) => {
      const rt = packet.properties?.responseTopic;
      if (!rt) return;
      responder.publish(rt, `echo:${payload.toString()}`, {
        qos: 1,
        properties: { correlationData: packet.properties?.correlationData },
      });
    });
    await subscribe(responder, 'rr/service', { qos: 1 });
    const requester = await open();
    const log = new MessageLog(requester);
    await subscribe(requester, 'rr/replies/me', { qos: 1 });
    await publish(requester, 'rr/service', 'ping', {
      qos: 1,
      properties: { responseTopic: 'rr/replies/me', correlationData: Buffer.from([1, 2, 3]) },
    });
    const [m] = await log.count(1, 'the response');
    assert.equal(m?.payload.toString(), 'echo:ping');
    assert.deepEqual(m?.packet.properties?.correlationData, Buffer.from([1, 2, 3]));
  });
});

void describe('mqtt5 reason codes', () => {
  void it('mqtt - PUBACK/PUBREC 0x10 when no subscriber matches, 0x00 when one does; UNSUBACK 0x11 for an unknown filter', async () => {
    const r = await raw({ clientId: uniqueId('rc') });
    r.send({ cmd: 'publish', topic: 'rc/nobody', payload: Buffer.from('x'), qos: 1, messageId: 1, dup: false, retain: false });
    assert.equal((await r.expect((p) => p.cmd === 'puback' && p.messageId === 1, 'PUBACK 1')).reasonCode, 0x10);
    r.send({ cmd: 'publish', topic: 'rc/nobody', payload: Buffer.from('x'), qos: 2, messageId: 2, dup: false, retain: false });
    assert.equal((await r.expect((p) => p.cmd === 'pubrec' && p.messageId === 2, 'PUBREC 2')).reasonCode, 0x10);
    r.send({ cmd: 'pubrel', messageId: 2 });
    await r.expect((p) => p.cmd === 'pubcomp' && p.messageId === 2, 'PUBCOMP 2');
    const sub = await open();
    await subscribe(sub, 'rc/somebody', { qos: 0 });
    r.send({ cmd: 'publish', topic: 'rc/somebody', payload: Buffer.from('x'), qos: 1, messageId: 3, dup: false, retain: false });
    assert.ok(!(await r.expect((p) => p.cmd === 'puback' && p.messageId === 3, 'PUBACK 3')).reasonCode);
    r.send({ cmd: 'unsubscribe', messageId: 4, unsubscriptions: ['rc/never-subscribed'] });
    const unsuback = (await r.expect((p) => p.cmd === 'unsuback', 'UNSUBACK')) as Packet & { granted?: number[] };
    assert.deepEqual(unsuback.granted, [0x11]);
  });
});

void describe('mqtt5 flow control', () => {
  void it('mqtt - receive maximum: the router never has more unacknowledged QoS 1 messages in flight than the client allows', async () => {
    const r = await raw({ clientId: uniqueId('rmax'), properties: { receiveMaximum: 3 } });
    await r.subscribe('rmax/x', 1);
    const pub = await open();
    for (let i = 0; i < 10; i++) await publish(pub, 'rmax/x', `m${i}`, { qos: 1 });
    await waitFor(() => r.publishes().length >= 3, 'the first window');
    await expectQuiet();
    assert.equal(r.publishes().length, 3, 'three in flight, no more');
    const first = r.publishes()[0];
    r.send({ cmd: 'puback', messageId: first?.messageId ?? 0 });
    await waitFor(() => r.publishes().length >= 4, 'one more after one PUBACK');
    await expectQuiet();
    assert.equal(r.publishes().length, 4);
    // ack everything as it comes: all ten arrive, in order
    const acked = new Set([first?.messageId]);
    await waitFor(() => {
      for (const p of r.publishes()) {
        if (!acked.has(p.messageId)) {
          acked.add(p.messageId);
          r.send({ cmd: 'puback', messageId: p.messageId ?? 0 });
        }
      }
      return r.publishes().length >= 10;
    }, 'all ten');
    assert.deepEqual(
      r.publishes().map((p) => p.payload.toString()),
      Array.from({ length: 10 }, (_, i) => `m${i}`),
    );
  });

  void it('mqtt - maximum packet size: a message larger than the client allows is not sent to it (and does not hold its window)', async () => {
    const before = await metricValue(router, 'gatehouse_drops_total', { gate: 'mqtt', reason: 'client_max_packet_size' });
    const r = await raw({ clientId: uniqueId('mps'), properties: { maximumPacketSize: 200, receiveMaximum: 2 } });
    await r.subscribe('mps/x', 1);
    const pub = await open();
    for (let i = 0; i < 3; i++) await publish(pub, 'mps/x', Buffer.alloc(1000, 0x61), { qos: 1 });
    await publish(pub, 'mps/x', 'small', { qos: 1 });
    await publish(pub, 'mps/x', 'small-0', { qos: 0 });
    await waitFor(() => r.publishes().length >= 2, 'the small messages');
    await expectQuiet();
    assert.deepEqual(
      r.publishes().map((p) => p.payload.toString()),
      ['small', 'small-0'],
    );
    assert.equal(
      await metricValue(router, 'gatehouse_drops_total', { gate: 'mqtt', reason: 'client_max_packet_size' }),
      before + 3,
    );
  });
});

void describe('mqtt5 maximum packet size and topic aliases', () => {
  void it('mqtt - a message dropped as too large does not leave the client a topic alias it never learned', async () => {
    const r = await raw({ clientId: uniqueId('mps-alias'), properties: { maximumPacketSize: 200, topicAliasMaximum: 4 } });
    await r.subscribe('mpsa/x', 1);
    const pub = await open();
    await publish(pub, 'mpsa/x', Buffer.alloc(1000, 0x61), { qos: 1 });
    await publish(pub, 'mpsa/x', 'small-1', { qos: 1 });
    await publish(pub, 'mpsa/x', 'small-2', { qos: 1 });
    await waitFor(() => r.publishes().length >= 2, 'the small messages');
    const [first, second] = r.publishes();
    assert.equal(first?.payload.toString(), 'small-1');
    assert.equal(first?.topic, 'mpsa/x', 'the first PUBLISH the client sees names the topic');
    assert.equal(second?.topic, '', 'then the alias it introduced');
    assert.equal(second?.properties?.topicAlias, first?.properties?.topicAlias);
  });
});

void describe('mqtt5 server limits', () => {
  void it('mqtt - a packet over limits.maxMessageSize gets DISCONNECT 0x95; CONNACK announces the maximum; other clients keep working', async () => {
    const r = await startRouter({ limits: { maxMessageSize: 1024 }, mqtt: { sysIntervalSeconds: 0 } });
    const opened: MqttClient[] = [];
    try {
      const big = await connectMqtt(r.mqttUrl, { protocolVersion: 5, clientId: uniqueId('big') });
      opened.push(big.client);
      assert.equal(big.connack.properties?.maximumPacketSize, 1024);
      const other = await connectMqtt(r.mqttUrl, { protocolVersion: 5, clientId: uniqueId('other') });
      opened.push(other.client);
      const log = new MessageLog(other.client);
      await subscribe(other.client, 'lim/#', { qos: 1 });
      const disconnect = serverDisconnect(big.client);
      const gone = closed(big.client);
      big.client.publish('lim/big', Buffer.alloc(2000, 0x62), { qos: 0 });
      assert.equal((await disconnect).reasonCode, 0x95);
      await gone;
      await publish(other.client, 'lim/ok', 'fine', { qos: 1 });
      await log.count(1, 'the other client still works');
      assert.deepEqual(log.texts(), ['fine'], 'the oversized message was not routed');
    } finally {
      await endAll(opened);
      await r.close();
    }
  });
});
