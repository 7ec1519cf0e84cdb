/**
 * Hostile clients against authentication, on a router with user records (password +
 * WAMP-CRA, and an Ed25519 cryptosign key): WAMP HELLOs asking for ticket, wampcra,
 * cryptosign or made-up methods with known, unknown and odd authids and authextra, then
 * AUTHENTICATE messages with right, wrong and ill-typed signatures, repeated and out
 * of order; MQTT CONNECTs with user names, user@realm, right and wrong passwords and
 * MQTT 5 AUTH packets; STOMP CONNECTs with login/passcode. Every answer must be
 * well-formed for its protocol; the failures must be counted in
 * gatehouse_auth_failures_total; afterwards the router is alive, logged no error, serves
 * well-behaved clients and its heap is back near its start.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { createUserRecord } from '../../lib/auth/user-record';
import {
  fuzzSuite,
  type HostileRouter,
  type Outcome,
  assertCloseCode,
  assertMqttReplies,
  assertStompReplies,
  attackTcp,
  attackWs,
  mutatedArb,
} from '../helpers/hostile';
import { assertWampReplies } from '../helpers/hostile-wamp';
import { codecs, type WireSerializer } from '../helpers/raw-wamp';

const RUNS = 60;
const WIDTH = 8;
const PASSWORD = 'correct horse';

const carol = generateKeyPairSync('ed25519');
const carolPub = carol.publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('hex');

let router: HostileRouter | undefined;

const authidArb = fc.oneof(
  fc.constantFrom('alice', 'carol', 'mallory', '', 'alice@realm1', 'anonymous'),
  fc.string({ maxLength: 12 }),
);
const secretArb = fc.oneof(
  fc.constant(PASSWORD),
  fc.string({ maxLength: 20 }),
  fc.constantFrom('', '00'.repeat(64), 'a'.repeat(10_000)),
);
const anyArb = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.integer(), fc.constant(null));

/** WAMP: HELLO with auth details, then AUTHENTICATEs and maybe other messages. */
const wampSessionArb = fc.constantFrom<WireSerializer>('json', 'msgpack', 'cbor').chain((ser) =>
  fc.record({
    kind: fc.constant('wamp' as const),
    ser: fc.constant(ser),
    messages: fc
      .tuple(
        fc.record(
          {
            authmethods: fc.oneof(fc.subarray(['ticket', 'wampcra', 'cryptosign', 'anonymous', 'tls', 'scram']), anyArb),
            authid: fc.oneof(authidArb, anyArb),
            authextra: fc.oneof(
              fc.record(
                {
                  pubkey: fc.oneof(
                    fc.constant(carolPub),
                    fc.uint8Array({ maxLength: 32 }).map((a) => Buffer.from(a).toString('hex')),
                    anyArb,
                  ),
                },
                { requiredKeys: [] },
              ),
              anyArb,
            ),
          },
          { requiredKeys: [] },
        ),
        fc.array(
          fc.oneof(
            fc.tuple(secretArb, fc.oneof(fc.constant({}), anyArb)).map(([sig, extra]) => [5, sig, extra]),
            fc.constantFrom([5], [5, 1, {}], [1, 'realm1', {}], [6, {}, 'wamp.close.normal'], [16, 1, {}, 'a.b']),
          ),
          { maxLength: 4 },
        ),
      )
      .map(([details, rest]) => [[1, 'realm1', { roles: { subscriber: {}, publisher: {} }, ...details }], ...rest]),
  }),
);

/** MQTT: CONNECT with credentials (maybe mutated), then maybe AUTH packets and a second CONNECT. */
const mqttSessionArb = fc.constantFrom<3 | 4 | 5>(3, 4, 5).chain((v) =>
  fc.record({
    kind: fc.constant('mqtt' as const),
    v: fc.constant(v),
    ws: fc.boolean(),
    packets: fc
      .tuple(
        fc.record({
          username: fc.option(authidArb, { nil: undefined }),
          password: fc.option(
            secretArb.map((s) => Buffer.from(s)),
            { nil: undefined },
          ),
          clientId: fc.constantFrom('hostile-auth', 'c2'),
        }),
        fc.boolean(),
        fc.array(
          fc.constantFrom<Record<string, unknown>>(
            { cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'SCRAM' } },
            { cmd: 'pingreq' },
            { cmd: 'connect', protocolId: 'MQTT', protocolVersion: v, clientId: 'again', clean: true, keepalive: 0 },
          ),
          { maxLength: 2 },
        ),
      )
      .map(([c, mutate, rest]) => ({
        connect: { cmd: 'connect', protocolId: v === 3 ? 'MQIsdp' : 'MQTT', protocolVersion: v, clean: true, keepalive: 0, ...c },
        mutate,
        rest,
      })),
  }),
);

/** STOMP: CONNECT with login and passcode (header bytes as given, no escaping). */
const stompSessionArb = fc.record({
  kind: fc.constant('stomp' as const),
  ws: fc.boolean(),
  frames: fc
    .tuple(
      fc.option(authidArb, { nil: undefined }),
      fc.option(secretArb, { nil: undefined }),
      fc.constantFrom('1.0', '1.1', '1.2'),
    )
    .chain(([login, passcode, version]) => {
      const headers = [
        `accept-version:${version}`,
        'host:realm1',
        ...(login === undefined ? [] : [`login:${login}`]),
        ...(passcode === undefined ? [] : [`passcode:${passcode}`]),
      ];
      const connect = Buffer.from(`CONNECT\n${headers.join('\n')}\n\n\0`);
      return fc.tuple(
        fc.oneof({ weight: 4, arbitrary: fc.constant(connect) }, { weight: 1, arbitrary: mutatedArb(fc.constant(connect)) }),
        fc.constantFrom([], [Buffer.from('SEND\ndestination:/topic/a\n\nx\0')], [connect]),
      );
    })
    .map(([connect, rest]) => [connect, ...rest]),
});

const sessionArb = fc.oneof(wampSessionArb, mqttSessionArb, stompSessionArb);
type Session = typeof sessionArb extends fc.Arbitrary<infer T> ? T : never;

function mqttBytes(p: Record<string, unknown>, v: 3 | 4 | 5): Buffer {
  try {
    return mqttPacket.generate(p as unknown as Packet, { protocolVersion: v });
  } catch {
    return Buffer.from([0xf0, 0x00]);
  }
}

async function attack(r: HostileRouter, s: Session, i: number): Promise<Outcome> {
  router = r;
  const label = `connection ${i} (${s.kind})`;
  let o: Outcome;
  switch (s.kind) {
    case 'wamp':
      o = await attackWs(
        r.url('wamp', '/ws'),
        [codecs[s.ser].wsProtocol],
        s.messages.map((m) => ({ data: codecs[s.ser].encode(m), binary: codecs[s.ser].binary })),
        150,
      );
      assertWampReplies(s.ser, o.received, label);
      break;
    case 'mqtt': {
      const first = mqttBytes(s.packets.connect, s.v);
      const bytes = [
        s.packets.mutate ? first.subarray(0, first.length - 1) : first,
        ...s.packets.rest.map((p) => mqttBytes(p, s.v)),
      ];
      o = s.ws
        ? await attackWs(
            r.url('mqttWs', '/mqtt'),
            ['mqtt'],
            bytes.map((data) => ({ data, binary: true })),
            150,
          )
        : await attackTcp(r.ports.mqtt, bytes, 150);
      assertMqttReplies(Buffer.concat(o.received), s.v, label);
      break;
    }
    case 'stomp':
      o = s.ws
        ? await attackWs(
            r.url('stompWs', '/stomp'),
            ['v12.stomp', 'v11.stomp', 'v10.stomp'],
            s.frames.map((data) => ({ data, binary: false })),
            150,
          )
        : await attackTcp(r.ports.stomp, s.frames, 150);
      assertStompReplies(Buffer.concat(o.received), label);
      break;
  }
  assertCloseCode(o, label);
  return o;
}

fuzzSuite({
  title: 'HELLO/AUTHENTICATE, MQTT CONNECT/AUTH and STOMP CONNECT with right, wrong and odd credentials get well-formed answers',
  tag: 'auth',
  session: sessionArb,
  runs: RUNS,
  width: WIDTH,
  attack,
  config: async () => ({
    auth: {
      users: [
        await createUserRecord({ authid: 'alice', role: 'anonymous', password: PASSWORD }),
        await createUserRecord({ authid: 'carol', role: 'anonymous', cryptosignKeys: [carolPub] }),
      ],
    },
  }),
});

test('the authentication failures were counted', async () => {
  assert.ok(router, 'the fuzz ran');
  const text = await router.metrics();
  const failures = text
    .split('\n')
    .filter((l) => l.startsWith('gatehouse_auth_failures_total{'))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  assert.ok(failures > 0, `gatehouse_auth_failures_total ${failures}`);
});
