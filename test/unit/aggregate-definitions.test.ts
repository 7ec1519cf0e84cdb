/**
 * Aggregate definitions: the fixture loads; each kind of bad definition is refused with
 * the file and the JSON path of the field. And the key codec orders encoded keys like
 * their field tuples (property test), which paging and prefix queries rely on.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { DefinitionError, loadDefinitions } from '../../lib/aggregate/definitions';
import { encodeKey, prefixEnd } from '../../lib/aggregate/key-codec';
import { FIXTURE_DIR } from '../helpers/aggregate';

const sales = {
  name: 'sales',
  properties: { region: { type: 'string' }, total: { type: 'number' } },
  primary_key: 'region',
  aggregate: { total: 'sum' },
};
const orders = {
  name: 'orders',
  properties: { id: { type: 'integer' }, region: { type: 'string' }, amount: { type: 'number' }, note: { type: 'string' } },
  primary_key: ['id'],
  propagate: [{ to: 'sales', key: { region: 'region' }, fields: { total: 'amount' } }],
};

/** Writes the definitions to a fresh directory and loads it; returns the error. */
function loadError(files: Record<string, unknown>): DefinitionError {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-defs-'));
  try {
    for (const [name, content] of Object.entries(files))
      fs.writeFileSync(path.join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
    loadDefinitions(dir);
  } catch (err) {
    if (err instanceof DefinitionError) return err;
    throw err;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  assert.fail('the definitions loaded');
}

void test('aggregate definitions - the fixture (invoice/detail) loads with its topics and key types', () => {
  const defs = loadDefinitions(FIXTURE_DIR);
  assert.deepEqual([...defs.tables.keys()].sort(), ['customer', 'detail', 'invoice', 'product']);
  const detail = defs.tables.get('detail');
  assert.equal(detail?.topic, 'table.detail');
  assert.deepEqual(detail?.keyTypes, ['string', 'number']);
  assert.deepEqual(defs.tables.get('customer')?.primaryKey, ['customer']);
});

const cases: { name: string; files: Record<string, unknown>; file: string; path: string; text: RegExp }[] = [
  {
    name: 'not JSON',
    files: { 'sales.json': sales, 'orders.json': '{ "name": ' },
    file: 'orders.json',
    path: '/',
    text: /not valid JSON/,
  },
  {
    name: 'meta-schema: a field the schema does not know',
    files: { 'sales.json': { ...sales, sum: ['total'] } },
    file: 'sales.json',
    path: '/sum',
    text: /must NOT have additional properties/,
  },
  {
    name: 'meta-schema: an unknown function',
    files: { 'sales.json': { ...sales, aggregate: { total: 'median' } } },
    file: 'sales.json',
    path: '/aggregate/total',
    text: /must be equal to one of the allowed values/,
  },
  {
    name: 'meta-schema: a missing primary key',
    files: { 'sales.json': { name: 'sales', properties: sales.properties } },
    file: 'sales.json',
    path: '/primary_key',
    text: /must have required property/,
  },
  {
    name: 'primary key not a property',
    files: { 'sales.json': { ...sales, primary_key: 'area' } },
    file: 'sales.json',
    path: '/primary_key',
    text: /"area", which is not a property/,
  },
  {
    name: 'primary key of an unkeyable type',
    files: { 'sales.json': { ...sales, properties: { region: { type: 'object' }, total: { type: 'number' } } } },
    file: 'sales.json',
    path: '/primary_key',
    text: /string, integer or number/,
  },
  {
    name: 'propagate into no table',
    files: { 'orders.json': { ...orders, propagate: [{ ...orders.propagate[0], to: 'nowhere' }] } },
    file: 'orders.json',
    path: '/propagate/0/to',
    text: /names no table/,
  },
  {
    name: 'propagate into a source table',
    files: { 'orders.json': { ...orders, propagate: [{ ...orders.propagate[0], to: 'orders' }] } },
    file: 'orders.json',
    path: '/propagate/0/to',
    text: /source table/,
  },
  {
    name: 'key misses a target key field',
    files: {
      'sales.json': sales,
      'orders.json': { ...orders, propagate: [{ ...orders.propagate[0], key: { total: 'region' } }] },
    },
    file: 'orders.json',
    path: '/propagate/0/key',
    text: /must map "region"/,
  },
  {
    name: 'key from a missing source field',
    files: {
      'sales.json': sales,
      'orders.json': { ...orders, propagate: [{ ...orders.propagate[0], key: { region: 'area' } }] },
    },
    file: 'orders.json',
    path: '/propagate/0/key/region',
    text: /"area" is not a property of "orders"/,
  },
  {
    name: 'field that is not aggregated',
    files: {
      'sales.json': sales,
      'orders.json': { ...orders, propagate: [{ ...orders.propagate[0], fields: { count: 'id' } }] },
    },
    file: 'orders.json',
    path: '/propagate/0/fields/count',
    text: /not an aggregate field of "sales"/,
  },
  {
    name: 'sum of text',
    files: {
      'sales.json': sales,
      'orders.json': { ...orders, propagate: [{ ...orders.propagate[0], fields: { total: 'note' } }] },
    },
    file: 'orders.json',
    path: '/propagate/0/fields/total',
    text: /number or integer is needed/,
  },
  {
    name: 'aggregate of an undeclared field',
    files: { 'sales.json': { ...sales, aggregate: { total: 'sum', n: 'count' } } },
    file: 'sales.json',
    path: '/aggregate/n',
    text: /not a property/,
  },
  {
    name: 'duplicate table name',
    files: { 'a.json': sales, 'b.json': sales },
    file: 'b.json',
    path: '/name',
    text: /duplicates table "sales"/,
  },
  {
    name: 'a propagation cycle',
    files: {
      'a.json': {
        name: 'a',
        properties: { k: { type: 'string' }, n: { type: 'integer' } },
        primary_key: 'k',
        aggregate: { n: 'count' },
        propagate: [{ to: 'b', key: { k: 'k' }, fields: { n: 'n' } }],
      },
      'b.json': {
        name: 'b',
        properties: { k: { type: 'string' }, n: { type: 'integer' } },
        primary_key: 'k',
        aggregate: { n: 'count' },
        propagate: [{ to: 'a', key: { k: 'k' }, fields: { n: 'n' } }],
      },
    },
    file: 'b.json',
    path: '/propagate/0/to',
    text: /closes a propagation cycle/,
  },
];

for (const c of cases) {
  void test(`aggregate definitions - refused, naming file and field: ${c.name}`, () => {
    const err = loadError(c.files);
    assert.equal(path.basename(err.file), c.file);
    assert.equal(err.path === '' ? '/' : err.path, c.path);
    assert.match(err.message, c.text);
    assert.ok(err.message.startsWith(`aggregate definition ${err.file}: ${c.path} `), err.message);
  });
}

const keyPart = fc.oneof(
  fc.tuple(fc.constant<'string'>('string'), fc.string({ unit: 'binary', maxLength: 6 })),
  fc.tuple(fc.constant<'number'>('number'), fc.double({ noNaN: true })),
);

function compareTuples(a: [string, unknown][], b: [string, unknown][]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i]?.[1];
    const y = b[i]?.[1];
    if (typeof x === 'number' && typeof y === 'number') {
      const nx = x === 0 ? 0 : x; // -0 and 0 are one key
      const ny = y === 0 ? 0 : y;
      if (nx !== ny) return nx < ny ? -1 : 1;
    } else {
      const c = Buffer.compare(Buffer.from(String(x), 'utf8'), Buffer.from(String(y), 'utf8'));
      if (c !== 0) return c;
    }
  }
  return a.length - b.length;
}

void test('aggregate key codec - encoded keys sort like their field tuples; a prefix range holds exactly its keys', () => {
  fc.assert(
    fc.property(fc.array(keyPart, { minLength: 1, maxLength: 3 }), fc.array(keyPart, { minLength: 1, maxLength: 3 }), (a, b) => {
      // compare keys of one table: the same types, field by field
      const types = a.map((p) => p[0]);
      const bb = b.slice(0, types.length).map((p, i): [string, unknown] => (p[0] === types[i] ? p : (a[i] ?? p)));
      while (bb.length < types.length) bb.push(a[bb.length] as [string, unknown]);
      const ka = encodeKey(
        types,
        a.map((p) => p[1]),
      );
      const kb = encodeKey(
        types,
        bb.map((p) => p[1]),
      );
      assert.equal(Math.sign(Buffer.compare(ka, kb)), Math.sign(compareTuples(a, bb)));
      const prefix = encodeKey(types.slice(0, 1), [a[0]?.[1]]);
      const inRange = Buffer.compare(kb, prefix) >= 0 && Buffer.compare(kb, prefixEnd(prefix)) < 0;
      assert.equal(inRange, compareTuples(a.slice(0, 1), bb.slice(0, 1)) === 0);
    }),
    { numRuns: 2000 },
  );
});
