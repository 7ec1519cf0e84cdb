// Offline MQTT sessions (issue 16): persistent sessions without a connection have limits
// of their own and do not count against limits.maxSessions, so a client parking sessions
// cannot lock WAMP, STOMP or MQTT clients out (before or after a restart); their expiry
// runs, across restarts too; and a message queued for many of them is stored once.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { IClientOptions, MqttClient } from 'mqtt';
import {
  connectMqtt,
  connectRefused,
  endAll,
  joinWamp,
  MessageLog,
  metricValue,
  publish,
  subscribe,
  uniqueId,
  waitFor,
} from '../helpers/mqtt-clients';
import { startRouter, type TestRouter } from '../helpers/router';
import { StompjsClients } from '../helpers/stomp-clients';

const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-offline-'));
const routers = new Set<TestRouter>();
const clients: MqttClient[] = [];
const stomp = new StompjsClients();
after(async () => {
  await endAll(clients);
  await stomp.closeAll();
  await Promise.all([...routers].map((r) => r.close()));
  rmSync(dir, { recursive: true, force: true });
});

async function router(config: Record<string, unknown>): Promise<TestRouter> {
  const { mqtt: mqttConfig, ...rest } = config;
  const r = await startRouter({ ...rest, mqtt: { sysIntervalSeconds: 0, ...(mqttConfig as object | undefined) } });
  routers.add(r);
  return r;
}

async function closeRouter(r: TestRouter): Promise<void> {
  routers.delete(r);
  await r.close();
}

const v4 = (clientId: string, username?: string): IClientOptions => ({ protocolVersion: 4, clientId, clean: false, username });
const v5 = (clientId: string, expiry: number, username?: string): IClientOptions => ({
  protocolVersion: 5,
  clientId,
  clean: false,
  username,
  properties: { sessionExpiryInterval: expiry },
});

/** connects, optionally subscribes at QoS 1, disconnects cleanly, and waits for the session to be parked */
async function park(r: TestRouter, opts: IClientOptions, filter?: string): Promise<void> {
  const before = r.router.parkedSessions;
  const { client } = await connectMqtt(r.mqttUrl, opts);
  if (filter !== undefined) await subscribe(client, filter, { qos: 1 });
  await new Promise<void>((resolve) => client.end(false, {}, () => resolve()));
  await waitFor(() => r.router.parkedSessions === before + 1, `session ${String(opts.clientId)} parked`);
}

const sessionRecords = (r: TestRouter): number => [...r.router.queues.records('mqtt-session')].length;

void describe('offline sessions - limits', () => {
  void it('offline sessions - parked sessions past maxSessions lock nobody out; past maxOfflineSessions a new persistent CONNECT gets 0x97 / 3', async () => {
    const file = path.join(dir, 'limits.db');
    const config = { store: { path: file }, limits: { maxSessions: 3, maxOfflineSessions: 6 } };
    let r = await router(config);
    for (let i = 0; i < 6; i++) await park(r, i % 2 === 0 ? v4(`parked-${i}`) : v5(`parked-${i}`, 600));
    assert.equal(r.router.parkedSessions, 6);
    assert.equal(r.router.sessions, 6, 'joined, so they still get their messages');

    // twice maxSessions are parked: every protocol still gets in
    const checkOthersGetIn = async (t: TestRouter): Promise<void> => {
      const wamp = await joinWamp(t);
      const s = await stomp.tcp(t.stompPort);
      const clean = await connectMqtt(t.mqttUrl, { protocolVersion: 4, clientId: uniqueId('clean'), clean: true });
      clients.push(clean.client);
      assert.equal(clean.connack.returnCode, 0);
      await wamp.close();
      await s.client.deactivate();
      await endAll([clean.client]);
    };
    await checkOthersGetIn(r);

    // the offline limit: a new persistent session is refused, v5 0x97 and 3.1.1 return code 3
    assert.equal(await connectRefused(r.mqttUrl, v5('one-too-many', 600)), 0x97);
    assert.equal(await connectRefused(r.mqttUrl, v4('one-too-many')), 3);
    assert.equal(await metricValue(r, 'gatehouse_limit_hits_total', { gate: 'mqtt', limit: 'max_offline_sessions' }), 2);
    // ...a clean one, or a session already counted, is not
    const resumed = await connectMqtt(r.mqttUrl, v4('parked-0'));
    clients.push(resumed.client);
    assert.equal(resumed.connack.sessionPresent, true);
    assert.equal(r.router.parkedSessions, 5, 'a resumed session is live again');
    await endAll([resumed.client]);
    await waitFor(() => r.router.parkedSessions === 6, 'parked again');
    // ending a session frees its place: MQTT 5 session expiry 0 on DISCONNECT is not allowed after > 0, so clean start
    const wipe = await connectMqtt(r.mqttUrl, { protocolVersion: 4, clientId: 'parked-2', clean: true });
    clients.push(wipe.client);
    await endAll([wipe.client]);
    await waitFor(() => r.router.parkedSessions === 5, 'the wiped session gone');
    await park(r, v4('fits-again'));

    // a restart brings the sessions back parked: still nobody locked out
    await closeRouter(r);
    r = await router(config);
    assert.equal(r.router.parkedSessions, 6);
    await checkOthersGetIn(r);
    assert.equal(await connectRefused(r.mqttUrl, v4('still-too-many')), 3);
    await closeRouter(r);
  });

  void it('offline sessions - maxOfflineSessionsPerAuthid refuses one user past it, not the others', async () => {
    const r = await router({ limits: { maxOfflineSessionsPerAuthid: 2 } });
    await park(r, v4('alice-1', 'alice'));
    await park(r, v5('alice-2', 60, 'alice'));
    assert.equal(await connectRefused(r.mqttUrl, v5('alice-3', 60, 'alice')), 0x97);
    assert.equal(await connectRefused(r.mqttUrl, v4('alice-3', 'alice')), 3);
    assert.equal(
      await metricValue(r, 'gatehouse_limit_hits_total', { gate: 'mqtt', limit: 'max_offline_sessions_per_authid' }),
      2,
    );
    await park(r, v4('bob-1', 'bob'));
    // alice may still resume hers, and connect clean
    const again = await connectMqtt(r.mqttUrl, v4('alice-1', 'alice'));
    const clean = await connectMqtt(r.mqttUrl, { protocolVersion: 4, clientId: 'alice-3', username: 'alice', clean: true });
    clients.push(again.client, clean.client);
    assert.equal(again.connack.sessionPresent, true);
    await endAll([again.client, clean.client]);
    await closeRouter(r);
  });
});

void describe('offline sessions - expiry', () => {
  void it('offline sessions - a session expires after its interval (MQTT 5) or mqtt.persistentSessionExpirySeconds (3.1.1)', async () => {
    const r = await router({ mqtt: { persistentSessionExpirySeconds: 1 } });
    await park(r, v5('short-5', 1), 'expiry/t');
    await park(r, v4('short-4'), 'expiry/t');
    await park(r, v5('long-5', 600), 'expiry/t');
    await waitFor(() => r.router.parkedSessions === 1, 'the two short sessions expired', 5000);
    const back = await connectMqtt(r.mqttUrl, v4('short-4'));
    clients.push(back.client);
    assert.equal(back.connack.sessionPresent, false, 'the 3.1.1 session expired');
    await endAll([back.client]);
    await closeRouter(r);
  });

  void it('offline sessions - expiry runs on across a restart, and a lowered maximum applies to restored sessions', async () => {
    const file = path.join(dir, 'expiry.db');
    let r = await router({ store: { path: file } });
    await park(r, v5('restart-short', 1), 'expiry/t');
    await park(r, v5('restart-long', 3600), 'expiry/t');
    await park(r, v5('restart-kept', 3600), 'expiry/t');
    // connected when the router stops: its expiry starts at the next start, once
    const live = await connectMqtt(r.mqttUrl, v5('restart-live', 3600));
    clients.push(live.client);
    await closeRouter(r);
    await endAll([live.client]);
    r = await router({ store: { path: file } });
    const disconnectedAt = (id: string): unknown =>
      (r.router.queues.getRecord('mqtt-session', `realm1\u0000${id}`) as { disconnectedAt?: unknown } | undefined)
        ?.disconnectedAt;
    assert.equal(typeof disconnectedAt('restart-live'), 'number', 'offline since this start, recorded');
    assert.equal(typeof disconnectedAt('restart-kept'), 'number');
    await closeRouter(r);

    // the restored short session has less than a second left; the long one is over a new maximum of 2 s
    r = await router({ store: { path: file }, mqtt: { maxSessionExpirySeconds: 2 } });
    assert.ok(r.router.parkedSessions >= 3);
    await waitFor(() => r.router.parkedSessions === 0, 'every restored session expired', 6000);
    assert.equal(sessionRecords(r), 0, 'their records are gone from the store');
    await closeRouter(r);

    r = await router({ store: { path: file } });
    assert.equal(r.router.parkedSessions, 0, 'nothing comes back after the expiry');
    const back = await connectMqtt(r.mqttUrl, v5('restart-short', 0));
    clients.push(back.client);
    assert.equal(back.connack.sessionPresent, false);
    await endAll([back.client]);
    await closeRouter(r);
  });
});

void describe('offline sessions - disk', () => {
  void it('offline sessions - a message queued for K offline sessions is stored once: the file grows ~N*S, not N*S*K, and nothing is lost', async () => {
    const N = 40;
    const S = 4096;
    const K = 25;
    const file = path.join(dir, 'disk.db');
    const config = { store: { path: file }, limits: { maxOfflineSessionsPerAuthid: K } };
    let r = await router(config);
    const ids = Array.from({ length: K }, (_, k) => `disk-${k}`);
    for (const id of ids) await park(r, v4(id), 'disk/t');
    await closeRouter(r);
    const fileBytes = (): number => statSync(file).size + (existsSync(`${file}-wal`) ? statSync(`${file}-wal`).size : 0);
    const before = fileBytes();

    r = await router(config);
    const pub = await connectMqtt(r.mqttUrl, { protocolVersion: 4, clientId: uniqueId('disk-pub') });
    clients.push(pub.client);
    const sent: Buffer[] = [];
    for (let i = 0; i < N; i++) {
      const body = randomBytes(S); // incompressible, all different
      sent.push(body);
      await publish(pub.client, 'disk/t', body, { qos: 1 });
    }
    await endAll([pub.client]);
    assert.equal(r.router.queues.stats.messages, N * K);
    await closeRouter(r);
    const grown = fileBytes() - before;
    const bound = 2 * N * S + K * N * 200;
    assert.ok(
      grown < bound,
      `the store grew ${grown} bytes for ${N * S} published to ${K} sessions (bound ${bound}; stored per session it is ${N * S * K})`,
    );

    // after a restart every subscriber gets every message, in order
    r = await router(config);
    for (const id of ids) {
      const log = new MessageLog();
      const c = await connectMqtt(r.mqttUrl, v4(id), log);
      clients.push(c.client);
      assert.equal(c.connack.sessionPresent, true, `${id}: a restored session survives the next shutdown too`);
      await log.count(N, `${id}'s queued messages`);
      assert.ok(
        log.messages.every((m, i) => m.payload.equals(sent[i] as Buffer)),
        `${id} got every message intact and in order`,
      );
      await endAll([c.client]);
    }
    await waitFor(() => r.router.queues.stats.messages === 0, 'every message acknowledged');
    await closeRouter(r);
  });
});
