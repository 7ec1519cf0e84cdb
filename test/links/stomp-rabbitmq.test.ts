// The STOMP link transport against RabbitMQ (Debian's rabbitmq-server with rabbitmq_stomp,
// test/helpers/rabbitmq.ts): the peer the issue names for STOMP bridges. SEND with a
// receipt lands on the amq.topic exchange as `/topic/<canonical topic>`, where an
// independent stompjs client subscribed to it receives it with the message id header;
// the transport's wildcard subscription (`*`, `#`, the same words in RabbitMQ's topic
// exchange) receives what that client sends; wrong credentials fail connect().
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RouterError } from '../../lib/errors';
import { StompLinkTransport } from '../../lib/links/stomp-transport';
import type { LinkMessage } from '../../lib/links/transport';
import { startRabbitMq, type RabbitMq } from '../helpers/rabbitmq';
import { Inbox, sendWithReceipt, StompjsClients, subscribeConfirmed, waitFor, WAIT_MS } from '../helpers/stomp-clients';

const cleanups: (() => Promise<void>)[] = [];
const stompjs = new StompjsClients();
const transports: StompLinkTransport[] = [];
let rabbit: RabbitMq;
/** RabbitMQ's default user, allowed from loopback only; the vhost is the CONNECT host */
const guest = { login: 'guest', passcode: 'guest', host: '/' };

before(async () => {
  rabbit = await startRabbitMq({ after: (fn) => void cleanups.push(fn) });
});
after(async () => {
  await Promise.all(transports.map((t) => t.close()));
  await stompjs.closeAll();
  await Promise.all(cleanups.map((fn) => fn()));
});

function transport(password = 'guest'): StompLinkTransport {
  // a cold node answers its first CONNECT slowly on a loaded machine
  const t = new StompLinkTransport({
    url: `stomp://127.0.0.1:${rabbit.stompPort}`,
    remoteRealm: '/',
    auth: { user: 'guest', password },
    timeoutMs: WAIT_MS * 3,
  });
  transports.push(t);
  return t;
}

void describe('links - STOMP transport against RabbitMQ', () => {
  void it('links stomp rabbitmq - send() resolves on RECEIPT and a RabbitMQ subscriber gets topic, body and message id', async () => {
    const { client } = await stompjs.tcp(rabbit.stompPort, { connectHeaders: guest });
    const inbox = new Inbox();
    await subscribeConfirmed(client, '/topic/site.#', inbox);
    const t = transport();
    await t.connect();
    await t.send({
      topic: 'site.r1.temp',
      payload: { args: [{ c: 21.5 }] },
      retain: false,
      messageId: 'site-a:1',
      headers: { userProperties: { unit: 'C' } },
    });
    await Promise.all(
      [2, 3, 4].map((i) => t.send({ topic: 'site.r1.n', payload: { args: [i] }, retain: false, messageId: `site-a:${i}` })),
    );
    const got = await inbox.count(4, 'the four publications at RabbitMQ');
    assert.equal(got[0]?.headers['destination'], '/topic/site.r1.temp');
    assert.equal(got[0]?.body, '{"c":21.5}');
    assert.equal(got[0]?.headers['gatehouse-message-id'], 'site-a:1');
    assert.equal(got[0]?.headers['unit'], 'C');
    assert.equal(got[0]?.headers['content-type'], 'application/json');
    assert.deepEqual(
      got.slice(1).map((m) => m.body),
      ['2', '3', '4'],
    );
  });

  void it('links stomp rabbitmq - subscribe() with fox-wamp wildcards receives what a RabbitMQ client sends, canonical', async () => {
    const t = transport();
    await t.connect();
    const got: LinkMessage[] = [];
    t.onMessage = (m) => got.push(m);
    await t.subscribe('hq.*.cmd');
    const { client } = await stompjs.tcp(rabbit.stompPort, { connectHeaders: guest });
    await sendWithReceipt(client, '/topic/hq.r1.cmd', '{"go":true}', { 'content-type': 'application/json', who: 'ops' });
    await sendWithReceipt(client, '/topic/hq.r1.x.cmd', 'not one level');
    await sendWithReceipt(client, '/topic/hq.r2.cmd', 'plain', { 'content-type': 'text/plain' });
    await waitFor(() => got.length >= 2, 'both matching messages at the link', WAIT_MS * 2);
    assert.deepEqual(
      got.map((m) => m.topic),
      ['hq.r1.cmd', 'hq.r2.cmd'],
    );
    assert.deepEqual(got[0]?.payload.args, [{ go: true }]);
    assert.equal(got[0]?.headers?.userProperties?.['who'], 'ops');
    assert.equal(got[0]?.messageId, '');
    assert.deepEqual(got[1]?.payload.args, ['plain']);
  });

  void it('links stomp rabbitmq - wrong credentials: connect() fails with the refusal', async () => {
    await assert.rejects(transport('wrong').connect(), RouterError);
  });
});
