// Durable requests (README "Durable requests"): delivered to each destination authid when
// its callee registers, one outcome each, expiry naming the destination, retries when a
// callee drops mid-call, "all", and the same from HTTP. Callees log in with ticket auth
// as users of auth.users.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createUserRecord } from '../../lib/auth/user-record';
import { connect, wsOptions, type AutobahnSession } from '../helpers/autobahn';
import { closeAll, withTimeout, type Client } from '../helpers/wamp-clients';
import { api, basic, startHttpRouter, type HttpTestRouter } from '../gates/http/helpers';

const FAST = { N: 1024, r: 8, p: 1 };
const SECRET = 's3cret';
let r: HttpTestRouter;
const clients: Client[] = [];

interface Reply {
  destination: string;
  error?: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
}
interface Status {
  status: 'pending' | 'done';
  replies: Reply[];
}

before(async () => {
  const users = await Promise.all(
    ['alice', 'svc-a', 'svc-b', 'carol'].map((authid) =>
      createUserRecord({ authid, role: authid === 'carol' ? 'limited' : 'member', password: SECRET, scrypt: FAST }),
    ),
  );
  const roles = {
    member: { permissions: [{ uri: '', match: 'prefix', allow: ['*'] }] },
    // may use the request API but not call the work procedures
    limited: { permissions: [{ uri: 'gatehouse.request.', match: 'prefix', allow: ['call'] }] },
  };
  r = await startHttpRouter({ auth: { users, roles } });
});
after(async () => {
  await closeAll(clients);
  await r.close();
});

async function login(authid: string): Promise<Client> {
  const c = await withTimeout(
    connect({ ...wsOptions(r.wsUrl, 'json'), authmethods: ['ticket'], authid, onchallenge: () => SECRET }),
    5000,
    `${authid} login`,
  );
  clients.push(c);
  return c;
}

/** registers `procedure` answering with the callee's authid; counts the calls */
async function serve(
  session: AutobahnSession,
  authid: string,
  procedure: string,
  calls: string[],
  options: Record<string, unknown> = {},
): Promise<void> {
  await session.register(
    procedure,
    (args) => {
      calls.push(authid);
      return { authid, got: args[0] };
    },
    options,
  );
}

function getDone(s: AutobahnSession, id: string): Promise<Status> {
  return withTimeout(s.call<Status>('gatehouse.request.get', [id, { wait: 20 }]), 25_000, `request ${id} done`);
}

function byDestination(st: Status): Map<string, Reply> {
  return new Map(st.replies.map((x) => [x.destination, x]));
}

describe('durable requests', () => {
  it('two destinations that register only after the request was made each answer once', async () => {
    const alice = await login('alice');
    const { id } = await alice.session.call<{ id: string }>('gatehouse.request.submit', [
      'work.late',
      [7],
      {},
      { destinations: ['svc-a', 'svc-b'], expires_in: 30 },
    ]);
    assert.equal(typeof id, 'string');
    const first = await alice.session.call<Status>('gatehouse.request.get', [id]);
    assert.deepEqual(first, { status: 'pending', replies: [] });
    const calls: string[] = [];
    const a = await login('svc-a');
    await serve(a.session, 'svc-a', 'work.late', calls, { invoke: 'roundrobin' });
    const b = await login('svc-b');
    await serve(b.session, 'svc-b', 'work.late', calls, { invoke: 'roundrobin' });
    const done = await getDone(alice.session, id);
    assert.equal(done.status, 'done');
    assert.equal(done.replies.length, 2);
    const got = byDestination(done);
    assert.deepEqual(got.get('svc-a')?.args, [{ authid: 'svc-a', got: 7 }]);
    assert.deepEqual(got.get('svc-b')?.args, [{ authid: 'svc-b', got: 7 }]);
    assert.deepEqual(calls.sort(), ['svc-a', 'svc-b']);
    await closeAll([a, b]);
  });

  it('get with receive_progress: each outcome as a progressive result as it comes, then the whole status', async () => {
    const alice = await login('alice');
    const { id } = await alice.session.call<{ id: string }>('gatehouse.request.submit', [
      'work.progress',
      [3],
      {},
      { destinations: ['svc-a', 'svc-b'], expires_in: 30 },
    ]);
    const seen: Reply[] = [];
    const call = alice.session.call('gatehouse.request.get', [id, { wait: 20 }], {}, { receive_progress: true }) as unknown as {
      then(ok: (v: unknown) => unknown, err: (e: unknown) => unknown, progress: (p: unknown) => void): Promise<unknown>;
    };
    const final = new Promise<unknown>((resolve, reject) => void call.then(resolve, reject, (p) => seen.push(p as Reply)));
    const calls: string[] = [];
    const a = await login('svc-a');
    await serve(a.session, 'svc-a', 'work.progress', calls, { invoke: 'roundrobin' });
    const b = await login('svc-b');
    await serve(b.session, 'svc-b', 'work.progress', calls, { invoke: 'roundrobin' });
    const done = (await withTimeout(final, 25_000, 'the progressive get')) as Status;
    assert.equal(done.status, 'done');
    assert.deepEqual(seen, done.replies, 'each reply came as a progressive result, in order');
    assert.equal(seen.length, 2);
    await closeAll([a, b]);
  });

  it('an absent destination expires with gatehouse.error.expired naming it', async () => {
    const alice = await login('alice');
    const calls: string[] = [];
    const a = await login('svc-a');
    await serve(a.session, 'svc-a', 'work.expiring', calls);
    const { id } = await alice.session.call<{ id: string }>('gatehouse.request.submit', [
      'work.expiring',
      [1],
      {},
      { destinations: ['svc-a', 'ghost'], expires_in: 1.5 },
    ]);
    const done = await getDone(alice.session, id);
    const got = byDestination(done);
    assert.deepEqual(got.get('svc-a')?.args, [{ authid: 'svc-a', got: 1 }]);
    assert.equal(got.get('ghost')?.error, 'gatehouse.error.expired');
    assert.equal(got.get('ghost')?.kwargs['destination'], 'ghost');
    const metric = await r.router.metrics.registry.getSingleMetricAsString('gatehouse_request_outcomes_total');
    assert.match(metric, /outcome="expired"\} [1-9]/);
    await closeAll([a]);
  });

  it('retries: a callee that drops mid-call is replaced by the next callee with that authid', async () => {
    const alice = await login('alice');
    const first = await login('svc-a');
    let invoked!: () => void;
    const wasInvoked = new Promise<void>((resolve) => (invoked = resolve));
    await first.session.register('work.flaky', () => {
      invoked();
      // the callee's session goes away while handling the call
      setImmediate(() => void first.close());
      return new Promise(() => undefined);
    });
    const { id } = await alice.session.call<{ id: string }>('gatehouse.request.submit', [
      'work.flaky',
      [2],
      {},
      { destinations: ['svc-a'], expires_in: 30, retries: 1 },
    ]);
    await withTimeout(wasInvoked, 5000, 'the first callee invoked');
    await withTimeout(first.onclose, 5000, 'the first callee gone');
    const pending = await alice.session.call<Status>('gatehouse.request.get', [id]);
    assert.equal(pending.status, 'pending');
    const calls: string[] = [];
    const second = await login('svc-a');
    await serve(second.session, 'svc-a', 'work.flaky', calls);
    const done = await getDone(alice.session, id);
    assert.deepEqual(done.replies, [{ destination: 'svc-a', args: [{ authid: 'svc-a', got: 2 }], kwargs: {} }]);
    assert.deepEqual(calls, ['svc-a']);

    // without retries the loss is the outcome
    const third = await login('svc-b');
    await third.session.register('work.flaky2', () => {
      setImmediate(() => void third.close());
      return new Promise(() => undefined);
    });
    const { id: id2 } = await alice.session.call<{ id: string }>('gatehouse.request.submit', [
      'work.flaky2',
      [],
      {},
      { destinations: ['svc-b'], expires_in: 30 },
    ]);
    const lost = await getDone(alice.session, id2);
    assert.equal(lost.replies[0]?.error, 'wamp.error.canceled');
    await closeAll([second]);
  });

  it('"all" delivers to every callee registered when the request is submitted', async () => {
    const alice = await login('alice');
    const calls: string[] = [];
    const a = await login('svc-a');
    await serve(a.session, 'svc-a', 'work.all', calls, { invoke: 'roundrobin' });
    const b = await login('svc-b');
    await serve(b.session, 'svc-b', 'work.all', calls, { invoke: 'roundrobin' });
    const { id } = await alice.session.call<{ id: string }>('gatehouse.request.submit', [
      'work.all',
      ['x'],
      {},
      { destinations: 'all', expires_in: 30 },
    ]);
    const done = await getDone(alice.session, id);
    assert.deepEqual([...byDestination(done).keys()].sort(), ['svc-a', 'svc-b']);
    assert.deepEqual(calls.sort(), ['svc-a', 'svc-b']);
    await assert.rejects(
      alice.session.call('gatehouse.request.submit', ['work.nobody', [], {}, { destinations: 'all' }]),
      (e: { error: string }) => e.error === 'wamp.error.no_such_procedure',
    );
    await closeAll([a, b]);
  });

  it("refuses a submitter without call on the target, bad options, and reading another authid's request", async () => {
    const carol = await login('carol');
    await assert.rejects(
      carol.session.call('gatehouse.request.submit', ['work.secret', [], {}, { destinations: ['svc-a'] }]),
      (e: { error: string }) => e.error === 'wamp.error.not_authorized',
    );
    const alice = await login('alice');
    await assert.rejects(
      alice.session.call('gatehouse.request.submit', ['work.x', [], {}, { destinations: [], expires_in: 5 }]),
      (e: { error: string }) => e.error === 'wamp.error.invalid_argument',
    );
    await assert.rejects(
      alice.session.call('gatehouse.request.submit', ['work.x', [], {}, { destinations: ['a'], expires_in: -1 }]),
      (e: { error: string }) => e.error === 'wamp.error.invalid_argument',
    );
    const { id } = await alice.session.call<{ id: string }>('gatehouse.request.submit', [
      'work.x',
      [],
      {},
      { destinations: ['svc-a'], expires_in: 5 },
    ]);
    await assert.rejects(
      carol.session.call('gatehouse.request.get', [id]),
      (e: { error: string }) => e.error === 'wamp.error.not_authorized',
    );
  });

  it('from HTTP: POST /api/requests is 202 {id}, GET /api/requests/{id}?wait= long-polls the outcomes', async () => {
    const auth = basic('alice', SECRET);
    const sub = await api(`${r.apiUrl}/requests`, {
      body: { procedure: 'work.http', args: [5], destinations: ['svc-b'], expires_in: 30 },
      auth,
    });
    assert.equal(sub.status, 202);
    const id = String(sub.body['id']);
    const calls: string[] = [];
    const b = await login('svc-b');
    await serve(b.session, 'svc-b', 'work.http', calls);
    const res = await withTimeout(
      fetch(`${r.apiUrl}/requests/${id}?wait=20`, { headers: { authorization: auth } }),
      25_000,
      'long poll',
    );
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {
      status: 'done',
      replies: [{ destination: 'svc-b', args: [{ authid: 'svc-b', got: 5 }], kwargs: {} }],
    });
    const bad = await api(`${r.apiUrl}/requests`, { body: { procedure: 'work.http', destinations: 'some' }, auth });
    assert.equal(bad.status, 400);
    const missing = await api(`${r.apiUrl}/requests/nope`, { auth });
    assert.equal(missing.status, 404);
    await closeAll([b]);
  });
});
