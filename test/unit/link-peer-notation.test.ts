// What the MQTT and STOMP link transports put on the wire for a link's patterns and
// messages, as pure functions (lib/links/peer-topics.ts, lib/links/stomp-headers.ts):
// fox-wamp wildcards become the peer's, concrete components go through lib/notation.ts,
// and a message survives SEND -> MESSAGE with its id, retain flag and headers.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseMqttFilter, parseStompDestination } from '../../lib/notation';
import { linkPatternToMqttFilter, linkPatternToStompDestination } from '../../lib/links/peer-topics';
import { messageOf, sendOf } from '../../lib/links/stomp-headers';
import type { LinkMessage } from '../../lib/links/transport';
import { transportFor } from '../../lib/links/transports';
import type { LinkTransportOptions } from '../../lib/links/transport';
import { WampTransport } from '../../lib/links/wamp-transport';

const bridgeTransportFor = (o: LinkTransportOptions) => transportFor(o.url)?.(o);
import { MqttLinkTransport } from '../../lib/links/mqtt-transport';
import { StompLinkTransport } from '../../lib/links/stomp-transport';
import { RouterError } from '../../lib/errors';

void describe('links - peer notation', () => {
  void it('links notation - link patterns as MQTT filters', () => {
    assert.equal(linkPatternToMqttFilter('site.#'), 'site/#');
    assert.equal(linkPatternToMqttFilter('a.*.c'), 'a/+/c');
    assert.equal(linkPatternToMqttFilter('*.b'), '+/b');
    assert.equal(linkPatternToMqttFilter('a.b'), 'a/b');
    // a component holding MQTT's separators is escaped as the MQTT gate writes it
    assert.equal(linkPatternToMqttFilter('a.b/c.#'), 'a/b%2Fc/#');
    assert.equal(linkPatternToMqttFilter('a.x+y'), 'a/x%2By');
    // `#` only last [MQTT-4.7.1-2]
    assert.equal(linkPatternToMqttFilter('a.#.c'), null);
    // what the MQTT gate reads back is the same pattern the core would index
    assert.equal(parseMqttFilter(linkPatternToMqttFilter('a.*.c') ?? '')?.uri, 'a..c');
  });

  void it('links notation - link patterns as STOMP destinations', () => {
    assert.equal(linkPatternToStompDestination('site.#'), '/topic/site.#');
    assert.equal(linkPatternToStompDestination('a.*.c'), '/topic/a.*.c');
    assert.equal(linkPatternToStompDestination('a.#.c'), null);
    assert.equal(linkPatternToStompDestination('a..c'), null);
    assert.equal(linkPatternToStompDestination('a.50%'), null);
    const d = parseStompDestination(linkPatternToStompDestination('a.*.c') ?? '');
    assert.equal(d?.kind === 'topic' ? d.pattern.uri : undefined, 'a..c');
  });

  void it('links notation - a message crosses SEND -> MESSAGE with id, retain and headers', () => {
    const m: LinkMessage = {
      topic: 'site.r1',
      payload: { args: [{ v: 1 }] },
      retain: true,
      messageId: 'node-a:17',
      headers: {
        correlationData: Buffer.from('c-1'),
        responseTopic: 'site.reply',
        expiresAt: 4_000_000_000_000,
        userProperties: { unit: 'C', destination: 'ignored' },
      },
    };
    const { headers, body } = sendOf(m);
    assert.equal(body.toString(), '{"v":1}');
    // a user property never overrides a frame header
    assert.equal(headers.filter(([n]) => n === 'destination').length, 0);
    const back = messageOf(
      [['destination', '/topic/site.r1'], ['message-id', 'broker-1'], ['subscription', 's1'], ...headers],
      body,
    );
    assert.ok(back);
    assert.equal(back.topic, 'site.r1');
    assert.equal(back.messageId, 'node-a:17');
    assert.equal(back.retain, true);
    assert.deepEqual(back.payload.args, [{ v: 1 }]);
    assert.equal(back.headers?.responseTopic, 'site.reply');
    assert.equal(back.headers?.expiresAt, 4_000_000_000_000);
    assert.equal(back.headers?.contentType, 'application/json');
    assert.deepEqual(back.headers?.userProperties, { unit: 'C' });
    assert.equal(Buffer.from(back.headers?.correlationData ?? []).toString(), 'c-1');
    // not a topic (a queue, a pattern): not a link message
    assert.equal(messageOf([['destination', '/queue/jobs']], body), null);
    assert.equal(messageOf([['destination', '/topic/a.*']], body), null);
  });

  void it('links notation - a STOMP SEND carries the headers as the STOMP gate writes a MESSAGE', () => {
    // one mapping (lib/stomp/headers.ts): a reply-to that was a queue (kept by the gate as
    // the user property reply-to) leaves as the header when there is no response topic
    const m: LinkMessage = {
      topic: 'site.r1',
      payload: { args: ['x'] },
      retain: false,
      messageId: 'node-a:18',
      headers: { userProperties: { 'reply-to': '/queue/answers', 'gatehouse-message-id': 'forged' } },
    };
    const { headers } = sendOf(m);
    assert.deepEqual(
      headers.filter(([n]) => n === 'reply-to'),
      [['reply-to', '/queue/answers']],
    );
    // the link's own headers are never taken from user properties
    assert.deepEqual(
      headers.filter(([n]) => n === 'gatehouse-message-id'),
      [['gatehouse-message-id', 'node-a:18']],
    );
  });

  void it('links transports - the url scheme picks the transport', () => {
    const o = (url: string): { url: string; remoteRealm: string; timeoutMs: number } => ({
      url,
      remoteRealm: 'realm1',
      timeoutMs: 1000,
    });
    assert.ok(bridgeTransportFor(o('mqtt://127.0.0.1:1883')) instanceof MqttLinkTransport);
    assert.ok(bridgeTransportFor(o('mqtts://broker.example')) instanceof MqttLinkTransport);
    assert.ok(bridgeTransportFor(o('stomp://127.0.0.1:61613')) instanceof StompLinkTransport);
    assert.ok(bridgeTransportFor(o('stomps://[::1]:61614')) instanceof StompLinkTransport);
    assert.ok(bridgeTransportFor(o('wss://hq.example/ws')) instanceof WampTransport);
    assert.equal(bridgeTransportFor(o('amqp://hq.example')), undefined);
    assert.equal(bridgeTransportFor(o('not a url')), undefined);
  });

  void it('links transports - a missing TLS file fails connect() naming it, before any connection', async () => {
    for (const url of ['mqtts://127.0.0.1:1', 'stomps://127.0.0.1:1']) {
      const t = bridgeTransportFor({ url, remoteRealm: 'realm1', timeoutMs: 1000, tls: { caFile: '/nonexistent/ca.pem' } });
      await assert.rejects(
        t?.connect() ?? Promise.resolve(),
        (e: unknown) => e instanceof RouterError && e.def.code === 'invalid_argument' && /nonexistent/.test(e.message),
      );
    }
  });
});
