// The dynamic authorizer (README "Authorization"): a procedure registered by an autobahn
// client decides what the static roles leave open, for every protocol; its decisions are
// cached (here per session), `cache: false` answers are not, and no answer in time denies.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import { wsOptions } from '../helpers/autobahn';
import { connectMqtt, endAll, uniqueId } from '../helpers/mqtt-clients';
import { startRouter, type TestRouter } from '../helpers/router';
import { closeAll, connectAs, errorOf, EventLog, subscribeLog, withTimeout, WAIT_MS, type Client } from '../helpers/wamp-clients';
import { waitFor } from '../helpers/wait';
import { ManualClock } from '../helpers/clock';

const NOT_AUTHORIZED = 'wamp.error.not_authorized';
/** auth.authorizer.timeoutMs: the dealer's call timeout, on the router's clock */
const AUTHZ_TIMEOUT_MS = 300;
/** the router's timeouts: the authorizer's deadline passes when a test advances it */
const clock = new ManualClock();
/** answers to slow.* questions, given only after the timeout has denied them */
const lateAnswers: (() => void)[] = [];

interface Question {
  authid: string;
  uri: string;
  action: string;
  match: unknown;
}

let r: TestRouter;
const clients: Client[] = [];
const mqttClients: MqttClient[] = [];
const questions: Question[] = [];

/** The application's authorizer: alice may use billing.*, everyone ok.*, nobody the rest. */
function decide(args: unknown[]): unknown {
  const [details, uri, action, options] = args as [Record<string, unknown>, string, string, Record<string, unknown>];
  questions.push({ authid: String(details['authid']), uri, action, match: options['match'] });
  if (uri.startsWith('slow.')) return new Promise((resolve) => lateAnswers.push(() => resolve(true)));
  if (uri.startsWith('fresh.')) return { allow: true, cache: false };
  if (uri.startsWith('billing.')) return details['authid'] === 'alice';
  return uri.startsWith('ok.');
}

before(async () => {
  r = await startRouter(
    {
      mqtt: { sysIntervalSeconds: 0 },
      auth: {
        // the authorizer's own registration is granted statically: it cannot authorize itself
        roles: { anonymous: { permissions: [{ uri: 'authz.check', allow: ['register'] }] } },
        authorizer: {
          realm: 'realm1',
          procedure: 'authz.check',
          calleeRoles: ['anonymous'],
          cacheMs: 60_000,
          timeoutMs: AUTHZ_TIMEOUT_MS,
          cacheBy: 'session',
        },
      },
    },
    { clock },
  );
  const authorizer = await join('authorizer');
  await withTimeout(authorizer.session.register('authz.check', decide), WAIT_MS, 'REGISTERED authz.check');
});
after(async () => {
  for (const answer of lateAnswers) answer();
  await closeAll(clients);
  await endAll(mqttClients);
  await r.close();
});

async function join(authid: string): Promise<Client> {
  const c = await connectAs(wsOptions(r.wsUrl, 'json'), authid);
  clients.push(c);
  return c;
}

function publishAck(c: Client, topic: string): Promise<unknown> {
  return withTimeout(
    c.session.publish(topic, [1], {}, { acknowledge: true }) ?? Promise.reject(new Error('no ack')),
    WAIT_MS,
    `PUBLISHED ${topic}`,
  );
}

const asked = (authid: string, uri: string, action: string): number =>
  questions.filter((q) => q.authid === authid && q.uri === uri && q.action === action).length;

describe('authorization - dynamic authorizer', () => {
  it('allows and denies as the procedure answers, and asks once per session for a cached decision', async () => {
    const alice = await join('alice');
    await publishAck(alice, 'ok.a');
    await publishAck(alice, 'ok.a');
    assert.equal(asked('alice', 'ok.a', 'publish'), 1, 'cached after the first answer');
    assert.equal(
      (await errorOf(alice.session.publish('no.a', [1], {}, { acknowledge: true }), 'publish no.a')).error,
      NOT_AUTHORIZED,
    );
    assert.equal(
      (await errorOf(alice.session.publish('no.a', [1], {}, { acknowledge: true }), 'publish no.a again')).error,
      NOT_AUTHORIZED,
    );
    assert.equal(asked('alice', 'no.a', 'publish'), 1, 'a denial is cached too');
  });

  it('two users of one role: the authorizer tells them apart (alice may use billing, bob may not)', async () => {
    const alice = await join('alice');
    const bob = await join('bob');
    await publishAck(alice, 'billing.invoice');
    assert.equal(
      (await errorOf(bob.session.publish('billing.invoice', [1], {}, { acknowledge: true }), 'bob publish')).error,
      NOT_AUTHORIZED,
    );
    assert.equal(
      (
        await errorOf(
          bob.session.subscribe('billing.', () => undefined, { match: 'prefix' }),
          'bob subscribe',
        )
      ).error,
      NOT_AUTHORIZED,
    );
    // the pattern itself is the question, with its match policy
    assert.ok(
      questions.some((q) => q.authid === 'bob' && q.uri === 'billing.' && q.action === 'subscribe' && q.match === 'prefix'),
    );
    const log = new EventLog();
    await subscribeLog(alice.session, 'billing.', log, { match: 'prefix' });
    const alice2 = await join('alice');
    await publishAck(alice2, 'billing.paid');
    await log.until((e) => e.details['topic'] === 'billing.paid', 'billing event for alice');
  });

  it('register and call wait for the answer', async () => {
    const c = await join('carol');
    await withTimeout(
      c.session.register('ok.twice', (args: unknown[]) => Number(args[0]) * 2),
      WAIT_MS,
      'REGISTERED ok.twice',
    );
    assert.equal(await withTimeout(c.session.call('ok.twice', [21]), WAIT_MS, 'RESULT'), 42);
    assert.equal(
      (
        await errorOf(
          c.session.register('no.proc', () => 0),
          'register no.proc',
        )
      ).error,
      NOT_AUTHORIZED,
    );
    assert.equal((await errorOf(c.session.call('no.proc', []), 'call no.proc')).error, NOT_AUTHORIZED);
  });

  it('an answer with cache: false is asked again every time', async () => {
    const c = await join('dave');
    await publishAck(c, 'fresh.x');
    await publishAck(c, 'fresh.x');
    await publishAck(c, 'fresh.x');
    assert.equal(asked('dave', 'fresh.x', 'publish'), 3);
  });

  it('no answer within timeoutMs denies', async () => {
    const c = await join('erin');
    const armed = clock.nextTimer(AUTHZ_TIMEOUT_MS, 'the authorizer call timeout');
    const before = questions.length;
    const denied = errorOf(c.session.publish('slow.x', [1], {}, { acknowledge: true }), 'publish slow.x');
    await armed;
    await waitFor(() => questions.slice(before).some((q) => q.uri === 'slow.x'), 'the authorizer is asked about slow.x');
    // the answer is due; it has not come when the timeout passes
    clock.advance(AUTHZ_TIMEOUT_MS);
    assert.equal((await denied).error, NOT_AUTHORIZED);
  });

  it('MQTT clients are authorized by the same procedure (PUBACK 0x87 when it says no)', async () => {
    const { client } = await connectMqtt(r.mqttUrl, { clientId: uniqueId('dyn'), protocolVersion: 5 });
    mqttClients.push(client);
    const ok = await withTimeout(client.publishAsync('ok/m', 'x', { qos: 1 }), WAIT_MS, 'PUBACK ok/m');
    assert.ok(((ok as { reasonCode?: number } | undefined)?.reasonCode ?? 0) < 0x80);
    const refused = await client.publishAsync('no/m', 'x', { qos: 1 }).then(
      () => 0,
      (err: unknown) => (err as { code?: number }).code,
    );
    assert.equal(refused, 0x87);
    assert.ok(questions.some((q) => q.uri === 'ok.m' && q.action === 'publish'));
  });

  it('MQTT: one SUBSCRIBE mixing a filter answered at once (cached) with one answered later delivers a retained value once, after the SUBACK', async () => {
    const { client: sub } = await connectMqtt(r.mqttUrl, { clientId: uniqueId('mix'), protocolVersion: 5 });
    const { client: pub } = await connectMqtt(r.mqttUrl, { clientId: uniqueId('mixpub'), protocolVersion: 5 });
    mqttClients.push(sub, pub);
    // the decision for ok/mix/# is cached for this session: answered at once next time
    await withTimeout(sub.subscribeAsync('ok/mix/#', { qos: 1 }), WAIT_MS, 'SUBACK warm-up');
    await withTimeout(sub.unsubscribeAsync('ok/mix/#'), WAIT_MS, 'UNSUBACK warm-up');
    const seen: string[] = [];
    sub.on('message', (topic, _payload, packet) => seen.push(`${topic}${packet.retain ? ' (retained)' : ''}`));
    // packets in wire order (the subscribe callback may run after a later PUBLISH's event)
    sub.on('packetreceive', (packet) => {
      if (packet.cmd === 'suback') seen.push('SUBACK');
    });
    const before = questions.length;
    // slow/mix is denied at the authorizer's timeout: mqtt.js reports the SUBACK as an error
    const subscribed = new Promise<void>((resolve) =>
      sub.subscribe({ 'ok/mix/#': { qos: 1, rh: 0 }, 'slow/mix': { qos: 1, rh: 0 } }, () => resolve()),
    );
    // ok/mix/# exists now; slow/mix waits for the authorizer
    await waitFor(() => questions.slice(before).some((q) => q.uri === 'slow.mix'), 'the authorizer is asked about slow/mix');
    await withTimeout(pub.publishAsync('ok/mix/value', 'v', { qos: 1, retain: true }), WAIT_MS, 'PUBACK retained');
    clock.advance(AUTHZ_TIMEOUT_MS);
    await withTimeout(subscribed, WAIT_MS, 'SUBACK');
    await withTimeout(pub.publishAsync('ok/mix/end', 'e', { qos: 1 }), WAIT_MS, 'PUBACK end');
    await waitFor(() => seen.includes('ok/mix/end'), 'the live marker arrives');
    const values = seen.filter((m) => m.startsWith('ok/mix/value'));
    assert.equal(values.length, 1, `the retained value once, got ${JSON.stringify(seen)}`);
    assert.ok(seen.indexOf('SUBACK') < seen.indexOf(values[0] as string), `nothing before the SUBACK: ${JSON.stringify(seen)}`);
  });
});

describe('authorization - the dynamic authorizer procedure is reserved', () => {
  it('a session whose authrole is not in auth.authorizer.calleeRoles cannot register it, even with register allowed', async () => {
    const t = await startRouter({
      mqtt: { sysIntervalSeconds: 0 },
      auth: {
        roles: { anonymous: { permissions: [{ uri: '', match: 'prefix', allow: ['*'] }] } },
        authorizer: {
          realm: 'realm1',
          procedure: 'authz.check',
          calleeRoles: ['authz'],
          cacheMs: 0,
          timeoutMs: 300,
          cacheBy: 'session',
        },
      },
    });
    try {
      const c = await connectAs(wsOptions(t.wsUrl, 'json'), 'mallory');
      clients.push(c);
      assert.equal(
        (
          await errorOf(
            c.session.register('authz.check', () => true),
            'REGISTER authz.check',
          )
        ).error,
        'wamp.error.not_authorized',
      );
      assert.equal(
        (
          await errorOf(
            c.session.register('authz', () => true, { match: 'prefix' }),
            'REGISTER prefix authz',
          )
        ).error,
        'wamp.error.not_authorized',
      );
      // other procedures register as the role allows
      await withTimeout(
        c.session.register('app.fine', () => true),
        WAIT_MS,
        'REGISTERED app.fine',
      );
    } finally {
      await t.close();
    }
  });
});
