import type { MessageHeaders } from '../headers';
import { isPlainObject } from '../payload';

/**
 * WAMP <-> core message headers. WAMP has no standard for them; Gatehouse uses these
 * PUBLISH options and EVENT details (snake case, like WAMP's own):
 *   content_type, response_topic, correlation_data (bytes), user_properties (dict of
 *   string or string list), expires_in (seconds; the MQTT 5 message expiry interval),
 *   payload_format_indicator (1: the payload is UTF-8 text, 0: unspecified bytes; the
 *   MQTT 5 property, with which a single string argument leaves as bare text).
 * MQTT 5 properties and STOMP headers arrive in EVENT details under the same names.
 */
export function headersFromWampOptions(o: Record<string, unknown>): MessageHeaders | undefined {
  let h: MessageHeaders | undefined;
  const ct = o['content_type'];
  if (typeof ct === 'string') (h ??= {}).contentType = ct;
  const rt = o['response_topic'];
  if (typeof rt === 'string') (h ??= {}).responseTopic = rt;
  const cd = o['correlation_data'];
  if (cd instanceof Uint8Array) (h ??= {}).correlationData = cd;
  else if (typeof cd === 'string') (h ??= {}).correlationData = Buffer.from(cd);
  const up = o['user_properties'];
  if (isPlainObject(up)) {
    const props: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(up)) {
      if (typeof v === 'string') props[k] = v;
      else if (Array.isArray(v) && v.every((x): x is string => typeof x === 'string')) props[k] = v;
    }
    (h ??= {}).userProperties = props;
  }
  const pfi = o['payload_format_indicator'];
  if (pfi === 1 || pfi === true) (h ??= {}).utf8 = true;
  else if (pfi === 0 || pfi === false) (h ??= {}).utf8 = false;
  const ttl = o['expires_in'];
  if (typeof ttl === 'number' && ttl > 0) (h ??= {}).expiresAt = Date.now() + ttl * 1000;
  return h;
}

export function addHeaderDetails(details: Record<string, unknown>, h: MessageHeaders | undefined): void {
  if (!h) return;
  if (h.contentType !== undefined) details['content_type'] = h.contentType;
  if (h.responseTopic !== undefined) details['response_topic'] = h.responseTopic;
  if (h.correlationData !== undefined) details['correlation_data'] = h.correlationData;
  if (h.userProperties !== undefined) details['user_properties'] = h.userProperties;
  if (h.utf8 !== undefined) details['payload_format_indicator'] = h.utf8 ? 1 : 0;
  if (h.expiresAt !== undefined) details['expires_in'] = Math.max(0, Math.ceil((h.expiresAt - Date.now()) / 1000));
}
