import type { MqttSession } from './mqtt-session';

/** which limit a new persistent session would break */
export type OfflineLimit = 'max_offline_sessions' | 'max_offline_sessions_per_authid';

/**
 * The sessions that may be left offline: every MQTT session whose expiry is above 0,
 * counted from its CONNECT whether its client is connected or not, router-wide and per
 * authid (limits.maxOfflineSessions, limits.maxOfflineSessionsPerAuthid).
 *
 * Counted from CONNECT, not from the disconnect, so the limit is checked when the client
 * can still be told: a CONNECT that would create one more is refused (CONNACK 0x97 quota
 * exceeded, 3.1.1 return code 3), and a session once granted is never evicted to make
 * room. Evicting the oldest instead would let one client, by creating sessions, destroy
 * the queued messages of everyone else's.
 */
export class OfflineQuota {
  /** each counted session, with the authid it is counted under */
  private readonly counted = new Map<MqttSession, string>();
  private readonly perAuthid = new Map<string, number>();

  constructor(
    private readonly max: number,
    private readonly maxPerAuthid: number,
  ) {}

  has(session: MqttSession): boolean {
    return this.counted.has(session);
  }

  get size(): number {
    return this.counted.size;
  }

  /** the limit one more persistent session of `authid` would break, if any */
  exceeded(authid: string): OfflineLimit | undefined {
    if (this.counted.size >= this.max) return 'max_offline_sessions';
    if ((this.perAuthid.get(authid) ?? 0) >= this.maxPerAuthid) return 'max_offline_sessions_per_authid';
    return undefined;
  }

  /** the session outlives its connection: counted (once) under its owner's authid */
  add(session: MqttSession): void {
    if (this.counted.has(session)) return;
    const authid = session.core.identity.authid;
    this.counted.set(session, authid);
    this.perAuthid.set(authid, (this.perAuthid.get(authid) ?? 0) + 1);
  }

  /** the session ended, or no longer outlives its connection */
  delete(session: MqttSession): void {
    const authid = this.counted.get(session);
    if (authid === undefined) return;
    this.counted.delete(session);
    const n = (this.perAuthid.get(authid) ?? 1) - 1;
    if (n > 0) this.perAuthid.set(authid, n);
    else this.perAuthid.delete(authid);
  }
}
