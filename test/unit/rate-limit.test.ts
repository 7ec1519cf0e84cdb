import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConnectionLimiter } from '../../lib/connection-limits';
import { originMatcher } from '../../lib/origins';
import { InboundRate } from '../../lib/rate-limit';

const limits = { messagesPerSecond: 10, bytesPerSecond: 0, rateLimitDisconnectMs: 1000 };

test('rate limit - a burst within one second of tokens passes; the next message is throttled until paid back', () => {
  const r = new InboundRate(limits, 0);
  for (let i = 0; i < 10; i++) assert.deepEqual(r.take(1, 0), { action: 'ok' });
  assert.deepEqual(r.take(1, 0), { action: 'throttle', pauseMs: 100, limit: 'messages_per_second', started: true });
  // still in the same stretch: not a new hit
  assert.deepEqual(r.take(1, 100), { action: 'throttle', pauseMs: 100, limit: 'messages_per_second', started: false });
});

test('rate limit - a client back under the limit ends the stretch', () => {
  const r = new InboundRate(limits, 0);
  for (let i = 0; i < 11; i++) r.take(1, 0);
  assert.equal(r.take(1, 1000).action, 'ok', 'a second later the bucket has refilled');
  for (let i = 0; i < 8; i++) r.take(1, 1000);
  const again = r.take(1, 1000);
  assert.equal(again.action === 'throttle' && again.started, true, 'a new stretch');
});

test('rate limit - staying over the limit past rateLimitDisconnectMs disconnects', () => {
  const r = new InboundRate(limits, 0);
  for (let i = 0; i < 10; i++) r.take(1, 0);
  let now = 0;
  let verdict = r.take(1, now);
  // a client that sends the moment it is resumed stays in debt
  while (verdict.action === 'throttle') {
    now += verdict.pauseMs;
    verdict = r.take(2, now);
  }
  assert.equal(verdict.action, 'disconnect');
  assert.ok(now < 1000 + 200, `disconnected near the deadline, at ${now} ms`);
});

test('rate limit - a flooder resumed a little late each time (timer lag) stays in one stretch and is disconnected', () => {
  // found by test/hostile/rate-limits.test.ts: over WebSocket a flooder found a token
  // or two after each pause, the stretch restarted, and it was throttled for ever
  const r = new InboundRate({ messagesPerSecond: 200, bytesPerSecond: 0, rateLimitDisconnectMs: 1500 }, 0);
  let now = 0;
  let verdict = r.take(1, now);
  let stretches = 0;
  for (let i = 0; i < 10_000 && verdict.action !== 'disconnect'; i++) {
    if (verdict.action === 'throttle') {
      if (verdict.started) stretches++;
      now += verdict.pauseMs + 10; // resumed 10 ms late: two tokens' worth
    }
    verdict = r.take(1, now);
  }
  assert.equal(verdict.action, 'disconnect');
  assert.equal(stretches, 1, 'one stretch from the first throttle to the disconnect');
  assert.ok(now < 1500 + 200, `disconnected near the deadline, at ${now} ms`);
});

test('rate limit - a debt that alone outlasts the deadline disconnects at once', () => {
  const r = new InboundRate({ messagesPerSecond: 0, bytesPerSecond: 100, rateLimitDisconnectMs: 1000 }, 0);
  assert.deepEqual(r.take(5000, 0), { action: 'disconnect', limit: 'bytes_per_second' });
});

test('rate limit - zero rates mean unlimited', () => {
  assert.equal(InboundRate.enabled({ messagesPerSecond: 0, bytesPerSecond: 0, rateLimitDisconnectMs: 1 }), false);
});

test('connection limits - total and per IP, released on close', () => {
  const l = new ConnectionLimiter({ maxConnections: 3, maxConnectionsPerIp: 2 });
  assert.equal(l.acquire('a'), undefined);
  assert.equal(l.acquire('a'), undefined);
  assert.equal(l.acquire('a'), 'max_connections_per_ip');
  assert.equal(l.acquire('b'), undefined);
  assert.equal(l.acquire('c'), 'max_connections');
  l.release('a');
  assert.equal(l.acquire('c'), undefined);
  assert.equal(l.open, 3);
  l.release('unknown');
  assert.equal(l.open, 3);
});

test('origins - exact, wildcard host, same host, absent, and any', () => {
  const allowed = originMatcher(['https://app.example.com', 'https://*.example.org']);
  assert.equal(allowed('https://app.example.com', 'router:8080'), true);
  assert.equal(allowed('HTTPS://APP.EXAMPLE.COM', 'router:8080'), true);
  assert.equal(allowed('https://eu.example.org', 'router:8080'), true);
  assert.equal(allowed('https://example.org.evil.net', 'router:8080'), false);
  assert.equal(allowed('http://app.example.com', 'router:8080'), false, 'scheme matters');
  assert.equal(allowed('https://evil.net', 'router:8080'), false);
  assert.equal(allowed('http://router:8080', 'router:8080'), true, 'same host as the endpoint');
  assert.equal(allowed(undefined, 'router:8080'), true, 'no Origin: not a browser');
  assert.equal(allowed('null', 'router:8080'), false);
  assert.equal(originMatcher(['*'])('https://anything', undefined), true);
});
