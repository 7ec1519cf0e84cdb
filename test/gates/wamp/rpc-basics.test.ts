// WAMP RPC basics with real clients: autobahn over every transport x serializer, wampy
// over WebSocket with each of its serializers, and the two libraries talking to each
// other. Call/register, args/kwargs, binary, application errors, the dealer's own
// errors, unregister. A call to no procedure from every transport is the scenario
// matrix's (test/scenarios/matrix.test.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { autobahn } from '../../helpers/autobahn';
import {
  asBytes,
  errorUri,
  jsonBytes,
  rejection,
  RPC_TRANSPORTS,
  rpcTestFile,
  WAMPY_SERIALIZERS,
  within,
} from '../../helpers/rpc-clients';

const TRANSPORTS = RPC_TRANSPORTS;

const { pool, transport } = rpcTestFile();

/** autobahn hands back a bare value for one positional result, a Result otherwise. */
function resultParts(r: unknown): { args: unknown[]; kwargs: Record<string, unknown> } {
  if (r instanceof autobahn.Result) {
    const x = r as { args: unknown[]; kwargs: Record<string, unknown> };
    return { args: x.args, kwargs: x.kwargs };
  }
  return { args: [r], kwargs: {} };
}

const SAMPLE_ARGS = [1, -2.5, 'zwölf ✓', null, true, [1, [2, { a: 'b' }]], 2 ** 53 - 1];
const SAMPLE_KWARGS = { name: 'gatehouse', nested: { list: [1, 2, 3], flag: false }, big: 2 ** 40 };

for (const name of TRANSPORTS) {
  void test(`wamp rpc - call delivers args and kwargs to the callee and the callee's result back (${name})`, async () => {
    const tr = transport(name);
    const callee = await pool.autobahn(tr);
    const caller = await pool.autobahn(tr);
    const seen: unknown[] = [];
    const uri = `test.basics.echo.${name.replace('/', '_')}`;
    await callee.session.register(uri, (args, kwargs) => {
      seen.push({ args, kwargs });
      return new autobahn.Result(['echo', ...args], { ...kwargs, by: 'callee' });
    });
    const r = resultParts(await within(caller.session.call(uri, SAMPLE_ARGS, SAMPLE_KWARGS), 5000, 'echo call'));
    assert.deepEqual(seen, [{ args: SAMPLE_ARGS, kwargs: SAMPLE_KWARGS }]);
    assert.deepEqual(r.args, ['echo', ...SAMPLE_ARGS]);
    assert.deepEqual(r.kwargs, { ...SAMPLE_KWARGS, by: 'callee' });

    // a single positional result and an empty call
    const uri2 = `${uri}.single`;
    await callee.session.register(uri2, (args, kwargs) => `got ${args.length} args, ${Object.keys(kwargs).length} kwargs`);
    assert.equal(await within(caller.session.call(uri2), 5000, 'empty call'), 'got 0 args, 0 kwargs');
  });

  void test(`wamp rpc - binary arguments and results arrive as the same bytes (${name})`, async () => {
    const tr = transport(name);
    const callee = await pool.autobahn(tr);
    const caller = await pool.autobahn(tr);
    const bytes = Buffer.from([0, 1, 2, 0xfe, 0xff, 0x80, 0x7f, 10, 13]);
    // WAMP JSON carries bytes as "\0" + base64; autobahn's JSON serializer leaves that to us
    const wire = (b: Buffer): unknown => (tr.binary ? b : jsonBytes(b));
    const uri = `test.basics.bytes.${name.replace('/', '_')}`;
    const got: unknown[] = [];
    await callee.session.register(uri, (args, kwargs) => {
      got.push(args[0], kwargs['blob']);
      const reversed = Buffer.from(asBytes(args[0]) ?? []).reverse();
      return new autobahn.Result([wire(reversed)], { len: asBytes(args[0])?.length });
    });
    const r = resultParts(
      await within(caller.session.call(uri, [wire(bytes)], { blob: wire(Buffer.from('hi')) }), 5000, 'bytes call'),
    );
    if (tr.binary) {
      assert.ok(got[0] instanceof Uint8Array, `callee got bytes, not ${typeof got[0]}`);
      assert.ok(r.args[0] instanceof Uint8Array, 'caller got bytes');
    }
    assert.deepEqual(asBytes(got[0]), bytes);
    assert.deepEqual(asBytes(got[1]), Buffer.from('hi'));
    assert.deepEqual(asBytes(r.args[0]), Buffer.from(bytes).reverse());
    assert.deepEqual(r.kwargs, { len: bytes.length });
  });

  void test(`wamp rpc - an application error reaches the caller with its URI, args and kwargs (${name})`, async () => {
    const tr = transport(name);
    const callee = await pool.autobahn(tr);
    const caller = await pool.autobahn(tr);
    const uri = `test.basics.fails.${name.replace('/', '_')}`;
    await callee.session.register(uri, (args) => {
      throw new autobahn.Error('com.app.error', ['bad input', args[0]], { code: 42, field: 'x' });
    });
    const e = (await rejection(caller.session.call(uri, [7]), 5000, 'failing call')) as {
      error: string;
      args: unknown[];
      kwargs: unknown;
    };
    assert.equal(errorUri(e), 'com.app.error');
    assert.deepEqual(e.args, ['bad input', 7]);
    assert.deepEqual(e.kwargs, { code: 42, field: 'x' });
    // the callee is still serving after an error
    await callee.session.register(`${uri}.ok`, () => 'fine');
    assert.equal(await within(caller.session.call(`${uri}.ok`), 5000, 'call after error'), 'fine');
  });

  void test(`wamp rpc - registering a procedure twice fails with procedure_already_exists (${name})`, async () => {
    const tr = transport(name);
    const first = await pool.autobahn(tr);
    const second = await pool.autobahn(tr);
    const uri = `test.basics.taken.${name.replace('/', '_')}`;
    await first.session.register(uri, () => 'first');
    const e = await rejection(
      second.session.register(uri, () => 'second'),
      5000,
      'second register',
    );
    assert.equal(errorUri(e), 'wamp.error.procedure_already_exists');
    // the first registration is untouched
    assert.equal(await within(second.session.call(uri), 5000, 'call'), 'first');
  });

  void test(`wamp rpc - after unregister calls fail and the URI is free again (${name})`, async () => {
    const tr = transport(name);
    const a = await pool.autobahn(tr);
    const b = await pool.autobahn(tr);
    const uri = `test.basics.moving.${name.replace('/', '_')}`;
    const reg = await a.session.register(uri, () => 'a');
    assert.equal(await within(b.session.call(uri), 5000, 'call a'), 'a');
    await within(reg.unregister(), 5000, 'unregister');
    assert.equal(errorUri(await rejection(b.session.call(uri), 5000, 'call after unregister')), 'wamp.error.no_such_procedure');
    await b.session.register(uri, () => 'b');
    assert.equal(await within(a.session.call(uri), 5000, 'call b'), 'b');
  });
}

// Peers on different serializers: bytes stay bytes (JSON "\0"+base64 <-> binary).
for (const [calleeName, callerName] of [
  ['websocket/json', 'websocket/msgpack'],
  ['websocket/msgpack', 'rawsocket/json'],
  ['websocket/cbor', 'websocket/json'],
  ['rawsocket/json', 'websocket/cbor'],
] as const) {
  void test(`wamp rpc - bytes cross serializers intact (callee ${calleeName}, caller ${callerName})`, async () => {
    const ct = transport(calleeName);
    const kt = transport(callerName);
    const callee = await pool.autobahn(ct);
    const caller = await pool.autobahn(kt);
    const uri = `test.basics.cross.${calleeName.replace('/', '_')}.${callerName.replace('/', '_')}`;
    const bytes = Buffer.from([0xde, 0xad, 0xbe, 0xef, 0, 0x41]);
    const got: unknown[] = [];
    await callee.session.register(uri, (args) => {
      got.push(args[0]);
      return ct.binary ? Buffer.from('pong') : jsonBytes(Buffer.from('pong'));
    });
    const r = await within(caller.session.call(uri, [kt.binary ? bytes : jsonBytes(bytes)]), 5000, 'cross call');
    if (ct.binary) assert.ok(got[0] instanceof Uint8Array, 'binary callee got bytes');
    else assert.equal(got[0], jsonBytes(bytes), 'JSON callee got "\\0"+base64');
    if (kt.binary) assert.ok(r instanceof Uint8Array, 'binary caller got bytes');
    else assert.equal(r, jsonBytes(Buffer.from('pong')), 'JSON caller got "\\0"+base64');
    assert.deepEqual(asBytes(got[0]), bytes);
    assert.deepEqual(asBytes(r), Buffer.from('pong'));
  });
}

for (const ser of WAMPY_SERIALIZERS) {
  void test(`wamp rpc - wampy call and register with args, kwargs and bytes (websocket/${ser})`, async () => {
    const callee = await pool.wampy(ser);
    const caller = await pool.wampy(ser);
    const uri = `test.basics.wampy.echo.${ser}`;
    const bytes = Buffer.from([9, 8, 7, 0, 255]);
    const wire = ser === 'json' ? jsonBytes(bytes) : bytes;
    const seen: unknown[] = [];
    await callee.register(uri, (inv) => {
      seen.push({ args: inv.argsList, kwargs: inv.argsDict });
      return { argsList: ['echo', ...(inv.argsList ?? [])], argsDict: { n: inv.argsList?.length } };
    });
    const r = await within(
      caller.call(uri, { argsList: [1, 'two', wire], argsDict: { k: [1, { x: null }] } }),
      5000,
      'wampy call',
    );
    assert.equal(seen.length, 1);
    const s = seen[0] as { args: unknown[]; kwargs: unknown };
    assert.deepEqual(s.args.slice(0, 2), [1, 'two']);
    assert.deepEqual(asBytes(s.args[2]), bytes);
    assert.deepEqual(s.kwargs, { k: [1, { x: null }] });
    assert.deepEqual(r.argsList?.slice(0, 3), ['echo', 1, 'two']);
    assert.deepEqual(asBytes(r.argsList?.[3]), bytes);
    assert.deepEqual(r.argsDict, { n: 3 });
  });

  void test(`wamp rpc - wampy application errors and dealer errors (websocket/${ser})`, async () => {
    const callee = await pool.wampy(ser);
    const other = await pool.wampy(ser);
    const caller = await pool.wampy(ser);
    const uri = `test.basics.wampy.fails.${ser}`;
    await callee.register(uri, () => {
      // wampy turns what it catches into an INVOCATION ERROR from its error, argsList, argsDict
      throw Object.assign(new Error('app failure'), { error: 'com.app.error', argsList: ['nope'], argsDict: { code: 7 } });
    });
    const e = (await rejection(caller.call(uri, [1]), 5000, 'wampy failing call')) as { argsList: unknown; argsDict: unknown };
    assert.equal(errorUri(e), 'com.app.error');
    assert.deepEqual(e.argsList, ['nope']);
    assert.deepEqual(e.argsDict, { code: 7 });

    assert.equal(
      errorUri(await rejection(caller.call(`${uri}.missing`), 5000, 'call to nowhere')),
      'wamp.error.no_such_procedure',
    );
    assert.equal(
      errorUri(
        await rejection(
          other.register(uri, () => 1),
          5000,
          'second register',
        ),
      ),
      'wamp.error.procedure_already_exists',
    );

    await within(callee.unregister(uri), 5000, 'unregister');
    assert.equal(errorUri(await rejection(caller.call(uri), 5000, 'call after unregister')), 'wamp.error.no_such_procedure');
    await other.register(uri, () => ({ argsList: ['other'] }));
    assert.deepEqual((await within(caller.call(uri), 5000, 'call other')).argsList, ['other']);
  });
}

void test('wamp rpc - unregistering a registration that is not yours or is gone fails with no_such_registration', async () => {
  const owner = await pool.raw();
  const stranger = await pool.raw();
  const regId = await owner.register(1, 'test.basics.raw.unregister');
  stranger.send([66, 2, regId]);
  const e1 = await stranger.take((m) => m[0] === 8 && m[2] === 2, 5000, 'ERROR for foreign UNREGISTER');
  assert.deepEqual(e1.slice(0, 5), [8, 66, 2, {}, 'wamp.error.no_such_registration']);
  owner.send([66, 3, regId]);
  assert.deepEqual(await owner.take((m) => m[1] === 3, 5000, 'UNREGISTERED'), [67, 3]);
  owner.send([66, 4, regId]);
  const e2 = await owner.take((m) => m[0] === 8 && m[2] === 4, 5000, 'ERROR for second UNREGISTER');
  assert.equal(e2[4], 'wamp.error.no_such_registration');
});

void test('wamp rpc - wampy and autobahn call each other across serializers', async () => {
  const ab = await pool.autobahn(transport('websocket/cbor'));
  const wp = await pool.wampy('msgpack');
  await ab.session.register(
    'test.basics.mixed.autobahn',
    (args, kwargs) => new autobahn.Result([args[0], 'from autobahn'], kwargs),
  );
  await wp.register('test.basics.mixed.wampy', (inv) => ({
    argsList: [inv.argsList?.[0], 'from wampy'],
    argsDict: inv.argsDict,
  }));
  const r1 = await within(
    wp.call('test.basics.mixed.autobahn', { argsList: [Buffer.from([1, 2])], argsDict: { k: 1 } }),
    5000,
    'wampy -> autobahn',
  );
  assert.deepEqual(asBytes(r1.argsList?.[0]), Buffer.from([1, 2]));
  assert.equal(r1.argsList?.[1], 'from autobahn');
  assert.deepEqual(r1.argsDict, { k: 1 });
  const r2 = resultParts(
    await within(ab.session.call('test.basics.mixed.wampy', [Buffer.from([3])], { k: 2 }), 5000, 'autobahn -> wampy'),
  );
  assert.deepEqual(asBytes(r2.args[0]), Buffer.from([3]));
  assert.equal(r2.args[1], 'from wampy');
  assert.deepEqual(r2.kwargs, { k: 2 });
});
