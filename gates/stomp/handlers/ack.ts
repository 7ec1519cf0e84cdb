import { Errors, RouterError } from '../../../lib/errors';
import type { Consumer } from '../../../lib/work-queues';
import type { StompConnection } from '../connection';
import { header, type StompFrame } from '../../../lib/stomp/frame';
import { isTopicMessageId, seqOfMessageId } from '../subscriptions';
import { applyOrKeep } from './transaction';

/**
 * ACK and NACK (STOMP 1.2 §ACK, §NACK). The message is named, by version:
 * - 1.2: `id` = the MESSAGE's `ack` header;
 * - 1.1: `message-id`, with `subscription` (checked when given);
 * - 1.0: `message-id` (ACK only: 1.0 has no NACK).
 * In `client` mode the frame settles that message and every earlier unacknowledged one
 * of its subscription (a NACK too); in `client-individual` mode that message only. A
 * NACK puts the messages back in their queue, redelivered. With `transaction`, the
 * frame takes effect at COMMIT. The RECEIPT of an ACK waits for the removal's commit.
 *
 * Acknowledging a message no longer outstanding (settled already, cumulatively or by
 * an earlier frame; put back because its subscription ended) is ignored, counted: every
 * ERROR closes a STOMP connection, which would put back everything else the client
 * holds. So is acknowledging a topic message: a non-durable topic subscription has no
 * queue to take it from. An id this server never issued is an ERROR.
 */
export function handleAck(conn: StompConnection, frame: StompFrame, outcome: 'ack' | 'nack'): void {
  const session = conn.session;
  if (!session) return;
  const cmd = frame.command;
  const id = conn.version === '1.2' ? header(frame, 'id') : header(frame, 'message-id');
  if (id === undefined) {
    conn.protocolError(`${cmd} needs ${conn.version === '1.2' ? 'an id' : 'a message-id'} header`, frame);
    return;
  }
  let consumer: Consumer | undefined;
  if (conn.version === '1.1') {
    const subId = header(frame, 'subscription');
    if (subId !== undefined) {
      const sub = conn.subscriptions.get(subId);
      if (!sub) {
        conn.fail(new RouterError(Errors.noSuchSubscription, `no subscription ${JSON.stringify(subId)}`), frame);
        return;
      }
      consumer = sub.consumer;
    }
  }
  const seq = seqOfMessageId(id);
  if (seq === undefined && !isTopicMessageId(id)) {
    conn.fail(
      new RouterError(
        Errors.invalidArgument,
        `${cmd} of ${JSON.stringify(id.slice(0, 100))}: no message of this server has that id`,
      ),
      frame,
    );
    return;
  }
  const queues = conn.ctx.work.queues;
  applyOrKeep(conn, frame, () => {
    if (seq === undefined) return undefined;
    const settled = queues.settle(session, seq, outcome, consumer);
    if (settled === undefined) conn.ctx.drop(`${outcome}_not_outstanding`);
    return settled;
  });
}
