/**
 * The log rows that no longer hold any key's state (superseded values, tombstones),
 * kept as a min-heap of sequence numbers. Compaction always deletes the lowest ones
 * first: a tombstone is then removed only after every older row of its key, so a
 * deleted value can never come back on load.
 */
export class DeadRows {
  private heap: number[] = [];

  get size(): number {
    return this.heap.length;
  }

  add(seq: number): void {
    const h = this.heap;
    h.push(seq);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = h[parent] as number;
      if (p <= seq) break;
      h[i] = p;
      i = parent;
    }
    h[i] = seq;
  }

  /** removes and returns up to `max` of the lowest sequence numbers, ascending */
  takeLowest(max: number): number[] {
    const out: number[] = [];
    while (out.length < max && this.heap.length > 0) out.push(this.popMin());
    return out;
  }

  private popMin(): number {
    const h = this.heap;
    const min = h[0] as number;
    const last = h.pop() as number;
    const n = h.length;
    if (n === 0) return min;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && (h[r] as number) < (h[l] as number) ? r : l;
      if ((h[c] as number) >= last) break;
      h[i] = h[c] as number;
      i = c;
    }
    h[i] = last;
    return min;
  }
}
