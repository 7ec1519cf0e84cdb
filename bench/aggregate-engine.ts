/**
 * The aggregate engine alone, in-process: events per CPU-second, so a loaded machine
 * (where wall-clock rates mostly measure the neighbours) still shows what a change did.
 *
 *   npx tsx bench/aggregate-engine.ts [--turns 100] [--per-turn 256] [--runs 3]
 *
 * Each turn queues `per-turn` detail rows (the tables of test/fixtures/aggregate) and
 * awaits their commit, as a busy router's group commit does; the database is a fresh
 * file with synchronous full. CPU time is the process's user + system time.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDefinitions } from '../lib/aggregate/definitions';
import { AggregateEngine } from '../lib/aggregate/engine';
import { createLogger } from '../lib/log';
import { StoreDatabase } from '../lib/store/store-database';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : Number(process.argv[i + 1]);
}

async function run(turns: number, perTurn: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-aggregate-engine-'));
  const database = new StoreDatabase({ path: join(dir, 'bench.db') });
  const engine = new AggregateEngine(database, loadDefinitions(join(__dirname, '..', 'test', 'fixtures', 'aggregate')), {
    log: createLogger({ level: 'silent' }),
  });
  engine.open();
  let n = 0;
  const cpu0 = process.cpuUsage();
  for (let t = 0; t < turns; t++) {
    const acks: Promise<void>[] = [];
    for (let i = 0; i < perTurn; i++) {
      n++;
      const invoice = (n * 7919) % 2000;
      const row = {
        invoice: `inv${invoice}`,
        line: 1 + (n % 5),
        customer: `cust${invoice % 100}`,
        product: `prod${n % 50}`,
        type: 'sale',
        amount: ((n * 31) % 100_000) / 100,
      };
      const ack = engine.accept('table.detail', { kwargs: row });
      if (ack) acks.push(ack);
    }
    await Promise.all(acks);
  }
  const cpu = process.cpuUsage(cpu0);
  await engine.close();
  rmSync(dir, { recursive: true, force: true });
  return n / ((cpu.user + cpu.system) / 1e6);
}

async function main(): Promise<void> {
  const turns = option('turns', 100);
  const perTurn = option('per-turn', 256);
  const results: number[] = [];
  for (let r = 0; r < option('runs', 3); r++) results.push(await run(turns, perTurn));
  const sorted = [...results].sort((a, b) => a - b);
  console.log(
    `aggregate engine in-process: ${turns} turns x ${perTurn} rows; events per CPU-second, median ${Math.round(sorted[sorted.length >> 1] ?? 0)} (runs: ${results.map((x) => Math.round(x)).join(', ')})`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
