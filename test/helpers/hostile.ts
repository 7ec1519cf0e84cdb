/**
 * The hostile-client suites (test/hostile/*.test.ts): a router with every listener in a
 * child process (test/fixtures/hostile-router.ts) whose memory, logs and life the test
 * reads; attackers that write arbitrary bytes over TCP or WebSocket and record what
 * comes back; byte mutators for fast-check; and the well-behaved clients (autobahn,
 * mqtt.js, stompjs) that must still work afterwards.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { WebSocket, type RawData } from 'ws';
import { connect, rawSocketTransport, wsOptions } from './autobahn';
import { connectMqtt } from './mqtt-clients';
import { spawnChildRouter, type ChildProcessRouter } from './child-router';
import { StompjsClients, Inbox, subscribeConfirmed, sendWithReceipt, stop as stopStomp } from './stomp-clients';
import { within } from './raw-wamp';
import { waitFor } from './wait';

export { within };
export { pace } from './wait';

const FIXTURE = path.join(__dirname, '..', 'fixtures', 'hostile-router.ts');

/** Timeouts short enough that slow and silent connections are dropped within a test. */
export const SHORT_TIMEOUTS = {
  wamp: { helloTimeoutMs: 1000 },
  mqtt: { connectTimeoutMs: 1000 },
  stomp: { connectTimeoutMs: 1000 },
};

/**
 * Roles for the fuzz suites, so that authorization runs under fuzzing too: anonymous
 * may do everything but touch `billing.` or kill sessions (the generators aim at both).
 */
export const FUZZ_AUTHZ = {
  auth: {
    roles: {
      anonymous: {
        permissions: [
          { uri: '', match: 'prefix', allow: ['*'] },
          { uri: 'billing.', match: 'prefix', deny: ['*'] },
          { uri: 'wamp.session.kill', match: 'prefix', deny: ['call'] },
        ],
      },
    },
  },
};

export interface Ports {
  wamp: number;
  rawsocket: number;
  mqtt: number;
  mqttWs: number;
  stomp: number;
  stompWs: number;
  wss: number;
  rawsocketTls: number;
  mqtts: number;
  stomps: number;
}

export interface Memory {
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  rss: number;
}

/**
 * Heap growth allowed between the baseline (taken after a warm-up round) and the end
 * of a suite, after two full GCs in the child: room for lazily compiled code and
 * caches that a bigger round fills further, far below what one leaked buffer or
 * session per hostile connection would leave (hundreds of connections x KiB each).
 */
export const HEAP_MARGIN_BYTES = 6 * 1024 * 1024;
/** Buffers (external memory) allowed to remain beyond the baseline. */
export const EXTERNAL_MARGIN_BYTES = 4 * 1024 * 1024;

export class HostileRouter {
  private nextId = 0;
  private constructor(readonly proc: ChildProcessRouter<Ports>) {}

  static async start(config: Record<string, unknown> = {}): Promise<HostileRouter> {
    // HOSTILE_LOG=info (say) shows what the router logs, for debugging a suite
    const log = process.env['HOSTILE_LOG'] ? { log: { level: process.env['HOSTILE_LOG'] } } : {};
    const proc = await spawnChildRouter<Ports>(FIXTURE, [JSON.stringify({ ...SHORT_TIMEOUTS, ...log, ...config })], {
      nodeArgs: ['--expose-gc'],
      ipc: true,
    });
    return new HostileRouter(proc);
  }

  get ports(): Ports {
    return this.proc.ready;
  }

  url(port: keyof Ports, urlPath: string): string {
    return `ws://127.0.0.1:${this.ports[port]}${urlPath}`;
  }

  /** Heap and buffers in the child after two full GCs (its admin IPC channel). */
  memory(): Promise<Memory> {
    return this.admin<Memory>('memory');
  }

  /** The realms the router holds. */
  async realms(): Promise<string[]> {
    return (await this.admin<{ realms: string[] }>('realms')).realms;
  }

  /** The router's Prometheus metrics text. */
  async metrics(): Promise<string> {
    return (await this.admin<{ text: string }>('metrics')).text;
  }

  private admin<T>(cmd: string): Promise<T> {
    const id = ++this.nextId;
    const child = this.proc.child;
    return within(
      new Promise<T>((resolve, reject) => {
        const onMessage = (m: T & { id: number; error?: string }): void => {
          if (m.id !== id) return;
          child.off('message', onMessage);
          if (m.error) reject(new Error(m.error));
          else resolve(m);
        };
        child.on('message', onMessage);
        child.send({ id, cmd });
      }),
      10_000,
      `${cmd} report from the child router`,
    );
  }

  /** The child is running, wrote nothing to stderr and logged nothing at error level. */
  assertHealthy(after: string): void {
    const c = this.proc.child;
    assert.equal(c.exitCode, null, `child router exited (code ${c.exitCode}) after ${after}: ${this.proc.stderr()}`);
    assert.equal(c.signalCode, null, `child router killed (${c.signalCode}) after ${after}`);
    assert.equal(this.proc.stderr(), '', `child router stderr after ${after}`);
    // anything but a log line on stdout is unexpected too
    assert.deepEqual(this.logs(50), [], `child router logged errors after ${after}`);
  }

  /** Heap and buffers are back within the margins of `base`. */
  async assertMemoryNear(base: Memory, after: string): Promise<Memory> {
    const now = await this.memory();
    const mib = (n: number): string => (n / 1048576).toFixed(1);
    assert.ok(
      now.heapUsed <= base.heapUsed + HEAP_MARGIN_BYTES,
      `heap ${mib(now.heapUsed)} MiB after ${after} > baseline ${mib(base.heapUsed)} MiB + ${mib(HEAP_MARGIN_BYTES)} MiB`,
    );
    assert.ok(
      now.arrayBuffers <= base.arrayBuffers + EXTERNAL_MARGIN_BYTES,
      `buffers ${mib(now.arrayBuffers)} MiB after ${after} > baseline ${mib(base.arrayBuffers)} MiB + ${mib(EXTERNAL_MARGIN_BYTES)} MiB`,
    );
    return now;
  }

  /** The router's log lines at `level` or above (pino numbers: 40 warn, 50 error). */
  logs(level: number): string[] {
    return this.proc.stdoutLines().filter((l) => {
      try {
        return ((JSON.parse(l) as { level?: number }).level ?? 0) >= level;
      } catch {
        return true;
      }
    });
  }

  stop(): Promise<void> {
    return this.proc.stop();
  }
}

// ---------------------------------------------------------------------------------
// attackers

/** What came back on one hostile connection. */
export interface Outcome {
  /** WebSocket: one entry per message; TCP: one entry per chunk (concatenate to parse) */
  received: Buffer[];
  /** the router closed the connection (or the transport failed) before we hung up */
  closed: boolean;
  /** WebSocket close code from the router */
  closeCode?: number;
  /** the WebSocket upgrade itself was refused (HTTP status) */
  refusedStatus?: number;
}

/** How long a connection may stay quiet after the last frame before we hang up. */
const IDLE_MS = 80;
/** Longest a hostile connection is watched. */
const WATCH_MS = 3000;

/** Resolves once `isDone()` or after `idle` ms without `activity()` changing, or WATCH_MS. */
async function settle(isDone: () => boolean, activity: () => number, idle = IDLE_MS): Promise<void> {
  let last = activity();
  let quietSince = Date.now();
  const settled = (): boolean => {
    if (isDone()) return true;
    const a = activity();
    if (a === last) return Date.now() - quietSince >= idle;
    last = a;
    quietSince = Date.now();
    return false;
  };
  // watched for WATCH_MS without settling: the caller judges the outcome as it stands
  await waitFor(settled, 'the connection to settle', WATCH_MS).catch(() => undefined);
}

/** Writes `chunks` (a turn apart) on a TCP connection, then watches it settle. */
export async function attackTcp(port: number, chunks: readonly Buffer[], idle = IDLE_MS): Promise<Outcome> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  const out: Outcome = { received: [], closed: false };
  let bytes = 0;
  socket.on('data', (d: Buffer) => {
    out.received.push(d);
    bytes += d.length;
  });
  socket.on('error', () => undefined);
  let hungUp = false;
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  void closed.then(() => (out.closed ||= !hungUp));
  await within(
    new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    }),
    WATCH_MS,
    `TCP connect to ${port}`,
  );
  for (const c of chunks) {
    if (socket.destroyed || out.closed) break;
    socket.write(c);
    await new Promise((r) => setImmediate(r));
  }
  await settle(
    () => out.closed,
    () => bytes,
    idle,
  );
  hungUp = true;
  socket.destroy();
  await closed;
  return out;
}

/** Opens a WebSocket with `protocols`, sends `frames`, then watches it settle. */
export async function attackWs(
  url: string,
  protocols: string[],
  frames: readonly { data: Buffer; binary: boolean }[],
  idle = IDLE_MS,
): Promise<Outcome> {
  const ws = new WebSocket(url, protocols, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
  const out: Outcome = { received: [], closed: false };
  ws.on('message', (d: RawData) => out.received.push(Buffer.isBuffer(d) ? d : Buffer.concat(d as Buffer[])));
  ws.on('error', () => undefined);
  let hungUp = false;
  const closed = new Promise<void>((resolve) =>
    ws.once('close', (code: number) => {
      if (!hungUp) {
        out.closed = true;
        out.closeCode = code;
      }
      resolve();
    }),
  );
  const opened = await within(
    new Promise<boolean>((resolve) => {
      ws.once('open', () => resolve(true));
      ws.once('unexpected-response', (_req, res) => {
        out.refusedStatus = res.statusCode;
        res.resume();
        resolve(false);
      });
      ws.once('close', () => resolve(false));
    }),
    WATCH_MS,
    `WebSocket open ${url}`,
  );
  if (!opened) {
    ws.terminate();
    out.closed = true;
    return out;
  }
  for (const f of frames) {
    if (ws.readyState !== WebSocket.OPEN) break;
    ws.send(f.data, { binary: f.binary });
    await new Promise((r) => setImmediate(r));
  }
  await settle(
    () => out.closed,
    () => out.received.length,
    idle,
  );
  hungUp = true;
  ws.terminate();
  await closed;
  return out;
}

/**
 * WebSocket close codes a router may use on garbage: normal, going away, protocol
 * error, unsupported data, invalid payload, policy, too big; 1005/1006 when the TCP
 * connection was just cut. 1011 (internal error) is a bug.
 */
export const ACCEPTABLE_CLOSE_CODES = new Set([1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009]);

export function assertCloseCode(o: Outcome, label: string): void {
  if (o.closeCode !== undefined) assert.ok(ACCEPTABLE_CLOSE_CODES.has(o.closeCode), `${label}: close code ${o.closeCode}`);
}

/** Runs `fn` on each item, `width` at a time. */
export async function inParallel<T>(
  items: readonly T[],
  width: number,
  fn: (item: T, i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
}

/** The sum of every sample of a Prometheus counter in `text`. */
export function sumMetric(text: string, name: string): number {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

// ---------------------------------------------------------------------------------
// what a router may answer

const SERVER_PACKETS = new Set([
  'connack',
  'publish',
  'puback',
  'pubrec',
  'pubrel',
  'pubcomp',
  'suback',
  'unsuback',
  'pingresp',
  'disconnect',
  'auth',
]);

/** Parses the router's bytes with a parser of each version; one must take them all. */
export function assertMqttReplies(bytes: Buffer, v: 3 | 4 | 5, label: string): void {
  if (bytes.length === 0) return;
  const problems: string[] = [];
  for (const version of [v, 5, 4, 3] as const) {
    const parser = mqttPacket.parser({ protocolVersion: version });
    const packets: Packet[] = [];
    let error: Error | undefined;
    parser.on('packet', (p: Packet) => packets.push(p));
    parser.on('error', (e: Error) => (error ??= e));
    parser.parse(bytes);
    const bad = packets.find((p) => !SERVER_PACKETS.has(p.cmd));
    if (!error && !bad) return;
    problems.push(`v${version}: ${error?.message ?? `router sent ${bad?.cmd}`}`);
  }
  assert.fail(`${label}: router bytes are not server MQTT (${problems.join('; ')}): ${bytes.toString('hex').slice(0, 120)}`);
}

const SERVER_COMMANDS = new Set(['CONNECTED', 'MESSAGE', 'RECEIPT', 'ERROR']);

/** Reads the router's frames (content-length honoured) and checks each; heart-beat EOLs are skipped. */
export function assertStompReplies(bytes: Buffer, label: string): void {
  let at = 0;
  while (at < bytes.length) {
    if (bytes[at] === 0x0a || bytes[at] === 0x0d) {
      at++;
      continue;
    }
    const headEnd = bytes.indexOf('\n\n', at);
    const headEndCrlf = bytes.indexOf('\r\n\r\n', at);
    const crlf = headEndCrlf >= 0 && (headEnd < 0 || headEndCrlf < headEnd);
    const end = crlf ? headEndCrlf : headEnd;
    if (end < 0) return; // cut off by our hang-up
    const lines = bytes.subarray(at, end).toString('utf8').split(/\r?\n/);
    const command = lines[0] ?? '';
    assert.ok(SERVER_COMMANDS.has(command), `${label}: router sent command ${JSON.stringify(command)}`);
    const headers = new Map<string, string>();
    for (const l of lines.slice(1)) {
      const c = l.indexOf(':');
      assert.ok(c > 0, `${label}: header line ${JSON.stringify(l)} in ${command}`);
      if (!headers.has(l.slice(0, c))) headers.set(l.slice(0, c), l.slice(c + 1));
    }
    if (command === 'ERROR') assert.ok(headers.has('message'), `${label}: ERROR without a message header`);
    const bodyAt = end + (crlf ? 4 : 2);
    const cl = headers.get('content-length');
    const nul = cl === undefined ? bytes.indexOf(0, bodyAt) : bodyAt + Number(cl);
    if (nul < 0 || nul >= bytes.length) return; // cut off
    assert.equal(bytes[nul], 0, `${label}: ${command} body not followed by NUL`);
    at = nul + 1;
  }
}

// ---------------------------------------------------------------------------------
// mutations

export type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'overwrite'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; count: number }
  | { kind: 'duplicate' }
  | { kind: 'none' };

/** A mutation; positions are fractions of the buffer length resolved in mutate(). */
export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('insert' as const),
      at: fc.nat(),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('overwrite' as const),
      at: fc.nat(),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 4 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 4 }) }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'duplicate' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'none' as const }) },
);

export function mutate(b: Buffer, m: Mutation): Buffer {
  if (b.length === 0) return m.kind === 'insert' ? Buffer.from(m.bytes) : b;
  const at = 'at' in m ? m.at % b.length : 0;
  switch (m.kind) {
    case 'flip': {
      const c = Buffer.from(b);
      c[at] = (c[at] ?? 0) ^ (1 << m.bit);
      return c;
    }
    case 'truncate':
      return b.subarray(0, at);
    case 'insert':
      return Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
    case 'overwrite': {
      const c = Buffer.from(b);
      c.set(m.bytes.subarray(0, c.length - at), at);
      return c;
    }
    case 'delete':
      return Buffer.concat([b.subarray(0, at), b.subarray(at + m.count)]);
    case 'duplicate':
      return Buffer.concat([b, b]);
    case 'none':
      return b;
  }
}

/** A buffer with up to three mutations applied. */
export function mutatedArb(base: fc.Arbitrary<Buffer>): fc.Arbitrary<Buffer> {
  return fc.tuple(base, fc.array(mutationArb, { minLength: 1, maxLength: 3 })).map(([b, ms]) => ms.reduce(mutate, b));
}

/** fast-check parameters of a suite: seed from HOSTILE_SEED to replay a failure. */
export function fcParams(numRuns: number): fc.Parameters<unknown> {
  const seed =
    process.env['HOSTILE_SEED'] === undefined ? Date.now() ^ (Math.random() * 0x7fffffff) : Number(process.env['HOSTILE_SEED']);
  return {
    numRuns,
    seed,
    endOnFailure: true,
    reporter: (details) => {
      if (!details.failed) return;
      const cause = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
      const example = fc.stringify(details.counterexample).slice(0, 2000);
      throw new Error(
        `${cause}\nafter ${details.numRuns} runs; replay with HOSTILE_SEED=${seed}\ncounterexample (cut at 2000 chars): ${example}`,
      );
    },
  };
}

// ---------------------------------------------------------------------------------
// well-behaved clients

/**
 * A well-behaved client of every protocol and transport still works: autobahn (WAMP
 * WebSocket json/msgpack/cbor and RawSocket) subscribes, publishes and calls; mqtt.js
 * (TCP and WebSocket) subscribes and publishes at QoS 1; stompjs (TCP and WebSocket)
 * subscribes and sends with receipts.
 */
export async function assertWellBehavedClientsWork(r: HostileRouter, tag: string): Promise<void> {
  const wsUrl = r.url('wamp', '/ws');
  const transports = [
    { name: 'ws/json', options: wsOptions(wsUrl, 'json') },
    { name: 'ws/msgpack', options: wsOptions(wsUrl, 'msgpack') },
    { name: 'ws/cbor', options: wsOptions(wsUrl, 'cbor') },
    { name: 'rawsocket', options: { transports: [rawSocketTransport(`tcp://127.0.0.1:${r.ports.rawsocket}`)] } },
  ];
  for (const t of transports) {
    const c = await connect(t.options);
    try {
      const topic = `hostile.ok.${tag}.${t.name.replace(/\W/g, '_')}`;
      let resolveGot: (v: unknown) => void = () => undefined;
      const got = new Promise<unknown>((resolve) => (resolveGot = resolve));
      await within(
        c.session.subscribe(topic, (args) => resolveGot(args[0])),
        2000,
        `SUBSCRIBED ${topic}`,
      );
      await c.session.register(`${topic}.echo`, (args) => args[0]);
      await c.session.publish(topic, ['ping'], {}, { acknowledge: true, exclude_me: false });
      assert.equal(await within(got, 3000, `${t.name} event`), 'ping', `autobahn ${t.name} receives its event`);
      assert.equal(await within(c.session.call(`${topic}.echo`, ['x']), 3000, `${t.name} call`), 'x', `autobahn ${t.name} call`);
    } finally {
      await within(c.close(), 3000, 'autobahn close').catch(() => undefined);
    }
  }

  for (const url of [`mqtt://127.0.0.1:${r.ports.mqtt}`, r.url('mqttWs', '/mqtt')]) {
    const { client } = await connectMqtt(url, { protocolVersion: 5 });
    try {
      const topic = `hostile/ok/${tag}`;
      await client.subscribeAsync(topic, { qos: 1 });
      const got = new Promise<string>((resolve) => client.once('message', (_t, p) => resolve(p.toString())));
      await client.publishAsync(topic, 'hello', { qos: 1 });
      assert.equal(await within(got, 3000, `mqtt.js ${url} message`), 'hello', `mqtt.js over ${url}`);
    } finally {
      await within(client.endAsync(), 3000, 'mqtt.js end').catch(() => client.end(true));
    }
  }

  const stomp = new StompjsClients();
  try {
    for (const open of [() => stomp.tcp(r.ports.stomp), () => stomp.ws(r.url('stompWs', '/stomp'))]) {
      const { client } = await open();
      const inbox = new Inbox();
      const dest = `/topic/hostile.ok.${tag}`;
      await subscribeConfirmed(client, dest, inbox);
      await sendWithReceipt(client, dest, 'hi');
      const [m] = await inbox.count(1, 'stompjs MESSAGE');
      assert.equal(m?.body, 'hi', 'stompjs receives its message');
      await stopStomp(client);
    }
  } finally {
    await stomp.closeAll();
  }
}

// ---------------------------------------------------------------------------------
// a whole fuzz suite

export interface FuzzSuite<S> {
  /** what the test is named */
  title: string;
  /** for the well-behaved clients' topics and messages */
  tag: string;
  session: fc.Arbitrary<S>;
  /** fast-check runs; each run opens `width` connections at once */
  runs: number;
  width: number;
  /** runs one hostile connection, checks what came back, and returns it */
  attack(r: HostileRouter, s: S, i: number): Promise<Outcome>;
  /** the suite runs with FUZZ_AUTHZ: some of its actions must have been denied */
  expectDenials?: boolean;
  /** router config over SHORT_TIMEOUTS (or a function that makes it) */
  config?: Record<string, unknown> | (() => Promise<Record<string, unknown>>);
}

/**
 * Registers the hooks and tests of a fuzz file: a child router; a warm-up round and a
 * round of well-behaved clients before the memory baseline; `runs` x `width` hostile
 * connections; then the router must be healthy, serve well-behaved clients of every
 * protocol and have its heap back near the baseline.
 */
export function fuzzSuite<S>(suite: FuzzSuite<S>): void {
  let r: HostileRouter;
  let base: Memory;
  const batch = fc.array(suite.session, { minLength: suite.width, maxLength: suite.width });
  const stats = { connections: 0, answered: 0, closedByRouter: 0, openAtEnd: 0 };
  const round = (runs: number): Promise<void> =>
    fc.assert(
      fc.asyncProperty(batch, (b) =>
        inParallel(b, suite.width, async (s, i) => {
          const o = await suite.attack(r, s, i);
          stats.connections++;
          if (o.received.length > 0) stats.answered++;
          if (o.closed) stats.closedByRouter++;
          else stats.openAtEnd++;
        }),
      ),
      fcParams(runs),
    );
  before(async () => {
    r = await HostileRouter.start(typeof suite.config === 'function' ? await suite.config() : suite.config);
    await round(3); // code compiled and caches filled before the baseline
    await assertWellBehavedClientsWork(r, `${suite.tag}warmup`);
    base = await r.memory();
  });
  after(async () => {
    await r.stop();
  });
  test(suite.title, async (t) => {
    // HOSTILE_RUNS_FACTOR=10 (say) for a longer hunt than CI's
    await round(suite.runs * Number(process.env['HOSTILE_RUNS_FACTOR'] ?? 1));
    r.assertHealthy(suite.title);
    t.diagnostic(
      `connections ${stats.connections}, answered ${stats.answered}, closed by the router ${stats.closedByRouter}, still open when we hung up ${stats.openAtEnd}`,
    );
    // the generators reach both outcomes: the suite is not trivially passing
    assert.ok(stats.answered > 0 && stats.closedByRouter > 0 && stats.openAtEnd > 0, `outcomes ${JSON.stringify(stats)}`);
    if (suite.expectDenials) {
      const denied = sumMetric(await r.metrics(), 'gatehouse_authz_denied_total');
      t.diagnostic(`authorization denials: ${denied}`);
      assert.ok(denied > 0, 'the fuzzed sessions reached authorization and were denied some actions');
    }
  });
  test('afterwards every protocol serves well-behaved clients and memory is back near its start', async () => {
    await assertWellBehavedClientsWork(r, suite.tag);
    await r.assertMemoryNear(base, suite.title);
    r.assertHealthy('the well-behaved clients');
  });
}
