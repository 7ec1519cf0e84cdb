import { Errors, RouterError } from '../../../lib/errors';
import { asRouterError, type StompConnection } from '../connection';
import { header, type StompFrame } from '../frame';

/**
 * A frame's effect, prepared (validated) when the frame arrives and applied now or at
 * COMMIT. Returns what its RECEIPT waits for (a queue store commit), if anything.
 */
export type Action = () => Promise<void> | undefined;

/** An open transaction: the SENDs, ACKs and NACKs given its name, in frame order. */
export interface Transaction {
  readonly actions: Action[];
  /** body bytes held */
  bytes: number;
}

/** Transactions one connection may have open at once. */
const MAX_OPEN = 64;
/** Frames one transaction may hold. */
const MAX_ACTIONS = 10_000;

/**
 * Applies a prepared frame, or keeps it for COMMIT when the frame names a transaction
 * (STOMP 1.2 §BEGIN: "any SEND or ACK frames with the transaction header ... will be
 * processed as part of the named transaction"). A kept frame is acknowledged (RECEIPT)
 * at once; its effect happens at COMMIT, or never (ABORT, DISCONNECT, connection lost).
 * A transaction holds at most limits.outboundQueueBytes of bodies.
 */
export function applyOrKeep(conn: StompConnection, frame: StompFrame, action: Action, bytes = 0): void {
  const name = header(frame, 'transaction');
  if (name === undefined) {
    let committed: Promise<void> | undefined;
    try {
      committed = action();
    } catch (err) {
      return conn.fail(asRouterError(err), frame);
    }
    conn.receipt(frame, committed);
    return;
  }
  const tx = conn.transactions.get(name);
  if (!tx) return conn.fail(new RouterError(Errors.invalidArgument, `no transaction ${JSON.stringify(name)} has begun`), frame);
  if (tx.actions.length >= MAX_ACTIONS || tx.bytes + bytes > conn.ctx.config.limits.outboundQueueBytes) {
    return conn.fail(new RouterError(Errors.limitExceeded, `transaction ${JSON.stringify(name)} holds too much`), frame);
  }
  tx.actions.push(action);
  tx.bytes += bytes;
  conn.receipt(frame);
}

/** BEGIN: a new transaction (STOMP 1.2 §BEGIN). */
export function handleBegin(conn: StompConnection, frame: StompFrame): void {
  const name = transactionName(conn, frame);
  if (name === undefined) return;
  if (conn.transactions.has(name))
    return conn.fail(new RouterError(Errors.invalidArgument, `transaction ${JSON.stringify(name)} has already begun`), frame);
  if (conn.transactions.size >= MAX_OPEN)
    return conn.fail(new RouterError(Errors.limitExceeded, `at most ${MAX_OPEN} open transactions`), frame);
  conn.transactions.set(name, { actions: [], bytes: 0 });
  conn.receipt(frame);
}

/**
 * COMMIT: the kept frames take effect, in order; the RECEIPT waits for their commits.
 * Applying stops at the first one refused (a full queue, say): what came before it
 * stands, the ERROR says which failed, and the connection closes.
 */
export function handleCommit(conn: StompConnection, frame: StompFrame): void {
  const tx = take(conn, frame);
  if (!tx) return;
  const commits: Promise<void>[] = [];
  for (const action of tx.actions) {
    try {
      const c = action();
      if (c) commits.push(c);
    } catch (err) {
      return conn.fail(asRouterError(err), frame);
    }
    if (conn.state !== 'connected') return;
  }
  conn.receipt(frame, commits.length > 0 ? Promise.all(commits) : undefined);
}

/** ABORT: the kept frames are dropped. */
export function handleAbort(conn: StompConnection, frame: StompFrame): void {
  if (take(conn, frame)) conn.receipt(frame);
}

function take(conn: StompConnection, frame: StompFrame): Transaction | undefined {
  const name = transactionName(conn, frame);
  if (name === undefined) return undefined;
  const tx = conn.transactions.get(name);
  if (!tx) {
    conn.fail(new RouterError(Errors.invalidArgument, `no transaction ${JSON.stringify(name)} has begun`), frame);
    return undefined;
  }
  conn.transactions.delete(name);
  return tx;
}

function transactionName(conn: StompConnection, frame: StompFrame): string | undefined {
  const name = header(frame, 'transaction');
  if (name === undefined || name === '') conn.protocolError(`${frame.command} needs a transaction header`, frame);
  return name || undefined;
}
