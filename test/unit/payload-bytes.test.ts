import assert from 'node:assert/strict';
import { test } from 'node:test';
import { valueOf } from '../../lib/condition';
import { payloadFromBytes } from '../../lib/payload-bytes';
import { decodePayload, encodePayload } from '../../lib/store/codec';

test('payload bytes - a JSON document reads as args [value], parsed once', () => {
  const p = payloadFromBytes(Buffer.from(' {"a":[1,2],"b":"x"}'));
  assert.deepEqual(p.args, [{ a: [1, 2], b: 'x' }]);
  assert.equal(p.args, p.args, 'the parsed value is cached');
  assert.deepEqual(valueOf(p), { a: [1, 2], b: 'x' });
});

test('payload bytes - bytes that are not JSON stay bytes and are never parsed', () => {
  for (const raw of [
    Buffer.from([0xff, 0x00, 0x7b]),
    Buffer.from('hello'),
    Buffer.from('{"broken"'),
    Buffer.from([0x7b, 0xc3, 0x28, 0x7d]),
    Buffer.alloc(0),
  ]) {
    const p = payloadFromBytes(raw);
    assert.equal(p.args, undefined, `no args for ${raw.toString('hex')}`);
    assert.equal(p.bytes, raw);
  }
});

test('payload bytes - copies and the store keep the exact bytes, not the parsed twin', () => {
  const raw = Buffer.from('{"n": 1.50}');
  const p = payloadFromBytes(raw);
  assert.deepEqual(Object.keys({ ...p }), ['bytes']);
  const back = decodePayload(encodePayload(p));
  assert.deepEqual(Buffer.from(back.bytes ?? []), raw);
  assert.deepEqual(back.args, [{ n: 1.5 }], 'a stored byte payload gets its JSON view back');
});

test('payload bytes - integers past 2^53 in a JSON body read as exact bigint', () => {
  const p = payloadFromBytes(
    Buffer.from('{"n":9007199254740993,"m":[9223372036854775807,-9007199254740993],"s":9007199254740991}'),
  );
  assert.deepEqual(p.args, [{ n: 9007199254740993n, m: [2n ** 63n - 1n, -9007199254740993n], s: 9007199254740991 }]);
});

test('payload bytes - a text content type reads as a string, whatever it looks like', () => {
  for (const ct of ['text/plain', 'text/plain; charset=utf-8', 'TEXT/CSV;charset="UTF-8"']) {
    assert.deepEqual(payloadFromBytes(Buffer.from('21.5 C'), { contentType: ct }).args, ['21.5 C'], ct);
    assert.deepEqual(
      payloadFromBytes(Buffer.from('21.5'), { contentType: ct }).args,
      ['21.5'],
      `${ct}: JSON-looking text stays text`,
    );
  }
  // not UTF-8, or another charset: bytes
  assert.equal(payloadFromBytes(Buffer.from([0x6f, 0xff]), { contentType: 'text/plain' }).args, undefined);
  assert.equal(payloadFromBytes(Buffer.from('on'), { contentType: 'text/plain; charset=iso-8859-1' }).args, undefined);
});

test('payload bytes - the MQTT 5 payload format indicator reads JSON as JSON, other UTF-8 as a string', () => {
  assert.deepEqual(payloadFromBytes(Buffer.from('on'), { utf8: true }).args, ['on']);
  assert.deepEqual(payloadFromBytes(Buffer.from('{"a":1}'), { utf8: true }).args, [{ a: 1 }]);
  assert.equal(payloadFromBytes(Buffer.from([0xc3, 0x28]), { utf8: true }).args, undefined);
  assert.equal(payloadFromBytes(Buffer.from('on'), { utf8: false }).args, undefined);
  assert.equal(payloadFromBytes(Buffer.from('on'), { utf8: true, contentType: 'application/json' }).args, undefined);
});

test('payload bytes - a stored text body is read as text again from its headers', () => {
  const p = payloadFromBytes(Buffer.from('on'), { contentType: 'text/plain' });
  assert.deepEqual(Object.keys({ ...p }), ['bytes']);
  const back = decodePayload(encodePayload(p), { contentType: 'text/plain' });
  assert.deepEqual(back.args, ['on']);
});
