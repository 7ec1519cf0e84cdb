// Request/reply over STOMP: `reply-to: /temp-queue/x` between two STOMP clients (the
// responder sees a /reply-queue/ destination it can SEND to; the requester gets the reply
// on its temporary queue, subscribed or not), and SEND to /rpc/<procedure> calling a
// procedure an autobahn session registered, the result (or error) arriving at reply-to
// (gates/stomp/rpc-bridge.ts).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { autobahn } from '../../helpers/autobahn';
import { joinWamp } from '../../helpers/mqtt-clients';
import {
  Inbox,
  RawClients,
  rawHeader,
  sendWithReceipt,
  StompjsClients,
  stop,
  subscribeConfirmed,
  type IMessage,
  type StompClient,
} from '../../helpers/stomp-clients';
import { startRouter, type TestRouter } from '../../helpers/router';

let router: TestRouter;
let wamp: Awaited<ReturnType<typeof joinWamp>>;
const stompjs = new StompjsClients();
const raws = new RawClients();

before(async () => {
  router = await startRouter({ mqtt: { sysIntervalSeconds: 0 } });
  wamp = await joinWamp(router);
  await wamp.session.register('rpc.add', (args) => (args[0] as number) + (args[1] as number));
  await wamp.session.register('rpc.kw', (args, kwargs) => ({ args, kwargs }));
  await wamp.session.register('rpc.fail', (args) => {
    throw new autobahn.Error('app.error.refused', ['no', args[0]], { code: 7 });
  });
});
after(async () => {
  raws.closeAll();
  await stompjs.closeAll();
  await wamp.close();
  await router.close();
});

/** A responder on a queue: answers each request to its reply-to with `answer(body)`. */
async function responder(queue: string, answer: (m: IMessage) => string): Promise<{ client: StompClient; requests: Inbox }> {
  const { client } = await stompjs.tcp(router.stompPort);
  const requests = new Inbox();
  await subscribeConfirmed(
    client,
    queue,
    (m) => {
      requests.push(m);
      const replyTo = m.headers['reply-to'];
      if (replyTo === undefined) return;
      const corr = m.headers['correlation-id'];
      client.publish({ destination: replyTo, body: answer(m), headers: corr === undefined ? {} : { 'correlation-id': corr } });
    },
    { id: 'responder' },
  );
  return { client, requests };
}

describe('stomp request/reply', () => {
  it('stomp - reply-to /temp-queue/x: the responder replies to the /reply-queue/ it is given; the requester gets it on its temp queue', async () => {
    const { requests } = await responder('/queue/rr.requests', (m) => `re: ${m.body}`);
    const { client } = await stompjs.ws(router.stompWsUrl);
    const replies = new Inbox();
    await subscribeConfirmed(client, '/temp-queue/replies', replies, { id: 'replies' });
    await sendWithReceipt(client, '/queue/rr.requests', 'question', {
      'reply-to': '/temp-queue/replies',
      'correlation-id': 'c-1',
    });
    const [req] = await requests.count(1, 'the request');
    assert.match(req?.headers['reply-to'] ?? '', /^\/reply-queue\/.+replies$/, 'rewritten to the destination others reach it by');
    assert.equal(req?.headers['correlation-id'], 'c-1');
    const [reply] = await replies.count(1, 'the reply');
    assert.equal(reply?.body, 're: question');
    assert.equal(reply?.headers['destination'], '/temp-queue/replies');
    assert.equal(reply?.headers['subscription'], 'replies');
    assert.equal(reply?.headers['correlation-id'], 'c-1');
  });

  it("stomp - a temporary queue is delivered without a SUBSCRIBE, and is the connection's own: two requesters with one name get their own replies", async () => {
    await responder('/queue/rr.own', (m) => `for ${m.body}`);
    const { raw: a } = await raws.connect(router.stompPort);
    const { raw: b } = await raws.connect(router.stompPort);
    await a.request('SEND', { destination: '/queue/rr.own', 'reply-to': '/temp-queue/x' }, 'a');
    await b.request('SEND', { destination: '/queue/rr.own', 'reply-to': '/temp-queue/x' }, 'b');
    const ra = await a.expect('MESSAGE', 'reply to a');
    const rb = await b.expect('MESSAGE', 'reply to b');
    assert.equal(ra.body.toString(), 'for a');
    assert.equal(rb.body.toString(), 'for b');
    assert.equal(rawHeader(ra, 'destination'), '/temp-queue/x');
    assert.equal(rawHeader(ra, 'subscription'), '/temp-queue/x', 'implicit delivery names the temp queue as subscription');
    await a.quiet('MESSAGE', 100, 'a gets only its own reply');
    a.destroy();
    b.destroy();
  });

  it('stomp - a temporary queue goes with its connection: a late reply is dropped, the responder is not failed', async () => {
    const { client: requester } = await stompjs.ws(router.stompWsUrl);
    const { client: resp } = await stompjs.tcp(router.stompPort);
    const requests = new Inbox();
    await subscribeConfirmed(resp, '/queue/rr.late', requests, { id: 'late' });
    await sendWithReceipt(requester, '/queue/rr.late', 'q', { 'reply-to': '/temp-queue/gone' });
    const [req] = await requests.count(1, 'the request');
    await stop(requester);
    await sendWithReceipt(resp, req?.headers['reply-to'] ?? '', 'too late');
    // the name does not pass to a new connection
    const { raw } = await raws.connect(router.stompPort);
    await raw.request('SUBSCRIBE', { id: 't', destination: '/temp-queue/gone' });
    await raw.quiet('MESSAGE', 150, "a new connection's /temp-queue/gone is another queue");
    assert.equal(resp.connected, true);
    raw.destroy();
  });

  it('stomp - SEND to /rpc/<procedure> with reply-to calls the WAMP procedure; the result arrives at the reply destination', async () => {
    const { client } = await stompjs.ws(router.stompWsUrl);
    const replies = new Inbox();
    await subscribeConfirmed(client, '/temp-queue/rpc', replies, { id: 'rpc' });
    client.publish({
      destination: '/rpc/rpc.add',
      body: '[2, 3]',
      headers: { 'reply-to': '/temp-queue/rpc', 'correlation-id': 'add-1' },
    });
    client.publish({
      destination: '/rpc/rpc.kw',
      body: '{"a":1}',
      headers: { 'reply-to': '/temp-queue/rpc', 'correlation-id': 'kw-1' },
    });
    const [sum, kw] = await replies.count(2, 'RPC results');
    assert.equal(sum?.body, '5');
    assert.equal(sum?.headers['content-type'], 'application/json');
    assert.equal(sum?.headers['correlation-id'], 'add-1');
    assert.equal(sum?.headers['error'], undefined);
    assert.deepEqual(JSON.parse(kw?.body ?? ''), { args: [], kwargs: { a: 1 } }, 'a JSON object body is the ArgumentsKw');
    assert.equal(kw?.headers['correlation-id'], 'kw-1');

    // the reply may go to a queue, for any consumer of it
    await sendWithReceipt(client, '/rpc/rpc.add', '[40, 2]', { 'reply-to': '/queue/rpc.results', 'correlation-id': 'q-1' });
    const { client: reader } = await stompjs.tcp(router.stompPort);
    const results = new Inbox();
    reader.subscribe('/queue/rpc.results', results.push, { id: 'res' });
    const [r] = await results.count(1, 'the result on a queue');
    assert.equal(r?.body, '42');
    assert.equal(r?.headers['correlation-id'], 'q-1');
  });

  it('stomp - an RPC error arrives at reply-to with header error = its URI and the error as a JSON body', async () => {
    const { client } = await stompjs.ws(router.stompWsUrl);
    const replies = new Inbox();
    await subscribeConfirmed(client, '/temp-queue/err', replies, { id: 'err' });
    client.publish({
      destination: '/rpc/rpc.fail',
      body: '["why"]',
      headers: { 'reply-to': '/temp-queue/err', 'correlation-id': 'f-1' },
    });
    client.publish({
      destination: '/rpc/rpc.nobody',
      body: '[]',
      headers: { 'reply-to': '/temp-queue/err', 'correlation-id': 'f-2' },
    });
    // the missing procedure fails at once, the callee's error comes later: match by correlation-id
    const got = await replies.count(2, 'RPC errors');
    const app = got.find((m) => m.headers['correlation-id'] === 'f-1');
    const none = got.find((m) => m.headers['correlation-id'] === 'f-2');
    assert.equal(app?.headers['error'], 'app.error.refused');
    assert.equal(app?.headers['correlation-id'], 'f-1');
    assert.deepEqual(JSON.parse(app?.body ?? ''), { error: 'app.error.refused', args: ['no', 'why'], kwargs: { code: 7 } });
    assert.equal(none?.headers['error'], 'wamp.error.no_such_procedure');
    assert.equal(JSON.parse(none?.body ?? '{}').error, 'wamp.error.no_such_procedure');
    assert.equal(client.connected, true, 'a failed call does not end the connection');
  });

  it('stomp - /rpc/ takes SENDs only: a SUBSCRIBE to it is an ERROR', async () => {
    const { raw } = await raws.connect(router.stompPort);
    raw.send('SUBSCRIBE', { id: 'x', destination: '/rpc/rpc.add' });
    const err = await raw.expect('ERROR', 'ERROR for SUBSCRIBE /rpc/');
    assert.equal(rawHeader(err, 'message'), 'invalid destination');
    await raw.waitClosed('close after the ERROR');
  });
});
