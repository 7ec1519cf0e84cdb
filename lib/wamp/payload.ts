import type { PassthruInfo, Payload } from '../payload';
import { ProtocolViolation } from './messages';

/**
 * WAMP <-> core payload. Arguments and ArgumentsKw pass through as they are (binary
 * values stay binary whatever the serializer). WAMP advanced "payload passthru mode":
 * the ppt_* options travel with the payload and come out as ppt_* details.
 */
export function payloadFromWamp(
  args: unknown[] | undefined,
  kwargs: Record<string, unknown> | undefined,
  options: Record<string, unknown>,
): Payload {
  const p: Payload = {};
  if (args !== undefined) p.args = args;
  if (kwargs !== undefined) p.kwargs = kwargs;
  const scheme = options['ppt_scheme'];
  if (scheme !== undefined) p.passthru = passthruFrom(scheme, options);
  return p;
}

function passthruFrom(scheme: unknown, o: Record<string, unknown>): PassthruInfo {
  if (typeof scheme !== 'string') throw new ProtocolViolation('ppt_scheme must be a string');
  const info: PassthruInfo = { scheme };
  for (const [k, key] of [
    ['serializer', 'ppt_serializer'],
    ['cipher', 'ppt_cipher'],
    ['keyid', 'ppt_keyid'],
  ] as const) {
    const v = o[key];
    if (v === undefined) continue;
    if (typeof v !== 'string') throw new ProtocolViolation(`${key} must be a string`);
    info[k] = v;
  }
  return info;
}

/** Adds the ppt_* details of a passthru payload. */
export function addPassthruDetails(details: Record<string, unknown>, p: Payload): void {
  const ppt = p.passthru;
  if (!ppt) return;
  details['ppt_scheme'] = ppt.scheme;
  if (ppt.serializer !== undefined) details['ppt_serializer'] = ppt.serializer;
  if (ppt.cipher !== undefined) details['ppt_cipher'] = ppt.cipher;
  if (ppt.keyid !== undefined) details['ppt_keyid'] = ppt.keyid;
}

/**
 * Appends Arguments / ArgumentsKw to a message being built. Opaque bytes from another
 * protocol arrive as a single binary argument.
 */
export function pushPayload(msg: unknown[], p: Payload): unknown[] {
  if (p.kwargs !== undefined) {
    msg.push(p.args ?? (p.bytes ? [p.bytes] : []), p.kwargs);
  } else if (p.args !== undefined) {
    msg.push(p.args);
  } else if (p.bytes !== undefined) {
    msg.push([p.bytes]);
  }
  return msg;
}
