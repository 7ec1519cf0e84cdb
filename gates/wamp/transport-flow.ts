/**
 * What the two WAMP transports (WebSocket and RawSocket) do alike around the protocol
 * session: the connection's flow over the TCP socket underneath (lib/connection-flow.ts),
 * and handing one inbound message to the session, decoded or reported as malformed.
 */
import type { Socket } from 'node:net';
import { Errors, RouterError } from '../../lib/errors';
import { ConnectionFlow } from '../../lib/connection-flow';
import { SerializerError, type Serializer } from '../../lib/wamp/serializers';
import type { WampGateContext } from './context';
import type { WampConnectionHandler } from './transport';

/** The transport as its flow sees it. */
export interface FlowOwner {
  /** drops the connection at once */
  abort(): void;
  /** the protocol session, once attached */
  handler(): WampConnectionHandler | undefined;
}

/**
 * Input pause, the inbound rate limit and the outbox for one WAMP connection.
 * `queuedBytes`: what was written but not yet flushed (ws.bufferedAmount over WebSocket).
 */
export function wampConnectionFlow(
  ctx: WampGateContext,
  peer: string,
  socket: Socket,
  queuedBytes: () => number,
  owner: FlowOwner,
): ConnectionFlow {
  return new ConnectionFlow(ctx, peer, socket, {
    queuedBytes,
    cork: () => {
      socket.cork();
    },
    uncork: () => {
      socket.uncork();
    },
    onDrain: (cb) => socket.once('drain', cb),
    kill: () => {
      ctx.log.warn({ peer }, 'slow consumer disconnected');
      owner.abort();
    },
    rateExceeded: () => owner.handler()?.overLimit(new RouterError(Errors.rateLimited, 'inbound message rate over the limit')),
  });
}

/** Decodes one inbound message and hands it to the session (or tells it why not). */
export function deliverMessage(serializer: Serializer, data: Buffer, handler: WampConnectionHandler | undefined): void {
  let msg: unknown;
  try {
    msg = serializer.decode(data);
  } catch (err) {
    handler?.malformed(err instanceof SerializerError ? err.message : 'undecodable message');
    return;
  }
  handler?.message(msg);
}
