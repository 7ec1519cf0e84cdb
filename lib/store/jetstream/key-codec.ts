/**
 * Reversible key encoding for NATS KV. A KV key is a NATS subject: dot-separated tokens
 * of [-/_=a-zA-Z0-9], no empty token (nats.js validateKey). Canonical topics are WAMP
 * URIs whose components may hold anything but whitespace and '#', and may be empty
 * (lib/topic.ts). Each component becomes one token, so the dots stay subject dots and a
 * subject filter (`a.b.>`) still selects a subtree on the server:
 * - [A-Za-z0-9_-] stay as they are;
 * - every other UTF-8 byte becomes `=XX` (upper-case hex), '=' itself included;
 * - an empty component becomes a lone `=`, which no non-empty component encodes to.
 * That is the cluster's event subject token (lib/cluster/subjects.ts encodeToken), so a
 * key and a topic encode alike; decodeToken here is its inverse.
 */
import { Errors, RouterError } from '../../errors';
import { encodeToken } from '../../cluster/subjects';

const UTF8_STRICT = new TextDecoder('utf-8', { fatal: true });

export function decodeToken(token: string): string {
  if (token === '=') return '';
  if (!token.includes('=')) return token;
  const bytes: number[] = [];
  for (let i = 0; i < token.length; i++) {
    const ch = token.charCodeAt(i);
    if (ch === 0x3d) {
      const hex = token.slice(i + 1, i + 3);
      if (!/^[0-9A-F]{2}$/.test(hex)) throw new RouterError(Errors.storeCorrupt, `not an encoded key token: ${token}`);
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(ch);
    }
  }
  return UTF8_STRICT.decode(Uint8Array.from(bytes));
}

export function encodeKey(key: string): string {
  return key.split('.').map(encodeToken).join('.');
}

export function decodeKey(subjectKey: string): string {
  return subjectKey.split('.').map(decodeToken).join('.');
}

/**
 * The subject filter that covers every key starting with `prefix` (a string prefix, not
 * a token prefix): its complete components, then `>`. The caller still checks the
 * prefix on each decoded key, since the last component may be partial.
 */
export function prefixFilter(prefix: string): string {
  if (prefix === '') return '>';
  const complete = prefix.split('.').slice(0, -1);
  return [...complete.map(encodeToken), '>'].join('.');
}
