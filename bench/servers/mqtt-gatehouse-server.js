'use strict';
/**
 * Starts a Gatehouse router with one MQTT (TCP) listener on a free port, for
 * bench/mqtt-bench.ts. Prints `PORT <n>` on stdout once it accepts connections and
 * exits on SIGTERM/SIGINT.
 *
 * Plain JavaScript so that the same file runs Gatehouse compiled by tsc (the driver
 * sets GATEHOUSE_ENTRY to the compiled index.js) or its TypeScript sources through
 * tsx (`node --import tsx`, GATEHOUSE_ENTRY pointing at index.ts).
 */
const { join } = require('node:path');
const { installProfilerControl } = require('./profiler-control');

const entry = process.env.GATEHOUSE_ENTRY || join(__dirname, '..', '..', 'index.ts');
const { Router } = require(entry);

async function main() {
  const router = new Router({ log: { level: 'silent' }, store: { path: ':memory:' } });
  await router.start();
  const listener = await router.listenMQTT({ port: 0 });
  installProfilerControl();
  process.stdout.write(`PORT ${listener.port}\n`);
  // no graceful drain: the driver has already disconnected its clients
  const stop = () => process.exit(0);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  process.stderr.write(`mqtt-gatehouse-server: ${err && err.stack ? err.stack : String(err)}\n`);
  process.exit(1);
});
