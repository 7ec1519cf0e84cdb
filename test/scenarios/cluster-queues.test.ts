// Issue 12, STOMP work queues shared by the cluster (lib/work-queues/jetstream.ts): two
// Gatehouse nodes (in-process routers, own SQLite each) on one nats-server with
// JetStream; a queue lives in JetStream, so a message sent on one node is consumed on
// another, consumers on both nodes share it, and what a node held unacknowledged goes to
// the other node when it closes (nak) or dies (ack_wait).
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { spawnChildRouter } from '../helpers/child-router';
import { suiteCleanup } from '../helpers/cluster-rpc';
import { freePorts, startNats, type NatsNode } from '../helpers/nats';
import { startClusterNode } from '../helpers/cluster';
import { startRouter, type TestRouter } from '../helpers/router';
import {
  Inbox,
  rawHeader,
  RawClients,
  sendWithReceipt,
  StompjsClients,
  stompitConnect,
  stompitDisconnect,
  subscribeConfirmed,
  waitFor,
  withTimeout,
  type IMessage,
  type StompitClient,
} from '../helpers/stomp-clients';

/** a node killed here is redelivered from after this long (JetStream's ack_wait) */
const KILL_ACK_WAIT_MS = 2000;
const FIXTURE = path.join(__dirname, '..', 'fixtures', 'cluster-queue-router.ts');
/** a pull across a loaded machine and a NATS round trip or two */
const CLUSTER_MS = 15_000;

function numbered(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`);
}

/** stompit SEND with a receipt: resolves once the router acknowledged it */
function stompitSend(client: StompitClient, destination: string, body: string): Promise<void> {
  return withTimeout(
    new Promise<void>((resolve, reject) => {
      const frame = client.send({ destination, 'content-type': 'text/plain' }, { onReceipt: resolve, onError: reject });
      frame.end(body);
    }),
    CLUSTER_MS,
    `stompit RECEIPT for ${body}`,
  );
}

describe('cluster - STOMP work queues shared by two nodes', { timeout: 240_000 }, () => {
  const cleanup = suiteCleanup();
  const stomp = new StompjsClients();
  const stompits: StompitClient[] = [];
  const raws = new RawClients();
  let nats: NatsNode;
  const routers: TestRouter[] = [];

  const node = (id: string, extra: { stomp?: { maxQueueMessages: number } } = {}): Promise<TestRouter> =>
    startClusterNode([nats.url], id, (r) => routers.push(r), { config: extra });

  before(async () => {
    nats = await startNats(cleanup);
  });
  after(async () => {
    for (const c of stompits) c.destroy();
    raws.closeAll();
    await stomp.closeAll();
    await Promise.all(routers.map((r) => r.close()));
    await cleanup.run();
  });

  it('cluster queues - a queue consumed from two nodes: each message once, both consumers get some, client acks', async () => {
    const [a, b] = [await node('qa1'), await node('qb1')];
    const q = '/queue/cl.shared';
    const bodies = numbered('s', 12);
    const producer = await stompitConnect({ port: a.stompPort });
    stompits.push(producer);
    for (const body of bodies) await stompitSend(producer, q, body);

    // prefetch 1 and no ack until both hold one: the first consumer cannot take the
    // second message, so it must go to the other node's consumer
    const got: { on: string; m: IMessage }[] = [];
    let acking = false;
    const held: IMessage[] = [];
    const onMessage = (on: string) => (m: IMessage) => {
      got.push({ on, m });
      if (acking) m.ack();
      else held.push(m);
    };
    const { client: ca } = await stomp.tcp(a.stompPort);
    const { client: cb } = await stomp.tcp(b.stompPort);
    await subscribeConfirmed(ca, q, onMessage('a'), { id: 'ca', ack: 'client-individual', 'prefetch-count': '1' });
    await subscribeConfirmed(cb, q, onMessage('b'), { id: 'cb', ack: 'client-individual', 'prefetch-count': '1' });
    await waitFor(() => held.length === 2, 'one message held on each node', CLUSTER_MS);
    assert.deepEqual(got.map((g) => g.on).sort(), ['a', 'b'], 'the second message went to the other node');
    acking = true;
    for (const m of held.splice(0)) m.ack();
    await waitFor(() => got.length >= bodies.length, `every message delivered (got ${got.length})`, CLUSTER_MS);
    // each exactly once: no duplicates, none redelivered
    const seen = got.map((g) => g.m.body).sort();
    assert.deepEqual(seen, [...bodies].sort());
    assert.ok(
      got.every((g) => g.m.headers['redelivered'] === undefined),
      'nothing was redelivered',
    );
    assert.ok(got.some((g) => g.on === 'a') && got.some((g) => g.on === 'b'), 'both consumers got some');
    // and the ids name the stream's messages: the same id never went to both nodes
    assert.equal(new Set(got.map((g) => g.m.headers['message-id'])).size, bodies.length);
    await stompitDisconnect(producer);
  });

  it('cluster queues - a SEND acknowledged on node A is consumed on node B after A closed', async () => {
    const a = await node('qa2');
    const q = '/queue/cl.handover';
    const { client: producer } = await stomp.tcp(a.stompPort);
    for (const body of ['h1', 'h2', 'h3']) await sendWithReceipt(producer, q, body, { 'content-type': 'text/plain' });
    await a.close();

    const b = await node('qb2');
    const { client } = await stomp.tcp(b.stompPort);
    const inbox = new Inbox();
    await subscribeConfirmed(
      client,
      q,
      (m) => {
        inbox.push(m);
        m.ack();
      },
      { id: 'h', ack: 'client-individual' },
    );
    const got = await inbox.count(3, 'messages sent on a closed node', CLUSTER_MS);
    assert.deepEqual(
      got.map((m) => m.body),
      ['h1', 'h2', 'h3'],
    );
    assert.equal(got[0]?.headers['destination'], q);
    assert.equal(got[0]?.headers['content-type'], 'text/plain');
    await inbox.quiet(3, 300, 'each once');
  });

  it('cluster queues - prefetch bounds what a node pulls for its consumer', async () => {
    const [a, b] = [await node('qa3'), await node('qb3')];
    const q = '/queue/cl.prefetch';
    const { client: producer } = await stomp.tcp(a.stompPort);
    for (const body of numbered('p', 5)) await sendWithReceipt(producer, q, body);
    const { client } = await stomp.tcp(b.stompPort);
    const inbox = new Inbox();
    await subscribeConfirmed(client, q, inbox, { id: 'p', ack: 'client-individual', 'prefetch-count': '2' });
    const first = await inbox.count(2, 'the prefetch', CLUSTER_MS);
    // pulls go on every second: a third message would have come by now
    await inbox.quiet(2, 2500, 'no more than the prefetch while nothing is acknowledged');
    first[0]?.ack();
    await inbox.count(3, 'one more after one ACK', CLUSTER_MS);
    await inbox.quiet(3, 1500, 'again no more than the prefetch');
    // a consumer on the other node takes what this one has no room for
    const { client: other } = await stomp.tcp(a.stompPort);
    const rest = new Inbox();
    await subscribeConfirmed(other, q, rest, { id: 'p2', ack: 'auto' });
    await rest.count(2, 'the rest on the other node', CLUSTER_MS);
    assert.deepEqual([...inbox.bodies(), ...rest.bodies()].sort(), numbered('p', 5));
  });

  it('cluster queues - NACK puts a message back: it comes again with the redelivered header', async () => {
    const [a, b] = [await node('qa4'), await node('qb4')];
    const q = '/queue/cl.nack';
    const { client: producer } = await stomp.tcp(a.stompPort);
    await sendWithReceipt(producer, q, 'n1');
    // consumed on the other node: the NACK goes to JetStream, not to a node's own queue
    const { client } = await stomp.tcp(b.stompPort);
    const inbox = new Inbox();
    let nacked = false;
    await subscribeConfirmed(
      client,
      q,
      (m) => {
        inbox.push(m);
        if (nacked) m.ack();
        else {
          nacked = true;
          m.nack();
        }
      },
      { id: 'n', ack: 'client-individual' },
    );
    const [first, again] = await inbox.count(2, 'the message and its redelivery', CLUSTER_MS);
    assert.equal(first?.body, 'n1');
    assert.equal(first?.headers['redelivered'], undefined);
    assert.equal(again?.body, 'n1');
    assert.equal(again?.headers['redelivered'], 'true');
    assert.equal(again?.headers['message-id'], first?.headers['message-id'], 'the same message');
    await inbox.quiet(2, 500, 'acknowledged: not again');
  });

  it('cluster queues - what a consumer held unacknowledged goes to the other node when its node closes', async () => {
    const [a, b] = [await node('qa5'), await node('qb5')];
    const q = '/queue/cl.closed';
    const { client: producer } = await stomp.tcp(b.stompPort);
    for (const body of ['c1', 'c2']) await sendWithReceipt(producer, q, body);
    const { client: holder } = await stomp.tcp(a.stompPort);
    const held = new Inbox();
    await subscribeConfirmed(holder, q, held, { id: 'hold', ack: 'client', 'prefetch-count': '2' });
    await held.count(2, 'both held on node A', CLUSTER_MS);
    const { client } = await stomp.tcp(b.stompPort);
    const inbox = new Inbox();
    await subscribeConfirmed(client, q, inbox, { id: 'take', ack: 'auto' });
    await inbox.quiet(0, 300, 'nothing while node A holds them');
    const closedAt = Date.now();
    await a.close();
    const got = await inbox.count(2, 'the held messages on node B', CLUSTER_MS);
    assert.deepEqual(got.map((m) => m.body).sort(), ['c1', 'c2']);
    assert.ok(got.every((m) => m.headers['redelivered'] === 'true'));
    // nak'ed on close, not left to ack_wait (30 s by default)
    assert.ok(Date.now() - closedAt < 20_000, 'redelivered before ack_wait');
  });

  it('cluster queues - what a SIGKILLed node held unacknowledged is redelivered to the other node after ack_wait', async () => {
    const child = await spawnChildRouter<{ stompPort: number }>(FIXTURE, [nats.url, 'qk6', String(KILL_ACK_WAIT_MS)]);
    cleanup.after(() => child.kill().then(() => undefined));
    const b = await startRouter({
      store: { engine: 'sqlite', path: ':memory:' },
      cluster: { nats: [nats.url], node: 'qb6', queues: { ackWaitMs: KILL_ACK_WAIT_MS } },
    });
    routers.push(b);
    const q = '/queue/cl.killed';
    const { client: producer } = await stomp.tcp(b.stompPort);
    for (const body of ['k1', 'k2']) await sendWithReceipt(producer, q, body);
    const { client: holder } = await stomp.tcp(child.ready.stompPort, { onWebSocketClose: () => undefined });
    const held = new Inbox();
    await subscribeConfirmed(holder, q, held, { id: 'hold', ack: 'client-individual', 'prefetch-count': '2' });
    await held.count(2, 'both held on the node to kill', CLUSTER_MS);
    const { client } = await stomp.tcp(b.stompPort);
    const inbox = new Inbox();
    await subscribeConfirmed(
      client,
      q,
      (m) => {
        inbox.push(m);
        m.ack();
      },
      { id: 'take', ack: 'client-individual' },
    );
    await inbox.quiet(0, 300, 'nothing while the other node holds them');
    await child.kill();
    const got = await inbox.count(2, "the killed node's messages", CLUSTER_MS);
    assert.deepEqual(got.map((m) => m.body).sort(), ['k1', 'k2']);
    assert.ok(got.every((m) => m.headers['redelivered'] === 'true'));
    await inbox.quiet(2, 500, 'each once');
  });

  it('cluster queues - NATS unreachable: a SEND to a queue gets an ERROR, not a RECEIPT, and the node goes on', async () => {
    // a port nothing listens on: the node never reaches NATS
    const [deadPort] = await freePorts(1);
    const r = await startRouter({
      store: { engine: 'sqlite', path: ':memory:' },
      cluster: { nats: [`nats://127.0.0.1:${deadPort}`], node: 'qx7' },
    });
    routers.push(r);
    const { raw } = await raws.connect(r.stompPort);
    raw.send(
      'SEND',
      [
        ['destination', '/queue/cl.unreachable'],
        ['receipt', 'x1'],
      ],
      'lost?',
    );
    const answer = await raw.expect(
      (f) => f.command === 'ERROR' || f.command === 'RECEIPT',
      'the answer to the SEND',
      CLUSTER_MS,
    );
    assert.equal(answer.command, 'ERROR', 'never a RECEIPT for a message that was not stored');
    assert.equal(rawHeader(answer, 'receipt-id'), 'x1');
    // the node still serves its clients
    const { client } = await stomp.tcp(r.stompPort);
    await sendWithReceipt(client, '/topic/cl.still', 'up');
  });
  it('cluster queues - a full queue (stomp.maxQueueMessages on the stream) refuses the SEND with ERROR limit exceeded, as a local one', async () => {
    const bounded = { stomp: { maxQueueMessages: 2 } };
    const [a, b] = [await node('qa8', bounded), await node('qb8', bounded)];
    const q = '/queue/cl.bounded';
    const { raw } = await raws.connect(a.stompPort);
    for (const body of ['f1', 'f2']) await raw.request('SEND', [['destination', q]], body);
    raw.send(
      'SEND',
      [
        ['destination', q],
        ['receipt', 'full1'],
      ],
      'f3',
    );
    const answer = await raw.expect(
      (f) => f.command === 'ERROR' || f.command === 'RECEIPT',
      'the answer to the SEND',
      CLUSTER_MS,
    );
    assert.equal(answer.command, 'ERROR', 'the third message is refused');
    assert.equal(rawHeader(answer, 'message'), 'limit exceeded');
    assert.equal(rawHeader(answer, 'receipt-id'), 'full1');
    // as a local queue's refusal: STOMP's ERROR ends the connection (STOMP 1.2 §ERROR)
    await raw.waitClosed('the refused sender');

    // one consumed and acknowledged on the other node (the RECEIPT of the ACK follows
    // JetStream's ack): room for one more
    const { raw: reader } = await raws.connect(b.stompPort);
    await reader.request('SUBSCRIBE', [
      ['id', 'bounded'],
      ['destination', q],
      ['ack', 'client-individual'],
      ['prefetch-count', '1'],
    ]);
    const first = await reader.expect('MESSAGE', 'one message on node B', CLUSTER_MS);
    await reader.request('ACK', [['id', rawHeader(first, 'ack') ?? '']]);
    const { raw: again } = await raws.connect(a.stompPort);
    await again.request('SEND', [['destination', q]], 'f4');
  });
});
