import { Errors, RouterError } from '../../lib/errors';
import { parseStompDestination } from '../../lib/notation';
import type { TopicPattern } from '../../lib/topic';
import type { QueueAddress } from '../../lib/work-queues';
import type { StompConnection } from './connection';

/**
 * What a STOMP destination names, for this connection (README "STOMP destinations"):
 *
 *   /topic/<words>         a topic (lib/notation.ts: RabbitMQ style, `*` and a final `#`
 *                          in subscriptions; a SEND needs a topic without wildcards)
 *   /queue/<name>          a durable work queue of the realm, created on first use
 *   /temp-queue/<name>     this connection's temporary queue `name`: created on first use,
 *                          deleted with the connection. As a SEND's reply-to it is
 *                          rewritten to the /reply-queue/ destination others reach it by.
 *   /reply-queue/<id>      another connection's temporary queue, as its reply-to named it
 *                          (SEND only; a message to one whose owner has gone is dropped)
 *   /rpc/<procedure>       calls the procedure (SEND only; gates/stomp/rpc-bridge.ts)
 */
export type Target =
  | { readonly kind: 'topic'; readonly pattern: TopicPattern }
  | { readonly kind: 'queue'; readonly address: QueueAddress; readonly temp?: string }
  | { readonly kind: 'rpc'; readonly procedure: string };

export const REPLY_QUEUE = '/reply-queue/';
export const TEMP_QUEUE = '/temp-queue/';
export const RPC = '/rpc/';

/** Resolves a destination for SEND (`send`) or SUBSCRIBE (`subscribe`); throws invalid_uri. */
export function resolveDestination(conn: StompConnection, dest: string, use: 'send' | 'subscribe'): Target {
  const realm = conn.realmName;
  if (dest.startsWith(RPC)) {
    const procedure = dest.slice(RPC.length);
    if (use !== 'send' || procedure === '') throw invalid(dest, 'an /rpc/ destination takes a SEND naming a procedure');
    return { kind: 'rpc', procedure };
  }
  if (dest.startsWith(REPLY_QUEUE)) {
    const name = dest.slice(REPLY_QUEUE.length);
    if (use !== 'send' || name === '')
      throw invalid(dest, 'a /reply-queue/ destination takes SENDs only; its owner consumes it as /temp-queue/');
    return { kind: 'queue', address: { realm, kind: 'temp', name } };
  }
  const parsed = parseStompDestination(dest);
  if (!parsed) throw invalid(dest, 'not a /topic/, /queue/, /temp-queue/, /reply-queue/ or /rpc/ destination');
  switch (parsed.kind) {
    case 'topic':
      if (use === 'send' && parsed.pattern.match !== 'exact') throw invalid(dest, 'a SEND needs a topic without wildcards');
      return parsed;
    case 'queue':
      return { kind: 'queue', address: { realm, kind: 'queue', name: parsed.name } };
    case 'temp-queue':
      // sent to without a subscription, it is delivered RabbitMQ style (see connection.ts)
      return { kind: 'queue', address: conn.temporaryQueue(parsed.name, use === 'send'), temp: parsed.name };
  }
}

/**
 * A SEND's reply-to: a topic becomes the core's response topic; the connection's own
 * /temp-queue/ is rewritten to the /reply-queue/ others reach it by; anything else is
 * passed on as written.
 */
export function resolveReplyTo(conn: StompConnection, replyTo: string): { topic: string } | { destination: string } {
  if (replyTo.startsWith(TEMP_QUEUE)) {
    const parsed = parseStompDestination(replyTo);
    if (parsed?.kind === 'temp-queue') return { destination: REPLY_QUEUE + conn.temporaryQueue(parsed.name, true).name };
  }
  const parsed = replyTo.startsWith('/topic/') ? parseStompDestination(replyTo) : null;
  if (parsed?.kind === 'topic' && parsed.pattern.match === 'exact') return { topic: parsed.pattern.uri };
  return { destination: replyTo };
}

function invalid(dest: string, why: string): RouterError {
  return new RouterError(Errors.invalidUri, `invalid destination ${JSON.stringify(dest.slice(0, 200))}: ${why}`);
}
