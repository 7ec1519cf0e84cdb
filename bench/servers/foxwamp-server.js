'use strict';
/**
 * Starts a fox-wamp router (the devDependency) with its WAMP WebSocket listener on a
 * free port, for the benchmarks. Prints one line `PORT <n>` on stdout once it listens,
 * and exits on SIGTERM/SIGINT.
 *
 * fox-wamp's WAMP listener is a ws.Server: it accepts any path and only wamp.2.json.
 *
 *   node bench/servers/foxwamp-server.js
 */
const FoxRouter = require('fox-wamp');
const { installProfilerControl } = require('./profiler-control');

const router = new FoxRouter();
const server = router.listenWAMP({ port: 0, host: '127.0.0.1' });
server.on('listening', () => {
  installProfilerControl();
  process.stdout.write(`PORT ${server.address().port}\n`);
});
server.on('error', (err) => {
  process.stderr.write(`foxwamp-server: ${err.stack || err.message}\n`);
  process.exit(1);
});
const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
