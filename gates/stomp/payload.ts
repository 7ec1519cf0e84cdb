import type { BrokerEvent } from '../../lib/broker';
import type { MessageHeaders } from '../../lib/headers';
import type { Payload } from '../../lib/payload';
import { payloadToBody } from '../../lib/payload-body';
import { payloadFromBytes } from '../../lib/payload-bytes';
import { canonicalToStompTopic } from '../../lib/notation';
import type { StompFrame } from '../../lib/stomp/frame';

/**
 * STOMP <-> core messages (README "Payloads across protocols").
 *
 * A SEND body is bytes: other gates see `args: [value]` when it is a JSON document,
 * `args: [text]` when its content-type is text/*, the bytes otherwise
 * (lib/payload-bytes.ts). Going out, a payload that came as bytes leaves as those exact
 * bytes, a single string with a text content type as its text, another structured one
 * (WAMP) as JSON with `content-type: application/json` unless the message carries a
 * content type (lib/payload-body.ts).
 *
 * Headers, SEND -> core -> MESSAGE:
 *   content-type      <-> contentType
 *   reply-to /topic/x <-> responseTopic (canonical x); any other reply-to destination
 *                         travels as the user property `reply-to`
 *   correlation-id    <-> correlationData (UTF-8 bytes; data that is not UTF-8, from
 *                         MQTT 5, is not written)
 *   expires           <-> expiresAt (epoch ms, ActiveMQ's meaning; 0 = never)
 *   any other header  <-> userProperties (first value of a repeated header, STOMP 1.2
 *                         §Repeated Header Entries; a user property with several values
 *                         leaves as that header repeated)
 * Headers STOMP defines for the frame itself (destination, receipt, transaction, ...)
 * are never user properties, and a user property never overrides one of them.
 */

/** Header names that are the frame's own, on SEND or MESSAGE: never user properties. */
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
]);

/** The message a SEND carries. `replyTo` is already resolved by the caller. */
export function messageFromSend(
  frame: StompFrame,
  replyTo: { topic: string } | { destination: string } | undefined,
): { payload: Payload; headers: MessageHeaders | undefined } {
  let h: MessageHeaders | undefined;
  let props: Record<string, string> | undefined;
  for (const [name, value] of frame.headers) {
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
        if (FRAME_HEADERS.has(name)) break;
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
  return { payload: payloadFromBytes(frame.body, h), headers: h };
}

/** A MESSAGE's body and the headers that depend on the message only (not the subscriber). */
export interface OutboundBody {
  readonly body: Buffer;
  readonly headers: readonly [string, string][];
}

/** Key of the per-event cache entry (lib/broker.ts BrokerEvent.cache): WAMP's keys are >= 0. */
const CACHE_KEY = -1;

/** The body and message headers of an event, computed once however many subscribers get it. */
export function outboundOfEvent(event: BrokerEvent): OutboundBody {
  const cached = event.cache?.get(CACHE_KEY) as OutboundBody | undefined;
  if (cached) return cached;
  const out = outboundMessage(event.payload, event.headers);
  (event.cache ??= new Map()).set(CACHE_KEY, out);
  return out;
}

export function outboundMessage(payload: Payload, h: MessageHeaders | undefined): OutboundBody {
  const { body, json } = payloadToBody(payload, h);
  const headers: [string, string][] = [];
  const contentType = h?.contentType ?? (json ? 'application/json' : undefined);
  if (contentType !== undefined) headers.push(['content-type', contentType]);
  if (h) {
    const replyTo = h.responseTopic === undefined ? null : canonicalToStompTopic(h.responseTopic);
    if (replyTo !== null) headers.push(['reply-to', replyTo]);
    if (h.correlationData !== undefined) {
      const text = utf8(h.correlationData);
      if (text !== undefined) headers.push(['correlation-id', text]);
    }
    if (h.expiresAt !== undefined) headers.push(['expires', String(h.expiresAt)]);
    if (h.userProperties) {
      for (const [name, value] of Object.entries(h.userProperties)) {
        if (name === '' || (FRAME_HEADERS.has(name) && !(name === 'reply-to' && h.responseTopic === undefined))) continue;
        if (typeof value === 'string') headers.push([name, value]);
        else for (const v of value) headers.push([name, v]);
      }
    }
  }
  return { body, headers };
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function utf8(bytes: Uint8Array): string | undefined {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}
