/**
 * Aggregate tables on a SQLite file: a restart keeps every row and the state min/max
 * need; a daemon SIGKILLed under a stream of acknowledged publications leaves every
 * acked row and no aggregate out of step (`gatehouse rebuild --verify` agrees), and the
 * rebuild command finds and fixes a row changed behind the engine's back. A bad
 * definition stops start-up naming the file and the field.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import { Router } from '../../index';
import { wsOptions } from '../helpers/autobahn';
import { FIXTURE_DIR, type Detail } from '../helpers/aggregate';
import { call, closeAll, connectAs, withTimeout, type Client } from '../helpers/wamp-clients';
import { waitFor } from '../helpers/wait';

const ROOT = path.resolve(__dirname, '..', '..');
let dir: string;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-aggregate-'));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const detail = (invoice: string, line: number, customer: string, amount: number): Detail => ({
  invoice,
  line,
  customer,
  product: 'gear',
  type: 'sale',
  amount,
});

async function openRouter(file: string, aggregates = FIXTURE_DIR): Promise<{ router: Router; client: Client }> {
  const router = new Router({ log: { level: 'silent' }, store: { path: file }, aggregate: { dir: aggregates } });
  const ws = await router.listenWAMP({ port: 0, host: '127.0.0.1' });
  const client = await connectAs(wsOptions(`ws://127.0.0.1:${ws.port}/ws`, 'json'));
  return { router, client };
}

async function allRows(client: Client, table: string): Promise<Record<string, unknown>[]> {
  const page = await call<{ rows: Record<string, unknown>[]; next: string | null }>(client.session, 'gatehouse.table.query', [], {
    table,
    limit: 1000,
  });
  assert.equal(page.next, null);
  return page.rows;
}

function put(client: Client, row: object, topic = 'table.detail'): Promise<unknown> {
  const p = client.session.publish(topic, [], { ...row }, { acknowledge: true });
  if (!p) throw new Error('no ack promise');
  return withTimeout(p, 5000, `ack of ${topic}`);
}

/** Runs lib/cli.ts with the given arguments; resolves with its exit code and output. */
function cli(
  args: string[],
  until?: (stdout: string) => boolean,
): { done: Promise<{ code: number | null; stdout: string; stderr: string }>; kill(): void; output(): string } {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('GATEHOUSE_') && k !== 'NODE_TEST_CONTEXT'),
  );
  const child = spawn(process.execPath, ['--import', 'tsx', path.join('lib', 'cli.ts'), ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString('utf8');
    if (until?.(stdout)) until = undefined;
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once('exit', (code) => resolve({ code, stdout, stderr })),
  );
  return { done, kill: () => child.kill('SIGKILL'), output: () => stdout };
}

void test('aggregate durability - a restart keeps every table, and the min/max state keeps working', async () => {
  const file = path.join(dir, 'restart.db');
  const first = await openRouter(file);
  const acks: Promise<unknown>[] = [];
  for (let i = 1; i <= 30; i++) acks.push(put(first.client, detail(`r${i % 7}`, 1 + (i % 4), `c${i % 3}`, i * 1.25)));
  await Promise.all(acks);
  await put(first.client, { invoice: 'r1', line: 2 }, 'table.detail.delete');
  const before: Record<string, Record<string, unknown>[]> = {};
  for (const t of ['detail', 'invoice', 'product', 'customer']) before[t] = await allRows(first.client, t);
  assert.ok((before['customer'] ?? []).length === 3);
  await closeAll([first.client]);
  await first.router.close();

  const second = await openRouter(file);
  try {
    for (const t of ['detail', 'invoice', 'product', 'customer'])
      assert.deepEqual(await allRows(second.client, t), before[t], `table ${t} after restart`);
    // delete every line of c0's largest invoice: the next largest must come from disk
    const c0 = (before['invoice'] ?? [])
      .filter((r) => r['customer'] === 'c0')
      .sort((a, b) => Number(b['total']) - Number(a['total']));
    const largest = c0[0];
    assert.ok(largest && c0[1]);
    for (const row of before['detail'] ?? []) {
      if (row['invoice'] === largest['invoice'] && row['customer'] === 'c0')
        await put(second.client, { invoice: row['invoice'], line: row['line'] }, 'table.detail.delete');
    }
    const got = await call<{ row: Record<string, unknown> }>(second.client.session, 'gatehouse.table.get', [], {
      table: 'customer',
      key: { customer: 'c0' },
    });
    assert.equal(got.row['largest'], c0[1]['total']);
  } finally {
    await closeAll([second.client]);
    await second.router.close();
  }
});

void test('aggregate durability - SIGKILL under load: every acked row is kept, no aggregate is out of step; rebuild finds and fixes tampering', async () => {
  const file = path.join(dir, 'crash.db');
  const config = path.join(dir, 'crash.json');
  fs.writeFileSync(
    config,
    JSON.stringify({
      http: { port: 0 },
      mqtt: { port: 0 },
      stomp: { port: 0 },
      store: { path: file },
      aggregate: { dir: FIXTURE_DIR },
      log: { level: 'info' },
    }),
  );
  let port = 0;
  const daemon = cli(['start', '-c', config], (out) => {
    const line = out.split('\n').find((l) => l.includes('"listening"'));
    if (line) port = (JSON.parse(line) as { http: { port: number } }).http.port;
    return port !== 0;
  });
  await waitFor(() => port !== 0, 'the daemon to listen', 20_000);
  const client = await connectAs(wsOptions(`ws://127.0.0.1:${port}/ws`, 'msgpack'));
  const acked: Detail[] = [];
  let n = 0;
  let lost = false;
  await new Promise<void>((resolve) => {
    let inFlight = 0;
    const pump = (): void => {
      while (!lost && inFlight < 64) {
        n++;
        // new lines on a few invoices (each acked line must survive), and updates
        const row = detail(`k${n % 40}`, n, `c${n % 5}`, (n % 97) / 4);
        let p: Promise<unknown>;
        try {
          p = put(client, row);
        } catch {
          lost = true;
          break;
        }
        inFlight++;
        p.then(
          () => {
            acked.push(row);
            inFlight--;
            if (acked.length === 1500) daemon.kill();
            if (!lost) pump();
          },
          () => {
            lost = true;
            inFlight--;
            if (inFlight === 0) resolve();
          },
        );
      }
      if (lost && inFlight === 0) resolve();
    };
    pump();
  });
  const exit = await daemon.done;
  assert.equal(exit.code, null, 'killed, not exited');
  await closeAll([client]);
  assert.ok(acked.length >= 1500);

  const verify = await cli(['rebuild', '-c', config, '--verify']).done;
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  assert.match(verify.stdout, / 0 mismatches: all match/);

  const check = new Database(file, { readonly: true });
  const stmt = check.prepare(
    "SELECT row FROM agg_row WHERE tbl = 'detail' AND json_extract(row, '$.invoice') = ? AND json_extract(row, '$.line') = ?",
  );
  const missing = acked.filter((row) => !stmt.get(row.invoice, row.line));
  check.close();
  assert.deepEqual(missing, [], 'every acknowledged row is on disk');

  // change an aggregate behind the engine's back: verify reports it, rebuild repairs it
  const raw = new Database(file);
  raw
    .prepare(
      "UPDATE agg_row SET row = json_set(row, '$.revenue', 123456) WHERE tbl = 'customer' AND json_extract(row, '$.customer') = 'c1'",
    )
    .run();
  raw.close();
  const found = await cli(['rebuild', '-c', config, '--verify']).done;
  assert.equal(found.code, 3, found.stdout + found.stderr);
  assert.match(found.stdout, /mismatch customer \{"customer":"c1"\}: stored \{[^\n]*"revenue":123456/);
  assert.match(found.stdout, / 1 mismatches: not changed \(--verify\)/);
  const fixed = await cli(['rebuild', '-c', config]).done;
  assert.equal(fixed.code, 0, fixed.stderr);
  assert.match(fixed.stdout, / 1 mismatches: rewritten from the sources/);
  const clean = await cli(['rebuild', '-c', config, '--verify']).done;
  assert.equal(clean.code, 0, clean.stdout + clean.stderr);
});

void test('aggregate durability - a bad definition stops start-up, naming the file and the field', async () => {
  const defs = path.join(dir, 'bad-defs');
  fs.mkdirSync(defs);
  for (const f of fs.readdirSync(FIXTURE_DIR)) fs.copyFileSync(path.join(FIXTURE_DIR, f), path.join(defs, f));
  const customer = JSON.parse(fs.readFileSync(path.join(defs, 'customer.json'), 'utf8')) as Record<
    string,
    Record<string, string>
  >;
  (customer['aggregate'] as Record<string, string>)['largest'] = 'maximum';
  fs.writeFileSync(path.join(defs, 'customer.json'), JSON.stringify(customer));
  const bad = path.join(defs, 'customer.json');
  const expected = `aggregate definition ${bad}: /aggregate/largest must be equal to one of the allowed values`;

  const router = new Router({ log: { level: 'silent' }, store: { path: ':memory:' }, aggregate: { dir: defs } });
  await assert.rejects(router.start(), (err: Error) => err.message === expected);
  await router.close();

  const daemon = await cli([
    'start',
    '--port',
    '0',
    '--mqtt-port',
    '0',
    '--stomp-port',
    '0',
    '--store',
    ':memory:',
    '--aggregates',
    defs,
  ]).done;
  assert.equal(daemon.code, 2);
  assert.equal(daemon.stderr.trim(), expected);
  const rebuild = await cli(['rebuild', '--store', ':memory:', '--aggregates', defs]).done;
  assert.equal(rebuild.code, 2);
  assert.equal(rebuild.stderr.trim(), expected);
});
