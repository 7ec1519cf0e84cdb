/**
 * One client per protocol x transport behind the same small surface, for the scenario
 * matrix (test/scenarios/matrix.test.ts): publish, subscribe, retained values, calls and
 * the URI of a failed call, each over a real independent client library (autobahn, wampy,
 * mqtt.js, @stomp/stompjs, stompit, Node's fetch). A new gate or transport is one more
 * entry in PEERS.
 *
 * Topics are given in canonical form (`a.b.c`, README "Topics across protocols"); values
 * are JSON objects, which every gate carries as themselves (README "Payloads across
 * protocols": one WAMP argument <-> a JSON body). RPC bodies for MQTT `$rpc/` and STOMP
 * `/rpc/` are a JSON array: the Arguments list (a JSON object would be ArgumentsKw).
 */
import type { MqttClient } from 'mqtt';
import type { Packet } from 'mqtt-packet';
import { api, SseReader, startHttpRouter, type HttpTestRouter } from '../gates/http/helpers';
import { connect as autobahnConnect, rawSocketTransport, wsOptions, type AutobahnSession } from './autobahn';
import { connectMqtt, MessageLog, publish as mqttPublish, subscribe as mqttSubscribe, uniqueId } from './mqtt-clients';
import {
  Inbox,
  sendWithReceipt,
  stompitConnect,
  stompitDisconnect,
  stompitRead,
  StompjsClients,
  subscribeConfirmed,
  type StompClient,
  type StompitClient,
} from './stomp-clients';
import { openWampy, type WampyClient } from './wamp-clients';
import { waitFor, withTimeout, WAIT_MS } from './wait';

export type Json = Record<string, unknown>;

/** What a subscription has received so far, in order. */
export interface Received {
  readonly values: unknown[];
  close(): void | Promise<void>;
}

export interface Peer {
  /** resolves once the router has the subscription */
  subscribe(topic: string): Promise<Received>;
  /** resolves once the router has routed it (an ack, a receipt or the HTTP answer) */
  publish(topic: string, value: Json): Promise<void>;
  /** stores `value` as the topic's retained value; absent: the gate has no retain */
  retain?: (topic: string, value: Json) => Promise<void>;
  /** the topic's retained value as a new subscriber (or reader) gets it */
  retained?: (topic: string) => Promise<unknown>;
  /** registers a procedure answering fn(first argument); absent: the gate has no callees */
  register?: (procedure: string, fn: (value: unknown) => Json) => Promise<void>;
  /** calls with one argument; resolves with the one result */
  call?: (procedure: string, value: Json) => Promise<unknown>;
  /** calls and resolves with the error URI the gate reports */
  callError?: (procedure: string) => Promise<string>;
  /** a SUBSCRIBE the router must refuse: resolves with the refusal as the gate says it */
  subscribeRefused?: (topic: string) => Promise<string>;
  close(): Promise<void>;
}

export type Feature = 'retain' | 'retained' | 'register' | 'call';

export interface PeerRow {
  /** a name for test titles and topic components (no dots) */
  readonly id: string;
  /** the optional Peer methods this row's peers have: the matrix runs only what applies */
  readonly features: readonly Feature[];
  /** how its gate refuses a SUBSCRIBE (README "Authorization", Refusals); absent: not tested */
  readonly refusal?: string;
  open(r: HttpTestRouter): Promise<Peer>;
}

/** the single argument or result of a WAMP message */
function first(args: unknown): unknown {
  return Array.isArray(args) ? args[0] : args;
}

function wampErrorUri(e: unknown): string {
  if (typeof e === 'object' && e !== null) {
    const r = e as Record<string, unknown>;
    if (typeof r['error'] === 'string') return r['error'];
    if (typeof r['errorUri'] === 'string') return r['errorUri'];
  }
  throw new Error(`not a WAMP error: ${String(e)}`);
}

/**
 * The error URI of an MQTT `$rpc/` or STOMP `/rpc/` error reply: README "MQTT to WAMP RPC"
 * and "STOMP": it is both the `error` user property / header and the body's `error`.
 */
function replyError(reply: { value: unknown; error: string | undefined }): string {
  if (reply.error === undefined) return 'no error';
  const body = reply.value;
  const inBody = typeof body === 'object' && body !== null ? (body as Json)['error'] : undefined;
  return inBody === reply.error ? reply.error : `${reply.error}, body error ${JSON.stringify(inBody)}`;
}

// ----- WAMP: autobahn (every serializer and transport) and wampy -----

function autobahnRow(id: string, options: (r: HttpTestRouter) => Record<string, unknown>): PeerRow {
  return {
    id,
    features: ['retain', 'retained', 'register', 'call'],
    refusal: 'wamp.error.not_authorized',
    async open(r) {
      const c = await withTimeout(autobahnConnect(options(r)), WAIT_MS, `${id} join`);
      const s: AutobahnSession = c.session;
      return {
        async subscribe(topic) {
          const values: unknown[] = [];
          const sub = await s.subscribe(topic, (args) => values.push(first(args)));
          return { values, close: () => void s.unsubscribe(sub) };
        },
        async publish(topic, value) {
          await s.publish(topic, [value], {}, { acknowledge: true });
        },
        async retain(topic, value) {
          await s.publish(topic, [value], {}, { acknowledge: true, retain: true });
        },
        async retained(topic) {
          const got: { value: unknown; retained: unknown }[] = [];
          const sub = await s.subscribe(
            topic,
            (args, _kw, details) => got.push({ value: first(args), retained: details['retained'] }),
            {
              get_retained: true,
            },
          );
          await waitFor(() => got.length > 0, `${id}: the retained value of ${topic}`);
          await s.unsubscribe(sub);
          // README "Retained values": a replayed value is marked details.retained
          if (got[0]?.retained !== true) throw new Error(`${id}: the replay of ${topic} lacks details.retained`);
          return got[0].value;
        },
        async register(procedure, fn) {
          await s.register(procedure, (args) => fn(first(args)));
        },
        async call(procedure, value) {
          return first(await s.call(procedure, [value]));
        },
        async callError(procedure) {
          return s.call(procedure, []).then(
            () => 'no error',
            (e: unknown) => wampErrorUri(e),
          );
        },
        subscribeRefused: (topic) =>
          s
            .subscribe(topic, () => undefined)
            .then(
              () => 'subscribed',
              (e: unknown) => wampErrorUri(e),
            ),
        close: () => c.close(),
      };
    },
  };
}

function wampyRow(id: string, serializer: 'json' | 'msgpack' | 'cbor'): PeerRow {
  return {
    id,
    // wampy's publish passes on only the advanced options it knows: not `retain`
    features: ['call'],
    refusal: 'wamp.error.not_authorized',
    async open(r) {
      const w: WampyClient = await openWampy(r.wsUrl, serializer);
      return {
        async subscribe(topic) {
          const values: unknown[] = [];
          await w.subscribe(topic, (e) => values.push(e.argsList?.[0]));
          return { values, close: () => undefined };
        },
        async publish(topic, value) {
          await w.publish(topic, [value], { acknowledge: true });
        },
        async call(procedure, value) {
          return (await w.call(procedure, [value])).argsList?.[0];
        },
        async callError(procedure) {
          return w.call(procedure, []).then(
            () => 'no error',
            (e: unknown) => wampErrorUri(e),
          );
        },
        subscribeRefused: (topic) =>
          w
            .subscribe(topic, () => undefined)
            .then(
              () => 'subscribed',
              (e: unknown) => wampErrorUri(e),
            ),
        async close() {
          await w.disconnect();
        },
      };
    },
  };
}

// ----- MQTT: mqtt.js, 3.1.1 and 5, TCP and WebSocket -----

const mqttTopic = (canonical: string): string => canonical.split('.').join('/');

function mqttRow(id: string, version: 4 | 5, url: (r: HttpTestRouter) => string): PeerRow {
  return {
    id,
    features: version === 5 ? ['retain', 'retained', 'call'] : ['retain', 'retained'],
    // [MQTT-3.9.3] 5: reason code 0x87 Not authorized; 3.1.1 has only 0x80 Failure
    refusal: version === 5 ? 'SUBACK 0x87' : 'SUBACK 0x80',
    async open(r) {
      const log = new MessageLog();
      const { client } = await connectMqtt(url(r), { protocolVersion: version, clientId: uniqueId(id) }, log);
      const c: MqttClient = client;
      const fromTopic = (t: string): Received => {
        const mine = (): unknown[] =>
          log.messages.filter((m) => m.topic === t).map((m) => JSON.parse(m.payload.toString()) as unknown);
        return {
          get values() {
            return mine();
          },
          close: () => undefined,
        };
      };
      const peer: Peer = {
        async subscribe(topic) {
          const t = mqttTopic(topic);
          await mqttSubscribe(c, t, { qos: 1 });
          return fromTopic(t);
        },
        async publish(topic, value) {
          await mqttPublish(c, mqttTopic(topic), JSON.stringify(value), { qos: 1 });
        },
        async retain(topic, value) {
          await mqttPublish(c, mqttTopic(topic), JSON.stringify(value), { qos: 1, retain: true });
        },
        async retained(topic) {
          const t = mqttTopic(topic);
          await mqttSubscribe(c, t, { qos: 1 });
          const got = fromTopic(t);
          await waitFor(() => got.values.length > 0, `${id}: the retained value of ${t}`);
          // [MQTT-3.3.1-8] a retained message sent to a new subscription has RETAIN 1; every
          // writer publishes at QoS 1 (WAMP and HTTP count as QoS 1), the subscription grants 1
          const m = log.messages.find((x) => x.topic === t);
          if (m?.packet.retain !== true || m.packet.qos !== 1) {
            throw new Error(`${id}: the replay of ${t} has RETAIN ${String(m?.packet.retain)}, QoS ${String(m?.packet.qos)}`);
          }
          return got.values[0];
        },
        subscribeRefused: (topic) =>
          // read off the SUBACK itself: mqtt.js turns a failure code into a bare error
          withTimeout(
            new Promise<string>((resolve) => {
              const onPacket = (p: Packet): void => {
                if (p.cmd !== 'suback') return;
                c.off('packetreceive', onPacket);
                const code = p.granted[0];
                resolve(typeof code === 'number' ? `SUBACK 0x${code.toString(16)}` : `SUBACK ${JSON.stringify(code)}`);
              };
              c.on('packetreceive', onPacket);
              c.subscribe(mqttTopic(topic), { qos: 1 }, () => undefined);
            }),
            WAIT_MS,
            `${id}: the SUBACK for ${topic}`,
          ),
        close: () => new Promise<void>((done) => c.end(false, {}, () => done())),
      };
      if (version === 5) {
        // [MQTT 5 §4.10] request / response: $rpc/<procedure>, the reply on a topic of ours
        const replies = `mx-replies/${uniqueId(id)}`;
        await mqttSubscribe(c, replies, { qos: 1 });
        let seq = 0;
        const request = async (procedure: string, body: string): Promise<{ value: unknown; error: string | undefined }> => {
          const correlation = `c${++seq}`;
          await c.publishAsync(`$rpc/${procedure}`, body, {
            qos: 1,
            properties: { responseTopic: replies, correlationData: Buffer.from(correlation) },
          });
          const mine = (): (typeof log.messages)[number] | undefined =>
            log.messages.find((m) => m.topic === replies && m.packet.properties?.correlationData?.toString() === correlation);
          await waitFor(() => mine() !== undefined, `${id}: the reply to ${procedure}`);
          const m = mine();
          const error = m?.packet.properties?.userProperties?.['error'];
          return {
            value: JSON.parse(m?.payload.toString() ?? 'null') as unknown,
            error: typeof error === 'string' ? error : undefined,
          };
        };
        peer.call = async (procedure, value) => (await request(procedure, JSON.stringify([value]))).value;
        peer.callError = async (procedure) => replyError(await request(procedure, '[]'));
      }
      return peer;
    },
  };
}

// ----- STOMP 1.2: @stomp/stompjs over WebSocket and TCP, stompit over TCP -----

const stompDestination = (canonical: string): string => `/topic/${canonical}`;

function stompjsRow(id: string, transport: 'ws' | 'tcp'): PeerRow {
  return {
    id,
    features: ['call'],
    // STOMP 1.2 §ERROR: the frame, then the connection closes
    refusal: 'ERROR not authorized',
    async open(r) {
      const clients = new StompjsClients();
      const { client } = transport === 'ws' ? await clients.ws(r.stompWsUrl) : await clients.tcp(r.stompPort);
      const c: StompClient = client;
      // STOMP 1.2 §SEND reply-to: /temp-queue/ replies come back to this connection
      const replies = new Inbox();
      await subscribeConfirmed(c, '/temp-queue/mx-replies', replies, { id: 'mx-replies' });
      let seq = 0;
      const request = async (procedure: string, body: string): Promise<{ value: unknown; error: string | undefined }> => {
        const correlation = `c${++seq}`;
        await sendWithReceipt(c, `/rpc/${procedure}`, body, {
          'reply-to': '/temp-queue/mx-replies',
          'correlation-id': correlation,
        });
        const mine = (): (typeof replies.messages)[number] | undefined =>
          replies.messages.find((m) => m.headers['correlation-id'] === correlation);
        await waitFor(() => mine() !== undefined, `${id}: the reply to ${procedure}`);
        const m = mine();
        return { value: JSON.parse(m?.body ?? 'null') as unknown, error: m?.headers['error'] };
      };
      let subs = 0;
      return {
        async subscribe(topic) {
          const inbox = new Inbox();
          await subscribeConfirmed(c, stompDestination(topic), inbox, { id: `s${++subs}` });
          return {
            get values() {
              return inbox.messages.map((m) => JSON.parse(m.body) as unknown);
            },
            close: () => undefined,
          };
        },
        async publish(topic, value) {
          await sendWithReceipt(c, stompDestination(topic), JSON.stringify(value), { 'content-type': 'application/json' });
        },
        subscribeRefused: (topic) =>
          withTimeout(
            new Promise<string>((resolve) => {
              c.onStompError = (f) => resolve(`ERROR ${f.headers['message'] ?? ''}`);
              c.subscribe(stompDestination(topic), () => undefined, { id: `s${++subs}` });
            }),
            WAIT_MS,
            `${id}: the ERROR for SUBSCRIBE ${topic}`,
          ),
        call: async (procedure, value) => (await request(procedure, JSON.stringify([value]))).value,
        callError: async (procedure) => replyError(await request(procedure, '[]')),
        close: () => clients.closeAll(),
      };
    },
  };
}

function stompitRow(id: string): PeerRow {
  return {
    id,
    features: [],
    async open(r) {
      const c: StompitClient = await stompitConnect({
        port: r.stompPort,
        connectHeaders: { 'accept-version': '1.2', host: '/' },
      });
      let subs = 0;
      return {
        async subscribe(topic) {
          const values: unknown[] = [];
          // stompit's subscribe takes no receipt callback: a SEND with a receipt after it
          // proves the router has read the SUBSCRIBE (frames are handled in order)
          c.subscribe({ destination: stompDestination(topic), id: `s${++subs}`, ack: 'auto' }, (err, message) => {
            if (!err) void stompitRead(message).then((body) => values.push(JSON.parse(body)));
          });
          await stompitSend(c, stompDestination('mx.stompit.barrier'), '{}');
          return { values, close: () => undefined };
        },
        async publish(topic, value) {
          await stompitSend(c, stompDestination(topic), JSON.stringify(value));
        },
        close: () => stompitDisconnect(c),
      };
    },
  };
}

function stompitSend(c: StompitClient, destination: string, body: string): Promise<void> {
  return withTimeout(
    new Promise<void>((resolve, reject) => {
      const frame = c.send({ destination, 'content-type': 'application/json' }, { onReceipt: resolve, onError: reject });
      frame.end(body);
    }),
    WAIT_MS,
    `stompit SEND to ${destination}`,
  );
}

// ----- HTTP API: Node's fetch, Server-Sent Events for subscriptions -----

const httpRow: PeerRow = {
  id: 'http',
  features: ['retain', 'retained', 'call'],
  refusal: 'HTTP 403 wamp.error.not_authorized',
  open(r) {
    const readers: SseReader[] = [];
    const ok = (res: { status: number; body: Json }, what: string): Json => {
      if (res.status !== 200) throw new Error(`${what}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
      return res.body;
    };
    const peer: Peer = {
      async subscribe(topic) {
        const reader = await SseReader.open(`${r.apiUrl}/subscribe?topic=${encodeURIComponent(topic)}`);
        readers.push(reader);
        return {
          get values() {
            return reader.events.map((e) => first(e.data['args']));
          },
          close: () => reader.close(),
        };
      },
      async publish(topic, value) {
        ok(await api(`${r.apiUrl}/publish`, { body: { topic, args: [value] } }), `publish ${topic}`);
      },
      async retain(topic, value) {
        ok(await api(`${r.apiUrl}/publish`, { body: { topic, args: [value], options: { retain: true } } }), `retain ${topic}`);
      },
      async retained(topic) {
        return ok(await api(`${r.apiUrl}/store/${encodeURIComponent(topic)}`), `store ${topic}`)['value'];
      },
      async call(procedure, value) {
        return first(ok(await api(`${r.apiUrl}/call`, { body: { procedure, args: [value] } }), `call ${procedure}`)['args']);
      },
      async callError(procedure) {
        const res = await api(`${r.apiUrl}/call`, { body: { procedure, args: [] } });
        return typeof res.body['error'] === 'string' ? res.body['error'] : `HTTP ${res.status}`;
      },
      async subscribeRefused(topic) {
        const reader = await SseReader.open(`${r.apiUrl}/subscribe?topic=${encodeURIComponent(topic)}`);
        readers.push(reader);
        return `HTTP ${reader.status} ${String(reader.error?.['error'])}`;
      },
      close: () => {
        for (const reader of readers) reader.close();
        return Promise.resolve();
      },
    };
    return Promise.resolve(peer);
  },
};

/** Every protocol x transport (x serializer) the router speaks, one row each. */
export const PEERS: readonly PeerRow[] = [
  autobahnRow('wamp-ws-json', (r) => wsOptions(r.wsUrl, 'json')),
  autobahnRow('wamp-ws-msgpack', (r) => wsOptions(r.wsUrl, 'msgpack')),
  autobahnRow('wamp-ws-cbor', (r) => wsOptions(r.wsUrl, 'cbor')),
  autobahnRow('wamp-rawsocket-json', (r) => ({ transports: [rawSocketTransport(r.rawSocketUrl)] })),
  wampyRow('wampy-ws-msgpack', 'msgpack'),
  mqttRow('mqtt311-tcp', 4, (r) => r.mqttUrl),
  mqttRow('mqtt5-tcp', 5, (r) => r.mqttUrl),
  mqttRow('mqtt311-ws', 4, (r) => r.mqttWsUrl),
  mqttRow('mqtt5-ws', 5, (r) => r.mqttWsUrl),
  stompjsRow('stomp12-tcp', 'tcp'),
  stompjsRow('stomp12-ws', 'ws'),
  stompitRow('stompit-tcp'),
  httpRow,
];

export { startHttpRouter, type HttpTestRouter };
