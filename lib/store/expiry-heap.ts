/**
 * A binary min-heap of items ordered by `expiresAt`. Removal is lazy: the owner checks
 * whether the top item is still current (`isLive`) and pops it when it is not, so a
 * rewrite of a key costs O(log n) instead of a search. `compact` drops dead items when
 * they pile up.
 */
export interface Expiring {
  readonly expiresAt?: number;
}

export class ExpiryHeap<T extends Expiring> {
  private items: T[] = [];

  constructor(private readonly isLive: (item: T) => boolean) {}

  get size(): number {
    return this.items.length;
  }

  push(item: T): void {
    this.items.push(item);
    this.siftUp(this.items.length - 1);
  }

  /** the earliest live item, after discarding dead ones from the top */
  peek(): T | undefined {
    for (;;) {
      const top = this.items[0];
      if (top === undefined || this.isLive(top)) return top;
      this.pop();
    }
  }

  pop(): T | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (top !== undefined && last !== undefined && items.length > 0) {
      items[0] = last;
      this.siftDown(0);
    }
    return top;
  }

  /** rebuilds the heap from its live items only */
  compact(): void {
    this.items = this.items.filter(this.isLive);
    for (let i = (this.items.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  private at(i: number): number {
    return this.items[i]?.expiresAt ?? Infinity;
  }

  private swap(i: number, j: number): void {
    const items = this.items;
    const a = items[i] as T;
    items[i] = items[j] as T;
    items[j] = a;
  }

  private siftUp(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.at(parent) <= this.at(i)) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private siftDown(i: number): void {
    const n = this.items.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let min = i;
      if (l < n && this.at(l) < this.at(min)) min = l;
      if (r < n && this.at(r) < this.at(min)) min = r;
      if (min === i) return;
      this.swap(i, min);
      i = min;
    }
  }
}
