/**
 * Open connections across every listener of a router, in total and per IP address:
 * a connection takes a slot when accepted and gives it back when closed, so a flood
 * of sockets from one address cannot starve the rest (limits.maxConnections,
 * limits.maxConnectionsPerIp).
 */
export type ConnectionLimitName = 'max_connections' | 'max_connections_per_ip';

export class ConnectionLimiter {
  private total = 0;
  private readonly perIp = new Map<string, number>();

  constructor(private limits: { readonly maxConnections: number; readonly maxConnectionsPerIp: number }) {}

  /** New limits (a config reload): the next connection is checked against them; none is closed. */
  setLimits(limits: { readonly maxConnections: number; readonly maxConnectionsPerIp: number }): void {
    this.limits = limits;
  }

  /** Takes a slot for a connection from `ip`, or names the limit that refuses it. */
  acquire(ip: string): ConnectionLimitName | undefined {
    if (this.total >= this.limits.maxConnections) return 'max_connections';
    const n = this.perIp.get(ip) ?? 0;
    if (n >= this.limits.maxConnectionsPerIp) return 'max_connections_per_ip';
    this.total++;
    this.perIp.set(ip, n + 1);
    return undefined;
  }

  release(ip: string): void {
    const n = this.perIp.get(ip);
    if (n === undefined) return;
    this.total--;
    if (n <= 1) this.perIp.delete(ip);
    else this.perIp.set(ip, n - 1);
  }

  get open(): number {
    return this.total;
  }
}
