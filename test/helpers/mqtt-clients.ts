/**
 * Client-side helpers for the MQTT gate integration tests (test/gates/mqtt/*.test.ts):
 * mqtt.js clients that connect with a deadline and never reconnect on their own, a
 * message log that waits with a deadline, and a reader for the router's Prometheus
 * counters. The raw client (wire-level assertions, malformed bytes) is mqtt-raw.ts.
 */
import net from 'node:net';
import tls from 'node:tls';
import mqtt, {
  type IClientOptions,
  type IClientPublishOptions,
  type IClientSubscribeOptions,
  type ISubscriptionGrant,
  type MqttClient,
} from 'mqtt';
import type { IConnackPacket, IPublishPacket, Packet } from 'mqtt-packet';
import { autobahn, connect as autobahnConnect, wsOptions } from './autobahn';
import type { TestRouter } from './router';
import { expectQuiet, withTimeout, WAIT_MS } from './wait';

export { pace, waitFor, withTimeout, WAIT_MS } from './wait';

// autobahn logs every closed connection with console.warn; keep test output readable.
if (!process.env['GATEHOUSE_TEST_LOG']) {
  (autobahn as unknown as { log: { warn: (...a: unknown[]) => void } }).log.warn = () => undefined;
}

export type MqttTransport = 'tcp' | 'ws';
export const MQTT_TRANSPORTS: readonly MqttTransport[] = ['tcp', 'ws'];

export function mqttUrl(r: TestRouter, t: MqttTransport): string {
  return t === 'tcp' ? r.mqttUrl : r.mqttWsUrl;
}

let idCounter = 0;
/** A client id unique in this process. */
export function uniqueId(prefix = 'c'): string {
  return `${prefix}-${process.pid}-${++idCounter}`;
}

/** An autobahn session (WebSocket, JSON unless told) on the router, joined with a deadline. */
export function joinWamp(
  r: TestRouter,
  realm = 'realm1',
  serializer: 'json' | 'msgpack' | 'cbor' = 'json',
): ReturnType<typeof autobahnConnect> {
  return withTimeout(autobahnConnect(wsOptions(r.wsUrl, serializer), realm), WAIT_MS, `WAMP join ${realm}`);
}

/** Sessions of `role` in realm1, counted by the WAMP session meta API (whatever their gate). */
export async function sessionsOfRole(r: TestRouter, role: string): Promise<number> {
  const w = await joinWamp(r);
  try {
    return await w.session.call<number>('wamp.session.count', [[role]]);
  } finally {
    await w.close();
  }
}

// ---------------------------------------------------------------------------------
// mqtt.js

export interface Received {
  topic: string;
  payload: Buffer;
  packet: IPublishPacket;
}

/**
 * Records the PUBLISH packets an mqtt.js client receives, in order. `count(n)` waits
 * for n in all; `quiet(ms)` asserts nothing more arrives for a while.
 */
export class MessageLog {
  readonly messages: Received[] = [];
  private waiters: { n: number; resolve: () => void }[] = [];

  constructor(client?: MqttClient) {
    if (client) this.attach(client);
  }

  attach(client: MqttClient): this {
    client.on('message', (topic, payload, packet) => this.push({ topic, payload, packet }));
    return this;
  }

  push(m: Received): void {
    this.messages.push(m);
    this.waiters = this.waiters.filter((w) => {
      if (this.messages.length < w.n) return true;
      w.resolve();
      return false;
    });
  }

  async count(n: number, what: string, ms = WAIT_MS): Promise<Received[]> {
    if (this.messages.length < n) {
      await withTimeout(
        new Promise<void>((resolve) => this.waiters.push({ n, resolve })),
        ms,
        `${what} (${n} messages, got ${this.messages.length})`,
      );
    }
    return this.messages.slice(0, n);
  }

  /** Waits `ms` and fails when the log grew past `n`. */
  async quiet(n: number, ms: number, what: string): Promise<void> {
    await expectQuiet(ms);
    if (this.messages.length > n) {
      const extra = this.messages.slice(n).map((m) => `${m.topic}=${m.payload.toString()}`);
      throw new Error(`${what}: expected ${n} messages, got ${this.messages.length} (extra: ${extra.join(', ')})`);
    }
  }

  texts(): string[] {
    return this.messages.map((m) => m.payload.toString());
  }

  clear(): void {
    this.messages.length = 0;
  }
}

/**
 * Connects an mqtt.js client; resolves once CONNACK accepted it. No automatic
 * reconnects (reconnectPeriod 0), so a test sees every disconnect. `log` is attached
 * before the connection opens.
 */
export function connectMqtt(
  url: string,
  opts: IClientOptions = {},
  log?: MessageLog,
): Promise<{ client: MqttClient; connack: IConnackPacket }> {
  return accepted(mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: CONNECT_MS, ...opts }), `CONNACK from ${url}`, log);
}

/** Connects and expects the CONNECT to be refused; resolves with the error's code. */
export function connectRefused(url: string, opts: IClientOptions): Promise<number | undefined> {
  return refused(mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: WAIT_MS, ...opts }));
}

/**
 * mqtt.js over TCP to 127.0.0.1:`port` from the source address `from` (127.0.0.2, ...:
 * Linux answers on all of 127.0.0.0/8), so a test can be a client at another address.
 * `from` as an object may also give bytes written before MQTT (a PROXY protocol header).
 */
export function mqttFrom(
  port: number,
  from: string | { localAddress?: string; preamble?: Buffer; tls?: tls.ConnectionOptions },
  opts: IClientOptions = {},
): MqttClient {
  const source = typeof from === 'string' ? { localAddress: from } : from;
  const stream = (): net.Socket => {
    const socket = net.createConnection({
      port,
      host: '127.0.0.1',
      ...(source.localAddress ? { localAddress: source.localAddress } : {}),
    });
    // written ahead of the CONNECT mqtt.js writes on 'connect' (and of a TLS handshake)
    if (source.preamble) socket.write(source.preamble);
    return source.tls ? tls.connect({ socket, ...source.tls }) : socket;
  };
  return new mqtt.MqttClient(stream, { reconnectPeriod: 0, connectTimeout: WAIT_MS, protocolVersion: 4, ...opts });
}

/** connectMqtt() from another source address (see mqttFrom). */
export function connectMqttFrom(
  port: number,
  from: Parameters<typeof mqttFrom>[1],
  opts: IClientOptions = {},
): Promise<{ client: MqttClient; connack: IConnackPacket }> {
  return accepted(mqttFrom(port, from, opts), `CONNACK from 127.0.0.1:${port} to ${JSON.stringify(from)}`);
}

/** connectRefused() from another source address (see mqttFrom), waiting up to `ms`. */
export function connectRefusedFrom(
  port: number,
  from: Parameters<typeof mqttFrom>[1],
  opts: IClientOptions = {},
  ms = WAIT_MS,
): Promise<number | undefined> {
  return refused(mqttFrom(port, from, { ...opts, connectTimeout: ms }), ms);
}

/**
 * How long a CONNECT that must succeed may take: longer than WAIT_MS, because in a
 * cluster a CONNECT reads (and for a clean session writes) the session's record in
 * JetStream first, and a loaded machine stretches that; a CONNECT that must fail keeps
 * WAIT_MS (connectRefused).
 */
const CONNECT_MS = 10_000;

function accepted(client: MqttClient, what: string, log?: MessageLog): Promise<{ client: MqttClient; connack: IConnackPacket }> {
  // errors after connect are the test's business; keep them from being unhandled
  client.on('error', () => undefined);
  // messages a resumed session gets right after CONNACK must not slip past the log
  log?.attach(client);
  return withTimeout(
    new Promise<{ client: MqttClient; connack: IConnackPacket }>((resolve, reject) => {
      client.once('connect', (connack) => resolve({ client, connack }));
      client.once('error', (err) => {
        client.end(true);
        reject(err);
      });
      client.once('close', () => reject(new Error('connection closed before CONNACK')));
    }),
    CONNECT_MS,
    what,
  ).catch((err: unknown) => {
    client.end(true);
    throw err;
  });
}

async function refused(client: MqttClient, ms = WAIT_MS): Promise<number | undefined> {
  try {
    return await withTimeout(
      new Promise<number | undefined>((resolve, reject) => {
        client.once('connect', () => reject(new Error('CONNECT was accepted')));
        client.once('error', (err) => resolve((err as Error & { code?: number }).code));
      }),
      ms,
      'a refused CONNACK',
    );
  } finally {
    client.end(true);
  }
}

/** Ends mqtt.js clients with force; never hangs. */
export async function endAll(clients: Iterable<MqttClient | undefined>): Promise<void> {
  const ending: Promise<unknown>[] = [];
  for (const c of clients) {
    if (!c) continue;
    ending.push(
      withTimeout(new Promise<void>((r) => c.end(true, {}, () => r())), 1000, 'client end').catch(() => c.stream?.destroy()),
    );
  }
  await Promise.all(ending);
}

export async function subscribe(
  client: MqttClient,
  filter: string | string[],
  opts: IClientSubscribeOptions = { qos: 0 },
): Promise<ISubscriptionGrant[]> {
  return withTimeout(client.subscribeAsync(filter, opts), WAIT_MS, `SUBACK for ${String(filter)}`);
}

export async function publish(
  client: MqttClient,
  topic: string,
  payload: string | Buffer,
  opts: IClientPublishOptions = {},
): Promise<void> {
  await withTimeout(client.publishAsync(topic, payload, opts), WAIT_MS, `ack of PUBLISH to ${topic}`);
}

/** Resolves when the client's connection closes (socket closed by either side). */
export function closed(client: MqttClient, ms = WAIT_MS): Promise<void> {
  if (!client.connected && client.stream?.destroyed) return Promise.resolve();
  return armed(withTimeout(new Promise<void>((r) => client.once('close', () => r())), ms, 'the connection to close'));
}

/** Resolves with the server's DISCONNECT packet (MQTT 5). */
export function serverDisconnect(client: MqttClient, ms = WAIT_MS): Promise<Packet & { reasonCode?: number }> {
  return armed(withTimeout(new Promise((r) => client.once('disconnect', (p) => r(p))), ms, 'a DISCONNECT from the server'));
}

/**
 * A promise a test sets up early and awaits later: if the test fails before awaiting
 * it, its rejection is not reported as unhandled (the awaited copy still rejects).
 */
function armed<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

// ---------------------------------------------------------------------------------
// metrics

/** Current value of one Prometheus series of the router (0 when absent). */
export async function metricValue(r: TestRouter, name: string, labels: Record<string, string>): Promise<number> {
  const metric = r.router.metrics.registry.getSingleMetric(name);
  if (!metric) return 0;
  const data = await metric.get();
  let sum = 0;
  for (const v of data.values) {
    const l = v.labels as Record<string, string | number | undefined>;
    if (Object.entries(labels).every(([k, want]) => String(l[k]) === want)) sum += v.value;
  }
  return sum;
}
