/**
 * A router with the HTTP API on an HTTP server of its own (Express, as the daemon and
 * an embedding application mount it), plus small HTTP clients: Node's fetch and curl.
 */
import { execFile } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type { RouterOptions } from '../../../index';
import { startRouter, type TestRouter } from '../../helpers/router';
import { WAIT_MS, withTimeout } from '../../helpers/mqtt-clients';

export interface HttpTestRouter extends TestRouter {
  /** http://127.0.0.1:PORT/api */
  apiUrl: string;
  /** http://127.0.0.1:PORT */
  baseUrl: string;
}

export async function startHttpRouter(
  config: Record<string, unknown> = {},
  options: RouterOptions = {},
): Promise<HttpTestRouter> {
  const r = await startRouter(config, options);
  const app = express();
  app.use(r.router.config.http.api.path, r.router.httpApi());
  const server = r.router.createHttpServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const baseUrl = `http://127.0.0.1:${port}`;
  return {
    ...r,
    baseUrl,
    apiUrl: `${baseUrl}${r.router.config.http.api.path}`,
    close: async () => {
      await r.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

export interface JsonReply {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

/** A JSON request with Node's fetch. */
export async function api(
  url: string,
  init: { method?: string; body?: unknown; raw?: string; auth?: string; headers?: Record<string, string> } = {},
): Promise<JsonReply> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.auth) headers['authorization'] = init.auth;
  let body: string | undefined = init.raw;
  if (init.body !== undefined) {
    body = JSON.stringify(init.body);
    headers['content-type'] = 'application/json';
  }
  const res = await withTimeout(
    fetch(url, { method: init.method ?? (body === undefined ? 'GET' : 'POST'), headers, body }),
    WAIT_MS,
    `${init.method ?? ''} ${url}`,
  );
  const text = await res.text();
  return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>), headers: res.headers };
}

/** curl, as a shell user runs it: resolves with the status and the parsed body. */
export function curl(args: string[]): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-s', '-S', '-w', '\n%{http_code}', '--max-time', '5', ...args], (err, stdout) => {
      if (err) return reject(new Error(`curl failed: ${err.message}`));
      const cut = stdout.lastIndexOf('\n');
      const text = stdout.slice(0, cut);
      resolve({ status: Number(stdout.slice(cut + 1)), body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) });
    });
  });
}

/** An SSE reader over fetch: collects `data:` payloads of publication events. */
export class SseReader {
  readonly events: { id: string; data: Record<string, unknown> }[] = [];
  readonly comments: string[] = [];
  private readonly abort = new AbortController();
  status = 0;
  private waiters: (() => void)[] = [];

  static async open(url: string, headers: Record<string, string> = {}): Promise<SseReader> {
    const r = new SseReader();
    const res = await withTimeout(
      fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: r.abort.signal }),
      WAIT_MS,
      `SSE ${url}`,
    );
    r.status = res.status;
    if (res.status !== 200 || !res.body) {
      r.error = (await res.json()) as Record<string, unknown>;
      return r;
    }
    void r.read(res.body);
    // the stream opens with a comment once the subscription is in place
    await r.until(() => r.comments.length > 0, 'the SSE subscription');
    return r;
  }

  error: Record<string, unknown> | undefined;
  ended = false;

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of body) {
        buf += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          this.block(buf.slice(0, end));
          buf = buf.slice(end + 2);
        }
      }
    } catch {
      // aborted or cut off
    }
    this.ended = true;
    this.wake();
  }

  private block(text: string): void {
    let id = '';
    let data: string | undefined;
    for (const line of text.split('\n')) {
      if (line.startsWith(':')) this.comments.push(line.slice(1).trim());
      else if (line.startsWith('id: ')) id = line.slice(4);
      else if (line.startsWith('data: ')) data = line.slice(6);
    }
    if (data !== undefined) this.events.push({ id, data: JSON.parse(data) as Record<string, unknown> });
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  until(cond: () => boolean, what: string, ms = WAIT_MS): Promise<void> {
    return withTimeout(
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (cond() || this.ended) resolve();
          else this.waiters.push(check);
        };
        check();
      }),
      ms,
      what,
    );
  }

  count(n: number, what: string): Promise<void> {
    return this.until(() => this.events.length >= n, `${n} SSE events: ${what}`);
  }

  close(): void {
    this.abort.abort();
  }
}
