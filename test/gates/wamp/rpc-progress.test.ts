// WAMP advanced: progressive call results and progressive call invocations, with
// autobahn over every transport x serializer, wampy with each serializer, and a raw
// WAMP JSON peer where exact request IDs and details matter.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AutobahnSession } from '../../helpers/autobahn';
import {
  deferred,
  rawRoles,
  RPC_TRANSPORTS,
  rpcTestFile,
  type WampMessage,
  WAMPY_SERIALIZERS,
  within,
} from '../../helpers/rpc-clients';

const TRANSPORTS = RPC_TRANSPORTS;

const { pool, transport } = rpcTestFile();

/** autobahn's call promise is a when.js promise: progress is the third `then` handler. */
function callWithProgress(s: AutobahnSession, uri: string, args: unknown[], onProgress: (p: unknown) => void): Promise<unknown> {
  const p = s.call(uri, args, {}, { receive_progress: true }) as unknown as {
    then(ok: (v: unknown) => unknown, err: (e: unknown) => unknown, progress: (p: unknown) => void): Promise<unknown>;
  };
  return new Promise((resolve, reject) => {
    void p.then(resolve, reject, onProgress);
  });
}

const isInvocation = (m: WampMessage): boolean => m[0] === 68;

// ----- progressive call results -----

for (const name of TRANSPORTS) {
  void test(`wamp rpc - progressive results reach the caller in order before the final result (${name})`, async () => {
    const tr = transport(name);
    const callee = await pool.autobahn(tr);
    const caller = await pool.autobahn(tr);
    const uri = `test.progress.results.${name.replace('/', '_')}`;
    const progressFns: unknown[] = [];
    await callee.session.register(uri, (args, _kwargs, details) => {
      const progress = details['progress'];
      progressFns.push(progress === null ? 'null' : typeof progress);
      if (typeof progress !== 'function') return 'no progress offered';
      const n = args[0] as number;
      for (let i = 1; i <= n; i++) {
        (progress as (a: unknown[], k?: Record<string, unknown>) => void)([i], { of: n });
      }
      return 'final';
    });
    const seen: unknown[] = [];
    const final = await within(
      callWithProgress(caller.session, uri, [5], (p) => seen.push(p)),
      5000,
      'progressive call',
    );
    // autobahn's callee offers details.progress only when INVOCATION carried receive_progress
    assert.deepEqual(progressFns, ['function']);
    assert.equal(final, 'final');
    const asPairs = seen.map((p) => {
      const r = p as { args: unknown[]; kwargs: unknown };
      return [r.args, r.kwargs];
    });
    assert.deepEqual(
      asPairs,
      [1, 2, 3, 4, 5].map((i) => [[i], { of: 5 }]),
    );

    // a caller that did not ask for progress: no receive_progress, only the final result
    progressFns.length = 0;
    assert.equal(await within(caller.session.call(uri, [3]), 5000, 'plain call'), 'no progress offered');
    assert.deepEqual(progressFns, ['null']);
  });
}

for (const ser of WAMPY_SERIALIZERS) {
  void test(`wamp rpc - wampy progressive results with receive_progress in the callee's details (websocket/${ser})`, async () => {
    const callee = await pool.wampy(ser);
    const caller = await pool.wampy(ser);
    const uri = `test.progress.wampy.results.${ser}`;
    const details: Record<string, unknown>[] = [];
    await callee.register(uri, (inv) => {
      details.push(inv.details);
      for (const step of ['a', 'b', 'c']) {
        inv.result_handler({ argsList: [step], options: { progress: true } });
      }
      return { argsList: ['done'], argsDict: { steps: 3 } };
    });
    const seen: unknown[] = [];
    const r = await within(
      caller.call(uri, [1], { progress_callback: (p: { argsList?: unknown[] }) => seen.push(p.argsList) }),
      5000,
      'wampy progressive call',
    );
    assert.equal(details.length, 1);
    assert.equal(details[0]?.['receive_progress'], true);
    assert.deepEqual(seen, [['a'], ['b'], ['c']]);
    assert.deepEqual(r.argsList, ['done']);
    assert.deepEqual(r.argsDict, { steps: 3 });
  });
}

void test('wamp rpc - progressive results carry details.progress=true and stop at the final RESULT', async () => {
  const callee = await pool.raw(rawRoles({ progressive: true }));
  const caller = await pool.raw();
  const uri = 'test.progress.raw.results';
  await callee.register(1, uri);
  caller.send([48, 11, { receive_progress: true }, uri, ['go']]);
  const inv = await callee.take(isInvocation, 5000, 'INVOCATION');
  assert.equal((inv[3] as Record<string, unknown>)['receive_progress'], true);
  assert.deepEqual(inv[4], ['go']);
  callee.send([70, inv[1], { progress: true }, [1]]);
  callee.send([70, inv[1], { progress: true }, [2], { half: true }]);
  callee.send([70, inv[1], {}, [3]]);
  callee.send([70, inv[1], { progress: true }, ['late']]); // after the final: dropped
  const got = [
    await caller.take((m) => m[0] === 50, 5000, 'RESULT 1'),
    await caller.take((m) => m[0] === 50, 5000, 'RESULT 2'),
    await caller.take((m) => m[0] === 50, 5000, 'RESULT 3'),
  ];
  assert.deepEqual(got, [
    [50, 11, { progress: true }, [1]],
    [50, 11, { progress: true }, [2], { half: true }],
    [50, 11, {}, [3]],
  ]);
  await caller.none((m) => m[0] === 50, 150, 'no RESULT after the final one');
});

void test('wamp rpc - progressive results are not forwarded to a caller that did not ask for them', async () => {
  const callee = await pool.raw(rawRoles({ progressive: true }));
  const caller = await pool.raw();
  const uri = 'test.progress.raw.unasked';
  await callee.register(1, uri);
  caller.send([48, 12, {}, uri, []]);
  const inv = await callee.take(isInvocation, 5000, 'INVOCATION');
  assert.equal((inv[3] as Record<string, unknown>)['receive_progress'], undefined);
  callee.send([70, inv[1], { progress: true }, ['partial']]);
  callee.send([70, inv[1], {}, ['whole']]);
  assert.deepEqual(await caller.take((m) => m[0] === 50, 5000, 'RESULT'), [50, 12, {}, ['whole']]);
  await caller.none((m) => m[0] === 50, 100, 'a single RESULT');
});

// ----- progressive call invocations -----

for (const ser of WAMPY_SERIALIZERS) {
  void test(`wamp rpc - wampy progressive call chunks reach the callee under one INVOCATION request ID (websocket/${ser})`, async () => {
    const callee = await pool.raw(rawRoles({ progressive: true }));
    const caller = await pool.wampy(ser);
    const uri = `test.progress.invocations.raw.${ser}`;
    await callee.register(1, uri);
    const pc = caller.progressiveCall(uri, [1]);
    pc.sendData([2]);
    pc.sendData([3]);
    pc.sendData([4], { progress: false });
    const chunks: WampMessage[] = [];
    for (let i = 0; i < 4; i++) chunks.push(await callee.take(isInvocation, 5000, `INVOCATION chunk ${i + 1}`));
    const ids = new Set(chunks.map((c) => c[1]));
    assert.equal(ids.size, 1, `one INVOCATION request ID, got ${[...ids].join(', ')}`);
    assert.deepEqual(
      chunks.map((c) => c[4]),
      [[1], [2], [3], [4]],
    );
    assert.deepEqual(
      chunks.map((c) => (c[3] as Record<string, unknown>)['progress'] === true),
      [true, true, true, false],
    );
    const sum = chunks.reduce((a, c) => a + ((c[4] as number[])[0] ?? 0), 0);
    callee.send([70, chunks[0]?.[1], {}, [sum]]);
    assert.deepEqual((await within(pc.result, 5000, 'progressive call result')).argsList, [10]);
  });

  void test(`wamp rpc - wampy streams in both directions: chunks in, progressive results out (websocket/${ser})`, async () => {
    const callee = await pool.wampy(ser);
    const caller = await pool.wampy(ser);
    const uri = `test.progress.invocations.wampy.${ser}`;
    const calls: { progress: unknown; args: unknown }[] = [];
    let total = 0;
    await callee.register(uri, (inv) => {
      calls.push({ progress: inv.details['progress'], args: inv.argsList });
      total += (inv.argsList?.[0] as number | undefined) ?? 0;
      // wampy invokes the endpoint once per INVOCATION; a chunk answers with progress
      if (inv.details['progress'] === true) return { argsList: [total], options: { progress: true } };
      return { argsList: ['sum', total] };
    });
    const progress: unknown[] = [];
    const pc = caller.progressiveCall(uri, [1], {
      progress_callback: (p: { argsList?: unknown[] }) => progress.push(p.argsList),
    });
    pc.sendData([2]);
    pc.sendData([3]);
    pc.sendData([4], { progress: false });
    const r = await within(pc.result, 5000, 'bidirectional progressive call');
    assert.deepEqual(calls, [
      { progress: true, args: [1] },
      { progress: true, args: [2] },
      { progress: true, args: [3] },
      { progress: undefined, args: [4] },
    ]);
    assert.deepEqual(progress, [[1], [3], [6]]);
    assert.deepEqual(r.argsList, ['sum', 10]);
  });
}

void test('wamp rpc - progressive call invocation by hand: same request IDs both sides, RESULT after the last chunk', async () => {
  const callee = await pool.raw(rawRoles({ progressive: true }));
  const caller = await pool.raw();
  const uri = 'test.progress.invocations.raw';
  const regId = await callee.register(1, uri);
  caller.send([48, 21, { progress: true }, uri, ['a']]);
  const first = await callee.take(isInvocation, 5000, 'first INVOCATION');
  assert.equal(first[2], regId);
  assert.equal((first[3] as Record<string, unknown>)['progress'], true);
  assert.deepEqual(first[4], ['a']);
  caller.send([48, 21, { progress: true }, uri, ['b'], { k: 1 }]);
  caller.send([48, 21, {}, uri, ['c']]);
  const second = await callee.take(isInvocation, 5000, 'second INVOCATION');
  const third = await callee.take(isInvocation, 5000, 'third INVOCATION');
  assert.deepEqual(second, [68, first[1], regId, { progress: true }, ['b'], { k: 1 }]);
  assert.deepEqual(third, [68, first[1], regId, {}, ['c']]);
  callee.send([70, first[1], {}, ['abc']]);
  assert.deepEqual(await caller.take((m) => m[0] === 50, 5000, 'RESULT'), [50, 21, {}, ['abc']]);
});

void test('wamp rpc - chunks sent while the call waits for a callee are delivered in order, first one marked progress', async () => {
  const callee = await pool.raw(rawRoles({ progressive: true }));
  const caller = await pool.raw();
  const uri = 'test.progress.invocations.queued';
  await callee.register(1, uri, { concurrency: 1 });
  // occupy the only slot
  caller.send([48, 31, {}, uri, ['blocker']]);
  const blocker = await callee.take(isInvocation, 5000, 'blocker INVOCATION');
  // a progressive call, all of its chunks sent while it waits
  caller.send([48, 32, { progress: true }, uri, [1]]);
  caller.send([48, 32, { progress: true }, uri, [2]]);
  caller.send([48, 32, {}, uri, [3]]);
  await callee.none(isInvocation, 100, 'nothing while the slot is taken');
  callee.send([70, blocker[1], {}, ['unblocked']]);
  assert.deepEqual(await caller.take((m) => m[0] === 50 && m[1] === 31, 5000, 'blocker RESULT'), [50, 31, {}, ['unblocked']]);
  const chunks = [
    await callee.take(isInvocation, 5000, 'chunk 1'),
    await callee.take(isInvocation, 5000, 'chunk 2'),
    await callee.take(isInvocation, 5000, 'chunk 3'),
  ];
  assert.deepEqual(
    chunks.map((c) => c[4]),
    [[1], [2], [3]],
  );
  assert.equal(new Set(chunks.map((c) => c[1])).size, 1, 'one INVOCATION request ID');
  // more chunks follow the first two: they must say so, or the callee answers too early
  assert.deepEqual(
    chunks.map((c) => (c[3] as Record<string, unknown>)['progress'] === true),
    [true, true, false],
  );
  callee.send([70, chunks[0]?.[1], {}, [6]]);
  assert.deepEqual(await caller.take((m) => m[0] === 50 && m[1] === 32, 5000, 'RESULT'), [50, 32, {}, [6]]);
});

void test('wamp rpc - autobahn receives a progressive result stream from a wampy callee', async () => {
  const ab = await pool.autobahn(transport('websocket/msgpack'));
  const wp = await pool.wampy('cbor');
  const started = deferred();
  await wp.register('test.progress.mixed', (inv) => {
    started.resolve();
    for (let i = 0; i < 3; i++) {
      inv.result_handler({ argsList: [i], options: { progress: true } });
    }
    return { argsList: ['end'] };
  });
  const seen: unknown[] = [];
  const final = await within(
    callWithProgress(ab.session, 'test.progress.mixed', [], (p) => seen.push(p)),
    5000,
    'mixed progressive call',
  );
  await started.promise;
  assert.deepEqual(seen, [0, 1, 2]);
  assert.equal(final, 'end');
});
