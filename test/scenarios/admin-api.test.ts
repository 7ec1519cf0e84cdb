// The admin console's procedures (lib/admin-api.ts) over autobahn: router stats, a
// session's subscriptions and registrations, kicking MQTT, STOMP and WAMP sessions (each
// client gets its protocol's close), durable queues listed and purged, the audit log,
// and a role without gatehouse.admin.* refused.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { connect, wsOptions, type AutobahnSession } from '../helpers/autobahn';
import { closed, connectMqtt, endAll, publish, serverDisconnect, subscribe, uniqueId, waitFor } from '../helpers/mqtt-clients';
import { allowAllBut, startRouter, type TestRouter } from '../helpers/router';
import {
  Inbox,
  sendWithReceipt,
  StompjsClients,
  subscribeConfirmed,
  transportClosed,
  withReceipt,
  type IFrame,
} from '../helpers/stomp-clients';
import { call, closeAll, errorOf, type Client } from '../helpers/wamp-clients';
import type { MqttClient } from 'mqtt';

interface SessionDetails {
  session: number;
  authid: string;
  transport: { gate: string; type: string; peer: string };
  realm: string;
  joined: string;
  subscriptions?: { uri: string; match: string }[];
  registrations?: { uri: string }[];
}
interface QueueRow {
  kind: string;
  name: string;
  messages: number;
  bytes: number;
  oldestAgeMs: number | null;
  consumers: number;
}

const logLines: Record<string, unknown>[] = [];
const logStream = new Writable({
  write(chunk: Buffer, _enc, done) {
    for (const line of chunk.toString('utf8').split('\n'))
      if (line !== '') logLines.push(JSON.parse(line) as Record<string, unknown>);
    done();
  },
});

let r: TestRouter;
const wamps: Client[] = [];
const mqtts: MqttClient[] = [];
const stompjs = new StompjsClients();

async function wamp(authid?: string): Promise<AutobahnSession> {
  const c = await connect(authid === undefined ? wsOptions(r.wsUrl, 'json') : { ...wsOptions(r.wsUrl, 'json'), authid });
  wamps.push(c);
  return c.session;
}

before(async () => {
  r = await startRouter({ mqtt: { sysIntervalSeconds: 0 } }, { logger: pino({ level: 'info' }, logStream) });
});
after(async () => {
  await closeAll(wamps);
  await endAll(mqtts);
  await stompjs.closeAll();
  await r.close();
});

/** The details of the first listed session matching `pred` (polled: joins are announced asynchronously). */
async function find(admin: AutobahnSession, pred: (d: SessionDetails) => boolean): Promise<SessionDetails> {
  const deadline = Date.now() + 3000;
  for (;;) {
    const ids = await call<number[]>(admin, 'wamp.session.list');
    for (const id of ids) {
      const d = await call<SessionDetails>(admin, 'wamp.session.get', [id]).catch(() => undefined);
      if (d && pred(d)) return d;
    }
    if (Date.now() > deadline) assert.fail('no such session listed');
    await new Promise((res) => setImmediate(res));
  }
}

describe('admin api', () => {
  it('gatehouse.admin.stats counts sessions per gate and realm, messages per gate, and names the version', async () => {
    const admin = await wamp();
    const { client } = await connectMqtt(r.mqttUrl, { clientId: uniqueId('stats'), protocolVersion: 5 });
    mqtts.push(client);
    await publish(client, 'stats/x', 'hello', { qos: 1 });
    await stompjs.tcp(r.stompPort);
    const stats = await call<{
      version: string;
      uptimeSeconds: number;
      sessions: { gate: string; realm: string; count: number }[];
      gates: Record<string, { messagesIn: number; bytesIn: number }>;
      drops: { total: number };
      store: { keys: number };
    }>(admin, 'gatehouse.admin.stats');
    assert.match(stats.version, /^\d+\.\d+\.\d+/);
    const gates = stats.sessions
      .filter((s) => s.realm === 'realm1')
      .map((s) => s.gate)
      .sort();
    assert.deepEqual(gates, ['mqtt', 'stomp', 'wamp']);
    assert.ok(stats.gates['mqtt']!.messagesIn >= 2, 'CONNECT and PUBLISH counted');
    assert.ok(stats.gates['mqtt']!.bytesIn > 0);
    assert.equal(typeof stats.drops.total, 'number');
    assert.equal(typeof stats.store.keys, 'number');
  });

  it('wamp.session.get names the gate and since when; gatehouse.admin.session.get lists its subscriptions and registrations', async () => {
    const admin = await wamp();
    const clientId = uniqueId('detail');
    const { client } = await connectMqtt(r.mqttUrl, { clientId, protocolVersion: 5 });
    mqtts.push(client);
    await subscribe(client, 'detail/+/temp', { qos: 1 });
    const d = await find(admin, (s) => s.authid === clientId);
    assert.equal(d.transport.gate, 'mqtt');
    assert.match(d.transport.peer, /^127\.0\.0\.1:\d+$/);
    assert.ok(Date.now() - Date.parse(d.joined) < 60_000);
    const full = await call<SessionDetails>(admin, 'gatehouse.admin.session.get', [d.session]);
    assert.deepEqual(
      full.subscriptions!.map((s) => [s.uri, s.match]),
      [['detail..temp', 'wildcard']],
    );

    const callee = await wamp('callee-1');
    await callee.register('com.example.add', (args?: unknown[]) => args);
    const c = await find(admin, (s) => s.authid === 'callee-1');
    const withReg = await call<SessionDetails>(admin, 'gatehouse.admin.session.get', [c.session]);
    assert.deepEqual(
      withReg.registrations!.map((x) => x.uri),
      ['com.example.add'],
    );
    assert.equal(
      (await errorOf(admin.call('gatehouse.admin.session.get', [1]), 'no session')).error,
      'wamp.error.no_such_session',
    );
  });

  it('a resumed MQTT persistent session shows its new connection: peer and protocol level', async () => {
    const admin = await wamp();
    const clientId = uniqueId('resume');
    const opts = { clientId, clean: false, reconnectPeriod: 0 };
    const { client: first } = await connectMqtt(r.mqttUrl, { ...opts, protocolVersion: 4 });
    const before = await find(admin, (s) => s.authid === clientId);
    assert.equal((before.transport as { protocol?: string }).protocol, 'mqtt.3.1.1');
    assert.equal((before as { offline?: boolean }).offline, false);
    const updates: { session: number; offline: boolean; transport: { peer: string } }[] = [];
    await admin.subscribe('gatehouse.admin.session.on_update', (args?: unknown[]) => {
      updates.push(args?.[0] as (typeof updates)[number]);
    });
    await endAll([first]);
    await waitFor(() => updates.some((u) => u.session === before.session && u.offline), 'the offline update');
    const parked = await call<{ offline: boolean }>(admin, 'wamp.session.get', [before.session]);
    assert.equal(parked.offline, true);
    const { client: second } = await connectMqtt(r.mqttUrl, {
      ...opts,
      protocolVersion: 5,
      properties: { sessionExpiryInterval: 60 },
    });
    mqtts.push(second);
    const port = (second.stream as unknown as { localPort: number }).localPort;
    const now = await call<SessionDetails>(admin, 'wamp.session.get', [before.session]);
    assert.equal(now.transport.peer, `127.0.0.1:${port}`, "the new connection's peer");
    assert.equal((now.transport as { protocol?: string }).protocol, 'mqtt.5');
    assert.notEqual(before.transport.peer, now.transport.peer);
    await waitFor(
      () => updates.some((u) => u.session === before.session && !u.offline && u.transport.peer === now.transport.peer),
      'the back-online update with the new peer',
    );
    // nobody but the router publishes there
    const forged = await errorOf(
      admin.publish('gatehouse.admin.session.on_update', [{ session: 1 }], {}, { acknowledge: true }),
      'a forged update',
    );
    assert.equal(forged.error, 'wamp.error.not_authorized');
  });

  it('kick: MQTT 5 gets DISCONNECT 0x98, MQTT 3.1.1 a closed connection, STOMP an ERROR, WAMP GOODBYE; each logged with who did it', async () => {
    const admin = await wamp('the-admin');

    const id5 = uniqueId('kick5');
    const { client: m5 } = await connectMqtt(r.mqttUrl, { clientId: id5, protocolVersion: 5, reconnectPeriod: 0 });
    mqtts.push(m5);
    const disconnect = serverDisconnect(m5);
    const s5 = await find(admin, (s) => s.authid === id5);
    await call(admin, 'gatehouse.admin.session.kick', [s5.session], { message: 'maintenance' });
    const packet = (await disconnect) as { reasonCode?: number; properties?: { reasonString?: string } };
    assert.equal(packet.reasonCode, 0x98);
    assert.equal(packet.properties?.reasonString, 'maintenance');

    const id4 = uniqueId('kick4');
    const { client: m4 } = await connectMqtt(r.mqttUrl, { clientId: id4, protocolVersion: 4, reconnectPeriod: 0 });
    mqtts.push(m4);
    const gone4 = closed(m4);
    const s4 = await find(admin, (s) => s.authid === id4);
    await call(admin, 'gatehouse.admin.session.kick', [s4.session]);
    await gone4;

    let error: IFrame | undefined;
    const { client: stomp } = await stompjs.tcp(r.stompPort, {
      connectHeaders: { login: 'stomp-kicked' },
      onStompError: (f) => (error = f),
    });
    const stompGone = transportClosed(stomp, 'the STOMP connection to close');
    const ss = await find(admin, (s) => s.authid === 'stomp-kicked');
    await call(admin, 'gatehouse.admin.session.kick', [ss.session], { message: 'go away' });
    await stompGone;
    assert.equal(error?.headers['message'], 'killed');
    assert.match(error?.body ?? '', /go away/);

    const victim = await connect({ ...wsOptions(r.wsUrl, 'json'), authid: 'wamp-kicked' });
    wamps.push(victim);
    const sw = await find(admin, (s) => s.authid === 'wamp-kicked');
    await call(admin, 'gatehouse.admin.session.kick', [sw.session]);
    const bye = await victim.onclose;
    assert.equal(bye.details['reason'], 'wamp.close.killed');

    const kicks = logLines.filter((l) => l['action'] === 'session.kick');
    assert.equal(kicks.length, 4);
    const first = kicks[0] as { by: { authid: string; gate: string }; targetAuthid: string; message: string };
    assert.equal(first.by.authid, 'the-admin');
    assert.equal(first.targetAuthid, id5);
    assert.equal(first.message, 'maintenance');
  });

  it('queues: a STOMP work queue and an MQTT offline queue are listed with depth and age, and purged', async () => {
    const admin = await wamp('queue-admin');
    const { client: stomp } = await stompjs.tcp(r.stompPort);
    for (let i = 0; i < 3; i++) await sendWithReceipt(stomp, '/queue/jobs', `job ${i}`);
    const queues = async (): Promise<QueueRow[]> => call<QueueRow[]>(admin, 'gatehouse.admin.queue.list');
    const jobs = (await queues()).find((q) => q.kind === 'queue' && q.name === 'jobs');
    assert.equal(jobs?.messages, 3);
    assert.ok(jobs.bytes > 0 && jobs.oldestAgeMs !== null && jobs.oldestAgeMs >= 0);
    assert.equal(jobs.consumers, 0);

    // a persistent MQTT session, offline, with messages waiting
    const clientId = uniqueId('offline');
    const { client: sub } = await connectMqtt(r.mqttUrl, {
      clientId,
      protocolVersion: 5,
      clean: false,
      properties: { sessionExpiryInterval: 300 },
    });
    await subscribe(sub, 'offline/#', { qos: 1 });
    await endAll([sub]);
    const { client: pub } = await connectMqtt(r.mqttUrl, { clientId: uniqueId('pub'), protocolVersion: 5 });
    mqtts.push(pub);
    await publish(pub, 'offline/a', 'one', { qos: 1 });
    await publish(pub, 'offline/b', 'two', { qos: 1 });
    const offline = (await queues()).find((q) => q.kind === 'mqtt' && q.name === clientId);
    assert.equal(offline?.messages, 2);
    assert.equal(offline.consumers, 0, 'its session is offline');

    assert.deepEqual(await call(admin, 'gatehouse.admin.queue.purge', ['queue', 'jobs']), { purged: 3 });
    assert.deepEqual(await call(admin, 'gatehouse.admin.queue.purge', ['mqtt', clientId]), { purged: 2 });
    const left = await queues();
    assert.equal(
      left.find((q) => q.name === 'jobs' || q.name === clientId),
      undefined,
    );
    // the work queue still works after a purge
    await sendWithReceipt(stomp, '/queue/jobs', 'after');
    assert.equal((await queues()).find((q) => q.name === 'jobs')?.messages, 1);
    const purge = logLines.find((l) => l['action'] === 'queue.purge' && l['queue'] === 'jobs') as {
      by: { authid: string };
      purged: number;
    };
    assert.equal(purge.by.authid, 'queue-admin');
    assert.equal(purge.purged, 3);
  });

  it('purge of a STOMP queue with a consumer holding an unacknowledged message: nothing purged is delivered, and its capacity is free again', async () => {
    const admin = await wamp('purge-admin');
    const { client: producer } = await stompjs.tcp(r.stompPort);
    for (const body of ['a', 'b', 'c']) await sendWithReceipt(producer, '/queue/held', body);
    const { client: consumer } = await stompjs.tcp(r.stompPort);
    const inbox = new Inbox();
    // one unacknowledged message at a time: 'a' is handed out, 'b' and 'c' wait (read ahead)
    await subscribeConfirmed(consumer, '/queue/held', inbox, { ack: 'client-individual', 'prefetch-count': '1' });
    const [first] = await inbox.count(1, 'the first message');
    assert.equal(first?.body, 'a');
    assert.deepEqual(await call(admin, 'gatehouse.admin.queue.purge', ['queue', 'held']), { purged: 3 });
    // 'a' was purged: its delivery is void, so the consumer takes the next message unacked
    await sendWithReceipt(producer, '/queue/held', 'd');
    await inbox.count(2, 'a message sent after the purge');
    // an ack of a purged message is void (dropped and counted), not an error
    await withReceipt(consumer, 'ACK of a purged message', (receipt) =>
      consumer.ack(first.headers['message-id'] ?? '', first.headers['subscription'] ?? '', { receipt }),
    );
    await inbox.quiet(2, 100, 'nothing purged is delivered');
    assert.deepEqual(inbox.bodies(), ['a', 'd']);
  });

  it('issue 17: messages in/out per session, consumers per queue, the store commit time', async () => {
    const admin = await wamp('figures-admin');
    // a session's messages: 3 publishes in, the one event it is subscribed to out
    const clientId = uniqueId('counted');
    const { client } = await connectMqtt(r.mqttUrl, { clientId, protocolVersion: 5 });
    mqtts.push(client);
    await subscribe(client, 'counted/in', { qos: 1 });
    const got = new Promise<void>((res) => client.once('message', () => res()));
    for (let i = 0; i < 3; i++) await publish(client, `counted/${i}`, 'x', { qos: 1 });
    const { client: other } = await connectMqtt(r.mqttUrl, { clientId: uniqueId('counter'), protocolVersion: 5 });
    mqtts.push(other);
    await publish(other, 'counted/in', 'y', { qos: 1 });
    await got;
    const d = await find(admin, (s) => s.authid === clientId);
    const full = await call<{ messagesIn: number; messagesOut: number }>(admin, 'gatehouse.admin.session.get', [d.session]);
    assert.ok(full.messagesIn >= 3, `messagesIn ${full.messagesIn}`);
    assert.ok(full.messagesOut >= 1, `messagesOut ${full.messagesOut}`);

    // a STOMP work queue with one connected consumer (holding one unacknowledged message)
    const { client: producer } = await stompjs.tcp(r.stompPort);
    for (const body of ['a', 'b']) await sendWithReceipt(producer, '/queue/consumed', body);
    const { client: consumer } = await stompjs.tcp(r.stompPort);
    const inbox = new Inbox();
    await subscribeConfirmed(consumer, '/queue/consumed', inbox, { ack: 'client-individual', 'prefetch-count': '1' });
    await inbox.count(1, 'the first message');
    const rows = await call<QueueRow[]>(admin, 'gatehouse.admin.queue.list');
    assert.equal(rows.find((q) => q.kind === 'queue' && q.name === 'consumed')?.consumers, 1);

    // the store's commit time, after a retained publish was committed
    await admin.publish('figures.retained', ['v'], {}, { retain: true, acknowledge: true });
    const stats = await call<{ store: { commits: number; lastCommitMs: number; avgCommitMs: number } }>(
      admin,
      'gatehouse.admin.stats',
    );
    assert.ok(stats.store.commits >= 1);
    assert.ok(
      typeof stats.store.lastCommitMs === 'number' && stats.store.lastCommitMs > 0,
      `lastCommitMs ${stats.store.lastCommitMs}`,
    );
    assert.ok(stats.store.avgCommitMs > 0, `avgCommitMs ${stats.store.avgCommitMs}`);
  });

  it('store delete is logged with who did it', async () => {
    const admin = await wamp('store-admin');
    await admin.publish('config.x', ['v'], {}, { retain: true, acknowledge: true });
    assert.ok(await call(admin, 'gatehouse.store.delete', ['config.x']));
    const line = logLines.find((l) => l['action'] === 'store.delete' && l['key'] === 'config.x') as
      { by: { authid: string } } | undefined;
    assert.equal(line?.by.authid, 'store-admin');
  });
});

describe('admin api - a role without gatehouse.admin.*', () => {
  let limited: TestRouter;
  const clients: Client[] = [];
  before(async () => {
    limited = await startRouter({
      mqtt: { sysIntervalSeconds: 0 },
      auth: allowAllBut('gatehouse.admin.', ['call']),
    });
  });
  after(async () => {
    await closeAll(clients);
    await limited.close();
  });

  it('is refused kick, purge and stats, and the target stays connected; the session meta API still answers', async () => {
    const a = await connect(wsOptions(limited.wsUrl, 'json'));
    const b = await connect({ ...wsOptions(limited.wsUrl, 'json'), authid: 'target' });
    clients.push(a, b);
    const ids = await call<number[]>(a.session, 'wamp.session.list');
    assert.ok(ids.length >= 2);
    const target = (await find(a.session, (d) => d.authid === 'target')).session;
    for (const [proc, args] of [
      ['gatehouse.admin.session.kick', [target]],
      ['gatehouse.admin.queue.purge', ['queue', 'jobs']],
      ['gatehouse.admin.stats', []],
    ] as const) {
      const e = await errorOf(a.session.call(proc, [...args]), proc);
      assert.equal(e.error, 'wamp.error.not_authorized', proc);
    }
    assert.equal(typeof (await call(b.session, 'wamp.session.count')), 'number', 'the target is still connected');
  });
});
