// What the STOMP frame parser (frame-parser.ts) is configured with and reports: its
// limits, its handlers and its one error type. Kept apart so that a gate's config
// and a link can name them without the parser's state machine.

import type { StompFrame } from './frame';

export type StompParseErrorCode =
  | 'header_count'
  | 'header_line_too_long'
  | 'body_too_large'
  | 'frame_too_large'
  | 'malformed_header'
  | 'bad_escape'
  | 'missing_nul'
  | 'bad_content_length'
  | 'bad_command';

export class StompParseError extends Error {
  override readonly name = 'StompParseError';
  readonly code: StompParseErrorCode;

  constructor(code: StompParseErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** Implementation limits (STOMP 1.2 §Conformance, §Size Limits). Each is checked as
 *  bytes arrive: nothing over a limit is buffered whole before it is refused. */
export interface StompParserLimits {
  /** Header lines in one frame, repeated names included. */
  maxHeaders: number;
  /** Octets of one header line as sent (still escaped), its EOL excluded. */
  maxHeaderLineBytes: number;
  /** Octets of one body (a `content-length` over it fails before any body octet). */
  maxBodyBytes: number;
  /** Octets of a whole frame, from its first command octet to its NUL; heart-beats
   *  between frames do not count. Over it: `frame_too_large`. */
  maxFrameBytes?: number;
}

export interface StompParserHandlers {
  onFrame(frame: StompFrame): void;
  /** One EOL between frames (STOMP 1.2 §Heart-beating; 1.1: a single LF). */
  onHeartbeat(): void;
  /** Called once; the parser ignores everything after it. */
  onError(err: StompParseError): void;
}
