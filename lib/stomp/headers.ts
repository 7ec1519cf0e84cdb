import type { MessageHeaders } from '../headers';
import { canonicalToStompTopic } from '../notation';

/**
 * STOMP headers <-> core message headers (README "Payloads across protocols"): the one
 * mapping, used by the STOMP gate (gates/stomp/payload.ts) and the STOMP link
 * (lib/links/stomp-headers.ts), so a message crosses a link as it crosses the gate.
 *
 *   content-type      <-> contentType
 *   reply-to /topic/x <-> responseTopic (canonical x); the caller resolves an incoming
 *                         reply-to, and decides what becomes of another destination
 *   correlation-id    <-> correlationData (UTF-8 bytes; data that is not UTF-8, from
 *                         MQTT 5, is not written)
 *   expires           <-> expiresAt (epoch ms, ActiveMQ's meaning; 0 = never)
 *   any other header  <-> userProperties (first value of a repeated header, STOMP 1.2
 *                         §Repeated Header Entries; a user property with several values
 *                         leaves as that header repeated)
 * Headers STOMP defines for the frame itself (destination, receipt, transaction, ...)
 * are never user properties, and a user property never overrides one of them.
 */

/** Header names that are the frame's own, on SEND or MESSAGE (STOMP 1.2 §SEND, §MESSAGE). */
export const STOMP_FRAME_HEADERS: ReadonlySet<string> = new Set([
  'destination',
  'transaction',
  'receipt',
  'receipt-id',
  'content-length',
  'content-type',
  'reply-to',
  'correlation-id',
  'expires',
  'message-id',
  'subscription',
  'ack',
  'id',
  'redelivered',
  'persistent',
  'message',
]);

/** How the caller resolved a frame's reply-to: a core topic, or a destination kept as
 *  the user property `reply-to`. */
export type StompReplyTo = { topic: string } | { destination: string };

/**
 * The core headers of a SEND's or MESSAGE's header list. `reserved` names the headers
 * that are not user properties (STOMP_FRAME_HEADERS, or a superset of it).
 */
export function messageHeadersFromStomp(
  headers: readonly (readonly [string, string])[],
  replyTo: StompReplyTo | undefined,
  reserved: ReadonlySet<string> = STOMP_FRAME_HEADERS,
): MessageHeaders | undefined {
  let h: MessageHeaders | undefined;
  let props: Record<string, string> | undefined;
  for (const [name, value] of headers) {
    switch (name) {
      case 'content-type':
        if (h?.contentType === undefined) (h ??= {}).contentType = value;
        break;
      case 'correlation-id':
        if (h?.correlationData === undefined) (h ??= {}).correlationData = Buffer.from(value, 'utf8');
        break;
      case 'expires': {
        const at = Number(value);
        if (h?.expiresAt === undefined && Number.isSafeInteger(at) && at > 0) (h ??= {}).expiresAt = at;
        break;
      }
      default:
        if (reserved.has(name)) break;
        props ??= {};
        // STOMP 1.2 §Repeated Header Entries: the first one is the value
        if (!(name in props)) props[name] = value;
    }
  }
  if (replyTo !== undefined) {
    if ('topic' in replyTo) (h ??= {}).responseTopic = replyTo.topic;
    else (props ??= {})['reply-to'] = replyTo.destination;
  }
  if (props) (h ??= {}).userProperties = props;
  return h;
}

/**
 * Appends the STOMP headers of a message's core headers to `out`: content-type
 * (application/json for a payload written as JSON, `json`), reply-to, correlation-id,
 * expires and the user properties. A user property `reply-to` (a destination that was
 * not a topic) leaves as the header when there is no response topic.
 */
export function stompHeadersOfMessage(
  out: [string, string][],
  h: MessageHeaders | undefined,
  json: boolean,
  reserved: ReadonlySet<string> = STOMP_FRAME_HEADERS,
): void {
  const contentType = h?.contentType ?? (json ? 'application/json' : undefined);
  if (contentType !== undefined) out.push(['content-type', contentType]);
  if (h === undefined) return;
  const replyTo = h.responseTopic === undefined ? null : canonicalToStompTopic(h.responseTopic);
  if (replyTo !== null) out.push(['reply-to', replyTo]);
  if (h.correlationData !== undefined) {
    const text = utf8(h.correlationData);
    if (text !== undefined) out.push(['correlation-id', text]);
  }
  if (h.expiresAt !== undefined) out.push(['expires', String(h.expiresAt)]);
  if (h.userProperties) {
    for (const [name, value] of Object.entries(h.userProperties)) {
      if (name === '' || (reserved.has(name) && !(name === 'reply-to' && h.responseTopic === undefined))) continue;
      if (typeof value === 'string') out.push([name, value]);
      else for (const v of value) out.push([name, v]);
    }
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function utf8(bytes: Uint8Array): string | undefined {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}
