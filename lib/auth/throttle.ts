/**
 * Password guessing, slowed (config auth.throttle; README "Authentication"). Two
 * failure budgets, in the manner of fail2ban:
 *
 * - per address (IPv4 address, IPv6 /64): `maxFailures` failed logins within `windowMs`
 *   block the address for `backoffMs`; each further failure after a block (one is
 *   enough) blocks it again for twice as long, up to `maxBackoffMs`. A blocked address
 *   is refused at once, without checking the password. The record is forgotten once
 *   the address has neither failed nor been blocked for `windowMs`.
 * - per authid: `authidMaxFailures` within `windowMs`, from any addresses, block the
 *   authid, with the same doubling up to the short `authidMaxBackoffMs`. The block
 *   refuses only addresses that have failed recently themselves (they have a record);
 *   an address without one is always checked. So failures by others never lock a user
 *   out, while a botnet guessing one authid gets one guess per address per window
 *   instead of `maxFailures`.
 *
 * Besides, at most `concurrentChecksPerAddress` password checks of one address run at
 * once; more wait their turn. scrypt runs in libuv's thread pool (4 threads), and
 * without this one address opening hundreds of connections would queue hundreds of
 * checks in front of everyone else's login, long before its first failure counts.
 */
import { isLoopback } from './anonymous';
import type { ThrottleConfig } from '../config-types';

/** Config `auth.throttle` (generated from the schema). */
export type { ThrottleConfig };

/** Which budget refused an attempt: the `reason` label of gatehouse_auth_throttled_total. */
export type ThrottleReason = 'address' | 'authid';

export interface ThrottleRefusal {
  reason: ThrottleReason;
  /** ms until the block ends */
  retryAfterMs: number;
}

/** How an admitted attempt ended: only failed guesses count against the budgets. */
export type AttemptOutcome = 'succeeded' | 'failed' | 'neither';

/** An admitted attempt: call `done` exactly once. */
export interface Attempt {
  done(outcome: AttemptOutcome): void;
}

/** A block just started (for the log). */
export interface BlockNotice {
  budget: ThrottleReason;
  key: string;
  ms: number;
}

/** Records kept per budget at most; past it the oldest are dropped (a flood of made-up authids). */
const MAX_RECORDS = 100_000;

class Tally {
  failures = 0;
  windowStart: number;
  lastFailure: number;
  blockedUntil = 0;
  /** blocks since the record was made: the next one lasts backoff * 2^strikes */
  strikes = 0;

  constructor(now: number) {
    this.windowStart = now;
    this.lastFailure = now;
  }

  stale(now: number, windowMs: number): boolean {
    return now >= Math.max(this.lastFailure, this.blockedUntil) + windowMs;
  }
}

/** One budget: failures per key within a window, blocks that double. */
class Budget {
  private readonly records = new Map<string, Tally>();

  constructor(
    private readonly maxFailures: number,
    private readonly windowMs: number,
    private readonly backoffMs: number,
    private readonly maxBackoffMs: number,
  ) {}

  /** The live record of `key`, if any (a stale one is forgotten). */
  get(key: string, now: number): Tally | undefined {
    const r = this.records.get(key);
    if (r && r.stale(now, this.windowMs)) {
      this.records.delete(key);
      return undefined;
    }
    return r;
  }

  /** Counts a failure; the length of the block it starts, else 0. */
  fail(key: string, now: number): number {
    let r = this.get(key, now);
    if (!r) {
      if (this.records.size >= MAX_RECORDS) this.evict(now);
      r = new Tally(now);
      this.records.set(key, r);
    }
    if (now - r.windowStart >= this.windowMs) {
      r.windowStart = now;
      r.failures = 0;
    }
    r.failures++;
    r.lastFailure = now;
    // after a first block, one more failure is enough for the next, longer one
    if (r.failures < (r.strikes === 0 ? this.maxFailures : 1)) return 0;
    const ms = Math.min(this.backoffMs * 2 ** Math.min(r.strikes, 30), this.maxBackoffMs);
    r.strikes++;
    r.failures = 0;
    r.windowStart = now;
    r.blockedUntil = Math.max(r.blockedUntil, now + ms);
    return ms;
  }

  private evict(now: number): void {
    for (const [k, r] of this.records) if (r.stale(now, this.windowMs)) this.records.delete(k);
    // still full: the oldest records go (Map keeps insertion order)
    for (const k of this.records.keys()) {
      if (this.records.size < MAX_RECORDS) break;
      this.records.delete(k);
    }
  }
}

export class AuthThrottle {
  private readonly addresses: Budget;
  private readonly authids: Budget;
  /** per address: checks running, and the attempts waiting for one to end */
  private readonly running = new Map<string, { count: number; waiting: (() => void)[] }>();

  constructor(
    private readonly cfg: ThrottleConfig,
    /** the clock of the windows and blocks; tests pass a fake one */
    private readonly now: () => number = Date.now,
    private readonly onBlock: (n: BlockNotice) => void = () => undefined,
  ) {
    this.addresses = new Budget(cfg.maxFailures, cfg.windowMs, cfg.backoffMs, cfg.maxBackoffMs);
    this.authids = new Budget(cfg.authidMaxFailures, cfg.windowMs, cfg.backoffMs, cfg.authidMaxBackoffMs);
  }

  /**
   * Waits for a check slot of the peer's address, then admits the attempt, or refuses
   * it when a budget blocks it (checked after the wait: the address may have been
   * blocked meanwhile). `peer` is "host:port".
   */
  async admit(peer: string, authid: string): Promise<Attempt | ThrottleRefusal> {
    if (!this.cfg.enabled || (this.cfg.exemptLoopback && isLoopback(peer))) return UNCOUNTED;
    const address = addressKey(peer);
    const early = this.blocked(address, authid);
    if (early) return early;
    await this.slot(address);
    const refusal = this.blocked(address, authid);
    if (refusal) {
      this.release(address);
      return refusal;
    }
    let settled = false;
    return {
      done: (outcome) => {
        if (settled) return;
        settled = true;
        this.release(address);
        this.settle(address, authid, outcome);
      },
    };
  }

  private blocked(address: string, authid: string): ThrottleRefusal | undefined {
    const now = this.now();
    const a = this.addresses.get(address, now);
    if (a && a.blockedUntil > now) return { reason: 'address', retryAfterMs: a.blockedUntil - now };
    // an address with no record of its own is never refused for the authid (no lockout by others)
    if (!a) return undefined;
    const u = this.authids.get(authid, now);
    if (u && u.blockedUntil > now) return { reason: 'authid', retryAfterMs: u.blockedUntil - now };
    return undefined;
  }

  private settle(address: string, authid: string, outcome: AttemptOutcome): void {
    // a success wipes nothing: the address's record stays, or a guesser holding one
    // account could wipe its own failures; the authid's stays, or each login of its
    // owner would give every guesser a fresh budget (the owner needs no lifting: an
    // address without failures is never refused for the authid)
    if (outcome !== 'failed') return;
    const now = this.now();
    const aMs = this.addresses.fail(address, now);
    if (aMs > 0) this.onBlock({ budget: 'address', key: address, ms: aMs });
    const uMs = this.authids.fail(authid, now);
    if (uMs > 0) this.onBlock({ budget: 'authid', key: authid, ms: uMs });
  }

  private slot(address: string): Promise<void> | undefined {
    let r = this.running.get(address);
    if (!r) {
      r = { count: 0, waiting: [] };
      this.running.set(address, r);
    }
    if (r.count < this.cfg.concurrentChecksPerAddress) {
      r.count++;
      return undefined;
    }
    const queue = r.waiting;
    // the slot passes straight to the waiter (count unchanged), see release()
    return new Promise((resolve) => queue.push(resolve));
  }

  private release(address: string): void {
    const r = this.running.get(address);
    if (!r) return;
    const next = r.waiting.shift();
    if (next) {
      next();
      return;
    }
    r.count--;
    if (r.count === 0) this.running.delete(address);
  }
}

const UNCOUNTED: Attempt = { done: () => undefined };

/**
 * The address a budget counts: the IPv4 address (also IPv4-mapped IPv6), else the IPv6
 * /64, which one subscriber usually holds whole.
 */
export function addressKey(peer: string): string {
  const host = peer.slice(0, peer.lastIndexOf(':'));
  if (!host.includes(':')) return host;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host);
  if (mapped?.[1] !== undefined) return mapped[1];
  const [head = '', tail] = host.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups =
    tail === undefined ? left : [...left, ...new Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
