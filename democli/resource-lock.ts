/**
 * Demo: a mutex on the retained store. Exactly one process is MASTER of a resource;
 * the others queue for it and take over when the master goes away.
 *
 *   npx tsx lib/cli.ts                                   # a router on ws://127.0.0.1:8080/ws
 *   npx tsx democli/resource-lock.ts [--url ws://127.0.0.1:8080/ws] [--realm realm1]
 *
 * Start it in several terminals. One prints `MASTER (fencing token N)`, the others
 * `waiting`. Stop the master with Ctrl-C (it releases the lock) or `kill -9` (the
 * router fires its will when the connection drops): the next one in line prints
 * MASTER within a second, with a larger fencing token.
 *
 * How, in WAMP terms (fox-wamp style publish options):
 *   acquire: PUBLISH democli.resource [{owner, session}]
 *              { retain: true, when: null, watch: true, will: null, acknowledge: true }
 *     when: null   - only if nobody holds the key;
 *     watch: true  - otherwise wait in the router's FIFO queue instead of failing;
 *     will: null   - delete the key when this session ends, however it ends;
 *     PUBLISHED    - arrives once the write is durable; its Publication ID is the
 *                    key's new revision, the fencing token.
 *   release: PUBLISH democli.resource [] { retain: true, when: {session}, acknowledge: true }
 *
 * A killed process is noticed as soon as its TCP connection closes, which the OS does
 * at once for a killed process on a live machine. A peer that vanishes without closing
 * (its host lost power, a cable pulled) is noticed by the router's WebSocket ping,
 * only after the ping interval (config `wamp.pingIntervalMs`, default 30 s: a peer that
 * stops answering is dropped 30 to 60 s later), and only then does its will fire.
 */
import { hostname } from 'node:os';
import { connect, describeError, errorUri, flags, say, type StoreEntryView } from './lib/wamp-session';

const KEY = 'democli.resource';
/** How often the master reports that it is still working. */
const WORK_REPORT_MS = 2000;

const USAGE = `
usage: npx tsx democli/resource-lock.ts [--url ws://127.0.0.1:8080/ws] [--realm realm1] [--name NAME]

Queues for the lock on ${KEY}; prints "MASTER (fencing token N)" once it holds it.
`;

interface LockValue {
  owner: string;
  session: number;
}

function isLockValue(v: unknown): v is LockValue {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as LockValue).owner === 'string' &&
    typeof (v as LockValue).session === 'number'
  );
}

async function main(): Promise<void> {
  const { url, realm, values } = flags(USAGE, { name: { type: 'string' } });
  const me = typeof values['name'] === 'string' ? values['name'] : `${hostname()}:${process.pid}`;
  // eslint-disable-next-line @typescript-eslint/unbound-method -- close is an arrow function
  const { session, closed, close } = await connect(url, realm);
  say(`${me}: session ${session.id} on ${url}, asking for ${KEY}`);

  // eslint-disable-next-line prefer-const -- set once the lock is held; the stop handler reads it before
  let token: number | undefined;
  let stopping = false;
  // eslint-disable-next-line prefer-const -- set once the lock is held; the stop handler reads it before
  let workTimer: NodeJS.Timeout | undefined;

  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    if (workTimer) clearInterval(workTimer);
    if (token !== undefined) {
      // Release only our own lock; the will would delete it anyway when we leave, but
      // an explicit release hands over without waiting for the session to close.
      try {
        await session.publish(KEY, [], {}, { retain: true, when: { session: session.id }, acknowledge: true });
        say(`${signal}: released ${KEY} (fencing token ${token})`);
      } catch (err) {
        say(`${signal}: release failed (${describeError(err)}); the will releases it as the session ends`);
      }
    } else {
      say(`${signal}: leaving the queue`);
    }
    await close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));

  void closed.then((reason) => {
    if (stopping) return;
    say(`connection to the router lost (${reason}): ${token !== undefined ? 'no longer MASTER' : 'left the queue'}`);
    process.exit(1);
  });

  const value: LockValue = { owner: me, session: session.id };
  const acquired = session.publish(KEY, [value], {}, { retain: true, when: null, watch: true, will: null, acknowledge: true });
  if (!acquired) throw new Error('autobahn returned no promise for an acknowledged publish');

  // Who holds it? Asked after the publish on the same session, so the router has
  // already seen our request: if the holder is us we are about to be MASTER.
  session.call<StoreEntryView | null>('gatehouse.store.get', [KEY]).then(
    (entry) => {
      if (token !== undefined || stopping) return;
      const holder = entry && isLockValue(entry.value) ? entry.value : undefined;
      if (holder?.session === session.id) return;
      const by = holder
        ? `${holder.owner} (session ${holder.session}, fencing token ${entry?.revision ?? '?'})`
        : 'another session';
      say(`waiting: ${KEY} is held by ${by}; queued behind it`);
    },
    (err: unknown) => say(`could not read ${KEY}: ${describeError(err)}`),
  );

  let publication: { id: number };
  try {
    publication = await acquired;
  } catch (err) {
    if (stopping) return;
    say(
      `could not acquire ${KEY}: ${describeError(err)}${errorUri(err) === 'wamp.error.feature_not_supported' ? ' (start the router with a store)' : ''}`,
    );
    await close();
    process.exit(1);
  }
  if (stopping) return;
  const fencing = publication.id;
  token = fencing;
  say(`MASTER (fencing token ${fencing})`);
  // A real master would pass the token along with every write to the resource, and the
  // resource would refuse tokens lower than the highest it has seen: a paused old
  // master that wakes up after losing the lock then cannot do harm.
  const since = Date.now();
  workTimer = setInterval(() => {
    say(`MASTER: working on the resource for ${Math.round((Date.now() - since) / 1000)} s (fencing token ${fencing})`);
  }, WORK_REPORT_MS);
}

main().catch((err: unknown) => {
  process.stderr.write(`resource-lock: ${describeError(err)}\n`);
  process.exit(1);
});
