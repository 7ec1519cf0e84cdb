import type { QueueStore } from '../store/queue-types';

/** One destination's outcome: the callee's result, or an error (its own, or the router's). */
export type Reply =
  | { destination: string; args: unknown[]; kwargs: Record<string, unknown> }
  | { destination: string; error: string; args: unknown[]; kwargs: Record<string, unknown> };

/** A durable request as stored: everything needed to deliver it after a restart. */
export interface RequestRecord {
  readonly id: string;
  readonly realm: string;
  readonly procedure: string;
  readonly args?: unknown[];
  readonly kwargs?: Record<string, unknown>;
  /** the authids to deliver to ("all" was resolved at submit time) */
  readonly destinations: readonly string[];
  /** the submitter's authid: only it may read the outcomes */
  readonly owner: string;
  readonly createdAt: number;
  /** epoch ms: destinations without an outcome then get gatehouse.error.expired */
  readonly expiresAt: number;
  /** how often a destination may be tried again when its callee disappears mid-call */
  readonly retries: number;
  /** per destination: attempts lost to a callee that went away */
  readonly lost: Readonly<Record<string, number>>;
  /** epoch ms when the last outcome came in (the request is done) */
  readonly doneAt?: number;
  /** one per destination that has its outcome, in the order they came */
  readonly replies: readonly Reply[];
  /**
   * Served at the peer of a link (its `calls` cover the procedure): the request is
   * submitted there and its outcomes copied here; `id` is the peer's request id, once it
   * has one.
   */
  readonly remote?: { readonly link: string; readonly id?: string };
}

const KIND = 'durable-request';

/**
 * Requests kept as small durable records of the queue store (QueueStore.putRecord): held
 * in memory, written in the shared group commit, so a request and its outcomes survive a
 * restart with no table of their own. Every change rewrites the record as a whole.
 */
export class RequestStore {
  constructor(private readonly queues: QueueStore) {}

  put(r: RequestRecord): Promise<void> {
    return this.queues.putRecord(KIND, r.id, r);
  }

  get(id: string): RequestRecord | undefined {
    return this.queues.getRecord(KIND, id) as RequestRecord | undefined;
  }

  delete(id: string): void {
    void this.queues.deleteRecord(KIND, id)?.catch(() => undefined);
  }

  *all(): IterableIterator<RequestRecord> {
    for (const [, value] of this.queues.records(KIND)) yield value as RequestRecord;
  }
}
