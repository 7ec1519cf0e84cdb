// KV key encoding for the JetStream engine (lib/store/jetstream/key-codec.ts): any
// canonical key becomes a valid NATS KV key and decodes back to itself, distinct keys
// stay distinct, and a prefix filter covers every key with that string prefix.
// Property-based (fast-check) over texts full of what NATS subjects refuse or reserve.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
// the client's own key check: what kv.put() would refuse
import { validateKey } from '@nats-io/kv/internal';
import { decodeKey, encodeKey, prefixFilter } from '../../lib/store/jetstream/key-codec';

const RUNS = { numRuns: 3000 };
const PIECES = ['.', '..', '*', '>', '=', '=3D', '=2E', ' ', '\t', '/', '$', 'a', 'Z', '0', '_', '-', 'é', '日本', '😀', '%'];
const keyText = fc
  .array(fc.oneof(fc.constantFrom(...PIECES), fc.string({ maxLength: 3 }), fc.string({ unit: 'grapheme', maxLength: 2 })), {
    maxLength: 8,
  })
  .map((p) => p.join(''));

/** the subject-filter match NATS applies: `*` one token, a trailing `>` one or more */
function subjectMatches(filter: string, subject: string): boolean {
  const f = filter.split('.');
  const s = subject.split('.');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '>') return s.length > i;
    if (i >= s.length || (f[i] !== '*' && f[i] !== s[i])) return false;
  }
  return f.length === s.length;
}

test('kv key codec - every key encodes to a valid NATS key and decodes back', () => {
  fc.assert(
    fc.property(keyText, (key) => {
      const encoded = encodeKey(key);
      validateKey(encoded);
      assert.equal(decodeKey(encoded), key);
    }),
    RUNS,
  );
});

test('kv key codec - distinct keys never collide', () => {
  fc.assert(
    fc.property(keyText, keyText, (a, b) => {
      fc.pre(a !== b);
      assert.notEqual(encodeKey(a), encodeKey(b));
    }),
    RUNS,
  );
});

test('kv key codec - the prefix filter covers every key that starts with the prefix', () => {
  fc.assert(
    fc.property(keyText, keyText, (prefix, rest) => {
      const filter = prefixFilter(prefix);
      // a filter is a key with a trailing `>` token
      assert(filter === '>' || filter.endsWith('.>'));
      if (filter !== '>') validateKey(filter.slice(0, -2));
      assert(subjectMatches(filter, encodeKey(prefix + rest)), `${filter} covers ${encodeKey(prefix + rest)}`);
    }),
    RUNS,
  );
});

test('kv key codec - plain components stay readable, others are escaped', () => {
  assert.equal(encodeKey('com.example.topic_1'), 'com.example.topic_1');
  assert.equal(encodeKey('a..b'), 'a.=.b');
  assert.equal(encodeKey('x.*.>'), 'x.=2A.=3E');
  assert.equal(encodeKey('k=v'), 'k=3Dv');
  assert.equal(encodeKey(''), '=');
});
