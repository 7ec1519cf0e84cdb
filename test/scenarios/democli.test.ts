/**
 * The democli demos as a user runs them: child processes (`node --import tsx`),
 * observed through their output and exit status.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Router } from '../../index';
import { FIXTURE_DIR } from '../helpers/aggregate';
import { connect as connectAutobahn, wsOptions } from '../helpers/autobahn';
import { giveUpAfter } from '../helpers/wait';

const ROOT = resolve(__dirname, '..', '..');
/** tsx compiles on start-up: a demo may take a few seconds to print its first line */
const START_TIMEOUT_MS = 20_000;

interface Demo {
  readonly name: string;
  readonly lines: string[];
  kill(signal: NodeJS.Signals): void;
  /** resolves with the first line (seen or yet to come) matching `re` */
  waitFor(re: RegExp, timeoutMs: number): Promise<RegExpExecArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

function spawnDemo(t: TestContext, name: string, script: string, args: string[]): Demo {
  const child = spawn(process.execPath, ['--import', 'tsx', join('democli', script), ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const events = new EventEmitter();
  let partial = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
    events.emit('line');
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
  });
  const exited = once(child, 'exit').then(([code, signal]) => {
    events.emit('line');
    return { code: code as number | null, signal: signal as NodeJS.Signals | null };
  });
  let running = true;
  void exited.then(() => (running = false));
  t.after(async () => {
    if (running) child.kill('SIGKILL');
    await exited;
  });
  return {
    name,
    lines,
    exited,
    stderr: () => err,
    kill: (signal) => child.kill(signal),
    waitFor(re, timeoutMs) {
      return new Promise((resolveLine, reject) => {
        const check = (): boolean => {
          for (const line of lines) {
            const m = re.exec(line);
            if (m) {
              done();
              resolveLine(m);
              return true;
            }
          }
          if (!running) {
            done();
            reject(new Error(`${name} exited without printing ${String(re)}; stdout:\n${lines.join('\n')}\nstderr:\n${err}`));
            return true;
          }
          return false;
        };
        const cancel = giveUpAfter(timeoutMs, () => {
          done();
          reject(
            new Error(
              `${name} did not print ${String(re)} within ${timeoutMs} ms; stdout:\n${lines.join('\n')}\nstderr:\n${err}`,
            ),
          );
        });
        const onLine = (): void => void check();
        const done = (): void => {
          cancel();
          events.off('line', onLine);
        };
        events.on('line', onLine);
        check();
      });
    },
  };
}

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-democli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const MASTER = /MASTER \(fencing token (\d+)\)/;

test('democli - counter.ts --embedded loses no increment under compare-and-set contention', async (t) => {
  const demo = spawnDemo(t, 'counter', 'counter.ts', ['--embedded', '--clients', '4', '--increments', '25']);
  const { code } = await demo.exited;
  assert.equal(code, 0, `exit status; stdout:\n${demo.lines.join('\n')}\nstderr:\n${demo.stderr()}`);
  assert.ok(
    demo.lines.includes('counter = 100 (expected 4 x 25 = 100): OK, no lost update'),
    `final line; stdout:\n${demo.lines.join('\n')}`,
  );
});

test('democli - resource-lock.ts: one MASTER, and the waiting one takes over within 2 s of a kill -9', async (t) => {
  const dir = tempDir(t);
  const router = new Router({ log: { level: 'silent' }, store: { path: join(dir, 'store.db') } });
  t.after(() => router.close());
  const listener = await router.listenWAMP({ port: 0, host: '127.0.0.1' });
  const url = `ws://127.0.0.1:${listener.port}/ws`;

  const a = spawnDemo(t, 'lock A', 'resource-lock.ts', ['--url', url, '--name', 'A']);
  const b = spawnDemo(t, 'lock B', 'resource-lock.ts', ['--url', url, '--name', 'B']);

  // whichever process the router serves first becomes master; the other queues
  const first = await Promise.race([
    a.waitFor(MASTER, START_TIMEOUT_MS).then((m) => ({ master: a, standby: b, token: Number(m[1]) })),
    b.waitFor(MASTER, START_TIMEOUT_MS).then((m) => ({ master: b, standby: a, token: Number(m[1]) })),
  ]);
  await first.standby.waitFor(/waiting/, START_TIMEOUT_MS);
  assert.equal(
    first.standby.lines.filter((l) => MASTER.test(l)).length,
    0,
    `${first.standby.name} must not be MASTER while ${first.master.name} is`,
  );
  assert.equal(first.master.lines.filter((l) => MASTER.test(l)).length, 1);

  first.master.kill('SIGKILL');
  const killedAt = performance.now();
  const m = await first.standby.waitFor(MASTER, 2000);
  const takeoverMs = performance.now() - killedAt;
  assert.ok(takeoverMs < 2000, `took over after ${takeoverMs.toFixed(0)} ms`);
  t.diagnostic(`take-over ${takeoverMs.toFixed(0)} ms after SIGKILL (fencing token ${first.token} -> ${m[1]})`);
  assert.ok(Number(m[1]) > first.token, `the new fencing token ${m[1]} must exceed the old one ${first.token}`);
  assert.equal((await first.master.exited).signal, 'SIGKILL');

  // Ctrl-C on the new master: it releases the lock and exits cleanly
  first.standby.kill('SIGINT');
  assert.equal((await first.standby.exited).code, 0);
  assert.equal(router.store.get('realm1', 'democli.resource'), undefined, 'the lock is released');
});

test('democli - sales-dashboard.ts feeds invoice lines over MQTT and WAMP, and the customer totals appear', async (t) => {
  const dir = tempDir(t);
  const router = new Router({
    log: { level: 'silent' },
    store: { path: join(dir, 'store.db') },
    aggregate: { dir: FIXTURE_DIR },
  });
  t.after(() => router.close());
  const ws = await router.listenWAMP({ port: 0, host: '127.0.0.1' });
  const mqtt = await router.listenMQTT({ port: 0, host: '127.0.0.1' });
  const url = `ws://127.0.0.1:${ws.port}/ws`;

  const demo = spawnDemo(t, 'sales', 'sales-dashboard.ts', [
    '--url',
    url,
    '--mqtt-url',
    `mqtt://127.0.0.1:${mqtt.port}`,
    '--invoices',
    '10',
    '--interval',
    '0',
  ]);
  const { code } = await demo.exited;
  assert.equal(code, 0, `exit status; stdout:\n${demo.lines.join('\n')}\nstderr:\n${demo.stderr()}`);
  const sent = /sent (\d+) messages over MQTT and (\d+) over WAMP/.exec(demo.lines.join('\n'));
  assert.ok(
    sent && Number(sent[1]) > 0 && Number(sent[2]) > 0,
    `both protocols carried lines; stdout:\n${demo.lines.join('\n')}`,
  );

  // read the tables back over WAMP and recompute the customer totals from the lines
  const wamp = await connectAutobahn(wsOptions(url, 'json'));
  t.after(() => wamp.close());
  const { session } = wamp;
  const query = async (table: string): Promise<Record<string, unknown>[]> =>
    (await session.call<{ rows: Record<string, unknown>[] }>('gatehouse.table.query', [], { table, limit: 1000 })).rows;
  const lines = await query('detail');
  const customers = await query('customer');
  assert.ok(lines.length >= 10, `${lines.length} detail rows`);
  const expected = new Map<string, { cents: number; invoices: Set<unknown> }>();
  for (const l of lines) {
    if (l['type'] !== 'sale') continue;
    const e = expected.get(String(l['customer'])) ?? { cents: 0, invoices: new Set() };
    e.cents += Math.round(Number(l['amount']) * 100);
    e.invoices.add(l['invoice']);
    expected.set(String(l['customer']), e);
  }
  assert.deepEqual(
    customers.map((c) => [c['customer'], Math.round(Number(c['revenue']) * 100), c['invoices']]),
    [...expected].sort(([a], [b]) => a.localeCompare(b)).map(([name, e]) => [name, e.cents, e.invoices.size]),
  );
});

test('democli - sales-dashboard.ts --embedded serves the dashboard and checks its own totals', async (t) => {
  const demo = spawnDemo(t, 'sales', 'sales-dashboard.ts', ['--embedded', '--port', '0', '--invoices', '4', '--interval', '0']);
  await demo.waitFor(/dashboard: http:\/\/127\.0\.0\.1:\d+\/dashboard/, START_TIMEOUT_MS);
  const { code } = await demo.exited;
  assert.equal(code, 0, `exit status; stdout:\n${demo.lines.join('\n')}\nstderr:\n${demo.stderr()}`);
  assert.ok(
    demo.lines.some((l) => l.endsWith('customer totals match the invoice lines: OK')),
    demo.lines.join('\n'),
  );
});
