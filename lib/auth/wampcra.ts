/**
 * WAMP-CRA (WAMP spec, "Challenge Response Authentication", salted): the challenge is
 * a JSON string naming the session to be; the client answers with the base64
 * HMAC-SHA256 of it, keyed by its PBKDF2-derived key (CHALLENGE.Extra carries salt,
 * iterations and keylen so it can derive the key from its secret).
 */
import { createHmac, randomBytes } from 'node:crypto';
import { craSignature, safeEqual, type WampcraRecord } from './passwords';

export interface CraChallenge {
  /** CHALLENGE.Extra */
  extra: { challenge: string; salt: string; iterations: number; keylen: number };
  /** the signature a client holding the right secret sends */
  expected: string;
}

export function craChallenge(
  record: WampcraRecord,
  who: { authid: string; authrole: string; authprovider: string; session: number },
): CraChallenge {
  const challenge = JSON.stringify({
    authid: who.authid,
    authrole: who.authrole,
    authmethod: 'wampcra',
    authprovider: who.authprovider,
    nonce: randomBytes(16).toString('base64'),
    timestamp: new Date().toISOString(),
    session: who.session,
  });
  return {
    extra: { challenge, salt: record.salt, iterations: record.iterations, keylen: record.keylen },
    expected: craSignature(record.key, challenge),
  };
}

export function verifyCra(expected: string, signature: string): boolean {
  return safeEqual(expected, signature);
}

/**
 * A stand-in record for an authid that has none, so an unknown user gets a challenge
 * like a known one and fails only at AUTHENTICATE (no user enumeration). The salt is
 * stable per authid for the process's life.
 */
export function decoyCraRecord(pepper: Buffer, authid: string): WampcraRecord {
  const salt = createHmac('sha256', pepper).update(authid).digest('base64').slice(0, 24);
  return { salt, iterations: 10000, keylen: 32, key: randomBytes(32).toString('base64') };
}
