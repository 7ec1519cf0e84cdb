/**
 * The routers under test for bench/store-sync-bench.ts, each in its own child process:
 *
 *   gatehouse      store on a temporary FILE, SQLite WAL, synchronous 'full': every
 *                  acknowledged retained publish is on disk (fsync) before PUBLISHED
 *   gatehouse-normal  the same with synchronous 'normal': committed to the WAL (the OS
 *                  has it: survives kill -9, not a power loss) before PUBLISHED, no fsync
 *   gatehouse-mem  the same router with store ':memory:' (group commit, no disk): shows
 *                  what the disk costs
 *   gatehouse-jetstream  store.engine jetstream: the retained store in JetStream KV on a
 *                  nats-server of its own (loopback, R1, its store dir in tmp), pinned to
 *                  the router's CPU; PUBLISHED = JetStream acknowledged the write. Its CPU
 *                  counts as the router's.
 *   fox-wamp       fox-wamp 0.7.28 as bench/servers/foxwamp-server.js starts it: its
 *                  in-memory key-value engine, which keeps nothing across a restart
 *
 * Like bench/lib/router-process.ts (whose RouterProcess has a fixed script per router
 * and no way to pass the store file), but each child takes its own arguments and
 * Gatehouse can be stopped with SIGKILL, for the check that nothing acknowledged is lost.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { GatehouseBuild } from './store-sync-build';

export type StoreRouterName = 'gatehouse' | 'gatehouse-normal' | 'gatehouse-mem' | 'gatehouse-jetstream' | 'fox-wamp';
export const STORE_ROUTERS: readonly StoreRouterName[] = [
  'gatehouse',
  'gatehouse-normal',
  'gatehouse-mem',
  'gatehouse-jetstream',
  'fox-wamp',
];
/** what runs without --routers / --engine */
export const DEFAULT_STORE_ROUTERS: readonly StoreRouterName[] = ['gatehouse', 'gatehouse-normal', 'gatehouse-mem', 'fox-wamp'];
/** Debian's nats-server (scripts/install-nats.sh), for gatehouse-jetstream */
const NATS_SERVER = process.env['NATS_SERVER'] ?? '/usr/sbin/nats-server';

const ROOT = join(__dirname, '..', '..');
const CLK_TCK = ((): number => {
  const n = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

export class StoreRouterProcess {
  private readonly exited: Promise<void>;

  private constructor(
    readonly name: StoreRouterName,
    private readonly child: ChildProcess,
    readonly port: number,
    /** the store file (gatehouse), kept until cleanup() */
    readonly storePath: string | undefined,
    private readonly dir: string | undefined,
    /** gatehouse-jetstream: its nats-server */
    private readonly nats?: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  /**
   * Starts a router; pinned to `cpu` with taskset when given. Gatehouse runs from
   * `build` (tsc output) when given, else from the sources through tsx.
   */
  static async start(
    name: StoreRouterName,
    cpu: number | undefined,
    build: GatehouseBuild | undefined,
  ): Promise<StoreRouterProcess> {
    let dir: string | undefined;
    let storePath: string | undefined;
    let nodeArgs: string[];
    let env: NodeJS.ProcessEnv = process.env;
    let nats: ChildProcess | undefined;
    if (name === 'gatehouse-jetstream') {
      dir = mkdtempSync(join(tmpdir(), 'gatehouse-nats-bench-'));
      const started = await startNats(dir, cpu);
      nats = started.child;
      env = { ...(build?.env ?? process.env), GATEHOUSE_BENCH_NATS: started.url };
    }
    if (name === 'fox-wamp') {
      nodeArgs = [join(ROOT, 'bench', 'servers', 'foxwamp-server.js')];
    } else {
      if (name === 'gatehouse' || name === 'gatehouse-normal') {
        // os.tmpdir() is on the root disk here (ext4), not tmpfs: fsync is real
        dir = mkdtempSync(join(tmpdir(), 'gatehouse-store-bench-'));
        storePath = join(dir, 'store.db');
      }
      const server = build ? [build.serverJs] : ['--import', 'tsx', join(ROOT, 'bench', 'servers', 'gatehouse-store-server.ts')];
      nodeArgs = [...server, storePath ?? ':memory:', name === 'gatehouse-normal' ? 'normal' : 'full'];
      if (build && nats === undefined) env = build.env;
    }
    const [cmd, args] =
      cpu === undefined ? [process.execPath, nodeArgs] : ['taskset', ['-c', String(cpu), process.execPath, ...nodeArgs]];
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
    });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error(`${name} did not start within 30 s: ${stderr}`)), 30_000);
        child.stdout?.setEncoding('utf8').on('data', (s: string) => {
          out += s;
          const m = /PORT (\d+)/.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(Number(m[1]));
          }
        });
        child.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`${name} exited with ${String(code)} before listening: ${stderr}`));
        });
      });
      return new StoreRouterProcess(name, child, port, storePath, dir, nats);
    } catch (err) {
      child.kill('SIGKILL');
      nats?.kill('SIGKILL');
      if (dir) rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** User + system CPU seconds the router has used so far (/proc/<pid>/stat). */
  cpuSeconds(): number {
    return cpuOf(this.pid) + (this.nats?.pid !== undefined ? cpuOf(this.nats.pid) : 0);
  }

  rssMiB(): number {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  }

  /** SIGTERM (or SIGKILL: a crash), then wait for the process to be gone. */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
    const nats = this.nats;
    if (nats && nats.exitCode === null && nats.signalCode === null) {
      const gone = new Promise((resolve) => nats.once('exit', resolve));
      nats.kill('SIGTERM');
      await gone;
    }
  }

  /**
   * After stop('SIGKILL'): how many of the acknowledged writes (key -> last acknowledged
   * seq) the store file is missing, checked by the same build in a child process.
   */
  countLost(lastAcked: Map<string, number>, build: GatehouseBuild | undefined): { lost: number; keys: number } {
    if (this.storePath === undefined || this.dir === undefined) throw new Error(`${this.name} has no store file`);
    const ackedFile = join(this.dir, 'acked.json');
    writeFileSync(ackedFile, JSON.stringify(Object.fromEntries(lastAcked)));
    const script = build ? [build.verifyJs] : ['--import', 'tsx', join(ROOT, 'bench', 'servers', 'gatehouse-store-verify.ts')];
    const r = spawnSync(process.execPath, [...script, this.storePath, ackedFile], {
      cwd: ROOT,
      env: build?.env ?? process.env,
      encoding: 'utf8',
      timeout: 60_000,
    });
    const m = /LOST (\d+) OF (\d+)/.exec(r.stdout);
    if (!m) throw new Error(`store check failed: ${r.stderr.trim().split('\n')[0] ?? `exit ${String(r.status)}`}`);
    return { lost: Number(m[1]), keys: Number(m[2]) };
  }

  /** Removes the store file; after stop(). */
  cleanup(): void {
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}

function cpuOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** A nats-server with JetStream on a free loopback port, its store in `dir`. */
async function startNats(dir: string, cpu: number | undefined): Promise<{ child: ChildProcess; url: string }> {
  const port = await new Promise<number>((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
  const args = ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir];
  const [cmd, argv] = cpu === undefined ? [NATS_SERVER, args] : ['taskset', ['-c', String(cpu), NATS_SERVER, ...args]];
  const child = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`nats-server did not start: ${log}`)), 30_000);
    child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      log += s;
      if (log.includes('Server is ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`nats-server exited with ${String(code)}: ${log}`));
    });
  });
  return { child, url: `nats://127.0.0.1:${port}` };
}
