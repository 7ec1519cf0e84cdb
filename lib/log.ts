/**
 * Structured logs (pino) to stdout, one entry per line: JSON objects for log shippers,
 * or readable lines for a person at a terminal (config log.format; "auto" picks pretty
 * when stdout is a terminal, lib/log-pretty.ts).
 */
import pino from 'pino';
import type { LogFormat } from './config';
import { prettyDestination } from './log-pretty';

export type Logger = pino.Logger;

export interface LoggerOptions {
  /** a pino level name, e.g. 'info', or 'silent' */
  level: string;
  /** default json; auto: pretty when stdout is a terminal (and the destination is stdout) */
  format?: LogFormat;
  /** where lines go; default stdout. A stream (tests) or a file descriptor / path. */
  destination?: pino.DestinationStream | number | string;
  /** value of the `name` field on every line; default 'gatehouse' */
  name?: string;
}

export function createLogger(opts: LoggerOptions): Logger {
  const options: pino.LoggerOptions = { level: opts.level, name: opts.name ?? 'gatehouse' };
  const dest = opts.destination;
  const format =
    opts.format === 'auto' ? (dest === undefined && process.stdout.isTTY ? 'pretty' : 'json') : (opts.format ?? 'json');
  if (format === 'pretty') {
    // synchronous, as pino's own stdout destination, so nothing is lost at process.exit
    const out =
      dest === undefined ? pino.destination({ dest: 1, sync: true }) : typeof dest === 'object' ? dest : pino.destination(dest);
    const color = dest === undefined && process.stdout.isTTY && !process.env['NO_COLOR'];
    return pino(options, prettyDestination(out, { color }));
  }
  if (dest === undefined) return pino(options);
  // pino flushes its own asynchronous destinations on process exit.
  if (typeof dest === 'number' || typeof dest === 'string') return pino(options, pino.destination(dest));
  return pino(options, dest);
}
