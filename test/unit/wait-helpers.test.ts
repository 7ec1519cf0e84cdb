// The waiting helpers (test/helpers/wait.ts) every test's deadlines stand on: a deadline
// that never fired would turn a lost event into a hung test, one that fired after the
// wait was over would fail a passing test later.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { giveUpAfter, retryUntil, waitFor, withTimeout } from '../helpers/wait';

test('wait helpers - giveUpAfter fires after its time unless cancelled first', async () => {
  let fired = 0;
  const cancel = giveUpAfter(1, () => fired++);
  cancel();
  await withTimeout(new Promise<void>((resolve) => giveUpAfter(1, resolve)), 1000, 'a give-up timer of 1 ms to fire');
  assert.equal(fired, 0, 'the cancelled one never fires');
});

test('wait helpers - withTimeout rejects naming what was seen at the deadline; a settled wait leaves no timer', async () => {
  let seen = 0;
  const never = new Promise<never>(() => undefined);
  const failed = withTimeout(never, 5, () => `a message (seen ${seen})`);
  seen = 3;
  await assert.rejects(failed, /timed out after 5 ms waiting for a message \(seen 3\)/);
  assert.equal(await withTimeout(Promise.resolve('now'), 60_000, 'an answer'), 'now');
});

test('wait helpers - waitFor resolves once the condition holds, rejects after its deadline, and passes errors through', async () => {
  let polls = 0;
  await waitFor(() => ++polls >= 3, 'the third poll', 1000, 1);
  assert.equal(polls, 3);
  await assert.rejects(
    waitFor(() => false, 'what never happens', 5, 1),
    /timed out after 5 ms waiting for what never happens/,
  );
  await assert.rejects(
    waitFor(() => {
      throw new Error('the server exited');
    }, 'a server'),
    /the server exited/,
  );
});

test('wait helpers - retryUntil retries a rejected attempt, and gives up with the last error as its cause', async () => {
  let attempts = 0;
  const failures: unknown[] = [];
  const value = await retryUntil(
    () => (++attempts < 3 ? Promise.reject(new Error(`no leader yet (${attempts})`)) : Promise.resolve('written')),
    'a put',
    1000,
    1,
    (err) => failures.push(err),
  );
  assert.equal(value, 'written');
  assert.equal(failures.length, 2);
  await assert.rejects(
    retryUntil(() => Promise.reject(new Error('down')), 'a read', 5, 1),
    (err: Error) => /timed out after 5 ms retrying a read/.test(err.message) && (err.cause as Error).message === 'down',
  );
});
