import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isValidUri, parsePattern, TopicIndex, type MatchPolicy, type TopicPattern } from '../../lib/topic';

function pattern(uri: string, match?: MatchPolicy): TopicPattern {
  const p = parsePattern(uri, match);
  assert.ok(p, `expected ${match ?? 'exact'} pattern ${JSON.stringify(uri)} to be valid`);
  return p;
}

/** Index holding the given patterns, each valued by its key. */
function indexOf(patterns: TopicPattern[]): TopicIndex<string> {
  const index = new TopicIndex<string>();
  for (const p of patterns) index.add(p, p.key);
  return index;
}

function matched(index: TopicIndex<string>, topic: string): string[] {
  return index.matchAll(topic).sort();
}

test('topic - isValidUri accepts loose URIs and rejects empty components, whitespace and #', () => {
  for (const uri of ['com.example.a', 'a', 'A-b.C$d', 'a.*.c', 'ü.ß']) assert.equal(isValidUri(uri), true, uri);
  for (const uri of ['', 'a..b', '.a', 'a.', 'a b', 'a.b\t', 'a.#', 'a#b', '.']) assert.equal(isValidUri(uri), false, uri);
});

test('topic - isValidUri strict allows only [0-9a-z_] components', () => {
  assert.equal(isValidUri('com.example_1.a2', { strict: true }), true);
  for (const uri of ['com.Example', 'a-b.c', 'a.*', 'a.b$']) assert.equal(isValidUri(uri, { strict: true }), false, uri);
  assert.equal(isValidUri('a-b.c'), true);
});

test('topic - isValidUri empty components and prefix dot only when allowed', () => {
  const wild = { allowEmptyComponents: true };
  for (const uri of ['a..c', '.b', 'a.', '..', 'a.b']) assert.equal(isValidUri(uri, wild), true, uri);
  assert.equal(isValidUri('a. .c', wild), false);
  assert.equal(isValidUri('a..C', { ...wild, strict: true }), false);
  assert.equal(isValidUri('a..c', { ...wild, strict: true }), true);

  const prefix = { allowPrefixDot: true };
  assert.equal(isValidUri('a.', prefix), true);
  assert.equal(isValidUri('a.b.', prefix), true);
  for (const uri of ['.', 'a..', 'a..b', '.a', '']) assert.equal(isValidUri(uri, prefix), false, uri);
});

test('topic - parsePattern exact, default policy and invalid URIs', () => {
  assert.deepEqual(parsePattern('a.b', undefined), { uri: 'a.b', match: 'exact', key: 'exact:a.b' });
  assert.deepEqual(parsePattern('a.b', 'exact'), { uri: 'a.b', match: 'exact', key: 'exact:a.b' });
  assert.equal(parsePattern('a..b', 'exact'), null);
  assert.equal(parsePattern('', 'exact'), null);
  assert.equal(parsePattern('a b', 'exact'), null);
  assert.equal(parsePattern('a.B', 'exact', { strict: true }), null);
  assert.equal(parsePattern('a.b', 'bogus' as MatchPolicy), null);
});

test('topic - parsePattern turns in-URI * and trailing # into wildcard patterns', () => {
  assert.deepEqual(parsePattern('a.*.c', 'exact'), { uri: 'a..c', match: 'wildcard', key: 'wildcard:a..c' });
  assert.deepEqual(parsePattern('a.#', 'exact'), { uri: 'a.#', match: 'wildcard', key: 'wildcard:a.#' });
  assert.deepEqual(parsePattern('*.#', undefined), { uri: '.#', match: 'wildcard', key: 'wildcard:.#' });
  assert.deepEqual(parsePattern('#', 'exact'), { uri: '#', match: 'wildcard', key: 'wildcard:#' });
  // same subscription as the WAMP form of the same pattern
  assert.equal(parsePattern('a.*.c', 'exact')?.key, parsePattern('a..c', 'wildcard')?.key);
  // in-URI wildcards work in strict mode too: they are not URI characters
  assert.equal(parsePattern('a.*.c', 'exact', { strict: true })?.uri, 'a..c');
  // only whole components are wildcards; # only as the last one
  assert.equal(parsePattern('a.#.b', 'exact'), null);
  assert.equal(parsePattern('#.a', 'exact'), null);
  assert.equal(parsePattern('a.b#', 'exact'), null);
  assert.deepEqual(parsePattern('a.b*', 'exact'), { uri: 'a.b*', match: 'exact', key: 'exact:a.b*' });
  assert.equal(parsePattern('a..*', 'exact'), null);
});

test('topic - parsePattern wildcard and prefix validation', () => {
  assert.deepEqual(parsePattern('a..c', 'wildcard'), { uri: 'a..c', match: 'wildcard', key: 'wildcard:a..c' });
  assert.equal(parsePattern('a.#', 'wildcard'), null);
  assert.equal(parsePattern('a. .c', 'wildcard'), null);
  assert.deepEqual(parsePattern('com.myapp.', 'prefix'), { uri: 'com.myapp.', match: 'prefix', key: 'prefix:com.myapp.' });
  assert.equal(parsePattern('a..b', 'prefix'), null);
  assert.equal(parsePattern('', 'prefix'), null);
  assert.equal(parsePattern('a.b', 'prefix')?.key, 'prefix:a.b');
});

test('topic - exact patterns match only the same URI', () => {
  const index = indexOf([pattern('a.b'), pattern('a.b.c'), pattern('a')]);
  assert.deepEqual(matched(index, 'a.b'), ['exact:a.b']);
  assert.deepEqual(matched(index, 'a'), ['exact:a']);
  assert.deepEqual(matched(index, 'a.bc'), []);
  assert.deepEqual(matched(index, 'a.b.c.d'), []);
});

test('topic - prefix patterns match string prefixes (WAMP spec example)', () => {
  const index = indexOf([pattern('com.myapp.topic.emergency', 'prefix')]);
  assert.deepEqual(index.matchAll('com.myapp.topic.emergency.11'), ['prefix:com.myapp.topic.emergency']);
  assert.deepEqual(index.matchAll('com.myapp.topic.emergency-low'), ['prefix:com.myapp.topic.emergency']);
  assert.deepEqual(index.matchAll('com.myapp.topic.emergency'), ['prefix:com.myapp.topic.emergency']);
  assert.deepEqual(index.matchAll('com.myapp.topic.emergenc'), []);
  assert.deepEqual(index.matchAll('com.myapp.topic'), []);
  assert.deepEqual(index.matchAll('com.myapp.other.emergency'), []);
});

test('topic - prefix a.b and a. semantics', () => {
  const ab = indexOf([pattern('a.b', 'prefix')]);
  for (const topic of ['a.b', 'a.b.c', 'a.bc', 'a.bcd.e']) assert.deepEqual(ab.matchAll(topic), ['prefix:a.b'], topic);
  for (const topic of ['a', 'a.c', 'ab', 'b.a.b']) assert.deepEqual(ab.matchAll(topic), [], topic);

  const aDot = indexOf([pattern('a.', 'prefix')]);
  for (const topic of ['a.x', 'a.x.y']) assert.deepEqual(aDot.matchAll(topic), ['prefix:a.'], topic);
  for (const topic of ['a', 'ab', 'ab.x']) assert.deepEqual(aDot.matchAll(topic), [], topic);

  const a = indexOf([pattern('a', 'prefix')]);
  for (const topic of ['a', 'ab', 'a.x', 'abc.d']) assert.deepEqual(a.matchAll(topic), ['prefix:a'], topic);
  assert.deepEqual(a.matchAll('b.a'), []);
});

test('topic - wildcard patterns match the same number of components', () => {
  const index = indexOf([pattern('a..c', 'wildcard')]);
  assert.deepEqual(index.matchAll('a.x.c'), ['wildcard:a..c']);
  assert.deepEqual(index.matchAll('a.c.c'), ['wildcard:a..c']);
  for (const topic of ['a.c', 'a.x.y.c', 'a.x.c.d', 'b.x.c', 'a.x.cc']) assert.deepEqual(index.matchAll(topic), [], topic);

  const leading = indexOf([pattern('.b', 'wildcard'), pattern('.', 'wildcard'), pattern('..', 'wildcard')]);
  assert.deepEqual(matched(leading, 'x.b'), ['wildcard:.', 'wildcard:.b']);
  assert.deepEqual(matched(leading, 'x.y'), ['wildcard:.']);
  assert.deepEqual(matched(leading, 'x.y.z'), ['wildcard:..']);
  assert.deepEqual(matched(leading, 'b'), []);
});

test('topic - in-URI * and # match one and zero-or-more components', () => {
  const index = indexOf([pattern('a.*.c'), pattern('a.#'), pattern('a.*.#')]);
  assert.deepEqual(matched(index, 'a'), ['wildcard:a.#']);
  assert.deepEqual(matched(index, 'a.b'), ['wildcard:a..#', 'wildcard:a.#'].sort());
  assert.deepEqual(matched(index, 'a.b.c'), ['wildcard:a..#', 'wildcard:a..c', 'wildcard:a.#'].sort());
  assert.deepEqual(matched(index, 'a.b.c.d'), ['wildcard:a..#', 'wildcard:a.#'].sort());
  assert.deepEqual(matched(index, 'b.a'), []);
  assert.deepEqual(matched(index, 'ab'), []);

  const everything = indexOf([pattern('#')]);
  for (const topic of ['a', 'a.b', 'x.y.z']) assert.deepEqual(everything.matchAll(topic), ['wildcard:#'], topic);
});

test('topic - one topic matched by exact, wildcard and prefix of the same URI returns all three', () => {
  const index = indexOf([pattern('a.b', 'exact'), pattern('a.b', 'wildcard'), pattern('a.b', 'prefix')]);
  assert.equal(index.size, 3);
  assert.deepEqual(matched(index, 'a.b'), ['exact:a.b', 'prefix:a.b', 'wildcard:a.b']);
  assert.deepEqual(matched(index, 'a.bc'), ['prefix:a.b']);
});

test('topic - match visits each value once, with the value given to add', () => {
  const index = new TopicIndex<{ id: number } | undefined>();
  const one = { id: 1 };
  index.add(pattern('a.b'), one);
  index.add(pattern('a.', 'prefix'), undefined);
  const seen: ({ id: number } | undefined)[] = [];
  index.match('a.b', (v) => seen.push(v));
  assert.equal(seen.length, 2);
  assert.ok(seen.includes(one));
  assert.ok(seen.includes(undefined));
});

test('topic - add, remove and re-add for every policy', () => {
  const index = new TopicIndex<string>();
  const patterns = [
    pattern('a.b.c'),
    pattern('a..c', 'wildcard'),
    pattern('a.#'),
    pattern('a.b', 'prefix'),
    pattern('a.', 'prefix'),
  ];
  for (const p of patterns) index.add(p, p.key);
  assert.equal(index.size, 5);
  assert.equal(index.matchAll('a.b.c').length, 5);

  for (const [i, p] of patterns.entries()) {
    assert.equal(index.remove(p), true, p.key);
    assert.equal(index.remove(p), false, `${p.key} twice`);
    assert.equal(index.size, patterns.length - i - 1);
    assert.ok(!index.matchAll('a.b.c').includes(p.key), p.key);
  }
  assert.deepEqual(index.matchAll('a.b.c'), []);

  for (const p of patterns) index.add(p, `${p.key}!`);
  assert.equal(index.size, 5);
  assert.deepEqual(index.matchAll('a.b.c').sort(), patterns.map((p) => `${p.key}!`).sort());
});

test('topic - removing a pattern leaves overlapping ones matching', () => {
  const index = indexOf([
    pattern('a.b.c', 'wildcard'),
    pattern('a..c', 'wildcard'),
    pattern('a.b.', 'prefix'),
    pattern('a.b.c', 'prefix'),
  ]);
  assert.equal(index.remove(pattern('a.b.c', 'wildcard')), true);
  assert.deepEqual(matched(index, 'a.b.c'), ['prefix:a.b.', 'prefix:a.b.c', 'wildcard:a..c']);
  assert.equal(index.remove(pattern('a.b.', 'prefix')), true);
  assert.deepEqual(matched(index, 'a.b.c'), ['prefix:a.b.c', 'wildcard:a..c']);
  assert.deepEqual(matched(index, 'a.b.x'), []);
  // removing something never added, or under another policy, changes nothing
  assert.equal(index.remove(pattern('a.b', 'prefix')), false);
  assert.equal(index.remove(pattern('a..c.d', 'wildcard')), false);
  assert.equal(index.remove(pattern('a.b.c')), false);
  assert.equal(index.size, 2);
});

test('topic - adding the same key twice throws', () => {
  for (const p of [pattern('a.b'), pattern('a.*'), pattern('a.#'), pattern('a.b', 'prefix')]) {
    const index = indexOf([p]);
    assert.throws(() => index.add(p, 'again'), /added twice/, p.key);
    assert.equal(index.size, 1);
  }
});

test('topic - many overlapping patterns', () => {
  const patterns = [
    pattern('com.example.sensor.temp'),
    pattern('com.example.sensor.*'),
    pattern('com.example.*.temp'),
    pattern('com.*.*.temp'),
    pattern('com.example.#'),
    pattern('com.#'),
    pattern('#'),
    pattern('com.example.sensor.temp', 'prefix'),
    pattern('com.example.sensor.te', 'prefix'),
    pattern('com.example.sensor.', 'prefix'),
    pattern('com.example.sens', 'prefix'),
    pattern('com.ex', 'prefix'),
    pattern('c', 'prefix'),
    pattern('com.example.sensor.humidity', 'prefix'),
    pattern('com.example.sensor.temp.x', 'prefix'),
    pattern('com.example.sensor.temp.', 'prefix'),
    pattern('com.example..humidity', 'wildcard'),
    pattern('..sensor.temp', 'wildcard'),
  ];
  const index = indexOf(patterns);
  assert.deepEqual(
    matched(index, 'com.example.sensor.temp'),
    [
      'exact:com.example.sensor.temp',
      'prefix:c',
      'prefix:com.ex',
      'prefix:com.example.sens',
      'prefix:com.example.sensor.',
      'prefix:com.example.sensor.te',
      'prefix:com.example.sensor.temp',
      'wildcard:#',
      'wildcard:..sensor.temp',
      'wildcard:com.#',
      'wildcard:com...temp',
      'wildcard:com.example..temp',
      'wildcard:com.example.#',
      'wildcard:com.example.sensor.',
    ].sort(),
  );
  assert.deepEqual(matched(index, 'org.example.sensor.temp'), ['wildcard:#', 'wildcard:..sensor.temp']);
  assert.deepEqual(
    matched(index, 'com.example.sensor.temp.x.y'),
    [
      'prefix:c',
      'prefix:com.ex',
      'prefix:com.example.sens',
      'prefix:com.example.sensor.',
      'prefix:com.example.sensor.te',
      'prefix:com.example.sensor.temp',
      'prefix:com.example.sensor.temp.',
      'prefix:com.example.sensor.temp.x',
      'wildcard:#',
      'wildcard:com.#',
      'wildcard:com.example.#',
    ].sort(),
  );
});

// --- randomized comparison with a naive linear matcher ---------------------------

/** Written from the spec, independently of the index: one pattern against one topic. */
function naiveMatch(p: TopicPattern, topic: string): boolean {
  switch (p.match) {
    case 'exact':
      return p.uri === topic;
    case 'prefix':
      return topic.startsWith(p.uri);
    case 'wildcard': {
      const want = p.uri.split('.');
      const have = topic.split('.');
      const many = want[want.length - 1] === '#';
      if (many) want.pop();
      if (many ? have.length < want.length : have.length !== want.length) return false;
      return want.every((c, i) => c === '' || c === have[i]);
    }
  }
}

/** mulberry32: a seeded generator, so a failure can be replayed from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// few, overlapping words so that prefixes and wildcards actually hit
const WORDS = ['a', 'b', 'ab', 'ba', 'abc', 'b_a', 'c'];

function randomTopic(rand: () => number): string {
  const depth = 1 + Math.floor(rand() * 4);
  const parts: string[] = [];
  for (let i = 0; i < depth; i++) parts.push(WORDS[Math.floor(rand() * WORDS.length)] ?? 'a');
  return parts.join('.');
}

function randomPattern(rand: () => number): TopicPattern | null {
  const topic = randomTopic(rand);
  const kind = rand();
  if (kind < 0.25) return parsePattern(topic, 'exact');
  if (kind < 0.5) {
    // cut the topic at any character, possibly right after a dot
    return parsePattern(topic.slice(0, 1 + Math.floor(rand() * topic.length)), 'prefix');
  }
  const parts = topic.split('.').map((c) => (rand() < 0.35 ? '*' : c));
  if (rand() < 0.3) parts.push('#');
  else if (rand() < 0.1) parts[parts.length - 1] = '#';
  return rand() < 0.5
    ? parsePattern(parts.join('.'), 'exact')
    : parsePattern(parts.join('.').replaceAll('*', '').replace(/\.?#$/, ''), 'wildcard');
}

test('topic - index agrees with a naive linear matcher on random patterns and topics', () => {
  const seed = Number(process.env.TOPIC_SEED ?? 0x5eed);
  const rand = rng(seed);
  const byKey = new Map<string, TopicPattern>();
  while (byKey.size < 3000) {
    const p = randomPattern(rand);
    if (p) byKey.set(p.key, p);
  }
  const all = [...byKey.values()];
  const policies = new Set(all.map((p) => p.match));
  assert.equal(policies.size, 3, 'generator covers every policy');
  assert.ok(
    all.some((p) => p.uri.endsWith('#')),
    'generator covers #',
  );
  assert.ok(
    all.some((p) => p.match === 'prefix' && p.uri.endsWith('.')),
    'generator covers prefix dot',
  );

  const index = indexOf(all);
  assert.equal(index.size, all.length);
  const topics = Array.from({ length: 2000 }, () => randomTopic(rand));

  const check = (live: TopicPattern[], label: string): number => {
    let hits = 0;
    for (const topic of topics) {
      const want = live
        .filter((p) => naiveMatch(p, topic))
        .map((p) => p.key)
        .sort();
      const got = matched(index, topic);
      assert.deepEqual(got, want, `${label}: topic ${topic} (seed ${seed})`);
      hits += got.length;
    }
    return hits;
  };
  // a comparison over empty results would prove nothing
  assert.ok(check(all, 'all added') > topics.length, 'random topics hit patterns');

  // remove a random half, check, then put it back and check again
  const removed = all.filter(() => rand() < 0.5);
  for (const p of removed) assert.equal(index.remove(p), true);
  const removedKeys = new Set(removed.map((p) => p.key));
  const kept = all.filter((p) => !removedKeys.has(p.key));
  assert.equal(index.size, kept.length);
  check(kept, 'half removed');

  for (const p of removed) index.add(p, p.key);
  check(all, 're-added');

  for (const p of all) assert.equal(index.remove(p), true);
  assert.equal(index.size, 0);
  for (const topic of topics) assert.deepEqual(index.matchAll(topic), []);
});
