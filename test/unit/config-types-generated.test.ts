/**
 * lib/config-types.ts is generated from schemas/config.schema.json (issue 18: the Config
 * type has one source). This fails when the committed file is not what the generator
 * makes of the schema now: after a schema change, run `npm run gen:config-types`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { generateConfigTypes, REPO, SCHEMA_FILE, TYPES_FILE, type SchemaNode } from '../../scripts/gen-config-types';

const schema = (): SchemaNode => JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as SchemaNode;

test('config types - the committed lib/config-types.ts is what the schema generates (npm run gen:config-types)', async () => {
  const generated = await generateConfigTypes(schema(), REPO);
  const committed = readFileSync(TYPES_FILE, 'utf8');
  assert.ok(generated === committed, 'lib/config-types.ts is stale: run `npm run gen:config-types` and commit it');
});

test('config types - an option added to the schema appears in the type, required when it has a default', async () => {
  const s = schema();
  const mqtt = s.properties?.mqtt;
  assert.ok(mqtt?.properties);
  mqtt.properties.newLimit = { description: 'A new option.', type: 'integer', minimum: 0, default: 5 } as SchemaNode;
  mqtt.properties.newName = { type: ['string', 'null'] };
  mqtt.properties.newMode = { anyOf: [{ type: 'integer' }, { const: 'auto' }], default: 'auto' };
  const text = await generateConfigTypes(s, REPO);
  assert.match(text, /\/\*\* A new option\. \*\/\n\s+newLimit: number;/);
  assert.match(text, /\n\s+newName\?: string \| null;/);
  assert.match(text, /\n\s+newMode: number \| 'auto';/);
});

test('config types - a keyword the generator does not know is refused, not guessed', async () => {
  const s = schema();
  const log = s.properties?.log;
  assert.ok(log?.properties);
  log.properties.extra = { type: 'string', not: { const: '' } } as SchemaNode;
  await assert.rejects(generateConfigTypes(s, REPO), /properties\/log\/properties\/extra: unsupported keyword not/);
});

test('config types - one title, one type: a title used for two different shapes is refused', async () => {
  const s = schema();
  const tls = s.properties?.mqtt?.properties?.tls;
  assert.ok(tls);
  tls.title = 'TlsConfig'; // http.tls's title; mqtt.tls has host and port besides
  await assert.rejects(generateConfigTypes(s, REPO), /title TlsConfig is also/);
});
