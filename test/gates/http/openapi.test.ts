// The OpenAPI document at /api/openapi.json: checked offline against what can be
// verified without an OpenAPI meta-schema package: its version, that every operation
// has responses, that every $ref resolves, that each component schema compiles with
// ajv, and that the request schemas it names are the ones that validate requests.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import Ajv from 'ajv';
import { api, startHttpRouter, type HttpTestRouter } from './helpers';

let r: HttpTestRouter;
before(async () => {
  r = await startHttpRouter();
});
after(() => r.close());

type Json = Record<string, unknown>;

/** The parts of an OpenAPI 3.x document this test relies on (OpenAPI 3.1 §4.8). */
const documentShape = {
  type: 'object',
  required: ['openapi', 'info', 'paths', 'components'],
  properties: {
    openapi: { type: 'string', pattern: '^3\\.\\d+\\.\\d+$' },
    info: {
      type: 'object',
      required: ['title', 'version'],
      properties: { title: { type: 'string' }, version: { type: 'string' } },
    },
    paths: {
      type: 'object',
      propertyNames: { pattern: '^/' },
      additionalProperties: {
        type: 'object',
        propertyNames: {
          enum: ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace', 'parameters', 'summary', 'description'],
        },
        additionalProperties: {
          type: 'object',
          required: ['responses'],
          properties: {
            responses: {
              type: 'object',
              minProperties: 1,
              propertyNames: { pattern: '^([1-5][0-9]{2}|default)$' },
              additionalProperties: { type: 'object', required: ['description'] },
            },
            requestBody: { type: 'object', required: ['content'] },
            parameters: {
              type: 'array',
              items: {
                type: 'object',
                required: ['name', 'in'],
                properties: { in: { enum: ['query', 'header', 'path', 'cookie'] } },
              },
            },
          },
        },
      },
    },
    components: { type: 'object', properties: { schemas: { type: 'object' } } },
  },
};

function refs(v: unknown, out: string[] = []): string[] {
  if (Array.isArray(v)) for (const x of v) refs(x, out);
  else if (typeof v === 'object' && v !== null) {
    for (const [k, x] of Object.entries(v)) {
      if (k === '$ref' && typeof x === 'string') out.push(x);
      else refs(x, out);
    }
  }
  return out;
}

function resolve(doc: Json, ref: string): unknown {
  assert.ok(ref.startsWith('#/'), `local ref ${ref}`);
  let at: unknown = doc;
  for (const part of ref.slice(2).split('/')) at = (at as Json | undefined)?.[part];
  return at;
}

it('http - openapi.json is an OpenAPI 3 document whose operations have responses and whose refs and schemas are valid', async () => {
  const res = await api(`${r.apiUrl}/openapi.json`);
  assert.equal(res.status, 200);
  const doc = res.body;
  const ajv = new Ajv({ strict: false, allErrors: true });
  const validShape = ajv.compile(documentShape);
  assert.ok(validShape(doc), JSON.stringify(validShape.errors));
  assert.match(doc['openapi'] as string, /^3\./);
  const paths = doc['paths'] as Record<string, Record<string, Json>>;
  assert.deepEqual(Object.keys(paths).sort(), [
    '/call',
    '/publish',
    '/requests',
    '/requests/{id}',
    '/store',
    '/store/{key}',
    '/subscribe',
  ]);
  for (const ref of refs(doc)) assert.ok(resolve(doc, ref) !== undefined, `${ref} resolves`);
  // every component schema is a JSON Schema ajv compiles (refs between them resolved)
  const schemas = (doc['components'] as Json)['schemas'] as Record<string, Json>;
  const compiler = new Ajv({ strict: false, allowUnionTypes: true });
  compiler.addSchema({ components: { schemas } }, 'doc');
  for (const name of Object.keys(schemas)) assert.doesNotThrow(() => compiler.getSchema(`doc#/components/schemas/${name}`), name);
  // request bodies reference those schemas, and they are the ones requests are checked with
  for (const [path, ops] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const body = op['requestBody'] as Json | undefined;
      if (!body) continue;
      const schema = ((body['content'] as Json)['application/json'] as Json)['schema'] as Json;
      const ref = String(schema['$ref']);
      assert.ok(resolve(doc, ref), `${method} ${path} body ${ref}`);
      const validate = compiler.getSchema(`doc${ref}`);
      assert.ok(validate, ref);
      assert.equal(validate({}), false, `${method} ${path}: an empty body is refused by ${ref}`);
    }
  }
  const publishSchema = compiler.getSchema('doc#/components/schemas/PublishRequest');
  assert.ok(publishSchema?.({ topic: 'a.b', args: [1], options: { retain: true } }));
  const refused = await api(`${r.apiUrl}/publish`, { body: { topic: 'a.b', args: 'not a list' } });
  assert.equal(publishSchema?.({ topic: 'a.b', args: 'not a list' }), false);
  assert.equal(refused.status, 400, 'the router refuses what the document refuses');
});
