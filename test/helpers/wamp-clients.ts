/**
 * Client-side helpers for the WAMP integration tests (pubsub*.test.ts, meta*.test.ts):
 * the transport x serializer matrix, autobahn sessions with a chosen authid, event
 * collectors that wait with a deadline, a hand-written WAMP JSON client over a raw
 * `ws` socket (for wire-level assertions and abrupt disconnects), a TCP cut-off proxy,
 * and a wampy wrapper.
 */
import net from 'node:net';
import WebSocket from 'ws';
import { autobahn, autobahnTransports, connect, type AutobahnSession, type Transport } from './autobahn';
import { withTimeout } from './wait';

/** Default deadline for anything a test waits for. */
export const WAIT_MS = 2000;

// autobahn logs every closed connection with console.warn; keep test output readable.
if (!process.env['GATEHOUSE_TEST_LOG']) {
  (autobahn as unknown as { log: { warn: (...a: unknown[]) => void } }).log.warn = () => undefined;
}

/** Every transport x serializer autobahn speaks (fresh option objects: autobahn mutates them). */
export function transports(wsUrl: string, rawSocketUrl: string): Transport[] {
  return autobahnTransports(wsUrl, rawSocketUrl);
}

/** The names of `transports()`, known before a router is started (to name tests). */
export const TRANSPORT_NAMES = ['websocket/json', 'websocket/msgpack', 'websocket/cbor', 'rawsocket/json'] as const;
export type TransportName = (typeof TRANSPORT_NAMES)[number];

/** Connection options of one named transport of a started router. */
export function transportOptions(router: { wsUrl: string; rawSocketUrl: string }, name: TransportName): Record<string, unknown> {
  const t = transports(router.wsUrl, router.rawSocketUrl).find((x) => x.name === name);
  if (!t) throw new Error(`unknown transport ${name}`);
  return t.options;
}

/** Does this transport's serializer carry binary natively (msgpack, cbor)? */
export function isBinarySerializer(name: TransportName): boolean {
  return !name.endsWith('/json');
}

export type Client = Awaited<ReturnType<typeof connect>>;

/** Opens an autobahn session that announces `authid` in HELLO (anonymous auth keeps it). */
export function connectAs(options: Record<string, unknown>, authid?: string, realm = 'realm1'): Promise<Client> {
  return withTimeout(connect(authid === undefined ? options : { ...options, authid }, realm), WAIT_MS, 'autobahn session join');
}

/** Closes sessions, ignoring ones already gone; never hangs past the deadline. */
export async function closeAll(clients: Iterable<{ close(): Promise<void> } | undefined>): Promise<void> {
  const closing: Promise<void>[] = [];
  for (const c of clients) if (c) closing.push(withTimeout(c.close(), WAIT_MS, 'session close').catch(() => undefined));
  await Promise.all(closing);
}

export { withTimeout } from './wait';

export interface ReceivedEvent {
  args: unknown[];
  kwargs: Record<string, unknown>;
  details: Record<string, unknown>;
  /** subscription id the event came through (autobahn passes it as the 4th argument) */
  subscription?: number;
}

/**
 * Records events in arrival order. `until(pred)` resolves with everything received up
 * to and including the first event matching `pred`, or rejects after the deadline.
 */
export class EventLog {
  readonly events: ReceivedEvent[] = [];
  private waiters: { pred: (e: ReceivedEvent) => boolean; resolve: (all: ReceivedEvent[]) => void; from: number }[] = [];

  /** An autobahn event handler feeding this log. */
  readonly handler = (
    args: unknown[],
    kwargs: Record<string, unknown>,
    details: Record<string, unknown>,
    sub?: unknown,
  ): void => {
    const subscription = (sub as { id?: number } | undefined)?.id;
    const e: ReceivedEvent = { args, kwargs, details: { ...details }, ...(subscription !== undefined ? { subscription } : {}) };
    this.push(e);
  };

  push(e: ReceivedEvent): void {
    this.events.push(e);
    const idx = this.events.length - 1;
    this.waiters = this.waiters.filter((w) => {
      if (idx < w.from || !w.pred(e)) return true;
      w.resolve(this.events.slice(0, idx + 1));
      return false;
    });
  }

  until(pred: (e: ReceivedEvent) => boolean, what: string, ms = WAIT_MS, from = 0): Promise<ReceivedEvent[]> {
    for (let i = from; i < this.events.length; i++) {
      const e = this.events[i];
      if (e && pred(e)) return Promise.resolve(this.events.slice(0, i + 1));
    }
    return withTimeout(new Promise((resolve) => this.waiters.push({ pred, resolve, from })), ms, what);
  }

  /** Waits for `n` events in all. */
  count(n: number, what: string, ms = WAIT_MS): Promise<ReceivedEvent[]> {
    if (this.events.length >= n) return Promise.resolve(this.events.slice(0, n));
    return this.until(() => this.events.length >= n, what, ms, this.events.length).then(() => this.events.slice(0, n));
  }

  clear(): void {
    this.events.length = 0;
  }
}

/** Subscribes `log` to a topic; resolves with the subscription id once SUBSCRIBED. */
export async function subscribeLog(
  s: AutobahnSession,
  topic: string,
  log: EventLog,
  options?: Record<string, unknown>,
): Promise<number> {
  const sub = await withTimeout(s.subscribe(topic, log.handler, options), WAIT_MS, `SUBSCRIBED for ${topic}`);
  return sub.id;
}

/** Awaits a call and returns its single result value (autobahn unwraps a 1-element args). */
export function call<T = unknown>(
  s: AutobahnSession,
  procedure: string,
  args?: unknown[],
  kwargs?: Record<string, unknown>,
): Promise<T> {
  return withTimeout(s.call<T>(procedure, args, kwargs), WAIT_MS, `result of ${procedure}`);
}

/** The WAMP error URI of a rejected autobahn call/publish/subscribe. */
export async function errorOf(p: Promise<unknown> | undefined, what: string): Promise<{ error: string; args: unknown[] }> {
  if (!p) throw new Error(`${what}: no promise (acknowledge missing?)`);
  try {
    await withTimeout(p, WAIT_MS, what);
  } catch (err) {
    const e = err as { error?: unknown; args?: unknown };
    if (typeof e.error === 'string') return { error: e.error, args: Array.isArray(e.args) ? e.args : [] };
    throw err;
  }
  throw new Error(`${what}: expected an error, got success`);
}

// ---------------------------------------------------------------------------------
// A hand-written WAMP client speaking JSON over a plain `ws` WebSocket.

const HELLO_ROLES = {
  publisher: { features: { publisher_exclusion: true, publisher_identification: true, subscriber_blackwhite_listing: true } },
  subscriber: { features: { pattern_based_subscription: true } },
  caller: { features: {} },
  callee: { features: {} },
};

export type WampMessage = unknown[];

/**
 * Raw WAMP JSON over WebSocket, the one hand-driven WAMP client of the tests: messages
 * are exactly what the router wrote (no client library decoding), and `terminate()`
 * drops the TCP connection without GOODBYE. Everything received stays in `received`:
 * `next()` finds a message there (or waits for it) without using it up; `take()` uses
 * it up, so a test can take INVOCATIONs, INTERRUPTs and RESULTs one by one.
 */
export class RawWampClient {
  readonly received: WampMessage[] = [];
  /** every frame received, as its JSON text (JSON.parse rounds integers past 2^53) */
  readonly frames: string[] = [];
  private readonly taken = new Set<WampMessage>();
  private takers: { match: (m: WampMessage) => boolean; resolve: (m: WampMessage) => void }[] = [];
  sessionId = 0;
  welcome: Record<string, unknown> = {};
  private nextRequest = 0;
  private waiters: { pred: (m: WampMessage) => boolean; resolve: (m: WampMessage) => void; from: number }[] = [];
  private readonly closed: Promise<void>;

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => ws.once('close', () => resolve()));
    ws.on('error', () => undefined);
    ws.on('message', (data: Buffer) => {
      const text = data.toString('utf8');
      this.frames.push(text);
      const msg = JSON.parse(text) as WampMessage;
      this.received.push(msg);
      const taker = this.takers.find((t) => t.match(msg));
      if (taker) {
        this.taken.add(msg);
        this.takers = this.takers.filter((t) => t !== taker);
        taker.resolve(msg);
      }
      const idx = this.received.length - 1;
      this.waiters = this.waiters.filter((w) => {
        if (idx < w.from || !w.pred(msg)) return true;
        w.resolve(msg);
        return false;
      });
    });
  }

  /** Opens the WebSocket and joins the realm (HELLO -> WELCOME). */
  static async open(wsUrl: string, realm = 'realm1', details: Record<string, unknown> = {}): Promise<RawWampClient> {
    const ws = new WebSocket(wsUrl, ['wamp.2.json']);
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      }),
      WAIT_MS,
      'raw WebSocket open',
    );
    const c = new RawWampClient(ws);
    c.send([1, realm, { roles: HELLO_ROLES, ...details }]);
    const welcome = await c.next((m) => m[0] === 2 || m[0] === 3, 'WELCOME');
    if (welcome[0] !== 2) {
      void c.terminate();
      throw new Error(`HELLO refused: ${JSON.stringify(welcome)}`);
    }
    c.sessionId = welcome[1] as number;
    c.welcome = welcome[2] as Record<string, unknown>;
    return c;
  }

  /** Opens with these HELLO roles (the RPC tests announce callee features this way). */
  static connect(wsUrl: string, roles: Record<string, unknown>, realm = 'realm1'): Promise<RawWampClient> {
    return RawWampClient.open(wsUrl, realm, { roles });
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(msg: WampMessage): void {
    this.ws.send(JSON.stringify(msg));
  }

  /** The first message not taken yet (already here or yet to come) that matches, within `ms`; it is used up. */
  take(match: (m: WampMessage) => boolean, ms: number, what: string): Promise<WampMessage> {
    const found = this.received.find((m) => !this.taken.has(m) && match(m));
    if (found) {
      this.taken.add(found);
      return Promise.resolve(found);
    }
    const taker = { match, resolve: (_m: WampMessage): void => undefined };
    const got = new Promise<WampMessage>((resolve) => (taker.resolve = resolve));
    this.takers.push(taker);
    return withTimeout(got, ms, `${what} (raw client)`).finally(() => {
      this.takers = this.takers.filter((t) => t !== taker);
    });
  }

  /** Resolves if no matching message (not taken yet) arrives within `ms`; rejects with it otherwise. */
  async none(match: (m: WampMessage) => boolean, ms: number, what: string): Promise<void> {
    let got: WampMessage | undefined;
    try {
      got = await this.take(match, ms, what);
    } catch {
      return;
    }
    throw new Error(`${what}: unexpected ${JSON.stringify(got)}`);
  }

  /** REGISTER and wait for REGISTERED; returns the registration ID. */
  async register(request: number, uri: string, options: Record<string, unknown> = {}): Promise<number> {
    this.send([64, request, options, uri]);
    const r = await this.take(
      (m) => (m[0] === 65 && m[1] === request) || (m[0] === 8 && m[1] === 64 && m[2] === request),
      WAIT_MS,
      `REGISTERED ${uri}`,
    );
    if (r[0] !== 65) throw new Error(`REGISTER ${uri} failed: ${JSON.stringify(r)}`);
    return r[2] as number;
  }

  request(): number {
    return ++this.nextRequest;
  }

  /** The first message (received from index `from` on) matching `pred`. */
  next(pred: (m: WampMessage) => boolean, what: string, ms = WAIT_MS, from = 0): Promise<WampMessage> {
    for (let i = from; i < this.received.length; i++) {
      const m = this.received[i];
      if (m && pred(m)) return Promise.resolve(m);
    }
    return withTimeout(new Promise((resolve) => this.waiters.push({ pred, resolve, from })), ms, `${what} (raw client)`);
  }

  /** CALL -> the RESULT message; rejects with the ERROR message's URI. */
  async call(procedure: string, args: unknown[] = [], kwargs: Record<string, unknown> = {}): Promise<WampMessage> {
    const req = this.request();
    this.send([48, req, {}, procedure, args, kwargs]);
    const reply = await this.next(
      (m) => (m[0] === 50 && m[1] === req) || (m[0] === 8 && m[1] === 48 && m[2] === req),
      `RESULT of ${procedure}`,
    );
    if (reply[0] === 8) throw new Error(`${procedure} failed: ${String(reply[4])} ${JSON.stringify(reply.slice(5))}`);
    return reply;
  }

  /** SUBSCRIBE -> subscription id. */
  async subscribe(topic: string, options: Record<string, unknown> = {}): Promise<number> {
    const req = this.request();
    this.send([32, req, options, topic]);
    const reply = await this.next((m) => (m[0] === 33 || m[0] === 8) && (m[1] === req || m[2] === req), `SUBSCRIBED ${topic}`);
    if (reply[0] !== 33) throw new Error(`SUBSCRIBE ${topic} failed: ${JSON.stringify(reply)}`);
    return reply[2] as number;
  }

  /** Next EVENT for a subscription, from index `from` of everything received. */
  event(subscription: number, what: string, from = 0): Promise<WampMessage> {
    return this.next((m) => m[0] === 36 && m[1] === subscription, what, WAIT_MS, from);
  }

  /** GOODBYE, wait for the router's GOODBYE and the close. */
  async goodbye(): Promise<void> {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.send([6, {}, 'wamp.close.close_realm']);
    await withTimeout(this.closed, WAIT_MS, 'raw client close after GOODBYE').catch(() => this.terminate());
  }

  /** Drops the connection at once: no GOODBYE, no WebSocket close frame; resolves once closed. */
  async terminate(): Promise<void> {
    this.ws.terminate();
    await this.closed;
  }

  async close(): Promise<void> {
    await this.goodbye();
    await this.terminate();
  }

  get whenClosed(): Promise<void> {
    return this.closed;
  }
}

// ---------------------------------------------------------------------------------
// A TCP proxy whose connections can be cut: an abrupt transport loss for any client
// library and any transport (the router sees a TCP reset, no GOODBYE, no close frame).

export interface CutProxy {
  port: number;
  /** rewrites a ws:// or tcp:// URL of the target to go through the proxy */
  via(url: string): string;
  /** resets every proxied connection */
  cutAll(): void;
  close(): Promise<void>;
}

export async function startCutProxy(targetPort: number): Promise<CutProxy> {
  const pairs = new Set<[net.Socket, net.Socket]>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
    client.pipe(upstream);
    upstream.pipe(client);
    const done = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', done);
    upstream.on('close', done);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const cutAll = (): void => {
    for (const [client, upstream] of pairs) {
      upstream.resetAndDestroy();
      client.resetAndDestroy();
    }
    pairs.clear();
  };
  return {
    port,
    via: (url) => url.replace(/:(\d+)(\/|$)/, `:${port}$2`),
    cutAll,
    async close() {
      cutAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Connection options that reach the router through `proxy` (websocket `url`, rawsocket `port`). */
export function viaProxy(options: Record<string, unknown>, proxy: CutProxy): Record<string, unknown> {
  const out: Record<string, unknown> = { ...options };
  if (typeof out['url'] === 'string') out['url'] = proxy.via(out['url']);
  const list = out['transports'];
  if (Array.isArray(list)) {
    out['transports'] = list.map((t: Record<string, unknown>) => ({
      ...t,
      ...(typeof t['url'] === 'string' ? { url: proxy.via(t['url']) } : {}),
      ...(typeof t['port'] === 'number' ? { host: '127.0.0.1', port: proxy.port } : {}),
    }));
  }
  return out;
}

/** The port of a ws:// or tcp:// URL. */
export function portOf(url: string): number {
  const m = /:(\d+)(\/|$)/.exec(url);
  if (!m?.[1]) throw new Error(`no port in ${url}`);
  return Number(m[1]);
}

// ---------------------------------------------------------------------------------
// wampy (a second, independent client library).

export interface WampyEvent {
  details: Record<string, unknown>;
  argsList?: unknown[];
  argsDict?: Record<string, unknown>;
}

export interface WampyClient {
  connect(): Promise<unknown>;
  disconnect(): Promise<unknown>;
  getSessionId(): number;
  subscribe(
    topic: string,
    onEvent: (e: WampyEvent) => void,
    options?: Record<string, unknown>,
  ): Promise<{ subscriptionId: number }>;
  publish(topic: string, payload?: unknown, options?: Record<string, unknown>): Promise<{ publicationId?: number }>;
  call(
    procedure: string,
    payload?: unknown,
    options?: Record<string, unknown>,
  ): Promise<{ argsList?: unknown[]; argsDict?: Record<string, unknown> }>;
}

export type WampySerializerName = 'json' | 'msgpack' | 'cbor';

/** Opens a wampy session over WebSocket with the given serializer. */
export async function openWampy(
  wsUrl: string,
  serializer: WampySerializerName,
  options: Record<string, unknown> = {},
): Promise<WampyClient> {
  const { Wampy } = require('wampy') as { Wampy: new (url: string, opts: Record<string, unknown>) => WampyClient };
  const ser =
    serializer === 'json'
      ? new (require('wampy/JsonSerializer.js') as { JsonSerializer: new () => unknown }).JsonSerializer()
      : serializer === 'msgpack'
        ? new (require('wampy/MsgpackSerializer.js') as { MsgpackSerializer: new () => unknown }).MsgpackSerializer()
        : new (require('wampy/CborSerializer.js') as { CborSerializer: new () => unknown }).CborSerializer();
  const client = new Wampy(wsUrl, { realm: 'realm1', ws: WebSocket, serializer: ser, autoReconnect: false, ...options });
  await withTimeout(client.connect(), WAIT_MS, `wampy/${serializer} connect`);
  return client;
}
