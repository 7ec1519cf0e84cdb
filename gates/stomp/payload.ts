import type { BrokerEvent } from '../../lib/broker';
import type { MessageHeaders } from '../../lib/headers';
import type { Payload } from '../../lib/payload';
import { payloadToBody } from '../../lib/payload-body';
import { payloadFromBytes } from '../../lib/payload-bytes';
import { messageHeadersFromStomp, stompHeadersOfMessage, type StompReplyTo } from '../../lib/stomp/headers';
import type { StompFrame } from '../../lib/stomp/frame';

/**
 * STOMP <-> core messages (README "Payloads across protocols").
 *
 * A SEND body is bytes: other gates see `args: [value]` when it is a JSON document,
 * `args: [text]` when its content-type is text/*, the bytes otherwise
 * (lib/payload-bytes.ts). Going out, a payload that came as bytes leaves as those exact
 * bytes, a single string with a text content type as its text, another structured one
 * (WAMP) as JSON with `content-type: application/json` unless the message carries a
 * content type (lib/payload-body.ts). Headers map as lib/stomp/headers.ts says (shared
 * with the STOMP link).
 */

/** The message a SEND carries. `replyTo` is already resolved by the caller. */
export function messageFromSend(
  frame: StompFrame,
  replyTo: StompReplyTo | undefined,
): { payload: Payload; headers: MessageHeaders | undefined } {
  const h = messageHeadersFromStomp(frame.headers, replyTo);
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
  stompHeadersOfMessage(headers, h, json);
  return { body, headers };
}
