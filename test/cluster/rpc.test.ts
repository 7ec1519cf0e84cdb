// Cluster RPC (issue 12): three routers in one process, each on its own NATS connection
// to one nats-server, with ClusterRpc attached; callers and callees on different nodes.
// A call reaches a callee on any node; shared registration policies and fox-wamp
// concurrency hold over the callees of the whole cluster; progressive results and
// invocations, cancel in every mode and timeouts work across nodes; payloads pass
// exactly; a node that stops answering fails its calls within the lease.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { startRpcCluster, startRpcNode, suiteCleanup, LEASE_MS, type RpcCluster, type RpcNode } from '../helpers/cluster-rpc';
import { connectMqtt, endAll, MessageLog, metricValue, subscribe, uniqueId } from '../helpers/mqtt-clients';
import {
  asBytes,
  ClientPool,
  errorUri,
  rawRoles,
  rejection,
  rpcTransports,
  within,
  type AutobahnClient,
  type WampMessage,
} from '../helpers/rpc-clients';
import { waitFor, WAIT_MS } from '../helpers/wait';
import { encode } from '../../lib/cluster/rpc/wire';
import { autobahn as autobahnModule } from '../helpers/autobahn';
import type { MqttClient } from 'mqtt';
import { Inbox, StompjsClients, subscribeConfirmed } from '../helpers/stomp-clients';

let cluster: RpcCluster;
let n1: RpcNode;
let n2: RpcNode;
let n3: RpcNode;
const pools = new Map<RpcNode, ClientPool>();
const mqttClients: MqttClient[] = [];
const stompjs = new StompjsClients();
const cleanup = suiteCleanup(after);

before(async () => {
  cluster = await startRpcCluster(cleanup, 3);
  [n1, n2, n3] = cluster.nodes as [RpcNode, RpcNode, RpcNode];
  for (const n of cluster.nodes) pools.set(n, new ClientPool(n.t));
});
afterEach(async () => {
  await Promise.all([...pools.values()].map((p) => p.closeAll()));
  await endAll(mqttClients.splice(0));
  await stompjs.closeAll();
});

function pool(n: RpcNode): ClientPool {
  const p = pools.get(n);
  if (!p) throw new Error(`no pool for ${n.name}`);
  return p;
}

function autobahn(n: RpcNode, serializer: 'json' | 'msgpack' | 'cbor' = 'json'): Promise<AutobahnClient> {
  const tr = rpcTransports(n.t).find((x) => x.name === `websocket/${serializer}`);
  if (!tr) throw new Error(`no websocket/${serializer} transport`);
  return pool(n).autobahn(tr);
}

const isInvocation = (m: WampMessage): boolean => m[0] === 68;
const isInterrupt = (m: WampMessage): boolean => m[0] === 69;

void describe('cluster rpc - routing', () => {
  void test('cluster rpc - a caller on one node reaches a callee on another; args, kwargs and caller disclosure pass', async () => {
    const callee = await autobahn(n2);
    const caller = await autobahn(n1);
    const seen: Record<string, unknown>[] = [];
    await callee.session.register('test.cluster.echo', (args, kwargs, details) => {
      seen.push(details);
      return new autobahnModule.Result(args, kwargs);
    });
    await cluster.waitCallees('test.cluster.echo', 1);
    const r = await within(
      caller.session.call<{ args: unknown[]; kwargs: Record<string, unknown> }>(
        'test.cluster.echo',
        [1, 'two', { three: [3] }, 2 ** 53 - 1],
        { k: null, nested: { a: [true, false] } },
        { disclose_me: true },
      ),
      WAIT_MS,
      'cross-node call',
    );
    assert.deepEqual(r.args, [1, 'two', { three: [3] }, 2 ** 53 - 1]);
    assert.deepEqual(r.kwargs, { k: null, nested: { a: [true, false] } });
    assert.equal(seen[0]?.['caller'], caller.session.id, 'the callee sees the real caller id');
  });

  void test('cluster rpc - binary arguments cross the cluster byte for byte (msgpack caller and callee on different nodes)', async () => {
    const callee = await autobahn(n3, 'msgpack');
    const caller = await autobahn(n1, 'cbor');
    const bytes = new Uint8Array(256).map((_, i) => i);
    let got: unknown;
    await callee.session.register('test.cluster.binary', (args, kwargs) => {
      got = args[0];
      return new autobahnModule.Result([args[0], kwargs['b']]);
    });
    await cluster.waitCallees('test.cluster.binary', 1);
    const r = await within(
      caller.session.call<{ args: unknown[] }>('test.cluster.binary', [bytes], { b: bytes.subarray(10, 20) }),
      WAIT_MS,
      'binary call',
    );
    assert.deepEqual(asBytes(got), Buffer.from(bytes));
    const [a, b] = r.args;
    assert.deepEqual(asBytes(a), Buffer.from(bytes));
    assert.deepEqual(asBytes(b), Buffer.from(bytes.subarray(10, 20)));
  });

  void test('cluster rpc - no callee on any node: wamp.error.no_such_procedure; a callee that unregisters is gone everywhere', async () => {
    const caller = await autobahn(n1);
    assert.equal(
      errorUri(await rejection(caller.session.call('test.cluster.nobody'), WAIT_MS, 'call to nobody')),
      'wamp.error.no_such_procedure',
    );
    const callee = await autobahn(n2);
    const reg = await callee.session.register('test.cluster.brief', () => 'here');
    await cluster.waitCallees('test.cluster.brief', 1);
    assert.equal(await within(caller.session.call('test.cluster.brief'), WAIT_MS, 'call while registered'), 'here');
    await reg.unregister();
    await cluster.waitCallees('test.cluster.brief', 0);
    assert.equal(
      errorUri(await rejection(caller.session.call('test.cluster.brief'), WAIT_MS, 'call after unregister')),
      'wamp.error.no_such_procedure',
    );
  });

  void test('cluster rpc - an MQTT $rpc/ caller on one node calls a WAMP callee on another (protocol-independent)', async () => {
    const callee = await autobahn(n3);
    await callee.session.register('test.cluster.add', (args) => (args as number[]).reduce((a, b) => a + b, 0));
    await cluster.waitCallees('test.cluster.add', 1);
    const log = new MessageLog();
    const { client } = await connectMqtt(n1.t.mqttUrl, { protocolVersion: 5, clientId: uniqueId('crpc') }, log);
    mqttClients.push(client);
    await subscribe(client, 'replies/crpc', { qos: 1 });
    await client.publishAsync('$rpc/test.cluster.add', '[2, 3, 37]', {
      qos: 1,
      properties: { responseTopic: 'replies/crpc', correlationData: Buffer.from('c1') },
    });
    const [m] = await log.count(1, 'the $rpc reply');
    assert.equal(m?.payload.toString(), '42');
    assert.deepEqual(m?.packet.properties?.correlationData, Buffer.from('c1'));
  });
  void test('cluster rpc - a STOMP caller (SEND to /rpc/) on one node calls a WAMP callee on another', async () => {
    const callee = await autobahn(n1);
    await callee.session.register('test.cluster.stomp', (args, kwargs) => ({ args, kwargs }));
    await cluster.waitCallees('test.cluster.stomp', 1);
    const { client } = await stompjs.tcp(n2.t.stompPort);
    const replies = new Inbox();
    await subscribeConfirmed(client, '/temp-queue/crpc', replies, { id: 'crpc' });
    client.publish({
      destination: '/rpc/test.cluster.stomp',
      body: '{"a":[1,2]}',
      headers: { 'reply-to': '/temp-queue/crpc', 'correlation-id': 's-1' },
    });
    const [reply] = await replies.count(1, 'the /rpc/ reply');
    assert.deepEqual(JSON.parse(reply?.body ?? ''), { args: [], kwargs: { a: [1, 2] } });
    assert.equal(reply?.headers['correlation-id'], 's-1');
  });
});

void describe('cluster rpc - shared registration policies over the whole cluster', () => {
  /** one callee per node, registered in the order given; each answers with its node name */
  async function spread(uri: string, invoke: string, order: RpcNode[]): Promise<void> {
    let i = 0;
    for (const n of order) {
      const c = await autobahn(n);
      await c.session.register(uri, () => n.name, { invoke });
      await cluster.waitCallees(uri, ++i);
    }
  }

  async function calls(from: RpcNode, uri: string, count: number): Promise<string[]> {
    const caller = await autobahn(from);
    const out: string[] = [];
    for (let i = 0; i < count; i++) out.push(await within(caller.session.call<string>(uri), WAIT_MS, `call ${i}`));
    return out;
  }

  void test('cluster rpc - roundrobin takes the callees of every node in turn', async () => {
    await spread('test.cluster.rr', 'roundrobin', [n1, n2, n3]);
    const got = await calls(n2, 'test.cluster.rr', 6);
    assert.deepEqual(got, ['node-1', 'node-2', 'node-3', 'node-1', 'node-2', 'node-3']);
  });

  void test('cluster rpc - roundrobin keeps one turn for the whole cluster: callers on every node take the callees in turn', async () => {
    const uri = 'test.cluster.rr.everywhere';
    await spread(uri, 'roundrobin', [n3, n1, n2]);
    const callers = await Promise.all([autobahn(n2), autobahn(n3), autobahn(n1)]);
    const got: string[] = [];
    // one call at a time, each from the next node's caller: a turn kept per caller node
    // would send each node's first call to the same callee
    for (let i = 0; i < 9; i++) {
      const caller = callers[i % callers.length];
      if (!caller) throw new Error('no caller');
      got.push(await within(caller.session.call<string>(uri), WAIT_MS, `call ${i}`));
    }
    assert.deepEqual(got, ['node-3', 'node-1', 'node-2', 'node-3', 'node-1', 'node-2', 'node-3', 'node-1', 'node-2']);
  });

  void test('cluster rpc - roundrobin spreads concurrent calls from several nodes evenly over the callees of every node', async () => {
    const uri = 'test.cluster.rr.even';
    await spread(uri, 'roundrobin', [n1, n2, n3]);
    const [x, y] = await Promise.all([autobahn(n2), autobahn(n3)]);
    // uneven callers: 2 calls from node-2, 4 from node-3, at once; per-node turns would
    // give node-1 three of the six (each node's turn starts at the first callee)
    const all = [
      ...Array.from({ length: 2 }, () => x.session.call<string>(uri)),
      ...Array.from({ length: 4 }, () => y.session.call<string>(uri)),
    ];
    const got = await within(Promise.all(all), WAIT_MS, 'six concurrent calls');
    const per = new Map<string, number>();
    for (const n of got) per.set(n, (per.get(n) ?? 0) + 1);
    assert.deepEqual(Object.fromEntries([...per].sort()), { 'node-1': 2, 'node-2': 2, 'node-3': 2 });
  });

  void test('cluster rpc - first and last mean the same callee on every node (registration order across the cluster)', async () => {
    await spread('test.cluster.first', 'first', [n2, n3, n1]);
    for (const from of [n1, n2, n3])
      assert.deepEqual(await calls(from, 'test.cluster.first', 2), ['node-2', 'node-2'], `first, called from ${from.name}`);
    await spread('test.cluster.last', 'last', [n3, n1, n2]);
    for (const from of [n1, n2, n3])
      assert.deepEqual(await calls(from, 'test.cluster.last', 2), ['node-2', 'node-2'], `last, called from ${from.name}`);
  });

  void test('cluster rpc - first agrees on every node even when two nodes register at the same moment', async () => {
    const uri = 'test.cluster.first.race';
    const [x, y] = await Promise.all([autobahn(n1), autobahn(n3)]);
    // each node has its own callee before it hears of the other's: arrival order differs per node
    await Promise.all([
      x.session.register(uri, () => 'node-1', { invoke: 'first' }),
      y.session.register(uri, () => 'node-3', { invoke: 'first' }),
    ]);
    await cluster.waitCallees(uri, 2);
    const answers = new Set<string>();
    for (const from of [n1, n2, n3]) for (const a of await calls(from, uri, 2)) answers.add(a);
    assert.equal(answers.size, 1, `first went to ${[...answers].join(' and ')}`);
  });

  void test('cluster rpc - random reaches callees on several nodes', async () => {
    await spread('test.cluster.random', 'random', [n1, n2, n3]);
    const got = new Set(await calls(n1, 'test.cluster.random', 30));
    assert.ok(got.size >= 2, `30 random calls reached only ${[...got].join(', ')}`);
  });

  void test('cluster rpc - single refuses a second registration on another node with wamp.error.procedure_already_exists; a different policy is refused too', async () => {
    const first = await autobahn(n1);
    await first.session.register('test.cluster.single', () => 'one');
    await cluster.waitCallees('test.cluster.single', 1);
    const second = await autobahn(n3);
    const e = await rejection(
      second.session.register('test.cluster.single', () => 'two'),
      WAIT_MS,
      'second single registration',
    );
    assert.equal(errorUri(e), 'wamp.error.procedure_already_exists');
    const shared = await autobahn(n2);
    await shared.session.register('test.cluster.shared', () => 'rr', { invoke: 'roundrobin' });
    await cluster.waitCallees('test.cluster.shared', 1);
    const e2 = await rejection(
      second.session.register('test.cluster.shared', () => 'first', { invoke: 'first' }),
      WAIT_MS,
      'other policy',
    );
    assert.equal(errorUri(e2), 'wamp.error.procedure_exists_with_different_invocation_policy');
  });

  void test('cluster rpc - single registered on two nodes at the same moment: the earlier one stays, the later is revoked', async () => {
    const a = await pool(n1).raw({ callee: { features: { registration_revocation: true } } });
    const b = await pool(n2).raw({ callee: { features: { registration_revocation: true } } });
    // both before either node has heard of the other
    a.send([64, 1, {}, 'test.cluster.race']);
    b.send([64, 1, {}, 'test.cluster.race']);
    // both accepted: neither node had heard of the other's yet
    await a.take((m) => m[0] === 65, WAIT_MS, 'REGISTERED a');
    await b.take((m) => m[0] === 65, WAIT_MS, 'REGISTERED b');
    // then one of the two is told its registration is gone, and the cluster agrees on the other
    // UNREGISTERED with request 0: WAMP advanced, registration revocation
    const isRevocation = (m: WampMessage): boolean => m[0] === 67 && m[1] === 0;
    const loser = await within(
      new Promise<'a' | 'b'>((resolve) => {
        void a.take(isRevocation, WAIT_MS, 'UNREGISTERED a').then(
          () => resolve('a'),
          () => undefined,
        );
        void b.take(isRevocation, WAIT_MS, 'UNREGISTERED b').then(
          () => resolve('b'),
          () => undefined,
        );
      }),
      WAIT_MS,
      'one of the two to be revoked',
    );
    const winner = loser === 'a' ? b : a;
    const other = loser === 'a' ? a : b;
    await other.none(isRevocation, 200, 'only one revoked');
    await cluster.waitCallees('test.cluster.race', 1);
    const routed = cluster.nodes.map(
      (n) => n.t.router.findRealm('realm1')?.dealer.lookup('test.cluster.race')?.callees[0]?.session.id,
    );
    assert.deepEqual(routed, [winner.sessionId, winner.sessionId, winner.sessionId], 'every node routes to the winner');
    const caller = await autobahn(n3);
    const call = caller.session.call('test.cluster.race');
    const inv = await winner.take(isInvocation, WAIT_MS, 'INVOCATION on the winner');
    winner.send([70, inv[1], {}, ['won']]);
    assert.equal(await within(call, WAIT_MS, 'call to the winner'), 'won');
  });
});

void describe('cluster rpc - concurrency, progress, cancel and timeout across nodes', () => {
  void test('cluster rpc - fox-wamp concurrency 1 holds for callers on two other nodes: the second call waits for the first', async () => {
    const callee = await pool(n2).raw(rawRoles());
    await callee.register(1, 'test.cluster.conc', { concurrency: 1 });
    await cluster.waitCallees('test.cluster.conc', 1);
    const c1 = await autobahn(n1);
    const c3 = await autobahn(n3);
    const p1 = c1.session.call('test.cluster.conc', ['from n1']);
    const p3 = c3.session.call('test.cluster.conc', ['from n3']);
    const first = await callee.take(isInvocation, WAIT_MS, 'first INVOCATION');
    await callee.none(isInvocation, 300, 'no second INVOCATION while the first runs');
    callee.send([70, first[1], {}, ['done 1']]);
    const second = await callee.take(isInvocation, WAIT_MS, 'second INVOCATION, once the first ended');
    callee.send([70, second[1], {}, ['done 2']]);
    const results = await within(Promise.all([p1, p3]), WAIT_MS, 'both calls');
    assert.deepEqual(new Set(results), new Set(['done 1', 'done 2']));
    assert.notDeepEqual(first[4], second[4]);
  });

  void test("cluster rpc - a call waiting on the callee's node for a busy callee (concurrency) is canceled there: the callee never sees it", async () => {
    const callee = await pool(n2).raw(rawRoles({ canceling: true }));
    await callee.register(1, 'test.cluster.conc.cancel', { concurrency: 1 });
    await cluster.waitCallees('test.cluster.conc.cancel', 1);
    const busy = await pool(n1).raw();
    const waiting = await pool(n3).raw();
    busy.send([48, 1, {}, 'test.cluster.conc.cancel', ['busy']]);
    const first = await callee.take(isInvocation, WAIT_MS, 'first INVOCATION');
    // node-3 does not know the callee is busy: its call goes out and waits on node-2
    waiting.send([48, 2, {}, 'test.cluster.conc.cancel', ['waits']]);
    await callee.none(isInvocation, 200, 'the second call waits');
    waiting.send([49, 2, { mode: 'kill' }]);
    const err = await waiting.take((m) => m[0] === 8, WAIT_MS, 'ERROR for the canceled waiting call');
    assert.deepEqual(err.slice(0, 5), [8, 48, 2, {}, 'wamp.error.canceled']);
    callee.send([70, first[1], {}, ['done']]);
    assert.deepEqual(await busy.take((m) => m[0] === 50, WAIT_MS, 'first RESULT'), [50, 1, {}, ['done']]);
    await callee.none(isInvocation, 300, 'the canceled call never reaches the callee');
  });

  void test('cluster rpc - roundrobin with concurrency 1 across nodes: a third call waits at the node keeping the turn for a free callee; canceled there, it never reaches a callee', async () => {
    const uri = 'test.cluster.rr.conc';
    // node-1's callee registers first: node-1 keeps the turn
    const a = await pool(n1).raw(rawRoles({ canceling: true }));
    await a.register(1, uri, { invoke: 'roundrobin', concurrency: 1 });
    await cluster.waitCallees(uri, 1);
    const b = await pool(n2).raw(rawRoles({ canceling: true }));
    await b.register(1, uri, { invoke: 'roundrobin', concurrency: 1 });
    await cluster.waitCallees(uri, 2);
    const caller = await pool(n3).raw(rawRoles({ canceling: true }));
    caller.send([48, 1, {}, uri, ['one']]);
    const invA = await a.take(isInvocation, WAIT_MS, 'INVOCATION on node-1');
    caller.send([48, 2, {}, uri, ['two']]);
    const invB = await b.take(isInvocation, WAIT_MS, 'INVOCATION on node-2');
    caller.send([48, 3, {}, uri, ['three']]);
    caller.send([48, 4, {}, uri, ['four']]);
    await a.none(isInvocation, 200, 'node-1 busy: no second INVOCATION');
    await b.none(isInvocation, 10, 'node-2 busy: no second INVOCATION');
    caller.send([49, 3, { mode: 'kill' }]);
    const err = await caller.take((m) => m[0] === 8, WAIT_MS, 'ERROR for the canceled waiting call');
    assert.deepEqual(err.slice(0, 5), [8, 48, 3, {}, 'wamp.error.canceled']);
    b.send([70, invB[1], {}, ['b']]);
    assert.deepEqual(await caller.take((m) => m[0] === 50 && m[1] === 2, WAIT_MS, 'RESULT 2'), [50, 2, {}, ['b']]);
    // the fourth call, not the canceled third, takes the freed callee
    const next = await b.take(isInvocation, WAIT_MS, 'the waiting call on the freed callee');
    assert.deepEqual(next[4], ['four']);
    a.send([70, invA[1], {}, ['a']]);
    b.send([70, next[1], {}, ['b again']]);
    assert.deepEqual(await caller.take((m) => m[0] === 50 && m[1] === 1, WAIT_MS, 'RESULT 1'), [50, 1, {}, ['a']]);
    assert.deepEqual(await caller.take((m) => m[0] === 50 && m[1] === 4, WAIT_MS, 'RESULT 4'), [50, 4, {}, ['b again']]);
    await a.none(isInvocation, 200, 'the canceled call never reaches a callee');
  });

  void test('cluster rpc - progressive results reach a caller on another node, in order, then the final result', async () => {
    const callee = await pool(n3).raw(rawRoles({ progressive: true }));
    await callee.register(1, 'test.cluster.progress');
    await cluster.waitCallees('test.cluster.progress', 1);
    const caller = await pool(n1).raw();
    caller.send([48, 7, { receive_progress: true }, 'test.cluster.progress', ['go']]);
    const inv = await callee.take(isInvocation, WAIT_MS, 'INVOCATION');
    assert.equal((inv[3] as Record<string, unknown>)['receive_progress'], true);
    callee.send([70, inv[1], { progress: true }, [1]]);
    callee.send([70, inv[1], { progress: true }, [2], { half: true }]);
    callee.send([70, inv[1], {}, ['end']]);
    const got = [
      await caller.take((m) => m[0] === 50, WAIT_MS, 'progress 1'),
      await caller.take((m) => m[0] === 50, WAIT_MS, 'progress 2'),
      await caller.take((m) => m[0] === 50, WAIT_MS, 'final'),
    ];
    assert.deepEqual(got, [
      [50, 7, { progress: true }, [1]],
      [50, 7, { progress: true }, [2], { half: true }],
      [50, 7, {}, ['end']],
    ]);
  });

  void test('cluster rpc - progressive call invocations: chunks from a caller on one node reach a callee on another, in order', async () => {
    const callee = await pool(n2).raw(rawRoles({ progressive: true }));
    const regId = await callee.register(1, 'test.cluster.chunks');
    await cluster.waitCallees('test.cluster.chunks', 1);
    const caller = await pool(n3).raw();
    caller.send([48, 21, { progress: true }, 'test.cluster.chunks', ['a']]);
    caller.send([48, 21, { progress: true }, 'test.cluster.chunks', ['b'], { k: 1 }]);
    caller.send([48, 21, {}, 'test.cluster.chunks', ['c']]);
    const first = await callee.take(isInvocation, WAIT_MS, 'first INVOCATION');
    const second = await callee.take(isInvocation, WAIT_MS, 'second INVOCATION');
    const third = await callee.take(isInvocation, WAIT_MS, 'third INVOCATION');
    assert.deepEqual(first, [68, first[1], regId, { progress: true }, ['a']]);
    assert.deepEqual(second, [68, first[1], regId, { progress: true }, ['b'], { k: 1 }]);
    assert.deepEqual(third, [68, first[1], regId, {}, ['c']]);
    callee.send([70, first[1], {}, ['abc']]);
    assert.deepEqual(await caller.take((m) => m[0] === 50, WAIT_MS, 'RESULT'), [50, 21, {}, ['abc']]);
  });

  void test('cluster rpc - wampy streams both ways across nodes: chunks in, progressive results out (msgpack callee, json caller)', async () => {
    const callee = await pool(n3).wampy('msgpack');
    const caller = await pool(n1).wampy('json');
    const uri = 'test.cluster.stream';
    const calls: { progress: unknown; args: unknown }[] = [];
    let total = 0;
    await callee.register(uri, (inv) => {
      calls.push({ progress: inv.details['progress'], args: inv.argsList });
      total += (inv.argsList?.[0] as number | undefined) ?? 0;
      if (inv.details['progress'] === true) return { argsList: [total], options: { progress: true } };
      return { argsList: ['sum', total] };
    });
    await cluster.waitCallees(uri, 1);
    const progress: unknown[] = [];
    const pc = caller.progressiveCall(uri, [1], {
      progress_callback: (p: { argsList?: unknown[] }) => progress.push(p.argsList),
    });
    pc.sendData([2]);
    pc.sendData([3]);
    pc.sendData([4], { progress: false });
    const r = await within(pc.result, WAIT_MS, 'progressive call across nodes');
    assert.deepEqual(calls, [
      { progress: true, args: [1] },
      { progress: true, args: [2] },
      { progress: true, args: [3] },
      { progress: undefined, args: [4] },
    ]);
    assert.deepEqual(progress, [[1], [3], [6]]);
    assert.deepEqual(r.argsList, ['sum', 10]);
  });

  for (const mode of ['skip', 'kill', 'killnowait'] as const) {
    void test(`cluster rpc - cancel ${mode} across nodes`, async () => {
      const uri = `test.cluster.cancel.${mode}`;
      const callee = await pool(n2).raw(rawRoles({ canceling: true }));
      await callee.register(1, uri);
      await cluster.waitCallees(uri, 1);
      const caller = await pool(n1).raw();
      caller.send([48, 3, {}, uri, []]);
      const inv = await callee.take(isInvocation, WAIT_MS, 'INVOCATION');
      caller.send([49, 3, { mode }]);
      if (mode === 'skip') {
        assert.deepEqual((await caller.take((m) => m[0] === 8, WAIT_MS, 'ERROR')).slice(0, 5), [
          8,
          48,
          3,
          {},
          'wamp.error.canceled',
        ]);
        await callee.none(isInterrupt, 200, 'no INTERRUPT for skip');
        // the callee's late answer goes nowhere
        callee.send([70, inv[1], {}, ['late']]);
        await caller.none((m) => m[0] === 50, 200, 'no RESULT after skip');
        return;
      }
      const interrupt = await callee.take(isInterrupt, WAIT_MS, 'INTERRUPT');
      assert.deepEqual(interrupt, [69, inv[1], { mode, reason: 'wamp.error.canceled' }]);
      if (mode === 'kill') {
        // kill: the caller waits for the callee's answer to the INTERRUPT
        await caller.none((m) => m[0] === 8, 200, 'no ERROR before the callee answered');
        callee.send([8, 68, inv[1], {}, 'wamp.error.canceled', ['stopped']]);
        const err = await caller.take((m) => m[0] === 8, WAIT_MS, 'ERROR from the callee');
        assert.deepEqual(err.slice(0, 6), [8, 48, 3, {}, 'wamp.error.canceled', ['stopped']]);
      } else {
        assert.deepEqual((await caller.take((m) => m[0] === 8, WAIT_MS, 'ERROR')).slice(0, 5), [
          8,
          48,
          3,
          {},
          'wamp.error.canceled',
        ]);
      }
    });
  }

  void test('cluster rpc - a call timeout holds across nodes: the caller gets wamp.error.timeout, the callee an INTERRUPT', async () => {
    const callee = await pool(n3).raw(rawRoles({ canceling: true }));
    await callee.register(1, 'test.cluster.timeout');
    await cluster.waitCallees('test.cluster.timeout', 1);
    const caller = await pool(n1).raw();
    const started = Date.now();
    caller.send([48, 9, { timeout: 150 }, 'test.cluster.timeout', []]);
    const inv = await callee.take(isInvocation, WAIT_MS, 'INVOCATION');
    assert.equal((inv[3] as Record<string, unknown>)['timeout'], 150, 'the callee sees the timeout');
    const err = await caller.take((m) => m[0] === 8, WAIT_MS, 'ERROR');
    const elapsed = Date.now() - started;
    assert.deepEqual(err.slice(0, 5), [8, 48, 9, {}, 'wamp.error.timeout']);
    assert.ok(elapsed >= 140 && elapsed < 2000, `timed out after ${elapsed} ms`);
    const interrupt = await callee.take(isInterrupt, WAIT_MS, 'INTERRUPT');
    assert.deepEqual(interrupt, [69, inv[1], { mode: 'killnowait', reason: 'wamp.error.timeout' }]);
  });
});

void describe('cluster rpc - a node that stops answering', () => {
  void test('cluster rpc - a call in flight to a callee on a node that goes silent fails with wamp.error.unavailable within the lease, never hangs; its callees are gone', async () => {
    const n4 = await startRpcNode(cleanup, cluster.nats.url, 'node-4');
    const p4 = new ClientPool(n4.t);
    const callee = await p4.raw(rawRoles());
    await callee.register(1, 'test.cluster.lost');
    await cluster.waitCallees('test.cluster.lost', 1);
    const caller = await autobahn(n1);
    const call = caller.session.call('test.cluster.lost');
    await callee.take(isInvocation, WAIT_MS, 'INVOCATION on node-4');
    // node-4 stops answering: its NATS connection goes without a goodbye
    const silent = Date.now();
    await n4.nc.close();
    const e = await rejection(call, LEASE_MS + 2000, 'the call to the silent node');
    const elapsed = Date.now() - silent;
    assert.equal(errorUri(e), 'wamp.error.unavailable');
    assert.ok(elapsed < LEASE_MS + 1000, `failed after ${elapsed} ms (lease ${LEASE_MS} ms)`);
    await cluster.waitCallees('test.cluster.lost', 0);
    assert.equal(
      errorUri(await rejection(caller.session.call('test.cluster.lost'), WAIT_MS, 'call after the node left')),
      'wamp.error.no_such_procedure',
    );
    await p4.closeAll();
  });
});

void describe("cluster rpc - a caller's node that stops answering", () => {
  void test("cluster rpc - the calls of a node that goes silent are canceled on the callee's node: INTERRUPT killnowait within the lease", async () => {
    const n6 = await startRpcNode(cleanup, cluster.nats.url, 'node-6');
    const p6 = new ClientPool(n6.t);
    const callee = await pool(n2).raw(rawRoles({ canceling: true }));
    await callee.register(1, 'test.cluster.orphan');
    await waitFor(() => cluster.callees(n6, 'test.cluster.orphan') === 1, 'node-6 to learn the callee');
    const caller = await p6.raw();
    caller.send([48, 5, {}, 'test.cluster.orphan', []]);
    const inv = await callee.take(isInvocation, WAIT_MS, 'INVOCATION from node-6');
    const silent = Date.now();
    await n6.nc.close();
    const interrupt = await callee.take(isInterrupt, LEASE_MS + 2000, 'INTERRUPT once node-6 is gone');
    assert.equal(interrupt[1], inv[1]);
    assert.equal((interrupt[2] as Record<string, unknown>)['mode'], 'killnowait');
    assert.ok(Date.now() - silent < LEASE_MS + 1000, `interrupted after ${Date.now() - silent} ms (lease ${LEASE_MS} ms)`);
    // its late answer goes nowhere and breaks nothing
    callee.send([8, 68, inv[1], {}, 'wamp.error.canceled']);
    await p6.closeAll();
  });
});

void describe('cluster rpc - meta API across nodes', () => {
  void test('cluster rpc - wamp.session.count / list / get cover every node; wamp.session.kill ends a session on another node', async () => {
    const a = await autobahn(n1);
    const b = await autobahn(n2);
    const c = await autobahn(n3);
    const count = await within(a.session.call<number>('wamp.session.count'), WAIT_MS, 'count');
    assert.equal(count, 3);
    const list = await within(b.session.call<number[]>('wamp.session.list'), WAIT_MS, 'list');
    assert.deepEqual(new Set(list), new Set([a.session.id, b.session.id, c.session.id]));
    const details = await within(
      a.session.call<Record<string, unknown>>('wamp.session.get', [c.session.id]),
      WAIT_MS,
      'get a session of node-3',
    );
    assert.equal(details['session'], c.session.id);
    assert.equal(
      errorUri(await rejection(a.session.call('wamp.session.get', [12345]), WAIT_MS, 'get nobody')),
      'wamp.error.no_such_session',
    );
    await within(a.session.call('wamp.session.kill', [c.session.id]), WAIT_MS, 'kill a session of node-3');
    await within(c.onclose, WAIT_MS, 'the killed session to close');
    assert.equal(await within(a.session.call<number>('wamp.session.count'), WAIT_MS, 'count after kill'), 2);
  });

  void test('cluster rpc - the registration meta API on one node lists the callees of every node, under the id the callees got', async () => {
    const x = await autobahn(n2);
    const y = await autobahn(n3);
    // created on node-2 and node-3 at the same moment, so each node's dealer creates the
    // two registrations in another order: the ids must not depend on that order
    const [rx, rOther] = await Promise.all([
      x.session.register('test.cluster.meta', () => 1, { invoke: 'roundrobin' }),
      y.session.register('test.cluster.meta.other', () => 2),
    ]);
    const ry = await y.session.register('test.cluster.meta', () => 2, { invoke: 'roundrobin' });
    await cluster.waitCallees('test.cluster.meta', 2);
    await cluster.waitCallees('test.cluster.meta.other', 1);
    // one registration, one id, wherever it is asked
    assert.equal(rx.id, ry.id, 'the callees on node-2 and node-3 got the same registration id');
    const [a, b] = await Promise.all([autobahn(n1), autobahn(n2)]);
    const id = await within(a.session.call<number>('wamp.registration.lookup', ['test.cluster.meta']), WAIT_MS, 'lookup');
    assert.equal(id, rx.id, 'node-1 names it by the same id');
    assert.equal(
      await within(b.session.call<number>('wamp.registration.lookup', ['test.cluster.meta.other']), WAIT_MS, 'lookup on node-2'),
      rOther.id,
    );
    const callees = await within(a.session.call<number[]>('wamp.registration.list_callees', [id]), WAIT_MS, 'list_callees');
    assert.deepEqual(new Set(callees), new Set([x.session.id, y.session.id]));
    assert.equal(await within(a.session.call<number>('wamp.registration.count_callees', [id]), WAIT_MS, 'count_callees'), 2);
  });

  void test('cluster rpc - the subscription meta API on one node covers the subscriptions of every node, under the id the subscribers got', async () => {
    const [a, x, y] = await Promise.all([autobahn(n1), autobahn(n2), autobahn(n3)]);
    // subscribed on node-2 and node-3, asked on node-1, which has no subscriber of its own
    const [sx, sy, sp] = await Promise.all([
      x.session.subscribe('test.cluster.submeta.t', () => undefined),
      y.session.subscribe('test.cluster.submeta.t', () => undefined),
      y.session.subscribe('test.cluster.submeta', () => undefined, { match: 'prefix' }),
    ]);
    assert.equal(sx.id, sy.id, 'one topic, one subscription id on every node');
    const call = <T>(proc: string, args: unknown[] = []): Promise<T> => within(a.session.call<T>(proc, args), WAIT_MS, proc);
    assert.equal(await call<number>('wamp.subscription.lookup', ['test.cluster.submeta.t']), sx.id);
    assert.equal(await call<number>('wamp.subscription.lookup', ['test.cluster.submeta', { match: 'prefix' }]), sp.id);
    assert.equal(await call<number | null>('wamp.subscription.lookup', ['test.cluster.submeta.nobody']), null);
    const list = await call<Record<string, number[]>>('wamp.subscription.list');
    assert.ok(list['exact']?.includes(sx.id) && list['prefix']?.includes(sp.id), `list: ${JSON.stringify(list)}`);
    assert.equal(list['exact']?.filter((id) => id === sx.id).length, 1, 'listed once');
    assert.deepEqual(
      new Set(await call<number[]>('wamp.subscription.match', ['test.cluster.submeta.t'])),
      new Set([sx.id, sp.id]),
    );
    const details = await call<Record<string, unknown>>('wamp.subscription.get', [sx.id]);
    assert.equal(details['uri'], 'test.cluster.submeta.t');
    assert.deepEqual(
      new Set(await call<number[]>('wamp.subscription.list_subscribers', [sx.id])),
      new Set([x.session.id, y.session.id]),
    );
    assert.equal(await call<number>('wamp.subscription.count_subscribers', [sx.id]), 2);
    // asked on a node that has a subscriber of its own too
    assert.equal(
      await within(x.session.call<number>('wamp.subscription.count_subscribers', [sx.id]), WAIT_MS, 'count on node-2'),
      2,
    );
    for (const proc of ['wamp.subscription.get', 'wamp.subscription.list_subscribers', 'wamp.subscription.count_subscribers']) {
      assert.equal(
        errorUri(await rejection(a.session.call(proc, [12345]), WAIT_MS, proc)),
        'wamp.error.no_such_subscription',
        proc,
      );
    }
  });
});

void describe('cluster rpc - bad input from the cluster', () => {
  void test('cluster rpc - garbage and ill-typed messages on the cluster subjects are counted and dropped; the nodes keep routing', async () => {
    const callee = await autobahn(n2);
    await callee.session.register('test.cluster.sturdy', () => 'fine');
    await cluster.waitCallees('test.cluster.sturdy', 1);
    const before = await metricValue(n1.t, 'gatehouse_cluster_rpc_failures_total', { reason: 'bad_message' });
    const junk = [
      new Uint8Array([0xc1, 0xff, 0x00]),
      encode([1, 2, 3]),
      encode({ k: 'invoke', from: 'x', id: 'not a number' }),
      encode({
        k: 'invoke',
        from: 'x',
        id: 1,
        realm: 'realm1',
        procedure: 'test.cluster.sturdy',
        callee: 1,
        payload: { args: 'no' },
        caller: {},
      }),
    ];
    for (const data of junk) {
      n3.nc.publish('gatehouse.rpc.node.node-1.in', data);
      n3.nc.publish('gatehouse.rpc.node.node-1.out', data);
      n3.nc.publish('gatehouse.rpc.dir', data);
      n3.nc.publish('gatehouse.rpc.beat', data);
      n3.nc.publish('gatehouse.rpc.bye', data);
    }
    // a result for a call nobody made, and a directory change from a node nobody knows
    n3.nc.publish('gatehouse.rpc.node.node-1.out', encode({ k: 'result', id: 987654, payload: { args: [1] }, progress: false }));
    n3.nc.publish(
      'gatehouse.rpc.dir',
      encode({
        node: 'ghost',
        boot: 'b',
        seq: 1,
        op: 'add',
        rec: {
          realm: 'realm1',
          uri: 'test.cluster.sturdy',
          match: 'exact',
          invoke: 'single',
          session: 1,
          authid: 'a',
          authrole: 'r',
          concurrency: 0,
          discloseCaller: false,
          canCancel: false,
          registeredAt: 0,
        },
      }),
    );
    await waitFor(
      async () =>
        (await metricValue(n1.t, 'gatehouse_cluster_rpc_failures_total', { reason: 'bad_message' })) >= before + 2 * junk.length,
      'the bad messages to be counted',
    );
    const caller = await autobahn(n1);
    assert.equal(await within(caller.session.call('test.cluster.sturdy'), WAIT_MS, 'a call after the junk'), 'fine');
    assert.equal(cluster.callees(n1, 'test.cluster.sturdy'), 1, 'the ghost registration was not installed');
  });
});
