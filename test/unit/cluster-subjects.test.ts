import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  encodeToken,
  eventSubject,
  interestSubject,
  realmSubjectPrefix,
  shareQueue,
  subjectMatches,
} from '../../lib/cluster/subjects';
import { parseMqttFilter } from '../../lib/notation';
import { parsePattern, type MatchPolicy } from '../../lib/topic';

const P = realmSubjectPrefix('gatehouse', 'realm1');

function filter(uri: string, match: MatchPolicy = 'exact'): string {
  const p = parsePattern(uri, match);
  assert.ok(p, uri);
  return interestSubject(P, p);
}

test('cluster subjects - characters a NATS token cannot hold are escaped, so topics stay distinct', () => {
  assert.equal(encodeToken('room_1-a'), 'room_1-a');
  assert.equal(encodeToken('*'), '=2A');
  assert.equal(encodeToken('>'), '=3E');
  assert.equal(encodeToken('a b'), 'a=20b');
  assert.equal(encodeToken('='), '=3D');
  assert.equal(encodeToken(''), '=');
  assert.equal(encodeToken('é'), '=C3=A9');
  assert.equal(realmSubjectPrefix('gatehouse', 'com.example'), 'gatehouse.ev.com=2Eexample.');
  assert.equal(eventSubject(P, 'int.*'), 'gatehouse.ev.realm1.int.=2A.!');
  // no subject of an escaped topic holds a wildcard token or whitespace
  for (const topic of ['a.*', 'a.>', 'a b.c', '$SYS.x', 'a.%.b'])
    assert.doesNotMatch(eventSubject(P, topic), /(^|\.)[*>](\.|$)|\s/);
});

test('cluster subjects - each pattern is one filter that matches exactly the topics the broker would route', () => {
  const cases: [string, MatchPolicy, string, string[], string[]][] = [
    ['a.b', 'exact', 'a.b.!', ['a.b'], ['a.b.c', 'a', 'a.bc']],
    ['a.*.c', 'exact', 'a.*.c.!', ['a.x.c'], ['a.c', 'a.x.y.c']],
    ['a..c', 'wildcard', 'a.*.c.!', ['a.x.c'], ['a.x.c.d']],
    ['a.#', 'exact', 'a.>', ['a', 'a.b', 'a.b.c'], ['b', 'ab']],
    ['#', 'exact', '>', ['a', 'a.b'], []],
    ['a.b.', 'prefix', 'a.b.>', ['a.b.c', 'a.b.c.d'], ['a.bc', 'a']],
  ];
  for (const [uri, match, want, yes, no] of cases) {
    const f = filter(uri, match);
    assert.equal(f, P + want, `${match} ${uri}`);
    for (const topic of yes) assert.ok(subjectMatches(f, eventSubject(P, topic)), `${uri} takes ${topic}`);
    for (const topic of no) assert.ok(!subjectMatches(f, eventSubject(P, topic)), `${uri} leaves ${topic}`);
  }
  // a prefix's last component is partial: the filter takes in more, the broker narrows
  const prefix = filter('a.b', 'prefix');
  assert.equal(prefix, P + 'a.>');
  for (const topic of ['a.b', 'a.bc', 'a.b.c']) assert.ok(subjectMatches(prefix, eventSubject(P, topic)));
  assert.ok(!subjectMatches(prefix, eventSubject(P, 'b.a')));
  // realms keep apart
  assert.ok(!subjectMatches(filter('a.b'), eventSubject(realmSubjectPrefix('gatehouse', 'other'), 'a.b')));
});

test('cluster subjects - a shared group has one queue group per realm, group and pattern, with no wildcard in its name', () => {
  // an MQTT filter (`jobs/#`) or a WAMP pattern
  const queue = (group: string, uri: string, match: MatchPolicy, realm = 'realm1'): string => {
    const p = uri.includes('/') ? parseMqttFilter(uri) : parsePattern(uri, match);
    assert.ok(p, uri);
    return shareQueue(realmSubjectPrefix('gatehouse', realm), group, p);
  };
  assert.equal(queue('g', 'jobs/#', 'wildcard'), 'gatehouse.ev.realm1.share.g.wildcard.jobs.=23');
  const all = [
    queue('g', 'jobs/#', 'wildcard'),
    queue('h', 'jobs/#', 'wildcard'),
    queue('g', 'jobs/#', 'wildcard', 'realm2'),
    queue('g', 'jobs/+', 'wildcard'),
    queue('g', 'jobs', 'exact'),
    queue('g', 'jobs', 'prefix'),
    queue('g.x', 'jobs', 'exact'),
    queue('g', 'x.jobs', 'exact'),
  ];
  assert.equal(new Set(all).size, all.length, 'no two share a queue group');
  // prefix `a.b` and wildcard `a.#` share a subject filter, never a queue group
  const mqttA = parseMqttFilter('a/#');
  assert.ok(mqttA);
  assert.equal(filter('a.b', 'prefix'), interestSubject(P, mqttA));
  assert.notEqual(queue('g', 'a.b', 'prefix'), queue('g', 'a/#', 'wildcard'));
  for (const q of all) assert.doesNotMatch(q, /(^|\.)[*>](\.|$)|\s/);
});
