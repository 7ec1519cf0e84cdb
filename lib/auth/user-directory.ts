import type { UserRecord } from '../config';
import { scryptParamsOf, type ScryptParams } from './passwords';

/** The static user records of auth.users, indexed by authid and by cryptosign key. */
export class UserDirectory {
  private readonly byAuthid = new Map<string, UserRecord>();
  private readonly byPublicKey = new Map<string, UserRecord>();
  readonly hasPasswords: boolean;
  readonly hasWampcra: boolean;
  readonly hasCryptosign: boolean;

  constructor(users: readonly UserRecord[]) {
    for (const u of users) {
      this.byAuthid.set(u.authid, u);
      for (const key of u.cryptosign ?? []) this.byPublicKey.set(key.toLowerCase(), u);
    }
    this.hasPasswords = users.some((u) => u.password !== undefined);
    this.hasWampcra = users.some((u) => u.wampcra !== undefined);
    this.hasCryptosign = this.byPublicKey.size > 0;
  }

  get(authid: string): UserRecord | undefined {
    return this.byAuthid.get(authid);
  }

  /** The scrypt cost of the first password hash (unknown authids are checked at that cost). */
  scryptParams(): ScryptParams | undefined {
    for (const u of this.byAuthid.values()) {
      const params = u.password === undefined ? undefined : scryptParamsOf(u.password);
      if (params) return params;
    }
    return undefined;
  }

  byCryptosignKey(publicKeyHex: string): UserRecord | undefined {
    return this.byPublicKey.get(publicKeyHex.toLowerCase());
  }
}

/** May this user join `realm`? (no `realms` list: every realm) */
export function userMayJoin(user: UserRecord, realm: string): boolean {
  return user.realms === undefined || user.realms.includes(realm);
}
