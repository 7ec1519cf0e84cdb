import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hasDigitRun16, parseExact, stringifyExact } from '../../lib/json-exact';
import { payloadToBody } from '../../lib/payload-body';

test('json exact - a bigint is written as a JSON number with all its digits', () => {
  assert.equal(
    stringifyExact([9007199254740993n, { n: 2n ** 63n - 1n }, -(2n ** 63n)]),
    '[9007199254740993,{"n":9223372036854775807},-9223372036854775808]',
  );
  assert.equal(payloadToBody({ args: [9007199254740993n] }).body.toString(), '9007199254740993');
  assert.equal(
    payloadToBody({ kwargs: { n: 2n ** 64n - 1n, b: Buffer.from([1]) } }).body.toString(),
    '{"n":18446744073709551615,"b":"\\u0000AQ=="}',
  );
});

test('json exact - -0, 1.0, 1e400, NaN and duplicate keys are read as JSON.parse reads them', () => {
  for (const text of ['-0', '1.0', '1e400', '{"a":1,"a":2}', '[-0,1.0,1e400,{"a":1,"a":2}]', '{"__proto__":{"x":1}}']) {
    assert.deepEqual(parseExact(text), JSON.parse(text), text);
    assert.deepEqual(
      parseExact(`[${text},9007199254740993]`),
      [JSON.parse(text), 9007199254740993n],
      `${text} on the exact path`,
    );
  }
  assert.throws(() => parseExact('NaN'), SyntaxError);
  assert.equal(stringifyExact([-0, 1.0, Infinity, NaN]), '[0,1,null,null]');
});

test('json exact - only integer literals past 2^53 that fit 64 bits become bigint', () => {
  assert.deepEqual(
    parseExact(
      '[9007199254740992,9007199254740993,-9007199254740993,18446744073709551615,18446744073709551616,9007199254740993.5,90071992547409930e-1,"9007199254740993"]',
    ),
    [
      2 ** 53,
      9007199254740993n,
      -9007199254740993n,
      2n ** 64n - 1n,
      2 ** 64,
      Number('9007199254740993.5'),
      Number('9007199254740993'),
      '9007199254740993',
    ],
  );
});

test('json exact - the exact reader agrees with JSON.parse on random documents', () => {
  let seed = 7;
  const next = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const value = (d: number): unknown => {
    const r = next();
    if (d > 3 || r < 0.4)
      return [null, true, 'a"\\\u00e9\u2028', Math.floor((next() - 0.5) * 1e15), next() * 1e-7, ''][Math.floor(next() * 6)];
    if (r < 0.7) return Array.from({ length: Math.floor(next() * 4) }, () => value(d + 1));
    const o: Record<string, unknown> = {};
    for (let i = Math.floor(next() * 4); i > 0; i--) o['k' + String(Math.floor(next() * 5))] = value(d + 1);
    return o;
  };
  for (let i = 0; i < 500; i++) {
    const v = value(0);
    const text = JSON.stringify([v, 1234567890123456]).replace(/,/g, ' ,\n ');
    assert.deepEqual(parseExact(text), JSON.parse(text), text);
  }
});

test('json exact - the 16-digit run check agrees with /[0-9]{16}/', () => {
  let seed = 11;
  const next = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let k = 0; k < 20000; k++) {
    let s = '';
    for (let i = Math.floor(next() * 60); i > 0; i--)
      s += next() < 0.85 ? String(Math.floor(next() * 10)) : next() < 0.5 ? ',' : 'a';
    assert.equal(hasDigitRun16(s), /[0-9]{16}/.test(s), s);
  }
});

test('json exact - a huge integer literal is read as JSON.parse reads it, at once', () => {
  // BigInt() of these takes about a second; Number() a few milliseconds
  const digits = '9'.repeat(1_500_000);
  const started = Date.now();
  assert.deepEqual(parseExact(`[${digits},-${digits}]`), [Infinity, -Infinity]);
  assert.ok(Date.now() - started < 400, `no BigInt of 1,500,000 digits (${Date.now() - started} ms)`);
  assert.deepEqual(parseExact('[100000000000000000000,-10000000000000000000]'), [1e20, -1e19]);
});
