/**
 * Link patterns (config links[].out / in / calls) are canonical topics with fox-wamp
 * wildcards: `a.*.c` (one level), `site.#` (the rest, last only). The core's own forms:
 * a TopicPattern for topics, a registration (uri + match) for procedures.
 */
import type { MatchPolicy, TopicPattern } from '../topic';
import { parsePattern } from '../topic';

/** The topic pattern, or undefined for a pattern that is not valid. */
export function topicPatternOf(pattern: string): TopicPattern | undefined {
  return parsePattern(pattern, 'exact') ?? undefined;
}

/**
 * A procedure pattern as the dealer registers it: `a.#` is the prefix `a.`, `a.*.c`
 * the wildcard `a..c`, anything else exact.
 */
export function registrationOf(pattern: string): { uri: string; match: MatchPolicy } | undefined {
  const p = topicPatternOf(pattern);
  if (!p) return undefined;
  if (p.match !== 'wildcard') return { uri: p.uri, match: p.match };
  if (p.uri.endsWith('.#')) {
    const head = p.uri.slice(0, -1);
    // a.*.# has no dealer form: prefixes cannot hold a wildcard level
    return head.slice(0, -1).split('.').includes('') ? undefined : { uri: head, match: 'prefix' };
  }
  if (p.uri === '#') return undefined;
  return { uri: p.uri, match: 'wildcard' };
}

/**
 * A local subscription's pattern in link form, to mirror it at the peer (in: "auto"),
 * or undefined when it has none (prefix subscriptions, the router's own topics).
 */
export function linkPatternOf(p: TopicPattern): string | undefined {
  if (p.uri.startsWith('wamp.') || p.uri.startsWith('gatehouse.') || p.uri.startsWith('$')) return undefined;
  if (p.match === 'exact') return p.uri;
  if (p.match === 'wildcard')
    return p.uri
      .split('.')
      .map((c) => (c === '' ? '*' : c))
      .join('.');
  return undefined;
}
