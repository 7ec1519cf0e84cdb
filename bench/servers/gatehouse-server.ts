/**
 * Starts a Gatehouse router with one WAMP WebSocket listener on a free port, for the
 * benchmarks. Prints one line `PORT <n>` on stdout once it accepts connections, and
 * exits on SIGTERM/SIGINT. Runs either through tsx or compiled by tsc
 * (bench/tsconfig.build.json), see bench/wamp-bench.ts --gatehouse-runtime.
 *
 *   node --import tsx bench/servers/gatehouse-server.ts
 */
import { Router } from '../../index';

// Plain JS shared with foxwamp-server.js. The compiled build runs from
// bench/out/build/bench/servers, where the driver points BENCH_PROFILER_CONTROL.

// eslint-disable-next-line @typescript-eslint/unbound-method -- a plain function export
const { installProfilerControl } = require(process.env['BENCH_PROFILER_CONTROL'] ?? `${__dirname}/profiler-control.js`) as {
  installProfilerControl(): void;
};

async function main(): Promise<void> {
  const router = new Router({ log: { level: 'silent' }, store: { path: ':memory:' } });
  await router.start();
  const listener = await router.listenWAMP({ port: 0 });
  installProfilerControl();
  process.stdout.write(`PORT ${listener.port}\n`);
  const stop = (): void => {
    // no graceful drain: the driver has already closed its sessions
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`gatehouse-server: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
