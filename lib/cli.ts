#!/usr/bin/env node
/**
 * The `gatehouse` daemon.
 *
 *   gatehouse [start] [-c config.json] [--host h] [--port n] [--realm r] [--log-level l] [--log-format f]
 *             [--store path] [--rawsocket-port n] [--mqtt-port n] [--stomp-port n]
 *             [--cluster url[,url...]] [--node id]
 *   gatehouse check-config <file> [--print]
 *   gatehouse rebuild [-c config.json] [--store path] [--aggregates dir] [--verify]
 *   gatehouse reload --pid-file <file>     (SIGHUP to the daemon: re-read its config file)
 *   gatehouse user add <authid> --role <role> [--password <pw>] [--cryptosign-key <hex>]...
 *             [--realm <name>]... [--cra-iterations <n>]
 *   gatehouse pub|sub|call|kv|request ... [--url u] [--realm r] [--user u --password p] [--json]
 *             (clients of a running router's HTTP API, lib/cli/)
 *
 * Exit codes: 0 clean shutdown; 1 runtime failure or forced shutdown; 2 invalid
 * configuration (an aggregate definition included) or command line; 3 `rebuild
 * --verify` found aggregate rows that differ from their sources. The client commands:
 * 0 ok; 1 an error from the router; 2 usage; 3 not found (404) or condition failed (412).
 */
import { unlinkSync, writeFileSync } from 'node:fs';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Command, CommanderError } from 'commander';
import type Express from 'express';
import { Router } from '../index';
import { adminHandler } from './admin-routes';
import { DefinitionError, loadDefinitions } from './aggregate/definitions';
import { runRebuild } from './aggregate/rebuild-command';
import { ConfigError, loadConfig, natsUrlList, parseScalar, type Config } from './config';
import { checkLinks } from './links/manager';
import { readPidFile, reloadConfigFile } from './config-reload';
import type { Logger } from './log';
import { urlHost } from './gate-registry';
import { createUserRecord } from './auth/user-record';
import { readSecret } from './secret-prompt';
import { packageVersion } from './version';
import { addCallCommand } from './cli/call';
import { addKvCommand } from './cli/kv';
import { addRequestCommand } from './cli/request';
import { addPubCommand } from './cli/pub';
import { addSubCommand } from './cli/sub';

const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;
const EXIT_MISMATCH = 3;
/** After router.close(), how long open connections get to finish before we exit anyway. */
const CONNECTION_GRACE_MS = 2_000;
/** A shutdown that takes longer than this is forced (exit 1). */
const SHUTDOWN_TIMEOUT_MS = 15_000;

interface StartFlags {
  config?: string;
  host?: string;
  port?: string;
  realm?: string;
  logLevel?: string;
  logFormat?: string;
  store?: string;
  rawsocketPort?: string;
  mqttPort?: string;
  stompPort?: string;
  aggregates?: string;
  pidFile?: string;
  cluster?: string;
  node?: string;
}

/** Command-line flags as a partial config tree; numbers stay text when not integers so validation names them. */
function overridesFrom(flags: StartFlags): Record<string, unknown> {
  const httpOpts: Record<string, unknown> = {};
  const o: Record<string, unknown> = {};
  if (flags.host !== undefined) httpOpts.host = flags.host;
  if (flags.port !== undefined) httpOpts.port = parseScalar(flags.port);
  if (Object.keys(httpOpts).length > 0) o.http = httpOpts;
  if (flags.realm !== undefined) o.defaultRealm = flags.realm;
  if (flags.logLevel !== undefined || flags.logFormat !== undefined) o.log = { level: flags.logLevel, format: flags.logFormat };
  if (flags.store !== undefined) o.store = { path: flags.store };
  if (flags.rawsocketPort !== undefined) {
    o.wamp = { rawsocket: { enabled: true, port: parseScalar(flags.rawsocketPort) } };
  }
  if (flags.mqttPort !== undefined) o.mqtt = { port: parseScalar(flags.mqttPort) };
  if (flags.stompPort !== undefined) o.stomp = { port: parseScalar(flags.stompPort) };
  if (flags.aggregates !== undefined) o.aggregate = { dir: flags.aggregates };
  if (flags.cluster !== undefined || flags.node !== undefined) {
    o.cluster = { nats: flags.cluster === undefined ? undefined : natsUrlList(flags.cluster), node: flags.node };
  }
  return o;
}

function fail(message: string, code: number): void {
  process.stderr.write(`${message}\n`);
  process.exitCode = code;
}

function listen(server: http.Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      reject(err);
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

async function start(flags: StartFlags): Promise<void> {
  let config: Config;
  try {
    config = loadConfig({ file: flags.config, env: process.env, overrides: overridesFrom(flags) });
    checkLinks(config.links);
  } catch (err) {
    if (err instanceof ConfigError) {
      fail(err.message, EXIT_USAGE);
      return;
    }
    throw err;
  }

  const router = new Router(config);
  const log: Logger = router.log;
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception');
    process.exit(EXIT_FAILURE);
  });

  // health and metrics answer without Express; the rest (the console, the HTTP API) is
  // an Express app made on the first request that needs it (README "Footprint")
  const admin = adminHandler({
    metrics: router.metrics,
    health: () => router.health(),
    metricsPath: config.metrics.enabled ? config.metrics.path : false,
  });
  let app: http.RequestListener | undefined;
  const expressApp = (): http.RequestListener => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use
    const express = require('express') as typeof Express;
    const made = express();
    made.disable('x-powered-by');
    if (config.dashboard.enabled) made.use(config.dashboard.path, router.dashboard());
    if (config.http.api.enabled) made.use(config.http.api.path, router.httpApi());
    return made;
  };
  const requests: http.RequestListener = (req, res) => {
    if (admin(req, res)) return;
    (app ??= expressApp())(req, res);
  };
  const server = router.createHttpServer(requests);

  let stopping = false;
  const shutdown = async (): Promise<void> => {
    const closed = new Promise<void>((resolve) =>
      server.close(() => {
        resolve();
      }),
    ); // stop accepting
    await router.close(); // GOODBYE wamp.close.system_shutdown to every session, close listeners
    server.closeIdleConnections();
    const drained = await Promise.race([closed.then(() => true), delay(CONNECTION_GRACE_MS).then(() => false)]);
    if (!drained) {
      log.warn('connections still open after shutdown grace period; closing them');
      server.closeAllConnections();
    }
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal: forcing exit');
      process.exit(EXIT_FAILURE);
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    setTimeout(() => {
      log.error({ timeoutMs: SHUTDOWN_TIMEOUT_MS }, 'shutdown timed out: forcing exit');
      process.exit(EXIT_FAILURE);
    }, SHUTDOWN_TIMEOUT_MS).unref();
    shutdown().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(EXIT_FAILURE);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // SIGHUP: re-read the config file (users, roles, limits, realms) and the TLS
  // certificates (renewed by certbot & co.) without a restart; sessions stay connected
  process.on('SIGHUP', () => {
    log.info({ signal: 'SIGHUP', file: flags.config }, 'reloading the configuration');
    reloadConfigFile(
      router,
      () => loadConfig({ file: flags.config, env: process.env, overrides: overridesFrom(flags) }),
      flags.config,
    );
  });

  try {
    await router.start(); // opens the store etc.
    // every gate's endpoints as the config asks (lib/gate-registry.ts): the WebSocket
    // paths on this server, the ports of their own opened now
    const endpoints = await router.listenConfigured(server);
    const addr = await listen(server, config.http.port, config.http.host);
    // a signal may have come during the awaits above (TypeScript cannot see the handler
    // set it: microsoft/TypeScript#9998)
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
    if (stopping) return;
    if (flags.pidFile !== undefined) writePidFile(flags.pidFile, log);
    const base = `${urlHost(addr.address)}:${addr.port}`;
    const [ws, web] = config.http.tls.enabled ? ['wss', 'https'] : ['ws', 'http'];
    log.info(
      {
        // beside HTTP and WebSocket, recognised by their first bytes (http.protocols)
        http: {
          host: addr.address,
          port: addr.port,
          alsoServes: Object.entries(config.http.protocols)
            .filter(([, on]) => on)
            .map(([name]) => name),
        },
        ...Object.fromEntries(endpoints.map((e) => [e.key, e.describe(`${ws}://${base}`)])),
        health: `${web}://${base}/health`,
        ...(config.dashboard.enabled ? { dashboard: `${web}://${base}${config.dashboard.path}` } : {}),
        ...(config.http.api.enabled ? { api: `${web}://${base}${config.http.api.path}` } : {}),
        ...(config.metrics.enabled ? { metrics: `${web}://${base}${config.metrics.path}` } : {}),
        realms: router.health().realms,
        ...(router.cluster ? { cluster: { node: router.node, nats: config.cluster?.nats } } : {}),
      },
      'listening',
    );
  } catch (err) {
    if (err instanceof DefinitionError) {
      // like an invalid config: the message names the file and the field
      process.stderr.write(`${err.message}\n`);
      await router.close().catch(() => undefined);
      server.close();
      process.exit(EXIT_USAGE);
    }
    log.fatal({ err }, 'start-up failed');
    await router.close().catch(() => undefined);
    server.close();
    process.exit(EXIT_FAILURE);
  }
}

/** --pid-file: for `gatehouse reload` and service managers; removed again at exit. */
function writePidFile(file: string, log: Logger): void {
  writeFileSync(file, `${process.pid}\n`);
  process.on('exit', () => {
    try {
      if (readPidFile(file) === process.pid) unlinkSync(file);
    } catch {
      // gone or replaced already: nothing to clean up
    }
  });
  log.debug({ file, pid: process.pid }, 'pid file written');
}

/** `gatehouse reload`: SIGHUP to the daemon whose --pid-file is given. */
function reload(flags: { pidFile: string }): void {
  try {
    const pid = readPidFile(flags.pidFile);
    process.kill(pid, 'SIGHUP');
    process.stdout.write(`SIGHUP sent to ${pid}: see its log for the outcome\n`);
  } catch (err) {
    fail(`gatehouse reload: ${err instanceof Error ? err.message : String(err)}`, EXIT_FAILURE);
  }
}

function checkConfig(file: string, flags: { print?: boolean }): void {
  try {
    // The file as written: environment and flags are not applied.
    const config = loadConfig({ file, env: {} });
    if (config.aggregate.dir !== '') loadDefinitions(config.aggregate.dir);
    checkLinks(config.links);
    process.stdout.write(flags.print === true ? `${JSON.stringify(config, null, 2)}\n` : 'OK\n');
  } catch (err) {
    if (err instanceof ConfigError || err instanceof DefinitionError) {
      fail(err.message, EXIT_USAGE);
      return;
    }
    throw err;
  }
}

async function rebuild(flags: StartFlags & { verify?: boolean }): Promise<void> {
  let config: Config;
  try {
    config = loadConfig({ file: flags.config, env: process.env, overrides: overridesFrom(flags) });
  } catch (err) {
    if (err instanceof ConfigError) {
      fail(err.message, EXIT_USAGE);
      return;
    }
    throw err;
  }
  if (config.aggregate.dir === '') {
    fail('no aggregate tables: set aggregate.dir in the config, or --aggregates', EXIT_USAGE);
    return;
  }
  try {
    const outcome = await runRebuild(config, { verify: flags.verify === true });
    process.stdout.write(`${outcome.lines.join('\n')}\n`);
    if (flags.verify === true && outcome.mismatches > 0) process.exitCode = EXIT_MISMATCH;
  } catch (err) {
    if (err instanceof DefinitionError) {
      fail(err.message, EXIT_USAGE);
      return;
    }
    fail(`rebuild failed: ${err instanceof Error ? err.message : String(err)}`, EXIT_FAILURE);
    return;
  }
}

interface UserAddFlags {
  role: string;
  password?: string;
  cryptosignKey: string[];
  realm: string[];
  craIterations?: string;
}

/** Prints the JSON user record to paste into auth.users; the password is prompted for unless given. */
async function userAdd(authid: string, flags: UserAddFlags): Promise<void> {
  const iterations = flags.craIterations === undefined ? undefined : Number(flags.craIterations);
  if (iterations !== undefined && !(Number.isSafeInteger(iterations) && iterations > 0)) {
    fail('--cra-iterations must be a positive integer', EXIT_USAGE);
    return;
  }
  // a key alone makes a cryptosign-only user; otherwise the password is asked for
  const password = flags.password ?? (flags.cryptosignKey.length > 0 ? undefined : await readSecret(`password for ${authid}: `));
  try {
    const record = await createUserRecord({
      authid,
      role: flags.role,
      password,
      cryptosignKeys: flags.cryptosignKey,
      realms: flags.realm,
      craIterations: iterations,
    });
    process.stdout.write(`${JSON.stringify(record, null, 2)}\n`);
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err), EXIT_USAGE);
  }
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

function program(): Command {
  const cmd = new Command('gatehouse')
    .description('Multi-protocol message router: WAMP, MQTT, STOMP and HTTP in one routing core')
    .version(packageVersion(), '-V, --version', 'print the version and exit')
    .exitOverride();

  cmd
    .command('start', { isDefault: true })
    .description('run the router (the default command)')
    .option('-c, --config <file>', 'JSON config file (see schemas/config.schema.json)')
    .option('--host <host>', 'HTTP/WebSocket listen address (http.host)')
    .option('--port <n>', 'HTTP/WebSocket port; 0 picks a free one (http.port)')
    .option('--realm <name>', 'default realm, created at start-up (defaultRealm)')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent (log.level)')
    .option('--log-format <format>', 'auto|json|pretty (log.format)')
    .option('--store <path>', 'SQLite database file (store.path)')
    .option('--rawsocket-port <n>', 'enable WAMP RawSocket on this port (wamp.rawsocket)')
    .option('--mqtt-port <n>', 'MQTT over TCP on this port; 0 picks a free one (mqtt.port)')
    .option('--stomp-port <n>', 'STOMP over TCP on this port; 0 picks a free one (stomp.port)')
    .option('--aggregates <dir>', 'aggregate table definitions directory (aggregate.dir)')
    .option('--pid-file <file>', 'write the process ID here once listening (for gatehouse reload)')
    .option('--cluster <urls>', 'join a cluster through these NATS servers, comma-separated (cluster.nats)')
    .option('--node <id>', "this node's id in the cluster (cluster.node)")
    .action((flags: StartFlags) => start(flags));

  cmd
    .command('reload')
    .description('make the running daemon re-read its config file (sends it SIGHUP; the outcome is in its log)')
    .requiredOption('--pid-file <file>', 'the file the daemon was started with (--pid-file)')
    .action((flags: { pidFile: string }) => {
      reload(flags);
    });

  cmd
    .command('check-config <file>')
    .description('validate a config file; prints OK or the problems (exit 2)')
    .option('--print', 'print the resolved config, defaults included')
    .action((file: string, flags: { print?: boolean }) => {
      checkConfig(file, flags);
    });

  cmd
    .command('rebuild')
    .description('recompute the aggregate tables from their sources and report differences (stop the router first)')
    .option('-c, --config <file>', 'JSON config file (see schemas/config.schema.json)')
    .option('--store <path>', 'SQLite database file (store.path)')
    .option('--aggregates <dir>', 'aggregate table definitions directory (aggregate.dir)')
    .option('--verify', 'only compare: change nothing; exit 3 when a row differs')
    .action((flags: StartFlags & { verify?: boolean }) => rebuild(flags));

  cmd
    .command('user')
    .description('user records for auth.users')
    .command('add <authid>')
    .description('print a user record (salted scrypt hash and WAMP-CRA key) to paste into auth.users')
    .requiredOption('--role <role>', 'the role of the user')
    .option('--password <pw>', 'the password (prompted for when absent; visible in shell history when given here)')
    .option('--cryptosign-key <hex>', 'an Ed25519 public key (64 hex digits) for WAMP-cryptosign; repeatable', collect, [])
    .option('--realm <name>', 'a realm the user may join (default: all); repeatable', collect, [])
    .option('--cra-iterations <n>', 'PBKDF2 iterations of the WAMP-CRA key (default 10000)')
    .action((authid: string, flags: UserAddFlags) => userAdd(authid, flags));

  // clients of a running router's HTTP API (lib/cli/): exit 1 router error, 3 not found
  addPubCommand(cmd);
  addSubCommand(cmd);
  addCallCommand(cmd);
  addKvCommand(cmd);
  addRequestCommand(cmd);

  return cmd;
}

async function main(argv: string[]): Promise<void> {
  try {
    await program().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are not failures; any other usage error is.
      process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
      return;
    }
    process.stderr.write(`gatehouse: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = EXIT_FAILURE;
  }
}

void main(process.argv);
