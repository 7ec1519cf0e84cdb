// The STOMP frame as both codec halves see it (STOMP 1.0, 1.1, 1.2): the model, the
// command list and header value encoding both ways. Pure; frame-parser.ts reads
// frames, frame-writer.ts writes them.

export type StompVersion = '1.0' | '1.1' | '1.2';

/** Oldest first, the order `accept-version` lists them (STOMP 1.2 §Protocol Negotiation). */
export const STOMP_VERSIONS: readonly StompVersion[] = ['1.0', '1.1', '1.2'];

// STOMP 1.2 §Augmented BNF: client-command, server-command. Commands are case
// sensitive (STOMP 1.2 §STOMP Frames).
export const CLIENT_COMMANDS = [
  'CONNECT',
  'STOMP',
  'SEND',
  'SUBSCRIBE',
  'UNSUBSCRIBE',
  'ACK',
  'NACK',
  'BEGIN',
  'COMMIT',
  'ABORT',
  'DISCONNECT',
] as const;
export const SERVER_COMMANDS = ['CONNECTED', 'MESSAGE', 'RECEIPT', 'ERROR'] as const;

export type StompClientCommand = (typeof CLIENT_COMMANDS)[number];
export type StompServerCommand = (typeof SERVER_COMMANDS)[number];
export type StompCommand = StompClientCommand | StompServerCommand;

export const STOMP_COMMANDS: readonly StompCommand[] = [...CLIENT_COMMANDS, ...SERVER_COMMANDS];

/** Longest command ('UNSUBSCRIBE'), in octets: a command line longer than this
 *  (plus an optional CR) cannot be a command, so the parser fails it early. */
export const MAX_COMMAND_LENGTH = Math.max(...STOMP_COMMANDS.map((c) => c.length));

/**
 * A frame: COMMAND EOL *(header EOL) EOL body NUL (STOMP 1.2 §STOMP Frames).
 *
 * `headers` are decoded (unescaped) name/value pairs in wire order. Repeated names
 * are kept: the first is the value, the rest are history (STOMP 1.2 §Repeated Header
 * Entries); read values with header(). A parsed frame's `command` is always one of
 * STOMP_COMMANDS, and its headers include the `content-length` it arrived with.
 */
export interface StompFrame {
  command: string;
  headers: [string, string][];
  body: Buffer;
}

const COMMAND_SET: ReadonlySet<string> = new Set(STOMP_COMMANDS);
const CLIENT_SET: ReadonlySet<string> = new Set(CLIENT_COMMANDS);
const SERVER_SET: ReadonlySet<string> = new Set(SERVER_COMMANDS);

export function isStompCommand(s: string): s is StompCommand {
  return COMMAND_SET.has(s);
}

export function isClientCommand(s: string): s is StompClientCommand {
  return CLIENT_SET.has(s);
}

export function isServerCommand(s: string): s is StompServerCommand {
  return SERVER_SET.has(s);
}

/** Value of the FIRST `name` header, or undefined (STOMP 1.2 §Repeated Header Entries:
 *  "only the first header entry SHOULD be used as the value"). Names are case sensitive. */
export function header(frame: StompFrame, name: string): string | undefined {
  for (const [n, v] of frame.headers) if (n === name) return v;
  return undefined;
}

/** About a frame's size on the wire (command, headers, body): for rate limits and memory bounds. */
export function frameSize(frame: StompFrame): number {
  let n = frame.command.length + 2 + frame.body.length;
  for (const [k, v] of frame.headers) n += k.length + v.length + 2;
  return n;
}

/** Every value of `name`, first (current) to last (oldest history). */
export function headerValues(frame: StompFrame, name: string): string[] {
  const out: string[] = [];
  for (const [n, v] of frame.headers) if (n === name) out.push(v);
  return out;
}

/**
 * Whether a frame's header names and values are written raw, without escaping.
 * STOMP 1.2 §Value Encoding (and 1.1): CONNECT and CONNECTED are never escaped, to
 * stay readable by 1.0 peers before the version is negotiated. STOMP is treated like
 * CONNECT: servers "MUST handle a STOMP frame in the same manner as a CONNECT frame"
 * (STOMP 1.2 §CONNECT or STOMP Frame), and it is sent before negotiation just the same.
 */
export function isUnescapedCommand(command: string): boolean {
  return command === 'CONNECT' || command === 'CONNECTED' || command === 'STOMP';
}

/** STOMP 1.2 §Body: only SEND, MESSAGE and ERROR frames MAY have a body. */
export function mayHaveBody(command: string): boolean {
  return command === 'SEND' || command === 'MESSAGE' || command === 'ERROR';
}

// ---- header value encoding (STOMP 1.1 and 1.2 §Value Encoding) ----------------------
// 1.0 has none, and CONNECT/CONNECTED/STOMP frames are never escaped (isUnescapedCommand).

const NEEDS_ESCAPE_12 = /[\\\r\n:]/;
const ESCAPE_12 = /[\\\r\n:]/g;
const NEEDS_ESCAPE_11 = /[\\\n:]/;
const ESCAPE_11 = /[\\\n:]/g;
const ESCAPES: Readonly<Record<string, string>> = { '\\': '\\\\', '\r': '\\r', '\n': '\\n', ':': '\\c' };

function escapeChar(ch: string): string {
  return ESCAPES[ch] ?? ch;
}

/** Escapes a header name or value for the wire. STOMP 1.2: `\` -> `\\`, CR -> `\r`,
 *  LF -> `\n`, `:` -> `\c`. STOMP 1.1 has no `\r`: its grammar lets a raw CR stand. */
export function escapeHeaderText(text: string, version: '1.1' | '1.2'): string {
  if (version === '1.2') return NEEDS_ESCAPE_12.test(text) ? text.replace(ESCAPE_12, escapeChar) : text;
  return NEEDS_ESCAPE_11.test(text) ? text.replace(ESCAPE_11, escapeChar) : text;
}

/**
 * Undoes escapeHeaderText. Any other escape (`\t`; `\r` in 1.1), or a trailing lone
 * backslash, "MUST be treated as a fatal protocol error": then returns the offending
 * index instead of a string.
 */
export function unescapeHeaderText(text: string, version: '1.1' | '1.2'): string | number {
  let at = text.indexOf('\\');
  if (at === -1) return text;
  const allowCr = version === '1.2';
  let out = '';
  let from = 0;
  while (at !== -1) {
    out += text.slice(from, at);
    const c = text.charCodeAt(at + 1);
    if (c === 0x6e) out += '\n';
    else if (c === 0x63) out += ':';
    else if (c === 0x5c) out += '\\';
    else if (c === 0x72 && allowCr) out += '\r';
    else return at;
    from = at + 2;
    at = text.indexOf('\\', from);
  }
  return out + text.slice(from);
}
