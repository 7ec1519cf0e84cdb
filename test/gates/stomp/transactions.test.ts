// STOMP transactions (STOMP 1.2 §BEGIN, §COMMIT, §ABORT) with @stomp/stompjs, stompit
// and a raw client: SENDs and ACKs inside BEGIN..COMMIT take effect at COMMIT, in
// order; they vanish at ABORT and when the connection ends with the transaction open.
// A marker SEND outside the transaction, after it, shows the frame was processed.
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
  stop,
  subscribeConfirmed,
  waitFor,
  withReceipt,
  withTimeout,
  WAIT_MS,
  type StompClient,
  type StompitClient,
} from '../../helpers/stomp-clients';
import { startRouter, type TestRouter } from '../../helpers/router';

let router: TestRouter;
const stompjs = new StompjsClients();
const raws = new RawClients();
const stompits: StompitClient[] = [];

before(async () => {
  router = await startRouter({ mqtt: { sysIntervalSeconds: 0 } });
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

async function consumer(destination: string): Promise<{ client: StompClient; inbox: Inbox }> {
  const { client } = await stompjs.ws(router.stompWsUrl);
  const inbox = new Inbox();
  await subscribeConfirmed(client, destination, inbox, { id: 'c' });
  return { client, inbox };
}

describe('stomp transactions', () => {
  it('stomp - SENDs inside BEGIN..COMMIT are delivered at COMMIT, in order, after what was sent outside meanwhile', async () => {
    for (const destination of ['/queue/tx.commit', '/topic/tx.commit']) {
      const { inbox } = await consumer(destination);
      const { client } = await stompjs.tcp(router.stompPort);
      const tx = client.begin();
      client.publish({ destination, body: 't1', headers: { transaction: tx.id } });
      client.publish({ destination, body: 't2', headers: { transaction: tx.id } });
      await sendWithReceipt(client, destination, 'outside');
      await inbox.count(1, `the SEND outside the transaction (${destination})`);
      assert.deepEqual(inbox.bodies(), ['outside'], `nothing of the transaction before COMMIT (${destination})`);
      tx.commit();
      const got = await inbox.count(3, `the committed SENDs (${destination})`);
      assert.deepEqual(
        got.map((m) => m.body),
        ['outside', 't1', 't2'],
      );
      assert.equal(got[1]?.headers['transaction'], undefined, 'the transaction header is not passed on');
    }
  });

  it('stomp - ABORT drops the SENDs of the transaction', async () => {
    const q = '/queue/tx.abort';
    const { inbox } = await consumer(q);
    const { client } = await stompjs.ws(router.stompWsUrl);
    const tx = client.begin();
    client.publish({ destination: q, body: 'aborted', headers: { transaction: tx.id } });
    tx.abort();
    await sendWithReceipt(client, q, 'marker');
    await inbox.count(1, 'the marker');
    await inbox.quiet(1, 150, 'the aborted SEND never arrives');
    assert.deepEqual(inbox.bodies(), ['marker']);
  });

  it('stomp - a connection that ends with a transaction open drops its SENDs (DISCONNECT or a broken socket)', async () => {
    const q = 'tx.lost';
    // graceful: stompjs deactivate sends DISCONNECT
    const { client } = await stompjs.ws(router.stompWsUrl);
    const tx = client.begin('open-tx');
    await withReceipt(client, 'a transactional SEND', (receipt) =>
      client.publish({ destination: `/queue/${q}`, body: 'never', headers: { transaction: tx.id, receipt } }),
    );
    await stop(client);
    // broken: the socket goes away
    const { raw } = await raws.connect(router.stompPort);
    await raw.request('BEGIN', { transaction: 'b' });
    await raw.request('SEND', { destination: `/queue/${q}`, transaction: 'b' }, 'never either');
    raw.destroy();
    await raw.waitClosed('socket closed');
    const { inbox, client: c } = await consumer(`/queue/${q}`);
    await sendWithReceipt(c, `/queue/${q}`, 'marker');
    await inbox.count(1, 'the marker');
    await inbox.quiet(1, 150, 'nothing of the lost transactions');
    assert.deepEqual(inbox.bodies(), ['marker']);
    assert.equal(queueSize(q), 0);
  });

  it('stomp - ACKs inside a transaction take effect at COMMIT; an aborted ACK leaves the message to come back', async () => {
    const q = 'tx.ack';
    const { client: producer } = await stompjs.ws(router.stompWsUrl);
    for (const b of ['k1', 'k2', 'k3']) await sendWithReceipt(producer, `/queue/${q}`, b);
    const { client } = await stompjs.tcp(router.stompPort);
    const inbox = new Inbox();
    client.subscribe(`/queue/${q}`, inbox.push, { id: 'a', ack: 'client-individual' });
    const [k1, k2, k3] = await inbox.count(3, 'deliveries');
    const committed = client.begin();
    k1?.ack({ transaction: committed.id });
    k2?.ack({ transaction: committed.id });
    await sendWithReceipt(client, '/topic/tx.sync', 'sync');
    assert.equal(queueSize(q), 3, 'ACKs in an open transaction remove nothing');
    committed.commit();
    await waitFor(() => queueSize(q) === 1, 'the COMMIT applies both ACKs');

    const aborted = client.begin();
    k3?.ack({ transaction: aborted.id });
    aborted.abort();
    await sendWithReceipt(client, '/topic/tx.sync', 'sync');
    assert.equal(queueSize(q), 1, 'the aborted ACK removed nothing');
    await stop(client);
    const { inbox: next } = await consumer(`/queue/${q}`);
    const [back] = await next.count(1, 'the message whose ACK was aborted');
    assert.equal(back?.body, 'k3');
    assert.equal(back?.headers['redelivered'], 'true');
  });

  it('stomp - an ACK in a transaction left open when the connection ends vanishes: the message comes back', async () => {
    const q = 'tx.ack.lost';
    const { raw } = await raws.connect(router.stompPort);
    await raw.request('SEND', { destination: `/queue/${q}` }, 'held');
    await raw.request('SUBSCRIBE', { id: 's', destination: `/queue/${q}`, ack: 'client-individual' });
    const m = await raw.expect('MESSAGE', 'delivery');
    await raw.request('BEGIN', { transaction: 'open' });
    await raw.request('ACK', { id: rawHeader(m, 'ack') ?? '', transaction: 'open' });
    raw.send('DISCONNECT', { receipt: 'bye' });
    await raw.receipt('bye');
    await raw.waitClosed('close after DISCONNECT');
    const { inbox } = await consumer(`/queue/${q}`);
    const [back] = await inbox.count(1, 'the message whose ACK was never committed');
    assert.equal(back?.body, 'held');
    assert.equal(back?.headers['redelivered'], 'true');
  });

  it('stomp - a NACK inside a transaction redelivers at COMMIT', async () => {
    const q = 'tx.nack';
    const { raw } = await raws.connect(router.stompPort);
    await raw.request('SEND', { destination: `/queue/${q}` }, 'n');
    await raw.request('SUBSCRIBE', { id: 's', destination: `/queue/${q}`, ack: 'client-individual' });
    const m = await raw.expect('MESSAGE', 'delivery');
    await raw.request('BEGIN', { transaction: 't' });
    await raw.request('NACK', { id: rawHeader(m, 'ack') ?? '', transaction: 't' });
    await raw.quiet('MESSAGE', 150, 'no redelivery before COMMIT');
    await raw.request('COMMIT', { transaction: 't' });
    const again = await raw.expect('MESSAGE', 'redelivery at COMMIT');
    assert.equal(rawHeader(again, 'redelivered'), 'true');
    raw.destroy();
  });

  it('stomp - stompit transactions: commit delivers, abort drops', async () => {
    const q = '/queue/tx.stompit';
    const { inbox } = await consumer(q);
    const c = await stompitConnect({ port: router.stompPort });
    stompits.push(c);
    const t1 = c.begin();
    t1.send({ destination: q }).end('committed');
    t1.commit();
    const t2 = c.begin();
    t2.send({ destination: q }).end('aborted');
    t2.abort();
    await withTimeout(
      new Promise<void>((resolve, reject) => c.send({ destination: q }, { onReceipt: resolve, onError: reject }).end('marker')),
      WAIT_MS,
      'stompit marker RECEIPT',
    );
    await inbox.count(2, 'committed and marker');
    await inbox.quiet(2, 150, 'the aborted SEND');
    assert.deepEqual(inbox.bodies(), ['committed', 'marker']);
    await stompitDisconnect(c);
  });
});
