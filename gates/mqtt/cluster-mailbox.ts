import type { Mailboxes, Owner } from '../../lib/mailbox';
import type { SessionMessage, SessionStream, StoredSessionMessage } from '../../lib/cluster/mqtt-sessions';
import type { Mailbox, Pending } from './mailbox';
import type { Outbound } from './mqtt-session';

/** A message of the queue: the Pending the session holds, with its place on the stream. */
interface Entry extends Pending {
  /** the stream sequence, 0 until JetStream acknowledged the write */
  seq: number;
  readonly publication: string;
  dup: boolean;
  packetId?: number;
  released?: boolean;
  /** acknowledged or dropped: its stored copy may go */
  done?: boolean;
}

/** A message in flight when the session was handed over (its record's `inflight`). */
export interface InflightRecord {
  readonly publication: string;
  readonly packetId: number;
  readonly released: boolean;
}

/**
 * The queue of a persistent session in a cluster (lib/cluster/mqtt-sessions.ts): a
 * memory mirror on the node holding the session (the session's Mailbox is synchronous)
 * written through to the cluster's JetStream stream, so the node that takes the session
 * over, or the one that claims it after this node died, finds every message JetStream
 * acknowledged. Acknowledged messages are purged below the lowest one still waiting, one
 * purge at a time. The bound is the mqtt mailbox policy's (the oldest dropped, counted);
 * the stream keeps the same per-subject bound.
 *
 * While the session is being taken over the mailbox is `loading`: what the new holder's
 * subscriptions deliver meanwhile waits in a buffer, and after the stream's messages
 * are loaded it is appended, without what the stream already had (by publication id):
 * no gap between the old holder stopping and this node subscribing, no duplicate.
 */
export class ClusterMailbox implements Mailbox {
  private readonly queue: Entry[] = [];
  private readonly out = new Set<Entry>();
  private bytes = 0;
  /** the highest stream sequence acknowledged to this mailbox */
  private highest = 0;
  private loading: Outbound[] | undefined;
  /** stream writes not yet acknowledged (the handover waits for them) */
  private readonly writes = new Set<Promise<unknown>>();
  private trimming = false;
  private trimAgain = false;
  /** handed over: the stream is the new holder's, nothing more is written to it */
  private stopped = false;

  constructor(
    private readonly stream: SessionStream,
    private readonly mailboxes: Mailboxes,
    private readonly owner: Owner,
    /** the cluster-unique id of a publication this node routed */
    private readonly publicationOf: (msg: Outbound) => string,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Takeover begins: deliveries wait until load(). */
  startLoading(): void {
    this.loading ??= [];
  }

  /**
   * The stream's messages (in order), then what was buffered meanwhile. Messages in
   * flight at the handover come back in flight: with their packet identifiers when the
   * old holder handed them over, else (`dup` only: after a crash) resent with DUP.
   */
  load(stored: readonly StoredSessionMessage[], inflight: readonly InflightRecord[], crashed: boolean): void {
    const flying = new Map(inflight.map((f) => [f.publication, f]));
    const seen = new Set<string>();
    for (const s of stored) {
      seen.add(s.msg.publication);
      if (s.seq > this.highest) this.highest = s.seq;
      const e: Entry = { msg: outboundOf(s.msg), seq: s.seq, publication: s.msg.publication, dup: false };
      const f = flying.get(s.msg.publication);
      if (f && !crashed) {
        e.packetId = f.packetId;
        e.released = f.released;
        e.dup = true;
        this.out.add(e);
        continue;
      }
      if (f) e.dup = true;
      this.queue.push(e);
      this.bytes += e.msg.size;
    }
    const buffered = this.loading ?? [];
    this.loading = undefined;
    for (const msg of buffered) if (!seen.has(this.publicationOf(msg))) this.push(msg);
  }

  push(msg: Outbound): void {
    if (this.loading) {
      this.loading.push(msg);
      return;
    }
    const e: Entry = { msg, seq: 0, publication: this.publicationOf(msg), dup: false };
    this.queue.push(e);
    this.bytes += msg.size;
    if (!this.stopped) this.write(e);
    const { maxMessages, maxBytes } = this.mailboxes.policyOf(this.owner);
    let dropped = 0;
    while (this.queue.length > maxMessages || (this.bytes > maxBytes && this.queue.length > 1)) {
      const old = this.queue.shift();
      if (old) {
        this.bytes -= old.msg.size;
        old.done = true;
      }
      dropped++;
    }
    if (dropped > 0) {
      this.mailboxes.countDropped(this.owner, 'queue_full', dropped);
      this.trim();
    }
  }

  private write(e: Entry): void {
    const m = e.msg;
    const stored: SessionMessage = {
      topic: m.topic,
      payload: m.payload,
      qos: m.qos === 2 ? 2 : 1,
      retain: m.retain,
      headers: m.headers,
      subscriptionIds: m.subscriptionIds,
      publication: e.publication,
    };
    const w = this.stream.append(stored).then(
      (seq) => {
        e.seq = seq;
        if (seq > this.highest) this.highest = seq;
        // acknowledged by the client before JetStream answered: its copy goes now
        if (e.done === true) this.trim();
      },
      (err: unknown) => {
        this.onError(err);
      },
    );
    this.writes.add(w);
    void w.finally(() => this.writes.delete(w));
  }

  take(): Pending | undefined {
    const e = this.queue.shift();
    if (!e) return undefined;
    this.bytes -= e.msg.size;
    this.out.add(e);
    return e;
  }

  sent(p: Pending, packetId: number): undefined {
    (p as Entry).packetId = packetId;
    return undefined;
  }

  released(p: Pending, packetId: number): void {
    const e = p as Entry;
    e.packetId = packetId;
    e.released = true;
  }

  done(p: Pending): void {
    const e = p as Entry;
    e.done = true;
    this.out.delete(e);
    this.trim();
  }

  recoverInflight(): { pending: Pending; packetId: number; released: boolean }[] {
    const out: { pending: Pending; packetId: number; released: boolean }[] = [];
    for (const e of this.out)
      if (e.packetId !== undefined) out.push({ pending: e, packetId: e.packetId, released: e.released === true });
    return out;
  }

  /** What is in flight, for the record handed to the next holder. */
  inflight(): InflightRecord[] {
    const out: InflightRecord[] = [];
    for (const e of this.out)
      if (e.packetId !== undefined) out.push({ publication: e.publication, packetId: e.packetId, released: e.released === true });
    return out;
  }

  get length(): number {
    return this.queue.length + (this.loading?.length ?? 0);
  }

  clear(): void {
    this.queue.length = 0;
    this.out.clear();
    this.bytes = 0;
    this.loading = undefined;
    this.mailboxes.resetDropped(this.owner);
    if (!this.stopped) this.stream.purge().catch(this.onError);
  }

  /** Handed over: waits for the writes in flight; then the stream is no longer touched here. */
  async handOver(): Promise<void> {
    await Promise.all([...this.writes]);
    this.stopped = true;
  }

  /** Not this node's after all (a takeover failed): the stream is left as it is. */
  abandon(): void {
    this.stopped = true;
    this.loading = undefined;
  }

  /**
   * Purges the acknowledged messages: everything below the lowest sequence still waiting
   * (a message not yet acknowledged by JetStream is newer than every known one). One
   * purge at a time; acknowledgements meanwhile are covered by the next.
   */
  private trim(): void {
    if (this.stopped) return;
    if (this.trimming) {
      this.trimAgain = true;
      return;
    }
    let floor = this.highest + 1;
    for (const e of this.out) if (e.seq > 0 && e.seq < floor) floor = e.seq;
    for (const e of this.queue) if (e.seq > 0 && e.seq < floor) floor = e.seq;
    if (floor <= 1) return;
    this.trimming = true;
    this.stream
      .trimBelow(floor)
      .catch(this.onError)
      .finally(() => {
        this.trimming = false;
        if (this.trimAgain) {
          this.trimAgain = false;
          this.trim();
        }
      });
  }
}

function outboundOf(m: SessionMessage): Outbound {
  return {
    topic: m.topic,
    payload: m.payload,
    qos: m.qos,
    retain: m.retain,
    headers: m.headers,
    subscriptionIds: m.subscriptionIds,
    size: m.payload.bytes?.length ?? 64,
  };
}
