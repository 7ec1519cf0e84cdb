/** numbers per slot: seq, size, expiresAt */
const STRIDE = 3;
const MIN_CAPACITY = 4;

/** one stored message as the index knows it */
export interface IndexedMessage {
  readonly seq: number;
  readonly size: number;
  /** Infinity when the message does not expire */
  readonly expiresAt: number;
}

/**
 * The in-memory index of one queue: the seq, size and expiry of each stored message, in
 * seq order, three numbers per message in one Float64Array: 24 bytes a message (33
 * measured with the array's spare room and the per-queue overhead, against 832 for the
 * same message held whole with a 100-byte payload: bench/queue-memory.ts). Payloads stay
 * in SQLite.
 *
 * Slots [head, tail) are in use; a removed slot keeps its seq (so binary search still
 * works) with a negative size, and is skipped. Removing at the head (FIFO acks, drops)
 * advances `head`; removed slots inside are compacted away once they outnumber the live
 * ones, so an ack out of order costs O(log n) and memory stays proportional to what is
 * stored.
 */
export class QueueIndex {
  private slots = new Float64Array(MIN_CAPACITY * STRIDE);
  private head = 0;
  private tail = 0;
  /** removed slots between head and tail */
  private holes = 0;
  /** live messages */
  messages = 0;
  /** sum of live messages' sizes */
  bytes = 0;
  /** no live message expires before this: exact after expiredAt(), a lower bound between */
  minExpiry = Infinity;

  constructor(readonly name: string) {}

  /** appends a message; `seq` must be above every seq the index holds */
  push(seq: number, size: number, expiresAt: number): void {
    // invariant, not a catalogue error: the queue store hands out rising seqs
    if (this.tail > this.head && seq <= this.seqAt(this.tail - 1)) throw new Error('queue index: seq out of order');
    if (this.tail * STRIDE === this.slots.length) this.makeRoom(this.tail - this.head - this.holes + 1);
    this.setSlot(this.tail++, seq, size, expiresAt);
    this.added(size, expiresAt);
  }

  /** puts back a removed message wherever its seq belongs (undo of a failed commit) */
  restore(seq: number, size: number, expiresAt: number): void {
    const i = this.search(seq);
    if (i < this.tail && this.seqAt(i) === seq) {
      if (this.sizeAt(i) >= 0) return;
      this.setSlot(i, seq, size, expiresAt);
      this.holes--;
    } else if (i === this.tail) {
      this.push(seq, size, expiresAt);
      return;
    } else {
      // rare path (its slot was compacted away): rebuild with the message in place
      const live = this.live();
      live.splice(
        live.findIndex((m) => m.seq > seq),
        0,
        { seq, size, expiresAt },
      );
      this.rebuild(live);
    }
    this.added(size, expiresAt);
  }

  /** removes a message; returns it as it was, or undefined when absent */
  remove(seq: number): IndexedMessage | undefined {
    const i = this.search(seq);
    if (i >= this.tail || this.seqAt(i) !== seq) return undefined;
    const size = this.sizeAt(i);
    if (size < 0) return undefined;
    const expiresAt = this.slots[i * STRIDE + 2] as number;
    this.slots[i * STRIDE + 1] = -1;
    this.messages--;
    this.bytes -= size;
    if (i === this.head) {
      this.head++;
      while (this.head < this.tail && this.sizeAt(this.head) < 0) {
        this.head++;
        this.holes--;
      }
    } else {
      this.holes++;
    }
    if (this.messages === 0) {
      this.head = this.tail = this.holes = 0;
      this.minExpiry = Infinity;
      if (this.slots.length > MIN_CAPACITY * STRIDE) this.slots = new Float64Array(MIN_CAPACITY * STRIDE);
    } else if (this.holes > 32 && this.holes > this.messages) {
      this.rebuild(this.live());
    }
    return { seq, size, expiresAt };
  }

  /** the message with this seq, if stored */
  get(seq: number): IndexedMessage | undefined {
    const i = this.search(seq);
    if (i >= this.tail || this.seqAt(i) !== seq) return undefined;
    const size = this.sizeAt(i);
    return size < 0 ? undefined : { seq, size, expiresAt: this.slots[i * STRIDE + 2] as number };
  }

  /** the oldest stored message's seq */
  oldest(): number | undefined {
    return this.head < this.tail ? this.seqAt(this.head) : undefined;
  }

  /**
   * Visits stored messages with seq > afterSeq, in order, while `visit` returns true.
   * `visit` must not change the index (collect first, change after).
   */
  scan(afterSeq: number, visit: (seq: number, size: number, expiresAt: number) => boolean): void {
    const s = this.slots;
    for (let i = this.search(afterSeq); i < this.tail; i++) {
      const size = s[i * STRIDE + 1] as number;
      if (size < 0) continue;
      const seq = s[i * STRIDE] as number;
      if (seq <= afterSeq) continue;
      if (!visit(seq, size, s[i * STRIDE + 2] as number)) return;
    }
  }

  /** seqs of the messages expired at `now`; recomputes `minExpiry` over the others */
  expiredAt(now: number): number[] {
    const out: number[] = [];
    let min = Infinity;
    this.scan(-Infinity, (seq, _size, expiresAt) => {
      if (expiresAt <= now) out.push(seq);
      else if (expiresAt < min) min = expiresAt;
      return true;
    });
    this.minExpiry = min;
    return out;
  }

  /** all stored messages, in order */
  live(): IndexedMessage[] {
    const out: IndexedMessage[] = [];
    this.scan(-Infinity, (seq, size, expiresAt) => {
      out.push({ seq, size, expiresAt });
      return true;
    });
    return out;
  }

  private added(size: number, expiresAt: number): void {
    this.messages++;
    this.bytes += size;
    if (expiresAt < this.minExpiry) this.minExpiry = expiresAt;
  }

  /** first slot index in [head, tail] whose seq is >= `seq` */
  private search(seq: number): number {
    let lo = this.head;
    let hi = this.tail;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.seqAt(mid) < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** compacts to the front, growing the array if `needed` slots would not fit in half */
  private makeRoom(needed: number): void {
    const capacity = this.slots.length / STRIDE;
    this.rebuild(this.live(), needed * 2 > capacity ? capacity * 2 : capacity);
  }

  private rebuild(live: readonly IndexedMessage[], capacity?: number): void {
    const cap = Math.max(MIN_CAPACITY, capacity ?? live.length * 2);
    if (cap * STRIDE !== this.slots.length) this.slots = new Float64Array(cap * STRIDE);
    live.forEach((m, i) => {
      this.setSlot(i, m.seq, m.size, m.expiresAt);
    });
    this.head = 0;
    this.tail = live.length;
    this.holes = 0;
  }

  private setSlot(i: number, seq: number, size: number, expiresAt: number): void {
    const s = this.slots;
    s[i * STRIDE] = seq;
    s[i * STRIDE + 1] = size;
    s[i * STRIDE + 2] = expiresAt;
  }

  private seqAt(i: number): number {
    return this.slots[i * STRIDE] as number;
  }

  private sizeAt(i: number): number {
    return this.slots[i * STRIDE + 1] as number;
  }
}
