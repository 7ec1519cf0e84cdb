'use strict';
/**
 * Starts an Aedes broker (the devDependency, in-memory persistence, default options)
 * on a free port, for bench/mqtt-bench.ts. Prints `PORT <n>` on stdout once it
 * listens and exits on SIGTERM/SIGINT.
 *
 * Aedes is an ES module, hence the dynamic import. Sockets are left as Aedes' README
 * sets them up (`net.createServer(aedes.handle)`: Nagle on) unless AEDES_NODELAY=1.
 */
const net = require('node:net');
const { installProfilerControl } = require('./profiler-control');

const noDelay = process.env.AEDES_NODELAY === '1';

async function main() {
  const { Aedes } = await import('aedes');
  const broker = await Aedes.createBroker();
  const server = net.createServer((socket) => {
    if (noDelay) socket.setNoDelay(true);
    broker.handle(socket);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  installProfilerControl();
  process.stdout.write(`PORT ${server.address().port}\n`);
  const stop = () => process.exit(0);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  process.stderr.write(`mqtt-aedes-server: ${err && err.stack ? err.stack : String(err)}\n`);
  process.exit(1);
});
