// WAMP advanced: call timeout and call canceling (skip, kill, killnowait), INTERRUPT
// only to callees that announced call_canceling, and what happens to calls when a
// callee or a caller goes away. autobahn and wampy callees announce no call_canceling
// (and would close their session on an INTERRUPT), so the callee side of INTERRUPT is
// a raw WAMP JSON peer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  deferred,
  errorUri,
  rawRoles,
  rejection,
  RPC_TRANSPORTS,
  rpcTestFile,
  type WampMessage,
  WAMPY_SERIALIZERS,
  within,
} from '../../helpers/rpc-clients';
import { expectQuiet } from '../../helpers/wait';

const TRANSPORTS = RPC_TRANSPORTS;

const { pool, transport } = rpcTestFile();

const isInvocation = (m: WampMessage): boolean => m[0] === 68;
const isInterrupt = (m: WampMessage): boolean => m[0] === 69;
const tag = (name: string): string => name.replace('/', '_');

// ----- call timeout -----

for (const name of TRANSPORTS) {
  void test(`wamp rpc - a call to a callee that never answers fails with wamp.error.timeout (${name})`, async () => {
    const tr = transport(name);
    const callee = await pool.autobahn(tr);
    const caller = await pool.autobahn(tr);
    const uri = `test.cancel.timeout.${tag(name)}`;
    const answer = deferred<string>();
    let invoked = 0;
    await callee.session.register(uri, () => {
      invoked++;
      return answer.promise; // answered only after the caller has given up
    });
    await callee.session.register(`${uri}.alive`, () => 'alive');
    const started = Date.now();
    const e = await rejection(caller.session.call(uri, [], {}, { timeout: 150 }), 5000, 'call with timeout');
    const elapsed = Date.now() - started;
    assert.equal(errorUri(e), 'wamp.error.timeout');
    assert.equal(invoked, 1);
    assert.ok(elapsed >= 140 && elapsed < 2000, `timed out after ${elapsed} ms, asked for 150`);
    // the late YIELD is dropped: autobahn would close the caller's session on a RESULT
    // for a request it no longer has, and the callee would close on an INTERRUPT
    answer.resolve('too late');
    assert.equal(await within(caller.session.call(`${uri}.alive`), 5000, 'caller and callee still up'), 'alive');
  });
}

for (const ser of WAMPY_SERIALIZERS) {
  void test(`wamp rpc - timeout interrupts a callee that announced call_canceling (wampy caller, websocket/${ser})`, async () => {
    const callee = await pool.raw(rawRoles({ canceling: true }));
    const caller = await pool.wampy(ser);
    const uri = `test.cancel.timeout.interrupt.${ser}`;
    await callee.register(1, uri);
    const call = caller.call(uri, [1], { timeout: 100 });
    const inv = await callee.take(isInvocation, 5000, 'INVOCATION');
    const interrupt = await callee.take(isInterrupt, 5000, 'INTERRUPT after the timeout');
    assert.deepEqual(interrupt, [69, inv[1], { mode: 'killnowait', reason: 'wamp.error.timeout' }]);
    assert.equal(errorUri(await rejection(call, 5000, 'timed-out call')), 'wamp.error.timeout');
    // killnowait: the callee's answer to the INTERRUPT goes nowhere
    callee.send([8, 68, inv[1], {}, 'wamp.error.canceled']);
    await callee.register(2, `${uri}.next`);
    const next = caller.call(`${uri}.next`);
    const inv2 = await callee.take(isInvocation, 5000, 'next INVOCATION');
    callee.send([70, inv2[1], {}, ['ok']]);
    assert.deepEqual((await within(next, 5000, 'next call')).argsList, ['ok']);
  });
}

void test('wamp rpc - timeout sends no INTERRUPT to a callee without call_canceling', async () => {
  const callee = await pool.raw({ callee: {} });
  const caller = await pool.raw();
  const uri = 'test.cancel.timeout.plain';
  await callee.register(1, uri);
  caller.send([48, 5, { timeout: 80 }, uri, []]);
  const inv = await callee.take(isInvocation, 5000, 'INVOCATION');
  const err = await caller.take((m) => m[0] === 8, 5000, 'ERROR for the timed-out call');
  assert.deepEqual(err.slice(0, 5), [8, 48, 5, {}, 'wamp.error.timeout']);
  await callee.none(isInterrupt, 150, 'no INTERRUPT for a callee without call_canceling');
  callee.send([70, inv[1], {}, ['late']]);
  await caller.none((m) => m[0] === 50, 150, 'no RESULT after the timeout');
});

// ----- call canceling -----

for (const ser of WAMPY_SERIALIZERS) {
  void test(`wamp rpc - cancel skip: caller gets canceled, callee gets no INTERRUPT (wampy caller, websocket/${ser})`, async () => {
    const callee = await pool.raw(rawRoles({ canceling: true }));
    const caller = await pool.wampy(ser);
    const uri = `test.cancel.skip.${ser}`;
    await callee.register(1, uri);
    const call = caller.call(uri);
    const reqId = caller.getOpStatus().reqId;
    const inv = await callee.take(isInvocation, 5000, 'INVOCATION');
    assert.equal(caller.cancel(reqId, { mode: 'skip' }), true);
    assert.equal(errorUri(await rejection(call, 5000, 'skipped call')), 'wamp.error.canceled');
    await callee.none(isInterrupt, 150, 'no INTERRUPT in skip mode');
    callee.send([70, inv[1], {}, ['ignored']]);
  });

  void test(`wamp rpc - cancel killnowait: INTERRUPT to the callee, caller answered at once (wampy caller, websocket/${ser})`, async () => {
    const callee = await pool.raw(rawRoles({ canceling: true }));
    const caller = await pool.wampy(ser);
    const uri = `test.cancel.killnowait.${ser}`;
    await callee.register(1, uri);
    const call = caller.call(uri);
    const reqId = caller.getOpStatus().reqId;
    const inv = await callee.take(isInvocation, 5000, 'INVOCATION');
    caller.cancel(reqId, { mode: 'killnowait' });
    // the caller's error does not wait for the callee
    assert.equal(errorUri(await rejection(call, 5000, 'killnowait call')), 'wamp.error.canceled');
    const interrupt = await callee.take(isInterrupt, 5000, 'INTERRUPT');
    assert.equal(interrupt[1], inv[1]);
    assert.equal((interrupt[2] as Record<string, unknown>)['mode'], 'killnowait');
  });

  void test(`wamp rpc - cancel kill: the caller waits for the callee's answer to the INTERRUPT (wampy caller, websocket/${ser})`, async () => {
    const callee = await pool.raw(rawRoles({ canceling: true }));
    const caller = await pool.wampy(ser);
    const uri = `test.cancel.kill.${ser}`;
    await callee.register(1, uri);
    let settled = false;
    const call = caller.call(uri);
    void call.then(
      () => (settled = true),
      () => (settled = true),
    );
    const reqId = caller.getOpStatus().reqId;
    const inv = await callee.take(isInvocation, 5000, 'INVOCATION');
    caller.cancel(reqId, { mode: 'kill' });
    const interrupt = await callee.take(isInterrupt, 5000, 'INTERRUPT');
    assert.equal(interrupt[1], inv[1]);
    assert.equal((interrupt[2] as Record<string, unknown>)['mode'], 'kill');
    await expectQuiet();
    assert.equal(settled, false, 'kill: no answer to the caller before the callee answers');
    callee.send([8, 68, inv[1], {}, 'wamp.error.canceled', ['stopped by request']]);
    const e = (await rejection(call, 5000, 'killed call')) as { argsList?: unknown };
    assert.equal(errorUri(e), 'wamp.error.canceled');
    assert.deepEqual(e.argsList, ['stopped by request']);
  });
}

for (const name of TRANSPORTS) {
  void test(`wamp rpc - autobahn caller cancels in kill mode and gets the callee's answer (${name})`, async () => {
    const callee = await pool.raw(rawRoles({ canceling: true }));
    const caller = await pool.autobahn(transport(name));
    const uri = `test.cancel.autobahn.kill.${tag(name)}`;
    await callee.register(1, uri);
    const call = caller.session.call(uri, ['work']) as Promise<unknown> & { cancel(o: { mode: string }): void };
    const inv = await callee.take(isInvocation, 5000, 'INVOCATION');
    assert.deepEqual(inv[4], ['work']);
    call.cancel({ mode: 'kill' });
    const interrupt = await callee.take(isInterrupt, 5000, 'INTERRUPT');
    assert.deepEqual(interrupt, [69, inv[1], { mode: 'kill', reason: 'wamp.error.canceled' }]);
    callee.send([8, 68, inv[1], {}, 'wamp.error.canceled']);
    assert.equal(errorUri(await rejection(call, 5000, 'killed call')), 'wamp.error.canceled');
  });
}

void test('wamp rpc - in kill mode a callee may still finish the call: the caller gets its result', async () => {
  const callee = await pool.raw(rawRoles({ canceling: true }));
  const caller = await pool.raw();
  const uri = 'test.cancel.kill.ignored';
  await callee.register(1, uri);
  caller.send([48, 7, {}, uri, []]);
  const inv = await callee.take(isInvocation, 5000, 'INVOCATION');
  caller.send([49, 7, { mode: 'kill' }]);
  await callee.take(isInterrupt, 5000, 'INTERRUPT');
  callee.send([70, inv[1], {}, ['finished anyway']]);
  assert.deepEqual(await caller.take((m) => m[1] === 7, 5000, 'RESULT'), [50, 7, {}, ['finished anyway']]);
});

void test('wamp rpc - a callee without call_canceling gets no INTERRUPT in any mode, the caller still gets canceled', async () => {
  const callee = await pool.raw({ callee: {} });
  const caller = await pool.raw();
  const uri = 'test.cancel.plain';
  await callee.register(1, uri);
  let request = 40;
  for (const mode of ['skip', 'kill', 'killnowait']) {
    request++;
    caller.send([48, request, {}, uri, [mode]]);
    const inv = await callee.take(isInvocation, 5000, `INVOCATION (${mode})`);
    caller.send([49, request, { mode }]);
    const err = await caller.take((m) => m[0] === 8 && m[2] === request, 5000, `ERROR (${mode})`);
    assert.equal(err[4], 'wamp.error.canceled', mode);
    await callee.none(isInterrupt, 100, `no INTERRUPT (${mode})`);
    // the callee's late answer is dropped
    callee.send([70, inv[1], {}, ['late']]);
    await caller.none((m) => m[0] === 50, 100, `no RESULT after cancel (${mode})`);
  }
});

void test('wamp rpc - wampy callee (no call_canceling) survives its caller canceling', async () => {
  const callee = await pool.wampy('msgpack');
  const caller = await pool.wampy('json');
  const uri = 'test.cancel.wampy.callee';
  const release = deferred<unknown>();
  const invoked = deferred();
  await callee.register(uri, () => {
    invoked.resolve();
    return release.promise;
  });
  await callee.register(`${uri}.alive`, () => ({ argsList: ['alive'] }));
  const call = caller.call(uri);
  const reqId = caller.getOpStatus().reqId;
  await within(invoked.promise, 5000, 'wampy callee invoked');
  caller.cancel(reqId, { mode: 'kill' });
  assert.equal(errorUri(await rejection(call, 5000, 'canceled call')), 'wamp.error.canceled');
  release.resolve({ argsList: ['late'] });
  // an INTERRUPT would have made wampy close its session
  assert.deepEqual((await within(caller.call(`${uri}.alive`), 5000, 'callee still up')).argsList, ['alive']);
});

void test('wamp rpc - CANCEL for a call that already finished is ignored', async () => {
  const callee = await pool.raw(rawRoles({ canceling: true }));
  const caller = await pool.raw();
  const uri = 'test.cancel.finished';
  await callee.register(1, uri);
  caller.send([48, 9, {}, uri, []]);
  const inv = await callee.take(isInvocation, 5000, 'INVOCATION');
  callee.send([70, inv[1], {}, ['done']]);
  assert.deepEqual(await caller.take((m) => m[1] === 9, 5000, 'RESULT'), [50, 9, {}, ['done']]);
  caller.send([49, 9, { mode: 'killnowait' }]);
  await callee.none(isInterrupt, 100, 'no INTERRUPT for a finished call');
  await caller.none((m) => m[0] === 8, 100, 'no ERROR for a finished call');
  assert.ok(caller.isOpen, 'caller session still open');
});

// ----- sessions going away -----

for (const name of TRANSPORTS) {
  void test(`wamp rpc - a callee that leaves with calls in flight: callers get canceled, the registration is gone (${name})`, async () => {
    const tr = transport(name);
    const callee = await pool.autobahn(tr);
    const caller = await pool.autobahn(tr);
    const uri = `test.cancel.callee.leaves.${tag(name)}`;
    let invoked = 0;
    const bothInvoked = deferred();
    await callee.session.register(uri, () => {
      if (++invoked === 2) bothInvoked.resolve();
      return new Promise(() => undefined); // never answers
    });
    const calls = [caller.session.call(uri, [1]), caller.session.call(uri, [2])].map((c) =>
      rejection(c, 5000, 'call to a departed callee'),
    );
    await within(bothInvoked.promise, 5000, 'both calls reach the callee');
    await callee.close();
    for (const c of calls) assert.equal(errorUri(await c), 'wamp.error.canceled');
    assert.equal(
      errorUri(await rejection(caller.session.call(uri), 5000, 'call after the callee left')),
      'wamp.error.no_such_procedure',
    );
  });
}

void test('wamp rpc - a callee whose connection drops: its calls fail canceled and its procedures are unregistered', async () => {
  const callee = await pool.raw({ callee: {} });
  const caller = await pool.wampy('cbor');
  const uri = 'test.cancel.callee.drops';
  await callee.register(1, uri);
  await callee.register(2, `${uri}.other`);
  const call = caller.call(uri, [1]);
  await callee.take(isInvocation, 5000, 'INVOCATION');
  await callee.terminate();
  assert.equal(errorUri(await rejection(call, 5000, 'call to a dropped callee')), 'wamp.error.canceled');
  for (const u of [uri, `${uri}.other`]) {
    assert.equal(errorUri(await rejection(caller.call(u), 5000, `call ${u} after drop`)), 'wamp.error.no_such_procedure');
  }
  // and the URI can be registered by someone else
  const successor = await pool.wampy('json');
  await within(
    successor.register(uri, () => ({ argsList: ['successor'] })),
    5000,
    're-register',
  );
  assert.deepEqual((await within(caller.call(uri), 5000, 'call successor')).argsList, ['successor']);
});

void test('wamp rpc - one callee of a shared registration leaves: only its calls fail, the others keep serving', async () => {
  const a = await pool.raw({ callee: {} });
  const b = await pool.raw({ callee: {} });
  const caller = await pool.raw();
  const uri = 'test.cancel.shared.leaves';
  await a.register(1, uri, { invoke: 'roundrobin' });
  await b.register(1, uri, { invoke: 'roundrobin' });
  caller.send([48, 1, {}, uri, ['to a']]);
  caller.send([48, 2, {}, uri, ['to b']]);
  const invA = await a.take(isInvocation, 5000, 'INVOCATION at a');
  const invB = await b.take(isInvocation, 5000, 'INVOCATION at b');
  assert.deepEqual([invA[4], invB[4]], [['to a'], ['to b']]);
  await a.terminate();
  const err = await caller.take((m) => m[0] === 8, 5000, 'ERROR for the call on a');
  assert.deepEqual(err.slice(0, 5), [8, 48, 1, {}, 'wamp.error.canceled']);
  b.send([70, invB[1], {}, ['b done']]);
  assert.deepEqual(await caller.take((m) => m[1] === 2, 5000, 'RESULT from b'), [50, 2, {}, ['b done']]);
  caller.send([48, 3, {}, uri, ['next']]);
  const inv3 = await b.take(isInvocation, 5000, 'next INVOCATION goes to b');
  b.send([70, inv3[1], {}, ['b again']]);
  assert.deepEqual(await caller.take((m) => m[1] === 3, 5000, 'RESULT 3'), [50, 3, {}, ['b again']]);
});

void test('wamp rpc - a caller that leaves: its pending calls are canceled and interrupt canceling callees', async () => {
  const canceling = await pool.raw(rawRoles({ canceling: true }));
  const plain = await pool.raw({ callee: {} });
  const caller = await pool.raw();
  await canceling.register(1, 'test.cancel.caller.leaves.a');
  await plain.register(1, 'test.cancel.caller.leaves.b', { concurrency: 1 });
  caller.send([48, 1, {}, 'test.cancel.caller.leaves.a', []]);
  caller.send([48, 2, {}, 'test.cancel.caller.leaves.b', []]);
  const invA = await canceling.take(isInvocation, 5000, 'INVOCATION a');
  const invB = await plain.take(isInvocation, 5000, 'INVOCATION b');
  await caller.terminate();
  const interrupt = await canceling.take(isInterrupt, 5000, 'INTERRUPT for the departed caller');
  assert.deepEqual(interrupt, [69, invA[1], { mode: 'killnowait', reason: 'wamp.error.canceled' }]);
  await plain.none(isInterrupt, 100, 'no INTERRUPT for a callee without call_canceling');
  // late answers go nowhere and hurt nobody
  canceling.send([70, invA[1], {}, ['late']]);
  plain.send([70, invB[1], {}, ['late']]);
  // the plain callee's slot is free again: a new caller's call reaches it
  const other = await pool.raw();
  other.send([48, 1, {}, 'test.cancel.caller.leaves.b', ['fresh']]);
  const inv = await plain.take(isInvocation, 5000, 'INVOCATION for the new caller');
  assert.deepEqual(inv[4], ['fresh']);
  plain.send([70, inv[1], {}, ['ok']]);
  assert.deepEqual(await other.take((m) => m[0] === 50, 5000, 'RESULT'), [50, 1, {}, ['ok']]);
  assert.ok(canceling.isOpen && plain.isOpen, 'callees still connected');
});

void test('wamp rpc - a caller that says GOODBYE with a call waiting for a callee: the queued call never reaches the callee', async () => {
  const callee = await pool.raw(rawRoles({ canceling: true }));
  const caller = await pool.autobahn(transport('websocket/json'));
  const uri = 'test.cancel.caller.queued';
  await callee.register(1, uri, { concurrency: 1 });
  const first = caller.session.call(uri, ['first']);
  const second = caller.session.call(uri, ['second']);
  void first.then(undefined, () => undefined);
  void second.then(undefined, () => undefined);
  const inv = await callee.take(isInvocation, 5000, 'first INVOCATION');
  assert.deepEqual(inv[4], ['first']);
  await caller.close();
  const interrupt = await callee.take(isInterrupt, 5000, 'INTERRUPT for the in-flight call');
  assert.equal(interrupt[1], inv[1]);
  await callee.none(isInvocation, 150, 'the queued call is dropped, not invoked');
});

void test('wamp rpc - a callee that leaves while calls wait for capacity: waiting calls go to the remaining callee', async () => {
  const a = await pool.raw({ callee: {} });
  const b = await pool.raw({ callee: {} });
  const x = await pool.raw();
  const y = await pool.raw();
  const uri = 'test.cancel.shared.waiting';
  await a.register(1, uri, { invoke: 'roundrobin', concurrency: 1 });
  await b.register(1, uri, { invoke: 'roundrobin', concurrency: 1 });
  await a.register(2, `${uri}.warmup`);
  // y becomes known to the dealer as a caller before x
  y.send([48, 1, {}, `${uri}.warmup`, []]);
  const warm = await a.take(isInvocation, 5000, 'warmup INVOCATION');
  a.send([70, warm[1], {}, []]);
  await y.take((m) => m[0] === 50 && m[1] === 1, 5000, 'warmup RESULT');
  x.send([48, 1, {}, uri, ['x1']]); // -> a
  x.send([48, 2, {}, uri, ['x2']]); // -> b
  const invA = await a.take(isInvocation, 5000, 'x1 at a');
  const invB = await b.take(isInvocation, 5000, 'x2 at b');
  assert.deepEqual([invA[4], invB[4]], [['x1'], ['x2']]);
  y.send([48, 2, {}, uri, ['y waits']]); // both callees busy: waits
  await a.terminate();
  assert.equal((await x.take((m) => m[0] === 8 && m[2] === 1, 5000, 'x1 canceled'))[4], 'wamp.error.canceled');
  b.send([70, invB[1], {}, ['x2 done']]);
  assert.deepEqual(await x.take((m) => m[1] === 2, 5000, 'x2 RESULT'), [50, 2, {}, ['x2 done']]);
  // the waiting call must now be served by b, not lost on the departed a
  const invY = await b.take(isInvocation, 5000, 'waiting call handed to b');
  assert.deepEqual(invY[4], ['y waits']);
  b.send([70, invY[1], {}, ['y done']]);
  assert.deepEqual(await y.take((m) => m[1] === 2, 5000, 'y RESULT'), [50, 2, {}, ['y done']]);
});
