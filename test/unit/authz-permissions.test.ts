import assert from 'node:assert/strict';
import test from 'node:test';
import fc from 'fast-check';
import {
  compileRole,
  covers,
  decidePattern,
  decideTopic,
  overlaps,
  rulePattern,
  type PermissionConfig,
} from '../../lib/auth/permissions';
import { patternMatches, type TopicPattern } from '../../lib/topic';

const role = (perms: PermissionConfig[]) => compileRole(perms);
const pub = (perms: PermissionConfig[], uri: string) => decideTopic(role(perms).get('publish'), uri);
const pat = (uri: string, match: 'exact' | 'prefix' | 'wildcard'): TopicPattern => {
  const p = rulePattern(uri, match);
  assert.ok(p, `${match}:${uri} parses`);
  return p;
};

test('authz permissions - exact beats prefix beats wildcard', () => {
  const perms: PermissionConfig[] = [
    { uri: 'a.#', allow: ['publish'] },
    { uri: 'a.b.', match: 'prefix', deny: ['publish'] },
    { uri: 'a.b.c', allow: ['publish'] },
  ];
  assert.equal(pub(perms, 'a.x'), true); // wildcard only
  assert.equal(pub(perms, 'a.b.x'), false); // prefix beats the wildcard
  assert.equal(pub(perms, 'a.b.c'), true); // exact beats the prefix
  assert.equal(pub(perms, 'b.x'), undefined); // no rule: no decision
});

test('authz permissions - the longest prefix wins, whatever the order of the rules', () => {
  const perms: PermissionConfig[] = [
    { uri: 'billing.eu.', match: 'prefix', allow: ['publish'] },
    { uri: 'billing.', match: 'prefix', deny: ['publish'] },
    { uri: '', match: 'prefix', allow: ['publish'] },
  ];
  assert.equal(pub(perms, 'billing.eu.x'), true);
  assert.equal(pub(perms, 'billing.us.x'), false);
  assert.equal(pub(perms, 'sensors.t'), true);
  assert.equal(pub([...perms].reverse(), 'billing.us.x'), false);
});

test('authz permissions - among wildcards, more fixed components win, then no final #', () => {
  const perms: PermissionConfig[] = [
    { uri: 'a..c', match: 'wildcard', deny: ['publish'] },
    { uri: 'a.b.', match: 'wildcard', allow: ['publish'] },
    { uri: 'a.b.#', match: 'wildcard', deny: ['publish'] },
  ];
  // a.b.c: a..c has 2 fixed, a.b. has 2 fixed (no #), a.b.# 2 fixed with #: tie between a..c and a.b. -> deny wins
  assert.equal(pub(perms, 'a.b.c'), false);
  assert.equal(pub(perms, 'a.b.d'), true); // a.b. beats a.b.#
  assert.equal(pub(perms, 'a.b.d.e'), false); // only a.b.#
  assert.equal(pub(perms, 'a.b'), false); // a.b.# matches its parent
});

test('authz permissions - allow and deny of one rule, implied unsubscribe and unregister, *', () => {
  const r = role([
    { uri: 'x.', match: 'prefix', allow: ['subscribe', 'register'], deny: ['publish'] },
    { uri: 'y.', match: 'prefix', allow: ['subscribe'], deny: ['unsubscribe'] },
    { uri: 'z', allow: ['*'] },
  ]);
  assert.equal(decideTopic(r.get('subscribe'), 'x.1'), true);
  assert.equal(decideTopic(r.get('unsubscribe'), 'x.1'), true);
  assert.equal(decideTopic(r.get('unregister'), 'x.1'), true);
  assert.equal(decideTopic(r.get('publish'), 'x.1'), false);
  assert.equal(decideTopic(r.get('unsubscribe'), 'y.1'), false);
  for (const a of ['publish', 'subscribe', 'call', 'register', 'retain', 'unsubscribe', 'unregister'] as const) {
    assert.equal(decideTopic(r.get(a), 'z'), true, a);
  }
  assert.equal(decideTopic(r.get('call'), 'x.1'), undefined);
});

test('authz permissions - a wildcard subscription wider than the permission is allowed, one inside a denial is not', () => {
  const r = role([
    { uri: 'sensors.', match: 'prefix', allow: ['subscribe'] },
    { uri: 'billing.', match: 'prefix', deny: ['subscribe'] },
    { uri: 'billing.public.', match: 'prefix', allow: ['subscribe'] },
  ]).get('subscribe');
  assert.equal(decidePattern(r, pat('#', 'wildcard'), 'subscribe'), true);
  assert.equal(decidePattern(r, pat('', 'prefix'), 'subscribe'), true);
  assert.equal(decidePattern(r, pat('sensors..t', 'wildcard'), 'subscribe'), true);
  assert.equal(decidePattern(r, pat('billing.#', 'wildcard'), 'subscribe'), true); // reaches billing.public.
  assert.equal(decidePattern(r, pat('billing.secret.#', 'wildcard'), 'subscribe'), false);
  assert.equal(decidePattern(r, pat('billing.secret', 'prefix'), 'subscribe'), false);
  assert.equal(decidePattern(r, pat('other.#', 'wildcard'), 'subscribe'), undefined);
});

test('authz permissions - a pattern registration must be covered whole', () => {
  const r = role([
    { uri: 'app.', match: 'prefix', allow: ['register'] },
    { uri: 'app.admin.', match: 'prefix', deny: ['register'] },
  ]).get('register');
  assert.equal(decidePattern(r, pat('app.math.', 'prefix'), 'register'), true);
  assert.equal(decidePattern(r, pat('app..add', 'wildcard'), 'register'), false); // reaches app.admin.add
  assert.equal(decidePattern(r, pat('app.', 'prefix'), 'register'), false);
  assert.equal(decidePattern(r, pat('', 'prefix'), 'register'), false);
  assert.equal(decidePattern(r, pat('app.math..x', 'wildcard'), 'register'), true);
});

// --- properties: the pattern geometry never errs on the unsafe side -----------------------

const segment = fc.constantFrom('a', 'b', 'ab', 'c');
const concrete = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => s.join('.'));
const patternArb: fc.Arbitrary<TopicPattern> = fc.oneof(
  concrete.map((u) => pat(u, 'exact')),
  fc.tuple(fc.array(segment, { maxLength: 3 }), fc.constantFrom('', '.', 'a')).map(([s, tail]) => {
    const uri = s.join('.') + (s.length > 0 ? tail : tail === '.' ? '' : tail);
    return pat(uri, 'prefix');
  }),
  fc
    .tuple(fc.array(fc.oneof(segment, fc.constant('')), { minLength: 1, maxLength: 4 }), fc.boolean())
    .map(([s, rest]) => pat(rest ? [...s, '#'].join('.') : s.join('.'), 'wildcard')),
);

test('authz permissions - overlaps is never false when a URI matches both (fast-check)', () => {
  fc.assert(
    fc.property(patternArb, patternArb, concrete, (a, b, uri) => {
      if (patternMatches(a, uri) && patternMatches(b, uri)) assert.equal(overlaps(a, b), true);
    }),
    { numRuns: 3000 },
  );
});

test('authz permissions - covers is never true when a URI of the inner pattern escapes (fast-check)', () => {
  fc.assert(
    fc.property(patternArb, patternArb, concrete, (outer, inner, uri) => {
      if (covers(outer, inner) && patternMatches(inner, uri)) assert.equal(patternMatches(outer, uri), true);
    }),
    { numRuns: 3000 },
  );
});

test('authz permissions - a whole-pattern allow means every URI in it is allowed (fast-check)', () => {
  const rules = fc.array(
    fc
      .tuple(patternArb, fc.boolean())
      .map(([p, allow]): PermissionConfig => ({ uri: p.uri, match: p.match, [allow ? 'allow' : 'deny']: ['register'] })),
    { maxLength: 5 },
  );
  fc.assert(
    fc.property(rules, patternArb, concrete, (perms, p, uri) => {
      const r = role(perms).get('register');
      if (decidePattern(r, p, 'register') === true && patternMatches(p, uri)) assert.equal(decideTopic(r, uri), true);
    }),
    { numRuns: 3000 },
  );
});
