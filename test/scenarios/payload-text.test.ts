// Plain text across protocols (issue 15): an MQTT or STOMP body with a text/* content
// type, or the MQTT 5 payload format indicator 1, reaches WAMP subscribers as a string
// (not "\u0000"+base64 bytes); a WAMP string published with content_type text/* (or
// payload_format_indicator 1) reaches MQTT and STOMP as its bare text; the round trip
// MQTT text -> WAMP string -> MQTT text keeps the bytes, the content type and the
// format indicator. Real clients: mqtt.js (5 and 3.1.1), @stomp/stompjs, autobahn
// (JSON and msgpack) and a hand-written WAMP JSON client for the EVENT details.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AutobahnSession } from '../helpers/autobahn';
import { publish, subscribe } from '../helpers/mqtt-clients';
import { scenarioFile } from '../helpers/scenario-file';
import { rawRoles } from '../helpers/rpc-clients';
import { Inbox, sendWithReceipt, subscribeConfirmed, withTimeout, WAIT_MS } from '../helpers/stomp-clients';
import { EventLog, subscribeLog } from '../helpers/wamp-clients';

const file = scenarioFile();
const { pool, stompjs, wamp } = file;
const mqttClient = (protocolVersion: 4 | 5 = 5): ReturnType<typeof file.mqtt> => file.mqtt('text', protocolVersion);

async function wampPublish(s: AutobahnSession, topic: string, args: unknown[], options: Record<string, unknown>): Promise<void> {
  const p = s.publish(topic, args, undefined, { ...options, acknowledge: true });
  if (!p) throw new Error('no PUBLISHED promise');
  await withTimeout(p, WAIT_MS, `PUBLISHED ${topic}`);
}

describe('payload - plain text into WAMP', () => {
  it('payload - MQTT 5 text with content type text/plain or the payload format indicator reaches WAMP JSON and msgpack subscribers as a string', async () => {
    const json = new EventLog();
    await subscribeLog(await wamp('json'), 'text.in', json);
    const msgpack = new EventLog();
    await subscribeLog(await wamp('msgpack'), 'text.in', msgpack);

    const { client } = await mqttClient(5);
    await publish(client, 'text/in', 'on', { qos: 1, properties: { contentType: 'text/plain' } });
    // JSON-looking text with a text content type stays text
    await publish(client, 'text/in', '21.5', { qos: 1, properties: { contentType: 'text/plain; charset=utf-8' } });
    await publish(client, 'text/in', '21.5 C', { qos: 1, properties: { payloadFormatIndicator: true } });
    // the format indicator alone: a JSON document is still JSON
    await publish(client, 'text/in', '{"t":21.5}', { qos: 1, properties: { payloadFormatIndicator: true } });
    const expected = [['on'], ['21.5'], ['21.5 C'], [{ t: 21.5 }]];
    assert.deepEqual(
      (await json.count(4, 'JSON subscriber')).map((e) => e.args),
      expected,
    );
    assert.deepEqual(
      (await msgpack.count(4, 'msgpack subscriber')).map((e) => e.args),
      expected,
    );
  });

  it('payload - STOMP text with content-type text/plain reaches WAMP as a string; an MQTT 3.1.1 body (no properties) stays bytes', async () => {
    const log = new EventLog();
    await subscribeLog(await wamp('json'), 'text.stomp', log);
    const { client: stomp } = await stompjs.tcp(file.router().stompPort);
    await sendWithReceipt(stomp, '/topic/text.stomp', 'off', { 'content-type': 'text/plain' });
    const { client } = await mqttClient(4);
    await publish(client, 'text/stomp', 'on', { qos: 1 });
    const got = await log.count(2, 'two events');
    assert.deepEqual(got[0]?.args, ['off']);
    // MQTT 3.1.1 cannot say its body is text: it travels as bytes ("\0"+base64 in WAMP JSON)
    assert.deepEqual(got[1]?.args, ['\0' + Buffer.from('on').toString('base64')]);
  });
});

describe('payload - WAMP strings out as text', () => {
  it('payload - a WAMP string with content_type text/plain reaches MQTT 5, MQTT 3.1.1 and STOMP as the bare text', async () => {
    const { client: m5, log: l5 } = await mqttClient(5);
    const { client: m4, log: l4 } = await mqttClient(4);
    await subscribe(m5, 'text/out', { qos: 1 });
    await subscribe(m4, 'text/out', { qos: 1 });
    const { client: stomp } = await stompjs.tcp(file.router().stompPort);
    const inbox = new Inbox();
    await subscribeConfirmed(stomp, '/topic/text.out', inbox, { id: 't' });

    const s = await wamp('json');
    await wampPublish(s, 'text.out', ['on'], { content_type: 'text/plain' });
    // without a text content type a string is JSON, as before
    await wampPublish(s, 'text.out', ['on'], {});
    const got5 = await l5.count(2, 'MQTT 5');
    assert.deepEqual(
      got5.map((m) => m.payload.toString()),
      ['on', '"on"'],
    );
    assert.equal(got5[0]?.packet.properties?.contentType, 'text/plain');
    assert.deepEqual(
      (await l4.count(2, 'MQTT 3.1.1')).map((m) => m.payload.toString()),
      ['on', '"on"'],
    );
    const sgot = await inbox.count(2, 'STOMP');
    assert.deepEqual(
      sgot.map((m) => m.body),
      ['on', '"on"'],
    );
    assert.equal(sgot[0]?.headers['content-type'], 'text/plain');
    assert.equal(sgot[1]?.headers['content-type'], 'application/json');
  });

  it('payload - MQTT text -> WAMP string -> MQTT text is lossless: bytes, content type and format indicator', async () => {
    const { client, log } = await mqttClient(5);
    await subscribe(client, 'text/back', { qos: 1 });
    const raw = await pool.raw(rawRoles());
    raw.send([32, 1, {}, 'text.there']);
    await raw.take((m) => m[0] === 33 && m[1] === 1, WAIT_MS, 'SUBSCRIBED');

    const sent = [
      { body: 'on', properties: { contentType: 'text/plain', payloadFormatIndicator: true } },
      { body: '21.5 C', properties: { payloadFormatIndicator: true } },
      { body: 'température 21,5 °C', properties: { contentType: 'text/plain;charset=utf-8' } },
    ];
    for (const m of sent) await publish(client, 'text/there', m.body, { qos: 1, properties: m.properties });
    // the WAMP client echoes each event with the headers its details carry
    for (let i = 0; i < sent.length; i++) {
      const ev = await raw.take((m) => m[0] === 36, WAIT_MS, `EVENT ${i}`);
      const details = ev[3] as Record<string, unknown>;
      assert.equal(typeof (ev[4] as unknown[])[0], 'string', `event ${i} is a string`);
      const options: Record<string, unknown> = { acknowledge: true };
      for (const k of ['content_type', 'payload_format_indicator']) if (k in details) options[k] = details[k];
      raw.send([16, 100 + i, options, 'text.back', ev[4]]);
      await raw.take((m) => m[0] === 17 && m[1] === 100 + i, WAIT_MS, `PUBLISHED ${i}`);
    }
    const back = await log.count(3, 'the texts back over MQTT');
    for (let i = 0; i < sent.length; i++) {
      const m = back[i];
      const s = sent[i];
      assert.equal(m?.payload.toString(), s?.body);
      assert.equal(m?.packet.properties?.contentType, s?.properties.contentType);
      assert.equal(m?.packet.properties?.payloadFormatIndicator, s?.properties.payloadFormatIndicator);
    }
  });
});
