/**
 * What every helper that runs a real server binary for a test needs (mosquitto.ts,
 * rabbitmq.ts, nats.ts, and the benchmarks' broker processes): the cleanup hook it
 * registers with, free loopback ports to hand the server, a probe for when it accepts
 * connections, and the failure (never a skip) when the binary is not installed.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';

/** what registers cleanup: a test's context, or a suite's `after` hook wrapped as one */
export interface Cleanup {
  after(fn: () => Promise<void>): void;
}

/** Fails with what to do when the binary is missing (never a skip). */
export function requireBinary(binary: string, installScript: string, envVar: string): void {
  if (!existsSync(binary)) {
    throw new Error(`${binary} is missing: run \`bash ${installScript}\` (npm test's pretest does) or set ${envVar}`);
  }
}

/**
 * Free loopback ports, distinct: each bound by a temporary server, all released together
 * (the server binary binds them next). Servers that name each other's ports up front
 * cannot be handed port 0; another process may still take a port before the server binds
 * it, which the helpers detect (PortTaken) and retry with new ports.
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers = Array.from({ length: n }, () => net.createServer());
  try {
    return await Promise.all(
      servers.map(
        (server) =>
          new Promise<number>((resolve, reject) => {
            server.once('error', reject);
            server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
          }),
      ),
    );
  } finally {
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  }
}

/** One free loopback port (see freePorts). */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  if (port === undefined) throw new Error('no free port');
  return port;
}

/** a port of ours was taken between freePorts() and the server's bind */
export class PortTaken extends Error {}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

const START_ATTEMPTS = 3;

/** Runs `start` again, on the new ports it picks, while a port of ours was taken (up to 3 times). */
export async function withFreshPorts<T>(start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      if (!(err instanceof PortTaken) || attempt === START_ATTEMPTS) throw err;
    }
  }
}

/** Resolves once the child has exited (at once if it already has). */
export function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once('exit', () => resolve()));
}
