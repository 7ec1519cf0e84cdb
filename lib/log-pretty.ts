/**
 * Readable log lines for a person at a terminal (config log.format "pretty"): a pino
 * destination that takes each JSON line pino writes and writes it out as
 *
 *   17:20:01.123 INFO  [mqtt] MQTT listener ready port=1883 tls=false
 *
 * with an error's stack on the lines below. It runs in-process on the line pino has
 * already serialized (no worker thread, no pino-pretty dependency), so a fatal line
 * written just before process.exit is not lost.
 */
import type { DestinationStream } from 'pino';

/** where the formatted lines go: process.stdout, a pino.destination(), a test's stream */
export interface LineSink {
  write(text: string): unknown;
}

/** pino's numeric levels (pino.levels.values) */
const LEVELS: Record<number, { name: string; color: string }> = {
  10: { name: 'TRACE', color: '90' },
  20: { name: 'DEBUG', color: '34' },
  30: { name: 'INFO ', color: '32' },
  40: { name: 'WARN ', color: '33' },
  50: { name: 'ERROR', color: '31' },
  60: { name: 'FATAL', color: '41;97' },
};

/** fields every line has, shown in their own places or not at all */
const HIDDEN = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg', 'gate', 'err']);

export function prettyDestination(out: LineSink, opts: { color: boolean }): DestinationStream {
  const paint = opts.color
    ? (code: string, text: string): string => `\u001b[${code}m${text}\u001b[0m`
    : (_code: string, text: string): string => text;
  return {
    write(line: string): void {
      out.write(formatLine(line, paint));
    },
  };
}

/** One pino JSON line as one (or, with a stack, more) readable lines. Not JSON: as it came. */
export function formatLine(line: string, paint: (code: string, text: string) => string = (_c, t) => t): string {
  let entry: unknown;
  try {
    entry = JSON.parse(line);
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return `${line.trimEnd()}\n`;
  const e = entry as Record<string, unknown>;
  const level = LEVELS[typeof e.level === 'number' ? e.level : 30] ?? { name: String(e.level), color: '0' };
  const parts = [clock(e.time), paint(level.color, level.name)];
  if (typeof e.gate === 'string') parts.push(paint('36', `[${e.gate}]`));
  if (typeof e.msg === 'string') parts.push(e.msg);
  for (const [key, value] of Object.entries(e)) {
    if (!HIDDEN.has(key) && value !== undefined) parts.push(`${paint('2', `${key}=`)}${show(value)}`);
  }
  let text = parts.join(' ');
  const err = e.err;
  if (typeof err === 'object' && err !== null) {
    const { message, stack } = err as { message?: unknown; stack?: unknown };
    if (typeof stack === 'string') text += `\n    ${stack.split('\n').join('\n    ')}`;
    else if (typeof message === 'string') text += ` ${paint('2', 'err=')}${show(message)}`;
  } else if (err !== undefined) text += ` ${paint('2', 'err=')}${show(err)}`;
  return `${text}\n`;
}

/** local wall-clock time of day with milliseconds: what one looks for when reading along */
function clock(time: unknown): string {
  const d = new Date(typeof time === 'number' ? time : Date.now());
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

// JSON.stringify as it behaves: lib.d.ts says string, but a function, a symbol or
// undefined has no JSON text and gives undefined (ECMA-262, JSON.stringify)
const stringify: (value: unknown) => string | undefined = JSON.stringify;

/** a bare word as is; anything with spaces, quotes or '=' quoted; objects as JSON */
function show(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  return stringify(value) ?? String(value);
}
