/* eslint-disable @typescript-eslint/no-floating-promises -- the fox-wamp README snippets run verbatim, unawaited as printed */
/**
 * The fox-wamp README snippets ("Retained Storage", "lock mutex", "unlock mutex",
 * "Event Filter", node_modules/fox-wamp/README.md) run verbatim against Gatehouse with
 * the real autobahn client. Each snippet is pasted into a function that supplies the
 * free names it uses (`session`, `connection`, `unlockResource`, `console`,
 * `setTimeout`), so the snippet text itself is untouched; `console` and `setTimeout`
 * are local stand-ins that record what the snippet logs and fire its 9 s timer when the
 * test says the time is up.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { startRouter, type TestRouter } from '../../helpers/router';
import { wsOptions } from '../../helpers/autobahn';
import { Clients, Probe, retain, storeGet, storeUntil } from '../../helpers/retained';
import { withTimeout } from '../../helpers/wamp-clients';
import { expectQuiet, waitFor } from '../../helpers/wait';

/** The session surface the README snippets use (they pass `null` as Arguments). */
interface FoxSession {
  publish(
    topic: string,
    args: unknown[] | null,
    kwargs?: Record<string, unknown>,
    options?: Record<string, unknown>,
  ): Promise<{ id: number }>;
  subscribe(
    topic: string,
    handler: (args: unknown[], kwargs: Record<string, unknown>, options: Record<string, unknown>) => void,
    options?: Record<string, unknown>,
  ): Promise<unknown>;
}

/** A console stand-in: every console.log call of a snippet, in order, with a timestamp. */
class Console {
  readonly lines: { at: number; args: unknown[] }[] = [];
  private waiters: { pred: (args: unknown[]) => boolean; resolve: () => void }[] = [];
  log = (...args: unknown[]): void => {
    this.lines.push({ at: performance.now(), args });
    this.waiters = this.waiters.filter((w) => {
      if (!w.pred(args)) return true;
      w.resolve();
      return false;
    });
  };
  /** waits for a logged line whose first argument is `first` */
  line(first: string, what: string, ms = 2000): Promise<{ at: number; args: unknown[] }> {
    const find = (): { at: number; args: unknown[] } | undefined => this.lines.find((l) => l.args[0] === first);
    const found = find();
    if (found) return Promise.resolve(found);
    return withTimeout(
      new Promise<void>((resolve) => this.waiters.push({ pred: (a) => a[0] === first, resolve })),
      ms,
      what,
    ).then(() => find() as { at: number; args: unknown[] });
  }
  has(first: string): boolean {
    return this.lines.some((l) => l.args[0] === first);
  }
}

/**
 * The snippet's timer, stood in for: its delay is recorded, and its callback runs when the
 * test calls `fire` (the moment the 9 s would be up), not after any real time.
 */
class TestTimers {
  readonly requested: number[] = [];
  private readonly due: (() => void)[] = [];
  readonly schedule = (fn: () => void, ms: number): void => {
    this.requested.push(ms);
    this.due.push(fn);
  };
  fire(): void {
    const fns = this.due.splice(0);
    assert.ok(fns.length > 0, 'the snippet scheduled its timer');
    for (const fn of fns) fn();
  }
}

// ---- snippets, verbatim inside their wrappers ----
/* eslint-disable @typescript-eslint/no-unused-vars -- the README handlers name arguments they do not use */

/** README "lock mutex" */
// the snippet stays as the README prints it
// prettier-ignore
function lockMutexSnippet(session: FoxSession, connection: { close(): void }, unlockResource: () => void, console: Console, setTimeout: (fn: () => void, ms: number) => void): void {
    session.publish(
      'myapp.resource',
      [{ any: 'object', pid: process.pid, value: 'handle-resource' }],
      { any: 1 },
      { acknowledge: true, retain: true, when: null, will: null, watch: true }
    ).then(
      (result) => {
        console.log('Master Resource Locked:', result)
        setTimeout(
          unlockResource,
          9000
        )
      }, (reason) => {
        console.log('Lock FAILED', reason)
        connection.close()
      }
    )
}

/** README "unlock mutex" */
// the snippet stays as the README prints it
// prettier-ignore
function unlockMutexSnippet(session: FoxSession): void {
    session.publish(
      'myapp.resource',
      null,
      { header: 'any' },
      { acknowledge: true, retain: true }
    )
}

/** README "Retained Storage", the subscription */
// the snippet stays as the README prints it
// prettier-ignore
function retainedSubscribeSnippet(session: FoxSession, console: Console): void {
session.subscribe('key.value.#', (args, kwargs, options) => {
        console.log('event-handler', args, kwargs)
    },
    { retained: true }
)
}

/**
 * README "Retained Storage", the publication. The README text lacks the comma after
 * `watch: false` (a syntax error as printed); it is added here and nothing else changed.
 */
// the snippet stays as the README prints it
// prettier-ignore
function retainedPublishSnippet(session: FoxSession): void {
session.publish('key.value.1', [ 'args' ], { kwArgs: true }, {
    retain: true,
    when: { status: 'started' },
    watch: false,
    will: { value: 'to', publish: 'at', session: 'disconnect' }
  })
}

/** README "Event Filter"; the snippet's handler body is a comment, so a line records the call */
// the snippet stays as the README prints it
// prettier-ignore
function eventFilterSnippet(session: FoxSession, received: unknown[][]): void {
session.subscribe('some.key.#', (args, kwargs) => {
        // do some action here
        received.push(args)
    },
    { filter: { type: 'post' } }
)
}

/* eslint-enable @typescript-eslint/no-unused-vars */

// ---- tests ----

let router: TestRouter;
const clients = new Clients();

before(async () => {
  router = await startRouter();
});
afterEach(() => clients.closeAll());
after(() => router.close());

const json = (): Record<string, unknown> => wsOptions(router.wsUrl, 'json');
const fox = (c: { session: unknown }): FoxSession => c.session as FoxSession;

test('retained - README lock mutex: the first client locks, an identical second lock waits for the unlock and then gets it', async () => {
  const a = await clients.open(json(), 'a');
  const b = await clients.open(json(), 'b');
  const watcher = await clients.open(json(), 'watcher');
  const consoleA = new Console();
  const consoleB = new Console();
  const timersA = new TestTimers();
  const timersB = new TestTimers();
  const unlockedAt: Record<string, number> = {};
  let releaseB!: () => void;
  const bUnlocked = new Promise<void>((r) => (releaseB = r));

  lockMutexSnippet(
    fox(a),
    { close: () => void a.close() },
    () => {
      unlockedAt['a'] = performance.now();
      unlockMutexSnippet(fox(a));
    },
    consoleA,
    timersA.schedule,
  );
  const lockedA = await consoleA.line('Master Resource Locked:', 'A to lock the free mutex');
  const revA = (lockedA.args[1] as { id: number }).id;
  assert.ok(Number.isInteger(revA) && revA > 0, 'the publish resolves with a Publication whose id is the fencing revision');
  const held = await storeGet(watcher.session, 'myapp.resource');
  assert.deepEqual(held?.value, { any: 'object', pid: process.pid, value: 'handle-resource' });
  assert.deepEqual(held?.headers, { any: 1 }, 'ArgumentsKw are kept as headers');
  assert.equal(held?.revision, revA);

  // B's identical lock is queued while A holds the mutex
  lockMutexSnippet(
    fox(b),
    { close: () => void b.close() },
    () => {
      unlockedAt['b'] = performance.now();
      unlockMutexSnippet(fox(b));
      releaseB();
    },
    consoleB,
    timersB.schedule,
  );
  await expectQuiet();
  assert.equal(consoleB.has('Master Resource Locked:'), false, 'B must not get the mutex while A holds it');
  timersA.fire(); // A's 9 s are up: it unlocks

  const lockedB = await consoleB.line('Master Resource Locked:', 'B to lock after A unlocks', 3000);
  const unlockA = unlockedAt['a'];
  assert.ok(unlockA !== undefined && lockedB.at > unlockA, 'B got the mutex only after A unlocked it');
  const revB = (lockedB.args[1] as { id: number }).id;
  assert.ok(revB > revA, `B's fencing token ${revB} is above A's ${revA}`);
  assert.equal((await storeGet(watcher.session, 'myapp.resource'))?.revision, revB);

  timersB.fire();
  await withTimeout(bUnlocked, 2000, 'B to unlock');
  // the unlock snippet does not wait for its ack; poll the store for the deletion
  await storeUntil(
    watcher.session,
    'myapp.resource',
    (e) => e === null,
    'the README unlock (null Arguments, retain) deleted the key',
  );
  assert.equal(consoleA.has('Lock FAILED'), false);
  assert.equal(consoleB.has('Lock FAILED'), false);
  assert.deepEqual([...timersA.requested, ...timersB.requested], [9000, 9000], 'each snippet scheduled its unlock');
});

test('retained - README retained storage: a conditional retained publish is stored; a retained subscriber gets stored values first, then live ones', async () => {
  const seed = await clients.open(json(), 'seed');
  const writer = await clients.open(json(), 'writer');
  const reader = await clients.open(json(), 'reader');
  // the README publish is conditional on { status: 'started' }: make it hold
  await retain(seed.session, 'key.value.1', [{ status: 'started', since: 1 }]);
  await retain(seed.session, 'key.value.2', ['second']);
  await retain(seed.session, 'key.other', ['not matched by key.value.#']);

  retainedPublishSnippet(fox(writer));
  const stored = await storeUntil(reader.session, 'key.value.1', (e) => e?.value === 'args', 'the README publish stored');
  assert.deepEqual(stored?.headers, { kwArgs: true });

  const console = new Console();
  retainedSubscribeSnippet(fox(reader), console);
  await waitFor(() => console.lines.length >= 2, 'the two stored values of key.value.#', 2000);
  await retain(seed.session, 'key.value.3', ['live'], {}, { fresh: true });
  await waitFor(() => console.lines.length >= 3, 'the live event', 2000);
  await expectQuiet(50);
  const seen = console.lines.map((l) => l.args);
  const stored2 = seen.slice(0, 2).sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y)));
  assert.deepEqual(stored2, [
    ['event-handler', ['args'], { kwArgs: true }],
    ['event-handler', ['second'], {}],
  ]);
  assert.deepEqual(
    seen.slice(2),
    [['event-handler', ['live'], { fresh: true }]],
    'live events come after the stored ones, and key.other never',
  );

  // the README will ({ value, publish, session }) is written when the writer leaves
  await writer.close();
  const after = await storeUntil(
    reader.session,
    'key.value.1',
    (e) => e?.value !== 'args',
    'the will of the README publish written when its session left',
  );
  assert.deepEqual(after?.value, { value: 'to', publish: 'at', session: 'disconnect' });
});

test('retained - README event filter: only events whose value matches { type: post } are delivered', async () => {
  const sub = await clients.open(json(), 'sub');
  const pub = await clients.open(json(), 'pub');
  const received: unknown[][] = [];
  eventFilterSnippet(fox(sub), received);
  // the snippet does not wait for SUBSCRIBED: a round trip on the same session does
  await storeGet(sub.session, 'some.key.x');
  const published = [
    [{ type: 'post', id: 1 }],
    [{ type: 'comment', id: 2 }],
    [{ id: 3 }],
    ['post'],
    [{ type: 'post', id: 5, nested: { a: 1 } }],
    [],
  ];
  for (const args of published) {
    const p = pub.session.publish('some.key.thread.7', args, undefined, { acknowledge: true });
    await withTimeout(p ?? Promise.reject(new Error('no ack')), 2000, 'publish');
  }
  const last = new Probe(waitFor(() => received.length >= 2, 'the two matching events', 2000));
  await last.result('the two matching events');
  await expectQuiet();
  assert.deepEqual(received, [[{ type: 'post', id: 1 }], [{ type: 'post', id: 5, nested: { a: 1 } }]]);
});
