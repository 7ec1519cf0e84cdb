/**
 * The client side of the command-line tools (pub, sub, call, kv): the router's HTTP
 * API over Node's fetch, the shared options, output and exit codes.
 *
 * Exit codes: 0 ok; 1 an error from the router (or it could not be reached); 2 usage;
 * 3 not found (404) or condition failed (412).
 */
import type { Command } from 'commander';

export const EXIT_OK = 0;
export const EXIT_ROUTER = 1;
export const EXIT_USAGE = 2;
export const EXIT_NOT_FOUND = 3;

export interface ClientFlags {
  url?: string;
  realm?: string;
  user?: string;
  password?: string;
  json?: boolean;
}

/** The options every client command takes. */
export function withClientOptions(c: Command): Command {
  return c
    .option('--url <url>', 'the router (env GATEHOUSE_URL; default http://127.0.0.1:8080)')
    .option('--realm <name>', "the realm (default: the router's defaultRealm)")
    .option('--user <authid>', 'user name for HTTP Basic (env GATEHOUSE_USER)')
    .option('--password <pw>', 'password (env GATEHOUSE_PASSWORD)')
    .option('--json', 'print JSON (one document per line) for scripts');
}

/** A failure that ends the command with an exit code; the message goes to stderr. */
export class CliExit extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export interface ApiReply {
  status: number;
  body: Record<string, unknown>;
}

export class ApiClient {
  readonly base: string;
  private readonly headers: Record<string, string> = {};

  constructor(
    private readonly flags: ClientFlags,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    const url = flags.url ?? env['GATEHOUSE_URL'] ?? 'http://127.0.0.1:8080';
    this.base = `${url.replace(/\/+$/, '')}${/\/api$/.test(url) ? '' : '/api'}`;
    const user = flags.user ?? env['GATEHOUSE_USER'];
    const password = flags.password ?? env['GATEHOUSE_PASSWORD'] ?? '';
    if (user !== undefined && user !== '')
      this.headers['authorization'] = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    if (flags.realm !== undefined) this.headers['gatehouse-realm'] = flags.realm;
  }

  get json(): boolean {
    return this.flags.json === true;
  }

  /** A request; a router error becomes CliExit with its exit code. */
  async request(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
    const res = await this.fetch(path, {
      method,
      body: body === undefined ? undefined : JSON.stringify(body),
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
    });
    const text = await res.text();
    let parsed: Record<string, unknown> = {};
    try {
      parsed = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
    } catch {
      throw new CliExit(EXIT_ROUTER, `unexpected answer (HTTP ${res.status}): ${text.slice(0, 200)}`);
    }
    if (res.status >= 400) throw failure(res.status, parsed);
    return parsed;
  }

  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    try {
      return await fetch(`${this.base}${path}`, {
        ...init,
        headers: { ...this.headers, ...(init.headers as Record<string, string> | undefined) },
      });
    } catch (err) {
      const cause = (err as { cause?: { message?: string } }).cause?.message;
      throw new CliExit(EXIT_ROUTER, `cannot reach ${this.base}: ${cause ?? (err instanceof Error ? err.message : String(err))}`);
    }
  }
}

/** `{error, message}` of the router as CliExit: 404 and 412 exit 3, the rest 1. */
export function failure(status: number, body: Record<string, unknown>): CliExit {
  const code = status === 404 || status === 412 ? EXIT_NOT_FOUND : EXIT_ROUTER;
  const uri = typeof body['error'] === 'string' ? body['error'] : `HTTP ${status}`;
  const message = typeof body['message'] === 'string' ? body['message'] : '';
  return new CliExit(code, message === '' || message === uri ? uri : `${uri}: ${message}`);
}

/** A command-line value: JSON when it parses, else the text itself. */
export function jsonOrText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

export function print(value: unknown): void {
  process.stdout.write(`${typeof value === 'string' ? value : JSON.stringify(value)}\n`);
}

/** Runs a client command: CliExit and other failures become stderr and an exit code. */
export async function run(action: () => Promise<void>): Promise<void> {
  try {
    await action();
  } catch (err) {
    if (err instanceof CliExit) {
      process.stderr.write(`gatehouse: ${err.message}\n`);
      process.exitCode = err.code;
      return;
    }
    throw err;
  }
}

/** One result in plain form: the value when there is one argument and no keywords, else {args, kwargs}. */
export function plainResult(args: unknown, kwargs: unknown): unknown {
  const list = Array.isArray(args) ? args : [];
  const kw = typeof kwargs === 'object' && kwargs !== null ? kwargs : {};
  if (Object.keys(kw).length === 0) return list.length === 1 ? list[0] : list;
  return { args: list, kwargs: kw };
}
