/**
 * The protocol-neutral payload every gate hands to the core. A message carries either
 * structured values (`args` / `kwargs`), or opaque `bytes` (an MQTT or STOMP body that
 * is not JSON, or a WAMP payload in passthru mode), never both kinds at once.
 */
export interface Payload {
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  bytes?: Uint8Array;
  /** WAMP payload passthru mode: how `args[0]` / `bytes` is encoded end to end */
  passthru?: PassthruInfo;
}

export interface PassthruInfo {
  scheme: string;
  serializer?: string;
  cipher?: string;
  keyid?: string;
}

export const EMPTY_PAYLOAD: Payload = Object.freeze({});

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}
