/**
 * The durability check of bench/store-sync-bench.ts, in a child process running the
 * same build as the router that was killed: opens the store file the router left
 * behind and counts the keys whose stored `seq` is older than the last one the
 * generator saw acknowledged. Prints one line `LOST <n> OF <keys>`.
 *
 *   node --import tsx bench/servers/gatehouse-store-verify.ts <store file> <acked.json>
 *
 * acked.json: { "<key>": <last acknowledged seq>, ... } for realm realm1.
 */
import { readFileSync } from 'node:fs';
import { Router } from '../../index';

async function main(): Promise<void> {
  const [storePath, ackedFile] = process.argv.slice(2);
  if (storePath === undefined || ackedFile === undefined)
    throw new Error('usage: gatehouse-store-verify.ts <store file> <acked.json>');
  const acked = JSON.parse(readFileSync(ackedFile, 'utf8')) as Record<string, number>;
  const router = new Router({ log: { level: 'silent' }, store: { path: storePath } });
  await router.start();
  let lost = 0;
  let keys = 0;
  try {
    for (const [key, seq] of Object.entries(acked)) {
      keys++;
      const stored = router.store.get('realm1', key)?.value.args?.[0] as { seq?: unknown } | undefined;
      if (typeof stored?.seq !== 'number' || stored.seq < seq) lost++;
    }
  } finally {
    await router.close();
  }
  process.stdout.write(`LOST ${lost} OF ${keys}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`gatehouse-store-verify: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
