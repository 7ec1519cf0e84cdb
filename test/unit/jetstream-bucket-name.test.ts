/**
 * JetStream bucket names per realm (lib/store/jetstream/bucket-name.ts): valid bucket
 * names for any realm, distinct realms never share a bucket, and no realm takes the meta
 * bucket's name.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { metaBucket, realmBucket } from '../../lib/store/jetstream/bucket-name';

const REALMS = ['realm1', 'com.example', 'com_example', 'com-example', 'ünï.cødé', '_meta', '_6D', 'a.b_c', 'a_2Eb_c', ''];

test('bucket names - every realm gets a valid bucket name, each its own, none the meta bucket', () => {
  const names = REALMS.map((r) => realmBucket('gatehouse', r));
  for (const n of names) assert.match(n, /^[A-Za-z0-9_-]+$/);
  assert.equal(new Set(names).size, REALMS.length, `collision in ${JSON.stringify(names)}`);
  assert.ok(!names.includes(metaBucket('gatehouse')));
  assert.equal(realmBucket('gatehouse', 'realm1'), 'gatehouse_realm1');
  assert.equal(realmBucket('gatehouse', 'com.example'), 'gatehouse_com_2Eexample');
});
