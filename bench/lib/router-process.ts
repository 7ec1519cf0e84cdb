/**
 * A router under test in its own child process: spawn, wait for its `PORT <n>` line,
 * read its CPU time and RSS from /proc, stop it. Keeping the router out of the load
 * generator's process means neither event loop steals turns from the other.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ChildControl } from './child-control';
import { buildGatehouse as buildInto } from './gatehouse-build';
import { CLK_TCK, cpuSecondsOf, statusMiB } from './proc-stats';

export type RouterName = 'gatehouse' | 'fox-wamp';

/** How Gatehouse runs: compiled by tsc (as production runs dist/), or through tsx. */
export type GatehouseRuntime = 'tsc' | 'tsx';

export interface SpawnOptions {
  /** run the child on this CPU only (taskset), or anywhere when undefined */
  cpu: number | undefined;
  gatehouseRuntime: GatehouseRuntime;
  /** extra node options for the router process (e.g. --trace-gc) */
  nodeArgs?: string[];
  /** where the router's stdout lines other than the control protocol go */
  onOutput?: (line: string) => void;
  /** Gatehouse only: the server in bench/servers to run, without extension (default gatehouse-server) */
  server?: string;
  /** Gatehouse only: arguments after the server's file */
  args?: string[];
}

const ROOT = join(__dirname, '..', '..');
const BUILD_DIR = join(ROOT, 'bench', 'out', 'build');

/** Compiles Gatehouse and its bench server into bench/out/build (bench/lib/gatehouse-build.ts). */
export function buildGatehouse(): void {
  buildInto(BUILD_DIR);
}

export function hasTaskset(): boolean {
  return spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status === 0;
}

/** Pins every thread of this process (the load generator) to `cpu`. */
export function pinSelf(cpu: number): boolean {
  return spawnSync('taskset', ['-a', '-p', '-c', String(cpu), String(process.pid)], { stdio: 'ignore' }).status === 0;
}

/** CPU seconds all processes on the machine have used since boot (/proc/stat). */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  // cpu user nice system idle iowait irq softirq steal ...
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return (total - (f[3] ?? 0) - (f[4] ?? 0)) / CLK_TCK;
}

/** the router's answers on stdout; its other output goes to SpawnOptions.onOutput */
const CONTROL_LINE = /^(PORT \d+|PROFILE-STARTED|PROFILE-WRITTEN)$/;

export class RouterProcess {
  private exited: Promise<void>;
  private readonly control: ChildControl;
  /** what the router wrote to stderr (the first 20,000 characters), for errors */
  private stderr = '';

  private constructor(
    readonly name: RouterName,
    private readonly child: ChildProcess,
    public port: number,
    onOutput: ((line: string) => void) | undefined,
  ) {
    this.control = new ChildControl(
      name,
      child,
      () => this.stderr,
      (line) => CONTROL_LINE.test(line),
      onOutput,
    );
    child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      if (this.stderr.length < 20_000) this.stderr += s;
    });
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** ws://… URL of the router's WAMP endpoint (fox-wamp accepts any path). */
  get url(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  static async start(name: RouterName, opts: SpawnOptions): Promise<RouterProcess> {
    const nodeArgs: string[] = [...(opts.nodeArgs ?? [])];
    const env = { ...process.env, BENCH_PROFILER_CONTROL: join(ROOT, 'bench', 'servers', 'profiler-control.js') };
    if (name === 'gatehouse') {
      const server = opts.server ?? 'gatehouse-server';
      if (opts.gatehouseRuntime === 'tsx') nodeArgs.push('--import', 'tsx', join(ROOT, 'bench', 'servers', `${server}.ts`));
      else nodeArgs.push(join(BUILD_DIR, 'bench', 'servers', `${server}.js`));
      nodeArgs.push(...(opts.args ?? []));
    } else {
      nodeArgs.push(join(ROOT, 'bench', 'servers', 'foxwamp-server.js'));
    }
    // taskset execs node, so the child's pid is the router's pid
    const [cmd, args] =
      opts.cpu === undefined
        ? [process.execPath, nodeArgs]
        : ['taskset', ['-c', String(opts.cpu), process.execPath, ...nodeArgs]];
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    const proc = new RouterProcess(name, child, 0, opts.onOutput);
    proc.port = await proc.control.port();
    return proc;
  }

  /** Starts V8's sampling profiler in the router (bench/servers/profiler-control.js). */
  startProfile(): Promise<void> {
    return this.control.startProfile();
  }

  /** Stops the profiler and has the router write the .cpuprofile to `file`. */
  stopProfile(file: string): Promise<void> {
    return this.control.stopProfile(file);
  }

  /** User + system CPU seconds the router process has used so far. */
  cpuSeconds(): number {
    return cpuSecondsOf(this.pid);
  }

  /** Resident set size in MiB (VmRSS). */
  rssMiB(): number {
    return statusMiB(this.pid, 'VmRSS');
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
  }
}
