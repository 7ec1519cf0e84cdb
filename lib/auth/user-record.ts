import type { UserRecord } from '../config';
import { Errors, RouterError } from '../errors';
import { ed25519PublicKey } from './cryptosign';
import { hashPassword, makeCraRecord, type ScryptParams, DEFAULT_SCRYPT } from './passwords';

export interface NewUser {
  authid: string;
  role: string;
  password?: string;
  /** Ed25519 public keys, hex */
  cryptosignKeys?: string[];
  realms?: string[];
  /** PBKDF2 iterations of the WAMP-CRA key */
  craIterations?: number;
  scrypt?: ScryptParams;
}

/**
 * A user record for auth.users: the password becomes a salted scrypt hash (ticket,
 * MQTT, STOMP) and a salted WAMP-CRA key; neither can be turned back into it.
 */
export async function createUserRecord(u: NewUser): Promise<UserRecord> {
  if (u.authid === '') throw new RouterError(Errors.invalidArgument, 'authid must not be empty');
  if (u.role === '') throw new RouterError(Errors.invalidArgument, 'role must not be empty');
  const record: UserRecord = { authid: u.authid, role: u.role };
  if (u.password !== undefined) {
    if (u.password === '') throw new RouterError(Errors.invalidArgument, 'password must not be empty');
    record.password = await hashPassword(u.password, u.scrypt ?? DEFAULT_SCRYPT);
    record.wampcra = makeCraRecord(u.password, u.craIterations);
  }
  if (u.cryptosignKeys !== undefined && u.cryptosignKeys.length > 0) {
    for (const k of u.cryptosignKeys) {
      if (!/^[0-9a-fA-F]{64}$/.test(k))
        throw new RouterError(Errors.invalidArgument, `not an Ed25519 public key (64 hex digits): ${k}`);
      ed25519PublicKey(k);
    }
    record.cryptosign = u.cryptosignKeys.map((k) => k.toLowerCase());
  }
  if (u.realms !== undefined && u.realms.length > 0) record.realms = u.realms;
  return record;
}
