// Topic notation is one-to-one (issue 16 item 6): every MQTT topic name, STOMP topic
// destination and WAMP URI maps to one canonical topic and back, and two different
// spellings in one notation are two different topics. Property-based (fast-check) over
// texts full of what means something in some notation: `%` `*` `#` `+` `.` `/`, the
// escapes, and empty levels.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  canonicalComponents,
  canonicalFromComponents,
  canonicalToMqtt,
  canonicalToStompTopic,
  isWellFormedCanonical,
  legacyCanonicalKey,
  mqttTopicToCanonical,
  parseMqttFilter,
  parseStompDestination,
} from '../../lib/notation';

const RUNS = { numRuns: 3000 };

/** Pieces of text: whole escapes of every notation, their halves, and the special characters. */
const SPECIAL = [
  '%',
  '*',
  '#',
  '+',
  '.',
  '/',
  '%2F',
  '%2B',
  '%23',
  '%25',
  '%2E',
  '%2A',
  '%2f',
  '%2b',
  '%2e',
  '2F',
  '25',
  'E',
  '$',
  ' ',
  'a',
  'b',
  'é',
];

function text(units: readonly string[], minLength = 0): fc.Arbitrary<string> {
  return fc.array(fc.constantFrom(...units), { minLength, maxLength: 5 }).map((u) => u.join(''));
}

/** Any component text (may be empty). */
const componentText = text(SPECIAL);
/** Component texts of a topic: at least one, and not the single empty one (no notation has the empty topic). */
const componentTexts = fc.array(componentText, { minLength: 1, maxLength: 5 }).filter((t) => !(t.length === 1 && t[0] === ''));

/** An MQTT topic name: levels of anything but `/ + #` (which MQTT forbids there), empty levels included. */
const MQTT_LEVEL = SPECIAL.filter((u) => !/[/+#]/.test(u));
const mqttName = fc
  .array(text(MQTT_LEVEL), { minLength: 1, maxLength: 5 })
  .map((levels) => levels.join('/'))
  .filter((n) => n !== '');

/** A WAMP URI as a client may publish it (loose: components non-empty, no `.`, `#` or whitespace). */
const WAMP_COMPONENT = SPECIAL.filter((u) => !/[.#\s]/.test(u));
const wampUri = fc.array(text(WAMP_COMPONENT, 1), { minLength: 1, maxLength: 4 }).map((c) => c.join('.'));

/**
 * A STOMP `/topic/` destination; not every one is valid (parseStompDestination decides):
 * mostly words built from canonical escapes, some from anything.
 */
const STOMP_WORD = SPECIAL.filter((u) => u !== '.');
const STOMP_VALID_UNITS = STOMP_WORD.filter((u) => !/^%|#/.test(u) || /^%(25|2E|23)$/.test(u));
const stompWord = fc.oneof(
  { arbitrary: text(STOMP_VALID_UNITS, 1), weight: 6 },
  { arbitrary: fc.constantFrom('%', '%2A', '*', '#'), weight: 2 },
  { arbitrary: text(STOMP_WORD), weight: 2 },
);
const stompDestination = fc.array(stompWord, { minLength: 1, maxLength: 4 }).map((w) => `/topic/${w.join('.')}`);

function canonicalOfMqtt(name: string): string {
  const c = mqttTopicToCanonical(name);
  assert.ok(c !== null, `MQTT name ${JSON.stringify(name)} is valid`);
  return c;
}

/** The exact topic a STOMP destination names, or undefined (wildcards, refused). */
function stompTopic(dest: string): string | undefined {
  const d = parseStompDestination(dest);
  return d?.kind === 'topic' && d.pattern.match === 'exact' ? d.pattern.uri : undefined;
}

// --- MQTT -------------------------------------------------------------------------

void test('notation bijection - every MQTT topic name -> canonical -> MQTT is the identity, through a normal-form canonical topic', () => {
  fc.assert(
    fc.property(mqttName, (name) => {
      const c = canonicalOfMqtt(name);
      assert.equal(isWellFormedCanonical(c), true, c);
      assert.equal(canonicalToMqtt(c), name);
      assert.equal(c.split('.').length, name.split('/').length, 'one component per level');
    }),
    RUNS,
  );
});

void test('notation bijection - distinct MQTT topic names give distinct canonical topics', () => {
  fc.assert(
    fc.property(mqttName, mqttName, (a, b) => {
      if (a !== b) assert.notEqual(canonicalOfMqtt(a), canonicalOfMqtt(b), `${a} / ${b}`);
    }),
    RUNS,
  );
  // the pairs of issue 16, which random pairs rarely hit
  for (const [a, b] of [
    ['pct/50%', 'pct/50%25'],
    ['a/%2F', 'a/%2f'],
    ['a/%', 'a/%25'],
    ['a//b', 'a/%/b'],
    ['int/*', 'int/%2A'],
    ['a/b.c', 'a/b%2Ec'],
  ] as const) {
    assert.notEqual(canonicalOfMqtt(a), canonicalOfMqtt(b), `${a} / ${b}`);
  }
});

void test('notation bijection - distinct MQTT filters give distinct index patterns', () => {
  const filter = fc
    .array(fc.oneof(text(MQTT_LEVEL), fc.constant('+')), { minLength: 1, maxLength: 4 })
    .chain((levels) => fc.boolean().map((many) => (many ? [...levels, '#'] : levels).join('/')))
    .filter((f) => f !== '');
  fc.assert(
    fc.property(filter, filter, (a, b) => {
      const pa = parseMqttFilter(a);
      const pb = parseMqttFilter(b);
      assert.ok(pa && pb, `${a} / ${b} are valid filters`);
      if (a !== b) assert.notEqual(pa.key, pb.key, `${a} / ${b}`);
    }),
    RUNS,
  );
});

// --- canonical --------------------------------------------------------------------

void test('notation bijection - component texts -> canonical -> texts is the identity, and distinct texts stay distinct', () => {
  fc.assert(
    fc.property(componentTexts, componentTexts, (a, b) => {
      const ca = canonicalFromComponents(a);
      assert.equal(isWellFormedCanonical(ca), true, ca);
      assert.deepEqual(canonicalComponents(ca), a);
      if (JSON.stringify(a) !== JSON.stringify(b)) assert.notEqual(ca, canonicalFromComponents(b));
    }),
    RUNS,
  );
});

void test('notation bijection - a canonical topic goes to MQTT and back unchanged, unless MQTT cannot name it (its escapes as literal text)', () => {
  fc.assert(
    fc.property(componentTexts, (texts) => {
      const c = canonicalFromComponents(texts);
      const name = canonicalToMqtt(c);
      const unnameable = texts.some((t) => /%2[FB3]/.test(t));
      assert.equal(name === null, unnameable, `${c} -> ${String(name)}`);
      if (name !== null) assert.equal(mqttTopicToCanonical(name), c);
    }),
    RUNS,
  );
});

void test('notation bijection - a canonical topic goes to STOMP and back unchanged', () => {
  fc.assert(
    fc.property(componentTexts, (texts) => {
      const c = canonicalFromComponents(texts);
      const dest = canonicalToStompTopic(c);
      assert.ok(dest !== null, c);
      assert.equal(stompTopic(dest), c, dest);
    }),
    RUNS,
  );
});

// --- WAMP ---------------------------------------------------------------------------

void test('notation bijection - a WAMP URI is its canonical topic; MQTT and STOMP name it exactly when it is in normal form, and give it back', () => {
  fc.assert(
    fc.property(wampUri, wampUri, (uri, other) => {
      const normal = isWellFormedCanonical(uri);
      const name = canonicalToMqtt(uri);
      const dest = canonicalToStompTopic(uri);
      assert.equal(dest !== null, normal, `STOMP names ${uri} iff normal: ${String(dest)}`);
      if (!normal) assert.equal(name, null, `MQTT cannot name ${uri}`);
      if (name !== null) assert.equal(mqttTopicToCanonical(name), uri, `${uri} -> ${name}`);
      if (dest !== null) assert.equal(stompTopic(dest), uri, `${uri} -> ${dest}`);
      // distinct URIs are never delivered under one name
      if (uri !== other) {
        const otherName = canonicalToMqtt(other);
        const otherDest = canonicalToStompTopic(other);
        if (name !== null) assert.notEqual(name, otherName, `${uri} / ${other}`);
        if (dest !== null) assert.notEqual(dest, otherDest, `${uri} / ${other}`);
      }
    }),
    RUNS,
  );
  // the literal * of issue 16: WAMP int.* is MQTT int/* and STOMP /topic/int.%2A
  assert.equal(canonicalToMqtt('int.*'), 'int/*');
  assert.equal(mqttTopicToCanonical('int/*'), 'int.*');
  assert.equal(canonicalToStompTopic('int.*'), '/topic/int.%2A');
  assert.equal(stompTopic('/topic/int.%2A'), 'int.*');
});

// --- STOMP --------------------------------------------------------------------------

void test('notation bijection - every STOMP topic destination -> canonical -> STOMP is the identity, and distinct ones stay distinct', () => {
  let named = 0;
  fc.assert(
    fc.property(stompDestination, stompDestination, (a, b) => {
      const ta = stompTopic(a);
      if (ta === undefined) return;
      named++;
      assert.equal(isWellFormedCanonical(ta), true, ta);
      assert.equal(canonicalToStompTopic(ta), a);
      const tb = stompTopic(b);
      if (tb !== undefined && a !== b) assert.notEqual(ta, tb, `${a} / ${b}`);
    }),
    RUNS,
  );
  assert.ok(named > RUNS.numRuns / 4, `enough valid destinations: ${named}`);
});

void test('notation bijection - MQTT -> canonical -> STOMP -> canonical -> MQTT is the identity', () => {
  fc.assert(
    fc.property(mqttName, (name) => {
      const c = canonicalOfMqtt(name);
      const dest = canonicalToStompTopic(c);
      assert.ok(dest !== null, c);
      const back = stompTopic(dest);
      assert.equal(back, c, dest);
      assert.equal(canonicalToMqtt(back), name);
    }),
    RUNS,
  );
});

// --- stored keys ----------------------------------------------------------------------

void test('notation bijection - legacyCanonicalKey moves the old spelling of a * level (%2A) to the key that topic has now', () => {
  assert.equal(legacyCanonicalKey('int.%2A'), mqttTopicToCanonical('int/*'));
  assert.equal(legacyCanonicalKey('%2A.a.%2A'), '*.a.*');
  for (const unchanged of ['a.b', 'a.b%2A', 'a.%252A', 'a.50%25', 'a.%.b'])
    assert.equal(legacyCanonicalKey(unchanged), unchanged);
});
