/**
 * Topic notation: the one place where MQTT topics and STOMP destinations are translated to
 * and from the canonical form. Every gate calls these functions; nothing else splits on
 * '/' or joins with '.'.
 *
 * THE RULE: every notation is a bijection onto the topics it can name, so a topic
 * round-trips exactly and two different spellings in one notation are two different topics
 * (the retained store keys are canonical topics).
 *
 * A topic is a list of components; a component is any text (possibly empty).
 *
 * Canonical form (the WAMP URI, what the core sees). Components are joined with `.`.
 * Inside a component three characters are percent-encoded: `%` -> `%25`, `.` -> `%2E`,
 * `#` -> `%23` (uppercase hex, nothing else is encoded), and the empty component is a lone
 * `%`. So a canonical component is never empty and never contains `.` or `#`, and every
 * `%` in it starts `%25` `%2E` `%23` or is the whole component. Why:
 * - `#`: the core reads a trailing `#` component of a wildcard pattern as "the rest"; a
 *   level named `#` (MQTT `%23`) must not become it. WAMP URIs cannot contain `#` anyway.
 * - empty: in a wildcard pattern the core reads an empty component as the one-level
 *   wildcard, so if MQTT's empty level were an empty component the filter `/+` would be
 *   `+/+` and match `x/finance`. With `%`, MQTT `a//b` is canonical `a.%.b`, `/a` is
 *   `%.a`, `a/` is `a.%`: never equal to a non-empty name, never a wildcard.
 * - `*` is an ordinary character, also as a whole component: WAMP `int.*` is the topic
 *   whose last component is `*`, the same as MQTT `int/*`. Only where a whole `*` is a
 *   wildcard is it spelled otherwise: STOMP writes the word `%2A`, and a WAMP client
 *   subscribes to it with `match: "wildcard"` (the core's wildcard patterns take `*` as a
 *   literal; an exact WAMP subscription reads it as fox-wamp's one-level wildcard).
 * WAMP clients write canonical form directly: `a.b%2Ec` is the component `b.c`, `a.%.b`
 * the MQTT topic `a//b`. A URI not in this normal form (a `%` that starts no escape:
 * `a.50%`, `a.%2A`) is a WAMP topic of its own that MQTT cannot name (canonicalToMqtt()
 * gives null) and STOMP cannot address; isWellFormedCanonical() tells them apart.
 * Components holding whitespace (allowed in MQTT levels) are not valid WAMP URIs: WAMP
 * clients reach them through wildcard or prefix subscriptions only.
 *
 * MQTT. Levels are separated by `/`. A level is its text, except for three escapes for
 * the characters MQTT cannot put inside a level: `%2F` is `/`, `%2B` is `+`, `%23` is `#`
 * (uppercase only, so each has one spelling). Every other `%` is a literal `%`, and `.`
 * and `*` are literal. Going out, `/ + #` in a component are written as those escapes.
 *   MQTT `a/b.c`     <-> canonical `a.b%2Ec`
 *   MQTT `a/b%2Fc`   <-> canonical `a.b/c` (a WAMP component holding a `/`)
 *   MQTT `a/50%`     <-> canonical `a.50%25`
 *   MQTT `a/50%25`   <-> canonical `a.50%2525` (another topic than `a/50%`)
 *   MQTT `a/*`       <-> canonical `a.*`
 * Round trips: MQTT -> canonical -> MQTT is the identity on every MQTT topic name (the
 * decoding above is one-to-one: `/ + #` never occur in a level, so each came from its one
 * escape). canonical -> MQTT -> canonical is the identity wherever canonicalToMqtt() is not
 * null; it is null for a topic MQTT cannot name: not in normal form, a component whose
 * text holds `%2F`, `%2B` or `%23` literally (MQTT would read them as escapes), U+0000, or
 * over 65535 bytes. The gate skips (and counts) such deliveries.
 * Filters: `+` (a whole level) is the one-level wildcard, `#` (the whole last level) matches
 * that level's parent and everything below [MQTT-4.7.1-2]; a filter with neither is an exact
 * pattern. Filters beginning with `+` or `#` do not match topics beginning with `$`
 * [MQTT-4.7.2-1]: the core index does not know this, the MQTT gate checks it with
 * mqttDollarRuleAllows(). `$share/<name>/<filter>` is an MQTT 5 shared subscription.
 *
 * STOMP (RabbitMQ style). `/topic/<words>` is a topic whose words are canonical components
 * as they are (`/topic/a.b%2Ec` is canonical `a.b%2Ec`), except that the word `%2A` is the
 * component `*`, since a `*` word is the one-word wildcard; in a subscription a last `#` is
 * any number of words, including none. RabbitMQ also allows `#` in the middle of a binding
 * key (zero or more words); the core index cannot express that, so such destinations are
 * refused. Empty words are refused too (write `%`), and so are words not in canonical normal
 * form. `/queue/<name>` and `/temp-queue/<name>` are work queues, not topics; any other
 * destination is refused.
 *
 * Stored keys written before this rule (README "Topics across protocols"): a component
 * `%2A` (MQTT `*`, STOMP `%2A`) is now `*`, see legacyCanonicalKey(); MQTT names holding
 * `%25` or a lowercase `%2f` / `%2b` now name other topics than before.
 */
import type { MatchPolicy, TopicPattern } from './topic';

// --- canonical components ---------------------------------------------------------

const EMPTY_COMPONENT = '%';
const STAR = '*';
/** STOMP's spelling of the word `*` (a `*` word is its wildcard), and the old canonical one */
const STAR_ESCAPED = '%2A';
const CANONICAL_SPECIAL = /[%.#]/;
const CANONICAL_ESCAPE: Readonly<Record<string, string>> = { '%': '%25', '.': '%2E', '#': '%23' };
const CANONICAL_ESCAPE_SEQUENCE = /%(?:25|2E|23)/g;
const CANONICAL_UNESCAPE: Readonly<Record<string, string>> = { '%25': '%', '%2E': '.', '%23': '#' };
/** A canonical component other than the lone `%`. */
const CANONICAL_COMPONENT = /^(?:[^%.#]|%(?:25|2E|23))+$/;

/** Canonical spelling of one component's text. */
export function encodeCanonicalComponent(text: string): string {
  if (text.length === 0) return EMPTY_COMPONENT;
  return CANONICAL_SPECIAL.test(text) ? text.replace(/[%.#]/g, (c) => CANONICAL_ESCAPE[c] ?? c) : text;
}

/**
 * Text of one canonical component. Lenient: a `%` that starts no escape is kept as is, and
 * an empty component (only in URIs that are not well formed) is the empty text.
 */
export function decodeCanonicalComponent(component: string): string {
  if (component === EMPTY_COMPONENT) return '';
  if (!component.includes('%')) return component;
  return component.replace(CANONICAL_ESCAPE_SEQUENCE, (seq) => CANONICAL_UNESCAPE[seq] ?? seq);
}

/** Canonical topic made of these component texts. */
export function canonicalFromComponents(texts: readonly string[]): string {
  return texts.map(encodeCanonicalComponent).join('.');
}

/** Component texts of a canonical topic (lenient, see decodeCanonicalComponent). */
export function canonicalComponents(topic: string): string[] {
  return topic.split('.').map(decodeCanonicalComponent);
}

function isCanonicalComponent(component: string): boolean {
  return component === EMPTY_COMPONENT || CANONICAL_COMPONENT.test(component);
}

/**
 * Whether `topic` is a canonical topic in normal form: no empty components, no `#`, and
 * every `%` starts `%25`, `%2E` or `%23` or is the whole component `%`. Exactly the strings
 * canonicalFromComponents() can produce, so equal text lists <=> equal strings.
 */
export function isWellFormedCanonical(topic: string): boolean {
  return topic.split('.').every(isCanonicalComponent);
}

/**
 * A stored key (canonical topic) as written before every notation became one-to-one: the
 * text `*` was then spelled as the component `%2A`; it is now `*`. Nothing else changes
 * spelling; the result is the key the same MQTT or STOMP topic has now.
 */
export function legacyCanonicalKey(key: string): string {
  if (!key.includes(STAR_ESCAPED)) return key;
  return key
    .split('.')
    .map((c) => (c === STAR_ESCAPED ? STAR : c))
    .join('.');
}

// --- MQTT -------------------------------------------------------------------------

/** [MQTT-4.7.3-3] topic names and filters are UTF-8 strings of at most 65535 bytes. */
const MQTT_MAX_BYTES = 65535;

/** Non-empty [MQTT-4.7.3-1] and at most 65535 bytes [MQTT-4.7.3-3]. */
function fitsMqtt(s: string): boolean {
  // a UTF-16 code unit takes at most 3 UTF-8 bytes: count bytes only for long strings
  return s.length > 0 && (s.length * 3 <= MQTT_MAX_BYTES || Buffer.byteLength(s, 'utf8') <= MQTT_MAX_BYTES);
}

/** fitsMqtt(), and no U+0000 [MQTT-4.7.3-2]. */
function isMqttString(s: string): boolean {
  return fitsMqtt(s) && !s.includes('\u0000');
}

/**
 * The character an MQTT escape at `at` stands for (`%2F` `%2B` `%23`, uppercase: one
 * spelling each, so decoding is one-to-one), or undefined when `%` is literal there.
 */
function mqttEscapeAt(level: string, at: number): string | undefined {
  if (level.charCodeAt(at + 1) !== 0x32 /* 2 */) return undefined;
  switch (level.charCodeAt(at + 2)) {
    case 0x46 /* F */:
      return '/';
    case 0x42 /* B */:
      return '+';
    case 0x33 /* 3 */:
      return '#';
    default:
      return undefined;
  }
}

/** Text of one MQTT level (no `/`, `+` or `#` in it). */
function decodeMqttLevel(level: string): string {
  let at = level.indexOf('%');
  if (at < 0) return level;
  let out = '';
  let from = 0;
  while (at >= 0) {
    const decoded = mqttEscapeAt(level, at);
    if (decoded === undefined) {
      at = level.indexOf('%', at + 1);
    } else {
      out += level.slice(from, at) + decoded;
      from = at + 3;
      at = level.indexOf('%', from);
    }
  }
  return out + level.slice(from);
}

const MQTT_SPECIAL = /[/+#]/;
const MQTT_ESCAPE: Readonly<Record<string, string>> = { '/': '%2F', '+': '%2B', '#': '%23' };
/** Text MQTT cannot name: it would read these as escapes */
const MQTT_ESCAPE_LOOKALIKE = /%2[FB3]/;

function encodeMqttLevel(text: string): string {
  return MQTT_SPECIAL.test(text) ? text.replace(/[/+#]/g, (c) => MQTT_ESCAPE[c] ?? c) : text;
}

function mqttLevelToCanonical(level: string): string {
  return encodeCanonicalComponent(decodeMqttLevel(level));
}

/**
 * Anything that keeps an MQTT topic name off the fast path (a plain `/` -> `.` swap): a
 * character canonical form escapes or MQTT forbids, an empty level. U+0000 is in the same
 * scan so the fast path reads the name once.
 */
// eslint-disable-next-line no-control-regex -- U+0000 is the character MQTT forbids [MQTT-4.7.3-2]
const MQTT_NAME_SLOW = /[%.+#\u0000]|\/\/|^\/|\/$/;
const MQTT_WILDCARD_CHAR = /[+#]/;

/**
 * Canonical topic of an MQTT topic name (PUBLISH, will topic); null when the name is not
 * a valid topic name: empty, U+0000, over 65535 bytes, or holding a wildcard
 * character [MQTT-3.3.2-2].
 */
export function mqttTopicToCanonical(name: string): string | null {
  // typical names (`sensors/room1/temperature`) take one scan and one native replace
  if (!MQTT_NAME_SLOW.test(name)) return fitsMqtt(name) ? name.replaceAll('/', '.') : null;
  if (!isMqttString(name) || MQTT_WILDCARD_CHAR.test(name)) return null;
  return name.split('/').map(mqttLevelToCanonical).join('.');
}

/** One canonical component as an MQTT level; null when MQTT cannot name it. */
function canonicalComponentToMqtt(component: string): string | null {
  if (!isCanonicalComponent(component)) return null;
  const text = decodeCanonicalComponent(component);
  return MQTT_ESCAPE_LOOKALIKE.test(text) ? null : encodeMqttLevel(text);
}

/** Off the fast path: a character either side escapes or forbids, an empty component. */
// eslint-disable-next-line no-control-regex -- U+0000 cannot go out over MQTT [MQTT-4.7.3-2]
const CANONICAL_TOPIC_SLOW = /[%/+#\u0000]|\.\.|^\.|\.$/;

/**
 * MQTT topic name for a canonical topic, for outbound PUBLISH; null when MQTT cannot name
 * it (see THE RULE: not in normal form, a literal `%2F` `%2B` `%23`, U+0000, empty, over
 * 65535 bytes): the gate skips that delivery.
 */
export function canonicalToMqtt(topic: string): string | null {
  if (!CANONICAL_TOPIC_SLOW.test(topic)) {
    const name = topic.replaceAll('.', '/');
    return fitsMqtt(name) ? name : null;
  }
  const levels: string[] = [];
  for (const component of topic.split('.')) {
    const level = canonicalComponentToMqtt(component);
    if (level === null) return null;
    levels.push(level);
  }
  const name = levels.join('/');
  return isMqttString(name) ? name : null;
}

function makePattern(uri: string, match: MatchPolicy): TopicPattern {
  // the key contract of TopicPattern in lib/topic.ts: `${match}:${uri}`
  return { uri, match, key: `${match}:${uri}` };
}

/**
 * Index pattern of an MQTT topic filter; null when the filter is invalid (MQTT 3.1.1 and
 * 5.0 §4.7): empty, U+0000, over 65535 bytes, `#` not alone in the last level, `+` not
 * alone in its level.
 */
export function parseMqttFilter(filter: string): TopicPattern | null {
  if (!isMqttString(filter)) return null;
  const levels = filter.split('/');
  const last = levels.length - 1;
  const parts: string[] = [];
  let wildcard = false;
  let i = 0;
  for (const level of levels) {
    if (level === '+') {
      // [MQTT-4.7.1-3] single-level wildcard: the core's empty component
      wildcard = true;
      parts.push('');
    } else if (level === '#') {
      // [MQTT-4.7.1-2] multi-level wildcard: alone, and the last level
      if (i !== last) return null;
      wildcard = true;
      parts.push('#');
    } else if (MQTT_WILDCARD_CHAR.test(level)) {
      // [MQTT-4.7.1-2] [MQTT-4.7.1-3] a wildcard must occupy an entire level
      return null;
    } else {
      parts.push(mqttLevelToCanonical(level));
    }
    i++;
  }
  return makePattern(parts.join('.'), wildcard ? 'wildcard' : 'exact');
}

export interface MqttSubscription {
  pattern: TopicPattern;
  /** MQTT 5 shared subscription: the ShareName of `$share/<name>/<filter>` */
  share?: string;
  /**
   * [MQTT-4.7.2-1] the filter begins with `+` or `#`, so it must not match topic names
   * that begin with `$`; see mqttDollarRuleAllows().
   */
  skipsDollarTopics: boolean;
}

const SHARE_PREFIX = '$share/';
const DOLLAR = 0x24; // '$'
const SHARE_NAME_FORBIDDEN = /[/+#]/;

/**
 * A SUBSCRIBE topic filter, shared or not; null when invalid. `$share/<name>/<filter>`:
 * the ShareName is non-empty without `/`, `+` or `#`, and is followed by `/` and a valid
 * filter [MQTT-4.8.2-1] [MQTT-4.8.2-2].
 */
export function parseMqttSubscription(filter: string): MqttSubscription | null {
  if (!filter.startsWith(SHARE_PREFIX)) return plainSubscription(filter);
  const slash = filter.indexOf('/', SHARE_PREFIX.length);
  if (slash < 0) return null;
  const share = filter.slice(SHARE_PREFIX.length, slash);
  if (share.length === 0 || SHARE_NAME_FORBIDDEN.test(share)) return null;
  const sub = plainSubscription(filter.slice(slash + 1));
  return sub === null ? null : { ...sub, share };
}

function plainSubscription(filter: string): MqttSubscription | null {
  const pattern = parseMqttFilter(filter);
  if (pattern === null) return null;
  const first = filter.charCodeAt(0);
  return { pattern, skipsDollarTopics: first === 0x2b /* + */ || first === 0x23 /* # */ };
}

/**
 * [MQTT-4.7.2-1] Whether the MQTT gate may deliver `topic` (canonical, as matched by the
 * index) to this subscription. A canonical topic begins with `$` exactly when its MQTT name
 * does.
 */
export function mqttDollarRuleAllows(sub: Pick<MqttSubscription, 'skipsDollarTopics'>, topic: string): boolean {
  return !sub.skipsDollarTopics || topic.charCodeAt(0) !== DOLLAR;
}

// --- STOMP ------------------------------------------------------------------------

export type StompDestination =
  { kind: 'topic'; pattern: TopicPattern } | { kind: 'queue'; name: string } | { kind: 'temp-queue'; name: string };

const STOMP_TOPIC = '/topic/';
const STOMP_QUEUE = '/queue/';
const STOMP_TEMP_QUEUE = '/temp-queue/';

/**
 * Meaning of a STOMP destination (SUBSCRIBE or SEND); null when it is none of `/topic/`,
 * `/queue/`, `/temp-queue/` or is malformed. A SEND goes to a concrete topic: the gate
 * accepts a topic destination there only when its pattern is `exact` (its uri is the topic).
 */
export function parseStompDestination(dest: string): StompDestination | null {
  if (dest.startsWith(STOMP_TOPIC)) {
    const pattern = stompTopicPattern(dest.slice(STOMP_TOPIC.length));
    return pattern === null ? null : { kind: 'topic', pattern };
  }
  if (dest.startsWith(STOMP_QUEUE)) {
    const name = dest.slice(STOMP_QUEUE.length);
    return isQueueName(name) ? { kind: 'queue', name } : null;
  }
  if (dest.startsWith(STOMP_TEMP_QUEUE)) {
    const name = dest.slice(STOMP_TEMP_QUEUE.length);
    return isQueueName(name) ? { kind: 'temp-queue', name } : null;
  }
  // `/exchange/...`, `/amq/queue/...`, bare names: not routed by Gatehouse
  return null;
}

function isQueueName(name: string): boolean {
  return name.length > 0 && !name.includes('\u0000');
}

function stompTopicPattern(words: string): TopicPattern | null {
  if (words.length === 0 || words.includes('\u0000')) return null;
  const parts = words.split('.');
  const last = parts.length - 1;
  let wildcard = false;
  let i = 0;
  for (const word of parts) {
    if (word === STAR) {
      // RabbitMQ topic exchange: `*` is exactly one word -> the core's empty component
      wildcard = true;
      parts[i] = '';
    } else if (word === '#') {
      // RabbitMQ: `#` is zero or more words anywhere; the core has it only at the end
      if (i !== last) return null;
      wildcard = true;
    } else if (word === STAR_ESCAPED) {
      // the component `*` itself (a `*` word would be the wildcard)
      parts[i] = STAR;
    } else if (!isCanonicalComponent(word)) {
      // empty words, a `#` inside a word, a `%` that is no canonical escape
      return null;
    }
    i++;
  }
  return makePattern(parts.join('.'), wildcard ? 'wildcard' : 'exact');
}

/** Off the fast path: what may make a topic not normal, a `*` to write as `%2A`. */
const STOMP_TOPIC_SLOW = /[%#*]|\.\.|^\.|\.$/;

/**
 * STOMP destination for a canonical topic, for outbound MESSAGE frames and reply-to: the
 * component `*` is the word `%2A`. Null for a topic not in normal form (a WAMP URI such as
 * `a.50%` or `a.%2A`), which no STOMP destination names: the gate writes another.
 */
export function canonicalToStompTopic(topic: string): string | null {
  // typical topics: one scan, one concatenation (this runs per delivered MESSAGE)
  if (topic.length > 0 && !STOMP_TOPIC_SLOW.test(topic)) return STOMP_TOPIC + topic;
  if (!isWellFormedCanonical(topic)) return null;
  if (!topic.includes(STAR)) return STOMP_TOPIC + topic;
  return (
    STOMP_TOPIC +
    topic
      .split('.')
      .map((c) => (c === STAR ? STAR_ESCAPED : c))
      .join('.')
  );
}
