// Shared strings for the words a STOMP frame is mostly made of (commands and common
// header names), found by their octets: used by frame-parser.ts on its hot path.

import { STOMP_COMMANDS } from './frame';

/**
 * Maps the octets of well-known words to shared strings without decoding them: a
 * frame's command and most header names are one of a few dozen words, and skipping
 * their string allocation is a measurable share of parse time.
 */
export class WordTable {
  private readonly byKey = new Map<number, string[]>();

  constructor(words: readonly string[]) {
    for (const w of words) {
      const key = WordTable.key(w.length, w.charCodeAt(0), w.charCodeAt(w.length - 1));
      const list = this.byKey.get(key);
      if (list) list.push(w);
      else this.byKey.set(key, [w]);
    }
  }

  private static key(len: number, first: number, last: number): number {
    return (len << 16) | (first << 8) | last;
  }

  /** The shared string whose octets are buf[s, e), or undefined. */
  find(buf: Buffer, s: number, e: number): string | undefined {
    const len = e - s;
    if (len === 0 || len > 32) return undefined;
    const list = this.byKey.get(WordTable.key(len, buf[s] ?? 0, buf[e - 1] ?? 0));
    if (list === undefined) return undefined;
    next: for (const w of list) {
      for (let i = 1; i < len - 1; i++) if (w.charCodeAt(i) !== buf[s + i]) continue next;
      return w;
    }
    return undefined;
  }
}

export const COMMAND_WORDS = new WordTable(STOMP_COMMANDS);
// STOMP 1.2 §Frames and Headers, plus headers common brokers add.
export const HEADER_WORDS = new WordTable([
  ...'accept-version host login passcode heart-beat version session server destination transaction id ack'.split(' '),
  ...'receipt receipt-id subscription message-id message content-length content-type'.split(' '),
  ...'persistent priority expires reply-to correlation-id selector'.split(' '),
]);
