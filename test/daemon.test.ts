/**
 * The `gatehouse` daemon as a user runs it: a child process with a config file,
 * observed through its log lines, its HTTP endpoints, a real WAMP client and its exit
 * code.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import tls from 'node:tls';
import { spawnGatehouse, START_TIMEOUT_MS, tempDir, writeJson, type Daemon, type LogEntry } from './helpers/daemon';
import { withTimeout } from './helpers/wait';

const ROOT = resolve(__dirname, '..');

// autobahn ships no types; this is the part the test uses.
interface AutobahnSession {
  readonly id: number;
}
interface AutobahnConnection {
  onopen: ((session: AutobahnSession) => void) | null;
  onclose: ((reason: string, details: { reason?: string | null }) => boolean | void) | null;
  open(): void;
  close(reason?: string): void;
}
interface AutobahnModule {
  Connection: new (opts: {
    url?: string;
    transports?: { type: 'rawsocket'; host: string; port: number }[];
    realm: string;
    max_retries?: number;
    retry_if_unreachable?: boolean;
  }) => AutobahnConnection;
}

const autobahn = require('autobahn') as AutobahnModule;

function tempDirOf(t: TestContext): string {
  const temp = tempDir();
  t.after(() => temp.remove());
  return temp.dir;
}

function writeConfig(dir: string, config: unknown): string {
  const file = join(dir, 'config.json');
  writeJson(file, config);
  return file;
}

/** `gatehouse <args>`, killed when the test ends. */
function spawnCli(t: TestContext, args: string[]): Daemon {
  const d = spawnGatehouse(args);
  t.after(() => d.kill());
  return d;
}

/** The first JSON log line with this msg from index `from` on; rejects if the daemon exits or is too slow. */
function waitForLog(d: Daemon, msg: string, from = 0): Promise<LogEntry> {
  return d.waitForLog((e) => e.msg === msg, `"${msg}"`, from);
}

function get(port: number, path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolvePromise, reject) => {
    // agent: false - no keep-alive socket survives the test.
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
  });
}

test('daemon - starts, serves health, metrics and WAMP, and shuts down cleanly on SIGTERM', { timeout: 60_000 }, async (t) => {
  const dir = tempDirOf(t);
  const file = writeConfig(dir, {
    $schema: '../schemas/config.schema.json',
    http: { host: '127.0.0.1', port: 0 },
    mqtt: { port: 0 },
    stomp: { port: 0 },
    // a directory that does not exist yet, like ./data on a fresh clone
    store: { path: join(dir, 'data', 'nested', 'gatehouse.db') },
    log: { level: 'info' },
  });
  const d = spawnCli(t, ['-c', file]);

  const listening = await waitForLog(d, 'listening');
  const port = (listening.http as { port?: unknown } | undefined)?.port;
  assert.equal(typeof port, 'number');
  assert.notEqual(port, 0, 'the log gives the actual port, not the configured 0');
  const httpPort = port as number;
  assert.equal((listening.wamp as { url?: unknown }).url, `ws://127.0.0.1:${httpPort}/ws`);
  // http.protocols: all on by default, recognised by their first bytes on the HTTP port
  assert.deepEqual((listening.http as { alsoServes?: unknown }).alsoServes, ['rawsocket', 'mqtt', 'stomp']);

  const health = await get(httpPort, '/health');
  assert.equal(health.status, 200);
  const report = JSON.parse(health.body) as { status: string; realms: string[] };
  assert.equal(report.status, 'ok');
  assert.ok(report.realms.includes('realm1'));

  const metrics = await get(httpPort, '/metrics');
  assert.equal(metrics.status, 200);
  assert.match(metrics.type, /^text\/plain/);
  assert.match(metrics.body, /gatehouse_sessions/);
  assert.match(metrics.body, /gatehouse_process_cpu/);

  // the dashboard (dashboard.enabled defaults to true): the page, its script, its settings
  assert.equal(listening.dashboard, `http://127.0.0.1:${httpPort}/dashboard`);
  const bare = await get(httpPort, '/dashboard');
  assert.equal(bare.status, 301, 'relative asset URLs need /dashboard/');
  const page = await get(httpPort, '/dashboard/');
  assert.equal(page.status, 200);
  assert.match(page.type, /^text\/html/);
  assert.match(page.body, /<title>Gatehouse admin console<\/title>/);
  const vendor = await get(httpPort, '/dashboard/vendor/autobahn.min.js');
  assert.equal(vendor.status, 200);
  assert.match(vendor.type, /javascript/);
  assert.deepEqual(JSON.parse((await get(httpPort, '/dashboard/settings.json')).body), { wampPath: '/ws', realm: 'realm1' });

  // A WAMP client joins, then stays while the daemon is told to stop.
  const connection = new autobahn.Connection({
    url: `ws://127.0.0.1:${httpPort}/ws`,
    realm: 'realm1',
    max_retries: 0,
    retry_if_unreachable: false,
  });
  let closed!: (v: { reason: string; detail: string | null | undefined }) => void;
  const closedP = new Promise<{ reason: string; detail: string | null | undefined }>((r) => (closed = r));
  const opened = new Promise<AutobahnSession>((resolveOpen, rejectOpen) => {
    connection.onopen = resolveOpen;
    connection.onclose = (reason, details) => {
      rejectOpen(new Error(`WAMP connection closed before open: ${reason}`));
      closed({ reason, detail: details.reason });
      return true; // no reconnect
    };
  });
  connection.open();
  t.after(() => {
    try {
      connection.close();
    } catch {
      // already closed
    }
  });
  const session = await withTimeout(opened, 10_000, 'WAMP open');
  assert.ok(session.id > 0);
  // and one over RawSocket on the same port
  const raw = new autobahn.Connection({
    transports: [{ type: 'rawsocket', host: '127.0.0.1', port: httpPort }],
    realm: 'realm1',
    max_retries: 0,
    retry_if_unreachable: false,
  });
  let rawClosed!: (detail: string | null | undefined) => void;
  const rawClosedP = new Promise<string | null | undefined>((r) => (rawClosed = r));
  const rawOpened = new Promise<AutobahnSession>((resolveOpen, rejectOpen) => {
    raw.onopen = resolveOpen;
    raw.onclose = (reason, details) => {
      rejectOpen(new Error(`RawSocket connection closed before open: ${reason}`));
      rawClosed(details.reason);
      return true;
    };
  });
  raw.open();
  t.after(() => {
    try {
      raw.close();
    } catch {
      // already closed
    }
  });
  assert.ok((await withTimeout(rawOpened, 10_000, 'RawSocket open on the HTTP port')).id > 0);

  const during = JSON.parse((await get(httpPort, '/health')).body) as { sessions: number };
  assert.equal(during.sessions, 2);

  d.child.kill('SIGTERM');
  const code = await withTimeout(d.exited, 10_000, 'exit after SIGTERM');
  assert.equal(code, 0, `exit code\nstderr:\n${d.stderr()}`);
  const bye = await withTimeout(closedP, 5_000, 'WAMP close after shutdown');
  assert.equal(bye.detail, 'wamp.close.system_shutdown');
  assert.equal(await withTimeout(rawClosedP, 5_000, 'RawSocket close after shutdown'), 'wamp.close.system_shutdown');
  assert.ok(d.logs.some((e) => e.msg === 'shutting down'));
});

test('daemon - a bad config file exits with code 2 and names the field', { timeout: 30_000 }, async (t) => {
  const dir = tempDirOf(t);
  const file = writeConfig(dir, { http: { port: 0 }, wamp: { pingIntervalMs: 'soon' } });
  const d = spawnCli(t, ['--config', file]);
  const code = await withTimeout(d.exited, START_TIMEOUT_MS, 'exit on bad config');
  assert.equal(code, 2);
  assert.match(d.stderr(), /\/wamp\/pingIntervalMs must be integer/);
  assert.equal(d.logs.filter((e) => e.msg === 'listening').length, 0);
});

test('daemon - a bad command-line value exits with code 2 and names the field', { timeout: 30_000 }, async (t) => {
  const dir = tempDirOf(t);
  const file = writeConfig(dir, { store: { path: join(dir, 'gatehouse.db') } });
  const d = spawnCli(t, ['-c', file, '--port', 'eighty']);
  assert.equal(await withTimeout(d.exited, START_TIMEOUT_MS, 'exit on bad flag'), 2);
  assert.match(d.stderr(), /\/http\/port must be integer \(from command line\)/);
});

// two CLI runs one after the other, each allowed START_TIMEOUT_MS (30 s)
test('daemon - check-config prints OK for a good file and the problems for a bad one', { timeout: 60_000 }, async (t) => {
  const dir = tempDirOf(t);
  const good = spawnCli(t, ['check-config', writeConfig(dir, { http: { port: 0 } })]);
  assert.equal(await withTimeout(good.exited, START_TIMEOUT_MS, 'check-config good'), 0);
  assert.deepEqual(
    good.stdout.filter((l) => l !== ''),
    ['OK'],
  );

  const badFile = join(dir, 'bad.json');
  writeFileSync(badFile, JSON.stringify({ limits: { maxSessions: 0 }, bogus: true }));
  const bad = spawnCli(t, ['check-config', badFile]);
  assert.equal(await withTimeout(bad.exited, START_TIMEOUT_MS, 'check-config bad'), 2);
  assert.match(bad.stderr(), /\/limits\/maxSessions must be >= 1/);
  assert.match(bad.stderr(), /\/bogus is not a known option/);
});

/** The issuer CN of the certificate a TLS port presents. */
async function issuerAt(port: number): Promise<string> {
  const s = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false });
  try {
    await withTimeout(new Promise<void>((ok, fail) => s.once('secureConnect', ok).once('error', fail)), 5000, 'TLS connect');
    const cn = s.getPeerCertificate().issuer.CN;
    return Array.isArray(cn) ? cn.join(',') : (cn ?? '');
  } finally {
    s.destroy();
  }
}

test(
  'daemon - HTTPS and MQTT TLS listeners; SIGHUP swaps the certificates, a bad file keeps them',
  { timeout: 60_000 },
  async (t) => {
    const dir = tempDirOf(t);
    const fixtures = join(ROOT, 'test', 'fixtures', 'tls');
    const certFile = join(dir, 'cert.pem');
    const keyFile = join(dir, 'key.pem');
    copyFileSync(join(fixtures, 'server.crt'), certFile);
    copyFileSync(join(fixtures, 'server.key'), keyFile);
    const tlsBlock = { enabled: true, certFile, keyFile };
    const file = writeConfig(dir, {
      http: { port: 0, tls: tlsBlock },
      mqtt: { port: 0, tls: { ...tlsBlock, port: 0 }, sysIntervalSeconds: 0 },
      stomp: { enabled: false },
      store: { path: join(dir, 'gatehouse.db') },
      log: { level: 'info' },
    });
    const d = spawnCli(t, ['-c', file]);
    const listening = await waitForLog(d, 'listening');
    const httpPort = (listening.http as { port: number }).port;
    assert.equal((listening.wamp as { url?: unknown }).url, `wss://127.0.0.1:${httpPort}/ws`);
    const mqttsPort = Number(new URL((listening.mqtts as { url: string }).url).port);
    assert.equal(await issuerAt(httpPort), 'localhost');
    assert.equal(await issuerAt(mqttsPort), 'localhost');
    // the health endpoint answers over HTTPS to a client that trusts the certificate
    const ca = readFileSync(join(fixtures, 'server.crt'));
    const health = await new Promise<number>((ok, fail) => {
      https
        .get({ host: '127.0.0.1', port: httpPort, path: '/health', ca, servername: 'localhost', agent: false }, (res) => {
          res.resume();
          ok(res.statusCode ?? 0);
        })
        .on('error', fail);
    });
    assert.equal(health, 200);

    copyFileSync(join(fixtures, 'ca-server.crt'), certFile);
    copyFileSync(join(fixtures, 'ca-server.key'), keyFile);
    d.child.kill('SIGHUP');
    const reloaded = await waitForLog(d, 'SIGHUP: TLS certificates reloaded');
    assert.deepEqual(reloaded.failed, []);
    assert.equal((reloaded.reloaded as string[]).length, 2);
    assert.equal(await issuerAt(httpPort), 'Gatehouse Test CA');
    assert.equal(await issuerAt(mqttsPort), 'Gatehouse Test CA');

    writeFileSync(keyFile, 'not a key');
    const next = d.logs.length; // the next SIGHUP's log line, not the first one
    d.child.kill('SIGHUP');
    const failed = await waitForLog(d, 'SIGHUP: TLS certificates reloaded', next);
    assert.equal((failed.failed as string[]).length, 2);
    assert.equal(await issuerAt(httpPort), 'Gatehouse Test CA', 'the old certificate stays');

    d.child.kill('SIGTERM');
    assert.equal(await withTimeout(d.exited, 10_000, 'exit after SIGTERM'), 0);
  },
);

test(
  'daemon - --version prints the package version; the README synopsis names every start flag',
  { timeout: 30_000 },
  async (t) => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const v = spawnCli(t, [flag]);
      assert.equal(await withTimeout(v.exited, START_TIMEOUT_MS, flag), 0);
      assert.deepEqual(
        v.stdout.filter((l) => l !== ''),
        [pkg.version],
      );
    }
    const help = spawnCli(t, ['start', '--help']);
    assert.equal(await withTimeout(help.exited, START_TIMEOUT_MS, 'start --help'), 0);
    const flags = [...new Set(help.stdout.join('\n').match(/--[a-z][a-z-]+/g) ?? [])].filter((f) => f !== '--help');
    assert.ok(flags.includes('--mqtt-port') && flags.includes('--stomp-port'), flags.join(' '));
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const synopsis = readme.slice(readme.indexOf('## The daemon'), readme.indexOf('Configuration comes from'));
    for (const flag of flags) assert.match(synopsis, new RegExp(`[[\\s|]${flag}\\b`), `README synopsis lacks ${flag}`);
  },
);
