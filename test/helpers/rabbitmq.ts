/**
 * A real RabbitMQ node with the rabbitmq_stomp plugin for the STOMP link test: Debian's
 * package (scripts/install-rabbitmq.sh), its own epmd on a free port (none left behind
 * as a daemon), AMQP, STOMP and distribution on free loopback ports, mnesia, logs and
 * cookie in a temporary dir; the whole process group is stopped when the test ends. A
 * test never skips without it: it fails saying how to get it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { canConnect, freePorts, requireBinary, type Cleanup } from './server-process';
import { giveUpAfter, waitFor } from './wait';

export const RABBITMQ_SERVER = process.env['RABBITMQ_SERVER'] ?? '/usr/lib/rabbitmq/bin/rabbitmq-server';
/** a cold Erlang VM and the STOMP plugin on a loaded machine (8 s on a quiet one) */
const READY_MS = 60_000;
const STOP_MS = 10_000;

export interface RabbitMq {
  readonly stompPort: number;
  /** everything the node and its epmd wrote to stdout/stderr */
  log(): string;
}

export function requireRabbitMq(): void {
  requireBinary(RABBITMQ_SERVER, 'scripts/install-rabbitmq.sh', 'RABBITMQ_SERVER');
}

/** Erlang's epmd binary (Debian puts it in the ERTS dir; /usr/bin/epmd is a link where present). */
function epmdPath(): string {
  if (existsSync('/usr/bin/epmd')) return '/usr/bin/epmd';
  const erts = readdirSync('/usr/lib/erlang').find((d) => d.startsWith('erts-'));
  if (erts === undefined) throw new Error('epmd not found: is Erlang installed (scripts/install-rabbitmq.sh)?');
  return path.join('/usr/lib/erlang', erts, 'bin', 'epmd');
}

/** Stops a process group we started: SIGTERM, then SIGKILL if it lingers. */
async function stopGroup(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    return; // already gone
  }
  // SIGTERM first, SIGKILL if the group has not exited within STOP_MS
  const cancel = giveUpAfter(STOP_MS, () => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  });
  await exited;
  cancel();
}

/** One RabbitMQ node with STOMP on a free loopback port, stopped when the test (or suite) ends. */
export async function startRabbitMq(t: Cleanup): Promise<RabbitMq> {
  requireRabbitMq();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-rabbitmq-'));
  const [epmdPort = 0, amqpPort = 0, stompPort = 0, distPort = 0] = await freePorts(4);
  let log = '';
  const collect = (child: ChildProcess): void => {
    child.stdout?.on('data', (d: Buffer) => (log += d.toString('utf8')));
    child.stderr?.on('data', (d: Buffer) => (log += d.toString('utf8')));
  };
  // detached: each in a process group of its own, so the node's shell wrapper and its
  // Erlang VM stop together
  const epmd = spawn(epmdPath(), ['-port', String(epmdPort), '-address', '127.0.0.1'], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  collect(epmd);
  await writeFile(path.join(dir, 'enabled_plugins'), '[rabbitmq_stomp].\n');
  await writeFile(
    path.join(dir, 'rabbitmq.conf'),
    [
      `listeners.tcp.default = 127.0.0.1:${amqpPort}`,
      `stomp.listeners.tcp.1 = 127.0.0.1:${stompPort}`,
      'log.console = true',
      'log.file = false',
      '',
    ].join('\n'),
  );
  const node = spawn(RABBITMQ_SERVER, [], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      HOME: dir, // the Erlang cookie goes here
      ERL_EPMD_PORT: String(epmdPort),
      ERL_EPMD_ADDRESS: '127.0.0.1',
      RABBITMQ_NODENAME: `gatehouse-test-${process.pid}-${stompPort}@localhost`,
      RABBITMQ_DIST_PORT: String(distPort),
      RABBITMQ_MNESIA_BASE: path.join(dir, 'mnesia'),
      RABBITMQ_LOG_BASE: path.join(dir, 'log'),
      RABBITMQ_ENABLED_PLUGINS_FILE: path.join(dir, 'enabled_plugins'),
      RABBITMQ_CONFIG_FILE: path.join(dir, 'rabbitmq.conf'),
      RABBITMQ_PID_FILE: path.join(dir, 'rabbitmq.pid'),
    },
  });
  collect(node);
  const stop = async (): Promise<void> => {
    await stopGroup(node);
    await stopGroup(epmd);
    await rm(dir, { recursive: true, force: true });
  };
  t.after(stop);
  await waitFor(
    () => {
      if (node.exitCode !== null) throw new Error(`rabbitmq-server exited with ${node.exitCode}:\n${log}`);
      return canConnect(stompPort);
    },
    () => `RabbitMQ STOMP to accept connections:\n${log}`,
    READY_MS,
    100,
  );
  return { stompPort, log: () => log };
}
