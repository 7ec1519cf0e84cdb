// Cluster RPC (issue 12) with three router processes on one nats-server: a call crosses
// processes, and when the callee's process is SIGKILLed mid-call (no goodbye, its
// sockets cut by the kernel) the callers on the other nodes get an error within the
// lease, well before their own timeout, never a hang; the dead node's callees are gone
// and the meta API counts only the nodes left.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { connect, wsOptions, type AutobahnSession } from '../helpers/autobahn';
import { killChildRouters, spawnChildRouter, type ChildProcessRouter } from '../helpers/child-router';
import { startNats } from '../helpers/nats';
import { errorUri, rejection } from '../helpers/rpc-clients';
import { suiteCleanup } from '../helpers/cluster-rpc';
import { waitFor, withTimeout, WAIT_MS } from '../helpers/wait';

const FIXTURE = path.join(__dirname, '..', 'fixtures', 'cluster-rpc-router.ts');
const HEARTBEAT_MS = 200;
const LEASE_MS = 1500;
/** a child process on a loaded machine: compile, start, join */
const START_MS = 30_000;

const cleanup = suiteCleanup(after);
const nodes: ChildProcessRouter<{ port: number }>[] = [];
const sessions: { close(): Promise<void> }[] = [];

before(async () => {
  const nats = await startNats(cleanup);
  const started = await Promise.all(
    ['p1', 'p2', 'p3'].map((id) =>
      spawnChildRouter<{ port: number }>(FIXTURE, [nats.url, id, String(HEARTBEAT_MS), String(LEASE_MS)]),
    ),
  );
  nodes.push(...started);
});
after(async () => {
  await Promise.all(sessions.map((s) => s.close().catch(() => undefined)));
  await Promise.all(nodes.map((n) => n.stop()));
  await killChildRouters();
});

async function join(node: ChildProcessRouter<{ port: number }> | undefined): Promise<AutobahnSession> {
  if (!node) throw new Error('no such node');
  const c = await withTimeout(connect(wsOptions(`ws://127.0.0.1:${node.ready.port}/ws`, 'json'), 'realm1'), WAIT_MS, 'WAMP join');
  sessions.push(c);
  return c.session;
}

/** Waits until `on` routes `uri` somewhere (the directory reached it). */
function known(on: AutobahnSession, uri: string): Promise<void> {
  return waitFor(
    async () => (await on.call<number | null>('wamp.registration.lookup', [uri])) !== null,
    `${uri} to be known`,
    START_MS,
  );
}

void test('cluster rpc processes - a call crosses processes; SIGKILL of the callee node fails the calls in flight within the lease, not at their timeout', async () => {
  const [c1, c2, c3] = await Promise.all([join(nodes[0]), join(nodes[1]), join(nodes[2])]);
  await c3.register('test.proc.echo', (args) => args[0]);
  await c2.register('test.proc.hang', () => new Promise(() => undefined)); // never answers
  await known(c1, 'test.proc.echo');
  await known(c1, 'test.proc.hang');
  await known(c3, 'test.proc.hang');
  assert.equal(await withTimeout(c1.call('test.proc.echo', ['across']), WAIT_MS, 'cross-process call'), 'across');
  // two callers, on the two nodes that stay, one with a long timeout of its own
  const noTimeout = c1.call('test.proc.hang');
  const longTimeout = c3.call('test.proc.hang', [], {}, { timeout: 60_000 });
  // the invocations are out before the kill: the echo after them went the same way
  await withTimeout(c3.call('wamp.session.count'), WAIT_MS, 'a round trip');
  const killedAt = Date.now();
  await nodes[1]?.kill();
  const [e1, e3] = await Promise.all([
    rejection(noTimeout, LEASE_MS + 5000, 'the call without timeout'),
    rejection(longTimeout, LEASE_MS + 5000, 'the call with a 60 s timeout'),
  ]);
  const elapsed = Date.now() - killedAt;
  assert.equal(errorUri(e1), 'wamp.error.unavailable');
  assert.equal(errorUri(e3), 'wamp.error.unavailable');
  assert.ok(elapsed < LEASE_MS + 3000, `the callers waited ${elapsed} ms (lease ${LEASE_MS} ms)`);
  // the dead node's callee is gone; the others still serve
  assert.equal(
    errorUri(await rejection(c1.call('test.proc.hang'), WAIT_MS, 'call to the dead node')),
    'wamp.error.no_such_procedure',
  );
  assert.equal(await withTimeout(c1.call('test.proc.echo', ['still']), WAIT_MS, 'call after the kill'), 'still');
  // the session meta API counts the nodes left (one client each; c2 died with its node)
  assert.equal(await withTimeout(c1.call('wamp.session.count'), WAIT_MS, 'count'), 2);
});
