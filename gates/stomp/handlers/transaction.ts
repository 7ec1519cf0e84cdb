import { Errors, RouterError } from '../../../lib/errors';
import { asRouterError, type StompConnection } from '../connection';
import { frameSize, header, type StompFrame } from '../../../lib/stomp/frame';
import { FRAME_OVERHEAD, type Action, type Transaction } from '../transactions';

export type { Action } from '../transactions';

/**
 * Applies a prepared frame, or keeps it for COMMIT when the frame names a transaction
 * (STOMP 1.2 §BEGIN: "any SEND or ACK frames with the transaction header ... will be
 * processed as part of the named transaction"). A kept frame is acknowledged (RECEIPT)
 * at once; its effect happens at COMMIT, or never (ABORT, DISCONNECT, connection lost).
 * What transactions hold is bounded per transaction (limits.outboundQueueBytes), per
 * connection (stomp.limits.maxTransactionBytes) and per router
 * (stomp.limits.maxTransactionBytesTotal): see ../transactions.ts.
 */
export function applyOrKeep(conn: StompConnection, frame: StompFrame, action: Action): void {
  const name = header(frame, 'transaction');
  if (name === undefined) {
    let committed: Promise<void> | undefined;
    try {
      committed = action();
    } catch (err) {
      conn.fail(asRouterError(err), frame);
      return;
    }
    conn.receipt(frame, committed);
    return;
  }
  const refused = conn.transactions.keep(name, action, frameSize(frame) + FRAME_OVERHEAD);
  if (refused) {
    conn.fail(refused, frame);
    return;
  }
  conn.receipt(frame);
}

/** BEGIN: a new transaction (STOMP 1.2 §BEGIN). */
export function handleBegin(conn: StompConnection, frame: StompFrame): void {
  const name = transactionName(conn, frame);
  if (name === undefined) return;
  const refused = conn.transactions.begin(name);
  if (refused) {
    conn.fail(refused, frame);
    return;
  }
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
      conn.fail(asRouterError(err), frame);
      return;
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
  const tx = conn.transactions.take(name);
  if (!tx) conn.fail(new RouterError(Errors.invalidArgument, `no transaction ${JSON.stringify(name)} has begun`), frame);
  return tx;
}

function transactionName(conn: StompConnection, frame: StompFrame): string | undefined {
  const name = header(frame, 'transaction');
  if (name === undefined || name === '') conn.protocolError(`${frame.command} needs a transaction header`, frame);
  return name || undefined;
}
