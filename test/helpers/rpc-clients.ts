// Clients for the WAMP RPC integration tests (test/gates/wamp/rpc*.test.ts): the
// autobahn transport list, wampy sessions, and a hand-driven WAMP JSON peer over `ws`
// for the parts of the protocol neither library speaks (INTERRUPT, call_canceling
// callees, exact request IDs). Everything here is closed by a ClientPool so a failing
// test still leaves no handle open.
import { after, afterEach, before } from 'node:test';
import WebSocket from 'ws';
import { autobahnTransports, connect, type AutobahnSession, type Transport } from './autobahn';
import { startRouter, type TestRouter } from './router';
import { within } from './wait';
import { RawWampClient } from './wamp-clients';

// autobahn console.warn()s every connection close ("connection closed", "auto-reconnect
// disabled!"); tests close hundreds. Drop exactly those two unless logs are asked for.
if (process.env['GATEHOUSE_TEST_LOG'] === undefined) {
  const abLog = require('autobahn/lib/log.js') as { warn: (...a: unknown[]) => void };
  const warn = abLog.warn;
  abLog.warn = (...a: unknown[]) => {
    if (a[0] === 'connection closed' || a[0] === 'auto-reconnect disabled!') return;
    warn(...a);
  };
}

// ----- timing -----

export { pace, within } from './wait';

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * Awaits a promise that must reject; returns the rejection. Fails clearly if it
 * resolves or hangs.
 */
export async function rejection(p: Promise<unknown>, ms: number, what: string): Promise<unknown> {
  let outcome: { ok: true; value: unknown } | { ok: false; error: unknown };
  try {
    outcome = { ok: true, value: await within(p, ms, what) };
  } catch (error) {
    if (error instanceof Error && error.message.startsWith('timed out after')) throw error;
    outcome = { ok: false, error };
  }
  if (outcome.ok) throw new Error(`${what}: expected a rejection, got ${JSON.stringify(outcome.value)}`);
  return outcome.error;
}

/** The WAMP error URI of an autobahn or wampy rejection (undefined for anything else). */
export function errorUri(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const r = e as Record<string, unknown>;
  if (typeof r['error'] === 'string') return r['error']; // autobahn.Error
  if (typeof r['errorUri'] === 'string') return r['errorUri']; // wampy's errors
  return undefined;
}

// ----- binary in WAMP JSON -----

/** WAMP advanced "Binary support in JSON": "\0" + base64. */
export function jsonBytes(b: Uint8Array): string {
  return '\0' + Buffer.from(b).toString('base64');
}

/** Bytes as a test sees them: Buffer/Uint8Array as is, a "\0"+base64 string decoded. */
export function asBytes(v: unknown): Buffer | undefined {
  if (v instanceof Uint8Array) return Buffer.from(v);
  if (typeof v === 'string' && v.startsWith('\0')) return Buffer.from(v.slice(1), 'base64');
  return undefined;
}

// ----- autobahn -----

export interface AutobahnTransport extends Transport {
  /** false for the JSON transports: binary travels as "\0"+base64 strings */
  binary: boolean;
}

/** autobahnTransports (helpers/autobahn.ts), each marked with whether it carries binary natively. */
export function rpcTransports(t: TestRouter): AutobahnTransport[] {
  return autobahnTransports(t.wsUrl, t.rawSocketUrl).map((tr) => ({ ...tr, binary: !tr.name.endsWith('/json') }));
}

export interface AutobahnClient {
  session: AutobahnSession;
  /** WELCOME details: authid, authrole, ... */
  details: Record<string, unknown>;
  close(): Promise<void>;
  onclose: Promise<{ reason: string; details: Record<string, unknown> }>;
}

// ----- wampy -----

const { Wampy } = require('wampy') as { Wampy: new (url: string, options: Record<string, unknown>) => WampyClient };
const wampySerializers: Record<WampySerializerName, () => unknown> = {
  json: () => new (require('wampy/JsonSerializer.js') as { JsonSerializer: new () => unknown }).JsonSerializer(),
  msgpack: () => new (require('wampy/MsgpackSerializer.js') as { MsgpackSerializer: new () => unknown }).MsgpackSerializer(),
  cbor: () => new (require('wampy/CborSerializer.js') as { CborSerializer: new () => unknown }).CborSerializer(),
};
export type WampySerializerName = 'json' | 'msgpack' | 'cbor';
export const WAMPY_SERIALIZERS: readonly WampySerializerName[] = ['json', 'msgpack', 'cbor'];

export interface WampyResult {
  details: Record<string, unknown>;
  argsList?: unknown[];
  argsDict?: Record<string, unknown>;
}

export interface WampyInvocation {
  details: Record<string, unknown>;
  argsList?: unknown[];
  argsDict?: Record<string, unknown>;
  result_handler(r: unknown): void;
  error_handler(e: unknown): void;
}

/** The part of wampy 8's API the tests use. */
export interface WampyClient {
  connect(): Promise<Record<string, unknown>>;
  disconnect(): Promise<unknown>;
  getSessionId(): number;
  getOpStatus(): { code: number; error: unknown; reqId: number };
  call(uri: string, payload?: unknown, options?: Record<string, unknown>): Promise<WampyResult>;
  progressiveCall(
    uri: string,
    payload?: unknown,
    options?: Record<string, unknown>,
  ): {
    result: Promise<WampyResult>;
    sendData(payload?: unknown, options?: { progress?: boolean }): void;
  };
  cancel(reqId: number, options?: { mode?: string }): boolean;
  register(
    uri: string,
    rpc: (inv: WampyInvocation) => unknown,
    options?: Record<string, unknown>,
  ): Promise<{ registrationId: number }>;
  unregister(uri: string): Promise<unknown>;
  subscribe(topic: string, onEvent: (e: WampyResult) => void, options?: Record<string, unknown>): Promise<unknown>;
  publish(topic: string, payload?: unknown, options?: Record<string, unknown>): Promise<unknown>;
}

// ----- a WAMP JSON peer driven by hand: wamp-clients.ts's RawWampClient -----

export { RawWampClient, type WampMessage } from './wamp-clients';

/** Roles a raw callee announces; `canceling` adds call_canceling. */
export function rawRoles(opts: { canceling?: boolean; progressive?: boolean } = {}): Record<string, unknown> {
  const features: Record<string, unknown> = {};
  if (opts.canceling) features['call_canceling'] = true;
  if (opts.progressive) {
    features['progressive_call_results'] = true;
    features['progressive_call_invocations'] = true;
  }
  return {
    caller: {
      features: { call_canceling: true, progressive_call_results: true, progressive_call_invocations: true, call_timeout: true },
    },
    callee: { features },
  };
}

// ----- one pool per test file: whatever a test opens, `closeAll` closes -----

export class ClientPool {
  private readonly closers = new Set<() => Promise<unknown>>();
  private readonly router: () => TestRouter;

  /** the router, or how to get it once it has started (rpcTestFile) */
  constructor(router: TestRouter | (() => TestRouter)) {
    this.router = typeof router === 'function' ? router : () => router;
  }

  private get t(): TestRouter {
    return this.router();
  }

  async autobahn(tr: Transport | Record<string, unknown>): Promise<AutobahnClient> {
    const options =
      'options' in tr && typeof tr.options === 'object' ? (tr as Transport).options : (tr as Record<string, unknown>);
    // autobahn mutates the transport options it is given: hand it a copy each time
    const c = await within(connect(cloneOptions(options)), 5000, 'autobahn connect');
    const close = () => within(c.close(), 5000, 'autobahn close').catch(() => undefined);
    this.closers.add(close);
    return {
      ...c,
      close: async () => {
        this.closers.delete(close);
        await within(c.close(), 5000, 'autobahn close');
      },
    };
  }

  async wampy(serializer: WampySerializerName): Promise<WampyClient> {
    const w = new Wampy(this.t.wsUrl, {
      realm: 'realm1',
      ws: WebSocket,
      autoReconnect: false,
      serializer: wampySerializers[serializer](),
    });
    await within(w.connect(), 5000, `wampy (${serializer}) connect`);
    const close = () => within(w.disconnect(), 5000, 'wampy disconnect').catch(() => undefined);
    this.closers.add(close);
    const original = w.disconnect.bind(w);
    w.disconnect = async () => {
      this.closers.delete(close);
      return within(original(), 5000, 'wampy disconnect');
    };
    return w;
  }

  async raw(roles: Record<string, unknown> = rawRoles()): Promise<RawWampClient> {
    const c = await RawWampClient.connect(this.t.wsUrl, roles);
    this.closers.add(() => c.close());
    return c;
  }

  async closeAll(): Promise<void> {
    const all = [...this.closers];
    this.closers.clear();
    await Promise.all(all.map((f) => f()));
  }
}

function cloneOptions(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...o };
  if (Array.isArray(o['transports'])) out['transports'] = (o['transports'] as Record<string, unknown>[]).map((t) => ({ ...t }));
  if (Array.isArray(o['protocols'])) out['protocols'] = [...(o['protocols'] as unknown[])];
  if (Array.isArray(o['serializers'])) out['serializers'] = [...(o['serializers'] as unknown[])];
  return out;
}

/** autobahn's transports x serializers, by name */
export const RPC_TRANSPORTS = ['websocket/json', 'websocket/msgpack', 'websocket/cbor', 'rawsocket/json'] as const;
export type RpcTransportName = (typeof RPC_TRANSPORTS)[number];

export interface RpcTestFile {
  /** the file's router; started in before() */
  readonly router: () => TestRouter;
  /** what a test opens here is closed after it */
  readonly pool: ClientPool;
  readonly transport: (name: RpcTransportName) => AutobahnTransport;
}

/**
 * The set-up every RPC test file shared: one router (with `config`) started before its
 * tests, the clients each test opened closed after it, the router closed after all.
 * Call it at the top level of the file.
 */
export function rpcTestFile(config: Record<string, unknown> = {}): RpcTestFile {
  let t: TestRouter | undefined;
  const router = (): TestRouter => {
    if (!t) throw new Error('the router starts in before()');
    return t;
  };
  const pool = new ClientPool(router);
  before(async () => {
    t = await startRouter(config);
  });
  afterEach(() => pool.closeAll());
  after(() => t?.close());
  return {
    router,
    pool,
    transport: (name) => {
      const tr = rpcTransports(router()).find((x) => x.name === name);
      if (!tr) throw new Error(`no transport ${name}`);
      return tr;
    },
  };
}
