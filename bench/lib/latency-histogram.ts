/**
 * Fixed-memory latency histogram for the load generator: recording is one division
 * and one array increment, so millions of samples per run cost next to nothing.
 * Resolution: 1 µs below 10 ms, 100 µs from 10 ms to 10 s; slower samples land in the
 * last bucket (and are counted in `overflow`).
 */
const FINE_US = 10_000; // 1 µs buckets up to 10 ms
const COARSE_STEP_US = 100;
const COARSE_BUCKETS = 99_900; // 10 ms .. 10 s

export class LatencyHistogram {
  private readonly fine = new Uint32Array(FINE_US);
  private readonly coarse = new Uint32Array(COARSE_BUCKETS);
  count = 0;
  overflow = 0;
  private sumUs = 0;
  private maxUs = 0;

  /** Records one latency given in milliseconds (as from performance.now()). */
  record(ms: number): void {
    const us = ms * 1000;
    this.count++;
    this.sumUs += us;
    if (us > this.maxUs) this.maxUs = us;
    if (us < FINE_US) {
      this.fine[us < 0 ? 0 : us | 0]!++;
      return;
    }
    let i = ((us - FINE_US) / COARSE_STEP_US) | 0;
    if (i >= COARSE_BUCKETS) {
      this.overflow++;
      i = COARSE_BUCKETS - 1;
    }
    this.coarse[i]!++;
  }

  /** The q-quantile (0..1) in milliseconds; NaN when empty. */
  quantileMs(q: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < FINE_US; i++) {
      seen += this.fine[i]!;
      if (seen >= rank) return (i + 0.5) / 1000;
    }
    for (let i = 0; i < COARSE_BUCKETS; i++) {
      seen += this.coarse[i]!;
      if (seen >= rank) return (FINE_US + (i + 0.5) * COARSE_STEP_US) / 1000;
    }
    return this.maxUs / 1000;
  }

  meanMs(): number {
    return this.count === 0 ? NaN : this.sumUs / this.count / 1000;
  }

  maxMs(): number {
    return this.maxUs / 1000;
  }
}
