import type { RouterError } from '../../lib/errors';
import type { OutboundFlow } from '../../lib/outbox';
import type { TransportInfo } from '../../lib/session';
import type { Serializer } from '../../lib/wamp/serializers';

/**
 * What the WAMP protocol session needs from a transport (WebSocket or RawSocket):
 * write encoded messages, close, and pause reading when its peer does not keep up.
 */
export interface WampTransport {
  readonly serializer: Serializer;
  readonly info: TransportInfo;
  /** the outbound path as a paced writer (retained replay) sees it */
  readonly flow?: OutboundFlow;
  /** writes one encoded message; false when the connection is gone or was dropped */
  write(data: Buffer): boolean;
  /** closes after flushing what was written */
  close(): void;
  /** drops the connection at once */
  abort(): void;
}

/** What a transport delivers to the protocol session. */
export interface WampConnectionHandler {
  /** one decoded message */
  message(msg: unknown): void;
  /** the peer sent something that is not a decodable WAMP message */
  malformed(reason: string): void;
  /** the connection is gone */
  closed(): void;
  /** the peer stayed over its inbound rate limit: end the session with this error */
  overLimit(err: RouterError): void;
}
