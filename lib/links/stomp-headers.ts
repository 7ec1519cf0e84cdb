import type { MessageHeaders } from '../headers';
import { canonicalToStompTopic, parseStompDestination } from '../notation';
import { payloadToBody } from '../payload-body';
import { payloadFromBytes } from '../payload-bytes';
import { MESSAGE_ID_HEADER, RETAIN_HEADER } from './peer-headers';
import type { LinkMessage } from './transport';

/**
 * A link message as a STOMP SEND and a STOMP MESSAGE as a link message, with the header
 * names Gatehouse's STOMP gate uses (README "Payloads across protocols"), so a message
 * crosses a STOMP link as it would cross the gate:
 *   content-type      <-> contentType (application/json for a structured payload)
 *   reply-to /topic/x <-> responseTopic
 *   correlation-id    <-> correlationData (UTF-8)
 *   expires           <-> expiresAt (epoch ms, ActiveMQ's meaning)
 *   gatehouse-message-id, gatehouse-retain <-> messageId, retain (lib/links/peer-headers.ts)
 *   any other header  <-> userProperties
 */

/** Headers that belong to the frame (STOMP 1.2 §SEND, §MESSAGE), never user properties. */
const FRAME_HEADERS: ReadonlySet<string> = new Set([
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
  MESSAGE_ID_HEADER,
  RETAIN_HEADER,
]);

/** Headers and body of the SEND for a message (destination and receipt are the caller's). */
export function sendOf(m: LinkMessage): { headers: [string, string][]; body: Buffer } {
  const h = m.headers;
  const { body, json } = payloadToBody(m.payload, h);
  const headers: [string, string][] = [[MESSAGE_ID_HEADER, m.messageId]];
  if (m.retain) headers.push([RETAIN_HEADER, 'true']);
  const contentType = h?.contentType ?? (json ? 'application/json' : undefined);
  if (contentType !== undefined) headers.push(['content-type', contentType]);
  if (h === undefined) return { headers, body };
  if (h.responseTopic !== undefined) {
    const replyTo = canonicalToStompTopic(h.responseTopic);
    if (replyTo !== null) headers.push(['reply-to', replyTo]);
  }
  if (h.correlationData !== undefined) {
    const text = utf8(h.correlationData);
    if (text !== undefined) headers.push(['correlation-id', text]);
  }
  if (h.expiresAt !== undefined) headers.push(['expires', String(h.expiresAt)]);
  for (const [name, value] of Object.entries(h.userProperties ?? {})) {
    if (name === '' || FRAME_HEADERS.has(name)) continue;
    if (typeof value === 'string') headers.push([name, value]);
    else for (const v of value) headers.push([name, v]);
  }
  return { headers, body };
}

/** The link message a MESSAGE frame carries; null when its destination is not a topic. */
export function messageOf(headers: readonly [string, string][], body: Buffer): LinkMessage | null {
  let topic: string | undefined;
  let messageId = '';
  let retain = false;
  let h: MessageHeaders | undefined;
  let props: Record<string, string> | undefined;
  const seen = new Set<string>();
  for (const [name, value] of headers) {
    // STOMP 1.2 §Repeated Header Entries: the first one is the value
    if (seen.has(name)) continue;
    seen.add(name);
    switch (name) {
      case 'destination': {
        const d = parseStompDestination(value);
        if (d?.kind === 'topic' && d.pattern.match === 'exact') topic = d.pattern.uri;
        break;
      }
      case MESSAGE_ID_HEADER:
        messageId = value;
        break;
      case RETAIN_HEADER:
        retain = value === 'true';
        break;
      case 'content-type':
        (h ??= {}).contentType = value;
        break;
      case 'correlation-id':
        (h ??= {}).correlationData = Buffer.from(value, 'utf8');
        break;
      case 'reply-to': {
        const d = parseStompDestination(value);
        if (d?.kind === 'topic' && d.pattern.match === 'exact') (h ??= {}).responseTopic = d.pattern.uri;
        break;
      }
      case 'expires': {
        const at = Number(value);
        if (Number.isSafeInteger(at) && at > 0) (h ??= {}).expiresAt = at;
        break;
      }
      default:
        if (!FRAME_HEADERS.has(name)) (props ??= {})[name] = value;
    }
  }
  if (topic === undefined) return null;
  if (props !== undefined) (h ??= {}).userProperties = props;
  return { topic, payload: payloadFromBytes(body, h), retain, messageId, ...(h === undefined ? {} : { headers: h }) };
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function utf8(bytes: Uint8Array): string | undefined {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}
