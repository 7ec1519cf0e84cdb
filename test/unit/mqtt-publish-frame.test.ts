import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { ACK, mqttTopicName, publishSize, writeAck, writePublish } from '../../gates/mqtt/publish-frame';
import { canonicalToMqtt, mqttTopicToCanonical } from '../../lib/notation';
import { WriteBatch } from '../../lib/write-batch';

// The MQTT gate's own PUBLISH and acknowledgement writer against mqtt-packet's generator,
// and the write batch that gathers a turn's frames into one write.

/** Runs `fill` against a batch and returns what it hands to the socket, synchronously flushed. */
function written(fill: (b: WriteBatch) => void, slabBytes?: number): Buffer[] {
  const out: Buffer[] = [];
  const batch = new WriteBatch((d) => out.push(Buffer.from(d)), slabBytes);
  fill(batch);
  batch.flush();
  return out;
}

const topicArb = fc.oneof(
  fc.stringMatching(/^[a-z0-9/ ._-]{1,40}$/),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }),
);

describe('MQTT publish frames', () => {
  it('mqtt publish frame - a PUBLISH without properties is the bytes mqtt-packet generates', () => {
    fc.assert(
      fc.property(
        topicArb,
        fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ minLength: 16000, maxLength: 20000 })),
        fc.constantFrom(0, 1, 2),
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: 1, max: 65535 }),
        fc.constantFrom(3, 4, 5),
        (name, payload, qos, retain, dup, id, v) => {
          const topic = { name, bytes: Buffer.from(name, 'utf8') };
          const body = Buffer.from(payload);
          const header = { qos, retain, dup, packetId: qos > 0 ? id : 0, v5: v === 5 };
          const packet: Record<string, unknown> = { cmd: 'publish', topic: name, payload: body, qos, retain, dup };
          if (qos > 0) packet.messageId = id;
          const expected = mqttPacket.generate(packet as unknown as Packet, { protocolVersion: v });
          const size = publishSize(topic, body, header);
          assert.equal(size, expected.length);
          assert.deepEqual(Buffer.concat(written((b) => writePublish(b, size, topic, body, header))), expected);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('mqtt publish frame - acknowledgements are the bytes mqtt-packet generates', () => {
    for (const v of [3, 4, 5] as const) {
      for (const cmd of ['puback', 'pubrec', 'pubrel', 'pubcomp'] as const) {
        for (const id of [1, 255, 256, 65535]) {
          const expected = mqttPacket.generate({ cmd, messageId: id }, { protocolVersion: v });
          let size = 0;
          const out = written((b) => (size = writeAck(b, ACK[cmd], id, v === 5)));
          assert.equal(size, expected.length);
          assert.deepEqual(Buffer.concat(out), expected, `${cmd} ${id} v${v}`);
        }
      }
    }
  });

  it('mqtt publish frame - topic names are converted as lib/notation converts them, remembered', () => {
    for (const canonical of ['a.b.c', 'a.b%2Ec', 'a.%.b', 'x.y/z', '']) {
      const expected = canonicalToMqtt(canonical);
      const t = mqttTopicName(canonical);
      assert.equal(t?.name ?? null, expected);
      if (t) assert.deepEqual(t.bytes, Buffer.from(t.name, 'utf8'));
      assert.equal(mqttTopicName(canonical), t, 'the same object the second time');
    }
    assert.equal(mqttTopicToCanonical('a/b.c'), 'a.b%2Ec');
  });
});

describe('write batch', () => {
  it('write batch - frames of one turn leave in one write, in order, across slab growth', () => {
    const frames = Array.from({ length: 50 }, (_, i) => Buffer.alloc(37 + i, i));
    const out = written((b) => frames.forEach((f) => b.push(f)), 256);
    assert.equal(out.length, 1);
    assert.deepEqual(out[0], Buffer.concat(frames));
  });

  it('write batch - a frame larger than a slab goes out on its own, after what was gathered', () => {
    const small = Buffer.from('abc');
    const big = Buffer.alloc(1000, 7);
    const out = written((b) => {
      b.push(small);
      b.push(big);
      b.push(small);
    }, 100);
    assert.deepEqual(out, [small, big, small]);
  });

  it('write batch - flushes by itself when the turn ends, and never rewrites what the socket took', async () => {
    const out: Buffer[] = [];
    const batch = new WriteBatch((d) => out.push(d), 64);
    batch.push(Buffer.from('one'));
    batch.push(Buffer.from('two'));
    assert.equal(batch.length, 6);
    assert.equal(out.length, 0, 'nothing before the turn ends');
    await new Promise((r) => process.nextTick(r));
    assert.deepEqual(out.map(String), ['onetwo']);
    batch.push(Buffer.from('three'));
    batch.flush();
    // the first write's bytes are the socket's: later frames went elsewhere in the slab
    assert.deepEqual(out.map(String), ['onetwo', 'three']);
    assert.equal(batch.target.length, 0, 'an idle connection holds no buffer');
    batch.discard();
    assert.equal(batch.length, 0);
  });
});
