/**
 * Demo: a shared counter incremented by many clients at once with compare-and-set,
 * and a check that no increment was lost.
 *
 *   npx tsx democli/counter.ts --embedded [--clients 10] [--increments 100]
 *       starts its own router (store on a temporary file) and checks itself: exit
 *       status 0 when the counter ends at clients x increments, 1 otherwise
 *   npx tsx democli/counter.ts [--url ws://127.0.0.1:8080/ws] [--realm realm1] [--clients 10] [--increments 100]
 *       the same against a running router (`npx tsx lib/cli.ts`)
 *
 * Each client repeats, until it has made its increments:
 *   read:  CALL gatehouse.store.get [democli.counter] -> {key, value: {n}, revision}
 *   write: PUBLISH democli.counter [{n: n + 1}] { retain: true, when: {n}, acknowledge: true }
 * `when: {n}` makes the write conditional on the value still being what was read: if
 * another client got there first the router answers ERROR
 * gatehouse.error.condition_failed, nothing is written, and the client reads again.
 * That is how read-modify-write stays correct without a lock: no lost update.
 *
 * The counter is reset to {n: 0} at the start, so do not run two of these at once
 * against the same router.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Router } from '../index';
import { connect, describeError, errorUri, flags, positiveInt, type Connected, type StoreEntryView } from './lib/wamp-session';

const KEY = 'democli.counter';
const CONDITION_FAILED = 'gatehouse.error.condition_failed';

const USAGE = `
usage: npx tsx democli/counter.ts [--embedded | --url ws://127.0.0.1:8080/ws] [--realm realm1]
       [--clients 10] [--increments 100]

  --embedded        start a router in this process (store on a temporary file) and
                    exit 0 only if the final count is exactly clients x increments
  --clients N       concurrent sessions (default 10)
  --increments N    increments per session (default 100)
`;

interface Tally {
  conflicts: number;
}

function counterValue(entry: StoreEntryView | null): number {
  if (entry === null) throw new Error(`${KEY} is missing (deleted by someone else?)`);
  const v = entry.value as { n?: unknown } | null;
  if (typeof v !== 'object' || v === null || typeof v.n !== 'number')
    throw new Error(`${KEY} holds ${JSON.stringify(entry.value)}, not {n}`);
  return v.n;
}

/** One client: `increments` compare-and-set increments, retrying each on a conflict. */
async function runClient(c: Connected, increments: number, tally: Tally): Promise<void> {
  for (let i = 0; i < increments; i++) {
    for (;;) {
      const n = counterValue(await c.session.call<StoreEntryView | null>('gatehouse.store.get', [KEY]));
      try {
        await c.session.publish(KEY, [{ n: n + 1 }], {}, { retain: true, when: { n }, acknowledge: true });
        break;
      } catch (err) {
        if (errorUri(err) !== CONDITION_FAILED) throw err;
        tally.conflicts++; // someone incremented between our read and our write: read again
      }
    }
  }
}

async function main(): Promise<number> {
  const {
    url: givenUrl,
    realm,
    values,
  } = flags(USAGE, {
    embedded: { type: 'boolean' },
    clients: { type: 'string' },
    increments: { type: 'string' },
  });
  const clients = positiveInt('clients', values['clients'], 10);
  const increments = positiveInt('increments', values['increments'], 100);
  const expected = clients * increments;

  let router: Router | undefined;
  let dir: string | undefined;
  let url = givenUrl;
  if (values['embedded'] === true) {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-counter-'));
    router = new Router({ log: { level: 'warn' }, store: { path: join(dir, 'store.db') } });
    const listener = await router.listenWAMP({ port: 0, host: '127.0.0.1' });
    url = `ws://127.0.0.1:${listener.port}/ws`;
  }

  const sessions: Connected[] = [];
  try {
    for (let i = 0; i < clients; i++) sessions.push(await connect(url, realm));
    const first = sessions[0];
    if (!first) throw new Error('no session');
    await first.session.publish(KEY, [{ n: 0 }], {}, { retain: true, acknowledge: true });
    process.stdout.write(
      `${clients} clients x ${increments} increments of ${KEY} on ${url}${router ? ' (embedded router)' : ''}\n`,
    );

    const tally: Tally = { conflicts: 0 };
    const started = performance.now();
    await Promise.all(sessions.map((s) => runClient(s, increments, tally)));
    const seconds = (performance.now() - started) / 1000;

    const final = await first.session.call<StoreEntryView | null>('gatehouse.store.get', [KEY]);
    const n = counterValue(final);
    process.stdout.write(
      `${expected} increments in ${seconds.toFixed(2)} s (${Math.round(expected / seconds)}/s), ` +
        `${tally.conflicts} conflicts retried, revision ${final?.revision ?? '?'}\n`,
    );
    if (n === expected) {
      process.stdout.write(`counter = ${n} (expected ${clients} x ${increments} = ${expected}): OK, no lost update\n`);
      return 0;
    }
    process.stdout.write(
      `counter = ${n} (expected ${clients} x ${increments} = ${expected}): FAILED, ${expected - n} updates lost\n`,
    );
    return 1;
  } finally {
    await Promise.all(sessions.map((s) => s.close()));
    if (router) await router.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`counter: ${describeError(err)}\n`);
    process.exit(1);
  },
);
