/**
 * Helpers for the retained store tests (test/gates/wamp/retained*.test.ts and the
 * retained scenarios): acknowledged retained publishes that return the fencing
 * revision, store RPC reads, a "has this promise settled yet" probe, a per-session
 * barrier, and lock acquire / release over autobahn and over a raw WAMP JSON socket.
 */
import type { AutobahnSession } from './autobahn';
import { closeAll, connectAs, withTimeout, WAIT_MS, type Client, type EventLog, type RawWampClient } from './wamp-clients';
import { waitFor } from './wait';

export const CONDITION_FAILED = 'gatehouse.error.condition_failed';

/** What gatehouse.store.get returns for a live key. */
export interface StoreEntryView {
  key: string;
  value: unknown;
  revision: number;
  headers?: Record<string, unknown>;
  expiresAt?: number;
}

/**
 * An acknowledged publish; resolves with the PUBLISHED publication id, which for a store
 * write is the key's new revision (the fencing token).
 */
export function publishAck(
  s: AutobahnSession,
  topic: string,
  args?: unknown[],
  kwargs?: Record<string, unknown>,
  options: Record<string, unknown> = {},
  ms = WAIT_MS,
): Promise<number> {
  const p = s.publish(topic, args, kwargs, { ...options, acknowledge: true });
  if (!p) throw new Error('autobahn returned no promise for an acknowledged publish');
  return withTimeout(p, ms, `PUBLISHED for ${topic}`).then((pub) => pub.id);
}

/** retain: true, acknowledged; resolves with the revision. */
export function retain(
  s: AutobahnSession,
  topic: string,
  args?: unknown[],
  options: Record<string, unknown> = {},
  kwargs?: Record<string, unknown>,
): Promise<number> {
  return publishAck(s, topic, args, kwargs, { retain: true, ...options });
}

/** The mutex of the fox-wamp README: acquire = write if absent, wait if held, unlock on loss. */
export const LOCK_OPTIONS = { acknowledge: true, retain: true, when: null, will: null, watch: true } as const;

/** Publishes a lock acquisition; resolves with the fencing revision when granted (no deadline). */
export function acquire(s: AutobahnSession, topic: string, value: unknown, extra: Record<string, unknown> = {}): Promise<number> {
  const p = s.publish(topic, [value], undefined, { ...LOCK_OPTIONS, ...extra });
  if (!p) throw new Error('no promise for an acknowledged publish');
  return p.then((pub) => pub.id);
}

/** Releases a lock (a retained empty publish deletes the key); resolves with the deletion's revision. */
export function release(s: AutobahnSession, topic: string): Promise<number> {
  return publishAck(s, topic, [], undefined, { retain: true });
}

type EventHandler = (args: unknown[], kwargs: Record<string, unknown>, details: Record<string, unknown>, sub?: unknown) => void;

const patchedSessions = new WeakSet<object>();
/** EVENT.Details of the EVENT autobahn is dispatching right now */
let wireDetails: Record<string, unknown> | undefined;

/**
 * autobahn hands event handlers a fixed Event object (publication, topic, publisher...,
 * retained) and drops every other EVENT.Details key, `revision` among them. This wraps
 * the session's EVENT dispatch to keep the message's Details while its handlers run,
 * and returns a handler that sees them merged over autobahn's Event.
 */
export function withWireDetails(s: AutobahnSession, handler: EventHandler): EventHandler {
  const map = (s as unknown as { _MESSAGE_MAP: Record<number, unknown> })._MESSAGE_MAP;
  if (!patchedSessions.has(s)) {
    const original = map[36] as (msg: unknown[]) => void;
    map[36] = (msg: unknown[]): void => {
      wireDetails = msg[3] as Record<string, unknown>;
      try {
        original(msg);
      } finally {
        wireDetails = undefined;
      }
    };
    patchedSessions.add(s);
  }
  return (args, kwargs, details, sub) => handler(args, kwargs, { ...details, ...(wireDetails ?? {}) }, sub);
}

/** Subscribes `log` with wire details (details.revision, details.retained as sent); resolves once SUBSCRIBED. */
export async function subscribeWire(
  s: AutobahnSession,
  topic: string,
  log: EventLog,
  options?: Record<string, unknown>,
): Promise<number> {
  const sub = await withTimeout(s.subscribe(topic, withWireDetails(s, log.handler), options), WAIT_MS, `SUBSCRIBED for ${topic}`);
  return sub.id;
}

/** gatehouse.store.get */
export function storeGet(s: AutobahnSession, key: string): Promise<StoreEntryView | null> {
  return withTimeout(s.call<StoreEntryView | null>('gatehouse.store.get', [key]), WAIT_MS, `gatehouse.store.get(${key})`);
}

/** Polls gatehouse.store.get until `pred` holds; resolves with the entry that made it hold. */
export async function storeUntil(
  s: AutobahnSession,
  key: string,
  pred: (e: StoreEntryView | null) => boolean,
  what: string,
  ms = 2000,
): Promise<StoreEntryView | null> {
  let e: StoreEntryView | null = null;
  await waitFor(
    async () => pred((e = await storeGet(s, key))),
    () => `${what}: store has ${JSON.stringify(e)}`,
    ms,
  );
  return e;
}

/**
 * A round trip on one session: WAMP messages of a session are handled in order, so once
 * this resolves the router has handled everything the session sent before it.
 */
export async function barrier(s: AutobahnSession): Promise<void> {
  await storeGet(s, 'gatehouse.test.barrier');
}

/** Observes a promise without consuming it: `settled` flips when it resolves or rejects. */
export class Probe<T> {
  settled = false;
  value: T | undefined;
  error: unknown;
  readonly done: Promise<void>;

  constructor(readonly promise: Promise<T>) {
    this.done = promise.then(
      (v) => {
        this.settled = true;
        this.value = v;
      },
      (err: unknown) => {
        this.settled = true;
        this.error = err;
      },
    );
  }

  /** Waits for the outcome, failing with `what` after the deadline. */
  async result(what: string, ms = WAIT_MS): Promise<T> {
    await withTimeout(this.done, ms, what);
    return this.promise; // settled: its value, or its rejection as it was
  }
}

export { pace } from './wait';

/** The WAMP error URI an autobahn rejection carries, or a description of what it was. */
export function errorUri(err: unknown): string {
  const e = err as { error?: unknown };
  return typeof e?.error === 'string' ? e.error : `not a WAMP error: ${String(err)}`;
}

/** An acknowledged PUBLISH sent by hand on a raw JSON client; resolves with PUBLISHED's id, rejects with the ERROR URI. */
export async function rawPublish(
  raw: RawWampClient,
  topic: string,
  args: unknown[],
  options: Record<string, unknown>,
  ms = WAIT_MS,
): Promise<number> {
  const req = raw.request();
  raw.send([16, req, { ...options, acknowledge: true }, topic, args]);
  const reply = await raw.next(
    (m) => (m[0] === 17 && m[1] === req) || (m[0] === 8 && m[1] === 16 && m[2] === req),
    `PUBLISHED for ${topic}`,
    ms,
  );
  if (reply[0] === 8) throw new Error(String(reply[4]));
  return reply[2] as number;
}

/** A set of autobahn clients closed together at the end of a test. */
export class Clients {
  private readonly all: Client[] = [];

  async open(options: Record<string, unknown>, authid?: string): Promise<Client> {
    const c = await connectAs(options, authid);
    this.all.push(c);
    return c;
  }

  async closeAll(): Promise<void> {
    const list = this.all.splice(0);
    await closeAll(list);
  }
}
