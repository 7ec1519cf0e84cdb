/**
 * Secrets at rest: passwords are stored only as salted scrypt hashes, WAMP-CRA
 * secrets only as PBKDF2-derived keys. Every comparison is constant-time.
 */
import { createHmac, pbkdf2Sync, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

/** ~50 ms per check on a current core: costly to guess, cheap enough per login. */
export const DEFAULT_SCRYPT: ScryptParams = { N: 16384, r: 8, p: 1 };
const HASH_BYTES = 32;

function scryptAsync(password: string, salt: Buffer, keylen: number, params: ScryptParams): Promise<Buffer> {
  // 128 * N * r is what scrypt needs; the default cap (32 MiB) refuses large N
  const maxmem = 256 * params.N * params.r + 1024 * 1024;
  return new Promise((resolve, reject) => {
    scrypt(password, salt, keylen, { N: params.N, r: params.r, p: params.p, maxmem }, (err, key) => {
      if (err) reject(err);
      else resolve(key);
    });
  });
}

/** "scrypt$N$r$p$<salt base64>$<hash base64>" for the config file. */
export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scryptAsync(password, salt, HASH_BYTES, params);
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** Parsed stored hash; undefined when it is not one (the schema checks the shape). */
function parseHash(stored: string): { params: ScryptParams; salt: Buffer; hash: Buffer } | undefined {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  if (![N, r, p].every((n) => Number.isSafeInteger(n) && n > 0)) return undefined;
  const salt = Buffer.from(parts[4] ?? '', 'base64');
  const hash = Buffer.from(parts[5] ?? '', 'base64');
  if (salt.length === 0 || hash.length === 0) return undefined;
  return { params: { N, r, p }, salt, hash };
}

/** The cost parameters of a stored scrypt hash, if it is one. */
export function scryptParamsOf(stored: string): ScryptParams | undefined {
  return parseHash(stored)?.params;
}

/** Does `password` match the stored scrypt hash? Constant-time on the hash bytes. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parseHash(stored);
  if (!parsed) return false;
  const candidate = await scryptAsync(password, parsed.salt, parsed.hash.length, parsed.params);
  return timingSafeEqual(candidate, parsed.hash);
}

/** Constant-time equality of two strings (different lengths compare unequal). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  // compare against itself when lengths differ so the time does not depend on where they differ
  return x.length === y.length ? timingSafeEqual(x, y) : !timingSafeEqual(x, x);
}

export interface WampcraRecord {
  salt: string;
  iterations: number;
  keylen: number;
  /** base64 PBKDF2-SHA256 key: what the client derives from its secret */
  key: string;
}

/** WAMP-CRA salted secret: PBKDF2-SHA256(secret, salt) in base64 (as autobahn's auth_cra.derive_key). */
export function deriveCraKey(secret: string, salt: string, iterations: number, keylen: number): string {
  return pbkdf2Sync(secret, salt, iterations, keylen, 'sha256').toString('base64');
}

export function makeCraRecord(secret: string, iterations = 10000, keylen = 32): WampcraRecord {
  const salt = randomBytes(16).toString('base64');
  return { salt, iterations, keylen, key: deriveCraKey(secret, salt, iterations, keylen) };
}

/** WAMP-CRA signature: base64 HMAC-SHA256 of the challenge, keyed by the derived key's text. */
export function craSignature(key: string, challenge: string): string {
  return createHmac('sha256', Buffer.from(key, 'utf8')).update(challenge, 'utf8').digest('base64');
}
