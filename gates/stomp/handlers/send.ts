import { asRouterError, type StompConnection } from '../connection';
import { resolveDestination, resolveReplyTo } from '../destinations';
import { header, type StompFrame } from '../../../lib/stomp/frame';
import { messageFromSend } from '../payload';
import { callFromStomp, replyAddress } from '../rpc-bridge';
import { applyOrKeep, type Action } from './transaction';
import { authorizeQueue, authorizeReplyTarget, type ReplyTarget } from '../../../lib/queue-authorization';

/**
 * The reply-to as the core's reply target (its rule: lib/queue-authorization.ts), or
 * undefined for a destination no reply can reach (the reply is dropped, counted).
 */
function replyTargetOf(realm: string, replyTo: { topic: string } | { destination: string }): ReplyTarget | undefined {
  if ('topic' in replyTo) return replyTo;
  const queue = replyAddress(realm, replyTo.destination);
  return queue && { queue };
}

/**
 * SEND (STOMP 1.2 §SEND). By destination (gates/stomp/destinations.ts):
 * - /topic/x: published to the realm (the sender's own subscriptions get it too); the
 *   RECEIPT follows routing.
 * - /queue/x, /temp-queue/x, /reply-queue/x: appended to the work queue; the RECEIPT
 *   waits for the store commit. A full queue: ERROR `limit exceeded`.
 * - /rpc/procedure: calls it; the result goes to the reply-to destination.
 * Everything about the frame is checked on arrival, also when it joins a transaction.
 */
export function handleSend(conn: StompConnection, frame: StompFrame): void {
  const session = conn.session;
  const realm = conn.realm;
  if (!session || !realm) return;
  const dest = header(frame, 'destination');
  if (dest === undefined) {
    conn.protocolError('SEND needs a destination header', frame);
    return;
  }
  let action: Action;
  try {
    const target = resolveDestination(conn, dest, 'send');
    const rt = header(frame, 'reply-to');
    const replyTo = rt === undefined ? undefined : resolveReplyTo(conn, rt);
    switch (target.kind) {
      case 'topic': {
        const { payload, headers } = messageFromSend(frame, replyTo);
        const topic = target.pattern.uri;
        action = () => {
          // STOMP has no "no local": a client receives its own messages
          const r = realm.publish(session, topic, payload, { excludeMe: false, headers });
          return r instanceof Promise ? r.then(() => undefined) : undefined;
        };
        break;
      }
      case 'queue': {
        const { payload, headers } = messageFromSend(frame, replyTo);
        const address = target.address;
        const send = (): Promise<void> => conn.ctx.work.queues.send(address, { payload, headers }).committed;
        // the core's rule for queues (lib/queue-authorization.ts)
        action = () => {
          const pending = authorizeQueue(realm, session, 'publish', address);
          return pending ? pending.then(send) : send();
        };
        break;
      }
      case 'rpc': {
        const procedure = target.procedure;
        const call = (): void => {
          callFromStomp(conn, procedure, frame, replyTo);
        };
        // the reply (result or error) is written with the router's hand: the caller must
        // be allowed to publish there itself, checked before the call is made
        const reply = replyTo === undefined ? undefined : replyTargetOf(conn.realmName, replyTo);
        action = () => {
          const pending = reply === undefined ? undefined : authorizeReplyTarget(realm, session, reply);
          if (pending) return pending.then(call);
          call();
          return undefined;
        };
        break;
      }
    }
  } catch (err) {
    conn.fail(asRouterError(err), frame);
    return;
  }
  applyOrKeep(conn, frame, action);
}
