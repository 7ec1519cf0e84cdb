// `gatehouse user add` as a user runs it: a child process whose stdout is a user record
// that the config accepts and whose secrets check out, with the password given as a flag
// or typed on stdin; bad input exits 2.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { deriveCraKey, verifyPassword } from '../lib/auth/passwords';
import { resolveConfig, type UserRecord } from '../lib/config';

const ROOT = resolve(__dirname, '..');

function run(args: string[], stdin?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--require', 'tsx/cjs', 'lib/cli.ts', ...args], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}

test('cli user add - prints a record with a scrypt hash and a WAMP-CRA key of the password', async () => {
  const r = await run([
    'user',
    'add',
    'alice',
    '--role',
    'admin',
    '--password',
    'open sesame',
    '--cra-iterations',
    '500',
    '--realm',
    'r1',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const record = JSON.parse(r.stdout) as UserRecord;
  assert.equal(record.authid, 'alice');
  assert.equal(record.role, 'admin');
  assert.deepEqual(record.realms, ['r1']);
  assert.ok(!r.stdout.includes('open sesame'));
  assert.equal(await verifyPassword('open sesame', record.password ?? ''), true);
  assert.equal(record.wampcra?.iterations, 500);
  assert.equal(record.wampcra.key, deriveCraKey('open sesame', record.wampcra.salt, 500, record.wampcra.keylen));
  assert.equal(resolveConfig({ auth: { users: [record] } }).auth.users.length, 1);
});

test('cli user add - reads the password from stdin when no flag gives it; a key alone needs none', async () => {
  const typed = await run(['user', 'add', 'bob', '--role', 'ops'], 'from-stdin\n');
  assert.equal(typed.code, 0, typed.stderr);
  assert.equal(await verifyPassword('from-stdin', (JSON.parse(typed.stdout) as UserRecord).password ?? ''), true);
  const key = 'ab'.repeat(32);
  const signer = await run(['user', 'add', 'carol', '--role', 'signer', '--cryptosign-key', key]);
  assert.equal(signer.code, 0, signer.stderr);
  assert.deepEqual(JSON.parse(signer.stdout), { authid: 'carol', role: 'signer', cryptosign: [key] });
});

test('cli user add - a bad key or a missing role exits 2', async () => {
  const bad = await run(['user', 'add', 'dan', '--role', 'x', '--cryptosign-key', 'zz']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /Ed25519/);
  const noRole = await run(['user', 'add', 'dan', '--password', 'p']);
  assert.equal(noRole.code, 2);
});
