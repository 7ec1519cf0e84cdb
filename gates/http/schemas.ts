/**
 * The HTTP API's messages as JSON Schemas: the request schemas validate what callers
 * send (ajv, below), and the OpenAPI document (openapi.ts) is built from all of them, so
 * the API is described once.
 */
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import { Errors, RouterError } from '../../lib/errors';
import type { CallRequest } from './handlers/call';
import type { PublishRequest } from './handlers/publish';
import type { SubmitBody } from './handlers/requests';
import type { PutRequest } from './handlers/store';

type Schema = Record<string, unknown>;

const uris = { type: 'array', items: { type: 'string' } };
const ids = { type: 'array', items: { type: 'integer' } };
const args = { type: 'array', description: 'positional arguments (WAMP Arguments)' };
const kwargs = { type: 'object', description: 'keyword arguments (WAMP ArgumentsKw)' };

/** The WAMP PUBLISH.Options the HTTP API takes (README "Retained values and sync", "Publish options"). */
const publishOptions: Schema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    acknowledge: { type: 'boolean', description: 'accepted and ignored: an HTTP publish is always answered' },
    retain: { type: 'boolean', description: 'keep the value in the store' },
    when: { description: 'publish only if the stored value matches (null: the key is absent)' },
    watch: { type: 'boolean', description: 'with when: wait until it holds' },
    ttl: { type: 'number', exclusiveMinimum: 0, description: 'seconds until the retained value expires' },
    will: { description: 'refused: a request has no session whose loss would fire it' },
    exclude: ids,
    exclude_authid: uris,
    exclude_authrole: uris,
    eligible: ids,
    eligible_authid: uris,
    eligible_authrole: uris,
    exclude_me: { type: 'boolean' },
    disclose_me: { type: 'boolean' },
  },
};

export const schemas = {
  PublishRequest: {
    type: 'object',
    required: ['topic'],
    additionalProperties: false,
    properties: {
      topic: { type: 'string', minLength: 1, description: 'WAMP topic URI (a.b.c)' },
      args,
      kwargs,
      options: publishOptions,
    },
  },
  PublishResponse: {
    type: 'object',
    required: ['publication'],
    properties: {
      publication: { type: 'integer' },
      revision: { type: 'integer', description: 'the key revision of a store write (a fencing token)' },
    },
  },
  CallRequest: {
    type: 'object',
    required: ['procedure'],
    additionalProperties: false,
    properties: {
      procedure: { type: 'string', minLength: 1 },
      args,
      kwargs,
      options: {
        type: 'object',
        additionalProperties: false,
        properties: { timeout: { type: 'integer', minimum: 0, description: 'milliseconds; 0: none' } },
      },
    },
  },
  CallResponse: { type: 'object', properties: { args, kwargs } },
  StorePutRequest: {
    type: 'object',
    required: ['value'],
    additionalProperties: false,
    properties: {
      value: { description: 'the value to store (null deletes the key)' },
      when: { description: 'write only if the stored value matches (null: the key is absent); else 412' },
      ttl: { type: 'number', exclusiveMinimum: 0, description: 'seconds until the value expires' },
    },
  },
  StorePutResponse: { type: 'object', properties: { revision: { type: 'integer' } } },
  StoreEntry: {
    type: 'object',
    required: ['key', 'value', 'revision'],
    properties: {
      key: { type: 'string' },
      value: {},
      headers: { type: 'object' },
      revision: { type: 'integer' },
      expiresAt: { type: 'integer', description: 'ms since the epoch' },
    },
  },
  StoreList: {
    type: 'object',
    required: ['entries', 'next'],
    properties: {
      entries: { type: 'array', items: { $ref: '#/components/schemas/StoreEntry' } },
      next: { type: ['string', 'null'], description: 'pass as after= for the next page' },
    },
  },
  RequestSubmit: {
    type: 'object',
    required: ['procedure', 'destinations'],
    additionalProperties: false,
    properties: {
      procedure: { type: 'string', minLength: 1 },
      args,
      kwargs,
      destinations: {
        description:
          'authids of the callees to deliver to, or "all": the callees registered for the procedure when the request is submitted',
        oneOf: [{ type: 'array', minItems: 1, maxItems: 1000, items: { type: 'string', minLength: 1 } }, { const: 'all' }],
      },
      expires_in: {
        type: 'number',
        exclusiveMinimum: 0,
        maximum: 2_592_000,
        description: 'seconds; destinations without an outcome by then get gatehouse.error.expired (default 60)',
      },
      retries: {
        type: 'integer',
        minimum: 0,
        maximum: 100,
        description: 'how often a destination is tried again when its callee goes away mid-call (default 0)',
      },
    },
  },
  RequestSubmitted: { type: 'object', required: ['id'], properties: { id: { type: 'string' } } },
  RequestStatus: {
    type: 'object',
    required: ['status', 'replies'],
    properties: {
      status: { type: 'string', enum: ['pending', 'done'] },
      replies: {
        type: 'array',
        description: 'one per destination with an outcome: {destination, args, kwargs}, or {destination, error, args, kwargs}',
        items: {
          type: 'object',
          required: ['destination'],
          properties: { destination: { type: 'string' }, error: { type: 'string', description: 'the error URI' }, args, kwargs },
        },
      },
    },
  },
  Error: {
    type: 'object',
    required: ['error', 'message'],
    properties: {
      error: { type: 'string', description: 'the error URI' },
      args: { type: 'array' },
      kwargs: { type: 'object' },
      message: { type: 'string' },
    },
  },
} satisfies Record<string, Schema>;

export type SchemaName = keyof typeof schemas;

const ajv = new Ajv({ allErrors: false, strict: true, allowUnionTypes: true });

function compile(name: SchemaName): ValidateFunction {
  return ajv.compile(schemas[name]);
}

const validators = {
  PublishRequest: compile('PublishRequest'),
  CallRequest: compile('CallRequest'),
  StorePutRequest: compile('StorePutRequest'),
  RequestSubmit: compile('RequestSubmit'),
};

/** What each validator's schema admits, as its handler reads it. */
interface Bodies {
  PublishRequest: PublishRequest;
  CallRequest: CallRequest;
  StorePutRequest: PutRequest;
  RequestSubmit: SubmitBody;
}

/** Checks a request body; a mismatch is invalid_argument (400) naming the field. */
export function validated<N extends keyof typeof validators & keyof Bodies>(name: N, body: unknown): Bodies[N] {
  const validate = validators[name];
  if (!validate(body)) throw new RouterError(Errors.invalidArgument, describe(validate.errors?.[0]));
  return body as Bodies[N];
}

function describe(e: ErrorObject | undefined): string {
  if (!e) return 'invalid request';
  const where = e.instancePath === '' ? 'request body' : e.instancePath;
  const extra = e.keyword === 'additionalProperties' ? ` (${String(e.params['additionalProperty'])})` : '';
  return `${where} ${e.message ?? 'is invalid'}${extra}`;
}
