/**
 * The OpenAPI 3.1 document of the HTTP API, built from the JSON Schemas that validate
 * its requests (schemas.ts): the description cannot drift from what is checked.
 */
import { schemas, type SchemaName } from './schemas';

type Json = Record<string, unknown>;

const ref = (name: SchemaName): Json => ({ $ref: `#/components/schemas/${name}` });
const json = (name: SchemaName): Json => ({ content: { 'application/json': { schema: ref(name) } } });
const error = (description: string): Json => ({ description, ...json('Error') });
const body = (name: SchemaName): Json => ({ required: true, ...json(name) });

/** The failures every endpoint may answer (README "HTTP API", the error catalogue lib/errors.ts). */
const common: Json = {
  '400': error('invalid JSON, or a request its schema refuses (wamp.error.invalid_argument, wamp.error.invalid_uri)'),
  '401': error('missing or wrong credentials (wamp.error.authentication_failed)'),
  '403': error('not authorized (wamp.error.not_authorized)'),
  '404': error('no such realm'),
  '429': error('too many failed logins, or a limit'),
  '503': error('the router is shutting down'),
};

const realmParam: Json = {
  name: 'realm',
  in: 'query',
  required: false,
  schema: { type: 'string' },
  description: 'the realm (else the Gatehouse-Realm header, else defaultRealm)',
};
const keyParam: Json = {
  name: 'key',
  in: 'path',
  required: true,
  schema: { type: 'string' },
  description: 'a topic URI (a.b.c)',
};

/** the version of the API this document describes (not the package's) */
const API_VERSION = '1.0.0';

export function openApiDocument(basePath: string): Json {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Gatehouse HTTP API',
      version: API_VERSION,
      description: 'Publish, call, the retained store and Server-Sent Events subscriptions of a Gatehouse router.',
    },
    servers: [{ url: basePath }],
    security: [{ basic: [] }, { bearer: [] }, {}],
    paths: {
      '/publish': {
        post: {
          operationId: 'publish',
          summary: 'Publish an event (WAMP PUBLISH options)',
          parameters: [realmParam],
          requestBody: body('PublishRequest'),
          responses: {
            '200': { description: 'routed (store writes: committed)', ...json('PublishResponse') },
            '412': error('a `when` condition does not hold'),
            ...common,
          },
        },
      },
      '/call': {
        post: {
          operationId: 'call',
          summary: 'Call a procedure',
          parameters: [realmParam],
          requestBody: body('CallRequest'),
          responses: {
            '200': { description: 'the result', ...json('CallResponse') },
            '500': error('the callee answered with an error (its URI is kept)'),
            '504': error('the call timed out'),
            ...common,
          },
        },
      },
      '/store': {
        get: {
          operationId: 'storeList',
          summary: 'List stored keys, one page at a time',
          parameters: [
            realmParam,
            { name: 'pattern', in: 'query', required: false, schema: { type: 'string' } },
            { name: 'match', in: 'query', required: false, schema: { type: 'string', enum: ['exact', 'prefix', 'wildcard'] } },
            { name: 'after', in: 'query', required: false, schema: { type: 'string' } },
            { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 1000 } },
          ],
          responses: { '200': { description: 'a page of entries', ...json('StoreList') }, ...common },
        },
      },
      '/store/{key}': {
        get: {
          operationId: 'storeGet',
          summary: 'Read a key',
          parameters: [keyParam, realmParam],
          responses: {
            '200': { description: 'the entry', ...json('StoreEntry') },
            ...common,
            '404': error('no such key or realm'),
          },
        },
        put: {
          operationId: 'storePut',
          summary: 'Write a key (a retained publish)',
          parameters: [keyParam, realmParam],
          requestBody: body('StorePutRequest'),
          responses: {
            '200': { description: 'written', ...json('StorePutResponse') },
            '412': error('the `when` condition does not hold'),
            ...common,
          },
        },
        delete: {
          operationId: 'storeDelete',
          summary: 'Delete a key',
          parameters: [keyParam, realmParam],
          responses: {
            '200': { description: 'deleted', ...json('StorePutResponse') },
            ...common,
            '404': error('no such key or realm'),
          },
        },
      },
      '/requests': {
        post: {
          operationId: 'requestSubmit',
          summary: 'Submit a durable request (one outcome per destination)',
          parameters: [realmParam],
          requestBody: body('RequestSubmit'),
          responses: {
            '202': { description: 'stored', ...json('RequestSubmitted') },
            ...common,
            '404': error('"all" found no callee, or no such realm'),
          },
        },
      },
      '/requests/{id}': {
        get: {
          operationId: 'requestGet',
          summary: "A durable request's outcomes (a long poll with wait)",
          parameters: [
            { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
            realmParam,
            {
              name: 'wait',
              in: 'query',
              required: false,
              schema: { type: 'number', minimum: 0, maximum: 300 },
              description: 'seconds to wait for the request to be done',
            },
          ],
          responses: {
            '200': { description: 'its status and the outcomes so far', ...json('RequestStatus') },
            ...common,
            '404': error('no such request or realm'),
          },
        },
      },
      '/subscribe': {
        get: {
          operationId: 'subscribe',
          summary: 'Subscribe: a Server-Sent Events stream, one event per publication',
          parameters: [
            realmParam,
            { name: 'topic', in: 'query', required: true, schema: { type: 'string' } },
            { name: 'match', in: 'query', required: false, schema: { type: 'string', enum: ['exact', 'prefix', 'wildcard'] } },
          ],
          responses: {
            '200': {
              description: 'events: `id:` the publication id, `data:` {args, kwargs}',
              content: { 'text/event-stream': { schema: { type: 'string' } } },
            },
            ...common,
          },
        },
      },
    },
    components: {
      schemas,
      securitySchemes: {
        basic: { type: 'http', scheme: 'basic', description: 'a user of auth.users' },
        bearer: { type: 'http', scheme: 'bearer', description: 'a WAMP ticket; its authid in the Gatehouse-Authid header' },
      },
    },
  };
}
