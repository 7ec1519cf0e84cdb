import type { UserRecord } from '../config';

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

  byCryptosignKey(publicKeyHex: string): UserRecord | undefined {
    return this.byPublicKey.get(publicKeyHex.toLowerCase());
  }
}

/** May this user join `realm`? (no `realms` list: every realm) */
export function userMayJoin(user: UserRecord, realm: string): boolean {
  return user.realms === undefined || user.realms.includes(realm);
}
