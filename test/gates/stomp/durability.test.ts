// What STOMP keeps: a RECEIPT for a SEND to a queue means the message is durable (it
// survives router.close() and a new router on the same store file), and durable topic
// subscriptions, named RabbitMQ style (`durable: true` + id), ActiveMQ style
// (`activemq.subscriptionName` + `client-id`) or Artemis style
// (`durable-subscription-name`), collect what is published while their client is away,
// also across a router restart.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  Inbox,
  RawClients,
  rawHeader,
  sendWithReceipt,
  StompjsClients,
  stop,
  subscribeConfirmed,
  withReceipt,
  type StompClient,
  type StompHeaders,
} from '../../helpers/stomp-clients';
import { startRouter, type TestRouter } from '../../helpers/router';

let dir: string;
const routers: TestRouter[] = [];
const stompjs = new StompjsClients();
const raws = new RawClients();

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-stomp-'));
});
after(async () => {
  raws.closeAll();
  await stompjs.closeAll();
  for (const r of routers.splice(0)) await r.close().catch(() => undefined);
  fs.rmSync(dir, { recursive: true, force: true });
});

async function open(file?: string): Promise<TestRouter> {
  const r = await startRouter({ mqtt: { sysIntervalSeconds: 0 }, ...(file ? { store: { path: path.join(dir, file) } } : {}) });
  routers.push(r);
  return r;
}

/** Closes a router and forgets it (its clients are closed first). */
async function close(r: TestRouter): Promise<void> {
  await stompjs.closeAll();
  raws.closeAll();
  routers.splice(routers.indexOf(r), 1);
  await r.close();
}

async function durableSubscriber(
  r: TestRouter,
  connectHeaders: StompHeaders,
  destination: string,
  headers: StompHeaders,
): Promise<{ client: StompClient; inbox: Inbox }> {
  const { client } = await stompjs.ws(r.stompWsUrl, { connectHeaders });
  const inbox = new Inbox();
  await subscribeConfirmed(client, destination, inbox, headers);
  return { client, inbox };
}

async function publishAll(r: TestRouter, destination: string, bodies: string[]): Promise<void> {
  const { client } = await stompjs.tcp(r.stompPort);
  for (const b of bodies) await sendWithReceipt(client, destination, b);
  await stop(client);
}

describe('stomp durability', () => {
  it('stomp - a RECEIPT for a SEND to a queue means durable: the message and its headers survive a router restart', async () => {
    const first = await open('receipts.db');
    const { client } = await stompjs.ws(first.stompWsUrl);
    const binary = Buffer.from([0, 1, 2, 0, 255]);
    await sendWithReceipt(client, '/queue/durable.q', 'text one', {
      'content-type': 'text/plain',
      'correlation-id': 'corr-1',
      'x-app': 'kept',
    });
    await withReceipt(client, 'a binary SEND', (receipt) =>
      client.publish({ destination: '/queue/durable.q', binaryBody: binary, headers: { receipt } }),
    );
    await sendWithReceipt(client, '/queue/durable.q', 'three');
    await close(first);

    const second = await open('receipts.db');
    const { client: c } = await stompjs.tcp(second.stompPort);
    const inbox = new Inbox();
    c.subscribe('/queue/durable.q', inbox.push, { id: 'd', ack: 'client-individual' });
    const [m1, m2, m3] = await inbox.count(3, 'messages stored before the restart');
    assert.equal(m1?.body, 'text one');
    assert.equal(m1?.headers['content-type'], 'text/plain');
    assert.equal(m1?.headers['correlation-id'], 'corr-1');
    assert.equal(m1?.headers['x-app'], 'kept');
    assert.equal(m1?.headers['redelivered'], undefined, 'never delivered before');
    assert.ok(Buffer.from(m2?.binaryBody ?? []).equals(binary), 'the binary body, byte-exact');
    assert.equal(m3?.body, 'three');
    // m1 and m2 are acknowledged; m3 is delivered but not: after another restart it comes
    // back marked redelivered, and m1, m2 do not come back at all
    m1?.ack();
    m2?.ack();
    await sendWithReceipt(c, '/topic/durable.sync', 'sync'); // the ACKs are committed before this RECEIPT
    await close(second);

    const third = await open('receipts.db');
    const { raw } = await raws.connect(third.stompPort);
    await raw.request('SUBSCRIBE', { id: 's', destination: '/queue/durable.q', ack: 'client-individual' });
    const again = await raw.expect('MESSAGE', 'the unacknowledged message after the second restart');
    assert.equal(again.body.toString(), 'three');
    assert.equal(rawHeader(again, 'redelivered'), 'true');
    await raw.quiet('MESSAGE', 150, 'acknowledged messages do not come back');
    await close(third);
  });

  const styles: { name: string; connect: StompHeaders; subscribe: StompHeaders; other: StompHeaders }[] = [
    {
      name: 'RabbitMQ durable: true with a fixed id, owned by the login',
      // anonymous logins (a passcode would be checked: README "Authentication")
      connect: { login: 'alice' },
      subscribe: { id: 'rabbit-sub', durable: 'true', 'auto-delete': 'false' },
      other: { login: 'bob' },
    },
    {
      name: 'ActiveMQ activemq.subscriptionName with client-id',
      connect: { 'client-id': 'amq-client' },
      subscribe: { id: 'any-1', 'activemq.subscriptionName': 'amq-sub' },
      other: { 'client-id': 'amq-other' },
    },
    {
      name: 'Artemis durable-subscription-name with client-id',
      connect: { 'client-id': 'artemis-client' },
      subscribe: { id: 'any-2', 'durable-subscription-name': 'artemis-sub' },
      other: { 'client-id': 'artemis-other' },
    },
  ];

  for (const [i, style] of styles.entries()) {
    it(`stomp - durable topic subscription (${style.name}): messages published while away arrive on re-subscribe`, async () => {
      const r = await open();
      const topic = `/topic/durable.style${i}`;
      const { client, inbox } = await durableSubscriber(r, style.connect, topic, style.subscribe);
      await publishAll(r, topic, ['live']);
      await inbox.count(1, 'the live message');
      await stop(client);

      await publishAll(r, topic, ['away1', 'away2']);
      // another client id with the same subscription name does not get them
      const other = await durableSubscriber(r, style.other, topic, style.subscribe);
      await other.inbox.quiet(0, 100, 'another owner has its own subscription');
      await stop(other.client);

      const back = await durableSubscriber(r, style.connect, topic, style.subscribe);
      const got = await back.inbox.count(2, 'messages published while away');
      assert.deepEqual(
        got.map((m) => m.body),
        ['away1', 'away2'],
      );
      assert.equal(got[0]?.headers['destination'], topic);
      await back.inbox.quiet(2, 100, 'the live message is not delivered again');
      await close(r);
    });
  }

  it('stomp - a plain topic subscription gets nothing published while away; a wildcard durable subscription does', async () => {
    const r = await open();
    const plain = await durableSubscriber(r, { 'client-id': 'plain' }, '/topic/durable.wild.a', { id: 'p' });
    const wild = await durableSubscriber(r, { 'client-id': 'wild' }, '/topic/durable.wild.*', { id: 'w', durable: 'true' });
    await stop(plain.client);
    await stop(wild.client);
    await publishAll(r, '/topic/durable.wild.a', ['wa']);
    await publishAll(r, '/topic/durable.wild.b', ['wb']);
    const plainBack = await durableSubscriber(r, { 'client-id': 'plain' }, '/topic/durable.wild.a', { id: 'p' });
    const wildBack = await durableSubscriber(r, { 'client-id': 'wild' }, '/topic/durable.wild.*', { id: 'w', durable: 'true' });
    const got = await wildBack.inbox.count(2, 'the wildcard durable subscription');
    assert.deepEqual(
      got.map((m) => [m.body, m.headers['destination']]),
      [
        ['wa', '/topic/durable.wild.a'],
        ['wb', '/topic/durable.wild.b'],
      ],
    );
    await plainBack.inbox.quiet(0, 100, 'a non-durable subscription keeps nothing');
    await close(r);
  });

  it('stomp - UNSUBSCRIBE with durable: true deletes the durable subscription; without it only detaches', async () => {
    const r = await open();
    const topic = '/topic/durable.unsub';
    const connect = { 'client-id': 'unsub-client' };
    const headers = { id: 'u', durable: 'true' };
    // detach: a plain UNSUBSCRIBE keeps it collecting
    const a = await durableSubscriber(r, connect, topic, headers);
    await withReceipt(a.client, 'UNSUBSCRIBE (detach)', (receipt) => a.client.unsubscribe('u', { receipt }));
    await publishAll(r, topic, ['kept']);
    await stop(a.client);
    const b = await durableSubscriber(r, connect, topic, headers);
    assert.deepEqual(
      (await b.inbox.count(1, 'kept while detached')).map((m) => m.body),
      ['kept'],
    );
    // delete
    await withReceipt(b.client, 'UNSUBSCRIBE durable', (receipt) => b.client.unsubscribe('u', { receipt, durable: 'true' }));
    await publishAll(r, topic, ['dropped']);
    await stop(b.client);
    const c = await durableSubscriber(r, connect, topic, headers);
    await c.inbox.quiet(0, 150, 'a deleted durable subscription collected nothing');
    await close(r);
  });

  it('stomp - durable topic subscriptions survive a router restart: messages from before and after it are delivered', async () => {
    const first = await open('durable-subs.db');
    const topic = '/topic/durable.restart';
    const connect = { 'client-id': 'restart-client' };
    const headers = { id: 'any', 'activemq.subscriptionName': 'restart-sub', ack: 'client-individual' };
    const { client } = await durableSubscriber(first, connect, topic, headers);
    await stop(client);
    await publishAll(first, topic, ['before restart']);
    await close(first);

    const second = await open('durable-subs.db');
    // the subscription's feed is back before its client is: this is queued too
    await publishAll(second, topic, ['after restart']);
    const back = await durableSubscriber(second, connect, topic, headers);
    const got = await back.inbox.count(2, 'messages from before and after the restart');
    assert.deepEqual(
      got.map((m) => m.body),
      ['before restart', 'after restart'],
    );
    for (const m of got) m.ack();
    await sendWithReceipt(back.client, '/topic/durable.sync', 'sync');
    await close(second);

    // acknowledged: gone for good
    const third = await open('durable-subs.db');
    const again = await durableSubscriber(third, connect, topic, headers);
    await again.inbox.quiet(0, 150, 'acknowledged durable messages');
    await close(third);
  });
});
