// STOMP frame encoder (STOMP 1.0, 1.1, 1.2): the inverse of frame-parser.ts. Pure;
// the connection's outbox does the writing.
//
// - EOL is always a lone LF: valid in every version (STOMP 1.2 §Augmented BNF, EOL = [CR] LF).
// - `content-length` is computed here and written first whenever the body is non-empty,
//   so any octet, NUL included, survives (STOMP 1.2 §Header content-length); any
//   `content-length` among the frame's headers is dropped rather than trusted, since a
//   relayed SEND's value need not match the body we send.
// - Headers are escaped per version (STOMP 1.1/1.2 §Value Encoding) except on CONNECT,
//   CONNECTED and STOMP frames and in 1.0, which are written raw. What raw text cannot
//   carry (an LF anywhere, a ':' in a name, a CR in 1.2) throws a RangeError, as do
//   an unknown command, an empty header name and a body on a frame that MUST NOT
//   have one (STOMP 1.2 §Body): those are bugs in the caller, not peer input.

import { escapeHeaderText, isStompCommand, isUnescapedCommand, mayHaveBody, type StompFrame, type StompVersion } from './frame';

/** A heart-beat: one EOL. A single LF is what 1.1 asks for ("a single newline byte
 *  (0x0A)", STOMP 1.1 §Heart-beating) and is an EOL in 1.2 too. Shared: never write into it. */
export const HEARTBEAT_EOL: Buffer = Buffer.from([0x0a]);

const NUL_TERMINATOR: Buffer = Buffer.from([0x00]);

/** Raw text must not contain what would end or split its line. */
function checkRaw(text: string, isName: boolean, version: StompVersion, command: string): void {
  const bad = text.includes('\n')
    ? 'LF'
    : version === '1.2' && text.includes('\r')
      ? 'CR'
      : isName && text.includes(':')
        ? "':'"
        : undefined;
  if (bad !== undefined) {
    const where = version === '1.0' ? 'STOMP 1.0' : `a ${command} frame`;
    throw new RangeError(`a header ${isName ? 'name' : 'value'} with ${bad} cannot be written unescaped in ${where}`);
  }
}

/** The frame's text up to and including the blank line that ends its headers. */
function encodeHead(frame: StompFrame, version: StompVersion): string {
  const { command, headers, body } = frame;
  if (!isStompCommand(command)) throw new RangeError(`unknown STOMP command ${JSON.stringify(command)}`);
  if (body.length > 0 && !mayHaveBody(command)) {
    throw new RangeError(`a ${command} frame MUST NOT have a body (STOMP 1.2 §Body)`);
  }
  const raw = version === '1.0' || isUnescapedCommand(command);
  let head = command + '\n';
  if (body.length > 0) head += `content-length:${body.length}\n`;
  for (const [name, value] of headers) {
    if (name === 'content-length') continue;
    if (name.length === 0) throw new RangeError('empty header name'); // header-name = 1*<...>
    if (raw) {
      checkRaw(name, true, version, command);
      checkRaw(value, false, version, command);
      head += name + ':' + value + '\n';
    } else {
      head += escapeHeaderText(name, version) + ':' + escapeHeaderText(value, version) + '\n';
    }
  }
  return head + '\n';
}

/** The whole frame in one buffer (one copy of the body). */
export function encodeFrame(frame: StompFrame, version: StompVersion): Buffer {
  const head = encodeHead(frame, version);
  const headLen = Buffer.byteLength(head);
  const bodyLen = frame.body.length;
  const out = Buffer.allocUnsafe(headLen + bodyLen + 1);
  out.write(head, 0, headLen, 'utf8');
  frame.body.copy(out, headLen);
  out[headLen + bodyLen] = 0x00;
  return out;
}

/**
 * The frame as [head, body, NUL] without copying the body, for `writev`/cork when the
 * body is big; [head + NUL] when the body is empty. The body buffer is shared with
 * the caller, who must not change it until written.
 */
export function encodeFrameParts(frame: StompFrame, version: StompVersion): Buffer[] {
  const head = encodeHead(frame, version);
  if (frame.body.length === 0) return [Buffer.from(head + '\0', 'utf8')];
  return [Buffer.from(head, 'utf8'), frame.body, NUL_TERMINATOR];
}
