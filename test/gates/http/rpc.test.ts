// POST /call to a WAMP callee (autobahn) and back: results, application errors with
// their own URI, router errors with the catalogue's status, timeouts; curl as caller.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { autobahn } from '../../helpers/autobahn';
import { joinWamp, waitFor } from '../../helpers/mqtt-clients';
import { ManualClock } from '../../helpers/clock';
import { api, curl, startHttpRouter, type HttpTestRouter } from './helpers';
import { expectQuiet } from '../../helpers/wait';

let r: HttpTestRouter;
/** the call timeout is reached by moving this clock */
const clock = new ManualClock();
let callee: Awaited<ReturnType<typeof joinWamp>>;
const invocations: Record<string, unknown>[] = [];

before(async () => {
  r = await startHttpRouter({}, { clock });
  callee = await joinWamp(r);
  await callee.session.register('http.rpc.add', (args, kwargs, details) => {
    invocations.push(details);
    return new autobahn.Result([(args[0] as number) + (args[1] as number)], { by: 'wamp', scale: kwargs['scale'] ?? 1 });
  });
  await callee.session.register('http.rpc.fail', () => {
    throw new autobahn.Error('com.example.error.out_of_stock', ['no more widgets'], { left: 0 });
  });
  await callee.session.register('http.rpc.invalid', () => {
    throw new autobahn.Error('wamp.error.invalid_argument', ['bad widget']);
  });
  // never answers: its calls end by their timeout or by the caller going away
  await callee.session.register('http.rpc.slow', () => new Promise<never>(() => undefined));
});
after(async () => {
  await callee.close();
  await r.close();
});

describe('http rpc - to a WAMP callee and back', () => {
  it('http - fetch calls a WAMP procedure: args and kwargs go there, the result comes back', async () => {
    const res = await api(`${r.apiUrl}/call`, { body: { procedure: 'http.rpc.add', args: [2, 3], kwargs: { scale: 10 } } });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { args: [5], kwargs: { by: 'wamp', scale: 10 } });
  });

  it('http - curl calls it too', async () => {
    const res = await curl(['-d', '{"procedure":"http.rpc.add","args":[40,2]}', `${r.apiUrl}/call`]);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body['args'], [42]);
  });

  it('http - an application error keeps its URI, args and kwargs (500); a catalogue URI gets its status', async () => {
    const res = await api(`${r.apiUrl}/call`, { body: { procedure: 'http.rpc.fail' } });
    assert.equal(res.status, 500);
    assert.deepEqual(res.body, {
      error: 'com.example.error.out_of_stock',
      args: ['no more widgets'],
      kwargs: { left: 0 },
      message: 'no more widgets',
    });
    const invalid = await api(`${r.apiUrl}/call`, { body: { procedure: 'http.rpc.invalid' } });
    assert.equal(invalid.status, 400);
    assert.equal(invalid.body['error'], 'wamp.error.invalid_argument');
  });

  it('http - options.timeout ends a slow call with 504 wamp.error.timeout', async () => {
    const armed = clock.nextTimer(100, 'the call timeout');
    const reply = api(`${r.apiUrl}/call`, { body: { procedure: 'http.rpc.slow', options: { timeout: 100 } } });
    let ended = false;
    void reply.then(() => (ended = true));
    await armed;
    clock.advance(99);
    await expectQuiet();
    assert.equal(ended, false, 'the call does not end before its timeout');
    clock.advance(1);
    const res = await reply;
    assert.equal(res.status, 504);
    assert.equal(res.body['error'], 'wamp.error.timeout');
  });

  it('http - a caller that goes away cancels its call: the dealer holds nothing for it', async () => {
    const abort = new AbortController();
    const pending = fetch(`${r.apiUrl}/call`, {
      method: 'POST',
      body: JSON.stringify({ procedure: 'http.rpc.slow' }),
      signal: abort.signal,
    }).catch(() => 'aborted');
    const dealer = r.router.realm('realm1')?.dealer;
    const reg = dealer?.lookup('http.rpc.slow');
    assert.ok(reg);
    await waitFor(() => (reg.callees[0]?.inflight ?? 0) > 0, 'the invocation');
    abort.abort();
    assert.equal(await pending, 'aborted');
    await waitFor(() => (reg.callees[0]?.inflight ?? 0) === 0, 'the call canceled', 1000);
  });
});
