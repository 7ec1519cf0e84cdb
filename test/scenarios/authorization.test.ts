// Authorization, one model for every gate (README "Authorization"): role "anonymous" (what
// loopback clients get) may publish and subscribe sensors.* but nothing on billing.*. Each
// protocol is refused with its own not-authorized error, nothing denied is delivered or
// stored, and a subscriber to everything never sees a billing event.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import type { Packet } from 'mqtt-packet';
import { FIXTURE_DIR } from '../helpers/aggregate';
import { connect, wsOptions } from '../helpers/autobahn';
import { connectMqtt, endAll, MessageLog, metricValue, subscribe, uniqueId } from '../helpers/mqtt-clients';
import { ClientPool, errorUri, rejection } from '../helpers/rpc-clients';
import { startRouter, type TestRouter } from '../helpers/router';
import {
  Inbox,
  sendWithReceipt,
  StompjsClients,
  stompitConnect,
  subscribeConfirmed,
  waitFor,
  withTimeout,
  WAIT_MS,
  type IFrame,
  type StompClient,
} from '../helpers/stomp-clients';
import { closeAll, errorOf, EventLog, openWampy, subscribeLog, type Client } from '../helpers/wamp-clients';
import { expectQuiet } from '../helpers/wait';

const NOT_AUTHORIZED = 'wamp.error.not_authorized';

const roles = {
  anonymous: {
    permissions: [
      { uri: 'sensors.', match: 'prefix', allow: ['publish', 'subscribe', 'retain'] },
      { uri: 'billing.', match: 'prefix', deny: ['*'] },
      { uri: 'gatehouse.store.', match: 'prefix', allow: ['call'] },
      { uri: 'app.', match: 'prefix', allow: ['call', 'register'] },
      { uri: 'gatehouse.queue.jobs', allow: ['publish', 'subscribe'] },
      { uri: 'sticky.', match: 'prefix', allow: ['subscribe'], deny: ['unsubscribe'] },
    ],
  },
};

let r: TestRouter;
const wamp: Client[] = [];
const mqttClients: MqttClient[] = [];
const stompjs = new StompjsClients();
let pool: ClientPool;

before(async () => {
  r = await startRouter({ mqtt: { sysIntervalSeconds: 0 }, auth: { roles } });
  pool = new ClientPool(r);
});
after(async () => {
  await closeAll(wamp);
  await endAll(mqttClients);
  await stompjs.closeAll();
  await pool.closeAll();
  await r.close();
});

async function autobahnSession(): Promise<Client['session']> {
  const c = await withTimeout(connect(wsOptions(r.wsUrl, 'json')), WAIT_MS, 'autobahn join');
  wamp.push(c);
  return c.session;
}

async function mqttClient(version: 4 | 5): Promise<{ client: MqttClient; log: MessageLog }> {
  const log = new MessageLog();
  const { client } = await connectMqtt(r.mqttUrl, { clientId: uniqueId('authz'), protocolVersion: version }, log);
  mqttClients.push(client);
  return { client, log };
}

/** An event the router publishes itself (no session: never authorized), as a billing system would. */
function inject(topic: string, value: string): void {
  const realm = r.router.realm('realm1');
  assert.ok(realm);
  void realm.publish(undefined, topic, { args: [value] }, {});
}

/** SUBSCRIBE; resolves with the SUBACK's reason codes (mqtt.js rejects on any failure code). */
function subackCodes(client: MqttClient, filters: string[], qos: 0 | 1 = 1): Promise<number[]> {
  return withTimeout(
    new Promise<number[]>((resolve) => {
      const onPacket = (p: Packet): void => {
        if (p.cmd !== 'suback') return;
        client.removeListener('packetreceive', onPacket);
        resolve(p.granted.map(Number));
      };
      client.on('packetreceive', onPacket);
      client.subscribe(filters, { qos }, () => undefined);
    }),
    WAIT_MS,
    'SUBACK',
  );
}

/** A QoS 1 publish; resolves with the PUBACK's reason code (0 when absent). */
async function pubackCode(client: MqttClient, topic: string, body: string, retain = false): Promise<number> {
  try {
    const ack = await withTimeout(client.publishAsync(topic, body, { qos: 1, retain }), WAIT_MS, `PUBACK for ${topic}`);
    return (ack as { reasonCode?: number } | undefined)?.reasonCode ?? 0;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'number') return code;
    throw err;
  }
}

/** Resolves with the ERROR frame a stompjs client gets next. */
function stompError(client: StompClient): Promise<IFrame> {
  return withTimeout(new Promise<IFrame>((resolve) => (client.onStompError = resolve)), WAIT_MS, 'STOMP ERROR');
}

describe('authorization - WAMP', () => {
  it('autobahn: publish, subscribe, register and call on billing.* are refused with wamp.error.not_authorized', async () => {
    const s = await autobahnSession();
    assert.equal(
      (await errorOf(s.publish('billing.invoice', ['x'], {}, { acknowledge: true }), 'publish')).error,
      NOT_AUTHORIZED,
    );
    assert.equal(
      (
        await errorOf(
          s.subscribe('billing.invoice', () => undefined),
          'subscribe',
        )
      ).error,
      NOT_AUTHORIZED,
    );
    assert.equal(
      (
        await errorOf(
          s.register('billing.pay', () => 1),
          'register',
        )
      ).error,
      NOT_AUTHORIZED,
    );
    // refused before routing: no callee needed for the answer
    assert.equal((await errorOf(s.call('billing.pay', []), 'call')).error, NOT_AUTHORIZED);
    // a wildcard subscription entirely inside billing.* is refused as well
    assert.equal(
      (
        await errorOf(
          s.subscribe('billing.', () => undefined, { match: 'prefix' }),
          'prefix subscribe',
        )
      ).error,
      NOT_AUTHORIZED,
    );
  });

  it('autobahn: the allowed sensors.* publish reaches a subscriber; app.* may be registered and called', async () => {
    const pub = await autobahnSession();
    const sub = await autobahnSession();
    const log = new EventLog();
    await subscribeLog(sub, 'sensors.temp', log);
    await withTimeout(
      pub.publish('sensors.temp', [21], {}, { acknowledge: true }) ?? Promise.reject(new Error('no ack')),
      WAIT_MS,
      'PUBLISHED',
    );
    const [e] = await log.count(1, 'sensors event');
    assert.deepEqual(e?.args, [21]);
    await withTimeout(
      sub.register('app.add', (args: unknown[]) => Number(args[0]) + Number(args[1])),
      WAIT_MS,
      'REGISTERED',
    );
    assert.equal(await withTimeout(pub.call('app.add', [2, 3]), WAIT_MS, 'RESULT'), 5);
  });

  it('wampy: publish and subscribe on billing.* are refused, sensors.* passes', async () => {
    const w = await openWampy(r.wsUrl, 'msgpack');
    try {
      assert.equal(
        errorUri(await rejection(w.publish('billing.x', ['no'], { acknowledge: true }), WAIT_MS, 'wampy publish')),
        NOT_AUTHORIZED,
      );
      assert.equal(
        errorUri(
          await rejection(
            w.subscribe('billing.x', () => undefined),
            WAIT_MS,
            'wampy subscribe',
          ),
        ),
        NOT_AUTHORIZED,
      );
      assert.equal(errorUri(await rejection(w.call('billing.pay', []), WAIT_MS, 'wampy call')), NOT_AUTHORIZED);
      const got: unknown[] = [];
      await withTimeout(
        w.subscribe('sensors.x', (e) => got.push(e.argsList?.[0])),
        WAIT_MS,
        'wampy subscribe sensors',
      );
      const other = await autobahnSession();
      await withTimeout(
        other.publish('sensors.x', ['yes'], {}, { acknowledge: true }) ?? Promise.reject(new Error('no ack')),
        WAIT_MS,
        'PUBLISHED',
      );
      await waitFor(() => got.length === 1, 'wampy sensors event');
      assert.deepEqual(got, ['yes']);
    } finally {
      await withTimeout(w.disconnect(), WAIT_MS, 'wampy disconnect').catch(() => undefined);
    }
  });
});

describe('authorization - MQTT', () => {
  it('MQTT 5: SUBACK 0x87 per refused filter, PUBACK 0x87, nothing delivered', async () => {
    const { client, log } = await mqttClient(5);
    assert.deepEqual(await subackCodes(client, ['billing/#', 'sensors/#']), [0x87, 1]);
    assert.equal(await pubackCode(client, 'billing/invoice', 'x'), 0x87);
    assert.equal(await pubackCode(client, 'sensors/t', 'ok'), 0);
    await log.count(1, 'own sensors message');
    await log.quiet(1, 200, 'no billing message');
    assert.deepEqual(
      log.messages.map((m) => m.topic),
      ['sensors/t'],
    );
    assert.ok((await metricValue(r, 'gatehouse_authz_denied_total', { gate: 'mqtt', action: 'publish' })) >= 1);
    assert.ok((await metricValue(r, 'gatehouse_authz_denied_total', { gate: 'mqtt', action: 'subscribe' })) >= 1);
  });

  it('MQTT 3.1.1: SUBACK 0x80, a refused QoS 1 publish is acknowledged and dropped, the connection stays', async () => {
    const { client, log } = await mqttClient(4);
    const watcher = await mqttClient(5);
    // a second client of the same role would receive billing if it were routed: it is not
    assert.deepEqual(await subackCodes(client, ['billing/x', 'sensors/x']), [0x80, 1]);
    await subscribe(watcher.client, '#', { qos: 1 });
    // 3.1.1 has no negative PUBACK: acknowledged (code 0), dropped, connection kept
    assert.equal(await pubackCode(client, 'billing/x', 'dropped'), 0);
    assert.equal(await pubackCode(client, 'sensors/x', 'kept'), 0);
    await log.count(1, 'sensors message');
    await watcher.log.count(1, 'watcher sensors message');
    await watcher.log.quiet(1, 200, 'no billing message');
    assert.deepEqual(log.texts(), ['kept']);
    assert.equal(client.connected, true);
  });

  it('MQTT: a retained publish on billing is refused and nothing is stored', async () => {
    const { client } = await mqttClient(5);
    assert.equal(await pubackCode(client, 'billing/total', '42', true), 0x87);
    assert.equal(await pubackCode(client, 'sensors/total', '7', true), 0);
    const retained = r.router.realm('realm1')?.retained;
    assert.equal(retained?.get('billing.total'), undefined);
    assert.ok(retained?.get('sensors.total'));
  });

  it('MQTT $rpc/: a refused call gets PUBACK 0x87 and wamp.error.not_authorized on the response topic', async () => {
    const { client, log } = await mqttClient(5);
    await subscribe(client, 'sensors/replies', { qos: 1 });
    const properties = { responseTopic: 'sensors/replies', correlationData: Buffer.from('c1') };
    const code = await client.publishAsync('$rpc/billing.pay', '[]', { qos: 1, properties }).then(
      () => 0,
      (err: unknown) => (err as { code?: number }).code,
    );
    assert.equal(code, 0x87);
    const [m] = await log.count(1, 'RPC response');
    assert.equal(m?.packet.properties?.userProperties?.['error'], NOT_AUTHORIZED);
  });
});

describe('authorization - unsubscribe', () => {
  it('a role denied unsubscribe keeps its subscription: WAMP ERROR, MQTT 5 UNSUBACK 0x87', async () => {
    const s = await autobahnSession();
    const sub = await withTimeout(
      s.subscribe('sticky.x', () => undefined),
      WAIT_MS,
      'SUBSCRIBED sticky.x',
    );
    assert.equal((await errorOf(s.unsubscribe(sub), 'unsubscribe')).error, NOT_AUTHORIZED);
    const { client, log } = await mqttClient(5);
    assert.deepEqual(await subackCodes(client, ['sticky/x']), [1]);
    const codes = withTimeout(
      new Promise<number[]>((resolve) => {
        const onPacket = (p: Packet): void => {
          if (p.cmd !== 'unsuback') return;
          client.removeListener('packetreceive', onPacket);
          resolve((p.granted ?? []).map(Number));
        };
        client.on('packetreceive', onPacket);
        client.unsubscribe('sticky/x', () => undefined);
      }),
      WAIT_MS,
      'UNSUBACK',
    );
    assert.deepEqual(await codes, [0x87]);
    inject('sticky.x', 'still here');
    const [m] = await log.count(1, 'event on the kept subscription');
    assert.equal(m?.topic, 'sticky/x');
  });
});

describe('authorization - STOMP', () => {
  it('stompjs: SEND and SUBSCRIBE on billing get an ERROR frame "not authorized"', async () => {
    const { client } = await stompjs.tcp(r.stompPort);
    let err = stompError(client);
    client.publish({ destination: '/topic/billing.invoice', body: 'x' });
    assert.equal((await err).headers['message'], 'not authorized');
    const second = await stompjs.tcp(r.stompPort);
    err = stompError(second.client);
    second.client.subscribe('/topic/billing.#', () => undefined);
    assert.equal((await err).headers['message'], 'not authorized');
  });

  it('stompjs: the allowed sensors topic works; /queue/jobs is allowed, /queue/payroll is not', async () => {
    const { client } = await stompjs.ws(r.stompWsUrl);
    const inbox = new Inbox();
    await subscribeConfirmed(client, '/topic/sensors.*', inbox);
    await sendWithReceipt(client, '/topic/sensors.hum', 'wet');
    await inbox.count(1, 'sensors message');
    const jobs = new Inbox();
    await subscribeConfirmed(client, '/queue/jobs', jobs);
    await sendWithReceipt(client, '/queue/jobs', 'job-1');
    await jobs.count(1, 'queued job');
    const err = stompError(client);
    client.publish({ destination: '/queue/payroll', body: 'pay me' });
    assert.equal((await err).headers['message'], 'not authorized');
  });

  it('stompjs: a durable subscription (its feed is not filtered) must be allowed whole', async () => {
    const { client } = await stompjs.tcp(r.stompPort, { connectHeaders: { 'client-id': uniqueId('durable') } });
    const inbox = new Inbox();
    await subscribeConfirmed(client, '/topic/sensors.*', inbox, { durable: 'true', id: 'sensors-feed' });
    const err = stompError(client);
    client.subscribe('/topic/#', () => undefined, { durable: 'true', id: 'everything' });
    assert.equal((await err).headers['message'], 'not authorized');
  });

  it('stompit: a SEND to billing is refused with an ERROR', async () => {
    const client = await stompitConnect({ port: r.stompPort, connectHeaders: { host: '/', 'accept-version': '1.2' } });
    const failed = withTimeout(new Promise<Error>((resolve) => client.on('error', resolve)), WAIT_MS, 'stompit error');
    const frame = client.send({ destination: '/topic/billing.x', receipt: 'r1' });
    frame.end('nope');
    const e = await failed;
    assert.match(e.message, /not authorized/);
    client.destroy();
  });
});

describe('authorization - store and retained', () => {
  it('store RPC: get and delete need subscribe and retain on the key; list leaves denied keys out', async () => {
    const realm = r.router.realm('realm1');
    assert.ok(realm);
    // stored by the router itself, as a billing service with another role would
    await realm.publish(undefined, 'billing.secret', { args: ['s3cret'] }, { retain: true });
    await realm.publish(undefined, 'sensors.level', { args: [3] }, { retain: true });
    const s = await autobahnSession();
    assert.equal((await errorOf(s.call('gatehouse.store.get', ['billing.secret']), 'store.get')).error, NOT_AUTHORIZED);
    assert.equal((await errorOf(s.call('gatehouse.store.delete', ['billing.secret']), 'store.delete')).error, NOT_AUTHORIZED);
    const entry = await withTimeout(
      s.call<{ value: unknown }>('gatehouse.store.get', ['sensors.level']),
      WAIT_MS,
      'store.get sensors',
    );
    assert.equal(entry.value, 3);
    const page = await withTimeout(s.call<{ entries: { key: string }[] }>('gatehouse.store.list', ['#']), WAIT_MS, 'store.list');
    const keys = page.entries.map((e) => e.key);
    assert.ok(keys.includes('sensors.level'));
    assert.ok(!keys.some((k) => k.startsWith('billing.')), keys.join(','));
    assert.ok(realm.retained?.get('billing.secret'), 'still stored');
  });

  it('WAMP retained publish on billing is refused and not stored; a retained subscriber to everything gets no billing value', async () => {
    const s = await autobahnSession();
    const refused = await errorOf(s.publish('billing.rate', [1], {}, { acknowledge: true, retain: true }), 'retained publish');
    assert.equal(refused.error, NOT_AUTHORIZED);
    assert.equal(r.router.realm('realm1')?.retained?.get('billing.rate'), undefined);
    const log = new EventLog();
    await subscribeLog(s, '#', log, { retained: true });
    await waitFor(() => log.events.length > 0, 'sensors values replayed');
    assert.ok(!log.events.some((e) => String(e.details['topic']).startsWith('billing.')));
  });
});

describe('authorization - wildcard subscribers', () => {
  it('a subscriber to everything on every protocol gets sensors events but no billing event', async () => {
    const s = await autobahnSession();
    const wampLog = new EventLog();
    await subscribeLog(s, '#', wampLog);
    const mqtt = await mqttClient(5);
    await subscribe(mqtt.client, '#', { qos: 0 });
    const { client: stomp } = await stompjs.tcp(r.stompPort);
    const stompInbox = new Inbox();
    await subscribeConfirmed(stomp, '/topic/#', stompInbox);
    const denied = await metricValue(r, 'gatehouse_authz_denied_total', { action: 'receive' });

    inject('billing.invoice', 'secret');
    inject('sensors.wind', 'public');
    await wampLog.until((e) => e.details['topic'] === 'sensors.wind', 'WAMP sensors event');
    await waitFor(() => mqtt.log.messages.some((m) => m.topic === 'sensors/wind'), 'MQTT sensors event');
    await waitFor(
      () => stompInbox.messages.some((m) => m.headers['destination'] === '/topic/sensors.wind'),
      'STOMP sensors event',
    );
    await expectQuiet();
    assert.ok(!wampLog.events.some((e) => String(e.details['topic']).startsWith('billing.')));
    assert.ok(!mqtt.log.messages.some((m) => m.topic.startsWith('billing/')));
    assert.ok(!stompInbox.messages.some((m) => (m.headers['destination'] ?? '').includes('billing')));
    assert.ok((await metricValue(r, 'gatehouse_authz_denied_total', { action: 'receive' })) >= denied + 3);
  });
});

describe('authorization - aggregate tables', () => {
  it('table RPCs read a table only with subscribe on its change feed; rows need publish on its topic', async () => {
    const t = await startRouter({
      aggregate: { dir: FIXTURE_DIR },
      auth: {
        roles: {
          anonymous: {
            permissions: [
              { uri: 'gatehouse.table.', match: 'prefix', allow: ['call'] },
              { uri: 'table.detail', allow: ['publish'] },
              { uri: 'table.detail.changes', allow: ['subscribe'] },
            ],
          },
        },
      },
    });
    try {
      const c = await withTimeout(connect(wsOptions(t.wsUrl, 'json')), WAIT_MS, 'join');
      const row = { invoice: 'i1', line: 1, customer: 'acme', product: 'nut', type: 'sale', amount: 5 };
      await withTimeout(
        c.session.publish('table.detail', [], row, { acknowledge: true }) ?? Promise.reject(new Error('no ack')),
        WAIT_MS,
        'row ack',
      );
      const refusedRow = await errorOf(
        c.session.publish('table.invoice', [], { customer: 'acme', invoice: 'i9' }, { acknowledge: true }),
        'publish to table.invoice',
      );
      assert.equal(refusedRow.error, NOT_AUTHORIZED);
      const got = await withTimeout(
        c.session.call<{ row: unknown }>('gatehouse.table.get', [], { table: 'detail', key: { invoice: 'i1', line: 1 } }),
        WAIT_MS,
        'table.get detail',
      );
      assert.equal((got.row as { amount?: number } | null)?.amount, 5);
      const refused = await errorOf(
        c.session.call('gatehouse.table.get', [], { table: 'customer', key: { customer: 'acme' } }),
        'table.get customer',
      );
      assert.equal(refused.error, NOT_AUTHORIZED);
      assert.equal(
        (await errorOf(c.session.call('gatehouse.table.query', [], { table: 'invoice' }), 'table.query invoice')).error,
        NOT_AUTHORIZED,
      );
      const list = await withTimeout(
        c.session.call<{ tables: { name: string }[] }>('gatehouse.table.list', []),
        WAIT_MS,
        'table.list',
      );
      assert.deepEqual(
        list.tables.map((x) => x.name),
        ['detail'],
      );
      await c.close();
    } finally {
      await t.close();
    }
  });
});

describe('authorization - off by default', () => {
  it('without auth.roles every action is allowed', async () => {
    const open = await startRouter({ mqtt: { sysIntervalSeconds: 0 } });
    try {
      const c = await withTimeout(connect(wsOptions(open.wsUrl, 'json')), WAIT_MS, 'join');
      const log = new EventLog();
      await subscribeLog(c.session, 'billing.invoice', log);
      await withTimeout(
        c.session.publish('billing.invoice', [1], {}, { acknowledge: true, exclude_me: false }) ??
          Promise.reject(new Error('no ack')),
        WAIT_MS,
        'PUBLISHED',
      );
      await log.count(1, 'billing event');
      await c.close();
    } finally {
      await open.close();
    }
  });
});
