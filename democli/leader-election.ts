/**
 * Demo: leader election on the retained store. Every process is a candidate; one
 * leads and publishes a heartbeat carrying its fencing token, the others follow and
 * print who leads. When the leader goes away, the next candidate in line takes over.
 *
 *   npx tsx lib/cli.ts                                   # a router on ws://127.0.0.1:8080/ws
 *   npx tsx democli/leader-election.ts [--url ws://127.0.0.1:8080/ws] [--realm realm1]
 *        [--name NAME] [--interval 1000] [--observe] [--verbose]
 *
 * Start it in several terminals; stop the leader with Ctrl-C or `kill -9` and watch a
 * follower become LEADER with a larger fencing token. `--observe` only watches.
 *
 * How, in WAMP terms (fox-wamp style publish options), all on one key, democli.leader:
 *   campaign:  PUBLISH [{leader, session, interval}]
 *                { retain: true, when: null, watch: true, will: null, acknowledge: true }
 *              waits in the router's FIFO queue until the key is free; PUBLISHED's
 *              Publication ID is the revision of that write: the fencing token.
 *   heartbeat: PUBLISH [{leader, session, interval, token, beat, at}]
 *                { retain: true, when: {session}, will: null, acknowledge: true }
 *              only succeeds while we still hold the key (a deposed leader learns it
 *              here and stops); `will` is repeated because each write replaces the entry.
 *   follow:    SUBSCRIBE democli.leader { retained: true }
 *              the current value first, then every change; an event without a value
 *              is the deletion the leader's will made when its session ended.
 */
import { hostname } from 'node:os';
import { connect, describeError, errorUri, flags, positiveInt, say } from './lib/wamp-session';

const KEY = 'democli.leader';
/** Followers call a leader silent after this many missed heartbeats. */
const SILENT_AFTER_BEATS = 3;

const USAGE = `
usage: npx tsx democli/leader-election.ts [--url ws://127.0.0.1:8080/ws] [--realm realm1]
       [--name NAME] [--interval MS] [--observe] [--verbose]

  --interval MS  leader heartbeat period (default 1000)
  --observe      follow only, never run for leader
  --verbose      print every heartbeat seen
`;

interface LeaderValue {
  leader: string;
  session: number;
  token?: number;
  beat?: number;
  /** the leader's heartbeat period, so followers judge silence by its clock, not theirs */
  interval?: number;
}

function asLeaderValue(v: unknown): LeaderValue | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o['leader'] !== 'string' || typeof o['session'] !== 'number') return undefined;
  return {
    leader: o['leader'],
    session: o['session'],
    token: typeof o['token'] === 'number' ? o['token'] : undefined,
    beat: typeof o['beat'] === 'number' ? o['beat'] : undefined,
    interval: typeof o['interval'] === 'number' ? o['interval'] : undefined,
  };
}

async function main(): Promise<void> {
  const { url, realm, values } = flags(USAGE, {
    name: { type: 'string' },
    interval: { type: 'string' },
    observe: { type: 'boolean' },
    verbose: { type: 'boolean' },
  });
  const me = typeof values['name'] === 'string' ? values['name'] : `${hostname()}:${process.pid}`;
  const intervalMs = positiveInt('interval', values['interval'], 1000);
  // eslint-disable-next-line @typescript-eslint/unbound-method -- close is an arrow function
  const { session, closed, close } = await connect(url, realm);
  say(`${me}: session ${session.id} on ${url}${values['observe'] === true ? ' (observing)' : ''}`);

  let leading = false;
  let stopping = false;
  const timers: NodeJS.Timeout[] = [];

  // ---- follower side: who leads? ----
  let current: LeaderValue | undefined;
  let lastHeard = Date.now();
  let reportedSilence = false;
  await session.subscribe(
    KEY,
    (args, _kwargs, details) => {
      lastHeard = Date.now();
      reportedSilence = false;
      const v = asLeaderValue(args[0]);
      if (!v) {
        if (current)
          say(
            `no leader: ${current.leader} stepped down or its session ended (its will deleted ${KEY}); the next candidate takes over`,
          );
        current = undefined;
        return;
      }
      const changed = v.session !== current?.session;
      const tokenLearned = v.token !== undefined && v.token !== current?.token;
      current = v;
      if (v.session === session.id) return; // our own leadership: the candidate side reports it
      const origin = details.retained === true ? ' (stored value)' : '';
      if (changed && v.token === undefined) say(`${v.leader} was elected (session ${v.session})${origin}`);
      else if (changed || tokenLearned) say(`leader: ${v.leader} (fencing token ${String(v.token)})${origin}`);
      else if (values['verbose'] === true) say(`heartbeat ${String(v.beat)} from ${v.leader}`);
    },
    { retained: true },
  );
  timers.push(
    setInterval(() => {
      if (leading || !current || reportedSilence) return;
      const silent = Date.now() - lastHeard;
      if (silent > SILENT_AFTER_BEATS * (current.interval ?? intervalMs)) {
        reportedSilence = true;
        say(`leader ${current.leader} silent for ${silent} ms (still holds ${KEY}: its session is alive)`);
      }
    }, intervalMs),
  );

  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    for (const t of timers) clearInterval(t);
    if (leading) {
      try {
        await session.publish(KEY, [], {}, { retain: true, when: { session: session.id }, acknowledge: true });
        say(`${signal}: stepped down`);
      } catch (err) {
        say(`${signal}: step-down failed (${describeError(err)}); the will deletes ${KEY} as the session ends`);
      }
    } else {
      say(`${signal}: leaving`);
    }
    await close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
  void closed.then((reason) => {
    if (stopping) return;
    say(`connection to the router lost (${reason})${leading ? ': no longer LEADER' : ''}`);
    process.exit(1);
  });

  if (values['observe'] === true) return;

  // ---- candidate side ----
  const candidacy: LeaderValue = { leader: me, session: session.id, interval: intervalMs };
  let token: number;
  try {
    const elected = session.publish(
      KEY,
      [candidacy],
      {},
      { retain: true, when: null, watch: true, will: null, acknowledge: true },
    );
    if (!elected) throw new Error('autobahn returned no promise for an acknowledged publish');
    say(current ? `candidate: queued behind ${current.leader}` : `candidate: running for ${KEY}`);
    token = (await elected).id;
  } catch (err) {
    if (stopping) return;
    say(`campaign failed: ${describeError(err)}`);
    await close();
    process.exit(1);
  }
  if (stopping) return;
  leading = true;
  say(`LEADER (fencing token ${token})`);

  let beat = 0;
  const heartbeat = async (): Promise<void> => {
    const value: LeaderValue = { ...candidacy, token, beat: ++beat };
    try {
      await session.publish(
        KEY,
        [{ ...value, at: new Date().toISOString() }],
        {},
        {
          retain: true,
          when: { session: session.id },
          will: null,
          acknowledge: true,
        },
      );
      if (values['verbose'] === true) say(`LEADER: heartbeat ${beat} (fencing token ${token})`);
    } catch (err) {
      if (stopping) return;
      if (errorUri(err) === 'gatehouse.error.condition_failed') {
        // someone else holds the key: whatever we were doing as leader must stop now
        say(`deposed: ${KEY} is no longer ours (fencing token ${token}); stopping`);
        leading = false;
        await close();
        process.exit(1);
      }
      say(`heartbeat failed: ${describeError(err)}`);
    }
  };
  await heartbeat();
  timers.push(setInterval(() => void heartbeat(), intervalMs));
}

main().catch((err: unknown) => {
  process.stderr.write(`leader-election: ${describeError(err)}\n`);
  process.exit(1);
});
