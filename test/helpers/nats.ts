/**
 * Real nats-server processes for the JetStream store engine's tests: one server with
 * JetStream, or a 3-node JetStream cluster, each node on free loopback ports in its own
 * temporary store dir, stopped (and its dir removed) when the test ends. The binary is
 * Debian's package, installed by scripts/install-nats.sh (npm's pretest): a test never
 * skips without it, it fails saying how to get it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { exited, freePorts, PortTaken, requireBinary, withFreshPorts, type Cleanup } from './server-process';
import { waitFor } from './wait';

export { freePorts, type Cleanup } from './server-process';

export const NATS_SERVER = process.env['NATS_SERVER'] ?? '/usr/sbin/nats-server';
/** a cold JetStream start (and a cluster electing its meta leader) on a loaded machine */
const READY_MS = 30_000;

export interface NatsNode {
  readonly name: string;
  /** client URL, nats://127.0.0.1:<port> */
  readonly url: string;
  readonly port: number;
  readonly monitorPort: number;
  readonly storeDir: string;
  /** the running process (replaced by restart()) */
  child: ChildProcess;
  /** everything the server logged so far (stderr) */
  log(): string;
  /** SIGKILL: no shutdown, no flush, like a crash; resolves once it has exited */
  kill(): Promise<void>;
  /** SIGSTOP / SIGCONT: a node that hangs without closing its sockets */
  pause(): void;
  resume(): void;
  /** starts the node again on the same ports and store dir, and waits until it is healthy */
  restart(): Promise<void>;
}

export interface NatsCluster {
  readonly nodes: readonly NatsNode[];
  /** every node's client URL: what a client is given as `servers` */
  readonly servers: string[];
}

/** Fails with what to do when the binary is missing (never a skip). */
export function requireNatsServer(): void {
  requireBinary(NATS_SERVER, 'scripts/install-nats.sh', 'NATS_SERVER');
}

let syncAlways: boolean | undefined;
/**
 * `sync_interval: always` (fsync each JetStream write before its ack) where the server
 * knows the option: Jepsen lost acknowledged writes with the default periodic fsync
 * (README "Store engines"). nats-server 2.9 (Debian's) refuses the unknown field, so it
 * is left out there.
 */
function supportsSyncAlways(): boolean {
  if (syncAlways === undefined) {
    const out = spawnSync(NATS_SERVER, ['--version'], { encoding: 'utf8' }).stdout;
    const m = /v(\d+)\.(\d+)/.exec(out);
    syncAlways = m !== null && (Number(m[1]) > 2 || (Number(m[1]) === 2 && Number(m[2]) >= 10));
  }
  return syncAlways;
}

interface NodePlan {
  name: string;
  port: number;
  monitorPort: number;
  clusterPort?: number;
  routes?: number[];
  /** the cluster's servers are not told to clients (INFO connect_urls) */
  noAdvertise?: boolean;
}

async function startNode(t: Cleanup, plan: NodePlan, waitHealthy: boolean): Promise<NatsNode> {
  requireNatsServer();
  const dir = await mkdtemp(path.join(os.tmpdir(), `gatehouse-nats-${plan.name}-`));
  const storeDir = path.join(dir, 'js');
  const lines = [
    `server_name: ${plan.name}`,
    `listen: "127.0.0.1:${plan.port}"`,
    `http: "127.0.0.1:${plan.monitorPort}"`,
    'jetstream {',
    `  store_dir: ${JSON.stringify(storeDir)}`,
    ...(supportsSyncAlways() ? ['  sync_interval: always'] : []),
    '}',
  ];
  if (plan.clusterPort !== undefined) {
    lines.push(
      'cluster {',
      '  name: gatehouse-test',
      `  listen: "127.0.0.1:${plan.clusterPort}"`,
      `  routes: [${(plan.routes ?? []).map((p) => JSON.stringify(`nats-route://127.0.0.1:${p}`)).join(', ')}]`,
      ...(plan.noAdvertise === true ? ['  no_advertise: true'] : []),
      '}',
    );
  }
  const conf = path.join(dir, 'nats.conf');
  await writeFile(conf, lines.join('\n') + '\n');

  let log = '';
  const launch = (): ChildProcess => {
    const child = spawn(NATS_SERVER, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.on('data', (d: Buffer) => (log += d.toString('utf8')));
    return child;
  };
  const node: NatsNode = {
    name: plan.name,
    url: `nats://127.0.0.1:${plan.port}`,
    port: plan.port,
    monitorPort: plan.monitorPort,
    storeDir,
    child: launch(),
    log: () => log,
    async kill() {
      node.child.kill('SIGCONT'); // a paused process is killed all the same, but say so
      node.child.kill('SIGKILL');
      await exited(node.child);
    },
    pause() {
      node.child.kill('SIGSTOP');
    },
    resume() {
      node.child.kill('SIGCONT');
    },
    async restart() {
      if (node.child.exitCode === null && node.child.signalCode === null) await node.kill();
      node.child = launch();
      await waitReady(node, true);
    },
  };
  t.after(async () => {
    await node.kill();
    await rm(dir, { recursive: true, force: true });
  });
  await waitReady(node, waitHealthy);
  return node;
}

/**
 * Polls the monitoring port until the server answers: /healthz (JetStream ready) when
 * `healthy`, else /varz (up; a cluster node reports healthy only once its peers are up).
 */
async function waitReady(node: NatsNode, healthy: boolean): Promise<void> {
  const url = `http://127.0.0.1:${node.monitorPort}/${healthy ? 'healthz' : 'varz'}`;
  await waitFor(
    async () => {
      if (node.child.exitCode !== null) {
        const Failure = /address already in use/.test(node.log()) ? PortTaken : Error;
        throw new Failure(`nats-server ${node.name} exited with ${node.child.exitCode}:\n${node.log()}`);
      }
      try {
        return (await fetch(url, { signal: AbortSignal.timeout(2000) })).ok;
      } catch {
        return false; // not listening yet
      }
    },
    () => `nats-server ${node.name} to be ready:\n${node.log()}`,
    READY_MS,
    50,
  );
}

/**
 * Waits until the node knows the JetStream meta leader: before that, creating a bucket
 * times out (2.9's /healthz can answer ok earlier).
 */
export async function waitMetaLeader(node: NatsNode): Promise<string> {
  let leader = '';
  await waitFor(
    async () => {
      try {
        const res = await fetch(`http://127.0.0.1:${node.monitorPort}/jsz`, { signal: AbortSignal.timeout(2000) });
        const jsz = (await res.json()) as { meta_cluster?: { leader?: string } };
        leader = jsz.meta_cluster?.leader ?? '';
      } catch {
        // not answering yet
      }
      return leader !== '';
    },
    () => `nats-server ${node.name} to know a JetStream meta leader:\n${node.log()}`,
    READY_MS,
    100,
  );
  return leader;
}

/** One nats-server with JetStream, stopped when the test ends. */
export function startNats(t: Cleanup): Promise<NatsNode> {
  return withFreshPorts(async () => {
    const [port = 0, monitorPort = 0] = await freePorts(2);
    return startNode(t, { name: 'n1', port, monitorPort }, true);
  });
}

/**
 * A 3-node JetStream cluster (full mesh of routes), stopped when the test ends.
 * `noAdvertise`: clients learn no other server than the ones they were given, so a client
 * sent through a proxy (test/helpers/tcp-proxy.ts) cannot get around it.
 */
export function startNatsCluster(t: Cleanup, opts: { noAdvertise?: boolean } = {}): Promise<NatsCluster> {
  return withFreshPorts(async () => {
    const ports = await freePorts(9);
    const plans: NodePlan[] = [0, 1, 2].map((i) => ({
      name: `n${i + 1}`,
      port: ports[3 * i] ?? 0,
      monitorPort: ports[3 * i + 1] ?? 0,
      clusterPort: ports[3 * i + 2] ?? 0,
      ...(opts.noAdvertise === true ? { noAdvertise: true } : {}),
    }));
    for (const p of plans) p.routes = plans.filter((o) => o !== p).map((o) => o.clusterPort ?? 0);
    // started together: each node's JetStream waits for a meta leader, which needs a quorum
    const started = await Promise.allSettled(plans.map((p) => startNode(t, p, false)));
    const nodes = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = started.find((r) => r.status === 'rejected');
    if (failed !== undefined) {
      // a retry starts all three again: stop the ones that did start
      await Promise.all(nodes.map((n) => n.kill()));
      throw failed.reason;
    }
    await Promise.all(nodes.map((n) => waitReady(n, true)));
    await Promise.all(nodes.map((n) => waitMetaLeader(n)));
    return { nodes, servers: nodes.map((n) => n.url) };
  });
}

/** A client connection closed when the test ends. */
export async function natsClient(t: Cleanup, servers: string | string[]): Promise<NatsConnection> {
  const nc = await connect({ servers, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
  t.after(async () => {
    if (!nc.isClosed()) await nc.close();
  });
  return nc;
}
