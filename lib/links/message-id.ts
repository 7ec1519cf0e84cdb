/**
 * A message id on the wire between Gatehouse routers: `<origin node>:<publication id>`
 * (lib/publication-taps.ts messageIdOf). A WAMP link carries it as PUBLISH.Options and
 * EVENT.Details `x_gatehouse_msgid` (README "Links"); other protocols as a header or user
 * property where they have one.
 */
import { isValidNodeId } from '../node-id';

/** The WAMP option / detail that carries it (custom attributes start with x_, WAMP advanced). */
export const MSGID_OPTION = 'x_gatehouse_msgid';

export interface MessageIdParts {
  origin: string;
  publicationId: number;
}

/** Undefined for anything that is not `<node id>:<integer in [1, 2^53]>`. */
export function parseMessageId(text: unknown): MessageIdParts | undefined {
  if (typeof text !== 'string') return undefined;
  const at = text.lastIndexOf(':');
  if (at <= 0) return undefined;
  const origin = text.slice(0, at);
  const digits = text.slice(at + 1);
  if (!isValidNodeId(origin) || !/^[1-9][0-9]{0,15}$/.test(digits)) return undefined;
  const publicationId = Number(digits);
  return publicationId <= 2 ** 53 ? { origin, publicationId } : undefined;
}
