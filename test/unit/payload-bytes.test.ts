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
  for (const raw of [Buffer.from([0xff, 0x00, 0x7b]), Buffer.from('hello'), Buffer.from('{"broken"'), Buffer.from([0x7b, 0xc3, 0x28, 0x7d]), Buffer.alloc(0)]) {
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
