/**
 * Delays a client chooses beyond setTimeout's range (2^31 - 1 ms, ~24.8 days) were
 * handed to setTimeout as given, which fires such a timer after 1 ms (found by the
 * hostile-client suite: a TimeoutOverflowWarning on the router's stderr):
 * - a CALL with `timeout: 2^64` failed at once with wamp.error.timeout;
 * - a retained publish with a huge `ttl` re-armed the store's expiry timer every
 *   millisecond, for ever (a busy loop and a warning per tick);
 * - an MQTT 5 will delay of 2^32 - 1 s published the will at once.
 * Now such delays are held to the longest timer, and nothing fires early.
 *
 * The router runs on a clock the tests move (test/helpers/clock.ts), which treats a
 * delay past 2^31 - 1 ms as Node does (1 ms): days pass in no time, and nothing is
 * waited for by sleeping.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connect } from '../helpers/autobahn';
import { ManualClock } from '../helpers/clock';
import { connectMqtt, endAll, MessageLog, publish, subscribe, waitFor } from '../helpers/mqtt-clients';
import { startRouter, type TestRouter } from '../helpers/router';
import { withTimeout } from '../helpers/wait';

const DAY_MS = 24 * 3600 * 1000;
let r: TestRouter;
const clock = new ManualClock();
const warnings: string[] = [];
const onWarning = (w: Error): void => {
  if (w.name === 'TimeoutOverflowWarning') warnings.push(w.message);
};

before(async () => {
  process.on('warning', onWarning);
  // no WebSocket pings: 20 days of them would be a million timer turns, answered by no one
  r = await startRouter({ mqtt: { sysIntervalSeconds: 0 }, wamp: { pingIntervalMs: 0 } }, { clock });
});

after(async () => {
  process.off('warning', onWarning);
  await r.close();
});

test('a CALL with a timeout beyond 24.8 days is not timed out at once', async () => {
  const callee = await connect({ url: r.wsUrl, protocols: ['wamp.2.json'] });
  const caller = await connect({ url: r.wsUrl, protocols: ['wamp.2.json'] });
  try {
    let answer: (v: unknown) => void = () => undefined;
    let reached: () => void = () => undefined;
    const invoked = new Promise<void>((resolve) => (reached = resolve));
    await callee.session.register('long.timeout', () => {
      reached();
      return new Promise((resolve) => (answer = resolve));
    });
    let outcome = 'pending';
    const call = caller.session.call('long.timeout', [], {}, { timeout: 2 ** 64 });
    call.then(
      () => (outcome = 'settled'),
      (e: unknown) => (outcome = `failed: ${JSON.stringify(e)}`),
    );
    await withTimeout(invoked, 3000, 'the invocation');
    clock.advance(20 * DAY_MS);
    // an ERROR for the call would reach the caller before this result does
    await caller.session.call('wamp.session.count');
    assert.equal(outcome, 'pending', 'the call waits for its callee');
    answer('done');
    assert.equal(await withTimeout(call, 2000, 'the result'), 'done');
    assert.deepEqual(warnings, []);
  } finally {
    await Promise.all([callee.close(), caller.close()]);
  }
});

test('a retained value with a huge ttl is kept and does not spin the expiry timer', async () => {
  const c = await connect({ url: r.wsUrl, protocols: ['wamp.2.json'] });
  try {
    await c.session.publish('long.ttl', ['kept'], {}, { acknowledge: true, retain: true, ttl: 1e117 });
    // a timer re-armed every millisecond makes advance() throw (ManualClock's spin check)
    clock.advance(30 * DAY_MS);
    assert.deepEqual(warnings, [], 'no timer overflowed');
    const got = await c.session.call('gatehouse.store.get', ['long.ttl']);
    assert.ok(JSON.stringify(got).includes('kept'), `the value is still there: ${JSON.stringify(got)}`);
  } finally {
    await c.close();
  }
});

test('an MQTT 5 will delay of 2^32 - 1 s does not publish the will at once', async () => {
  const log = new MessageLog();
  // no keep-alive: its timeout is on the clock too, and the test moves that by an hour
  const { client: watcher } = await connectMqtt(r.mqttUrl, { protocolVersion: 5, keepalive: 0 }, log);
  const { client: dying } = await connectMqtt(r.mqttUrl, {
    protocolVersion: 5,
    clientId: 'long-will',
    clean: false,
    properties: { sessionExpiryInterval: 3600 },
    will: {
      topic: 'long/will',
      payload: Buffer.from('gone'),
      qos: 0,
      retain: false,
      properties: { willDelayInterval: 0xffffffff },
    },
  });
  try {
    await subscribe(watcher, 'long/will', { qos: 0 });
    await subscribe(watcher, 'long/marker', { qos: 0 });
    dying.stream.destroy(); // not a clean DISCONNECT: the will is due after its delay
    // the session's expiry is armed when the router has seen the connection go
    await waitFor(() => clock.hasTimer(3600 * 1000), 'the offline session');
    clock.advance(3600 * 1000 - 1);
    // a will published during advance() reaches the watcher before this marker
    await publish(watcher, 'long/marker', 'marker', { qos: 1 });
    await log.count(1, 'the marker');
    assert.deepEqual(log.texts(), ['marker'], 'no will yet, an hour less 1 ms later');
    assert.deepEqual(warnings, []);
    // the session's end publishes it ([MQTT-3.1.3-9])
    clock.advance(1);
    await log.count(2, 'the will when the session ends');
    assert.deepEqual(log.texts(), ['marker', 'gone']);
  } finally {
    await endAll([watcher, dying]);
  }
});
