import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SeenMessages } from '../../lib/links/seen-messages';

test('seen messages - an id is new once per origin; a message of this node is never new', () => {
  const seen = new SeenMessages('here', 4);
  assert.equal(seen.firstTime('a', 1), true);
  assert.equal(seen.firstTime('a', 1), false);
  assert.equal(seen.firstTime('b', 1), true);
  assert.equal(seen.firstTime('here', 99), false);
});

test('seen messages - the window per origin is bounded: the oldest id is forgotten first', () => {
  const seen = new SeenMessages('here', 3);
  for (const id of [1, 2, 3]) assert.equal(seen.firstTime('a', id), true);
  assert.equal(seen.firstTime('a', 4), true); // evicts 1
  assert.equal(seen.firstTime('a', 2), false);
  assert.equal(seen.firstTime('a', 1), true, 'past the window an id is new again');
});

test('seen messages - at most maxOrigins origins are remembered', () => {
  const seen = new SeenMessages('here', 8, 2);
  seen.firstTime('a', 1);
  seen.firstTime('b', 1);
  seen.firstTime('c', 1); // forgets a
  assert.equal(seen.firstTime('b', 1), false);
  assert.equal(seen.firstTime('a', 1), true);
});
