/**
 * Micro benchmark for lib/topic.ts: matches per second with 100k patterns of each
 * policy, alone and all together. Run: npx tsx bench/topic-index.ts [patternsPerKind]
 *
 * Topics look like real ones (`com.<w>.<w>...`, 3-6 components). Two scenarios: a
 * sparse one (5,000-word vocabulary: a topic matches a handful of patterns) and a dense
 * one (40 words: patterns overlap heavily and each topic matches dozens, so the cost of
 * delivering the hits shows). Half the topics are URIs some exact pattern holds, so
 * lookups hit as well as miss. Seeded, so runs are comparable.
 */
import { parsePattern, TopicIndex, type MatchPolicy, type TopicPattern } from '../lib/topic';

const PER_KIND = Number(process.argv[2] ?? 100_000);
const TOPICS = 100_000;
const RUN_MS = 1_000;

/** mulberry32: seeded, so every run builds the same indexes. */
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

const rand = rng(42);
const pick = <T>(items: readonly T[]): T => {
  const item = items[Math.floor(rand() * items.length)];
  if (item === undefined) throw new Error('pick from empty list');
  return item;
};

const LETTERS = [...'abcdefghijklmnopqrstuvwxyz_'];

function vocabulary(size: number): string[] {
  const words = new Set<string>();
  while (words.size < size) {
    const len = 3 + Math.floor(rand() * 8);
    let w = '';
    for (let i = 0; i < len; i++) w += pick(LETTERS);
    words.add(w);
  }
  return [...words];
}

let WORDS: string[] = [];

function randomTopic(): string {
  const depth = 2 + Math.floor(rand() * 4);
  const parts = ['com'];
  for (let i = 0; i < depth; i++) parts.push(pick(WORDS));
  return parts.join('.');
}

function randomPattern(kind: MatchPolicy): TopicPattern | null {
  const topic = randomTopic();
  switch (kind) {
    case 'exact':
      return parsePattern(topic, 'exact');
    case 'prefix':
      // cut anywhere after `com.`, possibly mid-word or right after a dot
      return parsePattern(topic.slice(0, 5 + Math.floor(rand() * (topic.length - 4))), 'prefix');
    case 'wildcard': {
      const parts = topic.split('.').map((c, i) => (i > 0 && rand() < 0.3 ? '*' : c));
      if (rand() < 0.1) parts.push('#');
      return parsePattern(parts.join('.'), 'exact');
    }
  }
}

function patternsOf(kind: MatchPolicy, count: number): TopicPattern[] {
  const byKey = new Map<string, TopicPattern>();
  while (byKey.size < count) {
    const p = randomPattern(kind);
    // an in-URI wildcard pattern that drew no `*` or `#` is an exact one: skip it
    if (p?.match === kind) byKey.set(p.key, p);
  }
  return [...byKey.values()];
}

interface Built {
  index: TopicIndex<number>;
  buildMs: number;
  heapMB: number;
}

function build(patterns: TopicPattern[]): Built {
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const start = performance.now();
  const index = new TopicIndex<number>();
  let id = 0;
  for (const p of patterns) index.add(p, id++);
  const buildMs = performance.now() - start;
  global.gc?.();
  return { index, buildMs, heapMB: (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20 };
}

// one visitor for the whole run: the index must not need a closure per call
let visited = 0;
const visit = (_value: number): void => {
  visited++;
};

function measure(index: TopicIndex<number>, topics: readonly string[]): { perSec: number; hitsPerTopic: number } {
  for (let i = 0; i < 20_000; i++) index.match(topics[i % topics.length] ?? '', visit); // warm up
  visited = 0;
  let calls = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < RUN_MS) {
    for (const topic of topics) index.match(topic, visit);
    calls += topics.length;
    elapsed = performance.now() - start;
  }
  return { perSec: (calls / elapsed) * 1000, hitsPerTopic: visited / calls };
}

function scenario(name: string, vocabularySize: number): void {
  WORDS = vocabulary(vocabularySize);
  const exact = patternsOf('exact', PER_KIND);
  const prefix = patternsOf('prefix', PER_KIND);
  const wildcard = patternsOf('wildcard', PER_KIND);
  const topics = Array.from({ length: TOPICS }, (_, i) => (i % 2 === 0 ? pick(exact).uri : randomTopic()));

  console.log(`\n${name}: ${vocabularySize}-word vocabulary`);
  console.log('index                 patterns  build ms  heap MB   matches/s  hits/topic');
  const cases: [string, TopicPattern[]][] = [
    ['exact', exact],
    ['prefix', prefix],
    ['wildcard', wildcard],
    ['all three', [...exact, ...prefix, ...wildcard]],
  ];
  for (const [name, patterns] of cases) {
    const { index, buildMs, heapMB } = build(patterns);
    const { perSec, hitsPerTopic } = measure(index, topics);
    console.log(
      `${name.padEnd(20)} ${String(index.size).padStart(9)} ${buildMs.toFixed(0).padStart(9)} ${heapMB.toFixed(1).padStart(8)} ${Math.round(perSec).toLocaleString('en-US').padStart(11)} ${hitsPerTopic.toFixed(2).padStart(11)}`,
    );
  }
}

console.log(`topic index bench: ${PER_KIND} patterns per kind, ${TOPICS} topics, node ${process.version}`);
scenario('sparse', 5_000);
scenario('dense', 40);
