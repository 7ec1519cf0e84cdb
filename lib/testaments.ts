import { Errors, RouterError } from './errors';
import type { PublishOptions } from './broker';
import type { Payload } from './payload';
import type { Session } from './session';

export type TestamentScope = 'destroyed' | 'detached';

export interface Testament {
  topic: string;
  payload: Payload;
  options: PublishOptions;
  scope: TestamentScope;
}

/**
 * WAMP advanced: testament meta API. Events a session asks the router to publish when
 * it goes away. Gatehouse has no session resumption, so a session that is lost is both
 * detached and destroyed: both scopes fire, detached first.
 */
export class Testaments {
  private readonly bySession = new Map<Session, Testament[]>();

  /** `max`: testaments one session may hold (limits.maxTestamentsPerSession) */
  constructor(private readonly max: number) {}

  /** Throws limit_exceeded past `max`: each one is kept until the session leaves. */
  add(session: Session, t: Testament): void {
    const list = this.bySession.get(session);
    if (list && list.length >= this.max) {
      throw new RouterError(Errors.limitExceeded, `at most ${this.max} testaments per session (limits.maxTestamentsPerSession)`);
    }
    if (list) list.push(t);
    else this.bySession.set(session, [t]);
  }

  flush(session: Session, scope: TestamentScope): number {
    const list = this.bySession.get(session);
    if (!list) return 0;
    const keep = list.filter((t) => t.scope !== scope);
    const removed = list.length - keep.length;
    if (keep.length === 0) this.bySession.delete(session);
    else this.bySession.set(session, keep);
    return removed;
  }

  /** Takes a leaving session's testaments, in the order they fire. */
  take(session: Session): Testament[] {
    const list = this.bySession.get(session);
    if (!list) return [];
    this.bySession.delete(session);
    return [...list.filter((t) => t.scope === 'detached'), ...list.filter((t) => t.scope === 'destroyed')];
  }
}
