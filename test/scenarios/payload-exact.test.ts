// Integers past 2^53 across protocols (issue 16 item 2) and the WAMP JSON escape of a
// string starting with U+0000 (issue 16 item 8): a 64-bit integer from a msgpack
// (wampy) or CBOR (autobahn) client reaches MQTT (mqtt.js), STOMP (@stomp/stompjs) and
// WAMP JSON subscribers as a JSON number with all its digits, through pub/sub, the
// `$rpc/` and `/rpc/` bridges and the retained store; a JSON body's 9007199254740993
// reaches msgpack/CBOR subscribers as that 64-bit integer.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { publish, subscribe, waitFor } from '../helpers/mqtt-clients';
import { scenarioFile } from '../helpers/scenario-file';
import { rawRoles, type RawWampClient, type WampyClient, type WampyResult } from '../helpers/rpc-clients';
import { Inbox, sendWithReceipt, subscribeConfirmed, withTimeout, WAIT_MS } from '../helpers/stomp-clients';
import { EventLog, subscribeLog } from '../helpers/wamp-clients';

const MAX_INT64 = 2n ** 63n - 1n;
const PAST_2_53 = 9007199254740993n;

const file = scenarioFile();
const { pool, stompjs, wamp } = file;
const mqttClient = (protocolVersion: 4 | 5 = 5): ReturnType<typeof file.mqtt> => file.mqtt('exact', protocolVersion);

async function acked(p: Promise<unknown> | undefined, what: string): Promise<void> {
  if (!p) throw new Error(`${what}: no PUBLISHED promise`);
  await withTimeout(p, WAIT_MS, what);
}

/** A raw WAMP JSON subscriber: its frames show the digits exactly as the router wrote them. */
async function rawJsonSubscriber(topic: string, options: Record<string, unknown> = {}): Promise<RawWampClient> {
  const raw = await pool.raw(rawRoles());
  raw.send([32, 1, options, topic]);
  await raw.take((m) => m[0] === 33 && m[1] === 1, WAIT_MS, `SUBSCRIBED ${topic}`);
  return raw;
}

function eventFrames(raw: RawWampClient): string[] {
  return raw.frames.filter((f) => f.startsWith('[36,'));
}

/** wampy's events, collected. */
function wampyLog(): { events: WampyResult[]; handler: (e: WampyResult) => void } {
  const events: WampyResult[] = [];
  return { events, handler: (e) => events.push(e) };
}

describe('payload - integers past 2^53', () => {
  it('payload - 2^63-1 and 9007199254740993 from msgpack and CBOR publishers reach MQTT, STOMP and WAMP JSON subscribers with all their digits', async () => {
    const { client: m5, log: mlog5 } = await mqttClient(5);
    const { client: m4, log: mlog4 } = await mqttClient(4);
    await subscribe(m5, 'exact/pub', { qos: 1 });
    await subscribe(m4, 'exact/pub', { qos: 1 });
    const { client: stomp } = await stompjs.tcp(file.router().stompPort);
    const sinbox = new Inbox();
    await subscribeConfirmed(stomp, '/topic/exact.pub', sinbox, { id: 's1' });
    const raw = await rawJsonSubscriber('exact.pub');
    const jsonLog = new EventLog();
    await subscribeLog(await wamp('json'), 'exact.pub', jsonLog);

    const wampy: WampyClient = await pool.wampy('msgpack');
    await wampy.publish('exact.pub', [MAX_INT64]);
    await wampy.publish('exact.pub', { argsList: [], argsDict: { n: PAST_2_53, list: [-PAST_2_53, 1] } });
    const cbor = await wamp('cbor');
    await acked(cbor.publish('exact.pub', [PAST_2_53, MAX_INT64], undefined, { acknowledge: true }), 'CBOR PUBLISH');

    const bodies = [
      '9223372036854775807',
      '{"n":9007199254740993,"list":[-9007199254740993,1]}',
      '[9007199254740993,9223372036854775807]',
    ];
    assert.deepEqual(
      (await mlog5.count(3, 'MQTT 5 subscriber')).map((m) => m.payload.toString()),
      bodies,
    );
    assert.deepEqual(
      (await mlog4.count(3, 'MQTT 3.1.1 subscriber')).map((m) => m.payload.toString()),
      bodies,
    );
    assert.deepEqual(
      (await sinbox.count(3, 'STOMP subscriber')).map((m) => m.body),
      bodies,
    );
    for (const m of sinbox.messages) assert.equal(m.headers['content-type'], 'application/json');

    await jsonLog.count(3, 'autobahn JSON subscriber gets every event');
    await waitFor(() => eventFrames(raw).length >= 3, 'three EVENTs on the raw JSON subscriber');
    const frames = eventFrames(raw);
    assert.match(frames[0] ?? '', /,\[9223372036854775807\]\]$/);
    assert.match(frames[1] ?? '', /,\[\],\{"n":9007199254740993,"list":\[-9007199254740993,1\]\}\]$/);
    assert.match(frames[2] ?? '', /,\[9007199254740993,9223372036854775807\]\]$/);
  });

  it('payload - a JSON body with 9007199254740993 (MQTT, STOMP) reaches msgpack and CBOR subscribers as that 64-bit integer', async () => {
    const w = wampyLog();
    const wampy = await pool.wampy('msgpack');
    await wampy.subscribe('exact.in', w.handler);
    const cborLog = new EventLog();
    await subscribeLog(await wamp('cbor'), 'exact.in', cborLog);

    const { client } = await mqttClient(5);
    await publish(client, 'exact/in', '{"n":9007199254740993,"max":9223372036854775807,"min":-9223372036854775808,"small":42}', {
      qos: 1,
    });
    const { client: stomp } = await stompjs.tcp(file.router().stompPort);
    await sendWithReceipt(stomp, '/topic/exact.in', '[9007199254740993, 18446744073709551615]', {
      'content-type': 'application/json',
    });

    const expected0 = { n: PAST_2_53, max: MAX_INT64, min: -(2n ** 63n), small: 42 };
    const expected1 = [PAST_2_53, 2n ** 64n - 1n];
    const c = await cborLog.count(2, 'CBOR subscriber');
    assert.deepEqual(c[0]?.args, [expected0]);
    assert.deepEqual(c[1]?.args, [expected1]);
    await waitFor(() => w.events.length >= 2, 'msgpack subscriber');
    assert.deepEqual(w.events[0]?.argsList, [expected0]);
    assert.deepEqual(w.events[1]?.argsList, [expected1]);
  });

  it('payload - $rpc/ and /rpc/ calls carry bigints both ways: the arguments exact, the replies with all their digits', async () => {
    const callee = await wamp('cbor');
    const seen: unknown[] = [];
    await withTimeout(
      callee.register('exact.inc', (args) => {
        seen.push(args[0]);
        return (args[0] as bigint) + 1n;
      }),
      WAIT_MS,
      'REGISTERED exact.inc',
    );

    const { client, log } = await mqttClient(5);
    await subscribe(client, 'exact/replies', { qos: 1 });
    await publish(client, '$rpc/exact.inc', '[9007199254740993]', {
      qos: 1,
      properties: { responseTopic: 'exact/replies', correlationData: Buffer.from('c1') },
    });
    const [reply] = await log.count(1, 'the $rpc/ reply');
    assert.equal(reply?.payload.toString(), '9007199254740994');
    assert.equal(reply?.packet.properties?.correlationData?.toString(), 'c1');

    const { client: stomp } = await stompjs.tcp(file.router().stompPort);
    const replies = new Inbox();
    await subscribeConfirmed(stomp, '/temp-queue/exact', replies, { id: 'r' });
    stomp.publish({ destination: '/rpc/exact.inc', body: '[9223372036854775806]', headers: { 'reply-to': '/temp-queue/exact' } });
    const [sreply] = await replies.count(1, 'the /rpc/ reply');
    assert.equal(sreply?.body, '9223372036854775807');
    assert.deepEqual(seen, [PAST_2_53, MAX_INT64 - 1n], 'the callee got the arguments exact');
  });

  it('payload - a retained bigint is stored, acknowledged and replayed exact to every protocol', async () => {
    const cbor = await wamp('cbor');
    await acked(
      cbor.publish('exact.kept', [{ n: PAST_2_53, max: MAX_INT64 }], undefined, { acknowledge: true, retain: true }),
      'retained PUBLISH',
    );
    // the publisher's session survives it
    await acked(cbor.publish('exact.after', [1], undefined, { acknowledge: true }), 'a later PUBLISH on the same session');

    const { client, log } = await mqttClient(5);
    await subscribe(client, 'exact/kept', { qos: 1 });
    const [m] = await log.count(1, 'the retained value over MQTT');
    assert.equal(m?.payload.toString(), '{"n":9007199254740993,"max":9223372036854775807}');
    assert.equal(m?.packet.retain, true);

    const replay = new EventLog();
    await subscribeLog(await wamp('cbor'), 'exact.kept', replay, { retained: true });
    const [e] = await replay.count(1, 'the retained value over CBOR');
    assert.deepEqual(e?.args, [{ n: PAST_2_53, max: MAX_INT64 }]);

    // and an MQTT retained JSON body comes back exact from the store
    await publish(client, 'exact/kept2', '[9007199254740993]', { qos: 1, retain: true });
    const replay2 = new EventLog();
    await subscribeLog(await wamp('cbor'), 'exact.kept2', replay2, { retained: true });
    const [e2] = await replay2.count(1, 'the retained MQTT value over CBOR');
    assert.deepEqual(e2?.args, [[PAST_2_53]]);
  });
});

describe('payload - a string starting with U+0000 and WAMP JSON', () => {
  it('payload - a JSON string body starting with U+0000 reaches WAMP JSON subscribers escaped as "\\u0000\\u0000"+text, and every other subscriber as itself', async () => {
    const raw = await rawJsonSubscriber('nul.text');
    const jsonLog = new EventLog();
    await subscribeLog(await wamp('json'), 'nul.text', jsonLog);
    const cborLog = new EventLog();
    await subscribeLog(await wamp('cbor'), 'nul.text', cborLog);

    const { client } = await mqttClient(5);
    await publish(client, 'nul/text', '"\\u0000hello"', { qos: 1 });
    const [j] = await jsonLog.count(1, 'autobahn JSON subscriber');
    // autobahn does not apply the binary convention: it shows the escape as it is
    assert.deepEqual(j?.args, ['\0\0hello']);
    await waitFor(() => eventFrames(raw).length >= 1, 'EVENT on the raw JSON subscriber');
    assert.match(eventFrames(raw)[0] ?? '', /,\["\\u0000\\u0000hello"\]\]$/);
    const [c] = await cborLog.count(1, 'CBOR subscriber');
    assert.deepEqual(c?.args, ['\0hello']);
  });

  it('payload - a WAMP JSON publisher sends such a string as "\\u0000\\u0000"+text; MQTT gets the string back', async () => {
    const { client, log } = await mqttClient(5);
    await subscribe(client, 'nul/back', { qos: 1 });
    const raw = await pool.raw(rawRoles());
    raw.send([16, 7, { acknowledge: true }, 'nul.back', ['\0\0x', '\0AQI=']]);
    await raw.take((m) => m[0] === 17 && m[1] === 7, WAIT_MS, 'PUBLISHED');
    const [m] = await log.count(1, 'MQTT subscriber');
    assert.equal(m?.payload.toString(), '["\\u0000x","\\u0000AQI="]');
  });
});
