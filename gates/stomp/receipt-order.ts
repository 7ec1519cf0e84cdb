/** Frames waiting for a commit before their answer, above which reading pauses. */
const MAX_WAITING = 1024;
const RESOLVED: Promise<void> = Promise.resolve();

/** What the order needs of its connection. */
export interface ReceiptOrderHooks {
  /** answers are written only while the connection is connected */
  connected(): boolean;
  /** stops / restarts reading (lib/connection-flow.ts input pause, reason 'receipts') */
  pause(reason: string): void;
  resume(reason: string): void;
}

/**
 * The answers of one STOMP connection in frame order: a frame whose effect commits
 * asynchronously (a store write, a queue commit) gets its RECEIPT (or its ERROR) only
 * after that commit and after every earlier frame's answer: STOMP 1.2 §RECEIPT, a receipt
 * "is also a cumulative acknowledgement that all the previous frames have been received by
 * the server". Too many frames waiting pause reading.
 */
export class ReceiptOrder {
  /** the last frame waiting for a commit, and how many wait */
  private tail: Promise<void> | undefined;
  private waiting = 0;

  constructor(private readonly hooks: ReceiptOrderHooks) {}

  /**
   * Runs `done` once `after` has settled and every earlier frame waiting like this one
   * has been answered. Without anything to wait for it runs now. `failed` gets a
   * rejection of `after`. Neither runs once the connection is no longer connected.
   */
  run(after: Promise<unknown> | undefined, done: () => void, failed: (err: unknown) => void): void {
    if (after === undefined && this.tail === undefined) {
      done();
      return;
    }
    const hooks = this.hooks;
    if (++this.waiting >= MAX_WAITING) hooks.pause('receipts');
    const step: Promise<void> = (this.tail ?? RESOLVED)
      .then(() => after)
      .then(
        () => {
          if (hooks.connected()) done();
        },
        (err: unknown) => {
          if (hooks.connected()) failed(err);
        },
      )
      .finally(() => {
        this.waiting--;
        if (this.tail === step) this.tail = undefined;
        if (this.waiting < MAX_WAITING / 2) hooks.resume('receipts');
      });
    this.tail = step;
  }
}
