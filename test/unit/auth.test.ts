// lib/auth/ as pure logic: password hashes, the WAMP-CRA key and signature against
// autobahn's own implementation, cryptosign against tweetnacl signatures, the mapping of
// a TLS client certificate to an identity, and the audit log (which never holds a secret).
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { Authenticator, type AuthRequest } from '../../lib/auth/authenticator';
import { verifyCryptosign } from '../../lib/auth/cryptosign';
import { craSignature, deriveCraKey, hashPassword, verifyPassword } from '../../lib/auth/passwords';
import { createUserRecord } from '../../lib/auth/user-record';
import { ConfigError, resolveConfig, type UserRecord } from '../../lib/config';
import { createLogger } from '../../lib/log';
import { Metrics } from '../../lib/metrics';
import type { TransportInfo } from '../../lib/session';

const nacl = require('tweetnacl') as {
  sign: {
    keyPair(): { publicKey: Uint8Array; secretKey: Uint8Array };
    detached(msg: Uint8Array, secretKey: Uint8Array): Uint8Array;
  };
};
const cra = (
  require('autobahn') as {
    auth_cra: { derive_key(s: string, salt: string, i: number, k: number): string; sign(key: string, c: string): string };
  }
).auth_cra;
const FAST = { N: 1024, r: 8, p: 1 };
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function authenticator(auth: Record<string, unknown>, sink?: string[]): Authenticator {
  const config = resolveConfig({ auth, log: { level: 'warn' } });
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      sink?.push(chunk.toString());
      done();
    },
  });
  return new Authenticator(config, new Metrics(), createLogger({ level: 'warn', destination }), () => undefined);
}

const tcp = (peer: string, clientCertificate?: TransportInfo['clientCertificate']): TransportInfo =>
  clientCertificate === undefined ? { gate: 'mqtt', type: 'tls', peer } : { gate: 'mqtt', type: 'tls', peer, clientCertificate };

test('auth - scrypt hashes are salted and verify only the right password', async () => {
  const a = await hashPassword('correct horse', FAST);
  const b = await hashPassword('correct horse', FAST);
  assert.match(a, /^scrypt\$1024\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  assert.notEqual(a, b, 'a fresh salt per hash');
  assert.equal(await verifyPassword('correct horse', a), true);
  assert.equal(await verifyPassword('correct horse!', a), false);
  assert.equal(await verifyPassword('correct horse', 'scrypt$1024$8$1$$'), false, 'a malformed stored hash matches nothing');
});

test("auth - the WAMP-CRA key and signature match autobahn's auth_cra", () => {
  const key = deriveCraKey('s3cret', 'salt123', 1000, 32);
  assert.equal(key, cra.derive_key('s3cret', 'salt123', 1000, 32));
  const challenge = '{"authid":"a","nonce":"x"}';
  assert.equal(craSignature(key, challenge), cra.sign(key, challenge));
});

test('auth - cryptosign accepts a tweetnacl signature, bare or followed by the challenge, and nothing else', () => {
  const kp = nacl.sign.keyPair();
  const other = nacl.sign.keyPair();
  const challenge = hex(Buffer.alloc(32, 7));
  const sig = hex(nacl.sign.detached(Buffer.from(challenge, 'hex'), kp.secretKey));
  assert.equal(verifyCryptosign(challenge, sig, [hex(kp.publicKey)]), true);
  assert.equal(verifyCryptosign(challenge, sig + challenge, [hex(kp.publicKey)]), true);
  assert.equal(
    verifyCryptosign(challenge, sig + hex(Buffer.alloc(32, 8)), [hex(kp.publicKey)]),
    false,
    'a different trailing message',
  );
  assert.equal(verifyCryptosign(challenge, sig, [hex(other.publicKey)]), false);
  assert.equal(verifyCryptosign(hex(Buffer.alloc(32, 9)), sig, [hex(kp.publicKey)]), false, 'a signature of another challenge');
  assert.equal(verifyCryptosign(challenge, 'zz', [hex(kp.publicKey)]), false);
});

test('auth - a verified client certificate maps its CN to the user record, else to auth.tls.role', async () => {
  const users: UserRecord[] = [await createUserRecord({ authid: 'device-1', role: 'device', password: 'x', scrypt: FAST })];
  const cert = (cn: string, authorized = true): TransportInfo['clientCertificate'] => ({
    subject: { CN: cn, O: 'Example' },
    fingerprint256: 'AA:BB',
    authorized,
  });
  const req = (t: TransportInfo): AuthRequest => ({ realm: 'realm1', transport: t });

  const strict = authenticator({ users });
  const known = strict.tls(req(tcp('10.0.0.2:5000', cert('device-1'))));
  assert.ok(known.ok);
  assert.deepEqual(known.identity, { authid: 'device-1', authrole: 'device', authmethod: 'tls', authprovider: 'static' });
  const unknown = strict.tls(req(tcp('10.0.0.2:5000', cert('device-2'))));
  assert.equal(unknown.ok ? 'ok' : unknown.failure.reason, 'bad_certificate', 'no record and no auth.tls.role');
  const unverified = strict.tls(req(tcp('10.0.0.2:5000', cert('device-1', false))));
  assert.equal(unverified.ok ? 'ok' : unverified.failure.reason, 'bad_certificate');
  assert.equal(strict.usable(req(tcp('10.0.0.2:5000', cert('device-1'))), 'tls'), true);
  assert.equal(strict.usable(req(tcp('10.0.0.2:5000')), 'tls'), false);

  const open = authenticator({ users, tls: { role: 'certified' } });
  const mapped = open.tls(req(tcp('10.0.0.2:5000', cert('device-2'))));
  assert.ok(mapped.ok);
  assert.equal(mapped.identity.authid, 'device-2');
  assert.equal(mapped.identity.authrole, 'certified');

  // MQTT/STOMP: no password, a verified certificate: the certificate decides
  const login = await open.login(req(tcp('10.0.0.2:5000', cert('device-1'))), {
    authid: '',
    password: undefined,
    anonymousAuthid: 'c1',
  });
  assert.ok(login.ok);
  assert.equal(login.identity.authmethod, 'tls');
});

test("auth - anonymous follows the gate's own setting over auth.anonymous", () => {
  const config = resolveConfig({ auth: { anonymous: 'never' }, stomp: { anonymous: 'always' } });
  const a = new Authenticator(config, new Metrics(), createLogger({ level: 'silent' }), () => undefined);
  const on = (gate: string, peer: string): boolean =>
    a.anonymous({ realm: 'realm1', transport: { gate, type: 'tcp', peer } }, 'x').ok;
  assert.equal(on('mqtt', '127.0.0.1:1'), false);
  assert.equal(on('stomp', '10.1.2.3:1'), true);
  const loopback = new Authenticator(resolveConfig({}), new Metrics(), createLogger({ level: 'silent' }), () => undefined);
  assert.equal(
    loopback.anonymous({ realm: 'realm1', transport: { gate: 'wamp', type: 'websocket', peer: '127.0.0.1:9' } }, 'x').ok,
    true,
  );
  assert.equal(
    loopback.anonymous({ realm: 'realm1', transport: { gate: 'wamp', type: 'websocket', peer: '192.0.2.1:9' } }, 'x').ok,
    false,
    'default: loopback only',
  );
});

test('auth - an anonymous client cannot take the authid of a user record', async () => {
  const users = [await createUserRecord({ authid: 'alice', role: 'admin', password: 'pw', scrypt: FAST })];
  const a = authenticator({ users, anonymous: 'always' });
  const transport: TransportInfo = { gate: 'mqtt', type: 'tcp', peer: '127.0.0.1:1' };
  const r = await a.login({ realm: 'realm1', transport }, { authid: 'alice', password: undefined, anonymousAuthid: 'alice' });
  assert.equal(r.ok ? 'ok' : r.failure.reason, 'bad_credentials');
  assert.ok(a.anonymous({ realm: 'realm1', transport }, 'someone-else').ok);
});

test('auth - a failure is logged with peer, gate, method and authid, never the secret', async () => {
  const lines: string[] = [];
  const users = [await createUserRecord({ authid: 'alice', role: 'user', password: 'right-one', scrypt: FAST })];
  const a = authenticator({ users }, lines);
  const r = await a.password({ realm: 'realm1', transport: tcp('192.0.2.7:4242') }, 'password', 'alice', 'hunter2-wrong');
  assert.equal(r.ok, false);
  assert.equal(lines.length, 1);
  const entry = JSON.parse(lines[0] ?? '{}') as Record<string, unknown>;
  assert.equal(entry['level'], 40, 'warn');
  assert.equal(entry['peer'], '192.0.2.7:4242');
  assert.equal(entry['gate'], 'mqtt');
  assert.equal(entry['method'], 'password');
  assert.equal(entry['authid'], 'alice');
  assert.equal(entry['reason'], 'bad_credentials');
  assert.ok(!lines[0]?.includes('hunter2'), 'the secret is not logged');
});

test("auth - user records: the CLI's record holds no secret in the clear; config rejects duplicate authids", async () => {
  const r = await createUserRecord({
    authid: 'bob',
    role: 'ops',
    password: 'pa55word',
    cryptosignKeys: ['AB'.repeat(32)],
    realms: ['r1'],
    scrypt: FAST,
  });
  assert.ok(!JSON.stringify(r).includes('pa55word'));
  assert.equal(await verifyPassword('pa55word', r.password ?? ''), true);
  assert.equal(
    r.wampcra?.key,
    deriveCraKey('pa55word', r.wampcra?.salt ?? '', r.wampcra?.iterations ?? 0, r.wampcra?.keylen ?? 0),
  );
  assert.deepEqual(r.cryptosign, ['ab'.repeat(32)]);
  assert.equal(resolveConfig({ auth: { users: [r] } }).auth.users[0]?.authid, 'bob', 'a record from the CLI is valid config');
  await assert.rejects(createUserRecord({ authid: 'x', role: 'y', cryptosignKeys: ['12'] }), /Ed25519/);
  assert.throws(
    () =>
      resolveConfig({
        auth: {
          users: [
            { authid: 'a', role: 'r' },
            { authid: 'a', role: 'r' },
          ],
        },
      }),
    (e: unknown) => e instanceof ConfigError && e.problems.includes('/auth/users/1/authid duplicates user "a"'),
  );
});
