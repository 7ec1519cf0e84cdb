import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  CLIENT_COMMANDS,
  escapeHeaderText,
  header,
  headerValues,
  isUnescapedCommand,
  mayHaveBody,
  SERVER_COMMANDS,
  STOMP_COMMANDS,
  STOMP_VERSIONS,
  unescapeHeaderText,
  type StompFrame,
  type StompVersion,
} from '../../lib/stomp/frame';
import { StompFrameParser, type StompParseErrorCode, type StompParserLimits } from '../../lib/stomp/frame-parser';
import { encodeFrame, encodeFrameParts, HEARTBEAT_EOL } from '../../lib/stomp/frame-writer';

// STOMP 1.0 / 1.1 / 1.2 frame codec (stomp.github.io specifications).

type Event =
  | { kind: 'frame'; command: string; headers: [string, string][]; body: Buffer }
  | { kind: 'heartbeat' }
  | { kind: 'error'; code: StompParseErrorCode };

const WIDE: StompParserLimits = { maxHeaders: 1000, maxHeaderLineBytes: 1 << 16, maxBodyBytes: 1 << 24 };

interface RunOptions {
  version?: StompVersion;
  limits?: StompParserLimits;
  /** Switch the parser to this version when a CONNECT/CONNECTED/STOMP frame arrives. */
  negotiate?: StompVersion;
}

function makeParser(opts: RunOptions, events: Event[]): StompFrameParser {
  const parser: StompFrameParser = new StompFrameParser(opts.limits ?? WIDE, {
    onFrame: (f) => {
      events.push({ kind: 'frame', command: f.command, headers: f.headers, body: f.body });
      if (opts.negotiate && isUnescapedCommand(f.command)) parser.version = opts.negotiate;
    },
    onHeartbeat: () => events.push({ kind: 'heartbeat' }),
    onError: (err) => events.push({ kind: 'error', code: err.code }),
  });
  if (opts.version) parser.version = opts.version;
  return parser;
}

/** Everything the parser reports for `chunks`, pushed in order. */
function run(chunks: Buffer[], opts: RunOptions = {}): Event[] {
  const events: Event[] = [];
  const parser = makeParser(opts, events);
  for (const c of chunks) parser.push(c);
  return events;
}

function parse(wire: string | Buffer, opts: RunOptions = {}): Event[] {
  return run([typeof wire === 'string' ? Buffer.from(wire, 'utf8') : wire], opts);
}

function frames(events: Event[]): StompFrame[] {
  const out: StompFrame[] = [];
  for (const e of events) {
    if (e.kind === 'frame') out.push({ command: e.command, headers: e.headers, body: e.body });
  }
  return out;
}

function onlyFrame(wire: string | Buffer, opts: RunOptions = {}): StompFrame {
  const evs = parse(wire, opts);
  assert.equal(evs.length, 1, `one event expected, got ${JSON.stringify(evs)}`);
  const [f] = frames(evs);
  assert.ok(f);
  return f;
}

function errorCode(wire: string | Buffer, opts: RunOptions = {}): StompParseErrorCode | undefined {
  const last = parse(wire, opts).at(-1);
  return last?.kind === 'error' ? last.code : undefined;
}

function bytesOf(...parts: (string | Buffer | number[])[]): Buffer {
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));
}

/** Splits `buf` at the given ascending offsets. */
function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const out: Buffer[] = [];
  let from = 0;
  for (const c of cuts) {
    out.push(buf.subarray(from, c));
    from = c;
  }
  out.push(buf.subarray(from));
  return out;
}

/** A cheap exact rendering of events, for comparing many runs. */
function signature(events: Event[]): string {
  return events
    .map((e) =>
      e.kind === 'frame'
        ? `${e.command}|${JSON.stringify(e.headers)}|${e.body.toString('hex')}`
        : e.kind === 'error'
          ? `!${e.code}`
          : '.',
    )
    .join('\n');
}

function byteAtATime(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i++) out.push(buf.subarray(i, i + 1));
  return out;
}

/** The frame the parser reports for an encoded `frame`: the writer's content-length first. */
function expectedAfterWrite(frame: StompFrame): StompFrame {
  const headers = frame.headers.filter(([n]) => n !== 'content-length');
  if (frame.body.length > 0) headers.unshift(['content-length', String(frame.body.length)]);
  return { command: frame.command, headers, body: frame.body };
}

describe('stomp frames', () => {
  // ---- commands ---------------------------------------------------------------------

  it('stomp frames - every client and server command parses and round-trips in every version (STOMP 1.2 §Augmented BNF)', () => {
    assert.deepEqual([...CLIENT_COMMANDS].sort(), [
      'ABORT',
      'ACK',
      'BEGIN',
      'COMMIT',
      'CONNECT',
      'DISCONNECT',
      'NACK',
      'SEND',
      'STOMP',
      'SUBSCRIBE',
      'UNSUBSCRIBE',
    ]);
    assert.deepEqual([...SERVER_COMMANDS].sort(), ['CONNECTED', 'ERROR', 'MESSAGE', 'RECEIPT']);
    for (const version of STOMP_VERSIONS) {
      for (const command of STOMP_COMMANDS) {
        const frame: StompFrame = {
          command,
          headers: [
            ['receipt', 'r-1'],
            ['x-app', 'v'],
          ],
          body: mayHaveBody(command) ? Buffer.from('payload') : Buffer.alloc(0),
        };
        assert.deepEqual(onlyFrame(encodeFrame(frame, version), { version }), expectedAfterWrite(frame), `${command} ${version}`);
        // Written by hand the way the spec shows it, without content-length.
        const plain = onlyFrame(`${command}\nreceipt:r-1\n\n${mayHaveBody(command) ? 'payload' : ''}\0`, { version });
        assert.equal(plain.command, command);
        assert.equal(header(plain, 'receipt'), 'r-1');
      }
    }
  });

  it('stomp frames - unknown, lower-case and over-long commands are bad_command (STOMP 1.2 §STOMP Frames: case sensitive)', () => {
    assert.equal(errorCode('send\n\n\0'), 'bad_command');
    assert.equal(errorCode('FOO\n\n\0'), 'bad_command');
    assert.equal(errorCode('SENDX\n\n\0'), 'bad_command');
    assert.equal(errorCode(' SEND\n\n\0'), 'bad_command');
    assert.equal(errorCode('\0\n'), 'bad_command'); // a stray NUL between frames
    assert.equal(errorCode('GET / HTTP/1.1\r\n'), 'bad_command');
    // Refused as soon as the line is longer than any command, before its LF arrives.
    assert.equal(errorCode('SUBSCRIBEXYZW'), 'bad_command');
    assert.equal(errorCode('SUBSCRIBEXYZ'), undefined);
  });

  // ---- repeated headers ---------------------------------------------------------------

  it('stomp frames - repeated headers are kept in wire order and header() returns the first (STOMP 1.2 §Repeated Header Entries)', () => {
    const f = onlyFrame('MESSAGE\nfoo:World\nfoo:Hello\nsubscription:0\n\n\0');
    assert.deepEqual(f.headers, [
      ['foo', 'World'],
      ['foo', 'Hello'],
      ['subscription', '0'],
    ]);
    assert.equal(header(f, 'foo'), 'World');
    assert.deepEqual(headerValues(f, 'foo'), ['World', 'Hello']);
    assert.equal(header(f, 'Foo'), undefined); // names are case sensitive
    // The writer keeps repeats and their order too.
    const again = onlyFrame(encodeFrame(f, '1.2'));
    assert.deepEqual(again.headers, f.headers);
    // The first content-length is the one that frames the body.
    const cl = onlyFrame(bytesOf('SEND\ncontent-length:3\ncontent-length:1\n\na\0c', [0]));
    assert.deepEqual(cl.body, Buffer.from('a\0c'));
  });

  // ---- escaping ------------------------------------------------------------------------

  it('stomp frames - 1.2 unescapes \\r \\n \\c \\\\ in names and values (STOMP 1.2 §Value Encoding)', () => {
    const f = onlyFrame('SEND\na\\cb\\\\:x\\ry\\nz\\cw\\\\v\n\n\0', { version: '1.2' });
    assert.deepEqual(f.headers, [['a:b\\', 'x\ry\nz:w\\v']]);
    // "\\n" is an escaped backslash followed by an n, not an LF.
    assert.deepEqual(onlyFrame('SEND\nk:\\\\n\n\n\0').headers, [['k', '\\n']]);
    // Raw colons after the first belong to the value.
    assert.deepEqual(onlyFrame('SEND\nk:a:b\n\n\0').headers, [['k', 'a:b']]);
    // Unicode passes through as UTF-8.
    assert.deepEqual(onlyFrame('SEND\nclé:ünï😀\n\n\0').headers, [['clé', 'ünï😀']]);
  });

  it('stomp frames - 1.1 unescapes \\n \\c \\\\ and treats \\r as undefined (STOMP 1.1 §Value Encoding)', () => {
    const f = onlyFrame('SEND\na\\cb:x\\ny\\\\z\n\n\0', { version: '1.1' });
    assert.deepEqual(f.headers, [['a:b', 'x\ny\\z']]);
    assert.equal(errorCode('SEND\nk:a\\rb\n\n\0', { version: '1.1' }), 'bad_escape');
  });

  it('stomp frames - 1.0 never unescapes: backslashes are data', () => {
    const f = onlyFrame('SEND\nk:a\\tb\\c\\\\\n\n\0', { version: '1.0' });
    assert.deepEqual(f.headers, [['k', 'a\\tb\\c\\\\']]);
  });

  it('stomp frames - CONNECT, STOMP and CONNECTED are never unescaped (STOMP 1.2 §Value Encoding, §CONNECT or STOMP Frame)', () => {
    for (const version of STOMP_VERSIONS) {
      for (const command of ['CONNECT', 'STOMP', 'CONNECTED']) {
        const f = onlyFrame(`${command}\npasscode:a\\tb\\c:d\n\n\0`, { version });
        assert.deepEqual(f.headers, [['passcode', 'a\\tb\\c:d']], `${command} ${version}`);
      }
    }
  });

  it('stomp frames - undefined escapes are a fatal bad_escape (STOMP 1.2 §Value Encoding)', () => {
    for (const version of ['1.1', '1.2'] as const) {
      assert.equal(errorCode('SEND\nk:a\\tb\n\n\0', { version }), 'bad_escape');
      assert.equal(errorCode('SEND\nk\\t:v\n\n\0', { version }), 'bad_escape');
      assert.equal(errorCode('SEND\nk:trailing\\\n\n\0', { version }), 'bad_escape');
      assert.equal(errorCode('MESSAGE\nk:\\x\n\n\0', { version }), 'bad_escape');
    }
  });

  it('stomp frames - the writer escapes per version and writes CONNECT/CONNECTED raw (STOMP 1.1 and 1.2 §Value Encoding)', () => {
    const f: StompFrame = { command: 'MESSAGE', headers: [['a:b', 'x\ry\nz:w\\v']], body: Buffer.alloc(0) };
    assert.equal(encodeFrame(f, '1.2').toString(), 'MESSAGE\na\\cb:x\\ry\\nz\\cw\\\\v\n\n\0');
    assert.equal(encodeFrame(f, '1.1').toString(), 'MESSAGE\na\\cb:x\ry\\nz\\cw\\\\v\n\n\0'); // 1.1 has no \r
    const raw: StompFrame = { command: 'MESSAGE', headers: [['k', 'a:b\\c']], body: Buffer.alloc(0) };
    assert.equal(encodeFrame(raw, '1.0').toString(), 'MESSAGE\nk:a:b\\c\n\n\0');
    const connected: StompFrame = { command: 'CONNECTED', headers: [['server', 'gatehouse/0.1 a:b\\c']], body: Buffer.alloc(0) };
    assert.equal(encodeFrame(connected, '1.2').toString(), 'CONNECTED\nserver:gatehouse/0.1 a:b\\c\n\n\0');
    // What raw text cannot carry is refused, not mangled.
    const lf: StompFrame = { command: 'CONNECTED', headers: [['k', 'a\nb']], body: Buffer.alloc(0) };
    assert.throws(() => encodeFrame(lf, '1.2'), RangeError);
    assert.throws(() => encodeFrame({ ...raw, headers: [['k:', 'v']] }, '1.0'), RangeError);
    assert.throws(() => encodeFrame({ ...connected, headers: [['k', 'a\rb']] }, '1.2'), RangeError);
    assert.throws(() => encodeFrame({ ...f, headers: [['', 'v']] }, '1.2'), RangeError);
    assert.throws(() => encodeFrame({ ...f, command: 'send' }, '1.2'), RangeError);
    // STOMP 1.2 §Body: only SEND, MESSAGE and ERROR frames may have a body.
    assert.throws(() => encodeFrame({ command: 'RECEIPT', headers: [], body: Buffer.from('x') }, '1.2'), RangeError);
  });

  // ---- EOLs ----------------------------------------------------------------------------

  it('stomp frames - 1.2 accepts CRLF line ends and CRLF heart-beats (STOMP 1.2 §STOMP Frames: EOL = [CR] LF)', () => {
    const evs = parse('\r\nSEND\r\ndestination:/queue/a\r\nk:v\r\n\r\nbody\0\r\n\n', { version: '1.2' });
    assert.deepEqual(evs, [
      { kind: 'heartbeat' },
      {
        kind: 'frame',
        command: 'SEND',
        headers: [
          ['destination', '/queue/a'],
          ['k', 'v'],
        ],
        body: Buffer.from('body'),
      },
      { kind: 'heartbeat' },
      { kind: 'heartbeat' },
    ]);
    // A CR that is not part of an EOL is malformed in 1.2 (it must be escaped as \r).
    assert.equal(errorCode('SEND\nk:a\rb\n\n\0', { version: '1.2' }), 'malformed_header');
    assert.equal(errorCode('CONNECT\nk:a\rb\n\n\0', { version: '1.2' }), 'malformed_header');
    assert.equal(errorCode('SE\rND\n\n\0', { version: '1.2' }), 'bad_command');
    assert.equal(errorCode('\rX\n', { version: '1.2' }), 'bad_command');
  });

  it('stomp frames - 1.0 and 1.1 are LF-only: a CR is header data there (STOMP 1.1 §Augmented BNF)', () => {
    for (const version of ['1.0', '1.1'] as const) {
      assert.deepEqual(onlyFrame('SEND\nk:v\r\n\n\0', { version }).headers, [['k', 'v\r']]);
      assert.deepEqual(onlyFrame('SEND\nk:a\rb\n\n\0', { version }).headers, [['k', 'a\rb']]);
      assert.equal(errorCode('SEND\r\n\r\n\0', { version }), 'bad_command');
      assert.equal(errorCode('\r\n', { version }), 'bad_command'); // not a 1.1 heart-beat
      assert.equal(errorCode('SEND\n\r\n\0', { version }), 'malformed_header'); // "\r" is not a blank line
    }
    // So a raw CR round-trips through the 1.1 writer, which has no \r escape.
    const f: StompFrame = { command: 'SEND', headers: [['k\r', 'v\r']], body: Buffer.alloc(0) };
    assert.deepEqual(onlyFrame(encodeFrame(f, '1.1'), { version: '1.1' }), f);
  });

  it('stomp frames - a version set inside onFrame applies to the next frame of the same chunk (STOMP 1.2 §Protocol Negotiation)', () => {
    const wire = 'CONNECT\r\naccept-version:1.0,1.1\r\n\r\n\0SEND\nk:a\\cb\n\n\0';
    const evs = parse(wire, { version: '1.2', negotiate: '1.1' });
    assert.deepEqual(
      frames(evs).map((f) => f.headers),
      [[['accept-version', '1.0,1.1']], [['k', 'a:b']]],
    );
    // Negotiated 1.0: the same SEND keeps its backslash.
    const v10 = frames(parse(wire, { version: '1.2', negotiate: '1.0' }));
    assert.deepEqual(v10[1]?.headers, [['k', 'a\\cb']]);
  });

  // ---- bodies --------------------------------------------------------------------------

  it('stomp frames - a 1 MB binary body with NUL octets survives by content-length (STOMP 1.2 §Header content-length)', () => {
    const body = Buffer.alloc(1 << 20);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7919 + (i >> 8)) & 0xff;
    assert.ok(body.includes(0));
    const frame: StompFrame = { command: 'SEND', headers: [['destination', '/queue/bin']], body };
    const wire = encodeFrame(frame, '1.2');
    assert.deepEqual(Buffer.concat(encodeFrameParts(frame, '1.2')), wire);
    for (const chunkSize of [wire.length, 65536, 1000, 7]) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < wire.length; i += chunkSize) chunks.push(wire.subarray(i, i + chunkSize));
      const got = frames(run([...chunks, wire])); // the frame twice: the second from one chunk
      assert.equal(got.length, 2, `chunk size ${chunkSize}`);
      for (const f of got) {
        assert.equal(header(f, 'content-length'), String(body.length));
        assert.ok(f.body.equals(body), `chunk size ${chunkSize}`);
      }
    }
    // The parsed body is a copy: it does not pin or alias the pushed chunk.
    const chunk = Buffer.from(wire);
    const [f] = frames(run([chunk]));
    chunk.fill(0xee);
    assert.ok(f?.body.equals(body));
  });

  it('stomp frames - a body without content-length ends at the first NUL (STOMP 1.0 §SEND, STOMP 1.2 §Header content-length)', () => {
    const evs = parse('SEND\ndestination:/q\n\nhello\0SEND\n\n\0MESSAGE\n\nwith\nnewlines\n\0');
    assert.deepEqual(
      frames(evs).map((f) => f.body.toString()),
      ['hello', '', 'with\nnewlines\n'],
    );
    // content-length:0 and no content-length both give an empty body.
    assert.equal(onlyFrame('SEND\ncontent-length:0\n\n\0').body.length, 0);
  });

  it('stomp frames - the writer adds content-length for any non-empty body and replaces a caller-supplied one', () => {
    const f: StompFrame = {
      command: 'SEND',
      headers: [
        ['content-length', '999'],
        ['d', '/q'],
      ],
      body: Buffer.from([0, 0, 1]),
    };
    assert.deepEqual(encodeFrame(f, '1.2'), bytesOf('SEND\ncontent-length:3\nd:/q\n\n', [0, 0, 1, 0]));
    assert.equal(encodeFrame({ ...f, body: Buffer.alloc(0) }, '1.2').toString(), 'SEND\nd:/q\n\n\0');
    const parts = encodeFrameParts(f, '1.2');
    assert.equal(parts.length, 3);
    assert.equal(parts[1], f.body, 'the body is not copied');
    assert.deepEqual(Buffer.concat(parts), encodeFrame(f, '1.2'));
  });

  // ---- heart-beats -------------------------------------------------------------------

  it('stomp frames - EOLs between frames are heart-beats (STOMP 1.2 §Heart-beating)', () => {
    assert.deepEqual(HEARTBEAT_EOL, Buffer.from('\n'));
    const beat = HEARTBEAT_EOL.toString();
    const evs = parse(`${beat}${beat}SEND\n\nx\0${beat}${beat}${beat}RECEIPT\nreceipt-id:1\n\n\0`);
    assert.deepEqual(
      evs.map((e) => e.kind),
      ['heartbeat', 'heartbeat', 'frame', 'heartbeat', 'heartbeat', 'heartbeat', 'frame'],
    );
  });

  // ---- limits --------------------------------------------------------------------------

  describe('limits (STOMP 1.2 §Size Limits)', () => {
    const limits = (l: Partial<StompParserLimits>): StompParserLimits => ({ ...WIDE, ...l });

    it('stomp frames - maxHeaders: the limit passes, one more header fails at its first octet', () => {
      const opts = { limits: limits({ maxHeaders: 2 }) };
      assert.equal(frames(parse('SEND\na:1\nb:2\n\n\0', opts)).length, 1);
      assert.equal(frames(parse('SEND\na:1\nb:2\r\n\r\n\0', opts)).length, 1);
      assert.equal(errorCode('SEND\na:1\nb:2\nc', opts), 'header_count');
      assert.equal(errorCode('SEND\na:1\na:1\na:1\n\n\0', opts), 'header_count'); // repeats count
      assert.equal(frames(parse('SEND\n\n\0', { limits: limits({ maxHeaders: 0 }) })).length, 1);
    });

    it('stomp frames - maxHeaderLineBytes: counts the escaped line without its EOL, fails before the line ends', () => {
      const opts = { limits: limits({ maxHeaderLineBytes: 10 }) };
      assert.equal(frames(parse('SEND\nk:12345678\n\n\0', opts)).length, 1); // 10 octets
      assert.equal(frames(parse('SEND\nk:12345678\r\n\r\n\0', opts)).length, 1); // CR is EOL in 1.2
      assert.equal(errorCode('SEND\nk:123456789\n\n\0', opts), 'header_line_too_long');
      // Measured as sent, escaped: 2 + 10 octets that decode to 5.
      assert.equal(errorCode(`SEND\nk:${'\\'.repeat(10)}\n\n\0`, opts), 'header_line_too_long');
      assert.equal(errorCode('SEND\nk:12345678\r\n\n\0', { ...opts, version: '1.1' }), 'header_line_too_long');
      // No LF yet: refused on the octet that crosses the limit.
      assert.equal(errorCode('SEND\nk:123456789', opts), 'header_line_too_long');
      assert.equal(errorCode('SEND\nk:12345678\r', opts), undefined);
      assert.equal(errorCode('SEND\nk:12345678\rx', opts), 'header_line_too_long');
    });

    it('stomp frames - maxBodyBytes: a content-length over it fails before any body octet; a NUL body fails on the crossing octet', () => {
      const opts = { limits: limits({ maxBodyBytes: 4 }) };
      assert.equal(frames(parse('SEND\ncontent-length:4\n\nabcd\0', opts)).length, 1);
      assert.equal(frames(parse('SEND\n\nabcd\0', opts)).length, 1);
      assert.equal(errorCode('SEND\ncontent-length:5\n', opts), 'body_too_large');
      assert.equal(errorCode('SEND\ncontent-length:99999999999999999999\n', opts), 'body_too_large');
      assert.equal(errorCode('SEND\n\nabcd', opts), undefined);
      assert.equal(errorCode('SEND\n\nabcde', opts), 'body_too_large');
    });

    it('stomp frames - maxFrameBytes: counts command to NUL, heart-beats excluded', () => {
      const wire = 'SEND\nk:v\n\nab\0'; // 5 + 4 + 1 + 2 + 1 = 13 octets
      assert.equal(frames(parse(`\n\n\n${wire}`, { limits: limits({ maxFrameBytes: 13 }) })).length, 1);
      assert.equal(errorCode(wire, { limits: limits({ maxFrameBytes: 12 }) }), 'frame_too_large');
      assert.equal(errorCode('SEND\ncontent-length:2\n\nab\0', { limits: limits({ maxFrameBytes: 25 }) }), 'frame_too_large');
      assert.equal(errorCode('SEND\nk:vvvvvvvvvvvvvvvv', { limits: limits({ maxFrameBytes: 12 }) }), 'frame_too_large');
    });

    it('stomp frames - invalid limits are refused at construction', () => {
      const handlers = { onFrame: () => undefined, onHeartbeat: () => undefined, onError: () => undefined };
      assert.throws(() => new StompFrameParser(limits({ maxHeaders: -1 }), handlers), RangeError);
      assert.throws(() => new StompFrameParser(limits({ maxBodyBytes: 1.5 }), handlers), RangeError);
      assert.throws(() => new StompFrameParser(limits({ maxFrameBytes: Number.NaN }), handlers), RangeError);
    });
  });

  // ---- every error code ----------------------------------------------------------------

  it('stomp frames - every error code is reported once, after which the parser ignores input', () => {
    const small: StompParserLimits = { maxHeaders: 2, maxHeaderLineBytes: 20, maxBodyBytes: 8, maxFrameBytes: 48 };
    const cases: [StompParseErrorCode, string, RunOptions?][] = [
      ['header_count', 'SEND\na:1\nb:2\nc:3\n\n\0'],
      ['header_line_too_long', 'SEND\nkey:0123456789abcdefghij\n\n\0'],
      ['body_too_large', 'SEND\n\n0123456789\0'],
      ['frame_too_large', 'SEND\nkey:0123456789ab\nkey:0123456789ab\n\n01234567\0'],
      ['malformed_header', 'SEND\nno colon\n\n\0'],
      ['malformed_header', 'SEND\n:empty-name\n\n\0'],
      ['malformed_header', bytesOf('SEND\nk:', [0xff, 0xfe], '\n\n\0').toString('latin1')],
      ['bad_escape', 'SEND\nk:\\t\n\n\0'],
      ['missing_nul', 'SEND\ncontent-length:2\n\nabc\0'],
      ['bad_content_length', 'SEND\ncontent-length:-1\n\n\0'],
      ['bad_content_length', 'SEND\ncontent-length:1.5\n\n\0'],
      ['bad_content_length', 'SEND\ncontent-length:\n\n\0'],
      ['bad_content_length', 'SEND\ncontent-length: 1\n\nx\0'],
      ['bad_content_length', 'SEND\ncontent-length:0x1\n\nx\0'],
      ['bad_command', 'PUBLISH\n\n\0'],
    ];
    const seen = new Set<StompParseErrorCode>();
    for (const [code, text, opts] of cases) {
      const wire = Buffer.from(text, text.includes('\xff') ? 'latin1' : 'utf8');
      const valid = Buffer.from('SEND\n\nok\0');
      const evs = run([valid, wire, valid, Buffer.from('\n')], { limits: small, ...opts });
      assert.deepEqual(
        evs.map((e) => (e.kind === 'error' ? e.code : e.kind)),
        ['frame', code],
        `${code}: ${JSON.stringify(text)}`,
      );
      seen.add(code);
    }
    const all: StompParseErrorCode[] = [
      'header_count',
      'header_line_too_long',
      'body_too_large',
      'frame_too_large',
      'malformed_header',
      'bad_escape',
      'missing_nul',
      'bad_content_length',
      'bad_command',
    ];
    assert.deepEqual([...seen].sort(), [...all].sort());
    // STOMP 1.0 peers pad values; content-length is read with spaces trimmed there only.
    assert.deepEqual(onlyFrame('SEND\ncontent-length: 2 \n\nab\0', { version: '1.0' }).body, Buffer.from('ab'));
    // The error object carries its code and a message.
    let err: unknown;
    const p = new StompFrameParser(WIDE, { onFrame: () => undefined, onHeartbeat: () => undefined, onError: (e) => (err = e) });
    p.push(Buffer.from('NOPE\n'));
    assert.ok(err instanceof Error);
    assert.equal((err as { code?: string }).code, 'bad_command');
    assert.equal(p.stopped, true);
  });

  it('stomp frames - stop() from a handler drops the rest of the chunk (STOMP 1.2 §DISCONNECT)', () => {
    const events: Event[] = [];
    const parser: StompFrameParser = new StompFrameParser(WIDE, {
      onFrame: (f) => {
        events.push({ kind: 'frame', command: f.command, headers: f.headers, body: f.body });
        if (f.command === 'DISCONNECT') parser.stop();
      },
      onHeartbeat: () => events.push({ kind: 'heartbeat' }),
      onError: (e) => events.push({ kind: 'error', code: e.code }),
    });
    parser.push(Buffer.from('DISCONNECT\nreceipt:77\n\n\0SEND\n\nlate\0garbage'));
    parser.push(Buffer.from('SEND\n\nlater\0'));
    assert.deepEqual(
      events.map((e) => e.kind),
      ['frame'],
    );
  });

  // ---- chunking ------------------------------------------------------------------------

  const STREAM = bytesOf(
    '\n\r\n',
    'CONNECT\r\naccept-version:1.1,1.2\r\nhost:gatehouse\r\nlogin:a:b\r\n\r\n\0\r\n',
    encodeFrame(
      {
        command: 'SEND',
        headers: [
          ['destination', '/queue/a'],
          ['x:y', 'a\\b\nc\rd'],
        ],
        body: Buffer.from([0, 1, 2, 0, 255, 10, 13]),
      },
      '1.2',
    ),
    'SEND\ndestination:/topic/t\n\nno length body\0\n\n',
    'MESSAGE\r\nfoo:World\r\nfoo:Hello\r\nmessage-id:1\r\n\r\nhi\r\n\0',
    encodeFrame({ command: 'ERROR', headers: [['message', 'bad é 😀 \\ :']], body: Buffer.from('detail\0more') }, '1.2'),
    'SUBSCRIBE\nid:0\ndestination:/queue/foo\nack:client\n\n\0',
    'DISCONNECT\nreceipt:77\n\n\0\n',
  );

  it('stomp frames - a multi-frame stream parses identically split at every byte boundary and byte at a time', () => {
    const whole = run([STREAM]);
    assert.equal(frames(whole).length, 7);
    assert.equal(whole.filter((e) => e.kind === 'heartbeat').length, 6);
    assert.equal(
      whole.some((e) => e.kind === 'error'),
      false,
    );
    assert.deepEqual(run(byteAtATime(STREAM)), whole);
    const wholeSig = signature(whole);
    for (let i = 0; i <= STREAM.length; i++) {
      assert.deepEqual(run(splitAt(STREAM, [i])), whole, `split at ${i}`);
    }
    // Every pair of cut points too (three chunks, any boundary).
    for (let i = 0; i <= STREAM.length; i++) {
      for (let j = i; j <= STREAM.length; j++) {
        const got = run(splitAt(STREAM, [i, j]));
        if (signature(got) !== wholeSig) assert.deepEqual(got, whole, `split at ${i} and ${j}`);
      }
    }
  });

  it('stomp frames - an erroneous stream fails identically split at every byte boundary', () => {
    const limits: StompParserLimits = { maxHeaders: 3, maxHeaderLineBytes: 12, maxBodyBytes: 10, maxFrameBytes: 40 };
    const bad = [
      'SEND\nk:1234567890\r\n\r\nok\0SEND\nk:12345678901\r\n\r\n\0', // the CR of CRLF is not line
      'SEND\nk:v\n\nok\0SEND\na:1234567890\nb:1234567890\nc:12345678901\n\n\0', // the frame limit crosses first
      'SEND\nk:v\n\nok\0SEND\na:1\nb:2\nc:3\nd:4\n\n\0',
      'SEND\n\n0123456789\0SEND\n\n0123456789a\0',
      'SEND\nk:v\n\nok\0SEND\nk:1234567\nk:1234567\nk:1234567\n\nabcd\0',
      'SEND\nk:v\n\nok\0SEND\ncontent-length:3\n\nabcd',
      'SEND\nk:v\n\nok\0SEND\nk:\\q\n\n\0',
      'SEND\nk:v\n\nok\0\nSENT\n\n\0',
    ];
    for (const text of bad) {
      const wire = Buffer.from(text);
      const whole = run([wire], { limits });
      assert.equal(whole.at(-1)?.kind, 'error', text);
      assert.deepEqual(run(byteAtATime(wire), { limits }), whole, text);
      for (let i = 0; i <= wire.length; i++) assert.deepEqual(run(splitAt(wire, [i]), { limits }), whole, `${text} @${i}`);
    }
  });

  // ---- properties ------------------------------------------------------------------------

  const versionArb = fc.constantFrom<StompVersion>('1.0', '1.1', '1.2');

  /** Text that stresses framing: delimiters, escapes, unicode. */
  const textArb = fc.string({
    unit: fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(':', '\n', '\r', '\\', '\\c', '\\n', ' ', '\0', 'é', '😀', '\ufffd') },
      { weight: 5, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }) },
      { weight: 2, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
    ),
    maxLength: 24,
  });

  /** Makes a header representable where the writer cannot escape (1.0, CONNECT/CONNECTED/STOMP). */
  function representable(command: string, version: StompVersion, [name, value]: [string, string]): [string, string] {
    if (version !== '1.0' && !isUnescapedCommand(command)) return [name || 'h', value];
    const lineSafe = (s: string): string => s.replace(version === '1.2' ? /[\n\r]/g : /\n/g, '');
    return [lineSafe(name).replace(/:/g, '') || 'h', lineSafe(value)];
  }

  const frameArb = (version: StompVersion): fc.Arbitrary<StompFrame> =>
    fc
      .record({
        command: fc.constantFrom(...STOMP_COMMANDS),
        headers: fc.array(fc.tuple(textArb, textArb), { maxLength: 6 }),
        body: fc.uint8Array({ maxLength: 300 }),
      })
      .map(({ command, headers, body }) => ({
        command,
        headers: headers.map((h) => representable(command, version, h)).filter(([n]) => n !== 'content-length'),
        body: mayHaveBody(command) ? Buffer.from(body) : Buffer.alloc(0),
      }));

  /** Sorted cut points inside a buffer of `len` octets. */
  const cutsArb = fc.array(fc.nat(), { maxLength: 12 });
  const cutsFor = (raw: number[], len: number): number[] => raw.map((c) => c % (len + 1)).sort((a, b) => a - b);

  it('stomp frames - property: unescape(escape(text)) is the text, and escaped text has no raw delimiters (STOMP 1.1/1.2 §Value Encoding)', () => {
    fc.assert(
      fc.property(textArb, (text) => {
        const e12 = escapeHeaderText(text, '1.2');
        assert.equal(unescapeHeaderText(e12, '1.2'), text);
        assert.doesNotMatch(e12, /[\r\n:]/);
        const e11 = escapeHeaderText(text, '1.1');
        assert.equal(unescapeHeaderText(e11, '1.1'), text);
        assert.doesNotMatch(e11, /[\n:]/);
      }),
      { numRuns: 2000 },
    );
  });

  it('stomp frames - property: encode then parse round-trips random frames in every version, however split', () => {
    for (const version of STOMP_VERSIONS) {
      fc.assert(
        fc.property(
          fc.array(frameArb(version), { minLength: 1, maxLength: 5 }),
          fc.array(fc.nat(3), { maxLength: 5 }),
          cutsArb,
          (fs, beats, cuts) => {
            const parts: Buffer[] = [];
            fs.forEach((f, i) => {
              parts.push(encodeFrame(f, version));
              for (let b = 0; b < (beats[i] ?? 0); b++) parts.push(HEARTBEAT_EOL);
            });
            const wire = Buffer.concat(parts);
            const evs = run(splitAt(wire, cutsFor(cuts, wire.length)), { version });
            assert.deepEqual(frames(evs), fs.map(expectedAfterWrite));
            assert.equal(
              evs.filter((e) => e.kind === 'heartbeat').length,
              beats.slice(0, fs.length).reduce((a, b) => a + b, 0),
            );
          },
        ),
        { numRuns: 300 },
      );
    }
  });

  /** Byte soup weighted toward STOMP tokens, so random input gets past the command line. */
  const soupArb = fc
    .array(
      fc.oneof(
        fc
          .constantFrom(
            'SEND',
            'MESSAGE',
            'CONNECT',
            'ERROR',
            '\n',
            '\r\n',
            '\r',
            ':',
            '\\',
            '\\c',
            '\\r',
            '\\t',
            '\0',
            'content-length:',
            '0',
            '3',
            '17',
            'k',
            'é',
            'SEND\n',
            '\n\n',
          )
          .map((s) => Buffer.from(s)),
        fc.uint8Array({ maxLength: 8 }).map((a) => Buffer.from(a)),
      ),
      { maxLength: 40 },
    )
    .map((bs) => Buffer.concat(bs));

  const limitsArb = fc.record({
    maxHeaders: fc.nat(6),
    maxHeaderLineBytes: fc.nat(24),
    maxBodyBytes: fc.nat(24),
    maxFrameBytes: fc.option(fc.nat(80), { nil: undefined }),
  });

  it('stomp frames - property: random bytes never throw out of push(), error at most once, same events however split', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          soupArb,
          fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
        ),
        versionArb,
        versionArb,
        limitsArb,
        cutsArb,
        (wire, version, negotiate, limits, cuts) => {
          const whole = run([wire], { version, limits, negotiate });
          const errors = whole.filter((e) => e.kind === 'error');
          assert.ok(errors.length <= 1);
          if (errors.length === 1) assert.equal(whole.at(-1)?.kind, 'error', 'nothing after an error');
          assert.deepEqual(run(splitAt(wire, cutsFor(cuts, wire.length)), { version, limits, negotiate }), whole);
          assert.deepEqual(run(byteAtATime(wire), { version, limits, negotiate }), whole);
        },
      ),
      { numRuns: 3000 },
    );
  });
});
