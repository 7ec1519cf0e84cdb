/**
 * WAMP-cryptosign (WAMP spec, "Cryptosign-based Authentication"): the router sends 32
 * random bytes (hex); the client signs them with its Ed25519 key and returns the
 * signature in hex, optionally followed by the challenge itself (autobahn sends
 * signature || challenge, 96 bytes). Verified with Node's crypto against the public
 * keys of the user record. Channel binding (tls-unique) is not offered: the challenge
 * carries `channel_binding: null` and a client asking for it is still served unbound.
 */
import { createPublicKey, randomBytes, verify, type KeyObject } from 'node:crypto';
import { Errors, RouterError } from '../errors';

// DER SubjectPublicKeyInfo header of an Ed25519 key (RFC 8410): the raw 32 bytes follow it
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export function ed25519PublicKey(hex: string): KeyObject {
  const raw = Buffer.from(hex, 'hex');
  if (raw.length !== 32) throw new RouterError(Errors.invalidArgument, 'an Ed25519 public key has 32 bytes');
  return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

export function cryptosignChallenge(): string {
  return randomBytes(32).toString('hex');
}

/** Does `signatureHex` sign `challengeHex` with one of `publicKeys` (hex)? */
export function verifyCryptosign(challengeHex: string, signatureHex: string, publicKeys: readonly string[]): boolean {
  if (!/^[0-9a-fA-F]*$/.test(signatureHex)) return false;
  const sig = Buffer.from(signatureHex.slice(0, 128), 'hex');
  if (sig.length !== 64) return false;
  // signature || message form: the message must be the challenge we sent
  if (signatureHex.length > 128 && signatureHex.slice(128).toLowerCase() !== challengeHex.toLowerCase()) return false;
  if (signatureHex.length !== 128 && signatureHex.length !== 128 + challengeHex.length) return false;
  const message = Buffer.from(challengeHex, 'hex');
  return publicKeys.some((k) => {
    try {
      return verify(null, message, ed25519PublicKey(k), sig);
    } catch {
      return false;
    }
  });
}
