/**
 * A deliberately small STOMP 1.2 client for the STOMP benchmark's load generator, on
 * `net` alone. The same client drives every broker, so whatever it costs it costs them
 * all alike; it is kept cheap so that the broker, not the generator, is what saturates.
 *
 * - Frames are written by hand into one slab per flush (one `write` per connection per
 *   event-loop turn): SEND from a per-destination template (the head is copied, the
 *   receipt number written as digits, the body filled in by the caller), ACK by copying
 *   the MESSAGE's `ack` value straight from the read buffer.
 * - Reads use `onread` (one reused buffer, no stream events). The reader frames the byte
 *   stream itself and, for the two hot frames, builds no objects: MESSAGE hands the body
 *   and the `ack` value to a callback as offsets into the chunk, RECEIPT with a numeric
 *   receipt-id hands over the number. Every other frame (CONNECTED, ERROR, a RECEIPT
 *   with another id) is decoded into strings for the slow path.
 * - Bodies are framed by `content-length` (both brokers send it); without one, by the
 *   first NUL. EOLs between frames (heart-beats, RabbitMQ's LF after each NUL) are skipped.
 *
 * Nothing here is a general-purpose client: no reconnect, no heart-beating (the CONNECT
 * asks for none), header values are not unescaped (the `ack` value goes back to the
 * broker exactly as it came, which is what STOMP 1.2 escaping needs).
 */
import net from 'node:net';

const SLAB = 64 * 1024;
const READ_BUFFER = 256 * 1024;
const LF = 0x0a;
const CR = 0x0d;
const NUL = 0x00;

/** MESSAGE received: body is data[start, end), the `ack` header value data[ackStart, ackEnd) (ackStart < 0: none). */
export type MessageHandler = (
  data: Buffer,
  start: number,
  end: number,
  ackStart: number,
  ackEnd: number,
  redelivered: boolean,
) => void;

/** A frame decoded for the slow path. */
export interface SlowFrame {
  command: string;
  headers: Map<string, string>;
  body: string;
}

export interface SendTemplate {
  /** "SEND\n" + headers (content-length first), without the receipt and the blank line */
  readonly head: Buffer;
  readonly bodyBytes: number;
}

const RECEIPT_PREFIX = Buffer.from('receipt:', 'latin1');
const HEAD_END = Buffer.from('\n\n', 'latin1');
const ACK_HEAD = Buffer.from('ACK\nid:', 'latin1');
const ACK_TAIL = Buffer.from('\n\n\0', 'latin1');

const H_CONTENT_LENGTH = Buffer.from('content-length:', 'latin1');
const H_ACK = Buffer.from('ack:', 'latin1');
const H_RECEIPT_ID = Buffer.from('receipt-id:', 'latin1');
const H_REDELIVERED_TRUE = Buffer.from('redelivered:true', 'latin1');

/** A SEND frame head for `destination` with a `bodyBytes` body and extra headers. */
export function sendTemplate(destination: string, bodyBytes: number, extra: [string, string][] = []): SendTemplate {
  let head = `SEND\ncontent-length:${bodyBytes}\ndestination:${destination}\n`;
  for (const [k, v] of extra) head += `${k}:${v}\n`;
  return { head: Buffer.from(head, 'latin1'), bodyBytes };
}

function startsWith(data: Buffer, at: number, end: number, prefix: Buffer): boolean {
  const n = prefix.length;
  if (end - at < n) return false;
  for (let k = 0; k < n; k++) if (data[at + k] !== prefix[k]) return false;
  return true;
}

export interface ConnectOptions {
  port: number;
  login?: string;
  passcode?: string;
  /** the `host` header (RabbitMQ: the virtual host) */
  host?: string;
}

export class LeanStompClient {
  onMessage: MessageHandler = () => undefined;
  onReceipt: (id: number) => void = () => undefined;
  /** frames the client did not expect, and protocol failures */
  errors = 0;
  /** the first ERROR frame's message header and body, for the report */
  firstError: string | undefined;
  private slab = Buffer.allocUnsafe(SLAB);
  private used = 0;
  private pending: Buffer | undefined;
  private readonly waiting: Array<(f: SlowFrame) => void> = [];
  private closed = false;
  private readonly closedPromise: Promise<void>;

  private constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    this.closedPromise = new Promise((resolve) =>
      socket.once('close', () => {
        this.closed = true;
        resolve();
      }),
    );
  }

  get isClosed(): boolean {
    return this.closed;
  }

  static async connect(o: ConnectOptions): Promise<LeanStompClient> {
    // `onread`: libuv reads into one reused buffer and calls back directly, skipping the
    // readable-stream machinery and its per-chunk allocation ('data' is not emitted)
    const ref: { client?: LeanStompClient } = {};
    const socket = net.connect({
      port: o.port,
      host: '127.0.0.1',
      onread: {
        buffer: Buffer.allocUnsafe(READ_BUFFER),
        callback: (nread: number, buf: Uint8Array): boolean => {
          ref.client?.onData(Buffer.from(buf.buffer, buf.byteOffset, nread));
          return true;
        },
      },
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const c = new LeanStompClient(socket);
    ref.client = c;
    const connected = c.next();
    let frame = `CONNECT\naccept-version:1.2\nhost:${o.host ?? '/'}\nheart-beat:0,0\n`;
    if (o.login !== undefined) frame += `login:${o.login}\npasscode:${o.passcode ?? ''}\n`;
    socket.write(Buffer.from(frame + '\n\0', 'latin1'));
    const f = await withTimeout(connected, 10_000, 'CONNECTED');
    if (f.command !== 'CONNECTED' || f.headers.get('version') !== '1.2') {
      socket.destroy();
      throw new Error(`STOMP connection refused: ${f.command} ${JSON.stringify(Object.fromEntries(f.headers))} ${f.body}`);
    }
    return c;
  }

  /** SUBSCRIBE, waiting for its RECEIPT. */
  async subscribe(id: string, destination: string, headers: [string, string][] = []): Promise<void> {
    let frame = `SUBSCRIBE\nid:${id}\ndestination:${destination}\nreceipt:sub-${id}\n`;
    for (const [k, v] of headers) frame += `${k}:${v}\n`;
    const receipt = this.next();
    this.flush();
    this.socket.write(Buffer.from(frame + '\n\0', 'latin1'));
    const f = await withTimeout(receipt, 10_000, `RECEIPT for SUBSCRIBE ${destination}`);
    if (f.command !== 'RECEIPT' || f.headers.get('receipt-id') !== `sub-${id}`) {
      throw new Error(
        `SUBSCRIBE ${destination} refused: ${f.command} ${JSON.stringify(Object.fromEntries(f.headers))} ${f.body}`,
      );
    }
  }

  /**
   * Appends one SEND from `t` (with `receipt:<receipt>` when receipt >= 0) to this turn's
   * output and returns the offset of its body in `out()`, for the caller to fill in.
   */
  appendSend(t: SendTemplate, receipt: number): number {
    const need = t.head.length + RECEIPT_PREFIX.length + 17 + HEAD_END.length + t.bodyBytes + 1;
    if (this.used + need > this.slab.length) this.flush();
    const s = this.slab;
    let at = this.used;
    t.head.copy(s, at);
    at += t.head.length;
    if (receipt >= 0) {
      RECEIPT_PREFIX.copy(s, at);
      at += RECEIPT_PREFIX.length;
      at += s.write(String(receipt), at, 'latin1');
      s[at++] = LF;
    }
    s[at++] = LF;
    const body = at;
    at += t.bodyBytes;
    s[at++] = NUL;
    this.used = at;
    return body;
  }

  /** The buffer `appendSend` offsets refer to (valid until the next flush). */
  out(): Buffer {
    return this.slab;
  }

  /** Appends ACK of the message whose `ack` header value is src[start, end). */
  appendAck(src: Buffer, start: number, end: number): void {
    const need = ACK_HEAD.length + (end - start) + ACK_TAIL.length;
    if (this.used + need > this.slab.length) this.flush();
    const s = this.slab;
    let at = this.used;
    ACK_HEAD.copy(s, at);
    at += ACK_HEAD.length;
    src.copy(s, at, start, end);
    at += end - start;
    ACK_TAIL.copy(s, at);
    this.used = at + ACK_TAIL.length;
  }

  /** Writes what this turn appended, in one write. */
  flush(): void {
    if (this.used === 0 || this.closed) return;
    this.socket.write(this.slab.subarray(0, this.used));
    // the socket keeps a reference until the bytes are out: start a fresh slab
    this.slab = Buffer.allocUnsafe(SLAB);
    this.used = 0;
  }

  /** Graceful: DISCONNECT with a receipt (so every earlier frame, ACKs included, was handled), then close. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.flush();
    const bye = this.next();
    this.socket.write(Buffer.from('DISCONNECT\nreceipt:bye\n\n\0', 'latin1'));
    try {
      await withTimeout(bye, 5000, 'RECEIPT for DISCONNECT');
    } catch {
      // the broker closes anyway; the run's numbers are already taken
    }
    this.socket.end();
    const timer = setTimeout(() => this.socket.destroy(), 2000);
    await this.closedPromise;
    clearTimeout(timer);
  }

  private next(): Promise<SlowFrame> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private onData(chunk: Buffer): void {
    let data = chunk;
    if (this.pending) {
      data = Buffer.concat([this.pending, chunk]);
      this.pending = undefined;
    }
    const n = data.length;
    let i = 0;
    while (i < n) {
      // EOLs between frames: heart-beats, or the LF some brokers write after the NUL
      const b = data[i]!;
      if (b === LF || b === CR) {
        i++;
        continue;
      }
      const next = this.frameAt(data, i, n);
      if (next < 0) break;
      i = next;
    }
    if (i < n) this.pending = Buffer.from(data.subarray(i));
    // acknowledgements appended by the handlers leave together, once per event-loop turn
    if (this.used > 0 && !this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.scheduledFlush);
    }
  }

  /** Handles the frame starting at `i`; returns where the next one starts, or -1 when incomplete. */
  private frameAt(data: Buffer, i: number, n: number): number {
    const cmdEnd = data.indexOf(LF, i);
    if (cmdEnd < 0) return -1;
    const c0 = data[i];
    let contentLength = -1;
    let ackStart = -1;
    let ackEnd = -1;
    let receiptId = -1;
    let redelivered = false;
    let ls = cmdEnd + 1;
    // header lines up to the blank line
    for (;;) {
      if (ls >= n) return -1;
      if (data[ls] === LF) {
        ls += 1;
        break;
      }
      if (data[ls] === CR && ls + 1 < n && data[ls + 1] === LF) {
        ls += 2;
        break;
      }
      const le = data.indexOf(LF, ls);
      if (le < 0) return -1;
      const lineEnd = le > ls && data[le - 1] === CR ? le - 1 : le;
      // the first of a repeated header is its value (STOMP 1.2 §Repeated Header Entries)
      if (contentLength < 0 && startsWith(data, ls, lineEnd, H_CONTENT_LENGTH)) {
        contentLength = parseDigits(data, ls + H_CONTENT_LENGTH.length, lineEnd);
      } else if (ackStart < 0 && startsWith(data, ls, lineEnd, H_ACK)) {
        ackStart = ls + H_ACK.length;
        ackEnd = lineEnd;
      } else if (receiptId === -1 && startsWith(data, ls, lineEnd, H_RECEIPT_ID)) {
        receiptId = parseDigits(data, ls + H_RECEIPT_ID.length, lineEnd);
        if (receiptId < 0) receiptId = -2; // not a number: the slow path's
      } else if (startsWith(data, ls, lineEnd, H_REDELIVERED_TRUE)) {
        redelivered = true;
      }
      ls = le + 1;
    }
    const bodyStart = ls;
    let bodyEnd: number;
    if (contentLength >= 0) {
      bodyEnd = bodyStart + contentLength;
      if (bodyEnd >= n) return -1;
      if (data[bodyEnd] !== NUL) {
        this.errors++;
        // resynchronise on the next NUL
        const z = data.indexOf(NUL, bodyStart);
        return z < 0 ? -1 : z + 1;
      }
    } else {
      bodyEnd = data.indexOf(NUL, bodyStart);
      if (bodyEnd < 0) return -1;
    }
    const cmdLen = (data[cmdEnd - 1] === CR ? cmdEnd - 1 : cmdEnd) - i;
    if (c0 === 0x4d /* M */ && cmdLen === 7) {
      this.onMessage(data, bodyStart, bodyEnd, ackStart, ackEnd, redelivered);
    } else if (c0 === 0x52 /* R */ && cmdLen === 7 && receiptId >= 0) {
      this.onReceipt(receiptId);
    } else {
      this.slowFrame(data, i, cmdEnd, bodyStart, bodyEnd);
    }
    return bodyEnd + 1;
  }

  private slowFrame(data: Buffer, i: number, cmdEnd: number, bodyStart: number, bodyEnd: number): void {
    const text = data.toString('latin1', i, bodyStart);
    const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
    const headers = new Map<string, string>();
    for (const l of lines.slice(1)) {
      const colon = l.indexOf(':');
      if (colon <= 0) continue;
      const k = l.slice(0, colon);
      if (!headers.has(k)) headers.set(k, l.slice(colon + 1));
    }
    const f: SlowFrame = {
      command: data.toString('latin1', i, cmdEnd).replace(/\r$/, ''),
      headers,
      body: data.toString('utf8', bodyStart, bodyEnd),
    };
    if (f.command === 'ERROR') {
      this.errors++;
      this.firstError ??= `${f.headers.get('message') ?? ''} ${f.body.trim()}`.trim();
    }
    const w = this.waiting.shift();
    if (w) w(f);
    else if (f.command !== 'ERROR') this.errors++;
  }

  private flushScheduled = false;
  private readonly scheduledFlush = (): void => {
    this.flushScheduled = false;
    this.flush();
  };
}

/** Decimal digits in data[from, to) as a number, or -1 when there are none or anything else. */
function parseDigits(data: Buffer, from: number, to: number): number {
  if (to <= from) return -1;
  let v = 0;
  for (let k = from; k < to; k++) {
    const d = data[k]! - 0x30;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
    }),
  ]);
}
