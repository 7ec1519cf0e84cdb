/**
 * An exact running sum. Each number counts as the decimal it is written as (its
 * shortest round-trip form: 0.1 is one tenth), and the sum is kept as a scaled BigInt,
 * so adding and later removing a value leaves the sum exactly as it was, in any order.
 * Only the result is rounded, once: an incrementally kept sum equals a sum recomputed
 * from scratch, bit for bit, which float addition cannot promise.
 */
export class ExactSum {
  private constructor(
    /** the sum is units * 10^-scale */
    private units: bigint,
    private scale: number,
  ) {}

  static zero(): ExactSum {
    return new ExactSum(0n, 0);
  }

  /** From toString()'s form, e.g. "12345e-2". */
  static parse(text: string): ExactSum {
    const at = text.indexOf('e-');
    return at < 0 ? new ExactSum(BigInt(text), 0) : new ExactSum(BigInt(text.slice(0, at)), Number(text.slice(at + 2)));
  }

  add(n: number, sign: 1 | -1 = 1): void {
    const [units, scale] = decimalOf(n);
    const s = Math.max(scale, this.scale);
    const a = this.units * 10n ** BigInt(s - this.scale);
    const b = units * 10n ** BigInt(s - scale);
    this.units = sign === 1 ? a + b : a - b;
    this.scale = s;
    this.normalize();
  }

  /** A new sum: this one with n added (sign 1) or removed (sign -1). */
  plus(n: number, sign: 1 | -1 = 1): ExactSum {
    const sum = new ExactSum(this.units, this.scale);
    sum.add(n, sign);
    return sum;
  }

  toNumber(): number {
    return this.scale === 0 ? Number(this.units) : Number(`${this.units}e-${this.scale}`);
  }

  toString(): string {
    return this.scale === 0 ? String(this.units) : `${this.units}e-${this.scale}`;
  }

  /** A group state holding sums serializes them in toString()'s form. */
  toJSON(): string {
    return this.toString();
  }

  private normalize(): void {
    if (this.units === 0n) {
      this.scale = 0;
      return;
    }
    while (this.scale > 0 && this.units % 10n === 0n) {
      this.units /= 10n;
      this.scale--;
    }
  }
}

/** n as units * 10^-scale, from its shortest decimal form. */
function decimalOf(n: number): [bigint, number] {
  if (Number.isInteger(n) && Number.isSafeInteger(n)) return [BigInt(n), 0];
  const text = n.toString();
  const [mantissa = '0', exp = '0'] = text.split('e');
  const dot = mantissa.indexOf('.');
  const digits = dot < 0 ? mantissa : mantissa.slice(0, dot) + mantissa.slice(dot + 1);
  let scale = (dot < 0 ? 0 : mantissa.length - dot - 1) - Number(exp);
  let units = BigInt(digits);
  if (scale < 0) {
    units *= 10n ** BigInt(-scale);
    scale = 0;
  }
  return [units, scale];
}
