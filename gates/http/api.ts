/**
 * The HTTP API as an Express router (README "HTTP API"): JSON in and out, the same
 * authentication and authorization as every gate, errors from the catalogue as
 * `{error, args, kwargs, message}` with its HTTP status.
 */
import express from 'express';
import { Errors, RouterError } from '../../lib/errors';
import { parseExact } from '../../lib/json-exact';
import type { HttpGateContext } from './context';
import { call } from './handlers/call';
import { publish } from './handlers/publish';
import { getRequest, submitRequest } from './handlers/requests';
import { deleteKey, getKey, listKeys, putKey } from './handlers/store';
import { subscribe } from './handlers/subscribe';
import { openApiDocument } from './openapi';
import { requestScope, type RequestScope } from './request-session';
import { asFailure, sendFailure, sendJson } from './reply';

type Handler = (scope: RequestScope, req: express.Request, res: express.Response) => Promise<void>;

export function httpApiRouter(ctx: HttpGateContext, basePath: string): express.Router {
  const router = express.Router();
  // any content type (curl -d sends form-urlencoded): the body is read as JSON, with the
  // one JSON rule of every gate (integers past 2^53 exact)
  const body = express.text({ type: () => true, limit: ctx.config.limits.maxMessageSize });
  const json: express.RequestHandler = (req, _res, next) => {
    const text: unknown = req.body;
    if (typeof text !== 'string' || text === '') {
      next(new RouterError(Errors.invalidArgument, 'a JSON request body is required'));
      return;
    }
    try {
      req.body = parseExact(text);
    } catch (err) {
      next(new RouterError(Errors.invalidArgument, `invalid JSON: ${err instanceof Error ? err.message : String(err)}`));
      return;
    }
    next();
  };
  const handle =
    (h: Handler): express.RequestHandler =>
    (req, res) => {
      ctx.counters.in(Number(req.headers['content-length'] ?? 0));
      requestScope(ctx, req)
        .then((scope) => h(scope, req, res))
        .catch((err: unknown) => {
          const failure = asFailure(err);
          ctx.counters.errors(failure instanceof RouterError ? failure.def.code : 'application');
          sendFailure(res, failure);
        });
    };

  const document = openApiDocument(basePath);
  router.get('/openapi.json', (_req, res) => {
    sendJson(res, 200, document);
  });
  router.post('/publish', body, json, handle(publish));
  router.post('/call', body, json, handle(call));
  router.post('/requests', body, json, handle(submitRequest));
  router.get('/requests/:id', handle(getRequest));
  router.get(
    '/subscribe',
    handle((scope, req, res) => subscribe(ctx, scope, req, res)),
  );
  router.get('/store', handle(listKeys));
  router.get('/store/:key', handle(getKey));
  router.put('/store/:key', body, json, handle(putKey));
  router.delete('/store/:key', handle(deleteKey));
  // body-parser's errors (too large, bad encoding) and ours from `json`
  router.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    if (err instanceof RouterError) {
      sendFailure(res, err);
      return;
    }
    const type = (err as { type?: unknown }).type;
    if (type === 'entity.too.large') {
      sendFailure(
        res,
        new RouterError(
          Errors.payloadSizeExceeded,
          `request body over limits.maxMessageSize (${ctx.config.limits.maxMessageSize} bytes)`,
        ),
      );
      return;
    }
    sendFailure(res, new RouterError(Errors.invalidArgument, err instanceof Error ? err.message : String(err)));
  });
  return router;
}
