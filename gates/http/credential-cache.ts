/**
 * Verified HTTP credentials, remembered briefly. A password is checked against its
 * scrypt hash (lib/auth/passwords.ts), deliberately slow; a WAMP or MQTT client pays
 * that once per connection, an HTTP client would pay it on every request (measured:
 * ~9 Basic-authenticated publishes/s against ~230 anonymous ones). So a successful check
 * against a user record (authprovider "static": records only change with the config, on
 * restart) is kept for a short while, keyed by a keyed hash of the realm and the
 * Authorization header: the cache never holds a password. Failures are never cached:
 * every wrong guess still goes through the authenticator and its failure budgets.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { SessionIdentity } from '../../lib/session';

const TTL_MS = 60_000;
const MAX_ENTRIES = 1000;

export class CredentialCache {
  private readonly key = randomBytes(32);
  private readonly entries = new Map<string, { identity: SessionIdentity; until: number }>();

  private id(realm: string, authorization: string): string {
    return createHmac('sha256', this.key).update(realm).update('\0').update(authorization).digest('base64');
  }

  get(realm: string, authorization: string, now = Date.now()): SessionIdentity | undefined {
    const id = this.id(realm, authorization);
    const e = this.entries.get(id);
    if (!e) return undefined;
    if (e.until > now) return e.identity;
    this.entries.delete(id);
    return undefined;
  }

  set(realm: string, authorization: string, identity: SessionIdentity, now = Date.now()): void {
    if (identity.authprovider !== 'static') return;
    // oldest first (Map keeps insertion order): bounded however many clients there are
    if (this.entries.size >= MAX_ENTRIES) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(this.id(realm, authorization), { identity, until: now + TTL_MS });
  }
}
