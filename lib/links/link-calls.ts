/**
 * A link's `calls` (README "Links"): procedures registered here by the router whose every
 * call runs at the peer, and the calls the durable requests make at the peer
 * (lib/requests/). While the link is not up a call fails at once (Errors.linkDown,
 * gatehouse.error.unavailable), so the caller can try elsewhere or tell its user.
 */
import { ApplicationError, Errors, RouterError } from '../errors';
import type { LinkConfig } from '../config';
import type { Invocation } from '../invocation';
import type { Logger } from '../log';
import type { Payload } from '../payload';
import type { Realm } from '../realm';
import { Session } from '../session';
import { parsePattern, patternMatches } from '../topic';
import type { LinkConnection } from './link';
import { registrationOf } from './patterns';

export class LinkCalls {
  private session: Session | undefined;

  constructor(
    private readonly config: LinkConfig,
    /** the authid of the calls' session: `link:<name>` */
    private readonly via: string,
    private readonly log: Logger,
    private readonly link: LinkConnection,
  ) {}

  /** Registers the `calls` in `realm`, each call forwarded to the peer. */
  register(realm: Realm): void {
    const session = new Session(
      { gate: 'core', type: 'link', peer: this.config.url },
      { authid: this.via, authrole: 'router', authmethod: 'router', authprovider: 'gatehouse' },
      {
        close: () => {
          realm.leave(session);
        },
      },
    );
    realm.join(session);
    this.session = session;
    const callee = {
      invoke: (inv: Invocation) => {
        this.forward(realm, inv);
      },
      invokeProgress: () => undefined,
    };
    for (const p of this.config.calls) {
      const reg = registrationOf(p);
      if (!reg) continue;
      try {
        const r = realm.register(session, reg.uri, { match: reg.match }, callee);
        if (r instanceof Promise)
          r.catch((err: unknown) => {
            this.log.error({ link: this.config.name, procedure: p, err: String(err) }, 'link cannot register a call');
          });
      } catch (err) {
        this.log.error(
          { link: this.config.name, procedure: p, err: err instanceof Error ? err.message : String(err) },
          'link cannot register a call',
        );
      }
    }
  }

  /** The link stops: its registrations go with their session. */
  unregister(realm: Realm): void {
    if (this.session) realm.leave(this.session);
  }

  /** Whether `procedure` in `realm` is one of the `calls`: served at the peer. */
  serves(realm: string, procedure: string): boolean {
    if (realm !== this.config.realm) return false;
    for (const p of this.config.calls) {
      const reg = registrationOf(p);
      const pattern = reg && parsePattern(reg.uri, reg.match);
      if (pattern && patternMatches(pattern, procedure)) return true;
    }
    return false;
  }

  /** Calls a procedure at the peer; rejects at once while the link is down. */
  callPeer(procedure: string, payload: Payload, timeoutMs: number): Promise<Payload> {
    const t = this.link.transport();
    const state = this.link.state();
    if (state !== 'up' || !t?.call)
      return Promise.reject(new ApplicationError(Errors.linkDown.wamp, [`link ${this.config.name} is ${state}`]));
    return t.call(procedure, payload, timeoutMs);
  }

  private forward(realm: Realm, inv: Invocation): void {
    const t = this.link.transport();
    const state = this.link.state();
    const name = this.config.name;
    const fail = (error: ApplicationError): void => {
      realm.dealer.fail(inv, error);
    };
    if (state !== 'up' || !t?.call) {
      // at once, not after a timeout: the caller can try elsewhere or tell its user
      const down = new ApplicationError(Errors.linkDown.wamp, [`link ${name} is ${state}`]);
      queueMicrotask(() => {
        fail(down);
      });
      return;
    }
    const timeoutMs =
      inv.options.timeoutMs !== undefined && inv.options.timeoutMs > 0 ? inv.options.timeoutMs : this.config.timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new ApplicationError(Errors.timeout.wamp, [`no answer over link ${name} within ${timeoutMs} ms`]));
      }, timeoutMs);
    });
    Promise.race([t.call(inv.procedure, inv.payload, timeoutMs), deadline]).then(
      (payload) => {
        clearTimeout(timer);
        realm.dealer.yield(inv, payload, false);
      },
      (err: unknown) => {
        clearTimeout(timer);
        if (err instanceof ApplicationError) fail(err);
        else if (err instanceof RouterError) fail(new ApplicationError(err.uri, err.args, err.kwargs));
        else
          fail(new ApplicationError(Errors.linkDown.wamp, [`link ${name}: ${err instanceof Error ? err.message : String(err)}`]));
      },
    );
  }
}
