// The test clock (test/helpers/clock.ts) the timer tests stand on: if it fired timers
// early, late or out of order, those tests would prove nothing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../helpers/clock';

test('manual clock - timers fire in due order, each at its due time, and not before', () => {
  const clock = new ManualClock(1000);
  const fired: string[] = [];
  clock.setTimeout(() => fired.push(`b@${clock.now()}`), 20);
  clock.setTimeout(() => fired.push(`a@${clock.now()}`), 10);
  clock.setTimeout(() => fired.push(`c@${clock.now()}`), 20);
  clock.advance(9);
  assert.deepEqual(fired, []);
  clock.advance(11);
  assert.deepEqual(fired, ['a@1010', 'b@1020', 'c@1020']);
  assert.equal(clock.now(), 1020);
});

test('manual clock - clearTimeout cancels; an interval fires as often as it falls due; refresh restarts the delay', () => {
  const clock = new ManualClock(0);
  let ticks = 0;
  let cancelled = 0;
  const t = clock.setTimeout(() => cancelled++, 5);
  clock.clearTimeout(t);
  const i = clock.setInterval(() => ticks++, 10);
  clock.advance(35);
  assert.equal(ticks, 3);
  assert.equal(cancelled, 0);
  clock.clearInterval(i);
  clock.advance(100);
  assert.equal(ticks, 3);
  let kept = 0;
  const k = clock.setTimeout(() => kept++, 10);
  clock.advance(8);
  k.refresh();
  clock.advance(8);
  assert.equal(kept, 0, 'refreshed at 8: due at 18');
  clock.advance(2);
  assert.equal(kept, 1);
});

test('manual clock - a timer armed by a firing timer fires within the same advance when due', () => {
  const clock = new ManualClock(0);
  const at: number[] = [];
  clock.setTimeout(() => clock.setTimeout(() => at.push(clock.now()), 5), 5);
  clock.advance(10);
  assert.deepEqual(at, [10]);
});

test("manual clock - as Node's timers, a delay past 2^31 - 1 ms is 1 ms; a timer that re-arms itself for ever fails the advance", () => {
  const clock = new ManualClock(0);
  let fired = 0;
  clock.setTimeout(() => fired++, 2 ** 31);
  clock.advance(1);
  assert.equal(fired, 1);
  const spin = (): void => void clock.setTimeout(spin, 2 ** 40);
  spin();
  assert.throws(() => clock.advance(1_000_000), /a timer spins/);
});

test('manual clock - nextTimer resolves when a timer of that delay is armed', async () => {
  const clock = new ManualClock(0);
  const armed = clock.nextTimer(250);
  clock.setTimeout(() => undefined, 100);
  clock.setTimeout(() => undefined, 250);
  await armed;
  assert.equal(clock.hasTimer(250), true);
  assert.deepEqual(
    clock.delays().sort((a, b) => a - b),
    [100, 250],
  );
});
