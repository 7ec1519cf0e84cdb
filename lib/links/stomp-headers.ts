import { parseStompDestination } from '../notation';
import { messageHeadersFromStomp, STOMP_FRAME_HEADERS, stompHeadersOfMessage, type StompReplyTo } from '../stomp/headers';
import { payloadToBody } from '../payload-body';
import { payloadFromBytes } from '../payload-bytes';
import { MESSAGE_ID_HEADER, RETAIN_HEADER } from './peer-headers';
import type { LinkMessage } from './transport';

/**
 * A link message as a STOMP SEND and a STOMP MESSAGE as a link message. The headers map
 * as they do at Gatehouse's STOMP gate (lib/stomp/headers.ts), so a message crosses a
 * STOMP link as it would cross the gate; besides, gatehouse-message-id and
 * gatehouse-retain <-> messageId and retain (lib/links/peer-headers.ts).
 */

/** Headers that belong to the frame or to the link, never user properties. */
const RESERVED: ReadonlySet<string> = new Set([...STOMP_FRAME_HEADERS, MESSAGE_ID_HEADER, RETAIN_HEADER]);

/** Headers and body of the SEND for a message (destination and receipt are the caller's). */
export function sendOf(m: LinkMessage): { headers: [string, string][]; body: Buffer } {
  const { body, json } = payloadToBody(m.payload, m.headers);
  const headers: [string, string][] = [[MESSAGE_ID_HEADER, m.messageId]];
  if (m.retain) headers.push([RETAIN_HEADER, 'true']);
  stompHeadersOfMessage(headers, m.headers, json, RESERVED);
  return { headers, body };
}

/** The link message a MESSAGE frame carries; null when its destination is not a topic.
 *  A reply-to that is not a topic is dropped: only topics cross a link. */
export function messageOf(headers: readonly [string, string][], body: Buffer): LinkMessage | null {
  let topic: string | undefined;
  let messageId: string | undefined;
  let retain: boolean | undefined;
  let replyTo: StompReplyTo | undefined;
  let replyToSeen = false;
  for (const [name, value] of headers) {
    // STOMP 1.2 §Repeated Header Entries: the first one is the value
    switch (name) {
      case 'destination':
        if (topic === undefined) topic = exactTopic(value) ?? '';
        break;
      case MESSAGE_ID_HEADER:
        messageId ??= value;
        break;
      case RETAIN_HEADER:
        retain ??= value === 'true';
        break;
      case 'reply-to': {
        if (replyToSeen) break;
        replyToSeen = true;
        const t = exactTopic(value);
        if (t !== undefined) replyTo = { topic: t };
        break;
      }
    }
  }
  if (topic === undefined || topic === '') return null;
  const h = messageHeadersFromStomp(headers, replyTo, RESERVED);
  return {
    topic,
    payload: payloadFromBytes(body, h),
    retain: retain ?? false,
    messageId: messageId ?? '',
    ...(h === undefined ? {} : { headers: h }),
  };
}

/** The topic of an exact /topic/ destination, or undefined. */
function exactTopic(destination: string): string | undefined {
  const d = parseStompDestination(destination);
  return d?.kind === 'topic' && d.pattern.match === 'exact' ? d.pattern.uri : undefined;
}
