/**
 * Bad input from one client never hurts another (docs/ARCHITECTURE.md, "Reliability rules"), on
 * every WAMP transport x serializer. Raw peers (test/helpers/raw-wamp.ts) send what no
 * client library would; after every attack the bystanders — one autobahn subscriber +
 * callee per transport — must still receive a publication and answer a call, and the
 * router process must not have thrown.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { pack } from 'msgpackr';
import { startRouter, type TestRouter } from '../../helpers/router';
import {
  codecs,
  destroyAllRawPeers,
  expectAbortAndClose,
  expectSessionAlive,
  frameHeader,
  handshakeBytes,
  HELLO_DETAILS,
  rawTransports,
  TcpProbe,
  upgradeStatus,
  within,
  WsPeer,
  type AttackTransport,
  type RawPeer,
  type RawSocketPeer,
} from '../../helpers/raw-wamp';
import { Bystanders, CrashGuard, isTopLevel } from '../../helpers/robustness';
import { pace } from '../../helpers/wait';
import { ManualClock } from '../../helpers/clock';

const MAX_MESSAGE = 64 * 1024;
const HELLO_TIMEOUT_MS = 600;
/** the router's timeouts (the HELLO timeout) fire when a test advances it */
const clock = new ManualClock();
const PV = 'wamp.error.protocol_violation';

let r: TestRouter;
let bystanders: Bystanders;
let transports: AttackTransport[];
const guard = new CrashGuard();

before(async () => {
  guard.install();
  r = await startRouter(
    {
      limits: { maxMessageSize: MAX_MESSAGE },
      wamp: { helloTimeoutMs: HELLO_TIMEOUT_MS },
    },
    { clock },
  );
  bystanders = await Bystanders.start(r.wsUrl, r.rawSocketUrl);
  transports = rawTransports(r.wsUrl, r.rawSocketPort);
});

afterEach((t) => {
  // subtests may run concurrently: only a whole top-level test drops every raw peer
  if (isTopLevel(t)) destroyAllRawPeers();
  guard.assertNone();
});

after(async () => {
  destroyAllRawPeers();
  await bystanders?.close();
  await r?.close();
  guard.uninstall();
});

const cbor = codecs.cbor;

/** Payloads that cannot be decoded by the transport's serializer. */
function garbage(t: AttackTransport): { name: string; payload: Buffer | string; binary?: boolean }[] {
  const s = t.serializer;
  const out: { name: string; payload: Buffer | string; binary?: boolean }[] = [];
  if (s === 'json') {
    out.push({ name: 'not JSON', payload: 'not json {[' });
    out.push({ name: 'truncated JSON', payload: '[16, 1, {}, "a.b"' });
    out.push({ name: 'trailing bytes after JSON', payload: '[16, 1, {}, "a.b"] [' });
    out.push({ name: 'malformed JSON binary string', payload: '[16, 1, {}, "a.b", ["\\u0000!!not base64!!"]]' });
    if (t.kind === 'rawsocket') out.push({ name: 'invalid UTF-8', payload: Buffer.from([0x5b, 0xff, 0xfe, 0x5d]) });
    if (t.kind === 'websocket')
      out.push({ name: 'binary frame on a text subprotocol', payload: Buffer.from('[1, "realm1", {}]'), binary: true });
  } else if (s === 'msgpack') {
    out.push({ name: 'never-used byte 0xc1', payload: Buffer.from([0xc1]) });
    out.push({ name: 'truncated array', payload: Buffer.from([0x93, 0x01]) });
    out.push({ name: 'trailing bytes', payload: Buffer.concat([pack([16, 1, {}, 'a.b']), Buffer.from([0x01, 0x02])]) });
    out.push({ name: 'random bytes', payload: Buffer.from('c7ffffff00dead', 'hex') });
    if (t.kind === 'websocket')
      out.push({ name: 'text frame on a binary subprotocol', payload: '[1, "realm1", {}]', binary: false });
  } else {
    out.push({ name: 'lone break code', payload: Buffer.from([0xff]) });
    out.push({ name: 'reserved additional info', payload: Buffer.from([0x1c]) });
    out.push({ name: 'truncated array', payload: Buffer.from([0x83, 0x01]) });
    out.push({ name: 'trailing bytes', payload: Buffer.concat([cbor.encode([16, 1, {}, 'a.b']), Buffer.from([0x01])]) });
    if (t.kind === 'websocket')
      out.push({ name: 'text frame on a binary subprotocol', payload: '[1, "realm1", {}]', binary: false });
  }
  return out;
}

/** Well-encoded values that are not valid WAMP messages, sent after WELCOME. */
function notWamp(t: AttackTransport): { name: string; msg: unknown; beforeHello?: boolean }[] {
  const cases: { name: string; msg: unknown; beforeHello?: boolean }[] = [
    { name: 'a number', msg: 42 },
    { name: 'a string', msg: 'hello' },
    { name: 'null', msg: null },
    { name: 'an object', msg: { type: 16 } },
    { name: 'an empty list', msg: [] },
    { name: 'a list of nulls', msg: [null, null] },
    { name: 'unknown type code 999', msg: [999, 1, {}] },
    { name: 'type code as string', msg: ['16', 1, {}, 'a.b'] },
    { name: 'negative type code', msg: [-1] },
    { name: 'PUBLISH with a string request id', msg: [16, '1', {}, 'robust.x'] },
    { name: 'PUBLISH with a fractional request id', msg: [16, 1.5, {}, 'robust.x'] },
    { name: 'PUBLISH with request id 0', msg: [16, 0, {}, 'robust.x'] },
    { name: 'PUBLISH with a list as Options', msg: [16, 1, [], 'robust.x'] },
    { name: 'PUBLISH with a number as topic', msg: [16, 1, {}, 42] },
    { name: 'PUBLISH with too many elements', msg: [16, 1, {}, 'robust.x', [], {}, 'extra'] },
    { name: 'PUBLISH with too few elements', msg: [16, 1, {}] },
    { name: 'PUBLISH with Arguments not a list', msg: [16, 1, {}, 'robust.x', { a: 1 }] },
    { name: 'CALL with ArgumentsKw not a dict', msg: [48, 1, {}, 'robust.x', [], []] },
    { name: 'SUBSCRIBE with too many elements', msg: [32, 1, {}, 'robust.x', 'extra'] },
    { name: 'REGISTER with a dict as procedure', msg: [64, 1, {}, { uri: 'robust.x' }] },
    { name: 'CANCEL with an unknown mode', msg: [49, 1, { mode: 'explode' }] },
    { name: 'YIELD with too many elements', msg: [70, 1, {}, [], {}, 'extra'] },
    { name: 'HELLO with too few elements', msg: [1, 'realm1'], beforeHello: true },
    { name: 'HELLO with a list as Details', msg: [1, 'realm1', []], beforeHello: true },
    { name: 'HELLO with a number as realm', msg: [1, 42, HELLO_DETAILS], beforeHello: true },
    { name: 'HELLO announcing no roles', msg: [1, 'realm1', { roles: {} }], beforeHello: true },
    { name: 'a number before HELLO', msg: 7, beforeHello: true },
  ];
  if (t.serializer !== 'json') {
    // outside the WAMP data model, though perfectly good MessagePack / CBOR
    cases.push({ name: 'binary at top level', msg: Buffer.from([16, 1]) });
    cases.push({ name: 'a Date inside the payload', msg: [16, 1, {}, 'robust.x', [new Date(0)]] });
    cases.push({ name: 'undefined inside the payload', msg: [16, 1, {}, 'robust.x', [undefined]] });
  }
  return cases;
}

/** Messages that arrive in the wrong state. `ignored` ones must leave the session alive. */
const outOfOrder: { name: string; beforeHello: boolean; msg: unknown[]; ignored?: boolean }[] = [
  { name: 'PUBLISH before HELLO', beforeHello: true, msg: [16, 1, {}, 'robust.x'] },
  { name: 'SUBSCRIBE before HELLO', beforeHello: true, msg: [32, 1, {}, 'robust.x'] },
  { name: 'GOODBYE before HELLO', beforeHello: true, msg: [6, {}, 'wamp.close.close_realm'] },
  { name: 'WELCOME sent by a client before HELLO', beforeHello: true, msg: [2, 1, {}] },
  { name: 'a second HELLO after WELCOME', beforeHello: false, msg: [1, 'realm1', HELLO_DETAILS] },
  { name: 'WELCOME sent by a client after WELCOME', beforeHello: false, msg: [2, 1, {}] },
  { name: 'EVENT sent by a client', beforeHello: false, msg: [36, 1, 1, {}] },
  { name: 'RESULT sent by a client', beforeHello: false, msg: [50, 1, {}] },
  { name: 'INVOCATION sent by a client', beforeHello: false, msg: [68, 1, 1, {}] },
  { name: 'CHALLENGE sent by a client', beforeHello: false, msg: [4, 'ticket', {}] },
  { name: 'ERROR for a CALL (not an INVOCATION)', beforeHello: false, msg: [8, 48, 1, {}, 'robust.error'] },
  { name: 'ERROR for a PUBLISH (not an INVOCATION)', beforeHello: false, msg: [8, 16, 1, {}, 'robust.error'] },
  { name: 'YIELD for an unknown invocation', beforeHello: false, msg: [70, 12345, {}, ['late']], ignored: true },
  {
    name: 'progressive YIELD for an unknown invocation',
    beforeHello: false,
    msg: [70, 12346, { progress: true }],
    ignored: true,
  },
  { name: 'ERROR for an unknown invocation', beforeHello: false, msg: [8, 68, 12347, {}, 'robust.error'], ignored: true },
  { name: 'CANCEL for an unknown call', beforeHello: false, msg: [49, 12348, {}], ignored: true },
];

async function opened(t: AttackTransport, hello: boolean): Promise<RawPeer> {
  const peer = await t.open();
  if (hello) await peer.hello();
  return peer;
}

for (const phase of ['before HELLO', 'after WELCOME'] as const) {
  test(`wamp robustness - undecodable bytes ${phase} get ABORT protocol_violation and close only that connection`, async (tt) => {
    for (const t of transports) {
      for (const g of garbage(t)) {
        await tt.test(`${t.name}: ${g.name}`, async () => {
          const peer = await opened(t, phase === 'after WELCOME');
          peer.sendPayload(g.payload, g.binary === undefined ? undefined : { binary: g.binary });
          await expectAbortAndClose(peer, PV);
          await bystanders.check(`${t.name} ${g.name}`);
        });
      }
    }
  });
}

void test('wamp robustness - invalid UTF-8 in a WebSocket text frame closes with 1007', async () => {
  const peer = await WsPeer.open(r.wsUrl, 'json');
  await peer.hello();
  // ws refuses to send invalid UTF-8 as text, so write the masked frame by hand
  const body = Buffer.from([0x5b, 0xff, 0xfe, 0x5d]);
  const frame = Buffer.concat([Buffer.from([0x81, 0x80 | body.length, 0, 0, 0, 0]), body]); // mask key 0
  peer.socket.write(frame);
  const closed = await within(peer.closed, 2000, 'close after invalid UTF-8');
  assert.equal(closed.code, 1007);
  await bystanders.check('invalid UTF-8 text frame');
});

void test('wamp robustness - well-encoded values that are not WAMP messages get ABORT protocol_violation', async (tt) => {
  for (const t of transports) {
    for (const c of notWamp(t)) {
      await tt.test(`${t.name}: ${c.name}`, async () => {
        const peer = await opened(t, c.beforeHello !== true);
        peer.send(c.msg);
        await expectAbortAndClose(peer, PV);
        await bystanders.check(`${t.name} ${c.name}`);
      });
    }
  }
});

void test('wamp robustness - out-of-order messages get ABORT protocol_violation; stray answers are ignored', async (tt) => {
  for (const t of transports) {
    let request = 100;
    for (const c of outOfOrder) {
      await tt.test(`${t.name}: ${c.name}`, async () => {
        const peer = await opened(t, !c.beforeHello);
        peer.send(c.msg);
        if (c.ignored) {
          // nothing back for the stray message, and the session carries on
          await expectSessionAlive(peer, ++request);
          assert.equal(peer.isClosed, false, 'the connection stays open');
        } else {
          await expectAbortAndClose(peer, PV);
        }
        await bystanders.check(`${t.name} ${c.name}`);
      });
    }
  }
});

void test('wamp robustness - HELLO with an invalid realm URI gets ABORT invalid_uri', async (tt) => {
  for (const t of transports) {
    for (const realm of ['bad realm', 'a..b', 'tab\there', 'hash#tag']) {
      await tt.test(`${t.name}: ${JSON.stringify(realm)}`, async () => {
        const peer = await t.open();
        peer.send([1, realm, HELLO_DETAILS]);
        await expectAbortAndClose(peer, 'wamp.error.invalid_uri');
        await bystanders.check(`${t.name} HELLO ${realm}`);
      });
    }
  }
});

void test('wamp robustness - a connection that sends no HELLO within wamp.helloTimeoutMs is closed', async () => {
  // per transport one peer that stays silent and one that says HELLO, both opened (their
  // timers armed) before the clock moves
  const silent = await Promise.all(transports.map((t) => t.open()));
  const greeting = await Promise.all(transports.map((t) => t.open()));
  clock.advance(HELLO_TIMEOUT_MS - 1);
  // not before the timeout: a HELLO just before it is still welcome
  await Promise.all(greeting.map((p) => p.hello()));
  clock.advance(1);
  await Promise.all(
    silent.map(async (peer, i) => {
      await within(peer.closed, 2000, `${transports[i]!.name} closed for want of HELLO`);
      // if anything was said, it was an ABORT
      for (const m of peer.received)
        assert.ok(Array.isArray(m) && m[0] === 3, `only ABORT before close, got ${JSON.stringify(m)}`);
    }),
  );
  // and a peer that said HELLO in time is not cut off at (or well past) the timeout
  clock.advance(HELLO_TIMEOUT_MS * 2);
  for (const [i, ok] of greeting.entries()) await expectSessionAlive(ok, i + 1);
  await bystanders.check('hello timeouts');
});

void test('wamp robustness - a WebSocket message over limits.maxMessageSize closes with 1009; one under it passes', async (tt) => {
  for (const t of transports.filter((x) => x.kind === 'websocket')) {
    await tt.test(t.name, async () => {
      const peer = await opened(t, true);
      // under the limit: routed normally
      peer.send([16, 1, { acknowledge: true }, 'robust.big', ['x'.repeat(MAX_MESSAGE - 1024)]]);
      const m = await peer.next(2000, 'PUBLISHED for a message under the limit');
      assert.ok(Array.isArray(m) && m[0] === 17, `PUBLISHED, got ${JSON.stringify(m)?.slice(0, 200)}`);
      // over it: the connection is failed
      peer.send([16, 2, { acknowledge: true }, 'robust.big', ['x'.repeat(MAX_MESSAGE + 1)]]);
      const closed = await within(peer.closed, 2000, 'close after an oversized message');
      assert.equal(closed.code, 1009);
      await bystanders.check(`${t.name} oversized`);
    });
  }
});

void test('wamp robustness - a RawSocket frame header over the negotiated maximum drops the connection before the payload', async (tt) => {
  for (const t of transports.filter((x) => x.kind === 'rawsocket')) {
    await tt.test(t.name, async () => {
      const peer = (await opened(t, true)) as RawSocketPeer;
      assert.ok(peer.routerMaxBytes >= MAX_MESSAGE, `router announced ${peer.routerMaxBytes} bytes`);
      // a frame up to the announced maximum is accepted (padding via a long topic-free payload)
      const fits = codecs[t.serializer].encode([16, 1, { acknowledge: true }, 'robust.big', ['x'.repeat(MAX_MESSAGE - 1024)]]);
      assert.ok(fits.length <= MAX_MESSAGE);
      peer.sendPayload(fits);
      const m = await peer.next(2000, 'PUBLISHED for a frame under the limit');
      assert.ok(Array.isArray(m) && m[0] === 17, `PUBLISHED, got ${JSON.stringify(m)?.slice(0, 200)}`);
      // the header alone, announcing one byte more than allowed: no payload ever follows
      peer.probe.write(frameHeader(0, peer.routerMaxBytes + 1));
      await within(peer.closed, 1500, 'connection dropped on an oversized frame header');
      for (const x of peer.received)
        assert.ok(Array.isArray(x) && x[0] === 3, `only ABORT before close, got ${JSON.stringify(x)}`);
      await bystanders.check(`${t.name} oversized header`);
    });
  }
});

void test('wamp robustness - RawSocket frame headers with reserved bits or reserved types drop the connection', async (tt) => {
  const headers: { name: string; header: Buffer }[] = [
    { name: 'reserved bit 0x80', header: Buffer.from([0x80, 0, 0, 2]) },
    { name: 'reserved bit 0x10', header: Buffer.from([0x10, 0, 0, 2]) },
    { name: 'X bit with a non-zero length', header: Buffer.from([0x08, 0, 0, 2]) },
    { name: 'frame type 3', header: Buffer.from([0x03, 0, 0, 2]) },
    { name: 'frame type 7', header: Buffer.from([0x07, 0, 0, 2]) },
    { name: 'length 2^24-1', header: Buffer.from([0x00, 0xff, 0xff, 0xff]) },
  ];
  for (const t of transports.filter((x) => x.kind === 'rawsocket')) {
    for (const h of headers) {
      await tt.test(`${t.name}: ${h.name}`, async () => {
        const peer = (await opened(t, true)) as RawSocketPeer;
        peer.probe.write(h.header);
        await within(peer.closed, 1500, `connection dropped on ${h.name}`);
        await bystanders.check(`${t.name} ${h.name}`);
      });
    }
  }
});

void test('wamp robustness - RawSocket handshake errors get the 4-octet error reply, then close', async (tt) => {
  const cases: { name: string; bytes: Buffer; error?: number }[] = [
    { name: 'bad magic octet', bytes: Buffer.from([0x7e, 0xf1, 0, 0]) },
    { name: 'HTTP on the RawSocket port', bytes: Buffer.from('GET / HTTP/1.1\r\n\r\n') },
    { name: 'unsupported serializer 7', bytes: handshakeBytes(7), error: 1 },
    { name: 'illegal serializer 0', bytes: handshakeBytes(0), error: 1 },
    { name: 'reserved third octet', bytes: Buffer.from([0x7f, 0xf1, 0x01, 0]), error: 3 },
    { name: 'reserved fourth octet', bytes: Buffer.from([0x7f, 0xf1, 0, 0x80]), error: 3 },
  ];
  for (const c of cases) {
    await tt.test(c.name, async () => {
      const p = new TcpProbe(r.rawSocketPort);
      await within(p.connected, 2000, 'connect');
      p.write(c.bytes);
      const reply = await p.read(4, 2000, 'handshake error reply');
      assert.equal(reply[0], 0x7f, `magic octet in reply ${reply.toString('hex')}`);
      assert.equal((reply[1] ?? 0) & 0x0f, 0, `serializer nibble is 0 in an error reply ${reply.toString('hex')}`);
      const code = (reply[1] ?? 0) >> 4;
      assert.ok(code >= 1 && code <= 4, `a defined error code in ${reply.toString('hex')}`);
      if (c.error !== undefined) assert.equal(code, c.error, `error code in ${reply.toString('hex')}`);
      assert.deepEqual([reply[2], reply[3]], [0, 0]);
      await within(p.closed, 2000, 'close after the error reply');
      assert.equal(p.pending.length, 0, 'nothing after the error reply');
      await bystanders.check(c.name);
    });
  }
  await tt.test('a handshake sent one octet at a time still succeeds', async () => {
    const p = new TcpProbe(r.rawSocketPort);
    await within(p.connected, 2000, 'connect');
    for (const b of handshakeBytes(1, 15)) {
      p.write([b]);
      await pace(10); // one octet per TCP segment
    }
    const reply = await p.read(4, 2000, 'handshake reply');
    assert.equal(reply[0], 0x7f);
    assert.equal((reply[1] ?? 0) & 0x0f, 1, `serializer echoed in ${reply.toString('hex')}`);
  });
  await tt.test('a client that never completes the handshake is dropped', async () => {
    const armed = clock.nextTimer(HELLO_TIMEOUT_MS, 'the handshake timer');
    const p = new TcpProbe(r.rawSocketPort);
    await within(p.connected, 2000, 'connect');
    p.write([0x7f, 0xf1]);
    await armed;
    clock.advance(HELLO_TIMEOUT_MS);
    await within(p.closed, 2000, 'half a handshake dropped');
    assert.equal(p.pending.length, 0, 'no reply to half a handshake');
  });
});

void test('wamp robustness - WebSocket upgrades without a WAMP subprotocol get 400, a wrong path 404', async (tt) => {
  const port = Number(new URL(r.wsUrl).port);
  await tt.test('no subprotocol', async () => {
    const res = await upgradeStatus(port, '/ws', {});
    assert.equal(res.status, 400);
  });
  await tt.test('only unknown subprotocols', async () => {
    const res = await upgradeStatus(port, '/ws', { 'Sec-WebSocket-Protocol': 'wamp.2.xml, mqtt' });
    assert.equal(res.status, 400);
  });
  await tt.test('wrong path', async () => {
    const res = await upgradeStatus(port, '/nope', { 'Sec-WebSocket-Protocol': 'wamp.2.json' });
    assert.equal(res.status, 404);
  });
  await tt.test('the right path and subprotocol upgrade (control)', async () => {
    const res = await upgradeStatus(port, '/ws?x=1', { 'Sec-WebSocket-Protocol': 'wamp.2.json' });
    assert.equal(res.status, 101);
  });
  await bystanders.check('bad upgrades');
});

// A text string starting with U+0000 is plain MessagePack / CBOR, but WAMP JSON marks
// binary with a leading U+0000 ("\0" + base64). It used to have no JSON form and was
// dropped for JSON peers (events) or failed the call; it is now written escaped as
// "\0\0" + text (lib/json-exact.ts, README "Payloads across protocols"), and a JSON
// peer sending that form back is read as the string again: every peer gets the message.
const NUL_STRING = '\u0000not binary';
const NUL_IN_JSON = '\u0000' + NUL_STRING;

void test('wamp robustness - a string starting with U+0000 reaches every subscriber; JSON ones get it escaped', async (tt) => {
  let n = 0;
  for (const pt of transports.filter((x) => x.serializer !== 'json')) {
    await tt.test(`published over ${pt.name}`, async () => {
      const topic = `robust.nul.${++n}`;
      const subs: RawPeer[] = [];
      for (const t of transports) {
        const sub = await opened(t, true);
        sub.send([32, 1, {}, topic]);
        const m = await sub.next(2000, 'SUBSCRIBED');
        assert.ok(Array.isArray(m) && m[0] === 33, `SUBSCRIBED, got ${JSON.stringify(m)}`);
        subs.push(sub);
      }
      const pub = await opened(pt, true);
      pub.send([16, 7, { acknowledge: true }, topic, [NUL_STRING, 1]]);
      const ack = await pub.next(2000, 'PUBLISHED');
      assert.ok(Array.isArray(ack) && ack[0] === 17 && ack[1] === 7, `PUBLISHED, got ${JSON.stringify(ack)}`);
      for (const sub of subs) {
        const ev = await sub.next(2000, 'EVENT');
        const want = sub.serializer === 'json' ? NUL_IN_JSON : NUL_STRING;
        assert.ok(
          Array.isArray(ev) && ev[0] === 36 && Array.isArray(ev[4]) && ev[4][0] === want,
          `${sub.label}: EVENT, got ${JSON.stringify(ev)}`,
        );
        await expectSessionAlive(sub, 50);
      }
      await expectSessionAlive(pub, 51);
      await bystanders.check(`${pt.name} NUL string event`);
    });
  }
});

void test('wamp robustness - a string starting with U+0000 travels a call and its result between JSON and msgpack/CBOR peers unchanged', async (tt) => {
  let n = 0;
  for (const ct of transports.filter((x) => x.serializer !== 'json')) {
    for (const et of transports.filter((x) => x.serializer === 'json')) {
      await tt.test(`caller ${ct.name}, callee ${et.name}`, async () => {
        const procedure = `robust.nul.proc.${++n}`;
        const callee = await opened(et, true);
        callee.send([64, 1, {}, procedure]);
        const reg = await callee.next(2000, 'REGISTERED');
        assert.ok(Array.isArray(reg) && reg[0] === 65, `REGISTERED, got ${JSON.stringify(reg)}`);
        const caller = await opened(ct, true);
        caller.send([48, 1, {}, procedure, [NUL_STRING]]);
        const inv = await callee.next(2000, 'INVOCATION');
        assert.ok(
          Array.isArray(inv) && inv[0] === 68 && Array.isArray(inv[4]) && inv[4][0] === NUL_IN_JSON,
          `INVOCATION, got ${JSON.stringify(inv)}`,
        );
        // the JSON callee answers with the escaped form it got: the caller reads the string
        callee.send([70, inv[1], {}, inv[4]]);
        const res = await caller.next(2000, 'RESULT');
        assert.ok(
          Array.isArray(res) && res[0] === 50 && res[1] === 1 && Array.isArray(res[3]) && res[3][0] === NUL_STRING,
          `RESULT, got ${JSON.stringify(res)}`,
        );
        await expectSessionAlive(callee, 60);
        await expectSessionAlive(caller, 61);
        await bystanders.check(`${ct.name} -> ${et.name} NUL string call`);
      });
    }
  }
});

void test('wamp robustness - a result or error starting with U+0000 from a msgpack/CBOR callee reaches a JSON caller escaped', async (tt) => {
  let n = 0;
  for (const et of transports.filter((x) => x.serializer !== 'json')) {
    for (const ct of transports.filter((x) => x.serializer === 'json')) {
      await tt.test(`callee ${et.name}, caller ${ct.name}`, async () => {
        const procedure = `robust.nul.result.${++n}`;
        const callee = await opened(et, true);
        callee.send([64, 1, {}, procedure]);
        const reg = await callee.next(2000, 'REGISTERED');
        assert.ok(Array.isArray(reg) && reg[0] === 65);
        const caller = await opened(ct, true);
        for (const [request, answer, type, at] of [
          [1, (id: unknown) => [70, id, {}, [NUL_STRING]], 50, 3],
          [2, (id: unknown) => [8, 68, id, {}, 'robust.app_error', [NUL_STRING]], 8, 5],
        ] as const) {
          caller.send([48, request, {}, procedure, ['x']]);
          const inv = await callee.next(2000, 'INVOCATION');
          assert.ok(Array.isArray(inv) && inv[0] === 68, `INVOCATION, got ${JSON.stringify(inv)}`);
          callee.send(answer(inv[1]));
          const res = await caller.next(2000, `an answer to CALL ${request}`);
          assert.ok(
            Array.isArray(res) && res[0] === type && (res[at] as unknown[] | undefined)?.[0] === NUL_IN_JSON,
            `answer to CALL ${request}, got ${JSON.stringify(res)}`,
          );
        }
        await expectSessionAlive(callee, 70);
        await expectSessionAlive(caller, 71);
        await bystanders.check(`${et.name} -> ${ct.name} NUL string result`);
      });
    }
  }
});

// JSON decode used to have no nesting bound while MessagePack / CBOR decode and every
// encoder stop at 1000: a JSON message could be accepted and then never be delivered.
void test('wamp robustness - a payload nested deeper than the router re-encodes is refused with ABORT protocol_violation', async (tt) => {
  for (const t of transports) {
    await tt.test(t.name, async () => {
      const peer = await opened(t, true);
      // built by hand: encoders recurse, and would overflow before the router does
      const head = codecs[t.serializer].encode([16, 1, { acknowledge: true }, 'robust.deep', 0]);
      assert.equal(head[head.length - 1], t.serializer === 'json' ? 0x5d : 0x00);
      const depth = 1500;
      const deep =
        t.serializer === 'json'
          ? Buffer.from(`${head.subarray(0, -2).toString()}${'['.repeat(depth)}0${']'.repeat(depth)}]`)
          : Buffer.concat([
              head.subarray(0, -1),
              Buffer.alloc(depth, t.serializer === 'msgpack' ? 0x91 : 0x81),
              Buffer.from([0]),
            ]);
      peer.sendPayload(t.serializer === 'json' ? deep.toString() : deep);
      await expectAbortAndClose(peer, PV);
      await bystanders.check(`${t.name} deep nesting`);
    });
  }
});

void test('wamp robustness - after every attack the process is alive and serves new sessions', async () => {
  guard.assertNone();
  for (const t of transports) {
    const peer = await t.open();
    await peer.hello();
    await expectSessionAlive(peer, 1);
    peer.destroy();
  }
  await bystanders.check('the whole suite');
  assert.equal(r.router.health().status, 'ok');
});

void test('wamp robustness - a msgpack SUBSCRIBE whose match option is a big integer gets ERROR invalid_argument', async () => {
  const peer = await WsPeer.open(r.wsUrl, 'msgpack');
  await peer.hello();
  // 2^64 - 1 decodes as a bigint: the error text must not JSON.stringify it (that throws)
  peer.send([32, 7, { match: 18446744073709551615n }, 'a.topic']);
  const reply = (await peer.next(2000, 'ERROR for the bad match option')) as unknown[];
  assert.equal(reply[0], 8);
  assert.equal(reply[4], 'wamp.error.invalid_argument');
  assert.equal(peer.isClosed, false, 'the connection stays open');
  await bystanders.check('bigint match option');
});
