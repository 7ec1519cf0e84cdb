/**
 * The retained store over HTTP. Keys are canonical topics (WAMP form, a.b.c). Reads
 * and deletes are the store API's (lib/store-api.ts, the gatehouse.store.* procedures);
 * a write is a retained publish, so subscribers see it like any other.
 */
import type express from 'express';
import { Errors, RouterError } from '../../../lib/errors';
import type { Payload } from '../../../lib/payload';
import type { RetainOptions } from '../../../lib/retained';
import { storeDelete, storeGet, storeList } from '../../../lib/store-api';
import { isValidUri } from '../../../lib/topic';
import type { RequestScope } from '../request-session';
import { sendJson } from '../reply';
import { validated } from '../schemas';

export interface PutRequest {
  value: unknown;
  when?: unknown;
  ttl?: number;
}

function retainedOf(scope: RequestScope): NonNullable<RequestScope['realm']['retained']> {
  const r = scope.realm.retained;
  if (!r) throw new RouterError(Errors.featureNotSupported, 'this router has no retained store');
  return r;
}

function keyOf(req: express.Request): string {
  const key = req.params['key'];
  if (typeof key !== 'string' || !isValidUri(key)) throw new RouterError(Errors.invalidUri, `invalid key: ${String(key)}`);
  return key;
}

/** GET /store/{key} -> {key, value, revision, expiresAt?} or 404 */
export async function getKey(scope: RequestScope, req: express.Request, res: express.Response): Promise<void> {
  const key = keyOf(req);
  const entry = await storeGet(scope.realm, retainedOf(scope), scope.session, key);
  if (!entry) throw new RouterError(Errors.noSuchKey, `no such key: ${key}`);
  sendJson(res, 200, entry);
}

/** PUT /store/{key} {value, when?, ttl?} -> {revision}; a `when` that does not hold: 412 */
export async function putKey(scope: RequestScope, req: express.Request, res: express.Response): Promise<void> {
  const key = keyOf(req);
  const body = validated('StorePutRequest', req.body);
  const options: RetainOptions = { retain: true };
  if (body.when !== undefined) options.when = body.when;
  if (body.ttl !== undefined) options.ttl = body.ttl;
  const payload: Payload = body.value === null ? {} : { args: [body.value] };
  const ack = await scope.realm.publish(scope.session, key, payload, { ...options, retainFlag: true });
  sendJson(res, 200, { revision: ack.revision });
}

/** DELETE /store/{key} -> {revision} or 404 */
export async function deleteKey(scope: RequestScope, req: express.Request, res: express.Response): Promise<void> {
  const key = keyOf(req);
  const done = await storeDelete(scope.realm, retainedOf(scope), scope.session, key);
  if (!done) throw new RouterError(Errors.noSuchKey, `no such key: ${key}`);
  sendJson(res, 200, done);
}

/** GET /store?pattern=&match=&after=&limit= -> {entries, next} */
export async function listKeys(scope: RequestScope, req: express.Request, res: express.Response): Promise<void> {
  const q = req.query;
  const text = (k: string): string | undefined => (typeof q[k] === 'string' ? q[k] : undefined);
  const limitText = text('limit');
  const limit = limitText === undefined ? undefined : Number(limitText);
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0))
    throw new RouterError(Errors.invalidArgument, 'limit must be a positive integer');
  const pattern = text('pattern') ?? '';
  // a listing is of a key space: prefix unless told (the RPC's default is exact)
  const match = text('match') ?? 'prefix';
  const after = text('after');
  const page = await storeList(scope.realm, retainedOf(scope), scope.session, pattern, {
    match,
    ...(limit === undefined ? {} : { limit }),
    ...(after === undefined ? {} : { after }),
  });
  sendJson(res, 200, page);
}
