/**
 * Real Mosquitto brokers for the MQTT link tests and the bridge benchmark: each on a free
 * loopback port with its own temporary config (anonymous, no persistence unless asked),
 * optionally a TLS listener that requires a client certificate, optionally a bridge to
 * another broker; stopped (and its dir removed) when the test ends. The binary is
 * Debian's package, installed by scripts/install-mosquitto.sh (npm's pretest): a test
 * never skips without it, it fails saying how to get it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { canConnect, exited, freePort, PortTaken, requireBinary, withFreshPorts, type Cleanup } from './server-process';
import { waitFor } from './wait';

export type { Cleanup } from './server-process';

export const MOSQUITTO = process.env['MOSQUITTO'] ?? '/usr/sbin/mosquitto';
/** a cold start on a loaded machine */
const READY_MS = 15_000;

export interface MosquittoTls {
  caFile: string;
  certFile: string;
  keyFile: string;
  /** refuse clients without a certificate signed by caFile (default true) */
  requireCertificate?: boolean;
}

/** A bridge from this broker to another one (mosquitto.conf(5) "Bridges"), QoS 1. */
export interface MosquittoBridge {
  /** the other broker's port on 127.0.0.1 */
  port: number;
  /** `topic` lines: pattern, direction and QoS, e.g. `bench/# out 1` */
  topics: string[];
}

export interface MosquittoOptions {
  tls?: MosquittoTls;
  bridge?: MosquittoBridge;
  /** keep messages and sessions in a file in the temp dir, so they survive restart() */
  persistence?: boolean;
}

export interface Mosquitto {
  /** mqtt://127.0.0.1:<port> */
  readonly url: string;
  readonly port: number;
  /** mqtts://localhost:<tlsPort> when started with `tls` */
  readonly tlsUrl: string | undefined;
  readonly tlsPort: number | undefined;
  /** everything the broker logged so far */
  log(): string;
  /** SIGKILL, like a crash; resolves once it has exited */
  kill(): Promise<void>;
  /** SIGTERM and wait; resolves once it has exited */
  stop(): Promise<void>;
  /** starts it again on the same ports and config, and waits until it accepts connections */
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT: a broker that hangs without closing its sockets */
  pause(): void;
  resume(): void;
}

/** Fails with what to do when the binary is missing (never a skip). */
export function requireMosquitto(): void {
  requireBinary(MOSQUITTO, 'scripts/install-mosquitto.sh', 'MOSQUITTO');
}

function config(dir: string, port: number, tlsPort: number | undefined, o: MosquittoOptions): string {
  const lines = [
    // mosquitto 2.0: a listener of its own makes the defaults apply per listener
    'per_listener_settings false',
    'allow_anonymous true',
    `persistence ${o.persistence === true ? 'true' : 'false'}`,
    `persistence_location ${dir}/`,
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    'set_tcp_nodelay true',
    `listener ${port} 127.0.0.1`,
  ];
  if (o.tls !== undefined && tlsPort !== undefined) {
    lines.push(
      `listener ${tlsPort} 127.0.0.1`,
      `cafile ${o.tls.caFile}`,
      `certfile ${o.tls.certFile}`,
      `keyfile ${o.tls.keyFile}`,
      `require_certificate ${o.tls.requireCertificate === false ? 'false' : 'true'}`,
    );
  }
  if (o.bridge !== undefined) {
    lines.push(
      'connection gatehouse-bench-bridge',
      `address 127.0.0.1:${o.bridge.port}`,
      'bridge_protocol_version mqttv311',
      'cleansession true',
      'try_private false',
      'notifications false',
      'start_type automatic',
      'restart_timeout 1',
      ...o.bridge.topics.map((t) => `topic ${t}`),
    );
  }
  return lines.join('\n') + '\n';
}

/** One Mosquitto broker, stopped when the test (or suite) ends. */
export function startMosquitto(t: Cleanup, options: MosquittoOptions = {}): Promise<Mosquitto> {
  requireMosquitto();
  return withFreshPorts(async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-mosquitto-'));
    try {
      return await startIn(t, dir, options);
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  });
}

async function startIn(t: Cleanup, dir: string, options: MosquittoOptions): Promise<Mosquitto> {
  const port = await freePort();
  const tlsPort = options.tls === undefined ? undefined : await freePort();
  const conf = path.join(dir, 'mosquitto.conf');
  await writeFile(conf, config(dir, port, tlsPort, options));

  let log = '';
  const launch = (): ChildProcess => {
    const child = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.on('data', (d: Buffer) => (log += d.toString('utf8')));
    return child;
  };
  let child = launch();

  const waitReady = async (): Promise<void> => {
    await waitFor(
      async () => {
        if (child.exitCode !== null) {
          const Failure = /address already in use/i.test(log) ? PortTaken : Error;
          throw new Failure(`mosquitto exited with ${child.exitCode}:\n${log}`);
        }
        return (await canConnect(port)) && (tlsPort === undefined || (await canConnect(tlsPort)));
      },
      () => `mosquitto to accept connections:\n${log}`,
      READY_MS,
      20,
    );
  };

  const broker: Mosquitto = {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    tlsUrl: tlsPort === undefined ? undefined : `mqtts://localhost:${tlsPort}`,
    tlsPort,
    log: () => log,
    async kill() {
      child.kill('SIGCONT'); // a paused process is killed all the same, but say so
      child.kill('SIGKILL');
      await exited(child);
    },
    async stop() {
      child.kill('SIGTERM');
      await exited(child);
    },
    pause() {
      child.kill('SIGSTOP');
    },
    resume() {
      child.kill('SIGCONT');
    },
    async restart() {
      if (child.exitCode === null && child.signalCode === null) await broker.stop();
      child = launch();
      await waitReady();
    },
  };
  try {
    await waitReady();
  } catch (err) {
    await broker.kill();
    throw err;
  }
  t.after(async () => {
    await broker.kill();
    await rm(dir, { recursive: true, force: true });
  });
  return broker;
}
