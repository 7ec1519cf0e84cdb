/**
 * Which peers may speak for their clients (config proxy.trusted): only a connection
 * from one of these addresses may carry a PROXY protocol header (lib/proxy-accept.ts) or
 * have its `Forwarded` / `X-Forwarded-For` request header believed. Anyone else could
 * write those to borrow another address: a loopback one to pass the anonymous rule, a
 * fresh one per connection to slip past the per-IP limits and the login throttle.
 */
import net from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';

/** An address as Node reports a peer, IPv4-mapped IPv6 ("::ffff:10.0.0.1") as IPv4. */
export function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && net.isIPv4(address.slice(7)) ? address.slice(7) : address;
}

/** Why a proxy.trusted entry ("10.0.0.0/8", "::1", "fd00::/8") is not one, or undefined. */
export function trustedEntryProblem(entry: string): string | undefined {
  const slash = entry.indexOf('/');
  const address = slash < 0 ? entry : entry.slice(0, slash);
  const family = net.isIP(address);
  if (family === 0) return 'is not an IP address or CIDR block';
  if (slash < 0) return undefined;
  const bits = entry.slice(slash + 1);
  const max = family === 4 ? 32 : 128;
  return /^[0-9]{1,3}$/.test(bits) && Number(bits) <= max ? undefined : `has a prefix length not in 0..${max}`;
}

export class TrustedProxies {
  private readonly list = new net.BlockList();
  /** none configured: nothing is checked, nobody is trusted */
  readonly empty: boolean;

  /** `entries` are checked by the config (trustedEntryProblem) */
  constructor(entries: readonly string[]) {
    this.empty = entries.length === 0;
    for (const entry of entries) {
      const [raw = '', bits] = entry.split('/');
      const address = bits === undefined ? plainAddress(raw) : raw;
      const family = net.isIPv4(address) ? 'ipv4' : 'ipv6';
      if (bits === undefined) this.list.addAddress(address, family);
      else this.list.addSubnet(address, Number(bits), family);
    }
  }

  has(address: string): boolean {
    if (this.empty) return false;
    const plain = plainAddress(address);
    const family = net.isIPv4(plain) ? 'ipv4' : net.isIPv6(plain) ? 'ipv6' : undefined;
    return family !== undefined && this.list.check(plain, family);
  }

  /**
   * The client behind a request from `peer` (an address), from its `Forwarded` (RFC 7239)
   * or else `X-Forwarded-For` header: each trusted hop appends the address it got the
   * request from, so the list is read from the right and the first address that is not
   * a trusted proxy is the client (as nginx real_ip_recursive and Express' trust proxy).
   * What a hop appended that is not an address (RFC 7239 §6.3 "unknown", obfuscated
   * names) stops the walk at that hop. The peer itself when it is not trusted.
   */
  clientOf(peer: string, headers: IncomingHttpHeaders): string {
    let client = plainAddress(peer);
    if (!this.has(client)) return client;
    const hops = forwardedFor(headers);
    for (let i = hops.length - 1; i >= 0 && this.has(client); i--) {
      const hop = hops[i] ?? '';
      if (net.isIP(hop) === 0) break;
      client = plainAddress(hop);
    }
    return client;
  }
}

/** The addresses of `Forwarded: for=...` (RFC 7239 §4, §6), else of X-Forwarded-For, left to right. */
function forwardedFor(headers: IncomingHttpHeaders): string[] {
  const forwarded = headers.forwarded;
  if (forwarded !== undefined) {
    const out: string[] = [];
    for (const element of forwarded.split(',')) {
      let value = '';
      for (const pair of element.split(';')) {
        const eq = pair.indexOf('=');
        if (eq > 0 && pair.slice(0, eq).trim().toLowerCase() === 'for') value = nodeAddress(pair.slice(eq + 1).trim());
      }
      out.push(value);
    }
    return out;
  }
  const xff = headers['x-forwarded-for'];
  if (xff === undefined) return [];
  // Node joins repeated X-Forwarded-For headers with ", " (their order kept)
  return (Array.isArray(xff) ? xff.join(',') : xff).split(',').map((s) => s.trim());
}

/** RFC 7239 §6: a node is an IPv4 address, "[IPv6]", either with ":port", quoted when it has ':' or '[' in it. */
function nodeAddress(raw: string): string {
  const node = raw.startsWith('"') && raw.endsWith('"') && raw.length >= 2 ? raw.slice(1, -1) : raw;
  if (node.startsWith('[')) {
    const close = node.indexOf(']');
    return close < 0 ? '' : node.slice(1, close);
  }
  const colon = node.indexOf(':');
  return colon < 0 ? node : node.slice(0, colon);
}
