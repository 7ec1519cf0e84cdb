/**
 * Canonical topics and subscription patterns as NATS subjects (issue 12, "traffic
 * follows interest"). A NATS subject is dot-separated tokens; `*` matches one token and
 * `>` one or more, and a token holds no whitespace, '.', '*' or '>' (NATS "Subject-Based
 * Messaging"). A canonical topic is a WAMP URI (lib/topic.ts), so each URI component
 * becomes one token:
 * - [A-Za-z0-9_-] stay as they are;
 * - every other UTF-8 byte becomes `=XX` (upper-case hex), '=' itself included, so '*',
 *   '>', spaces and non-ASCII never reach the server as such;
 * - an empty component becomes a lone `=`.
 *
 * An event's subject is `<prefix>.ev.<realm>.<components...>.!`: the final `!` token
 * (which no component encodes to) lets one filter stand for a WAMP or MQTT pattern whose
 * `#` also matches its parent (`a.#` matches `a`): `a.#` is `a.>`, and `a` is `a.!`.
 */
import type { TopicPattern } from '../topic';

const PLAIN = /^[A-Za-z0-9_-]+$/;
const PLAIN_BYTE = /[A-Za-z0-9_-]/;
const UTF8 = new TextEncoder();
/** ends every event subject; see above */
const END = '!';

/** One URI component (or a realm name) as one subject token. */
export function encodeToken(component: string): string {
  if (component === '') return '=';
  if (PLAIN.test(component)) return component;
  let out = '';
  for (const byte of UTF8.encode(component)) {
    const ch = String.fromCharCode(byte);
    out += byte < 0x80 && PLAIN_BYTE.test(ch) ? ch : `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** `<prefix>.ev.<realm>.`: every event subject of a realm starts with it. */
export function realmSubjectPrefix(prefix: string, realm: string): string {
  return `${prefix}.ev.${encodeToken(realm)}.`;
}

/** The subject an event on `topic` is published on. */
export function eventSubject(realmPrefix: string, topic: string): string {
  let out = realmPrefix;
  for (const component of topic.split('.')) out += encodeToken(component) + '.';
  return out + END;
}

/**
 * The one subject filter that covers every topic a pattern matches; the local broker
 * still matches exactly, so a filter may take in more (a prefix pattern's last,
 * partial component):
 * - exact `a.b` -> `a.b.!`;
 * - wildcard `a..c` (fox-wamp `a.*.c`, MQTT `a/+/c`) -> `a.*.c.!`; a final `#` (MQTT
 *   `a/#`) -> `a.>`;
 * - prefix `a.b` (a string prefix: `a.bc` matches too) -> `a.>`; `a.b.` -> `a.b.>`.
 */
export function interestSubject(realmPrefix: string, pattern: TopicPattern): string {
  const parts = pattern.uri.split('.');
  let out = realmPrefix;
  switch (pattern.match) {
    case 'exact':
      for (const c of parts) out += encodeToken(c) + '.';
      return out + END;
    case 'wildcard': {
      const last = parts.length - 1;
      for (let i = 0; i < parts.length; i++) {
        const c = parts[i] ?? '';
        if (i === last && c === '#') return out + '>';
        out += (c === '' ? '*' : encodeToken(c)) + '.';
      }
      return out + END;
    }
    case 'prefix':
      // the last component may be partial: only the complete ones narrow the filter
      for (let i = 0; i < parts.length - 1; i++) out += encodeToken(parts[i] ?? '') + '.';
      return out + '>';
  }
}

/** Does a subject filter match a (token-escaped, wildcard-free) subject? NATS rules. */
export function subjectMatches(filter: string, subject: string): boolean {
  const f = filter.split('.');
  const s = subject.split('.');
  for (let i = 0; i < f.length; i++) {
    const t = f[i];
    if (t === '>') return s.length > i;
    if (i >= s.length) return false;
    if (t !== '*' && t !== s[i]) return false;
  }
  return f.length === s.length;
}

/**
 * The NATS queue group of one shared group (MQTT 5 `$share/<group>/<filter>`) on one
 * pattern: `<realm prefix>share.<group>.<match>.<components...>`, every part a token as
 * above, so two groups, realms or patterns never share a queue group (two patterns may
 * share a subject filter: prefix `a.b` and wildcard `a.#` are both `a.>`). NATS hands a
 * message to one subscriber of a queue group ("Queue Groups", NATS docs), whichever node
 * holds it: that is the group's one member cluster-wide (lib/cluster/shares.ts).
 */
export function shareQueue(realmPrefix: string, group: string, pattern: TopicPattern): string {
  let out = `${realmPrefix}share.${encodeToken(group)}.${pattern.match}`;
  for (const c of pattern.uri.split('.')) out += '.' + encodeToken(c);
  return out;
}
