/**
 * A STOMP broker under test in its own child process, for bench/stomp-bench.ts:
 *
 * - Gatehouse under node (bench/servers/stomp-gatehouse-server.js), compiled by tsc into
 *   bench/out/build-stomp (or through tsx), its durable store on a fresh temporary file.
 * - RabbitMQ from Debian's rabbitmq-server package with the rabbitmq_stomp plugin, as a
 *   private node: its own node name, ports (STOMP, distribution, a private epmd), data,
 *   log, config and enabled-plugins files in a fresh temporary directory, so nothing of
 *   a system RabbitMQ is used or touched. The AMQP listener is off.
 *
 * Spawns it (pinned with taskset when asked: the CPU affinity is inherited by every
 * process and thread the broker starts, Erlang's schedulers included), waits until a
 * STOMP CONNECT succeeds, reads the CPU time and memory of its whole process tree from
 * /proc, drives the V8 profiler of Gatehouse, stops it and removes its files.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canConnect, exited, freePorts } from '../../test/helpers/server-process';
import { ChildControl } from './child-control';
import { buildGatehouse, type GatehouseRuntime } from './gatehouse-build';
import { cpuSecondsOf, isZombie, processTree, sleep, statusMiB } from './proc-stats';
import type { RabbitInstall } from './rabbitmq-install';
import { LeanStompClient } from './stomp-lean-client';

export type { GatehouseRuntime } from './gatehouse-build';
export { findRabbitmq, installRabbitmq, type RabbitInstall } from './rabbitmq-install';

export type StompBrokerName = 'gatehouse' | 'rabbitmq';
export const STOMP_BROKERS: readonly StompBrokerName[] = ['gatehouse', 'rabbitmq'];

const ROOT = join(__dirname, '..', '..');
/** Gatehouse compiled for this benchmark alone (the others build into out/build, out/build-mqtt) */
export const STOMP_BUILD_DIR = join(ROOT, 'bench', 'out', 'build-stomp');

export interface StompSpawnOptions {
  /** run the broker on this CPU only (taskset), or anywhere when undefined */
  cpu: number | undefined;
  gatehouseRuntime: GatehouseRuntime;
  /** compiled index.js (runtime tsc) */
  gatehouseEntry: string | undefined;
  /** Gatehouse store: SQLite synchronous pragma */
  sync: 'full' | 'normal';
  /** extra node options for Gatehouse (e.g. --cpu-prof) */
  nodeArgs: string[];
  rabbitmq: RabbitInstall | undefined;
  /** give up on a RabbitMQ node that does not take a STOMP CONNECT within this long */
  rabbitStartTimeoutMs: number;
}

/** Compiles Gatehouse into bench/out/build-stomp (bench/lib/gatehouse-build.ts). */
export function buildGatehouseForStomp(): string {
  return buildGatehouse(STOMP_BUILD_DIR);
}

/** The RabbitMQ node's configuration: a loopback STOMP listener, no AMQP listener, guest/guest from loopback. */
function rabbitConf(stompPort: number): string {
  return [
    'listeners.tcp = none',
    `stomp.listeners.tcp.1 = 127.0.0.1:${stompPort}`,
    'stomp.default_user = guest',
    'stomp.default_pass = guest',
    'loopback_users.guest = true',
    'log.console = false',
    'log.file.level = warning',
    '',
  ].join('\n');
}

/** Gatehouse's counters over the measured window. */
export interface GatehouseStats {
  seconds: number;
  /** store transactions committed (each one fsync with synchronous full) */
  commits: number;
  /** how late a 10 ms timer fired: what synchronous work held the event loop */
  loopDelayP50Ms: number;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

export class StompBrokerProcess {
  private readonly control: ChildControl;
  stderr = '';
  /** highest tree RSS seen by rssMiB() (MiB) */
  private sampledPeak = 0;
  private tree: number[];
  /** ms from spawn to the first successful STOMP CONNECT */
  startupMs = 0;

  private constructor(
    readonly name: StompBrokerName,
    private readonly child: ChildProcess,
    public port: number,
    /** temporary files of this instance (store, RabbitMQ node), removed by stop() */
    readonly workDir: string,
    /** RabbitMQ: the private epmd */
    private readonly helper: ChildProcess | undefined,
  ) {
    this.tree = [child.pid ?? 0];
    this.control = new ChildControl(name, child, () => this.stderr);
    child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      if (this.stderr.length < 20_000) this.stderr += s;
    });
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  static async start(name: StompBrokerName, o: StompSpawnOptions): Promise<StompBrokerProcess> {
    const t0 = Date.now();
    const proc = name === 'gatehouse' ? await StompBrokerProcess.startGatehouse(o) : await StompBrokerProcess.startRabbit(o);
    proc.startupMs = Date.now() - t0;
    proc.refreshTree();
    return proc;
  }

  private static async startGatehouse(o: StompSpawnOptions): Promise<StompBrokerProcess> {
    const workDir = mkdtempSync(join(tmpdir(), 'gh-stomp-gatehouse-'));
    const server = join(ROOT, 'bench', 'servers', 'stomp-gatehouse-server.js');
    const env: NodeJS.ProcessEnv = { ...process.env };
    const argv = [process.execPath, ...o.nodeArgs];
    if (o.gatehouseRuntime === 'tsx') {
      argv.push('--import', 'tsx');
      env['GATEHOUSE_ENTRY'] = join(ROOT, 'index.ts');
    } else {
      if (!o.gatehouseEntry) throw new Error('Gatehouse is not built');
      env['GATEHOUSE_ENTRY'] = o.gatehouseEntry;
    }
    argv.push(server, join(workDir, 'store.db'), o.sync);
    // taskset execs node, so the child's pid is the broker's pid
    const [cmd, ...args] = o.cpu === undefined ? argv : ['taskset', '-c', String(o.cpu), ...argv];
    const child = spawn(cmd!, args, { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    const proc = new StompBrokerProcess('gatehouse', child, 0, workDir, undefined);
    try {
      proc.port = await proc.control.port();
    } catch (err) {
      await proc.stop();
      throw err;
    }
    return proc;
  }

  private static async startRabbit(o: StompSpawnOptions): Promise<StompBrokerProcess> {
    const r = o.rabbitmq;
    if (!r) throw new Error('RabbitMQ is not installed');
    const workDir = mkdtempSync(join(tmpdir(), 'gh-stomp-rabbitmq-'));
    const [stompPort = 0, distPort = 0, epmdPort = 0] = await freePorts(3);
    const conf = join(workDir, 'rabbitmq.conf');
    writeFileSync(conf, rabbitConf(stompPort));
    // an empty env file: the system's /etc/rabbitmq/rabbitmq-env.conf must not apply
    writeFileSync(join(workDir, 'rabbitmq-env.conf'), '');
    mkdirSync(join(workDir, 'mnesia'));
    mkdirSync(join(workDir, 'log'));
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      HOME: workDir, // the Erlang cookie
      RABBITMQ_NODENAME: `gh-stomp-${process.pid}-${stompPort}@localhost`,
      // no RABBITMQ_NODE_PORT: it would open an AMQP listener the config turns off
      RABBITMQ_DIST_PORT: String(distPort),
      ERL_EPMD_PORT: String(epmdPort),
      ERL_EPMD_ADDRESS: '127.0.0.1',
      // distribution on loopback only
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
      RABBITMQ_MNESIA_BASE: join(workDir, 'mnesia'),
      RABBITMQ_LOG_BASE: join(workDir, 'log'),
      RABBITMQ_CONFIG_FILE: conf,
      RABBITMQ_ADVANCED_CONFIG_FILE: join(workDir, 'advanced.config'),
      RABBITMQ_CONF_ENV_FILE: join(workDir, 'rabbitmq-env.conf'),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(workDir, 'enabled_plugins'),
      RABBITMQ_PID_FILE: join(workDir, 'rabbitmq.pid'),
    };
    const pin = (argv: string[]): string[] => (o.cpu === undefined ? argv : ['taskset', '-c', String(o.cpu), ...argv]);
    const deadline = Date.now() + o.rabbitStartTimeoutMs;
    // a private epmd, ours to stop (the one a node would start itself daemonizes and stays)
    const [ecmd, ...eargs] = pin([r.epmd, '-port', String(epmdPort)]);
    const epmd = spawn(ecmd!, eargs, { env, stdio: 'ignore' });
    const cleanup = async (): Promise<void> => {
      if (epmd.exitCode === null && epmd.signalCode === null) epmd.kill('SIGTERM');
      await exited(epmd);
      rmSync(workDir, { recursive: true, force: true });
    };
    try {
      while (!(await canConnect(epmdPort))) {
        if (epmd.exitCode !== null) throw new Error(`epmd exited (${epmd.exitCode})`);
        if (Date.now() > deadline) throw new Error('epmd did not listen');
        await sleep(20);
      }
      const plugins = spawnSync(join(r.sbin, 'rabbitmq-plugins'), ['--offline', 'enable', 'rabbitmq_stomp'], {
        env,
        cwd: workDir,
        encoding: 'utf8',
        timeout: Math.max(1000, deadline - Date.now()),
      });
      if (plugins.status !== 0)
        throw new Error(
          `rabbitmq-plugins --offline enable rabbitmq_stomp failed: ${plugins.error?.message ?? ''} ${plugins.stdout}${plugins.stderr}`,
        );
    } catch (err) {
      await cleanup();
      throw err;
    }
    const [cmd, ...args] = pin([join(r.sbin, 'rabbitmq-server')]);
    const child = spawn(cmd!, args, { cwd: workDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const proc = new StompBrokerProcess('rabbitmq', child, stompPort, workDir, epmd);
    try {
      for (;;) {
        if (!proc.alive)
          throw new Error(
            `rabbitmq-server exited (${String(child.exitCode ?? child.signalCode)}): ${proc.stderr.slice(-2000)} ${proc.logTail()}`,
          );
        if (Date.now() > deadline)
          throw new Error(
            `RabbitMQ took no STOMP CONNECT within ${Math.round(o.rabbitStartTimeoutMs / 1000)} s: ${proc.logTail()}`,
          );
        if (await canConnect(stompPort)) {
          try {
            const c = await LeanStompClient.connect({ port: stompPort, login: 'guest', passcode: 'guest', host: '/' });
            await c.close();
            break;
          } catch {
            // listening but not ready yet
          }
        }
        await sleep(250);
      }
    } catch (err) {
      await proc.stop();
      throw err;
    }
    return proc;
  }

  private logTail(): string {
    try {
      const dir = join(this.workDir, 'log');
      return readdirSync(dir)
        .filter((f) => f.endsWith('.log'))
        .map((f) => readFileSync(join(dir, f), 'utf8').split('\n').slice(-8).join('\n'))
        .join('\n');
    } catch {
      return '';
    }
  }

  /** Re-reads which processes make up the broker (RabbitMQ: the script, beam.smp, its helpers). */
  refreshTree(): void {
    if (this.alive) this.tree = processTree(this.pid);
  }

  get profilable(): boolean {
    return this.name === 'gatehouse';
  }

  /** Starts V8's sampling profiler in Gatehouse (bench/servers/profiler-control.js). */
  startProfile(): Promise<void> {
    return this.control.startProfile();
  }

  /** Stops the profiler and has Gatehouse write the .cpuprofile to `file`. */
  stopProfile(file: string): Promise<void> {
    return this.control.stopProfile(file);
  }

  /** Opens a window of Gatehouse's own counters (bench/servers/stomp-gatehouse-server.js). */
  async startStats(): Promise<void> {
    await this.control.command('stats-start', /^STATS-STARTED$/, 10_000);
  }

  /** Closes it: store commits in the window and the event loop's delay. */
  async stopStats(): Promise<GatehouseStats> {
    const line = await this.control.command('stats-stop', /^STATS \{/, 10_000);
    return JSON.parse(line.slice(6)) as GatehouseStats;
  }

  /** User + system CPU seconds the broker's processes have used so far. */
  cpuSeconds(): number {
    this.refreshTree();
    return this.tree.reduce((a, p) => a + cpuSecondsOf(p, 0), 0);
  }

  /** Resident set size of the broker's processes now, MiB. */
  rssMiB(): number {
    const v = this.tree.reduce((a, p) => a + statusMiB(p, 'VmRSS', 0), 0);
    if (v > this.sampledPeak) this.sampledPeak = v;
    return v;
  }

  /** Peak RSS: the kernel's high-water marks (VmHWM) of its processes added up, or the highest sample. */
  peakRssMiB(): number {
    const hwm = this.tree.reduce((a, p) => a + statusMiB(p, 'VmHWM', 0), 0);
    return Math.max(hwm, this.sampledPeak);
  }

  /** Bytes of the broker's files now (Gatehouse: the store and its WAL; RabbitMQ: the node's data). */
  diskBytes(): number {
    let total = 0;
    const walk = (p: string): void => {
      try {
        const s = statSync(p);
        if (s.isDirectory()) for (const f of readdirSync(p)) walk(join(p, f));
        else total += s.size;
      } catch {
        // removed meanwhile
      }
    };
    walk(this.name === 'gatehouse' ? this.workDir : join(this.workDir, 'mnesia'));
    return total;
  }

  /** SIGTERM (Gatehouse closes its store; RabbitMQ's script stops the node), SIGKILL after 15 s; then the files go. */
  async stop(): Promise<void> {
    const tree = this.alive ? processTree(this.pid) : [];
    if (this.alive) this.child.kill('SIGTERM');
    const timer = setTimeout(() => {
      this.child.kill('SIGKILL');
      // the node itself, should its script be gone first
      for (const p of tree.slice(1)) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }, 15_000);
    await exited(this.child);
    clearTimeout(timer);
    // RabbitMQ: wait for beam.smp too (the script waits for it, but be sure)
    for (const p of tree.slice(1)) {
      for (let k = 0; k < 100 && existsSync(`/proc/${p}`) && !isZombie(p); k++) await sleep(50);
    }
    if (this.helper) {
      if (this.helper.exitCode === null && this.helper.signalCode === null) this.helper.kill('SIGTERM');
      await exited(this.helper);
    }
    rmSync(this.workDir, { recursive: true, force: true });
  }
}
