import type express from 'express';
import { Errors, RouterError, type CallFailure } from '../../../lib/errors';
import type { Payload } from '../../../lib/payload';
import type { RequestScope } from '../request-session';
import { sendFailure, sendJson } from '../reply';
import { validated } from '../schemas';

export interface SubmitBody {
  procedure: string;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  destinations: string[] | 'all';
  expires_in?: number;
  retries?: number;
}

/**
 * POST /requests -> 202 {id}; GET /requests/{id}?wait=<s> -> {status, replies} (README
 * "Durable requests"). Both go through the router procedures gatehouse.request.submit
 * and .get, so the checks (call permission on them and on the target) are the WAMP ones.
 */
export function submitRequest(scope: RequestScope, req: express.Request, res: express.Response): Promise<void> {
  const b = validated('RequestSubmit', req.body);
  const options: Record<string, unknown> = { destinations: b.destinations };
  if (b.expires_in !== undefined) options['expires_in'] = b.expires_in;
  if (b.retries !== undefined) options['retries'] = b.retries;
  return viaProcedure(scope, res, 'gatehouse.request.submit', [b.procedure, b.args ?? [], b.kwargs ?? {}, options], 202);
}

export function getRequest(scope: RequestScope, req: express.Request, res: express.Response): Promise<void> {
  const w = req.query['wait'];
  let wait = 0;
  if (w !== undefined) {
    wait = Number(w);
    if (typeof w !== 'string' || !(wait >= 0)) throw new RouterError(Errors.invalidArgument, 'wait is a number of seconds');
  }
  return viaProcedure(scope, res, 'gatehouse.request.get', [String(req.params['id']), { wait }], 200);
}

function viaProcedure(
  scope: RequestScope,
  res: express.Response,
  procedure: string,
  args: unknown[],
  status: number,
): Promise<void> {
  return new Promise<void>((resolve) => {
    scope.realm.call(
      scope.session,
      procedure,
      { args },
      {},
      {
        result(p: Payload, progress: boolean) {
          if (progress) return;
          if (!res.writableEnded && !res.destroyed) sendJson(res, status, p.args?.[0] ?? {});
          resolve();
        },
        error(failure: CallFailure) {
          if (!res.writableEnded && !res.destroyed) sendFailure(res, failure);
          resolve();
        },
      },
    );
  });
}
