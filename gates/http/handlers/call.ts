import type express from 'express';
import { Errors, RouterError, type CallFailure } from '../../../lib/errors';
import type { Invocation } from '../../../lib/invocation';
import type { Payload } from '../../../lib/payload';
import { isValidUri } from '../../../lib/topic';
import type { RequestScope } from '../request-session';
import { sendFailure, sendJson } from '../reply';
import { validated } from '../schemas';

export interface CallRequest {
  procedure: string;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  options?: { timeout?: number };
}

/**
 * POST /call {procedure, args?, kwargs?, options?: {timeout}} -> {args, kwargs}, or the
 * error: a router error with its catalogue status, an application error with its own
 * URI (status 500 unless the catalogue knows the URI). A caller that goes away before
 * the answer cancels the call (WAMP advanced: call canceling, killnowait).
 */
export function call(scope: RequestScope, req: express.Request, res: express.Response): Promise<void> {
  const body = validated('CallRequest', req.body);
  if (!isValidUri(body.procedure)) throw new RouterError(Errors.invalidUri, `invalid procedure URI: ${body.procedure}`);
  const payload: Payload = {};
  if (body.args !== undefined) payload.args = body.args;
  if (body.kwargs !== undefined) payload.kwargs = body.kwargs;
  const timeout = body.options?.timeout;
  return new Promise<void>((resolve) => {
    let done = false;
    const pending: { inv?: Invocation | undefined } = {};
    const finish = (): void => {
      done = true;
      res.off('close', gone);
      resolve();
    };
    const gone = (): void => {
      if (done) return;
      done = true;
      scope.session.closed = true;
      const inv = pending.inv;
      if (inv && inv.state !== 'done') scope.realm.dealer.cancel(inv, 'killnowait');
      resolve();
    };
    res.on('close', gone);
    pending.inv = scope.realm.call(scope.session, body.procedure, payload, timeout ? { timeoutMs: timeout } : {}, {
      result(p: Payload, progress: boolean) {
        if (done || progress) return; // progressive results were not asked for
        sendJson(res, 200, { args: p.args ?? (p.bytes ? [p.bytes] : []), kwargs: p.kwargs ?? {} });
        finish();
      },
      error(failure: CallFailure) {
        if (done) return;
        sendFailure(res, failure);
        finish();
      },
    });
  });
}
