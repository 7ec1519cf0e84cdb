// Incremental STOMP frame parser (STOMP 1.0, 1.1, 1.2). Pure byte logic, no sockets:
// the listener pushes socket chunks in, frames and heart-beats come out through
// handlers, and the first protocol error stops the parser for good (the connection
// is about to be closed: STOMP 1.2 §Size Limits, §ERROR).
//
// Framing decisions, per version (the wire grammar is STOMP 1.2 §Augmented BNF and
// STOMP 1.1 §Augmented BNF):
// - EOL is LF in 1.0 and 1.1, [CR] LF in 1.2. 1.1 is NOT given CRLF leniently: its
//   grammar makes CR an ordinary header-value octet, and 1.1 has no escape for CR
//   (`\r` is an undefined escape there), so a raw CR is the only way a 1.1 value can
//   carry one; stripping it would corrupt a legal value. STOMP 1.2 §Changes in the
//   Protocol lists CRLF as an incompatible change, which says the same.
// - In 1.2 a CR anywhere in a command or header line other than right before its LF
//   is malformed: the grammar excludes CR from names and values, and 1.2 escapes it.
// - A header line splits at its FIRST raw colon; later colons belong to the value.
//   The grammar excludes ':' from values, but 1.0 frames and CONNECT/CONNECTED
//   cannot escape one, and every deployed broker accepts them.
// - Header text must be valid UTF-8 (STOMP 1.2 §Value Encoding), else malformed_header:
//   decoding is never lossy. Names and values are never trimmed (STOMP 1.2 §Value
//   Encoding: "MUST never trim or pad"); 1.0 padding like `login: bob` is kept for the
//   session to judge. The one exception is `content-length` in 1.0, read with spaces
//   trimmed because 1.0 peers pad it.
// - Commands outside STOMP_COMMANDS are bad_command. Whether a command may be sent
//   in this direction, or may carry a body (STOMP 1.2 §Body), is the session's call.
// - Bodies are copied once out of the pushed chunks, so a frame never pins a socket
//   buffer; a body arriving over many chunks grows geometrically (O(n) copying).

import { isUnescapedCommand, MAX_COMMAND_LENGTH, unescapeHeaderText, type StompFrame, type StompVersion } from './frame';
import { StompParseError, type StompParseErrorCode, type StompParserHandlers, type StompParserLimits } from './parse-error';
import { COMMAND_WORDS, HEADER_WORDS } from './word-table';
import { isUtf8 } from 'node:buffer';

export { StompParseError, type StompParseErrorCode, type StompParserHandlers, type StompParserLimits } from './parse-error';

const LF = 0x0a;
const CR = 0x0d;
const NUL = 0x00;
const COLON = 0x3a;
const BACKSLASH = 0x5c;

const F_NON_ASCII = 1;
const F_BACKSLASH = 2;
const F_CR = 4;

const S_COMMAND = 0;
const S_HEADERS = 1;
const S_FIXED_BODY = 2;
const S_NUL_BODY = 3;
const S_TRAILER = 4;
const S_STOPPED = 5;
type State = 0 | 1 | 2 | 3 | 4 | 5;

const ESC_NONE = 0;
const ESC_11 = 1;
const ESC_12 = 2;
type Escaping = 0 | 1 | 2;

/** Command plus the CR of a 1.2 CRLF: any longer line cannot be a command. */
const MAX_COMMAND_LINE = MAX_COMMAND_LENGTH + 1;
/** content-length digits that still parse exactly (< 2^53). */
const MAX_LENGTH_DIGITS = 15;
const DIGITS = /^[0-9]+$/;
const FIRST_BODY_ALLOC = 1024;
const EMPTY = Buffer.alloc(0);
const DONE = Number.POSITIVE_INFINITY;

function checkLimit(what: string, n: number | undefined): void {
  if (n !== undefined && (!Number.isSafeInteger(n) || n < 0)) {
    throw new RangeError(`${what} must be a non-negative integer, got ${String(n)}`);
  }
}

export class StompFrameParser {
  /**
   * Version whose framing and escaping rules apply. Starts at '1.2', the widest
   * framing (CRLF accepted), which is harmless before negotiation because the frames
   * sent then (CONNECT, STOMP, CONNECTED) are never unescaped. Set it when
   * CONNECT/CONNECTED settle the version; setting it inside onFrame applies from the
   * very next frame, even one already in the same chunk. Read once per frame, at its
   * command line.
   */
  version: StompVersion = '1.2';

  private readonly handlers: StompParserHandlers;
  private readonly maxHeaders: number;
  private readonly maxHeaderLineBytes: number;
  private readonly maxBodyBytes: number;
  private readonly maxFrameBytes: number;

  private state: State = S_COMMAND;
  /** Pieces of a command or header line that straddles chunks, and their octets. */
  private lineParts: Buffer[] = [];
  private lineLen = 0;
  /** Where the line takeLine() returned starts and ends (before its LF) in that buffer. */
  private lineStart = 0;
  private lineEnd = 0;

  // The frame being read.
  private command = '';
  private frameVersion: StompVersion = '1.2';
  private headers: [string, string][] = [];
  private crlf = true;
  private escaping: Escaping = ESC_NONE;
  private contentLength = -1;
  private frameBytes = 0;
  private bodyBuf: Buffer = EMPTY;
  private bodyLen = 0;

  constructor(limits: StompParserLimits, handlers: StompParserHandlers) {
    checkLimit('maxHeaders', limits.maxHeaders);
    checkLimit('maxHeaderLineBytes', limits.maxHeaderLineBytes);
    checkLimit('maxBodyBytes', limits.maxBodyBytes);
    checkLimit('maxFrameBytes', limits.maxFrameBytes);
    this.maxHeaders = limits.maxHeaders;
    this.maxHeaderLineBytes = limits.maxHeaderLineBytes;
    this.maxBodyBytes = limits.maxBodyBytes;
    this.maxFrameBytes = limits.maxFrameBytes ?? Number.POSITIVE_INFINITY;
    this.handlers = handlers;
  }

  /** True once an error was reported or stop() was called: push() then does nothing. */
  get stopped(): boolean {
    return this.state === S_STOPPED;
  }

  /** Ignore all further input, e.g. after DISCONNECT ("Clients MUST NOT send any more
   *  frames after the DISCONNECT frame is sent", STOMP 1.2 §DISCONNECT). Safe to call
   *  from a handler: the rest of the current chunk is dropped. */
  stop(): void {
    this.state = S_STOPPED;
    this.release();
  }

  /**
   * Feeds the next octets of the stream. Frames, heart-beats and at most one error
   * are reported synchronously, in stream order. Protocol errors never throw; an
   * exception thrown by a handler propagates to the caller (treat the connection as
   * broken: the rest of that chunk is not read).
   */
  push(chunk: Buffer): void {
    let pos = 0;
    const end = chunk.length;
    while (pos < end) {
      switch (this.state) {
        case S_COMMAND:
          pos = this.readCommand(chunk, pos);
          break;
        case S_HEADERS:
          pos = this.readHeaderLine(chunk, pos);
          break;
        case S_FIXED_BODY:
          pos = this.readFixedBody(chunk, pos);
          break;
        case S_NUL_BODY:
          pos = this.readNulBody(chunk, pos);
          break;
        case S_TRAILER:
          pos = this.readTrailer(chunk, pos);
          break;
        default:
          return;
      }
    }
  }

  // ---- lines ---------------------------------------------------------------------

  /**
   * The line from `pos` whose LF is at `lf` (-1: not in this chunk), `lineBytes` octets
   * long with what earlier chunks held of it. Incomplete: its piece is held and the
   * result is undefined. Complete: the buffer holding it, the chunk itself or (when it
   * straddled chunks) the joined line, with its bounds in lineStart / lineEnd (fields,
   * not a returned object: this runs for every line parsed).
   */
  private takeLine(chunk: Buffer, pos: number, lf: number, lineBytes: number): Buffer | undefined {
    if (lf === -1) {
      this.lineParts.push(chunk.subarray(pos));
      this.lineLen = lineBytes;
      return undefined;
    }
    if (this.lineLen === 0) {
      this.lineStart = pos;
      this.lineEnd = lf;
      return chunk;
    }
    this.lineParts.push(chunk.subarray(pos, lf));
    const line = Buffer.concat(this.lineParts, lineBytes);
    this.lineParts = [];
    this.lineLen = 0;
    this.lineStart = 0;
    this.lineEnd = lineBytes;
    return line;
  }

  private readCommand(chunk: Buffer, pos: number): number {
    // Fast path: a bare LF between frames is a heart-beat (STOMP 1.2 §Heart-beating;
    // STOMP 1.2 §STOMP Frames: "The NULL octet can be optionally followed by multiple EOLs").
    if (this.lineLen === 0 && chunk[pos] === LF) {
      this.handlers.onHeartbeat();
      return pos + 1;
    }
    const lf = chunk.indexOf(LF, pos);
    const lineBytes = this.lineLen + (lf === -1 ? chunk.length : lf) - pos;
    if (lineBytes > MAX_COMMAND_LINE) {
      return this.fail('bad_command', `command line longer than ${MAX_COMMAND_LINE} octets`);
    }
    const buf = this.takeLine(chunk, pos, lf, lineBytes);
    if (buf === undefined) return chunk.length;
    const s = this.lineStart;
    let e = this.lineEnd;
    const version = this.version;
    const crlf = version === '1.2';
    if (crlf && e > s && buf[e - 1] === CR) e--;
    if (e === s) {
      this.handlers.onHeartbeat(); // a CRLF heart-beat (1.2)
      return lf + 1;
    }
    const command = COMMAND_WORDS.find(buf, s, e);
    if (command === undefined) {
      return this.fail('bad_command', `unknown command ${JSON.stringify(buf.toString('latin1', s, e))}`);
    }
    this.command = command;
    this.frameVersion = version;
    this.crlf = crlf;
    // STOMP 1.2 §Value Encoding: CONNECT and CONNECTED (and STOMP, see frame.ts) are
    // never escaped; 1.0 has no escaping at all.
    this.escaping = version === '1.0' || isUnescapedCommand(command) ? ESC_NONE : version === '1.1' ? ESC_11 : ESC_12;
    this.frameBytes = lineBytes + 1;
    if (this.frameBytes > this.maxFrameBytes) return this.failFrameSize();
    this.state = S_HEADERS;
    return lf + 1;
  }

  private readHeaderLine(chunk: Buffer, pos: number): number {
    // STOMP 1.2 §Size Limits: the number of headers. Refuse the first octet of a
    // header line past the limit (anything but the blank line that ends the headers).
    if (this.lineLen === 0 && this.headers.length >= this.maxHeaders) {
      const b = chunk[pos];
      if (b !== LF && !(b === CR && this.crlf)) {
        return this.fail('header_count', `more than ${this.maxHeaders} headers`);
      }
    }
    const lf = chunk.indexOf(LF, pos);
    const lineBytes = this.lineLen + (lf === -1 ? chunk.length : lf) - pos;
    // Size limits are judged by the octet that first crosses one, so the same input
    // fails the same way however it was split into chunks.
    const lineCross = this.lineCrossing(chunk, pos, lineBytes);
    // Octet of this line at which the frame can no longer fit: it still needs this
    // line's LF after it.
    const frameCross = this.maxFrameBytes - this.frameBytes;
    if (lineBytes >= lineCross || lineBytes >= frameCross) {
      return lineCross <= frameCross ? this.failLineLength() : this.failFrameSize();
    }
    const buf = this.takeLine(chunk, pos, lf, lineBytes);
    if (buf === undefined) return chunk.length;
    const s = this.lineStart;
    let e = this.lineEnd;
    if (this.crlf && e > s && buf[e - 1] === CR) e--;
    this.frameBytes += lineBytes + 1;
    if (e === s) return this.startBody(lf + 1); // the blank line: headers are done
    if (this.headers.length >= this.maxHeaders) {
      return this.fail('header_count', `more than ${this.maxHeaders} headers`);
    }
    return this.addHeader(buf, s, e) ? lf + 1 : DONE;
  }

  /**
   * 1-based octet of the current line (octets before its LF, `lineBytes` seen so far)
   * that makes it longer than maxHeaderLineBytes, or Infinity if none has yet. In 1.2
   * the octet just past the limit may be the CR of a CRLF, which is EOL, not line.
   */
  private lineCrossing(chunk: Buffer, pos: number, lineBytes: number): number {
    const max = this.maxHeaderLineBytes;
    if (lineBytes <= max) return Number.POSITIVE_INFINITY;
    if (!this.crlf || this.lineOctet(chunk, pos, max) !== CR) return max + 1;
    return lineBytes > max + 1 ? max + 2 : Number.POSITIVE_INFINITY;
  }

  /** The current line's octet at 0-based `index`, from the held parts or the chunk. */
  private lineOctet(chunk: Buffer, pos: number, index: number): number | undefined {
    if (index >= this.lineLen) return chunk[pos + index - this.lineLen];
    let i = index;
    for (const part of this.lineParts) {
      if (i < part.length) return part[i];
      i -= part.length;
    }
    return undefined;
  }

  /** Decodes one `name:value` line into this.headers; false after reporting an error. */
  private addHeader(buf: Buffer, s: number, e: number): boolean {
    // One pass over the line: the first colon, and whether it holds non-ASCII octets,
    // backslashes or CRs, so the common all-ASCII line skips every later check.
    let colon = -1;
    let flags = 0;
    for (let i = s; i < e; i++) {
      const b = buf[i] ?? 0;
      if (b === COLON) {
        if (colon === -1) colon = i;
      } else if (b >= 0x80) flags |= F_NON_ASCII;
      else if (b === BACKSLASH) flags |= F_BACKSLASH;
      else if (b === CR) flags |= F_CR;
    }
    if (colon === -1) {
      this.fail('malformed_header', 'header line without a colon');
      return false;
    }
    if (colon === s) {
      this.fail('malformed_header', 'empty header name'); // header-name = 1*<...>
      return false;
    }
    if ((flags & F_CR) !== 0 && this.crlf) {
      // STOMP 1.2 §Augmented BNF: no CR in header-name or header-value.
      this.fail('malformed_header', 'bare CR in a header line');
      return false;
    }
    let name: string;
    let value: string;
    if ((flags & F_NON_ASCII) === 0) {
      // ASCII: a known name costs no allocation; latin1 is the cheapest exact decode.
      name = HEADER_WORDS.find(buf, s, colon) ?? buf.toString('latin1', s, colon);
      value = buf.toString('latin1', colon + 1, e);
    } else if (isUtf8(buf.subarray(s, e))) {
      name = buf.toString('utf8', s, colon);
      value = buf.toString('utf8', colon + 1, e);
    } else {
      this.fail('malformed_header', 'header is not valid UTF-8'); // STOMP 1.2 §Value Encoding
      return false;
    }
    if ((flags & F_BACKSLASH) !== 0 && this.escaping !== ESC_NONE) {
      const version = this.escaping === ESC_12 ? '1.2' : '1.1';
      if (name.includes('\\')) {
        const n = unescapeHeaderText(name, version);
        if (typeof n === 'number') return this.failEscape(name, n);
        name = n;
      }
      if (value.includes('\\')) {
        const v = unescapeHeaderText(value, version);
        if (typeof v === 'number') return this.failEscape(value, v);
        value = v;
      }
    }
    // STOMP 1.2 §Header content-length; the first one counts (§Repeated Header Entries).
    if (this.contentLength === -1 && name === 'content-length' && !this.readContentLength(value)) return false;
    this.headers.push([name, value]);
    return true;
  }

  private readContentLength(value: string): boolean {
    // 1.0 peers pad header values (STOMP 1.0 examples); 1.1+ MUST NOT trim.
    const text = this.frameVersion === '1.0' ? value.replace(/^ +| +$/g, '') : value;
    if (!DIGITS.test(text)) {
      this.fail('bad_content_length', `content-length ${JSON.stringify(text.slice(0, 32))} is not an octet count`);
      return false;
    }
    const n = text.length > MAX_LENGTH_DIGITS ? Number.POSITIVE_INFINITY : Number(text);
    if (n > this.maxBodyBytes) {
      this.fail('body_too_large', `content-length ${text.slice(0, 32)} exceeds ${this.maxBodyBytes} octets`);
      return false;
    }
    this.contentLength = n;
    return true;
  }

  // ---- body ----------------------------------------------------------------------

  private startBody(next: number): number {
    const n = this.contentLength;
    if (n === -1) {
      // STOMP 1.0 §SEND: "the first null byte encountered signals the end of the frame".
      if (this.frameBytes + 1 > this.maxFrameBytes) return this.failFrameSize();
      this.state = S_NUL_BODY;
      return next;
    }
    if (this.frameBytes + n + 1 > this.maxFrameBytes) return this.failFrameSize();
    this.state = n === 0 ? S_TRAILER : S_FIXED_BODY;
    return next;
  }

  /** STOMP 1.2 §Header content-length: "this number of octets MUST be read,
   *  regardless of whether or not there are NULL octets in the body". */
  private readFixedBody(chunk: Buffer, pos: number): number {
    const want = this.contentLength - this.bodyLen;
    const have = chunk.length - pos;
    if (have < want) {
      this.appendBody(chunk, pos, chunk.length, this.contentLength);
      return chunk.length;
    }
    this.appendBody(chunk, pos, pos + want, this.contentLength);
    this.state = S_TRAILER;
    return pos + want;
  }

  /** "The frame still needs to be terminated with a NULL octet." */
  private readTrailer(chunk: Buffer, pos: number): number {
    if (chunk[pos] !== NUL) {
      return this.fail('missing_nul', `body of content-length ${this.contentLength} is not followed by NUL`);
    }
    return this.emit(this.takeBody(), pos + 1);
  }

  private readNulBody(chunk: Buffer, pos: number): number {
    const nul = chunk.indexOf(NUL, pos);
    const end = nul === -1 ? chunk.length : nul;
    const total = this.bodyLen + end - pos;
    // Whichever limit the body crosses first; the frame still needs its NUL.
    const frameRoom = this.maxFrameBytes - this.frameBytes - 1;
    if (total > this.maxBodyBytes || total > frameRoom) {
      if (this.maxBodyBytes <= frameRoom) return this.fail('body_too_large', `body exceeds ${this.maxBodyBytes} octets`);
      return this.failFrameSize();
    }
    this.appendBody(chunk, pos, end, this.maxBodyBytes);
    if (nul === -1) return chunk.length;
    return this.emit(this.takeBody(), nul + 1);
  }

  /** Copies octets into the body, growing it geometrically up to `cap` octets. */
  private appendBody(src: Buffer, s: number, e: number, cap: number): void {
    const need = this.bodyLen + (e - s);
    if (need === this.bodyLen) return;
    if (need > this.bodyBuf.length) {
      // First piece: exact when it is the whole body (the common single-chunk case).
      const grown = this.bodyLen === 0 ? need : Math.max(need, this.bodyBuf.length * 2, FIRST_BODY_ALLOC);
      const next = Buffer.allocUnsafe(Math.min(grown, cap));
      this.bodyBuf.copy(next, 0, 0, this.bodyLen);
      this.bodyBuf = next;
    }
    src.copy(this.bodyBuf, this.bodyLen, s, e);
    this.bodyLen = need;
  }

  private takeBody(): Buffer {
    const buf = this.bodyBuf;
    const len = this.bodyLen;
    this.bodyBuf = EMPTY;
    this.bodyLen = 0;
    if (len === buf.length) return len === 0 ? EMPTY : buf;
    return Buffer.from(buf.subarray(0, len)); // shed the spare capacity
  }

  // ---- frame boundaries ------------------------------------------------------------

  private emit(body: Buffer, next: number): number {
    const frame: StompFrame = { command: this.command, headers: this.headers, body };
    // Reset before the handler runs: it may set `version` or stop() the parser.
    this.state = S_COMMAND;
    this.headers = [];
    this.contentLength = -1;
    this.frameBytes = 0;
    this.handlers.onFrame(frame);
    return next;
  }

  private release(): void {
    this.lineParts = [];
    this.lineLen = 0;
    this.headers = [];
    this.bodyBuf = EMPTY;
    this.bodyLen = 0;
  }

  private fail(code: StompParseErrorCode, message: string): number {
    this.stop();
    this.handlers.onError(new StompParseError(code, message));
    return DONE;
  }

  private failLineLength(): number {
    return this.fail('header_line_too_long', `header line longer than ${this.maxHeaderLineBytes} octets`);
  }

  private failFrameSize(): number {
    return this.fail('frame_too_large', `frame exceeds ${this.maxFrameBytes} octets`);
  }

  private failEscape(text: string, at: number): false {
    const seq = text.slice(at, at + 2);
    this.fail('bad_escape', `undefined escape sequence ${JSON.stringify(seq)} in a header`);
    return false;
  }
}
