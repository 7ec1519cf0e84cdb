/**
 * Delays a client chooses beyond setTimeout's range (2^31 - 1 ms, ~24.8 days) were
 * handed to setTimeout as given, which fires such a timer after 1 ms (found by the
 * hostile-client suite: a TimeoutOverflowWarning on the router's stderr):
 * - a CALL with `timeout: 2^64` failed at once with wamp.error.timeout;
 * - a retained publish with a huge `ttl` re-armed the store's expiry timer every
 *   millisecond, for ever (a busy loop and a warning per tick);
 * - an MQTT 5 will delay of 2^32 - 1 s published the will at once.
 * Now such delays are held to the longest timer, and nothing fires early.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connect } from '../helpers/autobahn';
import { connectMqtt, endAll, MessageLog, subscribe, waitFor } from '../helpers/mqtt-clients';
import { sleep, within } from '../helpers/raw-wamp';
import { startRouter, type TestRouter } from '../helpers/router';

let r: TestRouter;
const warnings: string[] = [];
const onWarning = (w: Error): void => {
  if (w.name === 'TimeoutOverflowWarning') warnings.push(w.message);
};

before(async () => {
  process.on('warning', onWarning);
  r = await startRouter({ mqtt: { sysIntervalSeconds: 0 } });
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
    await callee.session.register('long.timeout', () => new Promise((resolve) => (answer = resolve)));
    const call = caller.session.call('long.timeout', [], {}, { timeout: 2 ** 64 });
    const early = await Promise.race([call.then(() => 'settled', (e: unknown) => `failed: ${JSON.stringify(e)}`), sleep(300).then(() => 'pending')]);
    assert.equal(early, 'pending', 'the call waits for its callee');
    answer('done');
    assert.equal(await within(call, 2000, 'the result'), 'done');
    assert.deepEqual(warnings, []);
  } finally {
    await Promise.all([callee.close(), caller.close()]);
  }
});

test('a retained value with a huge ttl is kept and does not spin the expiry timer', async () => {
  const c = await connect({ url: r.wsUrl, protocols: ['wamp.2.json'] });
  try {
    await c.session.publish('long.ttl', ['kept'], {}, { acknowledge: true, retain: true, ttl: 1e117 });
    await sleep(300);
    // the spinning timer warned on every tick: hundreds of warnings in 300 ms
    assert.deepEqual(warnings, [], 'no timer overflowed');
    const got = await c.session.call('gatehouse.store.get', ['long.ttl']);
    assert.ok(JSON.stringify(got).includes('kept'), `the value is still there: ${JSON.stringify(got)}`);
  } finally {
    await c.close();
  }
});

test('an MQTT 5 will delay of 2^32 - 1 s does not publish the will at once', async () => {
  const log = new MessageLog();
  const { client: watcher } = await connectMqtt(r.mqttUrl, { protocolVersion: 5 }, log);
  const { client: dying } = await connectMqtt(r.mqttUrl, {
    protocolVersion: 5,
    clientId: 'long-will',
    clean: false,
    properties: { sessionExpiryInterval: 3600 },
    will: { topic: 'long/will', payload: Buffer.from('gone'), qos: 0, retain: false, properties: { willDelayInterval: 0xffffffff } },
  });
  try {
    await subscribe(watcher, 'long/will', { qos: 0 });
    dying.stream.destroy(); // not a clean DISCONNECT: the will is due after its delay
    await sleep(500);
    assert.deepEqual(log.texts(), [], 'no will yet');
    assert.deepEqual(warnings, []);
    // the session's end still publishes it
    const { client: resumed } = await connectMqtt(r.mqttUrl, { protocolVersion: 5, clientId: 'long-will', clean: true });
    await waitFor(() => log.texts().includes('gone'), 'the will when the session ends');
    await endAll([resumed]);
  } finally {
    await endAll([watcher, dying]);
  }
});
