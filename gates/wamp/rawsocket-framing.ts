// WAMP-over-RawSocket: opening handshake and message framing
// (WAMP advanced profile: RawSocket Transport). Pure byte logic, no sockets; the
// listener owns the socket, timeouts and which serializers are offered.

/** Handshake reply error codes (RawSocket: Router-to-Client Reply). Code 0 is
 *  "illegal (must not be used)": peers keep it to mean "no error". */
export const HandshakeError = {
  SERIALIZER_UNSUPPORTED: 1,
  MAX_LENGTH_UNACCEPTABLE: 2,
  RESERVED_BITS: 3,
  MAX_CONNECTIONS: 4,
} as const;

export const MAGIC = 0x7f;
export const HANDSHAKE_BYTES = 4;
export const FRAME_HEADER_BYTES = 4;
/** Largest payload a 24-bit length can carry, and the most this side ever sends. */
export const MAX_FRAME_PAYLOAD = 0xffffff;
/** 2^24, receivable only through the X bit of the newer framing text (see below). */
const X_BIT_PAYLOAD = 0x1000000;

export type HandshakeResult =
  { ok: true; serializerId: number; maxLengthExp: number; clientMaxBytes: number } | { ok: false; error: number };

/** Octets a peer announcing LENGTH `exp` is willing to receive: 2^(9+exp). */
export function maxBytesForExp(exp: number): number {
  return 2 ** (9 + exp);
}

/**
 * Parses the client's 4-octet handshake request. On failure, `error` is always a
 * sendable code for handshakeError(), then close. A first octet other than 0x7F is
 * "not a RawSocket request" and the spec says to fail the connection; we report it as
 * RESERVED_BITS so callers have one path — the 4-octet reply before closing is still
 * failing the connection, and harmless to whatever else connected. (A listener that
 * shares its port with HTTP would look at buf[0] itself before calling this.)
 *
 * Serializer ids 1..15 pass through: whether this router speaks one is the caller's
 * question (serializerForRawSocketId), answered with SERIALIZER_UNSUPPORTED if not.
 * `clientMaxBytes` is capped at what a 24-bit frame length can say, since we never
 * use the X bit when sending.
 */
export function parseHandshake(buf: Buffer): HandshakeResult {
  if (buf.length < HANDSHAKE_BYTES) throw new RangeError('handshake needs 4 octets');
  if (buf[0] !== MAGIC) return { ok: false, error: HandshakeError.RESERVED_BITS };
  // "The third and forth octet are reserved and MUST be all zeros for now."
  if (buf[2] !== 0 || buf[3] !== 0) return { ok: false, error: HandshakeError.RESERVED_BITS };
  const octet2 = buf[1] ?? 0;
  const serializerId = octet2 & 0x0f;
  // Serializer 0 is "illegal"; refusing it as unsupported fails the connection politely.
  if (serializerId === 0) return { ok: false, error: HandshakeError.SERIALIZER_UNSUPPORTED };
  const maxLengthExp = octet2 >> 4;
  return {
    ok: true,
    serializerId,
    maxLengthExp,
    clientMaxBytes: Math.min(maxBytesForExp(maxLengthExp), MAX_FRAME_PAYLOAD),
  };
}

function checkNibble(what: string, n: number, min: number): void {
  if (!Number.isInteger(n) || n < min || n > 15) throw new RangeError(`${what} out of range: ${n}`);
}

/** Success reply: echoes the client's serializer; `maxLengthExp` is what we accept. */
export function handshakeReply(serializerId: number, maxLengthExp: number): Buffer {
  checkNibble('serializer id', serializerId, 1);
  checkNibble('length exponent', maxLengthExp, 0);
  return Buffer.from([MAGIC, (maxLengthExp << 4) | serializerId, 0, 0]);
}

/** Error reply: 0x7F, EEEE 0000, 0, 0. Code 0 "MUST NOT be used" and throws. */
export function handshakeError(code: number): Buffer {
  checkNibble('handshake error code', code, 1);
  return Buffer.from([MAGIC, code << 4, 0, 0]);
}

/**
 * Smallest LENGTH exponent whose 2^(9+n) covers `bytes`, capped at 15 (16 MiB).
 * Build the FrameDecoder with maxBytesForExp(result), the limit actually announced,
 * so a peer sending up to it is never refused.
 */
export function lengthExpFor(bytes: number): number {
  let exp = 0;
  while (exp < 15 && maxBytesForExp(exp) < bytes) exp++;
  return exp;
}

// ---------------------------------------------------------------------------------
// Framing: 4-octet prefix, then payload.
//
//   RRRR XTTT  LLLLLLLL LLLLLLLL LLLLLLLL
//
// The spec's earlier text makes all five high bits reserved (RRRRR); the current one
// gives the fifth to X, a 25th length bit allowed only for a payload of exactly 2^24
// (L bits zero). We accept that one form when maxPayload allows 2^24 and otherwise
// treat any high bit as reserved; we never send it (MAX_FRAME_PAYLOAD).

/** TTT: 0 regular WAMP message, 1 PING, 2 PONG; 3-7 reserved. */
export const FrameType = { MESSAGE: 0, PING: 1, PONG: 2 } as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

export type FrameErrorReason = 'oversized' | 'reserved_bits' | 'bad_type';

export interface FrameHandlers {
  onFrame(type: FrameType, payload: Buffer): void;
  onError(reason: FrameErrorReason): void;
}

/**
 * Prefix for a frame: type in the low three bits, 24-bit big-endian length. Both are
 * checked at run time (the type is any number here, as the length is), so a bad value
 * throws rather than writing a frame the peer would misread.
 */
export function frameHeader(type: number, length: number): Buffer {
  if (type !== 0 && type !== 1 && type !== 2) throw new RangeError(`bad frame type ${type}`);
  if (!Number.isInteger(length) || length < 0 || length > MAX_FRAME_PAYLOAD) {
    throw new RangeError(`frame payload length out of range: ${length}`);
  }
  const h = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  h.writeUInt32BE(length, 0); // top octet is 0 since length < 2^24
  h[0] = type;
  return h;
}

/**
 * [header, payload] for socket.cork(); write(); write(); uncork(): the payload is
 * never copied. The caller checks the payload against the peer's clientMaxBytes
 * (spec: such a message "can not be sent"; what to do instead is router policy).
 */
export function encodeFrame(type: FrameType, payload: Buffer): [Buffer, Buffer] {
  return [frameHeader(type, payload.length), payload];
}

/**
 * Turns a byte stream into frames. Chunks are queued as they come (no concatenation);
 * a payload inside one chunk is handed out as a view on it, one spanning chunks is
 * copied once. The header is checked before any of its payload is buffered, so an
 * oversized length costs nothing. After an error, or destroy(), push() ignores input:
 * the caller fails the connection (spec: a message over the limit MUST fail it).
 *
 * Payloads may be views on the pushed chunks: don't reuse a chunk after pushing it.
 */
export class FrameDecoder implements FrameHandlers {
  // Queue of chunks; chunks[first] is the oldest unread one (an index, not shift(),
  // so byte-at-a-time input stays linear), head the read offset into it.
  private chunks: Buffer[] = [];
  private first = 0;
  private head = 0;
  private queued = 0; // unread bytes across chunks
  private pendingType: FrameType | -1 = -1; // -1: waiting for a header
  private pendingLength = 0;
  private dead = false;

  constructor(
    private readonly maxPayload: number,
    handlers?: Partial<FrameHandlers>,
  ) {
    if (handlers?.onFrame) this.onFrame = handlers.onFrame;
    if (handlers?.onError) this.onError = handlers.onError;
  }

  onFrame: (type: FrameType, payload: Buffer) => void = () => undefined;
  onError: (reason: FrameErrorReason) => void = () => undefined;

  /** Bytes received but not yet handed out (for inbound backpressure accounting). */
  get bufferedBytes(): number {
    return this.queued;
  }

  get failed(): boolean {
    return this.dead;
  }

  /** Stops decoding and drops buffered input, e.g. when the socket closes. */
  destroy(): void {
    this.dead = true;
    this.chunks = [];
    this.first = 0;
    this.head = 0;
    this.queued = 0;
  }

  push(chunk: Buffer): void {
    if (this.dead || chunk.length === 0) return;
    this.chunks.push(chunk);
    this.queued += chunk.length;
    // A callback may destroy() us (closing the socket); stop at once if so. (Read through
    // the getter: TypeScript keeps `this.dead` narrowed to false across the callbacks.)
    while (!this.failed) {
      if (this.pendingType === -1) {
        if (this.queued < FRAME_HEADER_BYTES) return;
        const header = this.take(FRAME_HEADER_BYTES);
        if (!this.readHeader(header)) return;
      }
      if (this.queued < this.pendingLength) return;
      const type = this.pendingType as FrameType;
      const payload = this.take(this.pendingLength);
      this.pendingType = -1;
      this.onFrame(type, payload);
    }
  }

  /** Validates a header and arms the payload read; false (after onError) if invalid. */
  private readHeader(h: Buffer): boolean {
    const b0 = h[0] ?? 0;
    let length = ((h[1] ?? 0) << 16) | ((h[2] ?? 0) << 8) | (h[3] ?? 0);
    if (b0 & 0xf0) return this.fail('reserved_bits');
    if (b0 & 0x08) {
      // X bit: only "exactly 2^24" is a legal use of it.
      if (length !== 0) return this.fail('reserved_bits');
      length = X_BIT_PAYLOAD;
    }
    const type = b0 & 0x07;
    if (type !== 0 && type !== 1 && type !== 2) return this.fail('bad_type');
    if (length > this.maxPayload) return this.fail('oversized');
    this.pendingType = type;
    this.pendingLength = length;
    return true;
  }

  private fail(reason: FrameErrorReason): false {
    this.destroy();
    this.onError(reason);
    return false;
  }

  /** Consumes n queued bytes (n <= queued): a view when they lie in one chunk. */
  private take(n: number): Buffer {
    this.queued -= n;
    const c0 = this.chunks[this.first];
    if (c0 === undefined) return Buffer.alloc(0); // n === 0 with nothing queued
    if (n <= c0.length - this.head) {
      const out = this.head === 0 && n === c0.length ? c0 : c0.subarray(this.head, this.head + n);
      this.advance(c0, n);
      return out;
    }
    // Spans chunks: the one copy a byte ever gets.
    const out = Buffer.allocUnsafe(n);
    let written = 0;
    while (written < n) {
      const c = this.chunks[this.first] as Buffer;
      const m = Math.min(c.length - this.head, n - written);
      c.copy(out, written, this.head, this.head + m);
      written += m;
      this.advance(c, m);
    }
    return out;
  }

  /** Moves the read position m bytes into chunk c (the oldest one). */
  private advance(c: Buffer, m: number): void {
    this.head += m;
    if (this.head < c.length) return;
    this.head = 0;
    this.first++;
    if (this.first === this.chunks.length) {
      this.chunks = [];
      this.first = 0;
    } else if (this.first >= 1024 && this.first * 2 >= this.chunks.length) {
      // Drop the consumed prefix now and then: amortised O(1) per chunk.
      this.chunks = this.chunks.slice(this.first);
      this.first = 0;
    }
  }
}
