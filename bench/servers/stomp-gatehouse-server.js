'use strict';
/**
 * Starts a Gatehouse router with one STOMP (TCP) listener on a free port and its durable
 * store on the file given, for bench/stomp-bench.ts. Prints `PORT <n>` on stdout once it
 * accepts connections; on SIGTERM/SIGINT closes the router (the store's last group
 * commit is flushed) and exits.
 *
 *   GATEHOUSE_ENTRY=<index.js | index.ts> node [--import tsx] stomp-gatehouse-server.js <store file> [full|normal]
 *
 * The store runs as the daemon's default configuration does: SQLite WAL with
 * `synchronous: 'full'`, so a RECEIPT for a SEND to a queue means the message reached
 * the disk. Plain JavaScript so that the same file runs Gatehouse compiled by tsc or
 * its TypeScript sources through tsx.
 */
const { join } = require('node:path');
const { monitorEventLoopDelay, performance } = require('node:perf_hooks');
const { installProfilerControl } = require('./profiler-control');

const entry = process.env.GATEHOUSE_ENTRY || join(__dirname, '..', '..', 'index.ts');
const { Router } = require(entry);

async function main() {
  const path = process.argv[2];
  const synchronous = process.argv[3] || 'full';
  if (!path || (synchronous !== 'full' && synchronous !== 'normal')) {
    throw new Error('usage: stomp-gatehouse-server.js <store file> [full|normal]');
  }
  const router = new Router({ log: { level: 'silent' }, store: { path, synchronous } });
  await router.start();
  const listener = await router.listenSTOMP({ port: 0, host: '127.0.0.1' });
  installProfilerControl();
  installStatsControl(router);
  process.stdout.write(`PORT ${listener.port}\n`);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    // the driver has disconnected its clients; close() flushes and closes the store.
    // A normal exit is also what lets `node --cpu-prof` write its profile.
    const force = setTimeout(() => process.exit(1), 5000);
    router.close().then(
      () => {
        clearTimeout(force);
        process.exit(0);
      },
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/**
 * What the driver asks over stdin besides the profiler (profiler-control.js ignores
 * these lines, and these handlers ignore its): `stats-start` opens a window, `stats-stop`
 * closes it and answers `STATS <json>`: the store's group commits in the window, and the
 * event loop's delay (perf_hooks.monitorEventLoopDelay, a 10 ms timer: how late it fired),
 * which shows how long synchronous work (a commit's fsync, a WAL checkpoint) held the loop.
 */
function installStatsControl(router) {
  let histogram;
  let commits0 = 0;
  let t0 = 0;
  let buffered = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk) => {
    buffered += chunk;
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (line === 'stats-start') {
        histogram = monitorEventLoopDelay({ resolution: 10 });
        histogram.enable();
        commits0 = router.queues.stats.commits;
        t0 = performance.now();
        process.stdout.write('STATS-STARTED\n');
      } else if (line === 'stats-stop' && histogram) {
        histogram.disable();
        // the histogram holds whole timer intervals: the delay is what exceeds the 10 ms
        const ms = (ns) => Math.max(0, ns / 1e6 - 10);
        const stats = {
          seconds: (performance.now() - t0) / 1000,
          commits: router.queues.stats.commits - commits0,
          loopDelayP50Ms: ms(histogram.percentile(50)),
          loopDelayP99Ms: ms(histogram.percentile(99)),
          loopDelayMaxMs: ms(histogram.max),
        };
        process.stdout.write(`STATS ${JSON.stringify(stats)}\n`);
      }
    }
  });
}

main().catch((err) => {
  process.stderr.write(`stomp-gatehouse-server: ${err && err.stack ? err.stack : String(err)}\n`);
  process.exit(1);
});
