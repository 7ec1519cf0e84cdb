/**
 * The processes of the cluster benchmark: one nats-server (core NATS only: pub/sub and
 * RPC across nodes use plain subjects, and the nodes keep their retained store in
 * SQLite) and Gatehouse nodes (bench/servers/cluster-node.ts, through tsx), each its own
 * process, started and stopped by bench/lib/router-process.ts.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { RouterProcess } from '../lib/router-process';
import type { Nodes } from './types';

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** User + system CPU seconds of process `pid` (/proc/<pid>/stat fields 14 and 15). */
function cpuOf(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A nats-server on a free loopback port; resolves once it says it is ready. */
async function startNats(bin: string): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const child = spawn(bin, ['-a', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`nats-server did not start: ${log}`)), 30_000);
    child.stderr?.on('data', (d: Buffer) => {
      log += d.toString();
      if (/Server is ready/.test(log)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`nats-server exited (${String(code)}): ${log}`));
    });
  });
  return { child, url: `nats://127.0.0.1:${port}` };
}

export interface Running extends Nodes {
  stop(): Promise<void>;
}

/**
 * `count` nodes joined through one new nats-server, or with `natsBin` undefined one
 * router with the cluster off. `cpuProf`: each node writes its profiles into
 * bench/out/prof/<name>-<n>/ on exit.
 */
export async function startNodes(name: string, count: number, natsBin: string | undefined, cpuProf: boolean): Promise<Running> {
  const nats = natsBin === undefined ? undefined : await startNats(natsBin);
  const routers: RouterProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(routers.map((r) => r.stop()));
    nats?.child.kill('SIGTERM');
  };
  try {
    for (let i = 1; i <= count; i++) {
      // default profile file names: tsx's loader thread writes a profile of its own
      const prof = cpuProf
        ? [
            '--cpu-prof',
            '--cpu-prof-dir',
            path.join(__dirname, '..', 'out', 'prof', `${name}-${i}`),
            '--cpu-prof-interval',
            '100',
          ]
        : [];
      const args = [`${name}-${i}`, ...(nats ? [nats.url] : [])];
      routers.push(
        await RouterProcess.start('gatehouse', {
          cpu: undefined,
          gatehouseRuntime: 'tsx',
          server: 'cluster-node',
          args,
          nodeArgs: prof,
        }),
      );
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    wsUrls: routers.map((r) => r.url),
    cpuSeconds: () => routers.reduce((s, r) => s + cpuOf(r.pid), cpuOf(nats?.child.pid)),
    stop,
  };
}
