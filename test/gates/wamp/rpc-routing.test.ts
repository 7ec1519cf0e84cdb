// Where a call goes and what the callee learns about it: caller identification,
// pattern-based registration, shared registration policies, and fox-wamp's
// `concurrency` register option. autobahn over every transport x serializer, wampy
// with each serializer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type AutobahnClient,
  type AutobahnTransport,
  deferred,
  errorUri,
  rejection,
  RPC_TRANSPORTS,
  rpcTestFile,
  pace,
  WAMPY_SERIALIZERS,
  within,
} from '../../helpers/rpc-clients';
import { expectQuiet } from '../../helpers/wait';

const TRANSPORTS = RPC_TRANSPORTS;

const { pool, transport } = rpcTestFile();

const tag = (name: string): string => name.replace('/', '_');

function callerOf(details: Record<string, unknown>): unknown[] {
  return [details['caller'], details['caller_authid'], details['caller_authrole']];
}

function identity(c: AutobahnClient): unknown[] {
  return [c.session.id, c.details['authid'], c.details['authrole']];
}

// ----- caller identification -----

for (const name of TRANSPORTS) {
  void test(`wamp rpc - disclose_me and disclose_caller reveal the caller's session, authid and authrole (${name})`, async () => {
    const tr = transport(name);
    const callee = await pool.autobahn(tr);
    const caller = await pool.autobahn(tr);
    assert.equal(typeof caller.details['authid'], 'string');
    assert.equal(typeof caller.details['authrole'], 'string');
    const base = `test.routing.ident.${tag(name)}`;
    const seen: Record<string, unknown[]> = {};
    await callee.session.register(`${base}.plain`, (args, _k, d) => {
      seen[args[0] as string] = callerOf(d);
      return null;
    });
    await callee.session.register(
      `${base}.forced`,
      (args, _k, d) => {
        seen[args[0] as string] = callerOf(d);
        return null;
      },
      { disclose_caller: true },
    );

    await within(caller.session.call(`${base}.plain`, ['hidden']), 5000, 'anonymous call');
    await within(caller.session.call(`${base}.plain`, ['disclosed'], {}, { disclose_me: true }), 5000, 'disclose_me call');
    await within(caller.session.call(`${base}.forced`, ['forced']), 5000, 'disclose_caller call');
    assert.deepEqual(seen, {
      hidden: [undefined, undefined, undefined],
      disclosed: identity(caller),
      forced: identity(caller),
    });
  });
}

for (const ser of WAMPY_SERIALIZERS) {
  void test(`wamp rpc - wampy disclose_me puts the caller's session ID in the callee's details (websocket/${ser})`, async () => {
    const callee = await pool.wampy(ser);
    const caller = await pool.wampy(ser);
    const uri = `test.routing.ident.wampy.${ser}`;
    const seen: unknown[][] = [];
    await callee.register(uri, (inv) => {
      seen.push(callerOf(inv.details));
      return {};
    });
    await within(caller.call(uri, [], { disclose_me: true }), 5000, 'disclose_me call');
    await within(caller.call(uri), 5000, 'plain call');
    assert.equal(seen.length, 2);
    assert.equal(seen[0]?.[0], caller.getSessionId());
    assert.equal(typeof seen[0]?.[1], 'string');
    assert.equal(typeof seen[0]?.[2], 'string');
    assert.deepEqual(seen[1], [undefined, undefined, undefined]);
  });
}

// ----- pattern-based registration -----

for (const name of TRANSPORTS) {
  void test(`wamp rpc - exact beats prefix beats wildcard, the longest prefix wins, details.procedure is the called URI (${name})`, async () => {
    const tr = transport(name);
    const callee = await pool.autobahn(tr);
    const caller = await pool.autobahn(tr);
    const base = `test.routing.pattern.${tag(name)}`;
    const endpoint = (label: string) => (_a: unknown[], _k: Record<string, unknown>, d: Record<string, unknown>) => [
      label,
      d['procedure'],
    ];
    await callee.session.register(`${base}.a.b.c`, endpoint('exact a.b.c'));
    await callee.session.register(`${base}.a`, endpoint('exact a'));
    await callee.session.register(`${base}.a`, endpoint('prefix a'), { match: 'prefix' });
    await callee.session.register(`${base}.a.b`, endpoint('prefix a.b'), { match: 'prefix' });
    await callee.session.register(`${base}..x.c`, endpoint('wildcard *.x.c'), { match: 'wildcard' });
    await callee.session.register(`${base}...c`, endpoint('wildcard *.*.c'), { match: 'wildcard' });
    const route = async (suffix: string): Promise<unknown> =>
      within(caller.session.call(`${base}.${suffix}`), 5000, `call ${suffix}`);
    // autobahn fills details.procedure from its own registration when the router sends none
    assert.deepEqual(await route('a.b.c'), ['exact a.b.c', `${base}.a.b.c`]);
    assert.deepEqual(await route('a'), ['exact a', `${base}.a`]);
    assert.deepEqual(await route('a.b.d'), ['prefix a.b', `${base}.a.b.d`]);
    assert.deepEqual(await route('a.b.c.d'), ['prefix a.b', `${base}.a.b.c.d`]);
    assert.deepEqual(await route('a.z'), ['prefix a', `${base}.a.z`]);
    assert.deepEqual(await route('a.x.c'), ['prefix a', `${base}.a.x.c`]);
    assert.deepEqual(await route('q.x.c'), ['wildcard *.x.c', `${base}.q.x.c`]);
    assert.deepEqual(await route('q.y.c'), ['wildcard *.*.c', `${base}.q.y.c`]);
    assert.equal(
      errorUri(await rejection(caller.session.call(`${base}.q.y.d`), 5000, 'unmatched call')),
      'wamp.error.no_such_procedure',
    );
  });
}

void test('wamp rpc - INVOCATION details carry procedure only for pattern registrations', async () => {
  const callee = await pool.raw({ callee: {} });
  const caller = await pool.raw();
  await callee.register(1, 'test.routing.details.exact');
  await callee.register(2, 'test.routing.details.pre', { match: 'prefix' });
  caller.send([48, 1, {}, 'test.routing.details.exact', []]);
  const inv1 = await callee.take((m) => m[0] === 68, 5000, 'exact INVOCATION');
  assert.equal((inv1[3] as Record<string, unknown>)['procedure'], undefined);
  callee.send([70, inv1[1], {}, []]);
  caller.send([48, 2, {}, 'test.routing.details.pre.fix.ed', []]);
  const inv2 = await callee.take((m) => m[0] === 68, 5000, 'prefix INVOCATION');
  assert.equal((inv2[3] as Record<string, unknown>)['procedure'], 'test.routing.details.pre.fix.ed');
  callee.send([70, inv2[1], {}, []]);
  await caller.take((m) => m[0] === 50 && m[1] === 2, 5000, 'RESULT');
});

for (const ser of WAMPY_SERIALIZERS) {
  void test(`wamp rpc - wampy prefix and wildcard registrations see the called URI (websocket/${ser})`, async () => {
    const callee = await pool.wampy(ser);
    const caller = await pool.wampy(ser);
    const base = `test.routing.pattern.wampy.${ser}`;
    await callee.register(`${base}.files`, (inv) => ({ argsList: ['prefix', inv.details['procedure']] }), { match: 'prefix' });
    await callee.register(`${base}..meta`, (inv) => ({ argsList: ['wildcard', inv.details['procedure']] }), {
      match: 'wildcard',
    });
    assert.deepEqual((await within(caller.call(`${base}.files.a.b`), 5000, 'prefix call')).argsList, [
      'prefix',
      `${base}.files.a.b`,
    ]);
    assert.deepEqual((await within(caller.call(`${base}.x.meta`), 5000, 'wildcard call')).argsList, [
      'wildcard',
      `${base}.x.meta`,
    ]);
    assert.deepEqual((await within(caller.call(`${base}.files.meta`), 5000, 'both match')).argsList, [
      'prefix',
      `${base}.files.meta`,
    ]);
  });
}

// ----- shared registration -----

async function sharedCallees(tr: AutobahnTransport, uri: string, invoke: string): Promise<AutobahnClient[]> {
  const out: AutobahnClient[] = [];
  for (const label of ['A', 'B', 'C']) {
    const c = await pool.autobahn(tr);
    await within(
      c.session.register(uri, () => label, { invoke }),
      5000,
      `register ${label} (${invoke})`,
    );
    out.push(c);
  }
  return out;
}

async function callSequence(caller: AutobahnClient, uri: string, n: number): Promise<unknown[]> {
  const out: unknown[] = [];
  for (let i = 0; i < n; i++) out.push(await within(caller.session.call(uri), 5000, `call ${i + 1}`));
  return out;
}

for (const name of TRANSPORTS) {
  void test(`wamp rpc - roundrobin invokes the callees in rotation (${name})`, async () => {
    const tr = transport(name);
    const uri = `test.routing.shared.rr.${tag(name)}`;
    await sharedCallees(tr, uri, 'roundrobin');
    const caller = await pool.autobahn(tr);
    assert.deepEqual(await callSequence(caller, uri, 7), ['A', 'B', 'C', 'A', 'B', 'C', 'A']);
  });

  void test(`wamp rpc - first and last pick the first and last registered callee (${name})`, async () => {
    const tr = transport(name);
    const caller = await pool.autobahn(tr);
    const first = `test.routing.shared.first.${tag(name)}`;
    const last = `test.routing.shared.last.${tag(name)}`;
    const fc = await sharedCallees(tr, first, 'first');
    const lc = await sharedCallees(tr, last, 'last');
    assert.deepEqual(await callSequence(caller, first, 3), ['A', 'A', 'A']);
    assert.deepEqual(await callSequence(caller, last, 3), ['C', 'C', 'C']);
    await fc[0]?.close();
    await lc[2]?.close();
    assert.deepEqual(await callSequence(caller, first, 2), ['B', 'B']);
    assert.deepEqual(await callSequence(caller, last, 2), ['B', 'B']);
  });

  void test(`wamp rpc - random spreads calls over every callee (${name})`, async () => {
    const tr = transport(name);
    const uri = `test.routing.shared.random.${tag(name)}`;
    await sharedCallees(tr, uri, 'random');
    const caller = await pool.autobahn(tr);
    const got = await Promise.all(Array.from({ length: 60 }, () => within(caller.session.call(uri), 5000, 'random call')));
    const counts = { A: 0, B: 0, C: 0 } as Record<string, number>;
    for (const g of got) counts[g as string] = (counts[g as string] ?? 0) + 1;
    assert.deepEqual(Object.keys(counts).sort(), ['A', 'B', 'C'], `only A, B, C answer: ${JSON.stringify(counts)}`);
    // P(some callee gets none of 60) = 3 * (2/3)^60 ~ 1e-10
    for (const [k, v] of Object.entries(counts)) assert.ok(v > 0, `${k} was never picked: ${JSON.stringify(counts)}`);
  });

  void test(`wamp rpc - a shared registration refuses a different policy and single refuses sharing (${name})`, async () => {
    const tr = transport(name);
    const a = await pool.autobahn(tr);
    const b = await pool.autobahn(tr);
    const shared = `test.routing.shared.mixed.${tag(name)}`;
    const single = `test.routing.shared.single.${tag(name)}`;
    await a.session.register(shared, () => 'a', { invoke: 'roundrobin' });
    for (const invoke of ['first', 'last', 'random']) {
      const e = await rejection(
        b.session.register(shared, () => 'b', { invoke }),
        5000,
        `register ${invoke} over roundrobin`,
      );
      assert.equal(errorUri(e), 'wamp.error.procedure_exists_with_different_invocation_policy', invoke);
    }
    assert.equal(
      errorUri(
        await rejection(
          b.session.register(shared, () => 'b'),
          5000,
          'single over roundrobin',
        ),
      ),
      'wamp.error.procedure_already_exists',
    );
    await a.session.register(single, () => 'a');
    assert.equal(
      errorUri(
        await rejection(
          b.session.register(single, () => 'b', { invoke: 'roundrobin' }),
          5000,
          'roundrobin over single',
        ),
      ),
      'wamp.error.procedure_already_exists',
    );
    // the same policy joins
    await within(
      b.session.register(shared, () => 'b', { invoke: 'roundrobin' }),
      5000,
      'join roundrobin',
    );
    assert.deepEqual(await callSequence(a, shared, 4), ['a', 'b', 'a', 'b']);
  });
}

for (const ser of WAMPY_SERIALIZERS) {
  void test(`wamp rpc - wampy callees share a roundrobin registration in rotation (websocket/${ser})`, async () => {
    const uri = `test.routing.shared.wampy.${ser}`;
    for (const label of ['A', 'B', 'C']) {
      const c = await pool.wampy(ser);
      await within(
        c.register(uri, () => ({ argsList: [label] }), { invoke: 'roundrobin' }),
        5000,
        `register ${label}`,
      );
    }
    const caller = await pool.wampy(ser);
    const got: unknown[] = [];
    for (let i = 0; i < 6; i++) got.push((await within(caller.call(uri), 5000, `call ${i + 1}`)).argsList?.[0]);
    assert.deepEqual(got, ['A', 'B', 'C', 'A', 'B', 'C']);
    const other = await pool.wampy(ser);
    assert.equal(
      errorUri(
        await rejection(
          other.register(uri, () => ({}), { invoke: 'last' }),
          5000,
          'different policy',
        ),
      ),
      'wamp.error.procedure_exists_with_different_invocation_policy',
    );
  });
}

// ----- concurrency (fox-wamp) -----

for (const name of TRANSPORTS) {
  void test(`wamp rpc - concurrency 1: one invocation in flight at a time, calls complete in order (${name})`, async () => {
    const tr = transport(name);
    const callee = await pool.autobahn(tr);
    const caller = await pool.autobahn(tr);
    const uri = `test.routing.concurrency.${tag(name)}`;
    let inflight = 0;
    let maxInflight = 0;
    const started: unknown[] = [];
    await callee.session.register(
      uri,
      async (args) => {
        inflight++;
        maxInflight = Math.max(maxInflight, inflight);
        started.push(args[0]);
        await pace(30); // the callee works a while: a second call arriving meanwhile would overlap
        inflight--;
        return args[0];
      },
      { concurrency: 1 },
    );
    const finished: unknown[] = [];
    const calls = [1, 2, 3].map((i) =>
      within(caller.session.call(uri, [i]), 5000, `call ${i}`).then((r) => {
        finished.push(r);
        return r;
      }),
    );
    assert.deepEqual(await Promise.all(calls), [1, 2, 3]);
    assert.equal(maxInflight, 1);
    assert.deepEqual(started, [1, 2, 3]);
    assert.deepEqual(finished, [1, 2, 3]);
  });
}

void test('wamp rpc - concurrency 2 with shared callees: each callee holds at most two, queued calls wait their turn', async () => {
  const tr = transport('websocket/msgpack');
  const caller = await pool.autobahn(tr);
  const uri = 'test.routing.concurrency.shared';
  const inflight = { A: 0, B: 0 } as Record<string, number>;
  const max = { A: 0, B: 0 } as Record<string, number>;
  const gate = deferred();
  let arrived = 0;
  const allStartedOnce = deferred();
  for (const label of ['A', 'B']) {
    const c = await pool.autobahn(tr);
    await c.session.register(
      uri,
      async (args) => {
        inflight[label] = (inflight[label] ?? 0) + 1;
        max[label] = Math.max(max[label] ?? 0, inflight[label] ?? 0);
        if (++arrived === 4) allStartedOnce.resolve();
        await gate.promise;
        await pace(5); // still busy after the gate opens: calls the router let through overlap
        inflight[label] = (inflight[label] ?? 1) - 1;
        return [label, args[0]];
      },
      { invoke: 'roundrobin', concurrency: 2 },
    );
  }
  const calls = Array.from({ length: 8 }, (_, i) => within(caller.session.call(uri, [i]), 5000, `call ${i}`));
  await within(allStartedOnce.promise, 5000, 'four invocations started');
  await expectQuiet(50);
  assert.equal(arrived, 4, 'only 2 x 2 invocations while both callees are full');
  gate.resolve();
  const results = (await Promise.all(calls)) as [string, number][];
  assert.deepEqual(
    results.map((r) => r[1]),
    [0, 1, 2, 3, 4, 5, 6, 7],
  );
  assert.equal(arrived, 8);
  assert.deepEqual(max, { A: 2, B: 2 });
});

void test('wamp rpc - concurrency must be a positive integer', async () => {
  const callee = await pool.raw({ callee: {} });
  for (const [i, bad] of [
    [1, 0],
    [2, -1],
    [3, 1.5],
    [4, 'two'],
  ] as const) {
    callee.send([64, i, { concurrency: bad }, `test.routing.concurrency.bad.${i}`]);
    const e = await callee.take((m) => m[0] === 8 && m[2] === i, 5000, `ERROR for concurrency ${String(bad)}`);
    assert.equal(e[4], 'wamp.error.invalid_argument', `concurrency ${String(bad)}`);
  }
});
