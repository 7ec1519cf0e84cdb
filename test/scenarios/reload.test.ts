// Config reload (README "Reloading the configuration"): the daemon re-reads its config
// file on SIGHUP (or `gatehouse reload --pid-file`). Sessions stay connected; rights
// that were removed end at once, each protocol telling its client its own way; a bad
// file changes nothing and is logged; added users, realms and changed limits apply.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { createUserRecord } from '../../lib/auth/user-record';
import { resolveConfig, type UserRecord } from '../../lib/config';
import { portsOf, spawnGatehouse, tempDir, writeJson, type Daemon, type DaemonPorts, type LogEntry } from '../helpers/daemon';
import { connect, wsOptions } from '../helpers/autobahn';
import { closeAll, EventLog, errorOf, RawWampClient, withTimeout, type Client } from '../helpers/wamp-clients';
import { startRouter } from '../helpers/router';
import {
  closed,
  connectMqtt,
  connectRefused,
  endAll,
  MessageLog,
  publish,
  serverDisconnect,
  subscribe,
  uniqueId,
} from '../helpers/mqtt-clients';
import { Inbox, StompjsClients, subscribeConfirmed, transportClosed, type IFrame } from '../helpers/stomp-clients';

const WAIT_MS = 5000;
/** cheap scrypt: these tests are about reload, not password hashing */
const FAST = { N: 1024, r: 8, p: 1 };
const NOT_AUTHORIZED = 'wamp.error.not_authorized';

interface Users {
  reader: UserRecord;
  keeper: UserRecord;
  newbie: UserRecord;
}

async function makeUsers(): Promise<Users> {
  return {
    reader: await createUserRecord({ authid: 'reader', role: 'R', password: 'reader-secret', scrypt: FAST }),
    keeper: await createUserRecord({ authid: 'keeper', role: 'K', password: 'keeper-secret', scrypt: FAST }),
    newbie: await createUserRecord({ authid: 'newbie', role: 'K', password: 'newbie-secret', scrypt: FAST }),
  };
}

/** R may subscribe to news.# (and register svc.r); K may publish and subscribe news. */
function config(
  dir: string,
  users: UserRecord[],
  rRules: unknown[],
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    http: { host: '127.0.0.1', port: 0 },
    mqtt: { port: 0, sysIntervalSeconds: 0 },
    stomp: { port: 0 },
    store: { path: join(dir, 'gatehouse.db') },
    log: { level: 'info' },
    auth: {
      users,
      roles: {
        R: { permissions: rRules },
        K: { permissions: [{ uri: 'news.', match: 'prefix', allow: ['publish', 'subscribe'] }] },
      },
    },
    ...extra,
  };
}

const R_RULES = [
  { uri: 'news.#', match: 'wildcard', allow: ['subscribe'] },
  { uri: 'svc.r', allow: ['register'] },
];

interface Running {
  d: Daemon;
  ports: DaemonPorts;
  file: string;
  dir: string;
  wsUrl: string;
}

async function startDaemon(
  t: TestContext,
  first: (dir: string) => Record<string, unknown>,
  args: (dir: string) => string[] = () => [],
): Promise<Running> {
  const tmp = tempDir();
  const file = join(tmp.dir, 'config.json');
  writeJson(file, first(tmp.dir));
  const d = spawnGatehouse(['-c', file, ...args(tmp.dir)]);
  t.after(async () => {
    await d.kill();
    tmp.remove();
  });
  const ports = portsOf(await d.waitForLog((e) => e.msg === 'listening', 'listening'));
  return { d, ports, file, dir: tmp.dir, wsUrl: `ws://127.0.0.1:${ports.http}/ws` };
}

/** Rewrites the file, sends SIGHUP and resolves with the daemon's reload log line. */
async function reload(
  r: Running,
  next: unknown,
  pred: (e: LogEntry) => boolean = (e) => e.msg === 'configuration reloaded',
): Promise<LogEntry> {
  if (typeof next === 'string')
    writeFileSync(r.file, next); // not JSON at all: as is
  else writeJson(r.file, next);
  const from = r.d.logs.length;
  r.d.child.kill('SIGHUP');
  return r.d.waitForLog(pred, 'the reload outcome', from, WAIT_MS * 2);
}

async function wampUser(r: Running, authid: string, secret: string, realm = 'realm1'): Promise<Client> {
  const options = { ...wsOptions(r.wsUrl, 'json'), authmethods: ['ticket'], authid, onchallenge: () => secret };
  return withTimeout(connect(options, realm), WAIT_MS, `WAMP join as ${authid}`);
}

function publishAck(c: Client, topic: string, value: unknown): Promise<unknown> {
  return withTimeout(
    c.session.publish(topic, [value], {}, { acknowledge: true }) ?? Promise.reject(new Error('no ack')),
    WAIT_MS,
    `PUBLISHED ${topic}`,
  );
}

async function metricText(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  return res.text();
}

test(
  'reload - SIGHUP ends removed rights on every protocol while another role keeps receiving',
  { timeout: 120_000 },
  async (t) => {
    const users = await makeUsers();
    const r = await startDaemon(t, (dir) => config(dir, [users.reader, users.keeper], R_RULES));
    const wamp: Client[] = [];
    const mqttClients: MqttClient[] = [];
    const stompjs = new StompjsClients();
    t.after(async () => {
      await closeAll(wamp);
      await endAll(mqttClients);
      await stompjs.closeAll();
    });

    // the reader (role R) on every protocol
    const reader = await wampUser(r, 'reader', 'reader-secret');
    wamp.push(reader);
    const wampLog = new EventLog();
    const sub = (await withTimeout(
      reader.session.subscribe('news', wampLog.handler, { match: 'prefix' }),
      WAIT_MS,
      'WAMP subscribe',
    )) as unknown as {
      on_unsubscribe: Promise<unknown>;
    };
    const reg = (await withTimeout(
      reader.session.register('svc.r', () => 1),
      WAIT_MS,
      'WAMP register',
    )) as unknown as { on_unregister: Promise<unknown> };
    const mqtt5Log = new MessageLog();
    const mqtt5 = (
      await connectMqtt(
        `mqtt://127.0.0.1:${r.ports.mqtt}`,
        { clientId: uniqueId('r5'), protocolVersion: 5, username: 'reader', password: 'reader-secret' },
        mqtt5Log,
      )
    ).client;
    mqttClients.push(mqtt5);
    await subscribe(mqtt5, 'news/#');
    const mqtt4Log = new MessageLog();
    const mqtt4 = (
      await connectMqtt(
        `mqtt://127.0.0.1:${r.ports.mqtt}`,
        { clientId: uniqueId('r4'), protocolVersion: 4, username: 'reader', password: 'reader-secret' },
        mqtt4Log,
      )
    ).client;
    mqttClients.push(mqtt4);
    await subscribe(mqtt4, 'news/#');
    const stomp = (await stompjs.tcp(r.ports.stomp, { connectHeaders: { login: 'reader', passcode: 'reader-secret' } })).client;
    const stompInbox = new Inbox();
    await subscribeConfirmed(stomp, '/topic/news.#', stompInbox, { id: 'news-sub' });

    // the keeper (role K) subscribes and publishes
    const keeperLog = new MessageLog();
    const keeperSub = (
      await connectMqtt(
        `mqtt://127.0.0.1:${r.ports.mqtt}`,
        { clientId: uniqueId('k'), protocolVersion: 5, username: 'keeper', password: 'keeper-secret' },
        keeperLog,
      )
    ).client;
    mqttClients.push(keeperSub);
    await subscribe(keeperSub, 'news/#');
    const keeper = await wampUser(r, 'keeper', 'keeper-secret');
    wamp.push(keeper);

    await publishAck(keeper, 'news.a', 1);
    await Promise.all([
      wampLog.count(1, 'WAMP reader'),
      mqtt5Log.count(1, 'MQTT 5 reader'),
      mqtt4Log.count(1, 'MQTT 3.1.1 reader'),
      stompInbox.count(1, 'STOMP reader'),
      keeperLog.count(1, 'keeper'),
    ]);

    // armed before the reload: each protocol's answer to the revocation
    const mqtt5Disconnect = serverDisconnect(mqtt5, WAIT_MS * 2);
    const mqtt4Closed = closed(mqtt4, WAIT_MS * 2);
    const stompError = new Promise<IFrame>((resolve) => (stomp.onStompError = resolve));
    const stompClosed = transportClosed(stomp, 'STOMP reader closed', WAIT_MS * 2);
    const wampUnsubscribed = withTimeout(sub.on_unsubscribe, WAIT_MS * 2, 'UNSUBSCRIBED (revocation)');
    const wampUnregistered = withTimeout(reg.on_unregister, WAIT_MS * 2, 'UNREGISTERED (revocation)');

    const outcome = await reload(r, config(r.dir, [users.reader, users.keeper], []));
    assert.ok(Number(outcome['revoked']) >= 5, `revoked ${String(outcome['revoked'])}`);

    // WAMP: subscription and registration revocation (autobahn announces both); the session stays
    assert.equal(await wampUnsubscribed, NOT_AUTHORIZED);
    assert.equal(await wampUnregistered, NOT_AUTHORIZED);
    // MQTT 5: DISCONNECT 0x87 Not authorized; MQTT 3.1.1 has no reason codes: the connection closes
    assert.equal((await mqtt5Disconnect).reasonCode, 0x87);
    await mqtt4Closed;
    // STOMP: ERROR naming the subscription, then the connection closes
    const err = await withTimeout(stompError, WAIT_MS, 'STOMP ERROR');
    assert.equal(err.headers['message'], 'not authorized');
    assert.equal(err.headers['subscription'], 'news-sub');
    await stompClosed;

    // the keeper keeps receiving; the reader's WAMP session, still joined, gets nothing
    await publishAck(keeper, 'news.b', 2);
    await keeperLog.count(2, 'keeper after the reload');
    assert.deepEqual(keeperLog.texts().length, 2);
    const again = await errorOf(
      reader.session.subscribe('news', () => undefined, { match: 'prefix' }),
      'subscribe after revocation',
    );
    assert.equal(again.error, NOT_AUTHORIZED, 'the reader session is still open and now refused');
    assert.equal(wampLog.events.length, 1);
    assert.match(await metricText(r.ports.http), /gatehouse_config_reloads_total\{result="ok"\} 1/);
  },
);

test('reload - an invalid file changes nothing and the error is logged', { timeout: 120_000 }, async (t) => {
  const users = await makeUsers();
  const r = await startDaemon(t, (dir) => config(dir, [users.reader, users.keeper], R_RULES));
  const mqttClients: MqttClient[] = [];
  const wamp: Client[] = [];
  t.after(async () => {
    await closeAll(wamp);
    await endAll(mqttClients);
  });
  const log = new MessageLog();
  const reader = (
    await connectMqtt(
      `mqtt://127.0.0.1:${r.ports.mqtt}`,
      { clientId: uniqueId('r'), protocolVersion: 5, username: 'reader', password: 'reader-secret' },
      log,
    )
  ).client;
  mqttClients.push(reader);
  await subscribe(reader, 'news/#');
  const keeper = await wampUser(r, 'keeper', 'keeper-secret');
  wamp.push(keeper);

  const refused = (e: LogEntry): boolean => typeof e.msg === 'string' && e.msg.startsWith('config reload refused');
  // not JSON
  const notJson = await reload(r, '{ "auth": ', refused);
  assert.equal(notJson.level, 50, 'logged at error level');
  assert.match(String(notJson.msg), /not valid JSON/);
  // JSON, but the schema refuses it (and the permission is gone in it)
  const bad = config(r.dir, [users.reader, users.keeper], []);
  (bad as { limits?: unknown }).limits = { maxSessions: 'many' };
  const schema = await reload(r, bad, refused);
  assert.equal(schema.level, 50);
  assert.match(String(schema.msg), /\/limits\/maxSessions/);

  await publishAck(keeper, 'news.a', 1);
  await log.count(1, 'the reader still receives');
  assert.equal(reader.connected, true);
  assert.match(await metricText(r.ports.http), /gatehouse_config_reloads_total\{result="invalid"\} 2/);
});

test(
  'reload - a user and a realm added by reload can log in, a removed realm is closed, a changed limit applies',
  { timeout: 120_000 },
  async (t) => {
    const users = await makeUsers();
    const realms = (names: string[]): Record<string, unknown> => ({
      autoCreateRealms: false,
      realms: names.map((name) => ({ name })),
    });
    const r = await startDaemon(
      t,
      (dir) => config(dir, [users.reader, users.keeper], R_RULES, realms(['realm1', 'old'])),
      (dir) => ['--pid-file', join(dir, 'gatehouse.pid')],
    );
    const wamp: Client[] = [];
    t.after(() => closeAll(wamp));
    const mqttUrl = `mqtt://127.0.0.1:${r.ports.mqtt}`;
    const newbie = { clientId: uniqueId('n'), protocolVersion: 5 as const, username: 'newbie', password: 'newbie-secret' };
    assert.equal(await connectRefused(mqttUrl, newbie), 0x86, 'newbie is unknown before the reload');
    const inOld = await wampUser(r, 'keeper', 'keeper-secret', 'old');
    wamp.push(inOld);
    const keeper = await wampUser(r, 'keeper', 'keeper-secret');
    wamp.push(keeper);
    // two subscriptions are fine under the default limit
    await withTimeout(
      keeper.session.subscribe('news.one', () => undefined),
      WAIT_MS,
      'subscribe one',
    );
    await withTimeout(
      keeper.session.subscribe('news.two', () => undefined),
      WAIT_MS,
      'subscribe two',
    );

    const next = config(r.dir, [users.reader, users.keeper, users.newbie], R_RULES, {
      ...realms(['realm1', 'fresh']),
      limits: { maxSubscriptionsPerSession: 2 },
    });
    writeJson(r.file, next);
    const from = r.d.logs.length;
    // `gatehouse reload --pid-file` sends the SIGHUP
    const cmd = spawnGatehouse(['reload', '--pid-file', join(r.dir, 'gatehouse.pid')]);
    assert.equal(await cmd.exited, 0, cmd.stderr());
    const outcome = await r.d.waitForLog((e) => e.msg === 'configuration reloaded', 'reload', from, WAIT_MS * 2);
    assert.deepEqual(outcome['realmsAdded'], ['fresh']);
    assert.deepEqual(outcome['realmsRemoved'], ['old']);

    // the removed realm's session is closed with the realm's close reason
    const gone = await withTimeout(inOld.onclose, WAIT_MS, 'the old realm session closes');
    assert.equal(gone.details['reason'], 'wamp.close.close_realm');
    // the added user logs in, into the added realm too
    const { client } = await connectMqtt(mqttUrl, newbie);
    await endAll([client]);
    wamp.push(await wampUser(r, 'newbie', 'newbie-secret', 'fresh'));
    // the lowered limit applies to the next subscribe of a session already connected
    const third = await errorOf(
      keeper.session.subscribe('news.three', () => undefined),
      'third subscription',
    );
    assert.equal(third.error, 'gatehouse.error.limit_exceeded');
  },
);

test(
  'reload - embedded router.reload(): a WAMP client without revocation support gets GOODBYE; shared and persistent MQTT subscribers are cut and their session ends; a STOMP queue consumer gets ERROR',
  { timeout: 60_000 },
  async (t) => {
    const users = await makeUsers();
    const base = (rRules: unknown[]): Record<string, unknown> => ({
      log: { level: 'silent' },
      store: { path: ':memory:' },
      mqtt: { sysIntervalSeconds: 0 },
      auth: {
        anonymous: 'loopback',
        anonymousRole: 'R',
        users: [users.keeper],
        roles: {
          R: { permissions: rRules },
          K: { permissions: [{ uri: 'news.', match: 'prefix', allow: ['publish', 'subscribe'] }] },
        },
      },
    });
    const r = await startRouter(base([...R_RULES, { uri: 'gatehouse.queue.jobs', allow: ['subscribe'] }]));
    const mqttClients: MqttClient[] = [];
    const raws: RawWampClient[] = [];
    t.after(async () => {
      await endAll(mqttClients);
      for (const c of raws) void c.terminate();
      await r.close();
    });

    // HELLO without subscriber.features.subscription_revocation
    const raw = await RawWampClient.open(r.wsUrl);
    raws.push(raw);
    assert.equal(raw.welcome['authrole'], 'R');
    await raw.subscribe('news.x');
    const shared = (await connectMqtt(r.mqttUrl, { clientId: uniqueId('s'), protocolVersion: 5 })).client;
    mqttClients.push(shared);
    await subscribe(shared, '$share/g/news/#');
    const persistentId = uniqueId('p');
    const persistentOpts = {
      clientId: persistentId,
      protocolVersion: 5 as const,
      clean: false,
      properties: { sessionExpiryInterval: 3600 },
    };
    const persistent = (await connectMqtt(r.mqttUrl, persistentOpts)).client;
    mqttClients.push(persistent);
    await subscribe(persistent, 'news/#', { qos: 1 });
    const keeperLog = new MessageLog();
    const keeper = (
      await connectMqtt(
        r.mqttUrl,
        { clientId: uniqueId('k'), protocolVersion: 5, username: 'keeper', password: 'keeper-secret' },
        keeperLog,
      )
    ).client;
    mqttClients.push(keeper);
    await subscribe(keeper, 'news/#');

    // a STOMP work-queue consumer: held by the queue service, not the broker
    const stompjs = new StompjsClients();
    t.after(() => stompjs.closeAll());
    const worker = (await stompjs.tcp(r.stompPort)).client;
    await subscribeConfirmed(worker, '/queue/jobs', new Inbox(), { id: 'jobs-sub' });
    const workerError = new Promise<IFrame>((resolve) => (worker.onStompError = resolve));

    const sharedCut = serverDisconnect(shared);
    const persistentCut = serverDisconnect(persistent);
    const outcome = r.router.reload(resolveConfig(base([])));
    assert.equal(outcome.revoked, 4);
    assert.deepEqual(outcome.restartNeeded, []);

    const bye = await raw.next((m) => m[0] === 6, 'GOODBYE');
    assert.equal(bye[2], NOT_AUTHORIZED);
    assert.equal((await sharedCut).reasonCode, 0x87);
    assert.equal((await persistentCut).reasonCode, 0x87);
    const jobsError = await withTimeout(workerError, WAIT_MS, 'STOMP ERROR for the queue consumer');
    assert.equal(jobsError.headers['message'], 'not authorized');
    assert.equal(jobsError.headers['subscription'], 'jobs-sub');
    // the persistent session went with its revoked subscription: no session to resume
    const back = await connectMqtt(r.mqttUrl, persistentOpts);
    mqttClients.push(back.client);
    assert.equal(back.connack.sessionPresent, false);

    await publish(keeper, 'news/y', 'still here');
    await keeperLog.count(1, 'the keeper still receives');
  },
);
