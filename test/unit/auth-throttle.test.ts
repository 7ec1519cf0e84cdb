// The failure budgets of lib/auth/throttle.ts on a fake clock: address keys (IPv6 by /64),
// blocks that double up to their cap, records forgotten after a quiet window, the
// per-address check slots, and the loopback exemption. Over real sockets:
// test/scenarios/auth-throttle.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressKey, AuthThrottle, type Attempt, type ThrottleConfig, type ThrottleRefusal } from '../../lib/auth/throttle';

const CFG: ThrottleConfig = {
  enabled: true,
  maxFailures: 3,
  windowMs: 60_000,
  backoffMs: 1000,
  maxBackoffMs: 4000,
  authidMaxFailures: 100,
  authidMaxBackoffMs: 2000,
  concurrentChecksPerAddress: 2,
  exemptLoopback: false,
};

function clocked(cfg: Partial<ThrottleConfig> = {}): { t: AuthThrottle; advance: (ms: number) => void } {
  let now = 0;
  return { t: new AuthThrottle({ ...CFG, ...cfg }, () => now), advance: (ms) => (now += ms) };
}

const isAttempt = (a: Attempt | ThrottleRefusal): a is Attempt => 'done' in a;

async function fail(t: AuthThrottle, peer: string, authid = 'alice'): Promise<void> {
  const a = await t.admit(peer, authid);
  assert.ok(isAttempt(a), 'admitted');
  a.done('failed');
}

async function refusal(t: AuthThrottle, peer: string, authid = 'alice'): Promise<ThrottleRefusal | undefined> {
  const a = await t.admit(peer, authid);
  if (isAttempt(a)) {
    a.done('neither');
    return undefined;
  }
  return a;
}

test('auth throttle - address keys: IPv4, IPv4-mapped, and the IPv6 /64', () => {
  assert.equal(addressKey('192.0.2.7:4242'), '192.0.2.7');
  assert.equal(addressKey('::ffff:192.0.2.7:4242'), '192.0.2.7');
  assert.equal(addressKey('2001:db8:0:1:aaaa::1:4242'), '2001:db8:0:1::/64');
  assert.equal(addressKey('2001:db8::1:443'), '2001:db8:0:0::/64');
  assert.equal(addressKey('2001:0DB8:0000:0001:1:2:3:4:80'), '2001:db8:0:1::/64');
  assert.equal(addressKey('::1:5000'), '0:0:0:0::/64');
});

test('auth throttle - a block doubles with each failure after it, up to maxBackoffMs; a quiet window forgets it', async () => {
  const { t, advance } = clocked();
  for (let i = 0; i < 3; i++) await fail(t, '192.0.2.7:1');
  assert.deepEqual(await refusal(t, '192.0.2.7:2', 'bob'), { reason: 'address', retryAfterMs: 1000 });
  // another address of the same /64 is the same address; another IPv4 address is not
  assert.equal(await refusal(t, '192.0.2.8:1'), undefined);
  let previous = 1000;
  for (const ms of [2000, 4000, 4000]) {
    advance(previous - 1);
    assert.equal((await refusal(t, '192.0.2.7:1'))?.retryAfterMs, 1, 'still blocked');
    advance(1);
    assert.equal(await refusal(t, '192.0.2.7:1'), undefined, 'the block ended');
    await fail(t, '192.0.2.7:1');
    assert.deepEqual(await refusal(t, '192.0.2.7:1'), { reason: 'address', retryAfterMs: ms });
    previous = ms;
  }
  advance(previous + CFG.windowMs);
  // forgotten: the full budget again
  await fail(t, '192.0.2.7:1');
  assert.equal(await refusal(t, '192.0.2.7:1'), undefined);
});

test("auth throttle - a blocked authid refuses only addresses with failures of their own; the owner's success does not lift it for them", async () => {
  const { t } = clocked({ authidMaxFailures: 4 });
  for (let i = 0; i < 4; i++) await fail(t, `198.51.100.${i}:1`);
  assert.deepEqual(await refusal(t, '198.51.100.0:1'), { reason: 'authid', retryAfterMs: 1000 });
  assert.equal(await refusal(t, '198.51.100.0:1', 'bob'), undefined, 'other authids are not blocked');
  assert.equal(await refusal(t, '203.0.113.1:1'), undefined, 'a clean address is checked');
  const ok = await t.admit('203.0.113.1:1', 'alice');
  assert.ok(isAttempt(ok));
  ok.done('succeeded');
  assert.equal((await refusal(t, '198.51.100.0:1'))?.reason, 'authid', 'no fresh budget for the guessers');
});

test('auth throttle - the blocks of an authid double up to the short authidMaxBackoffMs', async () => {
  const { t, advance } = clocked({ maxFailures: 100, authidMaxFailures: 2 });
  await fail(t, '198.51.100.1:1');
  await fail(t, '198.51.100.2:1');
  let previous = 1000;
  assert.deepEqual(await refusal(t, '198.51.100.1:1'), { reason: 'authid', retryAfterMs: previous });
  for (const ms of [2000, 2000, 2000]) {
    advance(previous);
    await fail(t, '198.51.100.2:1');
    assert.deepEqual(await refusal(t, '198.51.100.1:1'), { reason: 'authid', retryAfterMs: ms });
    previous = ms;
  }
});

test('auth throttle - at most concurrentChecksPerAddress checks per address; the rest wait, and are refused once it is blocked', async () => {
  const { t } = clocked({ maxFailures: 2 });
  const first = await t.admit('192.0.2.9:1', 'alice');
  const second = await t.admit('192.0.2.9:2', 'alice');
  assert.ok(isAttempt(first) && isAttempt(second));
  let thirdSettled = false;
  const third = t.admit('192.0.2.9:3', 'alice').then((a) => ((thirdSettled = true), a));
  // another address is not held up
  const other = await t.admit('192.0.2.10:1', 'alice');
  assert.ok(isAttempt(other));
  other.done('neither');
  await new Promise((r) => setImmediate(r));
  assert.equal(thirdSettled, false, 'the third check of the address waits');
  first.done('failed');
  second.done('failed');
  assert.deepEqual(await third, { reason: 'address', retryAfterMs: 1000 });
});

test('auth throttle - exemptLoopback and enabled: false count nothing', async () => {
  for (const cfg of [{ exemptLoopback: true }, { enabled: false }]) {
    const { t } = clocked(cfg);
    for (let i = 0; i < 10; i++) await fail(t, '127.0.0.1:1');
    assert.equal(await refusal(t, '127.0.0.1:1'), undefined);
  }
  const { t } = clocked();
  for (let i = 0; i < 3; i++) await fail(t, '127.0.0.1:1');
  assert.equal((await refusal(t, '127.0.0.1:1'))?.reason, 'address', 'loopback is not exempt by default');
});
