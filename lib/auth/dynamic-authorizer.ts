import type { Action } from './permissions';
import type { Session } from '../session';
import type { TopicPattern } from '../topic';
import type { DynamicAuthorizerConfig } from '../config-types';

/** Config `auth.authorizer`: a WAMP procedure that decides what static roles leave open (generated from the schema). */
export type { DynamicAuthorizerConfig };

/** Calls a procedure for the router; resolves with the first result argument. */
export type Invoke = (realm: string, procedure: string, args: unknown[], timeoutMs: number) => Promise<unknown>;

interface Cached {
  allow: boolean;
  expires: number;
}

/**
 * The dynamic authorizer: calls `procedure(session, uri, action, {match})` in `realm`. The
 * answer is `true` / `false`, or `{ allow: boolean, cache?: boolean }` (cache: false: not
 * reused). Anything else, an error, or no answer within timeoutMs denies. Decisions are
 * cached per (realm, authrole or session, action, pattern) for cacheMs, at most cacheSize
 * of them; concurrent questions with the same key share one call.
 */
export class DynamicAuthorizer {
  private readonly cache = new Map<string, Cached>();
  private readonly inflight = new Map<string, Promise<boolean>>();

  constructor(
    readonly config: DynamicAuthorizerConfig,
    private readonly invoke: Invoke,
    private readonly onError: (err: unknown, action: Action, uri: string) => void,
    /** the router's clock (RouterOptions.clock): cacheMs is measured on it */
    private readonly now: () => number = Date.now,
  ) {}

  private key(realm: string, session: Session, action: Action, pattern: TopicPattern): string {
    const who = this.config.cacheBy === 'session' ? `s${session.id}` : `r${session.identity.authrole}`;
    return `${realm}\u0000${who}\u0000${action}\u0000${pattern.key}`;
  }

  /** A decision still cached, or undefined. */
  cached(realm: string, session: Session, action: Action, pattern: TopicPattern): boolean | undefined {
    if (this.config.cacheMs <= 0) return undefined;
    const k = this.key(realm, session, action, pattern);
    const hit = this.cache.get(k);
    if (!hit) return undefined;
    if (hit.expires <= this.now()) {
      this.cache.delete(k);
      return undefined;
    }
    return hit.allow;
  }

  ask(realm: string, session: Session, action: Action, pattern: TopicPattern): Promise<boolean> {
    const k = this.key(realm, session, action, pattern);
    let p = this.inflight.get(k);
    if (p) return p;
    const details = { ...session.details(), realm };
    const args = [details, pattern.uri, action, { match: pattern.match }];
    p = this.invoke(this.config.realm, this.config.procedure, args, this.config.timeoutMs).then(
      (answer) => {
        const { allow, cache } = verdictOf(answer);
        if (cache) this.remember(k, allow);
        return allow;
      },
      (err: unknown) => {
        this.onError(err, action, pattern.uri);
        return false;
      },
    );
    const settled = p.finally(() => this.inflight.delete(k));
    this.inflight.set(k, settled);
    return settled;
  }

  private remember(k: string, allow: boolean): void {
    if (this.config.cacheMs <= 0 || this.config.cacheSize <= 0) return;
    this.cache.delete(k);
    while (this.cache.size >= this.config.cacheSize) {
      const oldest = this.cache.keys().next();
      if (oldest.done === true) break;
      this.cache.delete(oldest.value);
    }
    this.cache.set(k, { allow, expires: this.now() + this.config.cacheMs });
  }

  get cacheEntries(): number {
    return this.cache.size;
  }
}

function verdictOf(answer: unknown): { allow: boolean; cache: boolean } {
  if (answer === true || answer === false) return { allow: answer, cache: true };
  if (typeof answer === 'object' && answer !== null && !Array.isArray(answer)) {
    const o = answer as Record<string, unknown>;
    return { allow: o['allow'] === true, cache: o['cache'] !== false };
  }
  return { allow: false, cache: false };
}
