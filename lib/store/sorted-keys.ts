/** Keys per block: a block is split past twice this, so an insert moves at most ~2,000 pointers. */
const BLOCK = 1024;

/**
 * One realm's keys in sorted order (JavaScript string order, UTF-16 code units), for
 * paged range reads with an `after` cursor. Blocks of sorted arrays: an insert or delete
 * is a binary search and a splice in one block, so a store of a million keys pays
 * no more per new key than one of a thousand, and a range read walks blocks in order.
 * Owned by MemoryIndex, which calls add for a new key and delete for a removed one.
 */
export class SortedKeys {
  private readonly blocks: string[][] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Adds a key not present. */
  add(key: string): void {
    this.count++;
    if (this.blocks.length === 0) {
      this.blocks.push([key]);
      return;
    }
    const b = Math.min(this.blockFor(key), this.blocks.length - 1);
    const block = this.blocks[b] as string[];
    block.splice(lowerBound(block, key), 0, key);
    if (block.length > 2 * BLOCK) this.blocks.splice(b + 1, 0, block.splice(BLOCK));
  }

  /** Removes a key; nothing when absent. */
  delete(key: string): void {
    const b = this.blockFor(key);
    const block = this.blocks[b];
    if (block === undefined) return;
    const i = lowerBound(block, key);
    if (block[i] !== key) return;
    block.splice(i, 1);
    this.count--;
    if (block.length === 0) this.blocks.splice(b, 1);
  }

  /**
   * Keys in order from `from` (inclusive) or, when given, strictly after `after`:
   * the caller stops iterating when it has enough.
   */
  *from(from: string, after?: string): Generator<string, void, undefined> {
    const start = after !== undefined && after >= from ? after : from;
    const exclusive = start === after;
    const first = this.blockFor(start);
    for (let b = first; b < this.blocks.length; b++) {
      const block = this.blocks[b] as string[];
      let i = b === first ? lowerBound(block, start) : 0;
      if (exclusive && block[i] === start) i++;
      for (; i < block.length; i++) yield block[i] as string;
    }
  }

  /** The first block whose last key is >= key (blocks.length when none is). */
  private blockFor(key: string): number {
    let lo = 0;
    let hi = this.blocks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const block = this.blocks[mid] as string[];
      if ((block[block.length - 1] as string) < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** The first index whose key is >= key. */
function lowerBound(block: readonly string[], key: string): number {
  let lo = 0;
  let hi = block.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((block[mid] as string) < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
