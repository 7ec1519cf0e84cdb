/**
 * A mutex under contention (docs/ARCHITECTURE.md "Retained store and sync primitives"): 20
 * autobahn clients fight for one lock 200 times in all, with the fox-wamp recipe
 * (acquire: retain + when: null + watch + will: null, acknowledged; release: a retained
 * empty publish). Mutual exclusion is checked on the clients' own clock: ordered by
 * fencing revision, each hold starts after the previous one ended; revisions strictly
 * increase; while holding, the store shows the holder with its fencing revision; and
 * every client gets the lock at least once.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startRouter, type TestRouter } from '../helpers/router';
import { autobahnTransports } from '../helpers/autobahn';
import { acquire, release, storeGet } from '../helpers/retained';
import { closeAll, connectAs, withTimeout, type Client } from '../helpers/wamp-clients';
import { pace } from '../helpers/wait';

const CLIENTS = 20;
const ACQUISITIONS = 200;
const KEY = 'contention.mutex';

let router: TestRouter;
const clients: Client[] = [];

before(async () => {
  router = await startRouter();
});
after(async () => {
  await closeAll(clients);
  await router.close();
});

interface Hold {
  holder: number;
  revision: number;
  /** when PUBLISHED granted the lock (performance.now(), this process's clock) */
  acquiredAt: number;
  /** just before the release was sent */
  releasedAt: number;
  releaseRevision: number;
}

test('retained - 20 clients fight for one lock 200 times: never two holders at once, fencing revisions increase, nobody starves', async () => {
  // every transport x serializer takes part
  for (let i = 0; i < CLIENTS; i++) {
    // fresh options per connection: autobahn keeps state in the objects it is given
    const kinds = autobahnTransports(router.wsUrl, router.rawSocketUrl);
    clients.push(await connectAs((kinds[i % kinds.length] as { options: Record<string, unknown> }).options, `c${i}`));
  }

  const holds: Hold[] = [];
  const violations: string[] = [];
  let tickets = 0;
  let holding: number | undefined;

  const worker = async (me: number): Promise<void> => {
    const s = (clients[me] as Client).session;
    while (tickets < ACQUISITIONS) {
      tickets++;
      const revision = await acquire(s, KEY, { holder: me });
      const acquiredAt = performance.now();
      if (holding !== undefined) violations.push(`c${me} acquired (rev ${revision}) while c${holding} holds`);
      holding = me;
      // hold briefly: read the lock back (the store names us, with our fencing token)
      const seen = await storeGet(s, KEY);
      if (seen?.revision !== revision || (seen.value as { holder?: number }).holder !== me) {
        violations.push(`c${me} holds rev ${revision} but the store has ${JSON.stringify(seen)}`);
      }
      if (me % 3 === 0) await pace(1); // some holders work a while: others contend meanwhile
      holding = undefined;
      const releasedAt = performance.now();
      const releaseRevision = await release(s, KEY);
      holds.push({ holder: me, revision, acquiredAt, releasedAt, releaseRevision });
    }
  };
  const started = Date.now();
  await withTimeout(Promise.all(clients.map((_, i) => worker(i))), 45_000, `${ACQUISITIONS} acquisitions`);
  const elapsed = Date.now() - started;

  assert.deepEqual(violations, []);
  assert.equal(holds.length, ACQUISITIONS);
  const byRevision = [...holds].sort((a, b) => a.revision - b.revision);
  for (let i = 1; i < byRevision.length; i++) {
    const prev = byRevision[i - 1] as Hold;
    const cur = byRevision[i] as Hold;
    assert.ok(cur.revision > prev.revision, 'fencing revisions are unique');
    assert.ok(
      prev.releaseRevision > prev.revision && cur.revision > prev.releaseRevision,
      `rev ${cur.revision} granted before rev ${prev.revision} was released (${prev.releaseRevision})`,
    );
    assert.ok(
      cur.acquiredAt >= prev.releasedAt,
      `c${cur.holder} (rev ${cur.revision}) acquired at ${cur.acquiredAt.toFixed(3)} before c${prev.holder} (rev ${prev.revision}) released at ${prev.releasedAt.toFixed(3)}`,
    );
  }
  // ordered by time of acquisition, revisions strictly increase too
  const byTime = [...holds].sort((a, b) => a.acquiredAt - b.acquiredAt);
  for (let i = 1; i < byTime.length; i++)
    assert.ok((byTime[i] as Hold).revision > (byTime[i - 1] as Hold).revision, 'a later grant has a higher fencing token');

  const perClient = new Map<number, number>();
  for (const h of holds) perClient.set(h.holder, (perClient.get(h.holder) ?? 0) + 1);
  const starved = clients.map((_, i) => i).filter((i) => !perClient.has(i));
  assert.deepEqual(starved, [], `clients that never acquired: ${starved.join(', ')}`);
  // FIFO waiters: no client is served much more often than its fair share
  const most = Math.max(...perClient.values());
  assert.ok(most <= 2 * (ACQUISITIONS / CLIENTS), `one client held the lock ${most} times`);
  assert.equal(await storeGet((clients[0] as Client).session, KEY), null, 'the lock is free at the end');
  assert.ok(elapsed < 45_000);
});
