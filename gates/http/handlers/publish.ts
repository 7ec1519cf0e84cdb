import type express from 'express';
import { Errors, RouterError } from '../../../lib/errors';
import { publishOptionsFrom } from '../../../lib/meta-api';
import type { Payload } from '../../../lib/payload';
import { retainOptionsFrom } from '../../../lib/retained';
import { isValidUri } from '../../../lib/topic';
import type { RequestScope } from '../request-session';
import { sendJson } from '../reply';
import { validated } from '../schemas';

export interface PublishRequest {
  topic: string;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  options?: Record<string, unknown>;
}

/**
 * POST /publish {topic, args?, kwargs?, options?} -> {publication, revision?}. Answered
 * once routed, and for store writes (retain / when) once committed, like a WAMP
 * publish with acknowledge.
 */
export async function publish(scope: RequestScope, req: express.Request, res: express.Response): Promise<void> {
  const body = validated('PublishRequest', req.body);
  const options = body.options ?? {};
  if (!isValidUri(body.topic)) throw new RouterError(Errors.invalidUri, `invalid topic URI: ${body.topic}`);
  // a will fires when its session is lost; a request has no session to lose
  if (options['will'] !== undefined)
    throw new RouterError(
      Errors.invalidArgument,
      'options.will is not available over HTTP: a request has no session whose loss would fire it',
    );
  const payload: Payload = {};
  if (body.args !== undefined) payload.args = body.args;
  if (body.kwargs !== undefined) payload.kwargs = body.kwargs;
  const { realm, session } = scope;
  // a `watch` waits for its condition: a caller gone meanwhile must not write later
  const gone = (): void => {
    session.closed = true;
    realm.retained?.sessionEnded(session);
  };
  res.once('close', gone);
  let ack;
  try {
    ack = await realm.publish(session, body.topic, payload, {
      ...publishOptionsFrom(options),
      ...retainOptionsFrom(options),
      retainFlag: options['retain'] === true,
    });
  } finally {
    res.off('close', gone);
  }
  sendJson(
    res,
    200,
    ack.revision === undefined ? { publication: ack.publicationId } : { publication: ack.publicationId, revision: ack.revision },
  );
}
