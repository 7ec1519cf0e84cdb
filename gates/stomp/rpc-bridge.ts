import type { MessageHeaders } from '../../lib/headers';
import { parseStompDestination } from '../../lib/notation';
import type { Payload } from '../../lib/payload';
import { argumentsFromBody } from '../../lib/payload-body';
import { replyProperties, submitForReplies, type ReplyOrigin } from '../../lib/requests/bridge';
import { callForReply } from '../../lib/rpc-reply';
import type { QueueAddress } from '../../lib/work-queues';
import type { StompConnection } from './connection';
import { REPLY_QUEUE } from './destinations';
import { header, type StompFrame } from '../../lib/stomp/frame';

/**
 * STOMP to WAMP RPC (README "STOMP to WAMP RPC"): a SEND to `/rpc/<procedure>` calls the
 * procedure (a WAMP URI, `/rpc/com.example.add`). The body becomes the arguments: a JSON
 * array is the Arguments list, a JSON object the ArgumentsKw, any other JSON value one
 * argument, other bytes one binary argument, an empty body none.
 *
 * The result goes to the SEND's `reply-to` as a message: to this connection's
 * /temp-queue/ (delivered even without a SUBSCRIBE to it), a /queue/, a /reply-queue/ or
 * a /topic/. It carries the request's `correlation-id`; its body is the result (JSON for
 * structured results, the bytes for a single binary one). An error leaves the same way,
 * with header `error` = its URI and body {"error", "args", "kwargs"}. Without reply-to the
 * call is made and its outcome dropped. Progressive results are not requested.
 */
export function callFromStomp(
  conn: StompConnection,
  procedure: string,
  frame: StompFrame,
  replyTo: { topic: string } | { destination: string } | undefined,
): void {
  const session = conn.session;
  const realm = conn.realm;
  if (!session || !realm) return;
  const correlation = header(frame, 'correlation-id');
  const respond = (payload: Payload, error?: string, origin?: ReplyOrigin): void => {
    if (replyTo === undefined) return;
    const headers: MessageHeaders = {};
    if (correlation !== undefined) headers.correlationData = Buffer.from(correlation, 'utf8');
    if (error !== undefined || origin !== undefined) headers.userProperties = replyProperties(error, origin);
    try {
      if ('topic' in replyTo) {
        const r = realm.publish(conn.session, replyTo.topic, payload, { excludeMe: false, headers });
        if (r instanceof Promise) r.catch(() => undefined);
        return;
      }
      const address = replyAddress(conn.realmName, replyTo.destination);
      if (address) conn.ctx.work.queues.send(address, { payload, headers });
      else conn.ctx.drop('rpc_reply_unroutable');
    } catch (err) {
      // a full reply queue: the caller misses its answer, counted
      conn.ctx.drop('rpc_reply_refused');
      conn.ctx.log.debug({ err, procedure }, 'RPC reply not delivered');
    }
  };
  const ct = header(frame, 'content-type');
  const args = argumentsFromBody(frame.body, ct === undefined ? undefined : { contentType: ct });
  const destinations = header(frame, 'destinations');
  if (destinations !== undefined) {
    // a durable request: one reply per destination (README "Durable requests")
    submitForReplies(
      realm,
      session,
      procedure,
      args,
      { destinations, expires_in: header(frame, 'expires_in'), retries: header(frame, 'retries') },
      respond,
    );
    return;
  }
  callForReply(realm, session, procedure, args, respond);
}

/** The queue a reply destination names (reply-to was resolved on SEND: no /temp-queue/ here). */
export function replyAddress(realm: string, destination: string): QueueAddress | undefined {
  if (destination.startsWith(REPLY_QUEUE)) {
    const name = destination.slice(REPLY_QUEUE.length);
    return name === '' ? undefined : { realm, kind: 'temp', name };
  }
  const parsed = parseStompDestination(destination);
  return parsed?.kind === 'queue' ? { realm, kind: 'queue', name: parsed.name } : undefined;
}
