/**
 * Role permissions: URI patterns x actions, and the "most specific pattern wins" rule.
 * Pure logic (no router state), so it is unit-tested on its own.
 *
 * A rule is a pattern in canonical form (lib/topic.ts: exact, prefix on the string, or
 * wildcard with empty components and a final `#`) with the actions it allows and denies.
 * For one action on one concrete URI, the rules naming that action are ordered by
 * specificity and the first that matches decides:
 *   1. exact beats prefix beats wildcard;
 *   2. among prefixes, the longer string wins;
 *   3. among wildcards, more fixed (literal) components win, then one without a final
 *      `#` beats one with it, then more components win;
 *   4. on a tie, deny wins.
 * No matching rule: no decision (the caller applies the default, deny).
 *
 * Patterns (a wildcard subscription, a prefix registration) are decided as a set of URIs:
 * - subscribe / unsubscribe: allowed when some allowing rule overlaps the pattern, unless
 *   one denying rule covers all of it and is more specific than every allowing rule that
 *   overlaps it. What the pattern reaches beyond the allowed part is filtered out at
 *   delivery (decideTopic per event topic), so nothing denied is ever delivered.
 * - every other action (register, unregister, ...): allowed only when one allowing rule
 *   covers the whole pattern and every denying rule overlapping it is less specific.
 * Overlap is decided conservatively (true when unsure), cover exactly or false when unsure:
 * both only ever err towards asking the per-URI check.
 */
import { parsePattern, patternMatches, type MatchPolicy, type TopicPattern } from '../topic';

export const ACTIONS = ['publish', 'subscribe', 'call', 'register', 'retain', 'unsubscribe', 'unregister'] as const;
export type Action = (typeof ACTIONS)[number];

/** One permission as written in config `auth.roles.<role>.permissions[]`. */
export interface PermissionConfig {
  uri: string;
  match?: MatchPolicy;
  allow?: readonly string[];
  deny?: readonly string[];
}

export interface Rule {
  readonly pattern: TopicPattern;
  readonly allow: boolean;
  /** ordering key, compared lexicographically, higher = more specific */
  readonly rank: readonly number[];
}

/** A role's rules per action, most specific first. */
export type CompiledRole = ReadonlyMap<Action, readonly Rule[]>;

/** Actions a rule allowing the key also allows, unless it denies them explicitly. */
const IMPLIED: Partial<Record<Action, Action>> = { subscribe: 'unsubscribe', register: 'unregister' };

/**
 * Parses a rule's pattern. Beyond subscription patterns: the empty prefix `""` matches
 * everything, and a wildcard may also spell a level `*` and end in `#` (`billing.*.eu`,
 * `billing.#`), as an exact pattern with in-URI wildcards does.
 */
export function rulePattern(uri: string, match: MatchPolicy | undefined): TopicPattern | null {
  if (uri === '' && match === 'prefix') return { uri: '', match: 'prefix', key: 'prefix:' };
  if (match === 'wildcard') {
    const parts = uri.split('.').map((s) => (s === '*' ? '' : s));
    const rest = parts.length > 1 && parts[parts.length - 1] === '#';
    if (uri === '#') return { uri: '#', match: 'wildcard', key: 'wildcard:#' };
    const body = rest ? parts.slice(0, -1).join('.') : parts.join('.');
    const p = parsePattern(body, 'wildcard');
    if (!p) return null;
    const canonical = rest ? `${body}.#` : body;
    return { uri: canonical, match: 'wildcard', key: `wildcard:${canonical}` };
  }
  return parsePattern(uri, match ?? 'exact');
}

function expand(list: readonly string[] | undefined): Set<Action> {
  const out = new Set<Action>();
  for (const a of list ?? []) {
    if (a === '*') for (const x of ACTIONS) out.add(x);
    else out.add(a as Action);
  }
  return out;
}

/** Problems in a role's permissions, one line each naming the index ("" when none). */
export function permissionProblems(perms: readonly PermissionConfig[]): string[] {
  const problems: string[] = [];
  perms.forEach((p, i) => {
    if (!rulePattern(p.uri, p.match))
      problems.push(`/permissions/${i}/uri: ${JSON.stringify(p.uri)} is not a valid ${p.match ?? 'exact'} pattern`);
  });
  return problems;
}

export function compileRole(perms: readonly PermissionConfig[]): CompiledRole {
  const byAction = new Map<Action, Rule[]>();
  const add = (action: Action, rule: Rule): void => {
    const list = byAction.get(action);
    if (list) list.push(rule);
    else byAction.set(action, [rule]);
  };
  for (const p of perms) {
    const pattern = rulePattern(p.uri, p.match);
    if (!pattern) continue; // refused by config validation
    const allow = expand(p.allow);
    const deny = expand(p.deny);
    for (const [from, to] of Object.entries(IMPLIED) as [Action, Action][]) {
      if (allow.has(from) && !deny.has(to)) allow.add(to);
    }
    const rank = rankOf(pattern);
    for (const a of deny) add(a, { pattern, allow: false, rank });
    for (const a of allow) if (!deny.has(a)) add(a, { pattern, allow: true, rank });
  }
  for (const list of byAction.values()) list.sort(bySpecificity);
  return byAction;
}

function rankOf(p: TopicPattern): number[] {
  switch (p.match) {
    case 'exact':
      return [3];
    case 'prefix':
      return [2, p.uri.length];
    case 'wildcard': {
      const parts = p.uri.split('.');
      const rest = parts[parts.length - 1] === '#';
      const fixed = parts.filter((s) => s !== '' && s !== '#').length;
      return [1, fixed, rest ? 0 : 1, parts.length];
    }
  }
}

/** Compares rank tuples; > 0 when a is more specific. */
function compareRank(a: readonly number[], b: readonly number[]): number {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function bySpecificity(a: Rule, b: Rule): number {
  const d = compareRank(b.rank, a.rank);
  if (d !== 0) return d;
  return a.allow === b.allow ? 0 : a.allow ? 1 : -1; // deny first on a tie
}

/** The decision for one concrete URI: the first (most specific) matching rule's. */
export function decideTopic(rules: readonly Rule[] | undefined, uri: string): boolean | undefined {
  if (!rules) return undefined;
  for (const r of rules) if (patternMatches(r.pattern, uri)) return r.allow;
  return undefined;
}

/** The decision for a pattern, as the module comment says; exact patterns are URIs. */
export function decidePattern(rules: readonly Rule[] | undefined, pattern: TopicPattern, action: Action): boolean | undefined {
  if (pattern.match === 'exact') return decideTopic(rules, pattern.uri);
  if (!rules) return undefined;
  const touching = rules.filter((r) => overlaps(r.pattern, pattern));
  if (touching.length === 0) return undefined;
  const allows = touching.filter((r) => r.allow);
  const denies = touching.filter((r) => !r.allow);
  const beatsAll = (winner: Rule, others: readonly Rule[]): boolean => others.every((o) => compareRank(winner.rank, o.rank) > 0);
  if (action === 'subscribe' || action === 'unsubscribe') {
    if (allows.length === 0) return false;
    return !denies.some((d) => covers(d.pattern, pattern) && allows.every((a) => compareRank(d.rank, a.rank) >= 0));
  }
  return allows.some((a) => covers(a.pattern, pattern) && beatsAll(a, denies));
}

// --- pattern geometry -----------------------------------------------------------------

/** The string every URI of a wildcard pattern starts with. */
function leadOf(wildcard: string): string {
  const parts = wildcard.split('.');
  const lits: string[] = [];
  for (const seg of parts) {
    // `a.#` matches `a` itself, `a..c` only `a.<x>.c`
    if (seg === '#') return lits.join('.');
    if (seg === '') return lits.length > 0 ? `${lits.join('.')}.` : '';
    lits.push(seg);
  }
  return wildcard;
}

function wildOverlap(a: string[], b: string[]): boolean {
  for (let i = 0; ; i++) {
    const x = a[i];
    const y = b[i];
    if (x === '#' || y === '#') return true;
    if (x === undefined || y === undefined) return x === y;
    if (x !== '' && y !== '' && x !== y) return false;
  }
}

function wildCovers(r: string[], p: string[]): boolean {
  for (let i = 0; ; i++) {
    const x = r[i];
    const y = p[i];
    if (x === '#') return true;
    if (y === '#') return false;
    if (x === undefined || y === undefined) return x === y;
    if (x !== '' && x !== y) return false;
  }
}

/** Could some URI match both patterns? (true when unsure) */
export function overlaps(a: TopicPattern, b: TopicPattern): boolean {
  if (a.match === 'exact') return patternMatches(b, a.uri);
  if (b.match === 'exact') return patternMatches(a, b.uri);
  if (a.match === 'prefix' && b.match === 'prefix') return a.uri.startsWith(b.uri) || b.uri.startsWith(a.uri);
  if (a.match === 'wildcard' && b.match === 'wildcard') return wildOverlap(a.uri.split('.'), b.uri.split('.'));
  const prefix = a.match === 'prefix' ? a.uri : b.uri;
  const lead = leadOf(a.match === 'wildcard' ? a.uri : b.uri);
  return lead.startsWith(prefix) || prefix.startsWith(lead);
}

/** Does every URI of `inner` match `outer`? (false when unsure) */
export function covers(outer: TopicPattern, inner: TopicPattern): boolean {
  if (inner.match === 'exact') return patternMatches(outer, inner.uri);
  switch (outer.match) {
    case 'exact':
      return false;
    case 'prefix':
      return (inner.match === 'prefix' ? inner.uri : leadOf(inner.uri)).startsWith(outer.uri);
    case 'wildcard':
      if (outer.uri === '#') return true;
      return inner.match === 'wildcard' && wildCovers(outer.uri.split('.'), inner.uri.split('.'));
  }
}
