// The command-line clients (gatehouse pub / sub / call / kv / request) as a shell user runs them:
// the CLI spawned with tsx against a router started here, checked by output and exit
// code (0 ok, 1 router error, 2 usage, 3 not found / condition failed).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createUserRecord } from '../../../lib/auth/user-record';
import { joinWamp, waitFor } from '../../helpers/mqtt-clients';
import { wsOptions } from '../../helpers/autobahn';
import { connectAs } from '../../helpers/wamp-clients';
import { api, startHttpRouter, type HttpTestRouter } from './helpers';
import { giveUpAfter } from '../../helpers/wait';

const ROOT = resolve(__dirname, '..', '..', '..');
const CLI = join('lib', 'cli.ts');
const RUN_MS = 30_000;

let r: HttpTestRouter;
let locked: HttpTestRouter;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment without GATEHOUSE_* variables, so the host's settings do not leak in. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('GATEHOUSE_'))), ...extra };
}

function cli(args: string[], env: Record<string, string> = {}, onStdout?: (all: string) => void): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--require', 'tsx/cjs', CLI, ...args], {
      cwd: ROOT,
      env: cleanEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const cancel = giveUpAfter(RUN_MS, () => {
      child.kill();
      fail(new Error(`gatehouse ${args.join(' ')} did not exit: ${stdout} ${stderr}`));
    });
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
      onStdout?.(stdout);
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('close', (code) => {
      cancel();
      done({ code, stdout, stderr });
    });
  });
}

before(async () => {
  r = await startHttpRouter();
  const users = [
    await createUserRecord({ authid: 'carol', role: 'admin', password: 'carol-secret', scrypt: { N: 1024, r: 8, p: 1 } }),
  ];
  locked = await startHttpRouter({ http: { api: { anonymous: 'never' } }, auth: { users } });
});
after(async () => {
  await r.close();
  await locked.close();
});

describe('cli - client commands', { concurrency: true }, () => {
  it('cli - pub prints the publication id and a WAMP subscriber gets the value; --retain stores it', async () => {
    const w = await joinWamp(r);
    try {
      const got: unknown[] = [];
      await w.session.subscribe('cli.pub.t', (args) => got.push(args));
      const run = await cli(['pub', 'cli.pub.t', '{"temp":20}', '--url', r.baseUrl]);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /^\d+\n$/);
      await waitFor(() => got.length === 1, 'the event');
      assert.deepEqual(got[0], [{ temp: 20 }]);
      const kept = await cli(['pub', 'cli.pub.kept', 'hello world', '--retain', '--json', '--url', r.baseUrl]);
      assert.equal(kept.code, 0, kept.stderr);
      assert.equal(typeof (JSON.parse(kept.stdout) as { revision?: unknown }).revision, 'number');
      assert.equal((await api(`${r.apiUrl}/store/cli.pub.kept`)).body['value'], 'hello world');
    } finally {
      await w.close();
    }
  });

  it('cli - sub --count prints the events, topic first for a pattern, then exits 0', async () => {
    // --url with the API path works too
    const running = cli(['sub', 'cli.sub', '--match', 'prefix', '--count', '2', '--url', r.apiUrl]);
    // publish once the subscriber is in place (the CLI starts slowly under tsx)
    const realm = r.router.realm('realm1');
    await waitFor(() => (realm?.broker.matching('cli.sub.a').length ?? 0) > 0, 'the CLI subscribed', 20_000);
    await api(`${r.apiUrl}/publish`, { body: { topic: 'cli.sub.a', args: [1] } });
    await api(`${r.apiUrl}/publish`, { body: { topic: 'cli.sub.b', args: ['x'], kwargs: { k: 1 } } });
    const run = await running;
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'cli.sub.a 1\ncli.sub.b {"args":["x"],"kwargs":{"k":1}}\n');
  });

  it('cli - call parses each argument as JSON, else as a string, and prints the result', async () => {
    const w = await joinWamp(r);
    try {
      await w.session.register('cli.echo', (args) => args);
      const run = await cli(['call', 'cli.echo', '42', 'plain', '{"a":[1]}', '--url', r.baseUrl]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, '[42,"plain",{"a":[1]}]\n');
      const missing = await cli(['call', 'cli.nobody', '--url', r.baseUrl]);
      assert.equal(missing.code, 3);
      assert.match(missing.stderr, /wamp\.error\.no_such_procedure/);
    } finally {
      await w.close();
    }
  });

  it('cli - request submit --wait prints one outcome per destination (an absent one expired); get of an unknown id exits 3', async () => {
    const w = await connectAs(wsOptions(r.wsUrl, 'json'), 'cli-svc');
    try {
      await w.session.register('cli.req', (args) => (args[0] as number) + 1);
      const run = await cli([
        'request',
        'submit',
        'cli.req',
        '5',
        '--to',
        'cli-svc,ghost',
        '--expires-in',
        '1',
        '--wait',
        '10',
        '--url',
        r.baseUrl,
      ]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, 'cli-svc: 6\nghost: ! gatehouse.error.expired ghost did not answer before the request expired\n');
      const id = await cli(['request', 'submit', 'cli.req', '1', '--to', 'cli-svc', '--url', r.baseUrl]);
      assert.equal(id.code, 0, id.stderr);
      const got = await cli(['request', 'get', id.stdout.trim(), '--wait', '10', '--json', '--url', r.baseUrl]);
      assert.deepEqual(JSON.parse(got.stdout), { status: 'done', replies: [{ destination: 'cli-svc', args: [2], kwargs: {} }] });
      const missing = await cli(['request', 'get', 'nope', '--url', r.baseUrl]);
      assert.equal(missing.code, 3);
      assert.match(missing.stderr, /no request nope/);
    } finally {
      await w.close();
    }
  });

  it('cli - kv put / get / list / del, with exit 3 for an absent key and a failed --when', async () => {
    const url = ['--url', r.baseUrl];
    const put = await cli(['kv', 'put', 'cli.kv.a', '{"n":1}', ...url]);
    assert.equal(put.code, 0, put.stderr);
    assert.match(put.stdout, /^\d+\n$/);
    assert.equal((await cli(['kv', 'put', 'cli.kv.b', 'bee', ...url])).code, 0);
    const get = await cli(['kv', 'get', 'cli.kv.a', ...url]);
    assert.equal(get.stdout, '{"n":1}\n');
    const list = await cli(['kv', 'list', 'cli.kv.', ...url]);
    assert.equal(list.stdout, 'cli.kv.a {"n":1}\ncli.kv.b "bee"\n');
    const cond = await cli(['kv', 'put', 'cli.kv.a', '2', '--when', 'null', ...url]);
    assert.equal(cond.code, 3);
    assert.match(cond.stderr, /condition_failed/);
    assert.equal((await cli(['kv', 'del', 'cli.kv.a', ...url])).code, 0);
    const gone = await cli(['kv', 'get', 'cli.kv.a', ...url]);
    assert.equal(gone.code, 3);
    assert.equal(gone.stdout, '');
  });

  it('cli - credentials from flags or GATEHOUSE_USER / GATEHOUSE_PASSWORD, the URL from GATEHOUSE_URL; a refusal exits 1', async () => {
    const refused = await cli(['kv', 'list', '--url', locked.baseUrl]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /authentication_failed/);
    const flags = await cli(['pub', 'cli.auth', '1', '--url', locked.baseUrl, '--user', 'carol', '--password', 'carol-secret']);
    assert.equal(flags.code, 0, flags.stderr);
    const env = await cli(['pub', 'cli.auth', '2', '--json'], {
      GATEHOUSE_URL: locked.baseUrl,
      GATEHOUSE_USER: 'carol',
      GATEHOUSE_PASSWORD: 'carol-secret',
    });
    assert.equal(env.code, 0, env.stderr);
    assert.equal(typeof (JSON.parse(env.stdout) as { publication?: unknown }).publication, 'number');
  });

  it('cli - the daemon serves the HTTP API under /api: kv put and get against gatehouse start', async () => {
    const daemon = spawn(
      process.execPath,
      ['--require', 'tsx/cjs', CLI, 'start', '--port', '0', '--mqtt-port', '0', '--stomp-port', '0', '--store', ':memory:'],
      {
        cwd: ROOT,
        env: cleanEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    try {
      let out = '';
      daemon.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
      await waitFor(() => out.includes('"msg":"listening"'), 'the daemon listening', 20_000);
      const line = out.split('\n').find((l) => l.includes('"msg":"listening"')) ?? '{}';
      const listening = JSON.parse(line) as { http: { port: number }; api?: string };
      const port = listening.http.port;
      assert.equal(listening.api, `http://127.0.0.1:${port}/api`, 'the listening line names the API');
      const url = ['--url', `http://127.0.0.1:${port}`];
      assert.equal((await cli(['kv', 'put', 'cli.daemon.k', '"up"', ...url])).code, 0);
      assert.equal((await cli(['kv', 'get', 'cli.daemon.k', ...url])).stdout, 'up\n', 'a string value prints as text');
      const doc = await api(`http://127.0.0.1:${port}/api/openapi.json`);
      assert.equal(doc.status, 200);
    } finally {
      daemon.kill('SIGKILL');
    }
  });

  it('cli - usage errors exit 2; an unreachable router exits 1', async () => {
    assert.equal((await cli(['sub', 'x', '--count', 'lots', '--url', r.baseUrl])).code, 2);
    assert.equal((await cli(['kv', 'put', 'only.key', '--url', r.baseUrl])).code, 2);
    const down = await cli(['kv', 'get', 'a', '--url', 'http://127.0.0.1:9']);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /cannot reach/);
  });
});
