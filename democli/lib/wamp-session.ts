/**
 * What the democli demos share: command-line flags, an autobahn session that ends the
 * process when the router goes away, and reading a WAMP error's URI.
 *
 * autobahn ships no type declarations; the demos use it through the small typed
 * surface below.
 */
import { parseArgs } from 'node:util';

export const DEFAULT_URL = 'ws://127.0.0.1:8080/ws';
export const DEFAULT_REALM = 'realm1';

export interface DemoSession {
  readonly id: number;
  publish(
    topic: string,
    args?: unknown[],
    kwargs?: Record<string, unknown>,
    options?: Record<string, unknown>,
  ): Promise<{ id: number }> | undefined;
  subscribe(
    topic: string,
    handler: (args: unknown[], kwargs: Record<string, unknown>, details: EventDetails) => void,
    options?: Record<string, unknown>,
  ): Promise<{ id: number }>;
  call<T = unknown>(
    procedure: string,
    args?: unknown[],
    kwargs?: Record<string, unknown>,
    options?: Record<string, unknown>,
  ): Promise<T>;
}

/** The part of autobahn's Event object the demos read. */
export interface EventDetails {
  publication: number;
  topic: string;
  retained?: boolean;
  revision?: number;
}

interface AutobahnConnection {
  onopen: (session: DemoSession) => void;
  onclose: (reason: string, details: { reason?: string | null; message?: string }) => boolean | void;
  open(): void;
  close(reason?: string, message?: string): void;
}

interface AutobahnModule {
  Connection: new (opts: Record<string, unknown>) => AutobahnConnection;
}

const autobahn = require('autobahn') as AutobahnModule;

/** A store entry as gatehouse.store.get returns it. */
export interface StoreEntryView {
  key: string;
  value: unknown;
  revision: number;
}

export interface Connected {
  session: DemoSession;
  /** leaves the realm and waits for the connection to close */
  close(): Promise<void>;
  /** settles when the connection is gone, for whatever reason */
  closed: Promise<string>;
}

/**
 * Opens one session, without reconnecting: a demo that loses the router has lost its
 * lock or leadership too, and says so rather than silently starting over.
 */
export function connect(url: string, realm: string): Promise<Connected> {
  return new Promise((resolve, reject) => {
    const conn = new autobahn.Connection({ url, realm, max_retries: 0, retry_if_unreachable: false });
    let opened = false;
    let onClosed!: (reason: string) => void;
    const closed = new Promise<string>((r) => (onClosed = r));
    conn.onopen = (session) => {
      opened = true;
      resolve({
        session,
        closed,
        close: async () => {
          try {
            conn.close('wamp.close.normal');
          } catch {
            // already closed
          }
          await closed;
        },
      });
    };
    conn.onclose = (reason, details) => {
      const why = details.message ?? details.reason ?? reason;
      onClosed(String(why));
      if (!opened) reject(new Error(`cannot connect to ${url} (realm ${realm}): ${String(why)}`));
      return true; // do not reconnect
    };
    conn.open();
  });
}

/** The WAMP error URI of a rejected call or acknowledged publish, if it is one. */
export function errorUri(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'error' in err) {
    const uri = err.error;
    if (typeof uri === 'string') return uri;
  }
  return undefined;
}

export function describeError(err: unknown): string {
  const uri = errorUri(err);
  if (uri !== undefined) {
    const args = (err as { args?: unknown[] }).args;
    return args && args.length > 0 ? `${uri}: ${String(args[0])}` : uri;
  }
  return err instanceof Error ? err.message : String(err);
}

export type FlagSpec = Record<string, { type: 'string' | 'boolean'; short?: string }>;
export type FlagValues = Record<string, string | boolean | undefined>;

/** --url, --realm and --help plus the demo's own flags; prints usage and exits on --help. */
export function flags(usage: string, own: FlagSpec): { url: string; realm: string; values: FlagValues } {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      realm: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      ...own,
    },
    strict: true,
    allowPositionals: false,
  });
  const v = values as FlagValues;
  if (v['help'] === true) {
    process.stdout.write(usage.trim() + '\n');
    process.exit(0);
  }
  const url = typeof v['url'] === 'string' ? v['url'] : DEFAULT_URL;
  const realm = typeof v['realm'] === 'string' ? v['realm'] : DEFAULT_REALM;
  return { url, realm, values: v };
}

/** A positive integer flag, or exit with a usage error. */
export function positiveInt(name: string, v: string | boolean | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n <= 0) {
    process.stderr.write(`--${name} must be a positive integer, got ${String(v)}\n`);
    process.exit(2);
  }
  return n;
}

/** `[hh:mm:ss.mmm]`, so lines from several terminals can be lined up. */
export function stamp(): string {
  return new Date().toISOString().slice(11, 23);
}

export function say(line: string): void {
  process.stdout.write(`[${stamp()}] ${line}\n`);
}
