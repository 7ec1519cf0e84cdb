'use strict';
/**
 * Starts a Gatehouse router with a WAMP WebSocket and an MQTT listener on free ports and
 * a retained store of `--keys` keys of `--value-bytes` bytes (replay.k0000000 ...), for
 * bench/replay-bench.ts. Prints `PORTS <wamp> <mqtt>` on stdout once the store is
 * seeded, and exits on SIGTERM/SIGINT.
 *
 * Plain JavaScript so the same file runs Gatehouse compiled by tsc (the driver sets
 * GATEHOUSE_ENTRY to the compiled index.js) or its sources through tsx.
 */
const { join } = require('node:path');

const entry = process.env.GATEHOUSE_ENTRY || join(__dirname, '..', '..', 'index.ts');
const { Router } = require(entry);

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

async function main() {
  const keys = arg('--keys', 100000);
  const valueBytes = arg('--value-bytes', 100);
  // default limits unless --unbounded: the replay must flow through the default outbound
  // limit; unbounded (1 GiB) shows what the pacing costs against writing it in one go
  const limits = process.argv.includes('--unbounded') ? { outboundHighWaterBytes: 2 ** 30, outboundQueueBytes: 2 ** 30 } : {};
  const router = new Router({ log: { level: 'silent' }, store: { path: ':memory:' }, mqtt: { sysIntervalSeconds: 0 }, limits });
  await router.start();
  const wamp = await router.listenWAMP({ port: 0 });
  const mqtt = await router.listenMQTT({ port: 0 });
  const realm = router.realm('realm1');
  const value = 'v'.repeat(valueBytes);
  const writes = [];
  for (let i = 0; i < keys; i++) {
    writes.push(Promise.resolve(realm.publish(undefined, `replay.k${String(i).padStart(7, '0')}`, { args: [value] }, { retain: true })));
  }
  await Promise.all(writes);
  process.stdout.write(`PORTS ${wamp.port} ${mqtt.port}\n`);
  const stop = () => process.exit(0);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  process.stderr.write(`replay-gatehouse-server: ${err && err.stack ? err.stack : String(err)}\n`);
  process.exit(1);
});
