// STOMP work queues (/queue/...) with @stomp/stompjs (WebSocket and TCP) and stompit:
// messages waiting for a consumer, each ack mode (auto, client cumulative,
// client-individual), NACK redelivery with `redelivered: true`, prefetch bounding the
// unacknowledged messages, round-robin between competing consumers, and a consumer's
// disconnect (or UNSUBSCRIBE) putting back what it had not acknowledged.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  Inbox,
  RawClients,
  rawHeader,
  sendWithReceipt,
  StompjsClients,
  stompitConnect,
  stompitDisconnect,
  stompitRead,
  stop,
  subscribeConfirmed,
  transportClosed,
  waitFor,
  withTimeout,
  WAIT_MS,
  type IMessage,
  type StompClient,
  type StompitClient,
  type StompitMessage,
} from '../../helpers/stomp-clients';
import { startRouter, type TestRouter } from '../../helpers/router';

const DEFAULT_PREFETCH = 4;
let router: TestRouter;
const stompjs = new StompjsClients();
const raws = new RawClients();
const stompits: StompitClient[] = [];

before(async () => {
  router = await startRouter({ mqtt: { sysIntervalSeconds: 0 }, stomp: { defaultPrefetch: DEFAULT_PREFETCH } });
});
after(async () => {
  for (const c of stompits) c.destroy();
  raws.closeAll();
  await stompjs.closeAll();
  await router.close();
});

function queueSize(name: string): number {
  return router.router.queues.size(`queue:6:realm1:${name}`).messages;
}

async function produce(client: StompClient, q: string, bodies: string[]): Promise<void> {
  for (const b of bodies) await sendWithReceipt(client, `/queue/${q}`, b);
}

function numbered(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`);
}

describe('stomp queues', () => {
  it('stomp - messages sent before any consumer wait in the queue and arrive in order (stompit producer, stompjs consumer)', async () => {
    const q = 'q.waiting';
    const producer = await stompitConnect({ port: router.stompPort });
    stompits.push(producer);
    for (const body of ['w1', 'w2', 'w3']) {
      await withTimeout(
        new Promise<void>((resolve, reject) => {
          const frame = producer.send(
            { destination: `/queue/${q}`, 'content-type': 'text/plain' },
            { onReceipt: resolve, onError: reject },
          );
          frame.end(body);
        }),
        WAIT_MS,
        `stompit RECEIPT for ${body}`,
      );
    }
    assert.equal(queueSize(q), 3, 'stored while nobody consumes');
    await stompitDisconnect(producer);

    const { client } = await stompjs.tcp(router.stompPort);
    const inbox = new Inbox();
    client.subscribe(`/queue/${q}`, inbox.push, { id: 'c' });
    const got = await inbox.count(3, 'waiting messages');
    assert.deepEqual(
      got.map((m) => m.body),
      ['w1', 'w2', 'w3'],
    );
    assert.equal(got[0]?.headers['destination'], `/queue/${q}`);
    assert.equal(got[0]?.headers['content-type'], 'text/plain');
    assert.equal(got[0]?.headers['redelivered'], undefined);
  });

  it('stomp - ack auto: a message is removed when delivered; a consumer leaving puts nothing back', async () => {
    const q = 'q.auto';
    const { client: producer } = await stompjs.ws(router.stompWsUrl);
    await produce(producer, q, ['a1', 'a2', 'a3']);
    const { client: consumer } = await stompjs.ws(router.stompWsUrl);
    const inbox = new Inbox();
    consumer.subscribe(`/queue/${q}`, inbox.push, { id: 'a', ack: 'auto' });
    await inbox.count(3, 'auto deliveries');
    await waitFor(() => queueSize(q) === 0, 'auto-acked messages removed from the store');
    await stop(consumer);
    const { client: next } = await stompjs.ws(router.stompWsUrl);
    const again = new Inbox();
    await subscribeConfirmed(next, `/queue/${q}`, again, { id: 'a2' });
    await again.quiet(0, 150, 'nothing comes back after an auto consumer leaves');
  });

  it('stomp - ack client is cumulative: ACK of the 2nd settles 1 and 2; the 3rd comes back redelivered to the next consumer', async () => {
    const q = 'q.client';
    const { client: producer } = await stompjs.ws(router.stompWsUrl);
    await produce(producer, q, ['c1', 'c2', 'c3']);
    const { client: first } = await stompjs.tcp(router.stompPort);
    const inbox = new Inbox();
    first.subscribe(`/queue/${q}`, inbox.push, { id: 'c', ack: 'client' });
    const [, m2] = await inbox.count(3, 'client-mode deliveries');
    m2?.ack();
    await waitFor(() => queueSize(q) === 1, 'the cumulative ACK removes c1 and c2 only');
    await stop(first);

    const { client: second } = await stompjs.ws(router.stompWsUrl);
    const rest = new Inbox();
    second.subscribe(`/queue/${q}`, rest.push, { id: 'c2', ack: 'client' });
    const [m3] = await rest.count(1, 'the unacknowledged message');
    assert.equal(m3?.body, 'c3');
    assert.equal(m3?.headers['redelivered'], 'true');
    await rest.quiet(1, 100, 'only c3 comes back');
  });

  it('stomp - ack client-individual settles one message: the others come back redelivered', async () => {
    const q = 'q.individual';
    const { client: producer } = await stompjs.ws(router.stompWsUrl);
    await produce(producer, q, ['i1', 'i2', 'i3']);
    const { client: first } = await stompjs.ws(router.stompWsUrl);
    const inbox = new Inbox();
    first.subscribe(`/queue/${q}`, inbox.push, { id: 'i', ack: 'client-individual' });
    const [, m2] = await inbox.count(3, 'deliveries');
    m2?.ack();
    await waitFor(() => queueSize(q) === 2, 'only i2 removed');
    await stop(first);

    const { client: second } = await stompjs.ws(router.stompWsUrl);
    const rest = new Inbox();
    second.subscribe(
      `/queue/${q}`,
      (m) => {
        rest.push(m);
        m.ack();
      },
      { id: 'i2', ack: 'client-individual' },
    );
    const got = await rest.count(2, 'redeliveries');
    assert.deepEqual(
      got.map((m) => [m.body, m.headers['redelivered']]),
      [
        ['i1', 'true'],
        ['i3', 'true'],
      ],
    );
    await waitFor(() => queueSize(q) === 0, 'all acknowledged');
  });

  it('stomp - NACK puts a message back marked redelivered, ahead of newer ones; in client mode NACK is cumulative', async () => {
    const q = 'q.nack';
    const { client: producer } = await stompjs.ws(router.stompWsUrl);
    await produce(producer, q, ['n1', 'n2']);
    const { client } = await stompjs.tcp(router.stompPort);
    const inbox = new Inbox();
    let nacked = false;
    client.subscribe(
      `/queue/${q}`,
      (m) => {
        inbox.push(m);
        if (m.body === 'n1' && !nacked) {
          nacked = true;
          m.nack();
        } else m.ack();
      },
      { id: 'n', ack: 'client-individual', 'prefetch-count': '1' },
    );
    const got = await inbox.count(3, 'delivery, NACK, redelivery');
    assert.deepEqual(
      got.map((m) => [m.body, m.headers['redelivered'] ?? '']),
      [
        ['n1', ''],
        ['n1', 'true'],
        ['n2', ''],
      ],
    );
    assert.equal(got[0]?.headers['message-id'], got[1]?.headers['message-id'], 'the same message');
    await waitFor(() => queueSize(q) === 0, 'all acknowledged');

    // client mode: a NACK of the 2nd puts back the 1st too
    const q2 = 'q.nack.client';
    await produce(producer, q2, ['k1', 'k2', 'k3']);
    const { client: c2 } = await stompjs.ws(router.stompWsUrl);
    const box = new Inbox();
    c2.subscribe(`/queue/${q2}`, box.push, { id: 'k', ack: 'client' });
    const [, k2] = await box.count(3, 'client-mode deliveries');
    k2?.nack();
    const back = await box.count(5, 'cumulative NACK redeliveries');
    assert.deepEqual(
      back.slice(3).map((m) => [m.body, m.headers['redelivered']]),
      [
        ['k1', 'true'],
        ['k2', 'true'],
      ],
    );
    await box.quiet(5, 100, 'k3 was not NACKed');
  });

  it('stomp - NACK with stompit (STOMP 1.2 over TCP) redelivers the message', async () => {
    const q = 'q.nack.stompit';
    const { client: producer } = await stompjs.ws(router.stompWsUrl);
    await produce(producer, q, ['s1']);
    const c = await stompitConnect({ port: router.stompPort });
    stompits.push(c);
    assert.equal(c.headers['version'], '1.2');
    const seen: { body: string; redelivered: string | undefined }[] = [];
    const done = new Promise<void>((resolve, reject) => {
      c.subscribe({ destination: `/queue/${q}`, ack: 'client-individual' }, (err, message: StompitMessage) => {
        if (err) return reject(err);
        void stompitRead(message).then((body) => {
          seen.push({ body, redelivered: message.headers['redelivered'] });
          if (seen.length === 1) c.nack(message);
          else {
            c.ack(message);
            resolve();
          }
        }, reject);
      });
    });
    await withTimeout(done, WAIT_MS, 'stompit NACK then redelivery');
    assert.deepEqual(seen, [
      { body: 's1', redelivered: undefined },
      { body: 's1', redelivered: 'true' },
    ]);
    await stompitDisconnect(c);
    await waitFor(() => queueSize(q) === 0, 'the ACK removed it');
  });

  it('stomp - prefetch-count bounds the unacknowledged messages; each ACK lets one more through', async () => {
    const q = 'q.prefetch';
    const { client: producer } = await stompjs.ws(router.stompWsUrl);
    await produce(producer, q, numbered('p', 5));
    const { client } = await stompjs.ws(router.stompWsUrl);
    const inbox = new Inbox();
    client.subscribe(`/queue/${q}`, inbox.push, { id: 'p', ack: 'client-individual', 'prefetch-count': '2' });
    await inbox.count(2, 'up to the prefetch');
    await inbox.quiet(2, 150, 'prefetch 2 holds the third back');
    inbox.messages[0]?.ack();
    await inbox.count(3, 'one more after an ACK');
    await inbox.quiet(3, 150, 'still two unacknowledged');
    inbox.messages[1]?.ack();
    inbox.messages[2]?.ack();
    const got = await inbox.count(5, 'the rest');
    assert.deepEqual(
      got.map((m) => m.body),
      numbered('p', 5),
    );
  });

  it('stomp - activemq.prefetchSize bounds like prefetch-count; without either the configured default applies', async () => {
    const { client: producer } = await stompjs.ws(router.stompWsUrl);
    const q = 'q.prefetch.amq';
    await produce(producer, q, numbered('x', 3));
    const { client } = await stompjs.ws(router.stompWsUrl);
    const amq = new Inbox();
    client.subscribe(`/queue/${q}`, amq.push, { id: 'amq', ack: 'client', 'activemq.prefetchSize': '1' });
    await amq.count(1, 'activemq prefetch 1');
    await amq.quiet(1, 150, 'activemq.prefetchSize 1');

    const q2 = 'q.prefetch.default';
    await produce(producer, q2, numbered('d', DEFAULT_PREFETCH + 2));
    const def = new Inbox();
    client.subscribe(`/queue/${q2}`, def.push, { id: 'def', ack: 'client-individual' });
    await def.count(DEFAULT_PREFETCH, 'the default prefetch');
    await def.quiet(DEFAULT_PREFETCH, 150, `config stomp.defaultPrefetch ${DEFAULT_PREFETCH}`);
    // auto mode ignores prefetch: everything is delivered at once
    const q3 = 'q.prefetch.auto';
    await produce(producer, q3, numbered('y', DEFAULT_PREFETCH + 2));
    const auto = new Inbox();
    client.subscribe(`/queue/${q3}`, auto.push, { id: 'auto', ack: 'auto', 'prefetch-count': '1' });
    await auto.count(DEFAULT_PREFETCH + 2, 'auto deliveries regardless of prefetch');
  });

  it('stomp - competing consumers are served round-robin; a consumer at its prefetch is skipped', async () => {
    const q = 'q.rr';
    const { client: a } = await stompjs.ws(router.stompWsUrl);
    const { client: b } = await stompjs.tcp(router.stompPort);
    const boxA = new Inbox();
    const boxB = new Inbox();
    await subscribeConfirmed(a, `/queue/${q}`, boxA, { id: 'a' });
    await subscribeConfirmed(b, `/queue/${q}`, boxB, { id: 'b' });
    const { client: producer } = await stompjs.ws(router.stompWsUrl);
    await produce(producer, q, numbered('r', 6));
    await boxA.count(3, 'consumer A');
    await boxB.count(3, 'consumer B');
    const split = [boxA.bodies(), boxB.bodies()].sort((x, y) => (x[0] ?? '').localeCompare(y[0] ?? ''));
    assert.deepEqual(split, [
      ['r1', 'r3', 'r5'],
      ['r2', 'r4', 'r6'],
    ]);

    // prefetch 1, client-individual: the consumer holding a message is passed over
    const q2 = 'q.rr.prefetch';
    const slow = new Inbox();
    const fast = new Inbox();
    await subscribeConfirmed(a, `/queue/${q2}`, slow, { id: 'slow', ack: 'client-individual', 'prefetch-count': '1' });
    await subscribeConfirmed(
      b,
      `/queue/${q2}`,
      (m: IMessage) => {
        fast.push(m);
        m.ack();
      },
      { id: 'fast', ack: 'client-individual', 'prefetch-count': '1' },
    );
    await produce(producer, q2, numbered('s', 5));
    await fast.count(4, 'the acking consumer takes what the holder cannot');
    assert.equal(slow.messages.length, 1, 'the holding consumer got one');
  });

  it('stomp - a consumer that disconnects without acknowledging: its messages go to another consumer, redelivered', async () => {
    const q = 'q.lost';
    const { client: producer } = await stompjs.ws(router.stompWsUrl);
    await produce(producer, q, numbered('l', 3));
    // a raw consumer that vanishes (socket destroyed, no DISCONNECT)
    const { raw } = await raws.connect(router.stompPort);
    await raw.request('SUBSCRIBE', { id: 'l', destination: `/queue/${q}`, ack: 'client-individual' });
    for (let i = 0; i < 3; i++) await raw.expect('MESSAGE', `delivery ${i + 1}`);
    const { client: other } = await stompjs.ws(router.stompWsUrl);
    const inbox = new Inbox();
    await subscribeConfirmed(other, `/queue/${q}`, inbox, { id: 'o', ack: 'client-individual' });
    await inbox.quiet(0, 100, 'nothing while the first consumer holds them');
    raw.destroy();
    const got = await inbox.count(3, 'redeliveries after the first consumer is gone');
    assert.deepEqual(
      got.map((m) => [m.body, m.headers['redelivered']]),
      [
        ['l1', 'true'],
        ['l2', 'true'],
        ['l3', 'true'],
      ],
    );
  });

  it('stomp - UNSUBSCRIBE puts back what the subscription had not acknowledged', async () => {
    const q = 'q.unsub';
    const { client: producer } = await stompjs.ws(router.stompWsUrl);
    await produce(producer, q, ['u1']);
    const { raw } = await raws.connect(router.stompPort);
    await raw.request('SUBSCRIBE', { id: 'u', destination: `/queue/${q}`, ack: 'client' });
    const m = await raw.expect('MESSAGE', 'delivery');
    assert.equal(m.body.toString(), 'u1');
    await raw.request('UNSUBSCRIBE', { id: 'u' });
    await raw.request('SUBSCRIBE', { id: 'u2', destination: `/queue/${q}`, ack: 'auto' });
    const again = await raw.expect('MESSAGE', 'redelivery to the new subscription');
    assert.equal(again.body.toString(), 'u1');
    assert.equal(rawHeader(again, 'redelivered'), 'true');
    assert.equal(rawHeader(again, 'subscription'), 'u2');
    raw.destroy();
  });

  it('stomp - a queue consumer whose connection breaks mid-stream loses nothing: every message is delivered once acknowledged', async () => {
    const q = 'q.churn';
    const { client: producer } = await stompjs.ws(router.stompWsUrl);
    await produce(producer, q, numbered('m', 20));
    const acked: string[] = [];
    for (let round = 0; round < 4 && acked.length < 20; round++) {
      const sessions = router.router.sessions;
      const { client } = await stompjs.ws(router.stompWsUrl);
      const closed = transportClosed(client, 'forced close');
      let n = 0;
      client.subscribe(
        `/queue/${q}`,
        (m) => {
          // acknowledge three, then break the connection with messages outstanding
          if (++n <= 3) {
            m.ack();
            acked.push(m.body);
          } else if (n === 5) client.forceDisconnect();
        },
        { id: 'churn', ack: 'client-individual', 'prefetch-count': '5' },
      );
      await closed;
      // the router has seen the break (and taken the unacknowledged back) before the next round
      await waitFor(() => router.router.sessions === sessions, 'the broken consumer session to end');
    }
    const { client: last } = await stompjs.ws(router.stompWsUrl);
    const inbox = new Inbox();
    last.subscribe(
      `/queue/${q}`,
      (m) => {
        inbox.push(m);
        m.ack();
      },
      { id: 'rest', ack: 'client-individual' },
    );
    await inbox.count(20 - acked.length, 'the rest');
    await inbox.quiet(20 - acked.length, 100, 'no more than the rest');
    const all = [...acked, ...inbox.bodies()].sort();
    assert.deepEqual(all, numbered('m', 20).sort(), 'every message acknowledged exactly once');
    await waitFor(() => queueSize(q) === 0, 'the queue emptied');
  });
});
