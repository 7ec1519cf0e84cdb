/**
 * An MQTT broker under test in its own child process: Gatehouse and Aedes under node
 * (bench/servers/mqtt-*-server.js), Mosquitto natively. Spawns it (pinned with taskset
 * when asked), waits until it accepts connections, reads its CPU time and memory from
 * /proc, drives the V8 profiler of the node ones, stops it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canConnect, freePort } from '../../test/helpers/server-process';
import { ChildControl } from './child-control';
import { buildGatehouse, type GatehouseRuntime } from './gatehouse-build';
import { cpuSecondsOf, statusMiB } from './proc-stats';

export type BrokerName = 'gatehouse' | 'aedes' | 'mosquitto';
export const BROKERS: readonly BrokerName[] = ['gatehouse', 'aedes', 'mosquitto'];

/** How Gatehouse runs: compiled by tsc (as production runs dist/), or through tsx. */
export type { GatehouseRuntime } from './gatehouse-build';

export interface BrokerSpawnOptions {
  /** run the broker on this CPU only (taskset), or anywhere when undefined */
  cpu: number | undefined;
  gatehouseRuntime: GatehouseRuntime;
  mosquittoPath: string;
  /** scratch directory for the Mosquitto config file */
  workDir: string;
  /** Mosquitto's set_tcp_nodelay (its default is false: Nagle on) */
  mosquittoNoDelay: boolean;
  /** TCP_NODELAY on Aedes' sockets (Aedes leaves Nagle on unless the server sets it) */
  aedesNoDelay: boolean;
  /** node flags for the Gatehouse process (e.g. V8's --max-semi-space-size) */
  gatehouseNodeFlags?: string[];
}

const ROOT = join(__dirname, '..', '..');
/** Gatehouse compiled for this benchmark alone (other benchmarks build into out/build) */
export const MQTT_BUILD_DIR = join(ROOT, 'bench', 'out', 'build-mqtt');

/** Compiles Gatehouse into bench/out/build-mqtt (bench/lib/gatehouse-build.ts). */
export function buildGatehouseForMqtt(): string {
  return buildGatehouse(MQTT_BUILD_DIR);
}

/** The Mosquitto binary, or undefined when it is not installed. */
export function findMosquitto(explicit?: string): string | undefined {
  const candidates = explicit ? [explicit] : ['/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto', '/usr/bin/mosquitto'];
  for (const c of candidates) if (existsSync(c)) return c;
  const w = spawnSync('sh', ['-c', 'command -v mosquitto'], { encoding: 'utf8' });
  const p = w.stdout.trim();
  return w.status === 0 && p ? p : undefined;
}

export function mosquittoVersion(path: string): string {
  const r = spawnSync(path, ['-h'], { encoding: 'utf8' });
  const m = /mosquitto version (\S+)/.exec(`${r.stdout}${r.stderr}`);
  return m?.[1] ?? '?';
}

export function aedesVersion(): string {
  return (JSON.parse(readFileSync(join(ROOT, 'node_modules', 'aedes', 'package.json'), 'utf8')) as { version: string }).version;
}

/**
 * Mosquitto's configuration for the benchmark: one loopback listener, anonymous,
 * no persistence, TCP_NODELAY like the others; queue and in-flight limits left at
 * their defaults (max_inflight_messages 20, max_queued_messages 1000).
 */
function mosquittoConf(port: number, noDelay: boolean): string {
  return [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    'persistence false',
    `set_tcp_nodelay ${String(noDelay)}`,
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'connection_messages false',
    '',
  ].join('\n');
}

export class BrokerProcess {
  private readonly exited: Promise<void>;
  private readonly control: ChildControl;
  stderr = '';
  /** highest VmRSS seen by `sampleRss` (MiB) */
  private sampledPeak = 0;

  private constructor(
    readonly name: BrokerName,
    private readonly child: ChildProcess,
    public port: number,
  ) {
    this.control = new ChildControl(name, child, () => this.stderr);
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

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  static async start(name: BrokerName, opts: BrokerSpawnOptions, gatehouseEntry: string | undefined): Promise<BrokerProcess> {
    const env: NodeJS.ProcessEnv = { ...process.env };
    let argv: string[];
    let port = 0;
    if (name === 'mosquitto') {
      port = await freePort();
      mkdirSync(opts.workDir, { recursive: true });
      const conf = join(opts.workDir, `mosquitto-${process.pid}-${port}.conf`);
      writeFileSync(conf, mosquittoConf(port, opts.mosquittoNoDelay));
      argv = [opts.mosquittoPath, '-c', conf];
    } else if (name === 'aedes') {
      argv = [process.execPath, join(ROOT, 'bench', 'servers', 'mqtt-aedes-server.js')];
      env['AEDES_NODELAY'] = opts.aedesNoDelay ? '1' : '0';
    } else {
      const server = join(ROOT, 'bench', 'servers', 'mqtt-gatehouse-server.js');
      if (opts.gatehouseRuntime === 'tsx') {
        argv = [process.execPath, '--import', 'tsx', server];
        env['GATEHOUSE_ENTRY'] = join(ROOT, 'index.ts');
      } else {
        if (!gatehouseEntry) throw new Error('Gatehouse is not built');
        argv = [process.execPath, ...(opts.gatehouseNodeFlags ?? []), server];
        env['GATEHOUSE_ENTRY'] = gatehouseEntry;
      }
    }
    // taskset execs the broker, so the child's pid is the broker's pid
    const [cmd, ...args] = opts.cpu === undefined ? argv : ['taskset', '-c', String(opts.cpu), ...argv];
    const child = spawn(cmd!, args, { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    const proc = new BrokerProcess(name, child, port);
    if (name === 'mosquitto') {
      const deadline = Date.now() + 10_000;
      while (!(await canConnect(port))) {
        if (!proc.alive) throw new Error(`mosquitto exited (${String(child.exitCode ?? child.signalCode)}): ${proc.stderr}`);
        if (Date.now() > deadline) throw new Error(`mosquitto: not listening on ${port} within 10 s: ${proc.stderr}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    } else {
      proc.port = await proc.control.port();
    }
    return proc;
  }

  get profilable(): boolean {
    return this.name !== 'mosquitto';
  }

  /** Starts V8's sampling profiler in a node broker (bench/servers/profiler-control.js). */
  startProfile(): Promise<void> {
    return this.control.startProfile();
  }

  /** Stops the profiler and has the broker write the .cpuprofile to `file`. */
  stopProfile(file: string): Promise<void> {
    return this.control.stopProfile(file);
  }

  /** User + system CPU seconds the broker has used so far. */
  cpuSeconds(): number {
    return cpuSecondsOf(this.pid);
  }

  private status(key: 'VmRSS' | 'VmHWM'): number {
    return statusMiB(this.pid, key);
  }

  /** Resident set size now, MiB. */
  rssMiB(): number {
    const v = this.status('VmRSS');
    if (v > this.sampledPeak) this.sampledPeak = v;
    return v;
  }

  /** Peak resident set size since start, MiB: the kernel's high-water mark (VmHWM),
   *  or the highest sample when that is not available. */
  peakRssMiB(): number {
    const hwm = this.status('VmHWM');
    return Number.isFinite(hwm) ? hwm : this.sampledPeak;
  }

  async stop(): Promise<void> {
    if (this.alive) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
  }
}
