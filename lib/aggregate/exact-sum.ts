/**
 * An exact running sum. Each number counts as the decimal it is written as (its
 * shortest round-trip form: 0.1 is one tenth), and the sum is kept as a scaled integer,
 * so adding and later removing a value leaves the sum exactly as it was, in any order.
 * Only the result is rounded, once: an incrementally kept sum equals a sum recomputed
 * from scratch, bit for bit, which float addition cannot promise.
 *
 * The scaled integer is a plain number while it is a safe integer (every step checked
 * to be exact) and a BigInt beyond; both read and print the same.
 */
type Units = number | bigint;

/** 10^i as exact doubles (10^22 is the last one a double holds exactly) */
const POW10: readonly number[] = Array.from({ length: 23 }, (_, i) => 10 ** i);

export class ExactSum {
  private constructor(
    /** the sum is units * 10^-scale; a number only when it is a safe integer */
    private units: Units,
    private scale: number,
  ) {}

  static zero(): ExactSum {
    return new ExactSum(0, 0);
  }

  /** From toString()'s form, e.g. "12345e-2". */
  static parse(text: string): ExactSum {
    const at = text.indexOf('e-');
    return at < 0 ? new ExactSum(unitsOf(text), 0) : new ExactSum(unitsOf(text.slice(0, at)), Number(text.slice(at + 2)));
  }

  add(n: number, sign: 1 | -1 = 1): void {
    const [units, scale] = decimalOf(n);
    const s = Math.max(scale, this.scale);
    if (typeof this.units === 'number' && typeof units === 'number' && s <= 22) {
      // exact while every value stays a safe integer: a product or sum that is not
      // rounds to an unsafe value (rounding is monotonic), so the check is enough
      const a = this.units * (POW10[s - this.scale] as number);
      const b = units * (POW10[s - scale] as number);
      const r = sign === 1 ? a + b : a - b;
      if (Number.isSafeInteger(a) && Number.isSafeInteger(b) && Number.isSafeInteger(r)) {
        this.units = r === 0 ? 0 : r;
        this.scale = s;
        this.normalize();
        return;
      }
    }
    const a = BigInt(this.units) * 10n ** BigInt(s - this.scale);
    const b = BigInt(units) * 10n ** BigInt(s - scale);
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
    if (this.scale === 0) return Number(this.units);
    // a safe integer over an exact power of ten: one correctly rounded division, the
    // same double as parsing the decimal text
    if (typeof this.units === 'number' && this.scale <= 22) return this.units / (POW10[this.scale] as number);
    return Number(`${this.units}e-${this.scale}`);
  }

  toString(): string {
    return this.scale === 0 ? String(this.units) : `${this.units}e-${this.scale}`;
  }

  /** A group state holding sums serializes them in toString()'s form. */
  toJSON(): string {
    return this.toString();
  }

  private normalize(): void {
    let units = this.units;
    if (typeof units === 'bigint') {
      if (units === 0n) units = 0;
      else {
        while (this.scale > 0 && units % 10n === 0n) {
          units /= 10n;
          this.scale--;
        }
        if (units >= -BigInt(Number.MAX_SAFE_INTEGER) && units <= BigInt(Number.MAX_SAFE_INTEGER)) units = Number(units);
      }
    }
    if (typeof units === 'number') {
      if (units === 0) this.scale = 0;
      while (this.scale > 0 && units % 10 === 0) {
        units /= 10;
        this.scale--;
      }
    }
    this.units = units;
  }
}

/** Integer text as units: a number when it is safe. */
function unitsOf(text: string): Units {
  const big = BigInt(text);
  return big >= -BigInt(Number.MAX_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
}

/** n as units * 10^-scale, from its shortest decimal form. */
function decimalOf(n: number): [Units, number] {
  if (Number.isSafeInteger(n)) return [n === 0 ? 0 : n, 0];
  const text = n.toString();
  const e = text.indexOf('e');
  const mantissa = e < 0 ? text : text.slice(0, e);
  const exp = e < 0 ? 0 : Number(text.slice(e + 1));
  const dot = mantissa.indexOf('.');
  const digits = dot < 0 ? mantissa : mantissa.slice(0, dot) + mantissa.slice(dot + 1);
  let scale = (dot < 0 ? 0 : mantissa.length - dot - 1) - exp;
  // at most 15 digits: a safe integer
  let units: Units = digits.length <= 15 ? Number(digits) : BigInt(digits);
  if (scale < 0) {
    units = BigInt(units) * 10n ** BigInt(-scale);
    scale = 0;
  } else if (typeof units === 'bigint') {
    return [units, scale];
  }
  return [typeof units === 'bigint' ? unitsOf(units.toString()) : units, scale];
}
