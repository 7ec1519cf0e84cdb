// Cluster RPC's wire format (lib/cluster/rpc/wire.ts): what one node sends another comes
// out as the same payload, error and registration id on the other side.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApplicationError, Errors, RouterError } from '../../lib/errors';
import { payloadFromBytes } from '../../lib/payload-bytes';
import { registrationIdOf } from '../../lib/cluster/rpc/registration-ids';
import { decodeObject, encode, failureOf, payloadOf, token, wireError, wirePayload } from '../../lib/cluster/rpc/wire';
import type { Payload } from '../../lib/payload';

function across(p: Payload): Payload | undefined {
  return payloadOf(decodeObject(encode({ payload: wirePayload(p) }))?.['payload']);
}

void test('cluster rpc wire - args and kwargs with binary, nested values, 2^53 - 1 and a bigint cross unchanged', () => {
  const bytes = new Uint8Array([0, 1, 2, 254, 255]);
  const p: Payload = {
    args: [1, 'two', bytes, { n: null, deep: [true, 2 ** 53 - 1] }, 2n ** 63n - 1n],
    kwargs: { b: bytes, s: 'x' },
  };
  const out = across(p);
  assert.deepEqual(out?.args?.slice(0, 2), [1, 'two']);
  assert.deepEqual(Buffer.from(out?.args?.[2] as Uint8Array), Buffer.from(bytes));
  assert.deepEqual(out?.args?.[3], { n: null, deep: [true, 2 ** 53 - 1] });
  assert.equal(out?.args?.[4], 2n ** 63n - 1n);
  assert.deepEqual(Buffer.from(out?.kwargs?.['b'] as Uint8Array), Buffer.from(bytes));
});

void test('cluster rpc wire - a body keeps how it reads: JSON, MQTT 5 UTF-8 text, text/* content type', () => {
  const json = across(payloadFromBytes(Buffer.from('[1,2]')));
  assert.deepEqual(json?.args, [[1, 2]]);
  const utf8 = across(payloadFromBytes(Buffer.from('hello, world'), { utf8: true }));
  assert.deepEqual(utf8?.args, ['hello, world']);
  const text = across(payloadFromBytes(Buffer.from('[not parsed]'), { contentType: 'text/plain' }));
  assert.deepEqual(text?.args, ['[not parsed]']);
  const opaque = across(payloadFromBytes(Buffer.from([0xff, 0x00])));
  assert.equal(opaque?.args, undefined);
  assert.deepEqual(Buffer.from(opaque?.bytes ?? []), Buffer.from([0xff, 0x00]));
});

void test('cluster rpc wire - router errors keep their catalogue entry, application errors their URI and arguments', () => {
  const r = failureOf(decodeObject(encode({ e: wireError(new RouterError(Errors.timeout, 'call timed out')) }))?.['e']);
  assert.ok(r instanceof RouterError);
  assert.equal(r.def, Errors.timeout);
  const a = failureOf(decodeObject(encode({ e: wireError(new ApplicationError('com.example.oops', [1], { k: 'v' })) }))?.['e']);
  assert.ok(a instanceof ApplicationError);
  assert.deepEqual([a.uri, a.args, a.kwargs], ['com.example.oops', [1], { k: 'v' }]);
  assert.equal(failureOf('garbage').uri, Errors.internal.wamp);
});

void test('cluster rpc wire - undecodable or ill-typed input is refused, not trusted', () => {
  assert.equal(decodeObject(new Uint8Array([0x81])), undefined, 'a truncated map');
  assert.equal(decodeObject(encode([1, 2])), undefined, 'not an object');
  assert.equal(payloadOf({ args: 'not a list' }), undefined);
  assert.equal(payloadOf({ bytes: 'not bytes' }), undefined);
});

void test('cluster rpc wire - node ids become one subject token; registration ids are the same for the same procedure, in [1, 2^53]', () => {
  assert.equal(token('node-1'), 'node-1');
  assert.ok(!/[.*> ]/.test(token('a.b*c >d')), token('a.b*c >d'));
  assert.notEqual(token('a.b'), token('a_b'));
  const id = registrationIdOf('realm1', 'com.example.add', 'exact');
  assert.equal(id, registrationIdOf('realm1', 'com.example.add', 'exact'));
  assert.notEqual(id, registrationIdOf('realm1', 'com.example.add', 'prefix'));
  assert.notEqual(id, registrationIdOf('realm2', 'com.example.add', 'exact'));
  assert.ok(Number.isSafeInteger(id) && id >= 1 && id <= 2 ** 53);
});
