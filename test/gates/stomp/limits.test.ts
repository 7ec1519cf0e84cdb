// STOMP limits and bad input (config stomp.limits; STOMP 1.2 §Size Limits, §ERROR): too
// many headers, a header line too long, a body too large get an ERROR naming the limit
// and the connection closes; malformed frames (garbage, a bad escape in 1.2, no NUL after
// a content-length body, ...) get an ERROR and close; other clients go on unaffected and
// the router keeps serving. Frames past stomp.limits.framesPerSecond get ERROR too, also
// when they arrive in one TCP write.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  frameBytes,
  Inbox,
  RawClients,
  rawHeader,
  StompjsClients,
  subscribeConfirmed,
  transportClosed,
  withTimeout,
  WAIT_MS,
  type IFrame,
  type RawFrame,
  type RawStomp,
} from '../../helpers/stomp-clients';
import { startRouter, type TestRouter } from '../../helpers/router';

const MAX_HEADERS = 8;
const MAX_LINE = 200;
const MAX_BODY = 1024;
const FPS = 10;
const MAX_QUEUE = 3;

let router: TestRouter;
let rated: TestRouter;
const raws = new RawClients();
const stompjs = new StompjsClients();

before(async () => {
  router = await startRouter({
    mqtt: { sysIntervalSeconds: 0 },
    stomp: {
      limits: { maxHeaders: MAX_HEADERS, maxHeaderLineBytes: MAX_LINE, maxBodyBytes: MAX_BODY },
      maxQueueMessages: MAX_QUEUE,
    },
  });
  rated = await startRouter({ mqtt: { sysIntervalSeconds: 0 }, stomp: { limits: { framesPerSecond: FPS } } });
});
after(async () => {
  raws.closeAll();
  await stompjs.closeAll();
  await router.close();
  await rated.close();
});

function connect(r: TestRouter = router, version = '1.2'): Promise<RawStomp> {
  return raws.connect(r.stompPort, { 'accept-version': version, host: 'localhost' }).then((x) => x.raw);
}

async function expectErrorAndClose(raw: RawStomp, what: string): Promise<RawFrame> {
  const err = await raw.expect('ERROR', `ERROR for ${what}`);
  await raw.waitClosed(`the connection to close after the ERROR for ${what}`);
  return err;
}

/** `n` headers in all, destination included. */
function headers(n: number): [string, string][] {
  return [['destination', '/topic/limits.x'], ...Array.from({ length: n - 1 }, (_, i): [string, string] => [`h${i}`, 'v'])];
}

describe('stomp limits', () => {
  it('stomp - a frame with more headers than stomp.limits.maxHeaders gets ERROR "limit exceeded" and the connection closes', async () => {
    const ok = await connect();
    await ok.request('SEND', headers(MAX_HEADERS - 1), 'at the limit with receipt'); // + receipt = MAX_HEADERS
    ok.destroy();
    const raw = await connect();
    raw.send('SEND', headers(MAX_HEADERS + 1), 'one too many');
    const err = await expectErrorAndClose(raw, 'too many headers');
    assert.equal(rawHeader(err, 'message'), 'limit exceeded');
    assert.match(err.body.toString(), /header_count/);
    assert.match(err.body.toString(), new RegExp(`more than ${MAX_HEADERS} headers`));
  });

  it('stomp - a header line longer than stomp.limits.maxHeaderLineBytes gets ERROR "limit exceeded" and the connection closes', async () => {
    const ok = await connect();
    const fits = 'x'.repeat(MAX_LINE - 'x-long:'.length);
    await ok.request('SEND', { destination: '/topic/limits.x', 'x-long': fits }, 'line at the limit');
    ok.destroy();
    const raw = await connect();
    raw.send('SEND', { destination: '/topic/limits.x', 'x-long': fits + 'y' }, 'too long');
    const err = await expectErrorAndClose(raw, 'a header line too long');
    assert.equal(rawHeader(err, 'message'), 'limit exceeded');
    assert.match(err.body.toString(), /header_line_too_long/);
  });

  it('stomp - a body over stomp.limits.maxBodyBytes gets ERROR "payload too large" (a content-length is refused before the body)', async () => {
    const ok = await connect();
    await ok.request('SEND', { destination: '/queue/limits.body' }, Buffer.alloc(MAX_BODY, 0x61));
    await ok.request(
      'SEND',
      { destination: '/queue/limits.body', 'content-length': String(MAX_BODY) },
      Buffer.alloc(MAX_BODY, 0),
    );
    ok.destroy();

    const declared = await connect();
    // only the headers: the ERROR must not wait for a body that never comes
    declared.write(`SEND\ndestination:/queue/limits.body\ncontent-length:${MAX_BODY + 1}\n\n`);
    const e1 = await expectErrorAndClose(declared, 'a content-length over the limit');
    assert.equal(rawHeader(e1, 'message'), 'payload too large');
    assert.match(e1.body.toString(), /body_too_large/);

    const streamed = await connect();
    streamed.write(`SEND\ndestination:/queue/limits.body\n\n${'b'.repeat(MAX_BODY + 1)}`);
    const e2 = await expectErrorAndClose(streamed, 'a NUL-terminated body over the limit');
    assert.equal(rawHeader(e2, 'message'), 'payload too large');
    assert.equal(
      router.router.queues.size('queue:6:realm1:limits.body').messages,
      2,
      'only the two bodies at the limit are queued',
    );
  });

  it('stomp - stompjs over WebSocket: a body over the limit gets ERROR "payload too large" and the socket closes', async () => {
    const { client } = await stompjs.ws(router.stompWsUrl);
    const error = new Promise<IFrame>((resolve) => (client.onStompError = resolve));
    const closed = transportClosed(client, 'the WebSocket to close');
    client.publish({ destination: '/topic/limits.ws', body: 'z'.repeat(MAX_BODY + 1) });
    const err = await withTimeout(error, WAIT_MS, 'stompjs ERROR');
    assert.equal(err.headers['message'], 'payload too large');
    await closed;
  });

  it('stomp - a SEND to a full queue (stomp.maxQueueMessages) gets ERROR "limit exceeded" with its receipt-id; the queue keeps what it had', async () => {
    const raw = await connect();
    for (let i = 0; i < MAX_QUEUE; i++) await raw.request('SEND', { destination: '/queue/limits.full' }, `m${i}`);
    raw.send('SEND', { destination: '/queue/limits.full', receipt: 'over' }, 'one too many');
    const err = await expectErrorAndClose(raw, 'a SEND to a full queue');
    assert.equal(rawHeader(err, 'message'), 'limit exceeded');
    assert.equal(rawHeader(err, 'receipt-id'), 'over');
    assert.equal(router.router.queues.size('queue:6:realm1:limits.full').messages, MAX_QUEUE);
  });

  const malformed: [string, string | Buffer, RegExp][] = [
    ['garbage instead of a command', 'HELLO WORLD\n\n\0', /bad_command/],
    ['binary garbage', Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x0a]), /bad_command/],
    ['a header line without a colon', 'SEND\ndestination:/topic/limits.m\nno-colon-here\n\nx\0', /malformed_header/],
    ['an empty header name', 'SEND\ndestination:/topic/limits.m\n:value\n\nx\0', /malformed_header/],
    ['a bad escape in 1.2', 'SEND\ndestination:/topic/limits.m\nx-bad:a\\tb\n\nx\0', /bad_escape/],
    ['a trailing lone backslash in 1.2', 'SEND\ndestination:/topic/limits.m\nx-bad:ab\\\n\nx\0', /bad_escape/],
    ['no NUL after a content-length body', 'SEND\ndestination:/topic/limits.m\ncontent-length:3\n\nabcd\0', /missing_nul/],
    [
      'a content-length that is not a number',
      'SEND\ndestination:/topic/limits.m\ncontent-length:3x\n\nabc\0',
      /bad_content_length/,
    ],
    [
      'a header that is not UTF-8',
      Buffer.concat([Buffer.from('SEND\ndestination:/topic/limits.m\nx-u:'), Buffer.from([0xc3, 0x28]), Buffer.from('\n\nx\0')]),
      /malformed_header/,
    ],
    ['a bare CR inside a 1.2 header line', 'SEND\ndestination:/topic/limits.m\nx-cr:a\rb\n\nx\0', /malformed_header/],
    ['a server command from a client', 'MESSAGE\ndestination:/topic/limits.m\n\nx\0', /not sent by clients/],
  ];
  for (const [name, bytes, code] of malformed) {
    it(`stomp - malformed frame (${name}) gets ERROR "protocol violation" and the connection closes`, async () => {
      const raw = await connect();
      raw.write(bytes);
      const err = await expectErrorAndClose(raw, name);
      assert.equal(rawHeader(err, 'message'), 'protocol violation');
      assert.match(err.body.toString(), code);
    });
  }

  it('stomp - garbage before CONNECT gets ERROR and close', async () => {
    const raw = await raws.open(router.stompPort);
    raw.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const err = await expectErrorAndClose(raw, 'HTTP on the STOMP port');
    assert.equal(rawHeader(err, 'message'), 'protocol violation');
  });

  it('stomp - frames fed one byte at a time are read the same', async () => {
    const raw = await raws.open(router.stompPort);
    const bytes = Buffer.concat([
      frameBytes('CONNECT', { 'accept-version': '1.2', host: 'localhost' }),
      frameBytes('SUBSCRIBE', { id: 's', destination: '/topic/limits.bytes', receipt: 'b1' }, '', '\r\n'),
      Buffer.from('\n\r\n'),
      frameBytes('SEND', { destination: '/topic/limits.bytes', 'content-length': '3', 'x-e': 'a\\cb' }, Buffer.from([1, 0, 2])),
    ]);
    for (const b of bytes) {
      raw.write(Buffer.from([b]));
      await new Promise((r) => setImmediate(r));
    }
    await raw.receipt('b1');
    const m = await raw.expect('MESSAGE', 'MESSAGE after byte-at-a-time input');
    assert.deepEqual([...m.body], [1, 0, 2]);
    assert.equal(rawHeader(m, 'x-e'), 'a\\cb');
  });

  it('stomp - a client sending bad input does not affect a second client; the router keeps serving', async () => {
    const { client: watcher } = await stompjs.ws(router.stompWsUrl);
    const inbox = new Inbox();
    await subscribeConfirmed(watcher, '/topic/limits.others', inbox, { id: 'w' });
    const sender = await connect();
    await sender.request('SEND', { destination: '/topic/limits.others' }, 'before');
    await inbox.count(1, 'the message before the bad input');

    // many bad connections, in several ways at once
    const bad: RawStomp[] = [];
    for (let i = 0; i < 20; i++) bad.push(await connect());
    let seed = 12345;
    const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (const [i, b] of bad.entries()) {
      const noise = Buffer.from(Array.from({ length: 64 + i * 10 }, () => Math.floor(random() * 256)));
      noise[0] = 0x41; // not an EOL: the noise is read as a command line, never as heart-beats
      b.write(noise);
    }
    const big = await connect();
    big.write(`SEND\ndestination:/topic/limits.others\ncontent-length:${MAX_BODY * 1000}\n\n`);
    for (const b of [...bad, big]) {
      await b.expect('ERROR', 'ERROR for noise');
      await b.waitClosed('close after noise');
    }

    await sender.request('SEND', { destination: '/topic/limits.others' }, 'after');
    const got = await inbox.count(2, 'the message after the bad input');
    assert.deepEqual(
      got.map((m) => m.body),
      ['before', 'after'],
    );
    assert.equal(watcher.connected, true);
    const fresh = await connect();
    await fresh.request('SEND', { destination: '/topic/limits.others' }, 'fresh');
    await inbox.count(3, "a new connection's message");
    sender.destroy();
    fresh.destroy();
  });

  it('stomp - a client past stomp.limits.framesPerSecond gets ERROR "limit exceeded" and the connection closes; others go on', async () => {
    const watcher = await connect(rated);
    await watcher.request('SEND', { destination: '/topic/limits.rate.ok' }, 'before');
    const raw = await connect(rated);
    const n = FPS * 2 + 5;
    const frames = Array.from({ length: n }, (_, i) =>
      frameBytes('SEND', { destination: '/topic/limits.rate', receipt: `rate-${i}` }, `${i}`),
    );
    raw.write(Buffer.concat(frames)); // one write: the router reads them in one chunk
    const err = await expectErrorAndClose(raw, 'frames past the rate limit');
    assert.equal(rawHeader(err, 'message'), 'limit exceeded');
    assert.match(err.body.toString(), new RegExp(`more than ${FPS} frames per second`));
    // CONNECT counts too: at most FPS frames were handled before the ERROR
    const receipts = raw.frames.filter((f) => f.command === 'RECEIPT').length;
    assert.ok(receipts < FPS, `${receipts} receipts before the ERROR (limit ${FPS}/s)`);
    // a well-behaved client on the same router is not affected
    await watcher.request('SEND', { destination: '/topic/limits.rate.ok' }, 'after');
    watcher.destroy();
  });
});
