// STOMP authorization holes (README "Authorization", "STOMP durable subscriptions", "STOMP
// to WAMP RPC"): an RPC reply-to is a publish the caller must be allowed to make; durable
// subscriptions belong to the authenticated user, not to a client-chosen client-id; a
// temporary queue's name does not derive from the public session id.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createUserRecord } from '../../lib/auth/user-record';
import { connect, wsOptions } from '../helpers/autobahn';
import { startRouter, type TestRouter } from '../helpers/router';
import {
  Inbox,
  sendWithReceipt,
  stop,
  StompjsClients,
  subscribeConfirmed,
  waitFor,
  withReceipt,
  withTimeout,
  WAIT_MS,
  type IFrame,
  type StompClient,
  type StompHeaders,
} from '../helpers/stomp-clients';
import { closeAll, type Client } from '../helpers/wamp-clients';

const FAST = { N: 1024, r: 8, p: 1 };

let r: TestRouter;
const wamp: Client[] = [];
const stompjs = new StompjsClients();
let calls = 0;

before(async () => {
  const users = [
    await createUserRecord({ authid: 'boss', role: 'all', password: 'boss-secret', scrypt: FAST }),
    await createUserRecord({ authid: 'alice', role: 'all', password: 'alice-secret', scrypt: FAST }),
    await createUserRecord({ authid: 'mallory', role: 'all', password: 'mallory-secret', scrypt: FAST }),
    await createUserRecord({ authid: 'stuck', role: 'sticky', password: 'stuck-secret', scrypt: FAST }),
  ];
  r = await startRouter({
    mqtt: { sysIntervalSeconds: 0 },
    auth: {
      users,
      roles: {
        all: { permissions: [{ uri: '', match: 'prefix', allow: ['*'] }] },
        sticky: { permissions: [{ uri: 'sticky.', match: 'prefix', allow: ['publish', 'subscribe'], deny: ['unsubscribe'] }] },
        anonymous: {
          permissions: [
            { uri: 'app.', match: 'prefix', allow: ['call', 'register'] },
            { uri: 'gatehouse.queue.jobs', allow: ['publish', 'subscribe'] },
          ],
        },
      },
    },
  });
  const c = await withTimeout(connect(wsOptions(r.wsUrl, 'json')), WAIT_MS, 'autobahn join');
  wamp.push(c);
  await c.session.register('app.echo', (args) => {
    calls++;
    return args[0];
  });
});
after(async () => {
  await stompjs.closeAll();
  await closeAll(wamp);
  await r.close();
});

function login(user: string): StompHeaders {
  return { login: user, passcode: `${user}-secret` };
}

/** Resolves with the ERROR frame a stompjs client gets next. */
function stompError(client: StompClient): Promise<IFrame> {
  return withTimeout(new Promise<IFrame>((resolve) => (client.onStompError = resolve)), WAIT_MS, 'STOMP ERROR');
}

/** What sits in /queue/<name>, read by boss (allowed everything) up to a marker it sends last. */
async function queueContents(name: string): Promise<string[]> {
  const { client } = await stompjs.tcp(r.stompPort, { connectHeaders: login('boss') });
  await sendWithReceipt(client, `/queue/${name}`, 'marker');
  const inbox = new Inbox();
  await subscribeConfirmed(client, `/queue/${name}`, inbox);
  await waitFor(() => inbox.bodies().includes('marker'), 'the marker');
  await stop(client);
  return inbox.bodies().filter((b) => b !== 'marker');
}

describe('authorization - STOMP RPC reply-to', () => {
  it('stompjs: a SEND to /rpc/ with reply-to a queue it may not publish to is refused before the call', async () => {
    const { client } = await stompjs.tcp(r.stompPort);
    const err = stompError(client);
    client.publish({ destination: '/rpc/app.echo', body: '["forged"]', headers: { 'reply-to': '/queue/payroll' } });
    assert.equal((await err).headers['message'], 'not authorized');
    assert.equal(calls, 0, 'the procedure was not called');
    assert.deepEqual(await queueContents('payroll'), [], 'nothing was written to /queue/payroll');
  });

  it('stompjs: error replies are not injected either (unknown procedure, invalid URI)', async () => {
    for (const destination of ['/rpc/app.nobody', '/rpc/bad..uri']) {
      const { client } = await stompjs.ws(r.stompWsUrl);
      const err = stompError(client);
      client.publish({ destination, body: '', headers: { 'reply-to': '/queue/payroll' } });
      assert.equal((await err).headers['message'], 'not authorized', destination);
    }
    assert.deepEqual(await queueContents('payroll'), []);
  });

  it('stompjs: reply-to a queue it may publish to still gets the result', async () => {
    const { client } = await stompjs.tcp(r.stompPort);
    await sendWithReceipt(client, '/rpc/app.echo', '["hello"]', { 'reply-to': '/queue/jobs' });
    const jobs = new Inbox();
    await subscribeConfirmed(client, '/queue/jobs', jobs);
    assert.deepEqual(
      (await jobs.count(1, 'the reply')).map((m) => m.body),
      ['"hello"'],
    );
  });
});

describe('STOMP durable subscriptions belong to the authenticated user', () => {
  const topic = '/topic/news.*';
  const sub = { id: 's', 'activemq.subscriptionName': 'feed' };

  it('stompjs: another user with the same client-id can neither delete, rebind nor drain it', async () => {
    const alice = await stompjs.ws(r.stompWsUrl, { connectHeaders: { ...login('alice'), 'client-id': 'shared' } });
    await subscribeConfirmed(alice.client, topic, () => undefined, sub);
    await stop(alice.client);
    const pub = await stompjs.tcp(r.stompPort, { connectHeaders: login('boss') });
    await sendWithReceipt(pub.client, '/topic/news.a', 'while away');

    const mallory = await stompjs.ws(r.stompWsUrl, { connectHeaders: { ...login('mallory'), 'client-id': 'shared' } });
    // delete by name: alice's is not hers, so there is none
    const err = stompError(mallory.client);
    mallory.client.unsubscribe('x', { 'activemq.subscriptionName': 'feed' });
    assert.match((await err).headers['message'] ?? '', /no such subscription|subscription/i);
    // drain: the same name and pattern is her own, empty subscription
    const m2 = await stompjs.ws(r.stompWsUrl, { connectHeaders: { ...login('mallory'), 'client-id': 'shared' } });
    const drained = new Inbox();
    await subscribeConfirmed(m2.client, topic, drained, sub);
    await drained.quiet(0, 100, 'mallory gets nothing of alice');
    await stop(m2.client);
    // wipe: binding the name to another pattern starts over only her own subscription
    const m3 = await stompjs.ws(r.stompWsUrl, { connectHeaders: { ...login('mallory'), 'client-id': 'shared' } });
    await subscribeConfirmed(m3.client, '/topic/other', () => undefined, sub);
    await stop(m3.client);

    const back = await stompjs.ws(r.stompWsUrl, { connectHeaders: { ...login('alice'), 'client-id': 'shared' } });
    const inbox = new Inbox();
    await subscribeConfirmed(back.client, topic, inbox, sub);
    assert.deepEqual(
      (await inbox.count(1, 'what was published while alice was away')).map((m) => m.body),
      ['while away'],
    );
  });

  it('stompjs: deleting a durable subscription needs unsubscribe on its pattern', async () => {
    const headers = { id: 'k', durable: 'true' };
    const a = await stompjs.ws(r.stompWsUrl, { connectHeaders: login('stuck') });
    await subscribeConfirmed(a.client, '/topic/sticky.x', () => undefined, headers);
    const err = stompError(a.client);
    a.client.unsubscribe('k', { durable: 'true' });
    assert.equal((await err).headers['message'], 'not authorized');
    const pub = await stompjs.tcp(r.stompPort, { connectHeaders: login('boss') });
    await sendWithReceipt(pub.client, '/topic/sticky.x', 'kept');
    const b = await stompjs.ws(r.stompWsUrl, { connectHeaders: login('stuck') });
    const inbox = new Inbox();
    await subscribeConfirmed(b.client, '/topic/sticky.x', inbox, headers);
    assert.deepEqual(
      (await inbox.count(1, 'the subscription survived')).map((m) => m.body),
      ['kept'],
    );
    await withReceipt(b.client, 'detach', (receipt) => b.client.unsubscribe('k', { receipt }));
  });
});

describe('STOMP temporary queues', () => {
  it('stompjs: the /reply-queue/ name a responder sees does not contain the public session id', async () => {
    const requester = await stompjs.tcp(r.stompPort, { connectHeaders: login('boss') });
    const sessionId = requester.connected.headers['session'];
    assert.ok(sessionId);
    const responder = await stompjs.tcp(r.stompPort, { connectHeaders: login('boss') });
    const requests = new Inbox();
    await subscribeConfirmed(responder.client, '/queue/rr.tokens', requests);
    await sendWithReceipt(requester.client, '/queue/rr.tokens', 'q', { 'reply-to': '/temp-queue/answers' });
    const [req] = await requests.count(1, 'the request');
    const replyTo = req?.headers['reply-to'] ?? '';
    assert.match(replyTo, /^\/reply-queue\/[0-9a-f]{32}\.answers$/);
    assert.ok(!replyTo.includes(sessionId), 'the session id does not name the queue');
    // a guess from the session id reaches nothing; the real name does
    const answers = new Inbox();
    await subscribeConfirmed(requester.client, '/temp-queue/answers', answers);
    await sendWithReceipt(responder.client, `/reply-queue/${sessionId}.answers`, 'guessed');
    await sendWithReceipt(responder.client, replyTo, 'real');
    assert.deepEqual(
      (await answers.count(1, 'the real reply')).map((m) => m.body),
      ['real'],
    );
    await answers.quiet(1, 100, 'the guessed name reached nothing');
  });
});
