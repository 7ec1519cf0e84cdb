/**
 * Errors come from the one catalogue (lib/errors.ts, issue 18): what a client or an
 * operator can meet carries a catalogue entry (a stable code), and an ad-hoc `new Error`
 * in lib/ or gates/ is left only where it says why (a programming invariant).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createUserRecord } from '../../lib/auth/user-record';
import { ed25519PublicKey } from '../../lib/auth/cryptosign';
import { readPidFile } from '../../lib/config-reload';
import { Errors, RouterError, type ErrorDef } from '../../lib/errors';
import { decodePayload } from '../../lib/store/codec';
import { decodeAttrs } from '../../lib/store/value-codec';
import { decodeToken } from '../../lib/store/jetstream/key-codec';
import { decodeValue as decodeKvValue } from '../../lib/store/jetstream/value-codec';
import { secureContextOptions, tlsServerOptions } from '../../lib/tls-options';

const repo = path.resolve(__dirname, '..', '..');

async function codeOf(fn: () => unknown): Promise<ErrorDef> {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof RouterError, `expected a RouterError, got ${String(err)}`);
    return err.def;
  }
  assert.fail('expected an error');
}

test('catalogue - stored bytes that do not decode are store_corrupt, an internal error on every protocol', async () => {
  const notAPayload = Buffer.from([0x2a]); // msgpack 42
  assert.equal(await codeOf(() => decodePayload(notAPayload)), Errors.storeCorrupt);
  assert.equal(await codeOf(() => decodeAttrs(notAPayload)), Errors.storeCorrupt);
  assert.equal(await codeOf(() => decodeKvValue(Uint8Array.of(0xff))), Errors.storeCorrupt);
  assert.equal(await codeOf(() => decodeToken('a=ZZ')), Errors.storeCorrupt);
  const { internal, storeCorrupt } = Errors;
  assert.deepEqual(
    [storeCorrupt.wamp, storeCorrupt.mqtt, storeCorrupt.stomp, storeCorrupt.http],
    [internal.wamp, internal.mqtt, internal.stomp, internal.http],
  );
  assert.equal(storeCorrupt.code, 'store_corrupt');
});

test('catalogue - operator input (user records, keys, TLS options, pid files) is invalid_argument', async () => {
  assert.equal(await codeOf(() => createUserRecord({ authid: '', role: 'r' })), Errors.invalidArgument);
  assert.equal(await codeOf(() => createUserRecord({ authid: 'a', role: 'r', cryptosignKeys: ['ab'] })), Errors.invalidArgument);
  assert.equal(await codeOf(() => ed25519PublicKey('abcd')), Errors.invalidArgument);
  assert.equal(await codeOf(() => secureContextOptions({})), Errors.invalidArgument);
  assert.equal(
    await codeOf(() => tlsServerOptions({ cert: 'c', key: 'k', requireClientCert: true }, 1000)),
    Errors.invalidArgument,
  );
  const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-pid-'));
  try {
    const file = path.join(dir, 'pid');
    writeFileSync(file, 'not a pid\n');
    assert.equal(await codeOf(() => readPidFile(file)), Errors.invalidArgument);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.join(e.parentPath, e.name));
}

test('catalogue - every ad-hoc new Error left in lib/ and gates/ says why it is not a catalogue error', () => {
  const unexplained: string[] = [];
  let seen = 0;
  for (const file of [...sources(path.join(repo, 'lib')), ...sources(path.join(repo, 'gates'))]) {
    const lines = readFileSync(file, 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (!line.includes('new Error(')) return;
      seen++;
      const context = lines.slice(Math.max(0, i - 3), i + 1).join('\n');
      if (!/not a catalogue error/.test(context)) unexplained.push(`${path.relative(repo, file)}:${i + 1}`);
    });
  }
  assert.deepEqual(unexplained, []);
  assert.ok(seen > 0, 'the scan found the invariants it is meant to check');
});
