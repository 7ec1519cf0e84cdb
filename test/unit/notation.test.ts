import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  canonicalComponents,
  canonicalFromComponents,
  canonicalToMqtt,
  canonicalToStompTopic,
  decodeCanonicalComponent,
  encodeCanonicalComponent,
  isWellFormedCanonical,
  mqttDollarRuleAllows,
  mqttTopicToCanonical,
  parseMqttFilter,
  parseMqttSubscription,
  parseStompDestination,
  type MqttSubscription,
} from '../../lib/notation';
import { parsePattern, patternMatches, TopicIndex, type TopicPattern } from '../../lib/topic';

// --- helpers ----------------------------------------------------------------------

function filter(text: string): TopicPattern {
  const p = parseMqttFilter(text);
  assert.ok(p, `expected MQTT filter ${JSON.stringify(text)} to be valid`);
  return p;
}

function subscription(text: string): MqttSubscription {
  const s = parseMqttSubscription(text);
  assert.ok(s, `expected MQTT subscription ${JSON.stringify(text)} to be valid`);
  return s;
}

function topic(name: string): string {
  const t = mqttTopicToCanonical(name);
  assert.ok(t !== null, `expected MQTT topic name ${JSON.stringify(name)} to be valid`);
  return t;
}

function stompTopic(dest: string): TopicPattern {
  const d = parseStompDestination(dest);
  assert.ok(d?.kind === 'topic', `expected ${JSON.stringify(dest)} to be a topic destination`);
  return d.pattern;
}

/** Whether the MQTT filter matches the MQTT topic name, through the core index and patternMatches alike. */
function mqttMatches(filterText: string, name: string): boolean {
  const p = filter(filterText);
  const t = topic(name);
  const index = new TopicIndex<string>();
  index.add(p, p.key);
  const viaIndex = index.matchAll(t).length === 1;
  assert.equal(patternMatches(p, t), viaIndex, `index and patternMatches disagree: ${filterText} / ${name}`);
  return viaIndex;
}

/** Small seeded PRNG (mulberry32), so that a failing case can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(rnd: () => number, items: readonly T[]): T {
  const item = items[Math.floor(rnd() * items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}

/** A string of 0..maxPieces pieces; pieces are multi-character so that escapes appear whole and split. */
function pieces(rnd: () => number, alphabet: readonly string[], maxPieces: number): string {
  let s = '';
  const n = Math.floor(rnd() * (maxPieces + 1));
  for (let i = 0; i < n; i++) s += pick(rnd, alphabet);
  return s;
}

function list<T>(rnd: () => number, min: number, max: number, make: () => T): T[] {
  const out: T[] = [];
  const n = min + Math.floor(rnd() * (max - min + 1));
  for (let i = 0; i < n; i++) out.push(make());
  return out;
}

const RUNS = 5000;

/** Any text a component may hold: every character special to some protocol, escapes, unicode. */
const TEXT_PIECES = [
  'a',
  'b',
  'Z',
  '.',
  '/',
  '%',
  '+',
  '#',
  '*',
  '$',
  ' ',
  '2F',
  '25',
  '2E',
  '%2F',
  '%25',
  '%2E',
  '%23',
  '%2f',
  'é',
  '😀',
  '\uD800',
];
/** MQTT level text whose every `%` starts an escape, uppercase. */
const ESCAPED_LEVEL_PIECES = ['a', 'b', '.', '..', '*', '$', ' ', '2F', '25', '%2F', '%2B', '%23', '%25', 'é', '😀'];
/** MQTT level text with bare `%` and lowercase escapes too. */
const RAW_LEVEL_PIECES = [...ESCAPED_LEVEL_PIECES, '%', '%2', '%2f', '%2b', '%zz', '%2E', '%%'];

/** Reference MQTT matcher, written from §4.7 directly on MQTT strings (levels compared by their decoded text). */
function referenceMqttMatch(filterText: string, name: string): boolean {
  const decode = (level: string): string =>
    level.replace(/%(2F|2B|23)/g, (_seq: string, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  const want = filterText.split('/');
  const got = name.split('/');
  for (let i = 0; i < want.length; i++) {
    const w = want[i];
    if (w === '#') return true; // [MQTT-4.7.1-2] includes the parent level
    const g = got[i];
    if (g === undefined) return false;
    if (w !== '+' && decode(w ?? '') !== decode(g)) return false;
  }
  return want.length === got.length;
}

// --- canonical components -----------------------------------------------------------

test('notation - canonical components escape %, . and #, and an empty component is a lone %', () => {
  assert.equal(encodeCanonicalComponent('b.c'), 'b%2Ec');
  assert.equal(encodeCanonicalComponent('50%'), '50%25');
  assert.equal(encodeCanonicalComponent('#'), '%23');
  assert.equal(encodeCanonicalComponent(''), '%');
  assert.equal(encodeCanonicalComponent('a/b+c*'), 'a/b+c*');
  assert.equal(encodeCanonicalComponent('*'), '*', 'a whole * is an ordinary component (WAMP int.* = MQTT int/*)');
  assert.equal(encodeCanonicalComponent('**'), '**');
  assert.equal(decodeCanonicalComponent('%2A'), '%2A', 'lenient: %2A is no canonical escape');
  assert.equal(decodeCanonicalComponent('*'), '*');
  assert.equal(decodeCanonicalComponent('b%2Ec%25%23'), 'b.c%#');
  assert.equal(decodeCanonicalComponent('%'), '');
  assert.equal(decodeCanonicalComponent('%2e%zz'), '%2e%zz', 'lenient: no escape, literal %');
  assert.equal(canonicalFromComponents(['a', 'b.c', '', '#']), 'a.b%2Ec.%.%23');
  assert.deepEqual(canonicalComponents('a.b%2Ec.%.%23'), ['a', 'b.c', '', '#']);
});

test('notation - isWellFormedCanonical accepts exactly the normal form', () => {
  for (const uri of ['a.b', 'a.b%2Ec', 'a.%.b', '%', 'a.50%25', 'x.%23', 'a b.c/d', '$SYS.x', 'a.*', 'a.b*']) {
    assert.equal(isWellFormedCanonical(uri), true, uri);
  }
  for (const uri of ['', 'a..b', '.a', 'a.', 'a.#', 'a#b', 'a.50%', 'a.%2e', 'a.%2F', 'a.%%', 'a.%x', 'a.%2A', 'a.b%2A']) {
    assert.equal(isWellFormedCanonical(uri), false, uri);
  }
});

// --- MQTT topic names ---------------------------------------------------------------

test('notation - MQTT topic names: / separates, . % * are literal, the three uppercase escapes decode', () => {
  assert.equal(topic('sensors/room1/temperature'), 'sensors.room1.temperature');
  assert.equal(topic('a/b.c'), 'a.b%2Ec');
  assert.equal(topic('a/b%2Fc'), 'a.b/c');
  assert.equal(topic('a/%2B%23'), 'a.+%23');
  assert.equal(topic('a/%25'), 'a.%2525', '%25 is no MQTT escape: a level named %25');
  assert.equal(topic('a/b%2fc'), 'a.b%252fc', 'lowercase is no escape: one spelling each');
  assert.equal(topic('a/50%'), 'a.50%25', 'a bare % is literal');
  assert.notEqual(topic('a/50%'), topic('a/50%25'), 'issue 16: two names, two topics');
  assert.equal(topic('a/%zz%2'), 'a.%25zz%252');
  assert.equal(topic('a/%2E'), 'a.%252E', '%2E is no MQTT escape');
  assert.equal(topic('$SYS/broker/load'), '$SYS.broker.load');
  assert.equal(topic('ü/😀 x'), 'ü.😀 x');
  assert.equal(topic('a/*/b*'), 'a.*.b*');
});

test('notation - canonicalToMqtt writes / + # as escapes and . % * as themselves', () => {
  assert.equal(canonicalToMqtt('sensors.room1.temperature'), 'sensors/room1/temperature');
  assert.equal(canonicalToMqtt('a.b%2Ec'), 'a/b.c');
  assert.equal(canonicalToMqtt('a.b/c'), 'a/b%2Fc', 'WAMP a.b/c');
  assert.equal(canonicalToMqtt('a.b+c.%23.%25'), 'a/b%2Bc/%23/%');
  assert.equal(canonicalToMqtt('a.%.b'), 'a//b');
  assert.equal(canonicalToMqtt('a.*.b*'), 'a/*/b*', 'WAMP int.* is MQTT int/*');
  assert.equal(canonicalToMqtt('a.50%25'), 'a/50%');
  assert.equal(canonicalToMqtt('a.50%2525'), 'a/50%25');
});

test('notation - canonicalToMqtt names no topic MQTT would read back as another', () => {
  assert.equal(canonicalToMqtt('a.50%'), null, 'not normal form: a bare % from a WAMP URI');
  assert.equal(canonicalToMqtt('a.%2A'), null, 'not normal form: %2A is no canonical escape');
  assert.equal(canonicalToMqtt('a..b'), null, 'not normal form: an empty component');
  assert.equal(canonicalToMqtt('a.%252F'), null, 'the text %2F: MQTT reads %2F as /');
  assert.equal(canonicalToMqtt('a.x%252By'), null, 'the text x%2By');
  assert.equal(canonicalToMqtt('a.%2523'), null, 'the text %23');
  assert.equal(canonicalToMqtt('a.%252f'), 'a/%2f', 'lowercase reads as itself');
});

test('notation - empty MQTT levels are the lone-% component and never collide with names', () => {
  assert.equal(topic('a//b'), 'a.%.b');
  assert.equal(topic('/a'), '%.a');
  assert.equal(topic('a/'), 'a.%');
  assert.equal(topic('/'), '%.%');
  assert.equal(topic('a/%'), 'a.%25');
  assert.notEqual(topic('a/'), topic('a/%'));
  assert.notEqual(topic('a//b'), topic('a/%/b'));
  for (const name of ['a//b', '/a', 'a/', '/', '//']) assert.equal(canonicalToMqtt(topic(name)), name);
  // exact filters with empty levels are exact patterns on the same canonical topic
  assert.deepEqual(filter('a//b'), { uri: 'a.%.b', match: 'exact', key: 'exact:a.%.b' });
});

test('notation - invalid MQTT topic names are refused', () => {
  assert.equal(mqttTopicToCanonical(''), null, '[MQTT-4.7.3-1] at least one character');
  assert.equal(mqttTopicToCanonical('a/\u0000'), null, '[MQTT-4.7.3-2] no U+0000');
  assert.equal(mqttTopicToCanonical('a'.repeat(65535))?.length, 65535, '[MQTT-4.7.3-3] 65535 bytes is fine');
  assert.equal(mqttTopicToCanonical('a'.repeat(65536)) === null, true, '[MQTT-4.7.3-3] over 65535 bytes');
  assert.equal(mqttTopicToCanonical('é'.repeat(32768)) === null, true, '[MQTT-4.7.3-3] bytes, not characters');
  assert.ok(mqttTopicToCanonical('é'.repeat(32767)) !== null);
  for (const name of ['a/+', '+', 'a/#', '#', 'a/b#', 'a+/b', 'sport/tennis/+/x']) {
    assert.equal(mqttTopicToCanonical(name), null, `[MQTT-3.3.2-2] no wildcards in a topic name: ${name}`);
  }
});

test('notation - canonicalToMqtt returns null for topics MQTT cannot carry', () => {
  assert.equal(canonicalToMqtt(''), null);
  assert.equal(canonicalToMqtt('%'), null, 'a single empty level is an empty name');
  assert.equal(canonicalToMqtt('a.\u0000'), null);
  assert.equal(canonicalToMqtt('a'.repeat(65536)) === null, true);
  assert.equal(canonicalToMqtt('/'.repeat(21845))?.length, 65535);
  assert.equal(canonicalToMqtt('/'.repeat(21846)) === null, true, 'escaping made it longer than 65535 bytes');
});

// --- MQTT filters -----------------------------------------------------------------

test('notation - MQTT filters map + to the empty component and a last # to a trailing #', () => {
  assert.deepEqual(filter('a/+/c'), { uri: 'a..c', match: 'wildcard', key: 'wildcard:a..c' });
  assert.deepEqual(filter('a/#'), { uri: 'a.#', match: 'wildcard', key: 'wildcard:a.#' });
  assert.deepEqual(filter('+'), { uri: '', match: 'wildcard', key: 'wildcard:' });
  assert.deepEqual(filter('#'), { uri: '#', match: 'wildcard', key: 'wildcard:#' });
  assert.deepEqual(filter('/+'), { uri: '%.', match: 'wildcard', key: 'wildcard:%.' });
  assert.deepEqual(filter('a/b.c'), { uri: 'a.b%2Ec', match: 'exact', key: 'exact:a.b%2Ec' });
  assert.deepEqual(filter('+/%23'), { uri: '.%23', match: 'wildcard', key: 'wildcard:.%23' });
});

test('notation - §4.7.1.2 sport/tennis/player1/# matches player1, ranking and score/wimbledon [MQTT-4.7.1-2]', () => {
  for (const name of ['sport/tennis/player1', 'sport/tennis/player1/ranking', 'sport/tennis/player1/score/wimbledon']) {
    assert.equal(mqttMatches('sport/tennis/player1/#', name), true, name);
  }
  assert.equal(mqttMatches('sport/tennis/player1/#', 'sport/tennis/player2'), false);
  assert.equal(mqttMatches('sport/tennis/player1/#', 'sport/tennis'), false);
});

test('notation - §4.7.1.2 sport/# also matches the singular sport, since # includes the parent level', () => {
  assert.equal(mqttMatches('sport/#', 'sport'), true);
  assert.equal(mqttMatches('sport/#', 'sport/'), true);
  assert.equal(mqttMatches('sport/#', 'sports'), false);
  assert.equal(mqttMatches('#', 'sport/tennis'), true);
  assert.equal(mqttMatches('#', '/finance'), true);
});

test('notation - §4.7.1.2 # is valid alone and last; sport/tennis# and sport/tennis/#/ranking are not [MQTT-4.7.1-2]', () => {
  for (const ok of ['#', 'sport/tennis/#', 'sport/#']) assert.ok(parseMqttFilter(ok), ok);
  for (const bad of ['sport/tennis#', 'sport/tennis/#/ranking', '#/a', '##', 'a/#/'])
    assert.equal(parseMqttFilter(bad), null, bad);
});

test('notation - §4.7.1.3 + matches one level: sport/tennis/+ matches player1 and player2, not sport/tennis/player1/ranking', () => {
  assert.equal(mqttMatches('sport/tennis/+', 'sport/tennis/player1'), true);
  assert.equal(mqttMatches('sport/tennis/+', 'sport/tennis/player2'), true);
  assert.equal(mqttMatches('sport/tennis/+', 'sport/tennis/player1/ranking'), false);
  assert.equal(mqttMatches('sport/+', 'sport'), false);
  assert.equal(mqttMatches('sport/+', 'sport/'), true, 'an empty level is a level');
});

test('notation - §4.7.1.3 + and +/tennis/# and sport/+/player1 are valid, sport+ is not [MQTT-4.7.1-3]', () => {
  for (const ok of ['+', '+/tennis/#', 'sport/+/player1', '+/+', '/+', '+/']) assert.ok(parseMqttFilter(ok), ok);
  for (const bad of ['sport+', '+sport', 'a/+b/c', 'a/++']) assert.equal(parseMqttFilter(bad), null, bad);
});

test('notation - §4.7.1.3 +/+ and /+ match /finance, + does not', () => {
  assert.equal(mqttMatches('+/+', '/finance'), true);
  assert.equal(mqttMatches('/+', '/finance'), true);
  assert.equal(mqttMatches('+', '/finance'), false);
  // the empty first level is literal in /+ and /#: they must not act as +/+ and +/#
  assert.equal(mqttMatches('/+', 'x/finance'), false);
  assert.equal(mqttMatches('/#', 'x/finance'), false);
  assert.equal(mqttMatches('/#', '/finance/eu'), true);
  assert.equal(mqttMatches('a//+', 'a/x/y'), false);
  assert.equal(mqttMatches('a//+', 'a//y'), true);
});

test('notation - escaped levels in filters match exactly their text', () => {
  assert.equal(mqttMatches('a/+/c', 'a/b.c/c'), true);
  assert.equal(mqttMatches('a/b.c', 'a/b.c'), true);
  assert.equal(mqttMatches('a/b/c', 'a/b.c'), false);
  assert.equal(mqttMatches('+/%23', 'x/%23'), true);
  assert.equal(mqttMatches('+/%23', 'x/y'), false, 'a level named # is no wildcard');
  assert.equal(mqttMatches('+/%23', 'x/y/z'), false);
  assert.equal(mqttMatches('a/%2B', 'a/%2B'), true);
  assert.equal(mqttMatches('a/%2B', 'a/%2b'), false, 'lowercase is a level of its own');
  assert.equal(mqttMatches('a/%2B', 'a/x'), false, 'a level named + is no wildcard');
  assert.equal(mqttMatches('+/*', 'x/*'), true);
  assert.equal(mqttMatches('+/*', 'x/y'), false, 'a level named * is no wildcard');
});

test('notation - invalid MQTT filters are refused', () => {
  assert.equal(parseMqttFilter(''), null, '[MQTT-4.7.3-1] at least one character');
  assert.equal(parseMqttFilter('a/\u0000/#'), null, '[MQTT-4.7.3-2] no U+0000');
  assert.equal(parseMqttFilter(`${'a'.repeat(65534)}/#`) === null, true, '[MQTT-4.7.3-3] over 65535 bytes');
  assert.ok(parseMqttFilter(`${'a'.repeat(65533)}/#`));
});

test('notation - [MQTT-4.7.2-1] filters starting with a wildcard do not match topic names starting with $', () => {
  const allows = (filterText: string, name: string): boolean => {
    const sub = subscription(filterText);
    return mqttMatches(filterText, name) && mqttDollarRuleAllows(sub, topic(name));
  };
  // §4.7.2 non-normative examples
  assert.equal(allows('#', '$SYS/monitor/Clients'), false);
  assert.equal(allows('+/monitor/Clients', '$SYS/monitor/Clients'), false);
  assert.equal(allows('$SYS/#', '$SYS/monitor/Clients'), true);
  assert.equal(allows('$SYS/monitor/+', '$SYS/monitor/Clients'), true);
  // the index alone would match: the rule is the gate's, through the flag
  assert.equal(mqttMatches('#', '$SYS/monitor/Clients'), true);
  assert.equal(subscription('#').skipsDollarTopics, true);
  assert.equal(subscription('+/x').skipsDollarTopics, true);
  assert.equal(subscription('a/#').skipsDollarTopics, false);
  assert.equal(subscription('/#').skipsDollarTopics, false);
  assert.equal(allows('#', 'a/$SYS'), true, 'only a leading $ counts');
  assert.equal(allows('+', '$'), false);
});

test('notation - $share/<name>/<filter> is a shared subscription [MQTT-4.8.2-1] [MQTT-4.8.2-2]', () => {
  assert.deepEqual(parseMqttSubscription('$share/g1/sensors/+/temp'), {
    pattern: filter('sensors/+/temp'),
    share: 'g1',
    skipsDollarTopics: false,
  });
  assert.deepEqual(subscription('$share/g/#'), { pattern: filter('#'), share: 'g', skipsDollarTopics: true });
  assert.deepEqual(subscription('$share/g//a'), { pattern: filter('/a'), share: 'g', skipsDollarTopics: false });
  assert.equal(subscription('$share/g/a.b').pattern.key, subscription('a.b').pattern.key, 'same pattern as unshared');
  assert.equal(subscription('a/b').share, undefined);
  assert.equal(subscription('$share').share, undefined, 'no / after $share: an ordinary filter');
  assert.deepEqual(subscription('$sharex/a/b').pattern, filter('$sharex/a/b'));
  for (const bad of [
    '$share/',
    '$share/g',
    '$share/g/',
    '$share//a',
    '$share/g+/a',
    '$share/g#/a',
    '$share/+/a',
    '$share/g/a#',
  ]) {
    assert.equal(parseMqttSubscription(bad), null, bad);
  }
  assert.equal(parseMqttSubscription(''), null);
});

// --- STOMP --------------------------------------------------------------------------

test('notation - STOMP /topic/ words are canonical components; * is one word, a last # the rest', () => {
  assert.deepEqual(stompTopic('/topic/a.b.c'), { uri: 'a.b.c', match: 'exact', key: 'exact:a.b.c' });
  assert.deepEqual(stompTopic('/topic/a.*.c'), { uri: 'a..c', match: 'wildcard', key: 'wildcard:a..c' });
  assert.deepEqual(stompTopic('/topic/a.#'), { uri: 'a.#', match: 'wildcard', key: 'wildcard:a.#' });
  assert.deepEqual(stompTopic('/topic/#'), { uri: '#', match: 'wildcard', key: 'wildcard:#' });
  assert.deepEqual(stompTopic('/topic/*'), { uri: '', match: 'wildcard', key: 'wildcard:' });
  assert.deepEqual(stompTopic('/topic/a.b%2Ec'), { uri: 'a.b%2Ec', match: 'exact', key: 'exact:a.b%2Ec' });
  assert.deepEqual(stompTopic('/topic/a.%.b'), { uri: 'a.%.b', match: 'exact', key: 'exact:a.%.b' });
  assert.deepEqual(stompTopic('/topic/a*b.c/d'), { uri: 'a*b.c/d', match: 'exact', key: 'exact:a*b.c/d' });
  assert.deepEqual(stompTopic('/topic/a.%2A'), { uri: 'a.*', match: 'exact', key: 'exact:a.*' });
  assert.equal(stompTopic('/topic/a.%2A').uri, topic('a/*'));
  assert.deepEqual(stompTopic('/topic/%2A.*'), { uri: '*.', match: 'wildcard', key: 'wildcard:*.' });
  assert.equal(stompTopic('/topic/sensors.*.temperature').key, filter('sensors/+/temperature').key);
  assert.equal(stompTopic('/topic/a.b%2Ec').uri, topic('a/b.c'));
});

test('notation - STOMP destinations that are not topics, or are malformed', () => {
  assert.deepEqual(parseStompDestination('/queue/jobs'), { kind: 'queue', name: 'jobs' });
  assert.deepEqual(parseStompDestination('/queue/a.b/c'), { kind: 'queue', name: 'a.b/c' });
  assert.deepEqual(parseStompDestination('/temp-queue/reply-1'), { kind: 'temp-queue', name: 'reply-1' });
  for (const dest of [
    '/exchange/amq.topic/a.b',
    '/amq/queue/jobs',
    '/reply-queue/x',
    'jobs',
    '',
    '/topic',
    '/topic/',
    '/queue/',
    '/temp-queue/',
    '/topic/a.#.b', // RabbitMQ allows # mid-key; the core index does not
    '/topic/#.a',
    '/topic/a..b',
    '/topic/a.',
    '/topic/.a',
    '/topic/a#b',
    '/topic/a.50%',
    '/topic/a.%2e',
    '/topic/a.%2a',
    '/topic/a.\u0000',
    '/queue/\u0000',
  ]) {
    assert.equal(parseStompDestination(dest), null, JSON.stringify(dest));
  }
});

test('notation - canonicalToStompTopic is /topic/ + canonical (a * component as %2A), and parses back to the same topic', () => {
  for (const name of ['a/b.c', 'a//b', 'x/%23', 'sensors/room1/temperature', 'a/b%2Fc', 'a/*', 'a/50%']) {
    const canonical = topic(name);
    const dest = canonicalToStompTopic(canonical);
    assert.equal(dest, `/topic/${canonical.replace(/(^|\.)\*(?=\.|$)/g, '$1%2A')}`);
    assert.ok(dest !== null);
    assert.deepEqual(stompTopic(dest), { uri: canonical, match: 'exact', key: `exact:${canonical}` });
  }
  assert.equal(canonicalToStompTopic('int.*'), '/topic/int.%2A');
  for (const wampOnly of ['a.50%', 'a.%2A', 'a..b', '']) assert.equal(canonicalToStompTopic(wampOnly), null, wampOnly);
});

// --- the same subscription from every protocol ------------------------------------

test('notation - WAMP, MQTT and STOMP patterns that mean the same thing share a key', () => {
  const same: [string, string, string, string][] = [
    // [WAMP uri, WAMP match, MQTT filter, STOMP destination]
    ['a..c', 'wildcard', 'a/+/c', '/topic/a.*.c'],
    ['a.*.c', 'exact', 'a/+/c', '/topic/a.*.c'],
    ['a.#', 'exact', 'a/#', '/topic/a.#'],
    ['*.#', 'exact', '+/#', '/topic/*.#'],
    ['#', 'exact', '#', '/topic/#'],
    ['', 'wildcard', '+', '/topic/*'],
    ['.', 'wildcard', '+/+', '/topic/*.*'],
    ['com.example.x', 'exact', 'com/example/x', '/topic/com.example.x'],
    ['a.b%2Ec', 'exact', 'a/b.c', '/topic/a.b%2Ec'],
  ];
  for (const [uri, match, mqtt, stomp] of same) {
    const wamp = parsePattern(uri, match === 'exact' ? 'exact' : 'wildcard');
    assert.ok(wamp, uri);
    assert.equal(filter(mqtt).key, wamp.key, mqtt);
    assert.equal(stompTopic(stomp).key, wamp.key, stomp);
    assert.deepEqual(filter(mqtt), wamp, mqtt);
  }
});

test('notation - an MQTT subscription and the equivalent WAMP one occupy the same index slot', () => {
  const index = new TopicIndex<string>();
  const wamp = parsePattern('sensors.*.temperature', 'exact');
  assert.ok(wamp);
  index.add(wamp, 'wamp');
  assert.throws(() => {
    index.add(filter('sensors/+/temperature'), 'mqtt');
  }, /added twice/);
  assert.deepEqual(index.matchAll(topic('sensors/room1/temperature')), ['wamp']);
  assert.equal(index.remove(stompTopic('/topic/sensors.*.temperature')), true);
  assert.equal(index.size, 0);
});

// --- round trips (property-based) --------------------------------------------------

test('notation - property: component texts -> canonical -> MQTT -> canonical is the identity', () => {
  const rnd = random(0x5eed1);
  for (let run = 0; run < RUNS; run++) {
    const texts = list(rnd, 1, 5, () => pieces(rnd, TEXT_PIECES, 4));
    if (texts.length === 1 && texts[0] === '') continue; // the empty MQTT name does not exist
    const canonical = canonicalFromComponents(texts);
    const context = JSON.stringify(texts);
    assert.equal(isWellFormedCanonical(canonical), true, context);
    assert.deepEqual(canonicalComponents(canonical), texts, context);
    const name = canonicalToMqtt(canonical);
    // MQTT cannot name text that holds its escapes literally
    if (texts.some((t) => /%2[FB3]/.test(t))) {
      assert.equal(name, null, context);
      continue;
    }
    assert.ok(name !== null, context);
    assert.equal(mqttTopicToCanonical(name), canonical, context);
    assert.equal(name.split('/').length, texts.length, context);
    assert.equal(stompTopic(canonicalToStompTopic(canonical) ?? '').uri, canonical, context);
  }
});

test('notation - property: MQTT -> canonical -> MQTT is the identity (levels of escapes and plain text)', () => {
  const rnd = random(0x5eed2);
  for (let run = 0; run < RUNS; run++) {
    const name = list(rnd, 1, 5, () => pieces(rnd, ESCAPED_LEVEL_PIECES, 4)).join('/');
    if (name === '') continue;
    const canonical = topic(name);
    assert.equal(isWellFormedCanonical(canonical), true, name);
    assert.equal(canonicalToMqtt(canonical), name, name);
  }
});

test('notation - property: any MQTT name maps to a well-formed canonical topic and back to the same name', () => {
  const rnd = random(0x5eed3);
  for (let run = 0; run < RUNS; run++) {
    const name = list(rnd, 1, 5, () => pieces(rnd, RAW_LEVEL_PIECES, 4)).join('/');
    if (name === '') continue;
    const canonical = topic(name);
    assert.equal(isWellFormedCanonical(canonical), true, name);
    const back = canonicalToMqtt(canonical);
    assert.equal(back, name, name);
    assert.ok(back !== null, name);
    assert.equal(topic(back), canonical, name);
    assert.equal(back.split('/').length, name.split('/').length, `levels are preserved: ${name}`);
    // a WAMP client naming the canonical topic in an exact subscription gets the MQTT client's
    // exact pattern; a whole * is fox-wamp's wildcard there (WAMP uses match: wildcard for it)
    const wamp = parsePattern(canonical, 'exact');
    if (!/\s/.test(canonical) && !canonical.split('.').includes('*')) assert.deepEqual(wamp, filter(name), name);
  }
});

test('notation - property: MQTT filters match through the index exactly as §4.7 says', () => {
  const rnd = random(0x5eed4);
  // few distinct levels, so that matches and near-misses are both common
  const levels = ['a', 'b', '', 'a.b', 'a%2Fb', '%25', '%', '%2525', '.', '%23', '%2B', '$x', '*'];
  let matches = 0;
  for (let run = 0; run < RUNS; run++) {
    const filterLevels = list(rnd, 1, 4, () => (rnd() < 0.3 ? '+' : pick(rnd, levels)));
    if (rnd() < 0.3) filterLevels.push('#');
    const filterText = filterLevels.join('/');
    if (filterText === '') continue; // [MQTT-4.7.3-1]
    // a topic made from the filter (a likely match), then possibly mutated
    const nameLevels = filterLevels.flatMap((level) =>
      level === '+' ? [pick(rnd, levels)] : level === '#' ? list(rnd, 0, 2, () => pick(rnd, levels)) : [level],
    );
    if (rnd() < 0.3 && nameLevels.length > 0) nameLevels[Math.floor(rnd() * nameLevels.length)] = pick(rnd, levels);
    if (rnd() < 0.1) nameLevels.push(pick(rnd, levels));
    const name = nameLevels.join('/');
    if (name === '') continue;
    const expected = referenceMqttMatch(filterText, name);
    assert.equal(mqttMatches(filterText, name), expected, `${filterText} vs ${name}`);
    if (expected) matches++;
  }
  assert.ok(matches > RUNS / 5 && matches < RUNS - RUNS / 5, `both outcomes exercised: ${matches}/${RUNS}`);
});

test('notation - property: distinct MQTT filters give distinct keys unless they mean the same', () => {
  const rnd = random(0x5eed5);
  const byKey = new Map<string, string>();
  const levels = ['a', '', '.', '%2F', '/', '%', '%25', '*', '+', '#'];
  for (let run = 0; run < RUNS; run++) {
    const text = list(rnd, 1, 3, () => pick(rnd, levels)).join('/');
    const p = parseMqttFilter(text);
    if (p === null) continue;
    // same key <=> same levels after decoding (the canonical spelling of the filter)
    const normal = text
      .split('/')
      .map((level) => (level === '+' || level === '#' ? `<${level}>` : level))
      .join('/');
    const seen = byKey.get(p.key);
    if (seen === undefined) byKey.set(p.key, normal);
    else assert.equal(seen, normal, `${text} shares key ${p.key}`);
  }
  assert.ok(byKey.size > 50);
});
