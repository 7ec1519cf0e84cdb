/**
 * Gathers one connection's outgoing frames of a turn into one Buffer, handed to the
 * socket in one write when the turn's synchronous work is done. A cork does the same
 * with one Buffer per frame, which the stream then walks as a writev: with small
 * messages that per-chunk bookkeeping cost more than the syscall. Frames are encoded
 * straight into the buffer (reserve) or copied in (push). The buffer is sized from the
 * previous turn (small ones come from Node's shared pool) and let go with the write, so
 * an idle connection holds nothing.
 */
export class WriteBatch {
  private slab: Buffer = EMPTY;
  private used = 0;
  /** bytes the previous turn wrote: the next buffer's first guess */
  private lastTurn = 0;
  private scheduled = false;
  private readonly flushNow = (): void => {
    this.flush();
  };

  constructor(
    private readonly sink: (data: Buffer) => void,
    /** frames larger than this are written on their own; the largest first guess */
    private readonly slabBytes = 16 * 1024,
  ) {}

  /** Bytes gathered and not yet handed to the socket. */
  get length(): number {
    return this.used;
  }

  /** The buffer reserve() returned an offset into. */
  get target(): Buffer {
    return this.slab;
  }

  /** Room for `n` bytes, at the returned offset of `target`; written before the turn ends. */
  reserve(n: number): number {
    if (this.used + n > this.slab.length) this.grow(n);
    const at = this.used;
    this.used += n;
    if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(this.flushNow);
    }
    return at;
  }

  /** Adds an encoded frame; a large one goes out on its own, after what was gathered. */
  push(frame: Buffer): void {
    if (frame.length > this.slabBytes) {
      this.flush();
      this.sink(frame);
      return;
    }
    const at = this.reserve(frame.length);
    frame.copy(this.slab, at);
  }

  /** Hands what was gathered to the socket now. */
  flush(): void {
    this.scheduled = false;
    if (this.used === 0) return;
    const out = this.used === this.slab.length ? this.slab : this.slab.subarray(0, this.used);
    this.lastTurn = this.used;
    this.slab = EMPTY;
    this.used = 0;
    this.sink(out);
  }

  /** The connection is gone: nothing more is written. */
  discard(): void {
    this.slab = EMPTY;
    this.used = 0;
  }

  private grow(n: number): void {
    const wanted = this.used === 0 ? Math.max(n, Math.min(this.lastTurn, this.slabBytes)) : 2 * this.used + n;
    const next = Buffer.allocUnsafe(wanted);
    if (this.used > 0) this.slab.copy(next, 0, 0, this.used);
    this.slab = next;
  }
}

const EMPTY = Buffer.alloc(0);
