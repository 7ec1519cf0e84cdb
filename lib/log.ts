/**
 * Structured JSON logs (pino) to stdout, one object per line. Pretty-printing is left
 * to the reader (`| pino-pretty`), so the daemon's output stays machine-readable.
 */
import pino from 'pino';

export type Logger = pino.Logger;

export interface LoggerOptions {
  /** a pino level name, e.g. 'info', or 'silent' */
  level: string;
  /** where lines go; default stdout. A stream (tests) or a file descriptor / path. */
  destination?: pino.DestinationStream | number | string;
  /** value of the `name` field on every line; default 'gatehouse' */
  name?: string;
}

export function createLogger(opts: LoggerOptions): Logger {
  const options: pino.LoggerOptions = { level: opts.level, name: opts.name ?? 'gatehouse' };
  const dest = opts.destination;
  if (dest === undefined) return pino(options);
  // pino flushes its own asynchronous destinations on process exit.
  if (typeof dest === 'number' || typeof dest === 'string') return pino(options, pino.destination(dest));
  return pino(options, dest);
}
