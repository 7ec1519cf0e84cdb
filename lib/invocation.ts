import type { CallFailure } from './errors';
import type { Payload } from './payload';
import type { CalleeEntry, Registration } from './registration';
import type { Session } from './session';
import type { Timer } from './clock';

export interface CallOptions {
  /** WAMP advanced: call timeout, enforced by the dealer; 0 or undefined = none */
  timeoutMs?: number;
  /** the caller accepts progressive results */
  receiveProgress?: boolean;
  /** caller identification requested by the caller */
  discloseMe?: boolean;
  /** progressive call invocations: more input chunks follow this one */
  progress?: boolean;
  /**
   * The outcome goes to a topic, not back to the caller's connection (MQTT `$rpc/` with a
   * response topic): the call is not canceled when the caller's session ends. It still
   * ends at its timeout, or when its callee goes.
   */
  outlivesCaller?: boolean;
}

/** The gate's side of a call: where results and the error go. */
export interface CallerSink {
  result(payload: Payload, progress: boolean): void;
  error(failure: CallFailure): void;
}

export type InvocationState = 'waiting' | 'invoked' | 'done';

/**
 * One call, from CALL to its final RESULT or ERROR. Created by the dealer; the callee
 * side (`entry`) is set once a callee with free capacity takes it.
 */
export class Invocation {
  state: InvocationState = 'waiting';
  entry: CalleeEntry | undefined;
  timer: Timer | undefined;
  /** progressive call invocation chunks that arrived before a callee took the call */
  readonly pendingChunks: { payload: Payload; final: boolean }[] = [];
  /** the payload of the latest chunk sent to the callee (the gate reads it when invoking) */
  payload: Payload;
  /** set once the caller has sent its last progressive chunk */
  inputDone: boolean;
  /** kill mode: the caller waits for the callee's answer to the INTERRUPT */
  cancelRequested = false;

  constructor(
    readonly id: number,
    readonly caller: Session,
    readonly sink: CallerSink,
    /** the procedure the caller named (differs from registration.uri for patterns) */
    readonly procedure: string,
    readonly registration: Registration,
    readonly options: CallOptions,
    payload: Payload,
  ) {
    this.payload = payload;
    this.inputDone = options.progress !== true;
  }

  get callee(): Session | undefined {
    return this.entry?.session;
  }

  /** INVOCATION details (WAMP caller identification, pattern-based registration, progress). */
  details(): Record<string, unknown> {
    const d: Record<string, unknown> = {};
    if (this.registration.match !== 'exact') d['procedure'] = this.procedure;
    if (this.options.receiveProgress) d['receive_progress'] = true;
    if (this.options.timeoutMs) d['timeout'] = this.options.timeoutMs;
    if (this.options.discloseMe || this.entry?.discloseCaller) {
      d['caller'] = this.caller.id;
      d['caller_authid'] = this.caller.identity.authid;
      d['caller_authrole'] = this.caller.identity.authrole;
    }
    return d;
  }
}
