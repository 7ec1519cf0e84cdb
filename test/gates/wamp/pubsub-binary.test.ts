// Binary payloads between serializers. WAMP advanced "Binary support in JSON": a byte
// array travels in JSON as the string "\u0000" + base64, in MessagePack and CBOR as their
// native binary type. The router converts at the edges, so every pair of sender and
// receiver serializers must see the same bytes in its own encoding. autobahn's JSON
// serializer does not implement the convention (it neither encodes Buffers nor decodes
// the strings), so a JSON autobahn session sends the spec string itself and receives it
// undecoded: for JSON receivers the test asserts the spec encoding on the wire.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startRouter, type TestRouter } from '../../helpers/router';
import {
  closeAll,
  connectAs,
  EventLog,
  isBinarySerializer,
  openWampy,
  RawWampClient,
  subscribeLog,
  TRANSPORT_NAMES,
  transportOptions,
  withTimeout,
  WAIT_MS,
  type Client,
  type TransportName,
  type WampyClient,
  type WampyEvent,
} from '../../helpers/wamp-clients';

const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const SMALL = new Uint8Array([0xde, 0xad, 0xbe, 0xef]);
const EMPTY = Buffer.alloc(0);

/** The WAMP JSON form of bytes. */
const jsonBinary = (b: Uint8Array): string => '\u0000' + Buffer.from(b).toString('base64');

/** A payload with binary at several depths, in the form a given sender must write it. */
function binaryPayload(encode: (b: Uint8Array) => unknown): { args: unknown[]; kwargs: Record<string, unknown> } {
  return {
    args: [encode(ALL_BYTES), 'text stays text', encode(EMPTY), 7],
    kwargs: { blob: encode(SMALL), nested: { deep: [encode(SMALL), { b: encode(ALL_BYTES) }] }, plain: 'x' },
  };
}

/** Bytes -> a comparable marker, everything else as is. */
function norm(v: unknown): unknown {
  if (v instanceof Uint8Array) return `<bytes ${Buffer.from(v).toString('hex')}>`;
  if (Array.isArray(v)) return v.map(norm);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, norm(x)]));
  return v;
}

/** What a receiver on `receiver` must see for binaryPayload. */
function expectedFor(receiver: TransportName): unknown {
  const p = binaryPayload((b) => (isBinarySerializer(receiver) ? Buffer.from(b) : jsonBinary(b)));
  return norm([p.args, p.kwargs]);
}

let router: TestRouter;
const clients: Client[] = [];
const receivers = new Map<TransportName, { client: Client; log: EventLog }>();
const senders = new Map<TransportName, Client>();

before(async () => {
  router = await startRouter();
  for (const tn of TRANSPORT_NAMES) {
    const receiver = await connectAs(transportOptions(router, tn), `receiver-${tn}`);
    const sender = await connectAs(transportOptions(router, tn), `sender-${tn}`);
    clients.push(receiver, sender);
    const log = new EventLog();
    await subscribeLog(receiver.session, 'bin.matrix', log);
    receivers.set(tn, { client: receiver, log });
    senders.set(tn, sender);
  }
});
after(async () => {
  await closeAll(clients);
  await router.close();
});

async function expectEverywhere(publicationTag: string, publish: () => Promise<number>): Promise<void> {
  const id = await publish();
  for (const [tn, { log }] of receivers) {
    await log.until((e) => e.details['publication'] === id, `${publicationTag} at ${tn}`);
    const got = log.events.find((e) => e.details['publication'] === id);
    assert.ok(got);
    assert.deepEqual(norm([got.args, got.kwargs]), expectedFor(tn), `${publicationTag} as received by ${tn}`);
  }
}

void describe('wamp pubsub binary', () => {
  for (const from of TRANSPORT_NAMES) {
    void it(`wamp pubsub - binary args and nested kwargs from ${from} reach every serializer intact`, async () => {
      const sender = senders.get(from);
      assert.ok(sender);
      // binary senders pass Buffers and Uint8Arrays; JSON senders write the spec string
      const p = binaryPayload((b) => (isBinarySerializer(from) ? (b === SMALL ? SMALL : Buffer.from(b)) : jsonBinary(b)));
      await expectEverywhere(`binary from ${from}`, async () => {
        const pub = sender.session.publish('bin.matrix', p.args, p.kwargs, { acknowledge: true });
        assert.ok(pub);
        return (await withTimeout(pub, WAIT_MS, 'PUBLISHED')).id;
      });
    });
  }

  void it('wamp pubsub - JSON receivers get binary as "\\u0000"+base64 on the wire (raw WebSocket)', async () => {
    const raw = await RawWampClient.open(router.wsUrl);
    try {
      const sub = await raw.subscribe('bin.wire');
      const texts: string[] = [];
      raw.ws.on('message', (data: Buffer) => texts.push(data.toString('utf8')));
      const sender = senders.get('websocket/msgpack');
      assert.ok(sender);
      const pub = sender.session.publish('bin.wire', [Buffer.from([1, 2, 3])], { k: Buffer.from([0xff]) }, { acknowledge: true });
      assert.ok(pub);
      const id = (await withTimeout(pub, WAIT_MS, 'PUBLISHED')).id;
      const ev = await raw.event(sub, 'binary EVENT');
      assert.deepEqual(ev, [36, sub, id, {}, ['\u0000AQID'], { k: '\u0000/w==' }]);
      const text = texts.find((t) => t.startsWith('[36,'));
      assert.ok(text?.includes('"\\u0000AQID"'), `the JSON text escapes U+0000: ${text}`);
    } finally {
      await raw.close();
    }
  });

  void it('wamp pubsub - binary from wampy (msgpackr and cbor-x encoders) reaches autobahn sessions intact', async () => {
    const wampies: WampyClient[] = [];
    try {
      for (const ser of ['msgpack', 'cbor'] as const) {
        const w = await openWampy(router.wsUrl, ser);
        wampies.push(w);
        const p = binaryPayload((b) => (b === SMALL ? SMALL : new Uint8Array(b)));
        // wampy always asks for acknowledgement; cbor-x tags Uint8Array (tag 64), msgpackr uses bin
        const res = await withTimeout(
          w.publish('bin.matrix', { argsList: p.args, argsDict: p.kwargs }),
          WAIT_MS,
          `wampy/${ser} PUBLISHED`,
        );
        const id = Number(res.publicationId);
        for (const [tn, { log }] of receivers) {
          await log.until((e) => e.details['publication'] === id, `wampy/${ser} binary at ${tn}`);
          const got = log.events.find((e) => e.details['publication'] === id);
          assert.ok(got);
          assert.deepEqual(norm([got.args, got.kwargs]), expectedFor(tn), `wampy/${ser} -> ${tn}`);
        }
      }
    } finally {
      await Promise.all(wampies.map((w) => withTimeout(w.disconnect(), WAIT_MS, 'wampy disconnect').catch(() => undefined)));
    }
  });

  void it('wamp pubsub - a wampy JSON subscriber receives binary as the spec string', async () => {
    const w = await openWampy(router.wsUrl, 'json');
    try {
      let resolve!: (e: WampyEvent) => void;
      const got = new Promise<WampyEvent>((r) => (resolve = r));
      await withTimeout(
        w.subscribe('bin.wampy', (e) => resolve(e)),
        WAIT_MS,
        'wampy SUBSCRIBED',
      );
      const sender = senders.get('websocket/cbor');
      assert.ok(sender);
      await withTimeout(
        sender.session.publish('bin.wampy', [SMALL], { k: SMALL }, { acknowledge: true }) ?? Promise.reject(new Error('no ack')),
        WAIT_MS,
        'PUBLISHED',
      );
      const ev = await withTimeout(got, WAIT_MS, 'wampy EVENT');
      assert.deepEqual([ev.argsList, ev.argsDict], [[jsonBinary(SMALL)], { k: jsonBinary(SMALL) }]);
    } finally {
      await withTimeout(w.disconnect(), WAIT_MS, 'wampy disconnect').catch(() => undefined);
    }
  });

  // wampy writes SUBSCRIBE.Options as {match: undefined, get_retained: undefined}:
  // msgpackr encodes undefined as fixext 0xd4 0x00 0x00, cbor-x as simple(23). The router
  // used to abort such sessions (protocol_violation); it now drops undefined dict values.
  for (const ser of ['msgpack', 'cbor'] as const) {
    void it(`wamp pubsub - a wampy ${ser} session subscribes (SUBSCRIBE.Options hold undefined values) and receives bytes`, async () => {
      const w = await openWampy(router.wsUrl, ser);
      try {
        let resolve!: (e: WampyEvent) => void;
        const got = new Promise<WampyEvent>((r) => (resolve = r));
        await withTimeout(
          w.subscribe('bin.wampy.sub', (e) => resolve(e)),
          WAIT_MS,
          `wampy/${ser} SUBSCRIBED`,
        );
        const sender = senders.get('websocket/json');
        assert.ok(sender);
        assert.equal(sender.session.publish('bin.wampy.sub', [jsonBinary(SMALL)]), undefined);
        const ev = await withTimeout(got, WAIT_MS, `wampy/${ser} EVENT`);
        assert.deepEqual(norm(ev.argsList), [norm(Buffer.from(SMALL))]);
      } finally {
        await withTimeout(w.disconnect(), WAIT_MS, 'wampy disconnect').catch(() => undefined);
      }
    });
  }
});
