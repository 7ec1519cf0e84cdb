/**
 * Hostile clients on the STOMP listeners (TCP and WebSocket): frames with real and
 * made-up commands, headers with bad escapes, invalid UTF-8, repeated and huge names
 * and values, thousands of headers, content-length that lies (too short, too long,
 * negative, not a number), bodies with NULs, CRLF and LF line ends, then mutated (bit
 * flips, truncation, inserted bytes) and cut into random chunks, with or without a valid
 * CONNECT first. Everything the router answers must be STOMP server frames (CONNECTED,
 * MESSAGE, RECEIPT, ERROR with a message header) or heart-beats; afterwards the router
 * is alive, logged no error, serves well-behaved clients and its heap is back near its
 * start.
 */
import fc from 'fast-check';
import { CLIENT_COMMANDS } from '../../lib/stomp/frame';
import {
  FUZZ_AUTHZ,
  fuzzSuite,
  type HostileRouter,
  type Outcome,
  assertCloseCode,
  attackTcp,
  attackWs,
  mutatedArb,
  assertStompReplies,
} from '../helpers/hostile';

const RUNS = 80;
const WIDTH = 8;

const COMMANDS: readonly string[] = CLIENT_COMMANDS;
const HEADERS = [
  'accept-version',
  'host',
  'login',
  'passcode',
  'heart-beat',
  'destination',
  'id',
  'ack',
  'receipt',
  'transaction',
  'content-length',
  'content-type',
  'subscription',
  'message-id',
  'reply-to',
  'prefetch-count',
  'persistent',
  'expires',
];

const textArb = fc.oneof(
  fc.constantFrom(
    '1.0',
    '1.1',
    '1.2',
    '1.0,1.1,1.2',
    '/topic/hostile.t',
    '/queue/hostile.q',
    '/temp-queue/t',
    '/reply-queue/x',
    '/rpc/hostile.p',
    '/topic/#',
    '/topic/billing.eu',
    '/queue/billing',
    'client-individual',
    'client',
    'auto',
    '0,0',
    '10,10',
    '-1',
    '99999999999999999999',
    'tx1',
    'r1',
    'realm1',
  ),
  fc.string({ maxLength: 20 }),
  fc.constantFrom('\\c', '\\n', '\\r', '\\\\', '\\x', '\\', 'a\\tb'),
);
const valueBytes = fc.oneof(
  { weight: 6, arbitrary: textArb.map((s) => Buffer.from(s, 'utf8')) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 12 }).map((a) => Buffer.from(a)) }, // invalid UTF-8, NUL, LF, colons
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 300_000 }).map((n) => Buffer.alloc(n, 0x61)) }, // huge header
);
const headerArb = fc.tuple(
  fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...HEADERS) }, { weight: 1, arbitrary: fc.string({ maxLength: 10 }) }),
  valueBytes,
);

const frameArb = fc
  .record({
    command: fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom(...COMMANDS) },
      { weight: 1, arbitrary: fc.constantFrom('send', 'CONNECTED', 'MESSAGE', 'ERROR', 'RECEIPT', '') },
      { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
    ),
    headers: fc.oneof(
      { weight: 10, arbitrary: fc.array(headerArb, { maxLength: 6 }) },
      {
        weight: 1,
        arbitrary: fc
          .integer({ min: 100, max: 3000 })
          .map((n) => Array.from({ length: n }, (_, i): [string, Buffer] => [`h${i}`, Buffer.from('v')])),
      },
    ),
    body: fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
    contentLength: fc.option(
      fc.oneof(
        fc.constant('exact'),
        fc.integer({ min: -5, max: 5 }),
        fc.constantFrom('abc', '', '1e3', ' 3', '99999999999999999999', '4294967296'),
      ),
      { nil: undefined },
    ),
    crlf: fc.boolean(),
  })
  .map((f) => {
    const eol = f.crlf ? '\r\n' : '\n';
    const lines: Buffer[] = [Buffer.from(f.command + eol)];
    if (f.contentLength !== undefined) {
      const cl =
        f.contentLength === 'exact'
          ? String(f.body.length)
          : typeof f.contentLength === 'number'
            ? String(f.body.length + f.contentLength)
            : f.contentLength;
      lines.push(Buffer.from(`content-length:${cl}${eol}`));
    }
    for (const [n, v] of f.headers) lines.push(Buffer.from(`${n}:`), v, Buffer.from(eol));
    lines.push(Buffer.from(eol), f.body, Buffer.from([0]));
    return Buffer.concat(lines);
  });

/** A well-formed frame of a real command with plausible headers and an exact content-length: keeps the session alive. */
const plausibleFrameArb = fc
  .record({
    command: fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom('SEND', 'SUBSCRIBE') },
      { weight: 1, arbitrary: fc.constantFrom('UNSUBSCRIBE', 'ACK', 'NACK', 'BEGIN', 'COMMIT', 'ABORT') },
    ),
    // a destination and an id first (what SEND and SUBSCRIBE need), then anything
    headers: fc
      .tuple(
        fc.constantFrom(
          '/topic/hostile.t',
          '/topic/billing.eu',
          '/queue/hostile.q',
          '/queue/billing',
          '/topic/hostile.*',
          '/temp-queue/t',
        ),
        fc.integer({ min: 0, max: 3 }),
        fc.array(fc.tuple(fc.constantFrom(...HEADERS.filter((h) => h !== 'content-length')), textArb), { maxLength: 4 }),
      )
      .map(([dest, id, rest]): [string, string][] => [['destination', dest], ['id', `s${id}`], ...rest]),
    body: fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
  })
  .map((f) => {
    const head = [
      f.command,
      ...f.headers.map(([n, v]) => `${n}:${v.replace(/[\\:\r\n]/g, '_')}`),
      `content-length:${f.body.length}`,
    ].join('\n');
    return Buffer.concat([Buffer.from(`${head}\n\n`), f.body, Buffer.from([0])]);
  });

const connectArb = fc
  .constantFrom('1.0', '1.1', '1.2', '1.0,1.1,1.2')
  .map((v) => Buffer.from(`CONNECT\naccept-version:${v}\nhost:realm1\nheart-beat:0,0\n\n\0`));

const sessionArb = fc.record({
  ws: fc.boolean(),
  connect: fc.oneof(
    { weight: 5, arbitrary: connectArb },
    { weight: 2, arbitrary: mutatedArb(connectArb) },
    { weight: 1, arbitrary: fc.constant(Buffer.alloc(0)) },
  ),
  // garbage (often fatal at the first frame), or deep: well-formed frames only
  frames: fc.oneof(
    fc.array(
      fc.oneof(
        { weight: 3, arbitrary: frameArb },
        { weight: 2, arbitrary: mutatedArb(frameArb) },
        { weight: 1, arbitrary: fc.uint8Array({ maxLength: 24 }).map((a) => Buffer.from(a)) },
      ),
      { maxLength: 10 },
    ),
    fc.array(plausibleFrameArb, { minLength: 5, maxLength: 25 }),
  ),
});
type Session = typeof sessionArb extends fc.Arbitrary<infer T> ? T : never;

/** Concatenates the frames and cuts the stream in a few places (a frame may straddle chunks). */
function chunks(s: Session): Buffer[] {
  const all = Buffer.concat([s.connect, ...s.frames]);
  const out: Buffer[] = [];
  for (let at = 0, n = 1; at < all.length; n = (n * 7 + 3) % 97) {
    out.push(all.subarray(at, at + 1 + n * 13));
    at += 1 + n * 13;
  }
  return out;
}

async function attack(r: HostileRouter, s: Session, i: number): Promise<Outcome> {
  const label = `connection ${i} (${s.ws ? 'ws' : 'tcp'})`;
  if (s.ws) {
    const o = await attackWs(
      r.url('stompWs', '/stomp'),
      ['v12.stomp', 'v11.stomp', 'v10.stomp'],
      [s.connect, ...s.frames].map((data) => ({ data, binary: false })),
    );
    assertStompReplies(Buffer.concat(o.received), label);
    assertCloseCode(o, label);
    return o;
  } else {
    const o = await attackTcp(r.ports.stomp, chunks(s));
    assertStompReplies(Buffer.concat(o.received), label);
    return o;
  }
}

fuzzSuite({
  title: 'made-up, mutated and oversized STOMP frames over TCP and WebSocket get STOMP replies or a close',
  tag: 'stomp',
  session: sessionArb,
  runs: RUNS,
  width: WIDTH,
  attack,
  config: FUZZ_AUTHZ,
  expectDenials: true,
});
