/**
 * How many durable mailboxes a principal may hold: router-wide and per principal (the
 * authid). The MQTT gate counts its persistent sessions with it (limits.maxOfflineSessions,
 * limits.maxOfflineSessionsPerAuthid); any owner kind that clients create may.
 *
 * A holder is counted from the moment it is granted, not from when its mailbox first
 * holds a message, so the limit is checked when the client can still be told: a request
 * that would create one more is refused (MQTT: CONNACK 0x97 quota exceeded, 3.1.1 return
 * code 3), and a holder once granted is never evicted to make room. Evicting the oldest
 * instead would let one client, by creating holders, destroy everyone else's messages.
 *
 * Holders are objects (an MQTT session), not names: a session taken over by a new
 * connection under the same client id is another holder, and forgetting the old one must
 * not release the new one's count.
 */
export type QuotaLimit = 'total' | 'per_principal';

export class OwnerQuota<H extends object> {
  /** each counted holder, with the principal it is counted under */
  private readonly counted = new Map<H, string>();
  private readonly perPrincipal = new Map<string, number>();

  constructor(
    private readonly max: number,
    private readonly maxPerPrincipal: number,
  ) {}

  has(holder: H): boolean {
    return this.counted.has(holder);
  }

  get size(): number {
    return this.counted.size;
  }

  /** the limit one more holder of `principal` would break, if any */
  exceeded(principal: string): QuotaLimit | undefined {
    if (this.counted.size >= this.max) return 'total';
    if ((this.perPrincipal.get(principal) ?? 0) >= this.maxPerPrincipal) return 'per_principal';
    return undefined;
  }

  /** counted (once) under `principal` */
  add(holder: H, principal: string): void {
    if (this.counted.has(holder)) return;
    this.counted.set(holder, principal);
    this.perPrincipal.set(principal, (this.perPrincipal.get(principal) ?? 0) + 1);
  }

  /** the holder ended, or no longer holds a durable mailbox */
  delete(holder: H): void {
    const principal = this.counted.get(holder);
    if (principal === undefined) return;
    this.counted.delete(holder);
    const n = (this.perPrincipal.get(principal) ?? 1) - 1;
    if (n > 0) this.perPrincipal.set(principal, n);
    else this.perPrincipal.delete(principal);
  }
}
