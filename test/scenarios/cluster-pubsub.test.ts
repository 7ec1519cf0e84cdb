import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Packr } from 'msgpackr';
import { connect, wsOptions } from '../helpers/autobahn';
import { suiteCleanup } from '../helpers/cluster-rpc';
import { filterFor, nodeAt, startNodes, waitInterest } from '../helpers/cluster';
import { connectMqtt, MessageLog, metricValue } from '../helpers/mqtt-clients';
import { freePorts, natsClient, startNatsCluster, type NatsCluster } from '../helpers/nats';
import { startRouter, type TestRouter } from '../helpers/router';
import { Inbox, StompjsClients, subscribeConfirmed } from '../helpers/stomp-clients';
import { expectQuiet, waitFor, withTimeout } from '../helpers/wait';

/**
 * Issue 12, pub/sub across nodes: three Gatehouse nodes (in-process routers, each with
 * its own NATS connection to its own server of a 3-node NATS JetStream cluster), clients
 * of every protocol attached to different nodes.
 */

type Wamp = Awaited<ReturnType<typeof connect>>;

/** an autobahn subscription whose events are collected with their details */
interface WampInbox {
  events: { args: unknown[]; kwargs: Record<string, unknown>; details: Record<string, unknown> }[];
}

async function wampInbox(c: Wamp, topic: string, options: Record<string, unknown> = {}): Promise<WampInbox> {
  const inbox: WampInbox = { events: [] };
  await c.session.subscribe(topic, (args, kwargs, details) => inbox.events.push({ args, kwargs, details }), options);
  return inbox;
}

/** autobahn returns a promise only for an acknowledged publish */
function acked<T>(p: Promise<T> | undefined): Promise<T> {
  assert.ok(p, 'an acknowledged publish returns a promise');
  return p;
}

describe('cluster - pub/sub across three nodes', { timeout: 180_000 }, () => {
  const cleanup = suiteCleanup();
  let nats: NatsCluster;
  let g: TestRouter[];
  const stomp = new StompjsClients();
  const wamps: Wamp[] = [];
  const wamp = async (r: TestRouter): Promise<Wamp> => {
    const c = await connect(wsOptions(r.wsUrl, 'json'));
    wamps.push(c);
    return c;
  };
  const node = (i: number): TestRouter => nodeAt(g, i);

  before(async () => {
    nats = await startNatsCluster(cleanup);
    g = await startNodes(cleanup, nats, 3);
  });
  after(async () => {
    await Promise.all(wamps.map((c) => c.close().catch(() => undefined)));
    await stomp.closeAll();
    await cleanup.run();
  });

  it('cluster - every protocol pair: WAMP, MQTT and STOMP publishers on one node reach subscribers of each on the others', async () => {
    const [a, b, c] = [node(0), node(1), node(2)];
    // subscribers of every protocol on b and c, all to the same one-level wildcard
    const subs = await Promise.all(
      [b, c].map(async (r) => {
        const w = await wampInbox(await wamp(r), 'cl.pair.*');
        const log = new MessageLog();
        const { client: m } = await connectMqtt(r.mqttUrl, {}, log);
        await m.subscribeAsync('cl/pair/+', { qos: 1 });
        const s = new Inbox();
        const { client: sc } = await stomp.tcp(r.stompPort);
        await subscribeConfirmed(sc, '/topic/cl.pair.*', s);
        return { w, log, s, m };
      }),
    );
    await waitInterest(nats, filterFor('cl.pair.*'));
    // six local subscriptions, one NATS subscription per node
    assert.equal(b.router.cluster?.health().interest, 1);
    assert.equal(c.router.cluster?.health().interest, 1);

    const pw = await wamp(a);
    const { client: pm } = await connectMqtt(a.mqttUrl);
    const { client: ps } = await stomp.tcp(a.stompPort);
    await acked(pw.session.publish('cl.pair.wamp', ['from-wamp'], {}, { acknowledge: true }));
    await pm.publishAsync('cl/pair/mqtt', '"from-mqtt"', { qos: 1 });
    ps.publish({ destination: '/topic/cl.pair.stomp', body: '"from-stomp"', headers: { 'content-type': 'application/json' } });

    for (const { w, log, s, m } of subs) {
      await waitFor(() => w.events.length >= 3, 'WAMP subscriber got all three');
      await log.count(3, 'MQTT subscriber got all three');
      await s.count(3, 'STOMP subscriber got all three');
      const byTopic = (topic: unknown): unknown => w.events.find((e) => e.details['topic'] === topic)?.args[0];
      assert.equal(byTopic('cl.pair.wamp'), 'from-wamp');
      assert.equal(byTopic('cl.pair.mqtt'), 'from-mqtt');
      assert.equal(byTopic('cl.pair.stomp'), 'from-stomp');
      assert.deepEqual(log.messages.map((x) => x.topic).sort(), ['cl/pair/mqtt', 'cl/pair/stomp', 'cl/pair/wamp']);
      assert.match(log.messages.find((x) => x.topic === 'cl/pair/wamp')?.payload.toString() ?? '', /from-wamp/);
      assert.deepEqual(s.messages.map((x) => x.headers['destination']).sort(), [
        '/topic/cl.pair.mqtt',
        '/topic/cl.pair.stomp',
        '/topic/cl.pair.wamp',
      ]);
      assert.match(s.messages.find((x) => x.headers['destination'] === '/topic/cl.pair.mqtt')?.body ?? '', /from-mqtt/);
      await m.endAsync();
    }
    await pm.endAsync();
    // exactly once: nothing more arrives
    await expectQuiet(300);
    for (const { w, log, s } of subs) {
      assert.equal(w.events.length, 3);
      assert.equal(log.messages.length, 3);
      assert.equal(s.messages.length, 3);
    }
  });

  it('cluster - order per publisher is kept across nodes, with no loss and no duplicate', async () => {
    const [a, b, c] = [node(0), node(1), node(2)];
    const w = await wampInbox(await wamp(b), 'cl.order.seq');
    const log = new MessageLog();
    const { client: m } = await connectMqtt(c.mqttUrl, {}, log);
    await m.subscribeAsync('cl/order/seq', { qos: 1 });
    await waitInterest(nats, filterFor('cl.order.seq'));
    const { client: pub } = await connectMqtt(a.mqttUrl);
    const N = 300;
    const sent: Promise<unknown>[] = [];
    for (let i = 0; i < N; i++) sent.push(pub.publishAsync('cl/order/seq', String(i), { qos: 1 }));
    await Promise.all(sent);
    await waitFor(() => w.events.length >= N, `WAMP subscriber got ${N}`, 20_000);
    await log.count(N, `MQTT subscriber got ${N}`, 20_000);
    const expected = Array.from({ length: N }, (_, i) => i);
    assert.deepEqual(
      w.events.map((e) => e.args[0]),
      expected,
    );
    assert.deepEqual(log.texts().map(Number), expected);
    await expectQuiet(200);
    assert.equal(w.events.length, N);
    assert.equal(log.messages.length, N);
    await pub.endAsync();
    await m.endAsync();
  });

  it('cluster - no echo and no duplicate: overlapping patterns on a node take one NATS delivery, the origin gets nothing back', async () => {
    const [a, b] = [node(0), node(1)];
    // one session on b with two overlapping subscriptions (exact and prefix): WAMP wants
    // one event per subscription, the node one message from NATS
    const cb = await wamp(b);
    const exact = await wampInbox(cb, 'cl.dup.x');
    const prefix = await wampInbox(cb, 'cl.dup', { match: 'prefix' });
    // a subscriber on the publisher's own node
    const local = await wampInbox(await wamp(a), 'cl.dup.x');
    await waitInterest(nats, filterFor('cl.dup.x'));
    await waitInterest(nats, filterFor('cl.dup', 'prefix'));
    const receivedBefore = await metricValue(b, 'gatehouse_cluster_received_total', {});
    const dupBefore = await metricValue(b, 'gatehouse_cluster_dropped_total', { reason: 'duplicate' });
    const aReceivedBefore = await metricValue(a, 'gatehouse_cluster_received_total', {});

    const pub = await wamp(a);
    await acked(pub.session.publish('cl.dup.x', ['once'], {}, { acknowledge: true }));
    await waitFor(
      () => exact.events.length === 1 && prefix.events.length === 1 && local.events.length === 1,
      'each subscription has it',
    );
    await expectQuiet(300);
    assert.equal(exact.events.length, 1);
    assert.equal(prefix.events.length, 1);
    assert.equal(local.events.length, 1, 'the origin node delivered it once, and nothing came back');
    assert.equal((await metricValue(b, 'gatehouse_cluster_received_total', {})) - receivedBefore, 1, 'b routed it once');
    assert.equal(
      (await metricValue(b, 'gatehouse_cluster_dropped_total', { reason: 'duplicate' })) - dupBefore,
      1,
      'the second NATS copy was dropped',
    );
    assert.equal((await metricValue(a, 'gatehouse_cluster_received_total', {})) - aReceivedBefore, 0, 'a got nothing back');
    assert.equal(
      await metricValue(a, 'gatehouse_cluster_dropped_total', { reason: 'own' }),
      0,
      'NATS did not even echo it (noEcho)',
    );
    // its prefix pattern (`cl.>` on NATS) would take in the later tests' topics
    await cb.close();
    await waitInterest(nats, filterFor('cl.dup', 'prefix'), false);
  });

  it('cluster - exclude, eligible (session, authid, authrole) and publisher disclosure work across nodes', async () => {
    const [a, b, c] = [node(0), node(1), node(2)];
    const c1 = await wamp(b);
    const c2 = await wamp(b);
    const c3 = await wamp(c);
    const s1 = await wampInbox(c1, 'cl.lists');
    const s2 = await wampInbox(c2, 'cl.lists');
    const s3 = await wampInbox(c3, 'cl.lists');
    await waitInterest(nats, filterFor('cl.lists'));
    const p = await wamp(a);
    const send = (tag: string, options: Record<string, unknown>): Promise<unknown> =>
      acked(p.session.publish('cl.lists', [tag], {}, { acknowledge: true, ...options }));
    const authid = (w: Wamp): unknown => w.details['authid'];

    await send('exclude', { exclude: [c1.session.id] });
    await send('eligible', { eligible: [c2.session.id] });
    await send('eligible_authid', { eligible_authid: [authid(c3)] });
    await send('exclude_authid', { exclude_authid: [authid(c2), authid(c3)] });
    await send('exclude_authrole', { exclude_authrole: ['anonymous'] });
    await send('eligible_authrole', { eligible_authrole: ['nobody'] });
    await send('disclosed', { disclose_me: true });
    // the last one reaches everyone: once it is in, everything before it is (publisher order)
    for (const s of [s1, s2, s3]) await waitFor(() => s.events.some((e) => e.args[0] === 'disclosed'), 'the last event');
    const tags = (s: WampInbox): unknown[] => s.events.map((e) => e.args[0]);
    assert.deepEqual(tags(s1), ['exclude_authid', 'disclosed']);
    assert.deepEqual(tags(s2), ['exclude', 'eligible', 'disclosed']);
    assert.deepEqual(tags(s3), ['exclude', 'eligible_authid', 'disclosed']);

    const last = s3.events.at(-1)?.details;
    assert.equal(last?.['publisher'], p.session.id);
    assert.equal(last?.['publisher_authid'], authid(p));
    assert.equal(last?.['publisher_authrole'], 'anonymous');
    assert.equal(s3.events[0]?.details['publisher'], undefined, 'not disclosed unless asked');
  });

  it("cluster - a subscription filter ({type: post}) applies on the subscriber's node to events from another", async () => {
    const [a, b] = [node(0), node(1)];
    const s = await wampInbox(await wamp(b), 'cl.filter', { filter: { type: 'post' } });
    await waitInterest(nats, filterFor('cl.filter'));
    const p = await wamp(a);
    for (const type of ['post', 'like', 'post', 'share']) {
      await acked(p.session.publish('cl.filter', [{ type, n: type.length }], {}, { acknowledge: true }));
    }
    await acked(p.session.publish('cl.filter', [{ type: 'post', n: 0 }], {}, { acknowledge: true }));
    await waitFor(() => s.events.length >= 3, 'the matching events');
    assert.deepEqual(
      s.events.map((e) => e.args[0]),
      [
        { type: 'post', n: 4 },
        { type: 'post', n: 4 },
        { type: 'post', n: 0 },
      ],
    );
  });

  it('cluster - traffic follows interest: a node without subscribers receives nothing', async () => {
    const [a, b, c] = [node(0), node(1), node(2)];
    const cb = await wamp(b);
    const s = await wampInbox(cb, 'cl.interest.t');
    await waitInterest(nats, filterFor('cl.interest.t'));
    const bBefore = await metricValue(b, 'gatehouse_cluster_received_total', {});
    const cBefore = await metricValue(c, 'gatehouse_cluster_received_total', {});
    const { client: pub } = await connectMqtt(a.mqttUrl);
    const N = 50;
    for (let i = 0; i < N; i++) await pub.publishAsync('cl/interest/t', String(i), { qos: 1 });
    await waitFor(() => s.events.length === N, `b's subscriber got ${N}`);
    assert.equal((await metricValue(b, 'gatehouse_cluster_received_total', {})) - bBefore, N);
    assert.equal(
      (await metricValue(c, 'gatehouse_cluster_received_total', {})) - cBefore,
      0,
      'c has no subscriber: NATS sent it nothing',
    );

    // the last local subscriber leaves: the node's NATS subscription goes too
    await cb.close();
    await waitInterest(nats, filterFor('cl.interest.t'), false);
    const after = await metricValue(b, 'gatehouse_cluster_received_total', {});
    for (let i = 0; i < 10; i++) await pub.publishAsync('cl/interest/t', 'late', { qos: 1 });
    await expectQuiet(300);
    assert.equal(await metricValue(b, 'gatehouse_cluster_received_total', {}), after);
    await pub.endAsync();
  });

  it('cluster - a retained publication reaches other nodes live without being written again there', async () => {
    const [a, b] = [node(0), node(1)];
    const log = new MessageLog();
    const { client: m } = await connectMqtt(b.mqttUrl, { protocolVersion: 5 }, log);
    await m.subscribeAsync('cl/ret/k', { qos: 1, rap: true });
    await waitInterest(nats, filterFor('cl.ret.k'));
    const { client: pub } = await connectMqtt(a.mqttUrl, { protocolVersion: 5 });
    await pub.publishAsync('cl/ret/k', 'kept', { qos: 1, retain: true });
    const [got] = await log.count(1, 'the live retained publication');
    assert.equal(got?.payload.toString(), 'kept');
    assert.equal(got?.packet.retain, true, 'retain-as-published sees the flag');
    // each node has its own store here (test/helpers/cluster.ts): the origin wrote it, the
    // remote node only delivered it (with a shared store, writing again would be a second write)
    assert.ok(a.router.realmStore('realm1')?.get('cl.ret.k'), 'the origin wrote it');
    assert.equal(b.router.realmStore('realm1')?.get('cl.ret.k'), undefined, 'the remote node did not write it');
    await pub.endAsync();
    await m.endAsync();
  });

  it('cluster - payloads and headers survive the hop: binary MQTT bodies, MQTT 5 properties, WAMP kwargs', async () => {
    const [a, b] = [node(0), node(1)];
    const log = new MessageLog();
    const { client: m } = await connectMqtt(b.mqttUrl, { protocolVersion: 5 }, log);
    await m.subscribeAsync('cl/payload/bin', { qos: 1 });
    const w = await wampInbox(await wamp(b), 'cl.payload.kw');
    await waitInterest(nats, filterFor('cl.payload.bin'));
    await waitInterest(nats, filterFor('cl.payload.kw'));
    const { client: pub } = await connectMqtt(a.mqttUrl, { protocolVersion: 5 });
    const bytes = Buffer.from([0, 255, 1, 254, 0x80]);
    await pub.publishAsync('cl/payload/bin', bytes, {
      qos: 1,
      properties: {
        contentType: 'application/octet-stream',
        userProperties: { k: 'v' },
        correlationData: Buffer.from('corr'),
        responseTopic: 'cl/payload/reply',
      },
    });
    const p = await wamp(a);
    await acked(p.session.publish('cl.payload.kw', [1, 'two'], { three: { four: [5] } }, { acknowledge: true }));
    const [bin] = await log.count(1, 'the binary body');
    assert.deepEqual(bin?.payload, bytes);
    const props = bin?.packet.properties;
    assert.equal(props?.contentType, 'application/octet-stream');
    assert.deepEqual({ ...props?.userProperties }, { k: 'v' });
    assert.deepEqual(props?.correlationData, Buffer.from('corr'));
    assert.equal(props?.responseTopic, 'cl/payload/reply');
    await waitFor(() => w.events.length === 1, 'the WAMP event');
    assert.deepEqual(w.events[0]?.args, [1, 'two']);
    assert.deepEqual(w.events[0]?.kwargs, { three: { four: [5] } });
    await pub.endAsync();
    await m.endAsync();
  });

  it('cluster - malformed messages on the cluster subjects are dropped and counted; the node goes on', async (t) => {
    const b = node(1);
    const w = await wampInbox(await wamp(b), 'cl.bad');
    const subject = filterFor('cl.bad');
    await waitInterest(nats, subject);
    const raw = await natsClient(t, nats.servers[0] ?? '');
    const before = await metricValue(b, 'gatehouse_cluster_dropped_total', { reason: 'malformed' });
    const pack = (v: unknown): Uint8Array => new Packr({ useRecords: false }).pack(v);
    const good = { o: 'elsewhere', i: 7, t: 'cl.bad', p: { args: ['fine'] }, q: 1 };
    raw.publish(subject, new Uint8Array([0xc1, 0xff, 0x00])); // not MessagePack
    raw.publish(subject, pack('a string'));
    raw.publish(subject, pack({ ...good, p: { args: 'not a list' } }));
    raw.publish(subject, pack({ ...good, q: 9 }));
    raw.publish(subject, pack({ ...good, x: { exclude: ['not a session id'] } }));
    raw.publish(subject, pack({ ...good, d: { id: 1 } }));
    raw.publish(subject, pack({ ...good, h: { contentType: 42 } }));
    raw.publish(subject, pack(good));
    await raw.flush();
    await waitFor(() => w.events.length === 1, 'the one well-formed message');
    assert.deepEqual(w.events[0]?.args, ['fine']);
    assert.equal((await metricValue(b, 'gatehouse_cluster_dropped_total', { reason: 'malformed' })) - before, 7);
  });

  it('cluster - a publication over the NATS max_payload is delivered locally, counted as too_large, and the connection stays up', async () => {
    const [a, b] = [node(0), node(1)];
    const far = await wampInbox(await wamp(b), 'cl.big');
    const near = await wampInbox(await wamp(a), 'cl.big');
    await waitInterest(nats, filterFor('cl.big'));
    const before = await metricValue(a, 'gatehouse_cluster_dropped_total', { reason: 'too_large' });
    const realm = a.router.findRealm('realm1');
    assert.ok(realm);
    // past the server's 1 MB max_payload (the router's own frame limits keep clients under it)
    await realm.publish(undefined, 'cl.big', { args: ['x'.repeat(1_100_000)] }, {});
    await realm.publish(undefined, 'cl.big', { args: ['small'] }, {});
    await waitFor(() => far.events.length === 1 && near.events.length === 2, 'the small one everywhere, the big one locally');
    assert.equal(far.events[0]?.args[0], 'small');
    assert.equal((await metricValue(a, 'gatehouse_cluster_dropped_total', { reason: 'too_large' })) - before, 1);
    assert.equal(a.router.health().cluster?.state, 'connected');
  });

  it('cluster - /health reports the cluster state and gatehouse_cluster_connected is 1', async () => {
    for (const r of g) {
      const h = r.router.health();
      assert.equal(h.status, 'ok');
      assert.equal(h.cluster?.state, 'connected');
      assert.match(h.cluster?.server ?? '', /127\.0\.0\.1/);
      assert.equal(await metricValue(r, 'gatehouse_cluster_connected', {}), 1);
    }
    assert.deepEqual(
      g.map((r) => r.router.node),
      ['g1', 'g2', 'g3'],
    );
  });
});

describe('cluster - NATS unreachable', { timeout: 60_000 }, () => {
  it('cluster - local pub/sub keeps working, /health and the metrics say so', async (t) => {
    // a port nobody listens on; the store stays the node's own (a JetStream store needs
    // NATS at start: README "Cluster", what a partition does)
    const [port = 0] = await freePorts(1);
    const r = await startRouter({
      cluster: { nats: [`nats://127.0.0.1:${port}`], node: 'alone' },
      store: { engine: 'sqlite', path: ':memory:' },
    });
    t.after(() => r.close());
    const sub = await connect(wsOptions(r.wsUrl, 'json'));
    const pub = await connect(wsOptions(r.wsUrl, 'json'));
    t.after(async () => {
      await sub.close();
      await pub.close();
    });
    const s = await wampInbox(sub, 'cl.alone');
    const ack = await withTimeout(
      acked(pub.session.publish('cl.alone', [1], {}, { acknowledge: true })),
      5000,
      'a local publish is acknowledged',
    );
    assert.ok(ack.id > 0);
    await waitFor(() => s.events.length === 1, 'the local subscriber has it');
    const h = r.router.health();
    assert.equal(h.status, 'ok');
    assert.equal(h.cluster?.state, 'connecting');
    assert.equal(await metricValue(r, 'gatehouse_cluster_connected', {}), 0);
    assert.equal(
      await metricValue(r, 'gatehouse_cluster_dropped_total', { reason: 'disconnected' }),
      1,
      'the publication that could not go out is counted',
    );
  });
});
