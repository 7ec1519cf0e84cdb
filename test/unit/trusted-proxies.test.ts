// Trusted proxies (lib/trusted-proxies.ts, config proxy.trusted): addresses and CIDR
// blocks of both families match as configured, IPv4-mapped peers as IPv4; Forwarded
// (RFC 7239) and X-Forwarded-For are believed only from a trusted peer, read from the
// right, stopping at the first hop that is not a trusted proxy.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveConfig } from '../../lib/config';
import { TrustedProxies, trustedEntryProblem } from '../../lib/trusted-proxies';

describe('trusted proxies', () => {
  const trusted = new TrustedProxies(['127.0.0.1/32', '10.0.0.0/8', 'fd00::/8', '192.0.2.5']);

  it('trusted proxies - addresses and blocks of both families', () => {
    for (const a of ['127.0.0.1', '10.1.2.3', '::ffff:10.9.9.9', 'fd12::1', '192.0.2.5']) assert.ok(trusted.has(a), a);
    for (const a of ['127.0.0.2', '11.0.0.1', '::1', 'fe80::1', '192.0.2.6', 'not-an-address', '']) assert.ok(!trusted.has(a), a);
    assert.ok(!new TrustedProxies([]).has('127.0.0.1'));
  });

  it('trusted proxies - X-Forwarded-For from the right, up to the first untrusted hop', () => {
    const xff = (v: string | string[]): Record<string, string | string[]> => ({ 'x-forwarded-for': v });
    assert.equal(trusted.clientOf('127.0.0.1', xff('203.0.113.7')), '203.0.113.7');
    // the client may write anything on the left; the hop our proxy appended is what counts
    assert.equal(trusted.clientOf('127.0.0.1', xff('127.0.0.9, 203.0.113.7')), '203.0.113.7');
    // through two trusted proxies
    assert.equal(trusted.clientOf('127.0.0.1', xff('203.0.113.7, 10.0.0.4')), '203.0.113.7');
    assert.equal(trusted.clientOf('127.0.0.1', xff(['203.0.113.7', '10.0.0.4'])), '203.0.113.7');
    // every hop trusted: the leftmost
    assert.equal(trusted.clientOf('127.0.0.1', xff('10.0.0.5, 10.0.0.4')), '10.0.0.5');
    // garbage stops the walk at the hop that wrote it
    assert.equal(trusted.clientOf('127.0.0.1', xff('203.0.113.7, nonsense')), '127.0.0.1');
    assert.equal(trusted.clientOf('::ffff:127.0.0.1', xff('2001:db8::7')), '2001:db8::7');
    // from an untrusted peer the header is ignored
    assert.equal(trusted.clientOf('198.51.100.1', xff('127.0.0.1')), '198.51.100.1');
    assert.equal(trusted.clientOf('127.0.0.1', {}), '127.0.0.1');
  });

  it('trusted proxies - Forwarded (RFC 7239) before X-Forwarded-For', () => {
    const h = (forwarded: string): Record<string, string> => ({ forwarded, 'x-forwarded-for': '198.51.100.99' });
    assert.equal(trusted.clientOf('127.0.0.1', h('for=203.0.113.7')), '203.0.113.7');
    assert.equal(trusted.clientOf('127.0.0.1', h('for=192.0.2.60;proto=http;by=203.0.113.43')), '192.0.2.60');
    assert.equal(trusted.clientOf('127.0.0.1', h('For="[2001:db8:cafe::17]:4711"')), '2001:db8:cafe::17');
    assert.equal(trusted.clientOf('127.0.0.1', h('for=203.0.113.7:80, for=10.0.0.4')), '203.0.113.7');
    assert.equal(trusted.clientOf('127.0.0.1', h('for=unknown')), '127.0.0.1');
    assert.equal(trusted.clientOf('127.0.0.1', h('for=_hidden, for=10.0.0.4')), '10.0.0.4');
  });

  it('trusted proxies - config entries are checked at start-up', () => {
    assert.equal(trustedEntryProblem('10.0.0.0/8'), undefined);
    assert.equal(trustedEntryProblem('fd00::/8'), undefined);
    assert.equal(trustedEntryProblem('::1'), undefined);
    assert.match(trustedEntryProblem('10.0.0.0/33') ?? '', /prefix length/);
    assert.match(trustedEntryProblem('localhost') ?? '', /not an IP/);
    assert.throws(() => resolveConfig({ proxy: { trusted: ['10.0.0.0/8', 'nope'] } }), /\/proxy\/trusted\/1 is not an IP/);
    assert.throws(
      () => resolveConfig({ proxy: { protocol: 'required' } }),
      /\/proxy\/protocol "required" needs \/proxy\/trusted/,
    );
    assert.throws(
      () => resolveConfig({ proxy: { listeners: { mqtt: 'required' } } }),
      /\/proxy\/listeners\/mqtt "required" needs/,
    );
    const c = resolveConfig({ proxy: { trusted: ['127.0.0.1'], listeners: { stomp: 'required' } } });
    assert.equal(c.proxy.protocol, 'off');
    assert.equal(c.proxy.listeners.stomp, 'required');
    assert.equal(c.proxy.listeners.http, 'inherit');
  });
});
