// Durable requests survive a restart: a request submitted to a router that is then
// killed (SIGKILL, no shutdown) is delivered by the next router on the same store file.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, it } from 'node:test';
import { wsOptions } from '../helpers/autobahn';
import { killChildRouters, startChildRouter } from '../helpers/child-router';
import { closeAll, connectAs, withTimeout, type Client } from '../helpers/wamp-clients';

const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-requests-'));
const clients: Client[] = [];
after(async () => {
  await closeAll(clients);
  await killChildRouters();
  rmSync(dir, { recursive: true, force: true });
});

interface Status {
  status: string;
  replies: { destination: string; args?: unknown[]; error?: string }[];
}

it('a pending request is answered by a callee that registers after the router restarted', async () => {
  const file = path.join(dir, 'store.db');
  const first = await startChildRouter(file);
  const alice = await connectAs(wsOptions(first.wsUrl, 'json'), 'alice');
  clients.push(alice);
  const { id } = await alice.session.call<{ id: string }>('gatehouse.request.submit', [
    'work.after_restart',
    [3],
    {},
    { destinations: ['svc-a', 'svc-b'], expires_in: 60 },
  ]);
  // svc-b answers before the restart: its outcome must be kept, not asked again
  let bCalls = 0;
  const b = await connectAs(wsOptions(first.wsUrl, 'json'), 'svc-b');
  clients.push(b);
  await b.session.register('work.after_restart', (args) => {
    bCalls++;
    return (args[0] as number) * 10;
  });
  const partial = await alice.session.call<Status>('gatehouse.request.get', [id, { wait: 0.2 }]);
  // svc-b's answer is in (within the wait) or about to be; wait until it is
  let seen = partial;
  for (let i = 0; i < 50 && seen.replies.length === 0; i++)
    seen = await alice.session.call<Status>('gatehouse.request.get', [id, { wait: 0.2 }]);
  assert.deepEqual(seen.replies, [{ destination: 'svc-b', args: [30], kwargs: {} }]);
  await first.kill();

  const second = await startChildRouter(file);
  const a = await connectAs(wsOptions(second.wsUrl, 'json'), 'svc-a');
  clients.push(a);
  const b2 = await connectAs(wsOptions(second.wsUrl, 'json'), 'svc-b');
  clients.push(b2);
  await b2.session.register(
    'work.after_restart',
    () => {
      bCalls++;
      return 'again';
    },
    { invoke: 'roundrobin' },
  );
  await a.session.register('work.after_restart', (args) => (args[0] as number) + 1, { invoke: 'roundrobin' });
  const alice2 = await connectAs(wsOptions(second.wsUrl, 'json'), 'alice');
  clients.push(alice2);
  const done = await withTimeout(
    alice2.session.call<Status>('gatehouse.request.get', [id, { wait: 20 }]),
    25_000,
    'the request done after the restart',
  );
  assert.equal(done.status, 'done');
  assert.deepEqual(done.replies, [
    { destination: 'svc-b', args: [30], kwargs: {} },
    { destination: 'svc-a', args: [4], kwargs: {} },
  ]);
  assert.equal(bCalls, 1);
  await second.stop();
});
