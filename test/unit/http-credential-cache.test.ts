import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CredentialCache } from '../../gates/http/credential-cache';

const alice = { authid: 'alice', authrole: 'user', authmethod: 'password', authprovider: 'static' };

test('http credential cache - a verified user record is remembered per realm and header, for a minute', () => {
  const c = new CredentialCache();
  c.set('realm1', 'Basic abc', alice, 1000);
  assert.deepEqual(c.get('realm1', 'Basic abc', 2000), alice);
  assert.equal(c.get('realm2', 'Basic abc', 2000), undefined, 'another realm checks again (users[].realms)');
  assert.equal(c.get('realm1', 'Basic abd', 2000), undefined, 'another password checks again');
  assert.equal(c.get('realm1', 'Basic abc', 61_001), undefined, 'expired');
});

test('http credential cache - identities from the dynamic authenticator are not kept', () => {
  const c = new CredentialCache();
  c.set('realm1', 'Basic xyz', { ...alice, authprovider: 'dynamic' });
  assert.equal(c.get('realm1', 'Basic xyz'), undefined);
});

test('http credential cache - bounded: the oldest entry goes first', () => {
  const c = new CredentialCache();
  for (let i = 0; i <= 1000; i++) c.set('r', `Basic ${i}`, alice, 0);
  assert.equal(c.get('r', 'Basic 0', 1), undefined);
  assert.deepEqual(c.get('r', 'Basic 1000', 1), alice);
});
