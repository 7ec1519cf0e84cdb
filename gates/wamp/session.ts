import { Errors, RouterError, type ErrorDef } from '../../lib/errors';
import type { Invocation } from '../../lib/invocation';
import type { Realm } from '../../lib/realm';
import type { Session } from '../../lib/session';
import type { WampGateContext } from './context';
import type { AuthResult } from '../../lib/auth/outcome';
import type { Timer } from '../../lib/clock';
import { handleAuthenticate } from './handlers/authenticate';
import { handleHello } from './handlers/hello';
import { handleCall, handleCancel } from './handlers/call';
import { handlePublish } from './handlers/publish';
import { handleRegister, handleUnregister } from './handlers/register';
import { handleSubscribe, handleUnsubscribe } from './handlers/subscribe';
import { handleInvocationError, handleYield } from './handlers/yield';
import { Msg, ProtocolViolation } from '../../lib/wamp/messages';
import type { WampConnectionHandler, WampTransport } from './transport';

/** authenticating: CHALLENGE sent; verifying: AUTHENTICATE being checked */
type State = 'hello' | 'authenticating' | 'verifying' | 'established' | 'closing' | 'closed';

/** A CHALLENGE sent, waiting for the client's AUTHENTICATE. */
export interface PendingAuthentication {
  /** opened (created, with autoCreateRealms) only once the client is authenticated */
  realm: string;
  method: string;
  extra: Record<string, unknown>;
  /** the session ID the challenge announced (WAMP-CRA), to be kept in WELCOME */
  id?: number;
  finish(signature: string): AuthResult | Promise<AuthResult>;
}

/** What the client announced it can do (HELLO.Details.roles). */
export interface ClientFeatures {
  calleeCanceling: boolean;
  calleeProgressiveResults: boolean;
  /** WAMP advanced: subscription / registration revocation (./revocation.ts) */
  subscriptionRevocation: boolean;
  registrationRevocation: boolean;
}

/**
 * One WAMP session over one transport: the protocol state machine. It checks message
 * order and shape, hands each message to its handler, and owns the session-scoped
 * request ID maps. Routing itself happens in the core.
 */
export class WampSession implements WampConnectionHandler {
  state: State = 'hello';
  realm: Realm | undefined;
  core: Session | undefined;
  features: ClientFeatures = {
    calleeCanceling: false,
    calleeProgressiveResults: false,
    subscriptionRevocation: false,
    registrationRevocation: false,
  };
  /** caller side: CALL request ID -> call */
  readonly calls = new Map<number, Invocation>();
  /** callee side: INVOCATION request ID -> call, and back */
  readonly invocations = new Map<number, Invocation>();
  readonly invocationIds = new Map<Invocation, number>();
  private nextInvocationId = 0;
  /** HELLO, then AUTHENTICATE, due within wamp.helloTimeoutMs: on the router's clock (a client's deadline) */
  private helloTimer: Timer | undefined;
  private pendingAuth: PendingAuthentication | undefined;
  private goodbyeTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly ctx: WampGateContext,
    readonly transport: WampTransport,
  ) {
    const ms = ctx.config.wamp.helloTimeoutMs;
    if (ms > 0) {
      this.helloTimer = ctx.clock.setTimeout(() => {
        this.abort(Errors.protocolViolation, 'no HELLO in time');
      }, ms);
      this.helloTimer.unref();
    }
  }

  // ----- from the transport -----

  message(msg: unknown): void {
    if (this.state === 'closed') return;
    try {
      if (!Array.isArray(msg) || msg.length === 0 || typeof msg[0] !== 'number') {
        throw new ProtocolViolation('a WAMP message is a list starting with a type code');
      }
      this.dispatch(msg[0], msg);
    } catch (err) {
      if (err instanceof ProtocolViolation) {
        this.abort(Errors.protocolViolation, err.message);
      } else if (err instanceof RouterError) {
        this.abort(err.def, err.message);
      } else {
        // A bug of ours must not take the process down: end this session only.
        this.ctx.log.error({ err, session: this.core?.id }, 'unexpected error handling a WAMP message');
        this.abort(Errors.internal, 'internal error');
      }
    }
  }

  malformed(reason: string): void {
    this.abort(Errors.protocolViolation, reason);
  }

  overLimit(err: RouterError): void {
    // WAMP: ABORT only before WELCOME; an established session is ended with GOODBYE
    if (this.state === 'established') this.goodbye(err, err.message);
    else this.abort(err.def, err.message);
  }

  closed(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.ctx.clock.clearTimeout(this.helloTimer);
    this.pendingAuth = undefined;
    if (this.goodbyeTimer) clearTimeout(this.goodbyeTimer);
    if (this.core && this.realm) this.realm.leave(this.core);
  }

  private dispatch(type: number, msg: unknown[]): void {
    if (this.state === 'hello') {
      if (type !== Msg.HELLO) throw new ProtocolViolation(`expected HELLO, got message type ${type}`);
      this.ctx.clock.clearTimeout(this.helloTimer);
      handleHello(this, msg);
      return;
    }
    if (this.state === 'authenticating' || this.state === 'verifying') {
      if (type === Msg.ABORT) {
        this.transport.close();
        return;
      }
      if (type !== Msg.AUTHENTICATE || this.state === 'verifying') {
        throw new ProtocolViolation(`expected AUTHENTICATE, got message type ${type}`);
      }
      this.ctx.clock.clearTimeout(this.helloTimer);
      handleAuthenticate(this, msg);
      return;
    }
    if (this.state === 'closing') {
      // WAMP: after sending GOODBYE, everything but the GOODBYE reply is ignored.
      if (type === Msg.GOODBYE) this.transport.close();
      return;
    }
    switch (type) {
      case Msg.PUBLISH: {
        handlePublish(this, msg);
        return;
      }
      case Msg.SUBSCRIBE: {
        handleSubscribe(this, msg);
        return;
      }
      case Msg.UNSUBSCRIBE: {
        handleUnsubscribe(this, msg);
        return;
      }
      case Msg.CALL: {
        handleCall(this, msg);
        return;
      }
      case Msg.CANCEL: {
        handleCancel(this, msg);
        return;
      }
      case Msg.REGISTER: {
        handleRegister(this, msg);
        return;
      }
      case Msg.UNREGISTER: {
        handleUnregister(this, msg);
        return;
      }
      case Msg.YIELD: {
        handleYield(this, msg);
        return;
      }
      case Msg.ERROR: {
        handleInvocationError(this, msg);
        return;
      }
      case Msg.GOODBYE:
        this.send([Msg.GOODBYE, {}, 'wamp.close.goodbye_and_out']);
        this.state = 'closing';
        this.leaveRealm();
        this.transport.close();
        return;
      case Msg.ABORT:
        this.leaveRealm();
        this.transport.close();
        return;
      case Msg.HELLO:
        throw new ProtocolViolation('HELLO received on an established session');
      default:
        throw new ProtocolViolation(`message type ${type} is not allowed from a client`);
    }
  }

  // ----- to the transport -----

  send(msg: unknown[]): boolean {
    return this.transport.write(this.transport.serializer.encode(msg));
  }

  sendError(
    requestType: number,
    requestId: number,
    err: RouterError | { uri: string; args?: unknown[]; kwargs?: Record<string, unknown> },
    details: Record<string, unknown> = {},
  ): void {
    const msg: unknown[] = [Msg.ERROR, requestType, requestId, details, err.uri];
    if (err.kwargs) msg.push(err.args ?? [], err.kwargs);
    else if (err.args) msg.push(err.args);
    if (err instanceof RouterError) this.ctx.counters.errors(err.def.code);
    this.send(msg);
  }

  /** ABORT and close: for protocol violations and refused HELLOs. */
  abort(def: ErrorDef, message: string): void {
    if (this.state === 'closed' || this.state === 'closing') return;
    this.ctx.counters.errors(def.code);
    this.ctx.log.info({ session: this.core?.id, peer: this.transport.info.peer, reason: def.wamp, message }, 'session aborted');
    this.send([Msg.ABORT, { message }, def.wamp]);
    this.state = 'closing';
    this.leaveRealm();
    this.transport.close();
  }

  /** Router-initiated close (kill, shutdown): GOODBYE, then close when answered. */
  goodbye(reason: RouterError, message?: string): void {
    if (this.state !== 'established') {
      if (this.state === 'hello' || this.state === 'authenticating' || this.state === 'verifying')
        this.abort(reason.def, message ?? reason.message);
      return;
    }
    this.send([Msg.GOODBYE, message ? { message } : {}, reason.def.wamp]);
    this.state = 'closing';
    this.leaveRealm();
    this.goodbyeTimer = setTimeout(() => {
      this.transport.abort();
    }, 2000);
    this.goodbyeTimer.unref();
  }

  /** Session ends in the core now, even if the socket lingers for the close handshake. */
  private leaveRealm(): void {
    if (this.core && this.realm) this.realm.leave(this.core);
  }

  /** CHALLENGE sent: AUTHENTICATE is due within the HELLO timeout. */
  awaitAuthenticate(pending: PendingAuthentication): void {
    this.pendingAuth = pending;
    this.state = 'authenticating';
    const ms = this.ctx.config.wamp.helloTimeoutMs;
    this.helloTimer = this.ctx.clock.setTimeout(() => {
      this.abort(Errors.authenticationFailed, 'no AUTHENTICATE in time');
    }, ms);
    this.helloTimer.unref();
  }

  /** AUTHENTICATE arrived: the challenge it answers; the session is being verified. */
  takePendingAuthentication(): PendingAuthentication {
    const p = this.pendingAuth;
    if (!p) throw new ProtocolViolation('AUTHENTICATE without a CHALLENGE');
    this.pendingAuth = undefined;
    this.state = 'verifying';
    return p;
  }

  takeInvocationId(): number {
    this.nextInvocationId = this.nextInvocationId >= 2 ** 53 ? 1 : this.nextInvocationId + 1;
    return this.nextInvocationId;
  }

  /** The established session's core objects; only valid after WELCOME. */
  get joined(): { realm: Realm; core: Session } {
    if (!this.realm || !this.core) throw new ProtocolViolation('session not established');
    return { realm: this.realm, core: this.core };
  }
}
