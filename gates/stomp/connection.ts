import type { Duplex } from 'node:stream';
import type { EventSink } from '../../lib/broker';
import { Errors, RouterError } from '../../lib/errors';
import { ConnectionFlow } from '../../lib/connection-flow';
import type { Realm } from '../../lib/realm';
import type { Session, TransportInfo } from '../../lib/session';
import type { QueueAddress } from '../../lib/work-queues';
import type { StompGateContext } from './context';
import { frameSize, header, type StompFrame, type StompVersion } from '../../lib/stomp/frame';
import { StompFrameParser, type StompParseError } from '../../lib/stomp/frame-parser';
import { encodeFrame, encodeFrameParts, HEARTBEAT_EOL } from '../../lib/stomp/frame-writer';
import { deliverEvent, SubscriptionTable } from './subscriptions';
import { dispatchFrame } from './frame-dispatch';
import { ReceiptOrder } from './receipt-order';
import { TemporaryQueues } from './temporary-queues';
import { Heartbeat } from './heartbeat';
import type { Timer } from '../../lib/clock';
import { TransactionTable } from './transactions';

type State = 'connect' | 'connected' | 'closing' | 'closed';

/** Bodies above this leave in three writes (head, body, NUL) instead of one copy, on TCP. */
const ZERO_COPY_BODY = 64 * 1024;

/**
 * One STOMP network connection: the codec, the connection states, heart-beating, the
 * frame rate limit, and the send side with its backpressure. Which handler a frame goes
 * to is frame-dispatch.ts, what it means is in handlers/; receipts keep frame order in
 * receipt-order.ts; the queue state is the core's (lib/work-queues.ts).
 *
 * Every ERROR closes the connection (STOMP 1.2 §ERROR: the server "MUST then close the
 * connection just after sending the ERROR frame").
 */
/** frames a client may pipeline behind CONNECT before it is cut off */
const BACKLOG_MAX = 64;

export class StompConnection {
  state: State = 'connect';
  /** the negotiated version; frames before CONNECTED are written as 1.0 (no escaping) */
  version: StompVersion = '1.0';
  session: Session | undefined;
  realm: Realm | undefined;
  /** owner of durable subscriptions: the authid with the CONNECT `client-id` (handlers/connect.ts durableOwner) */
  owner = '';
  readonly subscriptions = new SubscriptionTable();
  /** open transactions and the memory they hold (./transactions.ts) */
  readonly transactions: TransactionTable;
  private readonly temporaries = new TemporaryQueues(this);
  private readonly parser: StompFrameParser;
  /** input pause (outbox, rate limits, authentication, receipts waiting), rate limits, outbox */
  private readonly flowControl: ConnectionFlow<StompFrame>;
  private connectTimer: Timer | undefined;
  /** both directions of heart-beating on one timer, once CONNECTED negotiated any */
  private heartbeat: Heartbeat | undefined;
  /** frames parsed while CONNECT was being authenticated; handled after CONNECTED */
  private backlog: StompFrame[] | undefined;
  /** RECEIPTs (and ERRORs about commits) in frame order */
  private readonly answers: ReceiptOrder;
  private topicMessages = 0;

  constructor(
    readonly ctx: StompGateContext,
    private readonly stream: Duplex,
    readonly info: TransportInfo,
    /** a byte stream (TCP, TLS), not message framed (WebSocket) */
    private readonly byteStream: boolean,
  ) {
    this.parser = new StompFrameParser(ctx.parserLimits, {
      onFrame: (f) => {
        this.onFrame(f);
      },
      onHeartbeat: () => undefined, // any input counts as alive: see onData
      onError: (err) => {
        this.malformed(err);
      },
    });
    const limits = ctx.config.limits;
    this.transactions = new TransactionTable(
      ctx.transactionBudget,
      { perTransaction: limits.outboundQueueBytes, perConnection: ctx.config.stomp.limits.maxTransactionBytes },
      (limit) => {
        ctx.limitHit(limit, {
          peer: info.peer,
          session: this.session?.id,
          connectionBytes: this.transactions.bytes,
          routerBytes: ctx.transactionBudget.held,
        });
      },
    );
    // limits.messagesPerSecond / bytesPerSecond: throttle, then ERROR; and the older,
    // stricter stomp.limits.framesPerSecond: ERROR at once
    this.flowControl = new ConnectionFlow<StompFrame>(
      ctx,
      info.peer,
      stream,
      {
        queuedBytes: () => stream.writableLength,
        cork: () => {
          stream.cork();
        },
        uncork: () => {
          stream.uncork();
        },
        kill: () => {
          ctx.log.warn({ peer: info.peer, session: this.session?.id }, 'slow consumer disconnected');
          this.destroy();
        },
        rateExceeded: () => {
          this.fail(new RouterError(Errors.rateLimited, 'inbound frame rate over the limit'));
        },
        capExceeded: (limit, frame) => {
          this.fail(new RouterError(Errors.limitExceeded, `more than ${limit} frames per second`), frame);
        },
        outboxResumed: () => {
          if (this.session && this.state !== 'closed') ctx.work.queues.resume(this.session);
        },
      },
      { cap: () => ctx.config.stomp.limits.framesPerSecond },
    );
    this.answers = new ReceiptOrder({
      connected: () => this.state === 'connected',
      pause: (reason) => {
        this.pause(reason);
      },
      resume: (reason) => {
        this.resume(reason);
      },
    });
    stream.on('data', (chunk: Buffer) => {
      this.onData(chunk);
    });
    stream.on('close', () => {
      this.onClose();
    });
    stream.on('error', () => undefined); // 'close' follows
    this.connectTimer = ctx.clock.setTimeout(() => {
      this.destroy();
    }, ctx.config.stomp.connectTimeoutMs);
    this.connectTimer.unref();
  }

  get realmName(): string {
    return this.realm?.name ?? this.ctx.config.stomp.realm;
  }

  // ----- reading -----

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    this.ctx.counters.in(chunk.length);
    this.heartbeat?.heard();
    try {
      this.parser.push(chunk);
    } catch (err) {
      // a bug of ours must not take the process down: end this connection only
      this.ctx.log.error({ err, session: this.session?.id }, 'unexpected error handling a STOMP frame');
      this.fail(new RouterError(Errors.internal, 'internal error'));
    }
  }

  private onFrame(frame: StompFrame): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    if (this.backlog) {
      // reading is paused; these came in the same chunk as CONNECT
      if (this.backlog.length >= BACKLOG_MAX) {
        this.fail(new RouterError(Errors.limitExceeded, 'too many frames before CONNECTED'), frame);
        return;
      }
      this.backlog.push(frame);
      return;
    }
    this.handleFrame(frame);
  }

  /** CONNECT is being authenticated (password hash, dynamic authenticator): stop reading. */
  holdFrames(): void {
    this.backlog ??= [];
    this.pause('authentication');
  }

  /** The verdict is in: handle what was held (nothing if the connection was refused). */
  releaseFrames(): void {
    const held = this.backlog ?? [];
    this.backlog = undefined;
    for (const f of held) {
      if (this.state !== 'connected') break;
      this.handleFrame(f);
    }
    this.resume('authentication');
  }

  private handleFrame(frame: StompFrame): void {
    if (!this.countFrame(frame)) return;
    dispatchFrame(this, frame);
  }

  /** CONNECT arrived in time: the connect timeout (stomp.connectTimeoutMs) stops. */
  connectArrived(): void {
    this.ctx.clock.clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
  }

  /**
   * The per-connection rate limits (lib/connection-flow.ts): a client past
   * stomp.limits.framesPerSecond gets ERROR and the connection closes, like every other
   * limit. Returns false then.
   */
  private countFrame(frame: StompFrame): boolean {
    return this.flowControl.admit(frameSize(frame), frame);
  }

  private pause(reason: string): void {
    this.flowControl.pause(reason);
  }

  private resume(reason: string): void {
    if (this.state === 'closed') return;
    this.flowControl.resume(reason);
  }

  // ----- set up by CONNECT -----

  /** The version settles: the parser reads the rest of the stream by its rules. */
  setVersion(v: StompVersion): void {
    this.version = v;
    this.parser.version = v;
  }

  /** Heart-beating as negotiated (STOMP 1.2 §Heart-beating); 0 = none that way. */
  startHeartbeats(outMs: number, inMs: number): void {
    this.heartbeat?.stop();
    this.heartbeat = Heartbeat.start(
      outMs,
      inMs,
      {
        beat: () => {
          if (this.state === 'connected') this.write(HEARTBEAT_EOL);
        },
        dead: () => {
          this.ctx.log.info({ session: this.session?.id, peer: this.info.peer, intervalMs: inMs }, 'STOMP heart-beat timeout');
          this.ctx.counters.errors('heartbeat_timeout');
          this.destroy();
        },
      },
      this.ctx.clock,
    );
  }

  // ----- sending -----

  /**
   * Encodes and writes a frame; the result is the outbox's "may write more". Headers the
   * negotiated version cannot carry (in 1.0, a value holding a line feed) are left out.
   */
  sendFrame(command: string, headers: [string, string][], body: Buffer = EMPTY): boolean {
    if (this.state === 'closed') return false;
    const safe = headers.filter(this.version === '1.0' ? rawSafe : hasName);
    const frame = { command, headers: safe, body };
    try {
      if (this.byteStream && body.length > ZERO_COPY_BODY) {
        for (const part of encodeFrameParts(frame, this.version)) this.write(part);
      } else {
        this.write(encodeFrame(frame, this.version));
      }
    } catch (err) {
      this.ctx.log.error({ err, command }, 'cannot encode STOMP frame');
      return true;
    }
    return this.flowControl.wrote();
  }

  private write(buf: Buffer): void {
    this.flowControl.coalesce();
    this.stream.write(buf);
    this.ctx.counters.out(buf.length);
    // STOMP 1.2 §Heart-beating: any data counts as a heart-beat
    this.heartbeat?.sent();
  }

  /** Whether queue consumers may be handed messages now. */
  writable(): boolean {
    return this.state === 'connected' && !this.flowControl.throttled;
  }

  nextTopicMessageId(): string {
    return `t-${++this.topicMessages}`;
  }

  /** The sink of every topic subscription of this connection (see SubscriptionTable). */
  readonly topicSink: EventSink = (event, sub) => {
    if (this.state !== 'connected') return;
    for (const s of this.subscriptions.onCore(sub.id)) deliverEvent(this, s, event);
  };

  /**
   * Runs `done` once `after` has settled and every earlier frame waiting like this one
   * has been answered, so RECEIPTs (and ERRORs about commits) keep frame order. Without
   * anything to wait for it runs now. `failed` gets a rejection of `after`.
   */
  inOrder(
    after: Promise<unknown> | undefined,
    done: () => void,
    failed: (err: unknown) => void = (err) => {
      this.fail(asRouterError(err));
    },
  ): void {
    this.answers.run(after, done, failed);
  }

  /** RECEIPT for a frame that asked for one (STOMP 1.2 §Header receipt), after `after`. */
  receipt(frame: StompFrame, after?: Promise<unknown>): void {
    const id = header(frame, 'receipt');
    if (id === undefined) {
      // no RECEIPT, but a later one must still not overtake this frame's commit
      if (after !== undefined) this.inOrder(after, () => undefined);
      return;
    }
    this.inOrder(
      after,
      () => this.sendFrame('RECEIPT', [['receipt-id', id]]),
      (err) => {
        this.fail(asRouterError(err), frame);
      },
    );
  }

  // ----- temporary queues -----

  /**
   * This connection's temporary queue `name`. With `implicit`, messages reaching it
   * before any SUBSCRIBE to it are delivered anyway, RabbitMQ style: MESSAGE with
   * `subscription` = its /temp-queue/ destination, ack auto.
   */
  temporaryQueue(name: string, implicit: boolean): QueueAddress {
    return this.temporaries.queue(name, implicit);
  }

  /** An explicit SUBSCRIBE to a temporary queue replaces its implicit delivery. */
  dropImplicitTemp(name: string): void {
    this.temporaries.dropImplicit(name);
  }

  /** STOMP 1.2 §DISCONNECT: the client sends nothing after it; what does arrive is ignored. */
  stopReading(): void {
    this.parser.stop();
  }

  // ----- errors and ending -----

  /**
   * ERROR (message = the catalogue's STOMP text, receipt-id when the failing frame asked
   * for a receipt, the explanation in the body), then close.
   */
  fail(err: RouterError, frame?: StompFrame, extra: [string, string][] = []): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.ctx.counters.errors(err.def.code);
    this.ctx.log.info(
      { session: this.session?.id, peer: this.info.peer, code: err.def.code, reason: err.message },
      'STOMP connection closed on error',
    );
    const headers: [string, string][] = [['message', err.def.stomp]];
    const receipt = frame && header(frame, 'receipt');
    if (receipt !== undefined) headers.push(['receipt-id', receipt]);
    headers.push(...extra, ['content-type', 'text/plain;charset=utf-8']);
    this.sendFrame('ERROR', headers, Buffer.from(err.message + '\n', 'utf8'));
    this.end();
  }

  protocolError(message: string, frame?: StompFrame): void {
    this.fail(new RouterError(Errors.protocolViolation, message), frame);
  }

  private malformed(err: StompParseError): void {
    const tooBig = err.code === 'body_too_large' || err.code === 'frame_too_large';
    const def = tooBig
      ? Errors.payloadSizeExceeded
      : err.code === 'header_count' || err.code === 'header_line_too_long'
        ? Errors.limitExceeded
        : Errors.protocolViolation;
    this.fail(new RouterError(def, `malformed frame (${err.code}): ${err.message}`));
  }

  /** Flushes what was written, then closes. No frame is read or written after this. */
  end(): void {
    if (this.state === 'closed') return;
    this.state = 'closing';
    this.parser.stop();
    this.stream.end();
    setTimeout(() => this.stream.destroy(), 1000).unref();
    this.onClose();
  }

  destroy(): void {
    this.stream.destroy();
    this.onClose();
  }

  private onClose(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.parser.stop();
    this.ctx.clock.clearTimeout(this.connectTimer);
    this.heartbeat?.stop();
    this.flowControl.dispose();
    // STOMP 1.2 §BEGIN: transactions not committed are aborted
    this.transactions.clear();
    const session = this.session;
    if (!session) return;
    this.session = undefined;
    this.temporaries.clear();
    this.subscriptions.clear();
    // unacknowledged queue messages go back to their queues; temporary queues go
    this.ctx.work.queues.removeSession(session);
    this.realm?.leave(session);
  }
}

const EMPTY = Buffer.alloc(0);

function hasName(h: [string, string]): boolean {
  return h[0] !== '';
}

/** STOMP 1.0 writes headers raw: no line feed anywhere, no colon in a name. */
function rawSafe(h: [string, string]): boolean {
  return h[0] !== '' && !h[0].includes(':') && !h[0].includes('\n') && !h[1].includes('\n');
}

export function asRouterError(err: unknown): RouterError {
  if (err instanceof RouterError) return err;
  return new RouterError(Errors.internal, err instanceof Error ? err.message : String(err));
}
