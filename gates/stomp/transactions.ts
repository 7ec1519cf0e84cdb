import { Errors, RouterError } from '../../lib/errors';

/**
 * A frame's effect, prepared (validated) when the frame arrives and applied now or at
 * COMMIT. Returns what its RECEIPT waits for (a queue store commit), if anything.
 */
export type Action = () => Promise<void> | undefined;

/** An open transaction: the SENDs, ACKs and NACKs given its name, in frame order. */
export interface Transaction {
  readonly actions: Action[];
  /** bytes held: frameSize of each kept frame plus FRAME_OVERHEAD */
  bytes: number;
}

/** Transactions one connection may have open at once. */
const MAX_OPEN = 64;
/** Frames one transaction may hold. */
const MAX_ACTIONS = 10_000;
/**
 * What a kept frame costs beyond its octets: the frame object, its header pairs, the
 * prepared action and what it closes over. Without it a transaction of bodiless ACKs
 * would look free.
 */
export const FRAME_OVERHEAD = 256;

/**
 * The bytes the open transactions of all STOMP connections of one router hold
 * together (stomp.limits.maxTransactionBytesTotal), one per gate context. Every
 * connection takes from it what it keeps and gives it back at COMMIT, ABORT or close.
 */
export class TransactionBudget {
  private used = 0;

  constructor(readonly max: number) {}

  get held(): number {
    return this.used;
  }

  take(bytes: number): boolean {
    if (this.used + bytes > this.max) return false;
    this.used += bytes;
    return true;
  }

  give(bytes: number): void {
    this.used -= bytes;
  }
}

export interface TransactionLimits {
  /** bytes of one transaction (limits.outboundQueueBytes) */
  readonly perTransaction: number;
  /** bytes of all transactions of one connection (stomp.limits.maxTransactionBytes) */
  readonly perConnection: number;
}

/**
 * One connection's open transactions (STOMP 1.2 §BEGIN) and the memory they hold,
 * bounded three ways: per transaction, per connection, and per router (the shared
 * budget). A refusal drops the transaction concerned, releasing what it held, and names
 * the limit to `refused` (counted in gatehouse_limit_hits_total).
 */
export class TransactionTable {
  private readonly open = new Map<string, Transaction>();
  private held = 0;

  constructor(
    private readonly budget: TransactionBudget,
    private readonly limits: TransactionLimits,
    private readonly refused: (limit: string) => void,
  ) {}

  get size(): number {
    return this.open.size;
  }

  /** Bytes held by this connection's open transactions. */
  get bytes(): number {
    return this.held;
  }

  has(name: string): boolean {
    return this.open.has(name);
  }

  /** BEGIN `name`: an error when it is open already or too many are. */
  begin(name: string): RouterError | undefined {
    if (this.open.has(name))
      return new RouterError(Errors.invalidArgument, `transaction ${JSON.stringify(name)} has already begun`);
    if (this.open.size >= MAX_OPEN) {
      this.refused('transactions_open');
      return new RouterError(Errors.limitExceeded, `at most ${MAX_OPEN} open transactions`);
    }
    this.open.set(name, { actions: [], bytes: 0 });
    return undefined;
  }

  /** Keeps `action` (of a frame costing `bytes`) for COMMIT of `name`. */
  keep(name: string, action: Action, bytes: number): RouterError | undefined {
    const tx = this.open.get(name);
    if (!tx) return new RouterError(Errors.invalidArgument, `no transaction ${JSON.stringify(name)} has begun`);
    const quoted = JSON.stringify(name);
    let err: RouterError | undefined;
    if (tx.actions.length >= MAX_ACTIONS || tx.bytes + bytes > this.limits.perTransaction) {
      this.refused('transaction');
      err = new RouterError(Errors.limitExceeded, `transaction ${quoted} holds too much`);
    } else if (this.held + bytes > this.limits.perConnection) {
      this.refused('transaction_bytes');
      err = new RouterError(
        Errors.limitExceeded,
        `transaction ${quoted} refused: this connection's open transactions would hold more than ${this.limits.perConnection} bytes (stomp.limits.maxTransactionBytes)`,
      );
    } else if (!this.budget.take(bytes)) {
      this.refused('transaction_bytes_total');
      err = new RouterError(
        Errors.limitExceeded,
        `transaction ${quoted} refused: the open transactions of all STOMP connections would hold more than ${this.budget.max} bytes (stomp.limits.maxTransactionBytesTotal)`,
      );
    }
    if (err) {
      this.take(name);
      return err;
    }
    tx.actions.push(action);
    tx.bytes += bytes;
    this.held += bytes;
    return undefined;
  }

  /** COMMIT or ABORT: the transaction leaves the table, its bytes are released. */
  take(name: string): Transaction | undefined {
    const tx = this.open.get(name);
    if (!tx) return undefined;
    this.open.delete(name);
    this.release(tx.bytes);
    return tx;
  }

  /** The connection ended: every open transaction is aborted (STOMP 1.2 §BEGIN). */
  clear(): void {
    this.open.clear();
    this.release(this.held);
  }

  private release(bytes: number): void {
    this.held -= bytes;
    this.budget.give(bytes);
  }
}
