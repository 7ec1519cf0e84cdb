/**
 * Registration and subscription ids the same on every node: derived from (realm, match,
 * URI), so a callee's REGISTERED id, a subscriber's SUBSCRIBED id, the meta API's ids and
 * its events agree wherever they are asked, with no round trip to agree on them. WAMP
 * ids are integers in [1, 2^53] (basic profile, "IDs"); 53 bits of SHA-256 make two
 * procedures' ids collide with negligible odds, and a dealer or broker that finds the
 * id taken falls back to its own sequence.
 */
import { createHash } from 'node:crypto';
import type { MatchPolicy, TopicPattern } from '../../topic';

const SPAN = 2 ** 53;

function idOf(text: string): number {
  const h = createHash('sha256').update(text).digest();
  // 53 bits: 21 from the first word, 32 from the second
  const id = (h.readUInt32BE(0) & 0x1fffff) * 2 ** 32 + h.readUInt32BE(4);
  return (id % (SPAN - 1)) + 1;
}

export function registrationIdOf(realm: string, uri: string, match: MatchPolicy): number {
  return idOf(`${realm}\u0000${match}\u0000${uri}`);
}

/** The pattern's key (match and URI) names it; subscriptions are a namespace of their own. */
export function subscriptionIdOf(realm: string, pattern: TopicPattern): number {
  return idOf(`sub\u0000${realm}\u0000${pattern.key}`);
}
