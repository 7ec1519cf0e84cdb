import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { PacketReader } from '../../gates/mqtt/packet-reader';

// The MQTT gate's packet reader against the codec of record (mqtt-packet 9): every
// packet the reader decodes itself must equal what mqtt-packet makes of the same bytes.

type Version = 3 | 4 | 5;
type Event = { kind: 'packet'; packet: Record<string, unknown>; fast: boolean } | { kind: 'error'; message: string };

const MAX = 1 << 20;

/**
 * Runs the chunks through a reader at `version` (0: the fast path off, every packet to
 * the codec) whose codec speaks `codecVersion`; stops at the first error, as the
 * connection does.
 */
function read(chunks: Buffer[], version: 0 | Version, codecVersion: Version = version || 4, max = MAX): Event[] {
  const events: Event[] = [];
  let open = true;
  const codec = mqttPacket.parser({ protocolVersion: codecVersion });
  codec.on('packet', (p: Packet) => {
    if (open) events.push({ kind: 'packet', packet: plain(p), fast: false });
  });
  codec.on('error', (err: Error) => {
    if (open) events.push({ kind: 'error', message: err.message });
    open = false;
  });
  const reader = new PacketReader(
    { parse: (b: Buffer) => codec.parse(b) },
    (p) => {
      if (open) events.push({ kind: 'packet', packet: plain(p), fast: true });
    },
    max,
    () => open,
  );
  reader.version = version;
  for (const c of chunks) reader.push(c);
  return events;
}

/** What mqtt-packet alone makes of the whole stream, fed at once. */
function reference(wire: Buffer, version: Version): Event[] {
  const events: Event[] = [];
  const codec = mqttPacket.parser({ protocolVersion: version });
  let open = true;
  codec.on('packet', (p: Packet) => {
    if (open) events.push({ kind: 'packet', packet: plain(p), fast: false });
  });
  codec.on('error', (err: Error) => {
    if (open) events.push({ kind: 'error', message: err.message });
    open = false;
  });
  codec.parse(wire);
  return events;
}

/** A packet's own fields, as a plain object (mqtt-packet's are instances of its Packet class). */
function plain(p: Packet): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p)) if (v !== undefined) o[k] = Buffer.isBuffer(v) ? Buffer.from(v) : v;
  return o;
}

function withoutPath(events: Event[]): unknown[] {
  return events.map((e) => (e.kind === 'packet' ? { kind: e.kind, packet: e.packet } : e));
}

/** Splits `wire` at the given cut points (sorted, deduplicated, inside the buffer). */
function cut(wire: Buffer, points: number[]): Buffer[] {
  const at = [...new Set(points.map((p) => p % (wire.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of at) {
    if (p > prev) out.push(wire.subarray(prev, p));
    prev = Math.max(prev, p);
  }
  if (prev < wire.length) out.push(wire.subarray(prev));
  return out;
}

// ----- random packets, made by mqtt-packet's own generator -----

const topicText = fc.oneof(
  fc.stringMatching(/^[a-z0-9/ ._$-]{1,40}$/),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 10 }),
);
const payload = fc.oneof(
  { weight: 5, arbitrary: fc.uint8Array({ maxLength: 200 }) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 120, maxLength: 20000 }) },
);
const id = fc.integer({ min: 1, max: 65535 });
const userProperties = fc.dictionary(fc.stringMatching(/^[a-z]{1,6}$/), fc.stringMatching(/^[a-z0-9]{0,6}$/), {
  minKeys: 1,
  maxKeys: 3,
});
const publishProperties = fc.record(
  {
    payloadFormatIndicator: fc.boolean(),
    messageExpiryInterval: fc.integer({ min: 0, max: 0xffffffff }),
    contentType: fc.stringMatching(/^[a-z/]{1,12}$/),
    responseTopic: fc.stringMatching(/^[a-z/]{1,12}$/),
    correlationData: fc.uint8Array({ maxLength: 8 }).map((a) => Buffer.from(a)),
    topicAlias: fc.integer({ min: 1, max: 65535 }),
    subscriptionIdentifier: fc.integer({ min: 1, max: 268435455 }),
    userProperties,
  },
  { requiredKeys: [] },
);

function packetArb(v: Version): fc.Arbitrary<Record<string, unknown>> {
  const publish = fc
    .record({
      topic: topicText,
      payload: payload.map((a) => Buffer.from(a)),
      qos: fc.constantFrom(0, 1, 2),
      retain: fc.boolean(),
      dup: fc.boolean(),
      messageId: id,
      properties: v === 5 ? fc.option(publishProperties, { nil: undefined }) : fc.constant(undefined),
    })
    .map((p) => {
      const o: Record<string, unknown> = { cmd: 'publish', ...p };
      if (p.qos === 0) delete o.messageId;
      if (o.properties === undefined) delete o.properties;
      return o;
    });
  const confirmation = fc
    .record({
      cmd: fc.constantFrom('puback', 'pubrec', 'pubrel', 'pubcomp'),
      messageId: id,
      reasonCode: v === 5 ? fc.option(fc.constantFrom(0, 0x10, 0x80, 0x92), { nil: undefined }) : fc.constant(undefined),
      properties:
        v === 5
          ? fc.option(fc.record({ reasonString: fc.stringMatching(/^[a-z ]{1,12}$/) }), { nil: undefined })
          : fc.constant(undefined),
    })
    .map((p) => {
      const o: Record<string, unknown> = { ...p };
      // codes valid for the packet kind (the codec refuses the others on both paths)
      if (o.reasonCode === 0x92 && (p.cmd === 'puback' || p.cmd === 'pubrec')) o.reasonCode = 0x10;
      if ((o.reasonCode === 0x10 || o.reasonCode === 0x80) && (p.cmd === 'pubrel' || p.cmd === 'pubcomp')) o.reasonCode = 0x92;
      for (const k of ['reasonCode', 'properties']) if (o[k] === undefined) delete o[k];
      return o;
    });
  const others = fc.oneof(
    fc.constant({ cmd: 'pingreq' }),
    fc.record({
      cmd: fc.constant('subscribe'),
      messageId: id,
      subscriptions: fc.array(fc.record({ topic: fc.stringMatching(/^[a-z/+#]{1,10}$/), qos: fc.constantFrom(0, 1, 2) }), {
        minLength: 1,
        maxLength: 3,
      }),
    }),
    fc.record({
      cmd: fc.constant('unsubscribe'),
      messageId: id,
      unsubscriptions: fc.array(fc.stringMatching(/^[a-z/]{1,10}$/), { minLength: 1, maxLength: 3 }),
    }),
  );
  return fc.oneof({ weight: 4, arbitrary: publish }, { weight: 3, arbitrary: confirmation }, { weight: 1, arbitrary: others });
}

function encode(packets: Record<string, unknown>[], v: Version): Buffer {
  return Buffer.concat(packets.map((p) => mqttPacket.generate(p as unknown as Packet, { protocolVersion: v })));
}

const streamArb = fc
  .constantFrom<Version>(3, 4, 5)
  .chain((v) => fc.tuple(fc.constant(v), fc.array(packetArb(v), { minLength: 1, maxLength: 12 })));

describe('MQTT packet reader', () => {
  it('mqtt packet reader - random packets decode as mqtt-packet decodes them, in one chunk or cut anywhere', () => {
    let fast = 0;
    fc.assert(
      fc.property(streamArb, fc.array(fc.nat(), { maxLength: 8 }), ([v, packets], cuts) => {
        const wire = encode(packets, v);
        const expected = withoutPath(reference(wire, v));
        assert.equal(expected.length, packets.length, 'the generator made what the codec reads');
        const whole = read([wire], v);
        assert.deepEqual(withoutPath(whole), expected);
        assert.deepEqual(withoutPath(read(cut(wire, cuts), v)), expected);
        fast += whole.filter((e) => e.kind === 'packet' && e.fast).length;
      }),
      { numRuns: 400 },
    );
    // the property is about the fast path: make sure it ran
    assert.ok(fast > 400, `fast path decoded only ${fast} packets`);
  });

  it('mqtt packet reader - a stream cut at every byte boundary, and fed a byte at a time, reads the same', () => {
    fc.assert(
      fc.property(streamArb, ([v, packets]) => {
        const wire = encode(packets.slice(0, 4), v);
        if (wire.length > 3000) return;
        const expected = withoutPath(reference(wire, v));
        for (let k = 1; k < wire.length; k++)
          assert.deepEqual(withoutPath(read([wire.subarray(0, k), wire.subarray(k)], v)), expected);
        assert.deepEqual(
          withoutPath(
            read(
              [...wire].map((b) => Buffer.from([b])),
              v,
            ),
          ),
          expected,
        );
      }),
      { numRuns: 60 },
    );
  });

  it('mqtt packet reader - on damaged input the fast path agrees with the codec alone, packet for packet', () => {
    fc.assert(
      fc.property(
        streamArb,
        fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 3 }),
        fc.array(fc.nat(), { maxLength: 4 }),
        ([v, packets], damage, cuts) => {
          const wire = Buffer.from(encode(packets, v));
          for (const [at, byte] of damage) wire[at % wire.length] = byte;
          const codecOnly = withoutPath(read([wire], 0, v));
          assert.deepEqual(withoutPath(read([wire], v)), codecOnly);
          assert.deepEqual(withoutPath(read(cut(wire, cuts), v)), codecOnly);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('mqtt packet reader - the hot packets of MQTT 3.1.1 and 5 take the fast path', () => {
    for (const v of [4, 5] as const) {
      const wire = encode(
        [
          { cmd: 'publish', topic: 'a/b', payload: Buffer.from('x'), qos: 1, messageId: 7, retain: false, dup: false },
          { cmd: 'publish', topic: 'a/b', payload: Buffer.alloc(0), qos: 0, retain: true, dup: false },
          { cmd: 'puback', messageId: 7 },
          { cmd: 'pubrec', messageId: 8 },
          { cmd: 'pubrel', messageId: 8 },
          { cmd: 'pubcomp', messageId: 8 },
          { cmd: 'pingreq' },
        ],
        v,
      );
      const events = read([wire], v);
      assert.equal(events.length, 7);
      assert.ok(
        events.every((e) => e.kind === 'packet' && e.fast),
        JSON.stringify(events),
      );
    }
  });

  it('mqtt packet reader - repeated, alternating and same-length topic names read right', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('a/b', 'a/c', 'b/b', 'a/bc', 'a', 'caf\u00e9', 'a/b'), { minLength: 2, maxLength: 20 }),
        (topics) => {
          const wire = encode(
            topics.map((topic) => ({ cmd: 'publish', topic, payload: Buffer.from(topic), qos: 0, retain: false, dup: false })),
            4,
          );
          const events = read([wire], 4);
          assert.deepEqual(withoutPath(events), withoutPath(reference(wire, 4)));
          assert.deepEqual(
            events.map((e) => (e.kind === 'packet' ? e.packet.topic : e.message)),
            topics,
          );
        },
      ),
      { numRuns: 200 },
    );
  });

  it('mqtt packet reader - what it does not decode itself goes to the codec: properties, non-ASCII or U+0000 topics, odd lengths', () => {
    const cases: [Version, Buffer][] = [
      [
        5,
        mqttPacket.generate(
          {
            cmd: 'publish',
            topic: 'a',
            payload: Buffer.from('x'),
            qos: 0,
            retain: false,
            dup: false,
            properties: { contentType: 'text/plain' },
          },
          { protocolVersion: 5 },
        ),
      ],
      [
        4,
        mqttPacket.generate(
          { cmd: 'publish', topic: 'caf\u00e9', payload: Buffer.from('x'), qos: 0, retain: false, dup: false },
          { protocolVersion: 4 },
        ),
      ],
      [
        4,
        mqttPacket.generate(
          { cmd: 'publish', topic: 'a\u0000b', payload: Buffer.from('x'), qos: 0, retain: false, dup: false },
          { protocolVersion: 4 },
        ),
      ],
      // PUBACK with a third byte: MQTT 3.1.1 ignores it, the codec decides
      [4, Buffer.from([0x40, 3, 0, 1, 0])],
      [
        5,
        mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a', qos: 1 }] }, { protocolVersion: 5 }),
      ],
    ];
    for (const [v, wire] of cases) {
      const events = read([wire], v);
      assert.equal(events.length, 1);
      assert.deepEqual(events[0], { ...reference(wire, v)[0], fast: false });
    }
  });

  it('mqtt packet reader - malformed packets are the codec errors they always were', () => {
    const cases: [Version, Buffer, RegExp][] = [
      [4, Buffer.from([0x36, 5, 0, 1, 0x61, 0, 1]), /both QoS bits/], // QoS 3
      [4, Buffer.from([0x41, 2, 0, 1]), /Invalid header flag bits/i], // PUBACK flags
      [4, Buffer.from([0x60, 2, 0, 1]), /Invalid header flag bits/i], // PUBREL flags must be 0010
      [5, Buffer.from([0x40, 3, 0, 1, 0x05]), /Invalid puback reason code/],
      [4, Buffer.from([0x30, 3, 0, 9, 0x61]), /Cannot parse topic/], // topic longer than the packet
      [4, Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), /Invalid variable byte integer/],
    ];
    for (const [v, wire, message] of cases) {
      const events = read([wire], v);
      assert.equal(events.length, 1, `${wire.toString('hex')}: ${JSON.stringify(events)}`);
      const e = events[0];
      assert.ok(e?.kind === 'error' && message.test(e.message), `${wire.toString('hex')}: ${JSON.stringify(e)}`);
    }
  });

  it('mqtt packet reader - edge cases of the fast path read as the codec alone reads them', () => {
    const cases: [Version, number[]][] = [
      [5, [0x40, 4, 0, 1, 0, 3, 0x1f, 0, 0]], // PUBACK, a property list longer than the packet
      [5, [0x40, 4, 0, 1, 0, 1]], // PUBACK, property list length 1 in a 4-byte packet
      [5, [0x62, 3, 0, 1, 0x92]], // PUBREL, "not found"
      [5, [0x70, 3, 0, 1, 0x10]], // PUBCOMP, a PUBACK code
      [5, [0x30, 4, 0, 1, 0x61, 5]], // PUBLISH, property length past the end
      [5, [0x30, 3, 0, 1, 0x61]], // PUBLISH, no property length at all
      [4, [0x32, 3, 0, 1, 0x61]], // QoS 1 PUBLISH without its packet id
      [4, [0x32, 5, 0, 1, 0x61, 0, 0]], // QoS 1 PUBLISH, packet id 0 (the gate refuses it, the codec reads it)
      [4, [0xc0, 1, 0]], // PINGREQ with a body
      [4, [0xc0, 0, 0x40, 2, 0, 9]], // PINGREQ then PUBACK
    ];
    for (const [v, bytes] of cases) {
      const wire = Buffer.from(bytes);
      const codecOnly = withoutPath(read([wire], 0, v));
      assert.deepEqual(withoutPath(read([wire], v)), codecOnly, wire.toString('hex'));
      for (let k = 1; k < wire.length; k++)
        assert.deepEqual(
          withoutPath(read([wire.subarray(0, k), wire.subarray(k)], v)),
          codecOnly,
          `${wire.toString('hex')} cut at ${k}`,
        );
    }
  });

  it('mqtt packet reader - a packet above the maximum size is streamed to the codec, not held', () => {
    const big = mqttPacket.generate(
      { cmd: 'publish', topic: 'a', payload: Buffer.alloc(5000), qos: 0, retain: false, dup: false },
      { protocolVersion: 4 },
    );
    const parsed: Buffer[] = [];
    const reader = new PacketReader(
      { parse: (b: Buffer) => parsed.push(b) },
      () => assert.fail('decoded a packet above the maximum'),
      1000,
      () => true,
    );
    reader.version = 4;
    reader.push(big.subarray(0, 100));
    reader.push(big.subarray(100));
    assert.deepEqual(Buffer.concat(parsed), big);
    assert.equal(parsed.length, 2, 'each chunk goes on as it comes');
  });
});
