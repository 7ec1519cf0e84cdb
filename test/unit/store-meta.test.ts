import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { payloadFromBytes } from '../../lib/payload-bytes';
import { SqliteStore } from '../../lib/store';

test('store - meta written with a value survives a reopen, and a write without meta drops it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-meta-'));
  const path = join(dir, 'db.sqlite');
  try {
    const a = new SqliteStore({ engine: 'sqlite', path });
    await a.open();
    const meta = { qos: 0, headers: { contentType: 'text/plain', correlationData: Buffer.from([1, 2]), expiresAt: 1e15 } };
    await a.write('r', 'k.meta', payloadFromBytes(Buffer.from('hello')), { meta }).committed;
    await a.write('r', 'k.plain', { args: [1] }, { meta }).committed;
    await a.write('r', 'k.plain', { args: [2] }).committed;
    await a.close();

    const b = new SqliteStore({ engine: 'sqlite', path });
    await b.open();
    const e = b.get('r', 'k.meta');
    assert.deepEqual(Buffer.from(e?.value.bytes ?? []), Buffer.from('hello'));
    assert.deepEqual(e?.meta, meta);
    const plain = b.get('r', 'k.plain');
    assert.deepEqual(plain?.value.args, [2]);
    assert.equal(plain?.meta, undefined, 'a later write without meta replaces it');
    await b.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
