/**
 * Routers with links, each a child process with its own store file
 * (test/fixtures/link-router.ts), for test/scenarios/links-*.test.ts. A router keeps
 * its node id and store across restarts, so a SIGKILLed one comes back with its queue.
 */
import path from 'node:path';
import { writeJson } from './daemon';
import { spawnChildRouter, type ChildProcessRouter } from './child-router';
import { connect, type AutobahnSession } from './autobahn';
import { waitFor } from './wait';

const FIXTURE = path.join(__dirname, '..', 'fixtures', 'link-router.ts');

export interface LinkRouter extends ChildProcessRouter<{ port: number; mqttPort: number }> {
  node: string;
  wsUrl: string;
  mqttUrl: string;
}

/** Starts router `node` with its store in `dir` and `config` (links, ...) over the defaults. */
export async function startLinkRouter(dir: string, node: string, config: Record<string, unknown>): Promise<LinkRouter> {
  const file = path.join(dir, `${node}.json`);
  writeJson(file, { node, store: { path: path.join(dir, `${node}.db`) }, ...config });
  const r = await spawnChildRouter<{ port: number; mqttPort: number }>(FIXTURE, [file]);
  return Object.assign(r, { node, wsUrl: `ws://127.0.0.1:${r.ready.port}/ws`, mqttUrl: `mqtt://127.0.0.1:${r.ready.mqttPort}` });
}

/** A link config towards a peer at a local port (through a proxy in the test). */
export function linkTo(name: string, port: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, url: `ws://127.0.0.1:${port}/ws`, retryMaxMs: 300, timeoutMs: 3000, ...extra };
}

export interface LinkStatusView {
  name: string;
  state: string;
  queued: number;
  sent: number;
  acknowledged: number;
  dropped: number;
  droppedBy: Record<string, number>;
  received: number;
  oldestAgeMs: number;
  lastError?: string;
}

/** gatehouse.link.list, one link by name. */
export async function linkStatus(session: AutobahnSession, name: string): Promise<LinkStatusView> {
  const list = await session.call<LinkStatusView[]>('gatehouse.link.list');
  const found = list.find((l) => l.name === name);
  if (!found) throw new Error(`no link ${name} in ${JSON.stringify(list)}`);
  return found;
}

export async function waitForLinkState(session: AutobahnSession, name: string, state: string, ms = 20_000): Promise<void> {
  await waitFor(async () => (await linkStatus(session, name)).state === state, `link ${name} ${state}`, ms);
}

/** A WAMP client of a router, with what it received per topic pattern. */
export async function client(r: { wsUrl: string }): Promise<{
  session: AutobahnSession;
  close(): Promise<void>;
  received(pattern: string): unknown[];
  subscribe(pattern: string): Promise<{ unsubscribe(): Promise<unknown> }>;
}> {
  const c = await connect({ url: r.wsUrl });
  const got = new Map<string, unknown[]>();
  return {
    session: c.session,
    close: () => c.close(),
    received: (p) => got.get(p) ?? [],
    subscribe: async (p) => {
      got.set(p, []);
      return c.session.subscribe(p, (args) => got.get(p)?.push(args[0]));
    },
  };
}

/** An acknowledged publish (autobahn returns the promise only when asked to acknowledge). */
export function publishAcked(
  session: AutobahnSession,
  topic: string,
  value: unknown,
  options: Record<string, unknown> = {},
): Promise<{ id: number }> {
  const p = session.publish(topic, [value], {}, { acknowledge: true, ...options });
  if (!p) throw new Error('no promise for an acknowledged publish');
  return p;
}
