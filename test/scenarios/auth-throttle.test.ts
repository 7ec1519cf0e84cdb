// Password guessing, slowed (issue 16 item 7; lib/auth/throttle.ts, config auth.throttle)
// with mqtt.js, stompjs and autobahn over real sockets. Every test is on loopback, which
// is not exempt by default; other loopback source addresses (127.0.0.2, ...) are other
// client addresses. The router's clock is a fake one the tests advance, so no test
// sleeps through a back-off. That a refusal came without a password check is read from
// the counters: gatehouse_auth_failures_total{reason="bad_credentials"} counts checks
// that failed, gatehouse_auth_throttled_total{gate,reason} refusals without one.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import { createUserRecord } from '../../lib/auth/user-record';
import { connect as autobahnConnect, wsOptions } from '../helpers/autobahn';
import { connectMqttFrom, connectRefusedFrom, endAll, metricValue, withTimeout, WAIT_MS } from '../helpers/mqtt-clients';
import { ManualClock } from '../helpers/clock';
import { startRouter, type TestRouter } from '../helpers/router';
import { StompjsClients } from '../helpers/stomp-clients';

const FAST = { N: 1024, r: 8, p: 1 };
const BAD_USER_NAME_OR_PASSWORD = 0x86;
const CONNECTION_RATE_EXCEEDED = 0x9f;
const MAX_FAILURES = 5;
const BACKOFF_MS = 10_000;
const AUTHID_MAX_FAILURES = 8;
const AUTHID_MAX_BACKOFF_MS = 5_000;
const BURST = 150;

const routers: TestRouter[] = [];
const clients: MqttClient[] = [];
const stompjs = new StompjsClients();
after(async () => {
  await endAll(clients);
  await stompjs.closeAll();
  for (const r of routers) await r.close();
});

/** A router with alice and bob and small budgets, on a clock the test moves. */
async function throttledRouter(scrypt = FAST): Promise<{ r: TestRouter; advance: (ms: number) => void }> {
  const clock = new ManualClock(1_000_000);
  const users = [
    await createUserRecord({ authid: 'alice', role: 'user', password: 'alice-secret', scrypt }),
    await createUserRecord({ authid: 'bob', role: 'user', password: 'bob-secret', scrypt }),
  ];
  const throttle = {
    maxFailures: MAX_FAILURES,
    backoffMs: BACKOFF_MS,
    authidMaxFailures: AUTHID_MAX_FAILURES,
    authidMaxBackoffMs: AUTHID_MAX_BACKOFF_MS,
  };
  const r = await startRouter({ auth: { users, throttle } }, { clock });
  routers.push(r);
  return { r, advance: (ms) => clock.advance(ms) };
}

const checkedFailures = (r: TestRouter, gate = 'mqtt'): Promise<number> =>
  metricValue(r, 'gatehouse_auth_failures_total', { gate, reason: 'bad_credentials' });
const throttled = (r: TestRouter, reason: 'address' | 'authid', gate = 'mqtt'): Promise<number> =>
  metricValue(r, 'gatehouse_auth_throttled_total', { gate, reason });

async function acceptedFrom(r: TestRouter, from: string, username: string, password: string): Promise<MqttClient> {
  const { client } = await connectMqttFrom(r.mqttPort, from, { protocolVersion: 5, username, password });
  clients.push(client);
  return client;
}

void describe('auth throttle', () => {
  void it('auth throttle - MQTT: after the budget, wrong passwords from one address are refused unchecked (0x9F / return code 5)', async () => {
    const { r } = await throttledRouter();
    for (let i = 0; i < 40; i++) {
      const code = await connectRefusedFrom(r.mqttPort, '127.0.0.1', {
        protocolVersion: 5,
        username: 'alice',
        password: `guess-${i}`,
      });
      assert.equal(code, i < MAX_FAILURES ? BAD_USER_NAME_OR_PASSWORD : CONNECTION_RATE_EXCEEDED, `attempt ${i}`);
    }
    assert.equal(
      await connectRefusedFrom(r.mqttPort, '127.0.0.1', { protocolVersion: 4, username: 'alice', password: 'guess' }),
      5,
    );
    assert.equal(await checkedFailures(r), MAX_FAILURES, 'only the first attempts had their password checked');
    assert.equal(await throttled(r, 'address'), 40 - MAX_FAILURES + 1);
  });

  void it('auth throttle - MQTT: the right password from a blocked address is refused during the back-off and accepted after it', async () => {
    const { r, advance } = await throttledRouter();
    for (let i = 0; i < MAX_FAILURES; i++) {
      await connectRefusedFrom(r.mqttPort, '127.0.0.1', { protocolVersion: 5, username: 'alice', password: 'wrong' });
    }
    assert.equal(
      await connectRefusedFrom(r.mqttPort, '127.0.0.1', { protocolVersion: 5, username: 'bob', password: 'bob-secret' }),
      CONNECTION_RATE_EXCEEDED,
    );
    advance(BACKOFF_MS - 1);
    assert.equal(
      await connectRefusedFrom(r.mqttPort, '127.0.0.1', { protocolVersion: 5, username: 'bob', password: 'bob-secret' }),
      CONNECTION_RATE_EXCEEDED,
    );
    advance(1);
    await acceptedFrom(r, '127.0.0.1', 'bob', 'bob-secret');
    // one more failure after a block is enough for the next one, twice as long
    assert.equal(
      await connectRefusedFrom(r.mqttPort, '127.0.0.1', { protocolVersion: 5, username: 'alice', password: 'wrong' }),
      BAD_USER_NAME_OR_PASSWORD,
    );
    assert.equal(
      await connectRefusedFrom(r.mqttPort, '127.0.0.1', { protocolVersion: 5, username: 'bob', password: 'bob-secret' }),
      CONNECTION_RATE_EXCEEDED,
    );
    advance(2 * BACKOFF_MS - 1);
    assert.equal(
      await connectRefusedFrom(r.mqttPort, '127.0.0.1', { protocolVersion: 5, username: 'bob', password: 'bob-secret' }),
      CONNECTION_RATE_EXCEEDED,
    );
    advance(1);
    await acceptedFrom(r, '127.0.0.1', 'bob', 'bob-secret');
  });

  void it('auth throttle - MQTT: a blocked address does not block another address, even for the same user', async () => {
    const { r } = await throttledRouter();
    for (let i = 0; i < MAX_FAILURES; i++) {
      await connectRefusedFrom(r.mqttPort, '127.0.0.1', { protocolVersion: 5, username: 'alice', password: 'wrong' });
    }
    assert.equal(
      await connectRefusedFrom(r.mqttPort, '127.0.0.1', { protocolVersion: 5, username: 'alice', password: 'alice-secret' }),
      CONNECTION_RATE_EXCEEDED,
    );
    await acceptedFrom(r, '127.0.0.2', 'alice', 'alice-secret');
  });

  void it('auth throttle - MQTT: failures for one authid from many addresses block it for addresses that failed, never for a clean one', async () => {
    const { r, advance } = await throttledRouter();
    // a botnet: few failures per address, many for alice
    for (let i = 0; i < AUTHID_MAX_FAILURES; i++) {
      const from = `127.0.1.${1 + (i % 4)}`;
      assert.equal(
        await connectRefusedFrom(r.mqttPort, from, { protocolVersion: 5, username: 'alice', password: `guess-${i}` }),
        BAD_USER_NAME_OR_PASSWORD,
      );
    }
    // an address that failed recently is refused for alice, unchecked, even with her password
    const failures = await checkedFailures(r);
    assert.equal(
      await connectRefusedFrom(r.mqttPort, '127.0.1.1', { protocolVersion: 5, username: 'alice', password: 'alice-secret' }),
      CONNECTION_RATE_EXCEEDED,
    );
    assert.equal(await throttled(r, 'authid'), 1);
    assert.equal(await checkedFailures(r), failures);
    // ... but not for bob
    await acceptedFrom(r, '127.0.1.1', 'bob', 'bob-secret');
    // alice herself, from an address without failures, is checked and let in
    await acceptedFrom(r, '127.0.0.2', 'alice', 'alice-secret');
    // her success does not lift the block for the addresses that failed
    assert.equal(
      await connectRefusedFrom(r.mqttPort, '127.0.1.2', { protocolVersion: 5, username: 'alice', password: 'alice-secret' }),
      CONNECTION_RATE_EXCEEDED,
    );
    // the block is short: authidMaxBackoffMs at most
    advance(AUTHID_MAX_BACKOFF_MS);
    await acceptedFrom(r, '127.0.1.2', 'alice', 'alice-secret');
    // after a block one more failure blocks the authid again, again no longer than that
    assert.equal(
      await connectRefusedFrom(r.mqttPort, '127.0.1.3', { protocolVersion: 5, username: 'alice', password: 'guess-again' }),
      BAD_USER_NAME_OR_PASSWORD,
    );
    assert.equal(
      await connectRefusedFrom(r.mqttPort, '127.0.1.3', { protocolVersion: 5, username: 'alice', password: 'alice-secret' }),
      CONNECTION_RATE_EXCEEDED,
    );
    advance(AUTHID_MAX_BACKOFF_MS);
    await acceptedFrom(r, '127.0.1.3', 'alice', 'alice-secret');
  });

  void it("auth throttle - MQTT: a burst of wrong passwords from one address checks at most the budget, and another client's login is not starved", async (t) => {
    // the real scrypt cost, so that unchecked guesses would fill libuv's thread pool
    const { r } = await throttledRouter({ N: 16384, r: 8, p: 1 });
    const burst: Promise<number | undefined | Error>[] = [];
    for (let i = 0; i < BURST; i++) {
      const guess = { protocolVersion: 5 as const, username: 'alice', password: `guess-${i}` };
      burst.push(connectRefusedFrom(r.mqttPort, '127.0.0.1', guess, 60_000).catch((err: unknown) => err as Error));
    }
    const started = performance.now();
    await acceptedFrom(r, '127.0.0.2', 'bob', 'bob-secret');
    const ms = performance.now() - started;
    const codes = await Promise.all(burst);
    assert.ok(
      codes.every((c) => c === BAD_USER_NAME_OR_PASSWORD || c === CONNECTION_RATE_EXCEEDED),
      String(codes),
    );
    // checks of one address run two at a time (concurrentChecksPerAddress) and stop at the
    // budget: the thread pool stays free for others; the check still running when the
    // budget ran out is the one over it
    const checked = await checkedFailures(r);
    assert.ok(checked >= MAX_FAILURES && checked <= MAX_FAILURES + 1, `password checks of the burst: ${checked}`);
    assert.equal(await throttled(r, 'address'), BURST - checked);
    t.diagnostic(`bob's login during a burst of ${BURST} wrong passwords: ${ms.toFixed(0)} ms`);
  });

  void it('auth throttle - STOMP and WAMP ticket: refused unchecked after the budget, with their own errors', async () => {
    const { r } = await throttledRouter();
    const login = (passcode: string): { connectHeaders: Record<string, string> } => ({
      connectHeaders: { login: 'alice', passcode },
    });
    for (let i = 0; i < MAX_FAILURES; i++)
      await assert.rejects(stompjs.tcp(r.stompPort, login(`guess-${i}`)), /ERROR authentication failed/);
    await assert.rejects(stompjs.tcp(r.stompPort, login('alice-secret')), /ERROR too many failed logins/);
    assert.equal(await throttled(r, 'address', 'stomp'), 1);
    const ticket = { ...wsOptions(r.wsUrl, 'json'), authmethods: ['ticket'], authid: 'alice', onchallenge: () => 'alice-secret' };
    await assert.rejects(
      withTimeout(autobahnConnect(ticket), WAIT_MS, 'WAMP join'),
      /wamp\.error\.authentication_failed.*too many failed logins/,
    );
    assert.equal(await throttled(r, 'address', 'wamp'), 1);
    assert.equal(await checkedFailures(r, 'stomp'), MAX_FAILURES);
  });
});
