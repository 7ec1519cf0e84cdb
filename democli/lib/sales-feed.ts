/**
 * The sales demo's data: invoice lines in the shape of fox-wamp's README invoice/detail
 * example (the `detail` table of test/fixtures/aggregate), made up the same way on every
 * run (strides through the customer and product lists, no randomness), with the
 * corrections and cancellations a real feed has. It also keeps the per-customer totals
 * those lines must add up to, in integer cents, so the demo can check the router's
 * aggregates against them.
 */

/** One invoice line: a row of the `detail` table. */
export interface DetailRow {
  invoice: string;
  line: number;
  customer: string;
  product: string;
  type: 'sale' | 'refund';
  amount: number;
}

/**
 * What the feed asks the publisher to do next. `late` marks a change to an earlier
 * invoice (a correction or a cancellation) rather than a line of the new one.
 */
export type FeedStep = ({ kind: 'upsert'; row: DetailRow } | { kind: 'delete'; key: { invoice: string; line: number } }) & {
  why: string;
  late: boolean;
};

export interface CustomerTotals {
  /** sum of sale amounts, in cents */
  cents: number;
  /** invoices with at least one sale line */
  invoices: number;
}

const CUSTOMERS = ['acme', 'globex', 'initech', 'umbrella', 'hooli', 'stark'];
const PRODUCTS: readonly { name: string; cents: number }[] = [
  { name: 'anvil', cents: 4999 },
  { name: 'rocket skates', cents: 12500 },
  { name: 'magnet', cents: 1250 },
  { name: 'spring', cents: 325 },
  { name: 'tnt', cents: 2000 },
];

const keyOf = (invoice: string, line: number): string => `${invoice}#${line}`;

export class SalesFeed {
  /** the detail rows as the router should hold them now */
  private readonly rows = new Map<string, DetailRow>();
  private count = 0;

  constructor(
    /** prefix of invoice numbers, so runs against one router do not overwrite each other */
    private readonly prefix: string,
  ) {}

  /** The `n`th element of `list`, counting round: strides coprime to the lengths visit every one. */
  private static nth<T>(list: readonly T[], n: number): T {
    return list[n % list.length] as T;
  }

  /** The steps of one more invoice: its lines, sometimes a correction or a cancelled line. */
  invoice(): FeedStep[] {
    const n = ++this.count;
    const invoice = `${this.prefix}${String(n).padStart(4, '0')}`;
    const customer = SalesFeed.nth(CUSTOMERS, n * 5 + (n >> 2));
    const steps: FeedStep[] = [];
    const lines = 1 + (n % 3);
    for (let line = 1; line <= lines; line++) {
      const product = SalesFeed.nth(PRODUCTS, n * 3 + line * 2);
      const quantity = 1 + ((n + line * 3) % 4);
      const refund = (n + line) % 9 === 0;
      const cents = product.cents * quantity * (refund ? -1 : 1);
      steps.push(
        this.upsert(
          { invoice, line, customer, product: product.name, type: refund ? 'refund' : 'sale', amount: cents / 100 },
          `${invoice} line ${line}`,
          false,
        ),
      );
    }
    const correction = n % 5 === 0 ? this.correction() : undefined;
    if (correction) steps.push(correction);
    if (n % 7 === 0) steps.push(this.cancellation());
    return steps;
  }

  private upsert(row: DetailRow, why: string, late: boolean): FeedStep {
    this.rows.set(keyOf(row.invoice, row.line), row);
    return { kind: 'upsert', row, why, late };
  }

  /** An earlier sale line gets another quantity: the aggregates must move by the difference. */
  private correction(): FeedStep | undefined {
    const sales = [...this.rows.values()].filter((r) => r.type === 'sale');
    if (sales.length === 0) return undefined;
    const row = SalesFeed.nth(sales, this.count * 7);
    const amount = Math.round(row.amount * 100 + 1000) / 100;
    return this.upsert({ ...row, amount }, `correct ${row.invoice} line ${row.line}: ${row.amount} -> ${amount}`, true);
  }

  /** An earlier line is cancelled: its contribution leaves every aggregate. */
  private cancellation(): FeedStep {
    const row = SalesFeed.nth([...this.rows.values()], this.count * 11);
    this.rows.delete(keyOf(row.invoice, row.line));
    return {
      kind: 'delete',
      key: { invoice: row.invoice, line: row.line },
      why: `cancel ${row.invoice} line ${row.line}`,
      late: true,
    };
  }

  /** Per customer: what the `customer` aggregate must show for the lines of this run. */
  totals(): Map<string, CustomerTotals> {
    const out = new Map<string, CustomerTotals>();
    const invoices = new Map<string, Set<string>>();
    for (const row of this.rows.values()) {
      if (row.type !== 'sale') continue; // the fixture propagates sales only
      const t = out.get(row.customer) ?? { cents: 0, invoices: 0 };
      t.cents += Math.round(row.amount * 100);
      out.set(row.customer, t);
      const seen = invoices.get(row.customer) ?? new Set<string>();
      seen.add(row.invoice);
      invoices.set(row.customer, seen);
    }
    for (const [customer, seen] of invoices) {
      const t = out.get(customer);
      if (t) t.invoices = seen.size;
    }
    return out;
  }
}
