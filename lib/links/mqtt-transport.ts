import { randomBytes } from 'node:crypto';
import { connect as mqttConnect, type IClientOptions, type IClientPublishOptions, type MqttClient } from 'mqtt';
import type { IPublishPacket } from 'mqtt-packet';
import { Errors, RouterError } from '../errors';
import type { MessageHeaders } from '../headers';
import { canonicalToMqtt, mqttTopicToCanonical } from '../notation';
import { payloadToBody } from '../payload-body';
import { payloadFromBytes } from '../payload-bytes';
import { headersFromMqtt, headersToMqtt } from '../mqtt/properties';
import { MESSAGE_ID_HEADER, takeMessageId } from './peer-headers';
import { peerAddress, peerTlsOptions } from './peer-tls';
import { linkPatternToMqttFilter } from './peer-topics';
import type { LinkMessage, LinkTransport, LinkTransportOptions } from './transport';

/**
 * A link to an MQTT broker (Mosquitto, EMQX, another Gatehouse): mqtt:// or mqtts://.
 * Messages go out as QoS 1 PUBLISH and count as delivered on PUBACK [MQTT-4.3.2]; the
 * link's subscriptions are QoS 1 too. The connection speaks MQTT 5 and falls back to
 * 3.1.1 when the broker refuses 5; with 5 the message id travels as the user property
 * `gatehouse-message-id` and the message headers as PUBLISH properties, with 3.1.1 both
 * are lost (3.1.1 has no properties).
 *
 * The transport never reconnects on its own (the link does, with its backoff): when the
 * connection drops, everything in flight fails with `unavailable` and onClose fires once.
 * connect() may be called again; it subscribes again to what was subscribed before.
 */

export interface MqttTransportOptions {
  /** a stable id keeps the session at the broker across reconnects (clean start off) */
  clientId?: string;
  /** MQTT 5: how long the broker keeps a stable id's session after a disconnect */
  sessionExpirySeconds?: number;
}

/** [MQTT 5 §3.2.2.2] 0x84 Unsupported Protocol Version; [MQTT-3.2.2-4] 3.1.1's 0x01 */
const UNSUPPORTED_VERSION: ReadonlySet<number> = new Set([0x84, 0x01]);
/** [MQTT 5 §2.4] a reason code of 0x80 or more is a failure */
const FAILURE = 0x80;
const KEEPALIVE_SECONDS = 30;

interface InFlight {
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

export class MqttLinkTransport implements LinkTransport {
  onMessage: ((message: LinkMessage) => void) | undefined;
  onClose: ((reason: string) => void) | undefined;

  private client: MqttClient | undefined;
  private version: 4 | 5 = 5;
  private readonly url: URL;
  private readonly clientId: string;
  private readonly patterns = new Set<string>();
  private readonly inFlight = new Set<InFlight>();
  /** connect() has not settled: a loss then is its rejection, not onClose */
  private connecting = false;

  constructor(
    private readonly options: LinkTransportOptions,
    private readonly mqttOptions: MqttTransportOptions = {},
  ) {
    this.url = new URL(options.url);
    if (this.url.protocol !== 'mqtt:' && this.url.protocol !== 'mqtts:') {
      throw new RouterError(Errors.invalidArgument, `not an MQTT url: ${options.url}`);
    }
    this.clientId = mqttOptions.clientId ?? options.clientId ?? `gatehouse-link-${randomBytes(6).toString('hex')}`;
  }

  /** the protocol level the broker accepted: 5, or 4 (3.1.1) */
  get protocolVersion(): 4 | 5 {
    return this.version;
  }

  async connect(): Promise<void> {
    if (this.client !== undefined) throw new RouterError(Errors.invalidArgument, 'already connected');
    this.connecting = true;
    try {
      let client: MqttClient;
      try {
        client = await this.open(5);
      } catch (err) {
        if (!(err instanceof VersionRefused)) throw err;
        client = await this.open(4);
      }
      try {
        for (const pattern of this.patterns) await this.subscribeAt(client, pattern);
      } catch (err) {
        this.lost(client, 'resubscribe failed');
        throw err;
      }
      // lost while subscribing again (the subscription was failed with it, so this is rare;
      // TypeScript cannot see lost() run during the awaits: microsoft/TypeScript#9998)
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
      if (this.client !== client) throw new RouterError(Errors.unavailable, 'connection lost while subscribing');
    } finally {
      this.connecting = false;
    }
  }

  send(message: LinkMessage): Promise<void> {
    const client = this.client;
    if (client === undefined || !client.connected) return Promise.reject(new RouterError(Errors.unavailable, 'link is down'));
    const topic = canonicalToMqtt(message.topic);
    if (topic === null) return Promise.reject(new RouterError(Errors.invalidUri, `MQTT cannot name ${message.topic}`));
    const { body } = payloadToBody(message.payload, message.headers);
    const opts: IClientPublishOptions = { qos: 1, retain: message.retain };
    if (this.version === 5) {
      const props = propertiesOf(message, Date.now());
      if (props === null) return Promise.resolve(); // expired on the way: nothing to deliver
      opts.properties = props;
    }
    return this.acknowledged((done) => client.publish(topic, body, opts, done));
  }

  async subscribe(pattern: string): Promise<void> {
    if (this.patterns.has(pattern)) return;
    const client = this.client;
    if (client === undefined) throw new RouterError(Errors.unavailable, 'link is down');
    await this.subscribeAt(client, pattern);
    this.patterns.add(pattern);
  }

  async unsubscribe(pattern: string): Promise<void> {
    if (!this.patterns.delete(pattern)) return;
    const client = this.client;
    const filter = linkPatternToMqttFilter(pattern);
    if (client === undefined || filter === null) return;
    await this.acknowledged((done) => client.unsubscribe(filter, done));
  }

  close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.failInFlight('link closed');
    if (client === undefined) return Promise.resolve();
    return new Promise((resolve) =>
      client.end(true, () => {
        resolve();
      }),
    );
  }

  private open(version: 4 | 5): Promise<MqttClient> {
    const { host, port } = peerAddress(this.url, this.url.protocol === 'mqtts:' ? 8883 : 1883);
    const persistent = this.mqttOptions.clientId !== undefined || this.options.clientId !== undefined;
    const opts: IClientOptions = {
      host,
      port,
      protocol: this.url.protocol === 'mqtts:' ? 'mqtts' : 'mqtt',
      protocolVersion: version,
      clientId: this.clientId,
      clean: !persistent,
      keepalive: KEEPALIVE_SECONDS,
      connectTimeout: this.options.timeoutMs,
      reconnectPeriod: 0, // the link reconnects, with its own backoff
      ...(this.options.auth?.user === undefined ? {} : { username: this.options.auth.user }),
      ...(this.options.auth?.password === undefined ? {} : { password: this.options.auth.password }),
    };
    if (version === 5 && persistent) opts.properties = { sessionExpiryInterval: this.mqttOptions.sessionExpirySeconds ?? 3600 };
    if (this.url.protocol === 'mqtts:') Object.assign(opts, peerTlsOptions(host, this.options.tls));
    return new Promise((resolve, reject) => {
      const client = mqttConnect(opts);
      // an 'error' nobody listens to would throw: errors of a connection are handled by
      // the listeners below and by lost(), and this one outlives both
      client.on('error', ignore);
      // from the start: a resumed session's queued messages can follow CONNACK in the same
      // read, before connect() resumes [MQTT-4.4.0-1]
      client.on('message', (topic, body, packet) => {
        this.received(topic, body, packet);
      });
      let settled = false;
      const fail = (err: Error & { code?: unknown }): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        client.end(true);
        const code = typeof err.code === 'number' ? err.code : -1;
        if (version === 5 && UNSUPPORTED_VERSION.has(code)) reject(new VersionRefused());
        else reject(refusal(code, err.message));
      };
      // unavailable (refusal() of no reason code): the link takes any failed connect as a lost peer, reconnects and logs it
      const timer = setTimeout(() => {
        fail(new RouterError(Errors.unavailable, `no CONNACK within ${this.options.timeoutMs} ms`));
      }, this.options.timeoutMs);
      client.once('connect', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        client.removeListener('error', fail);
        client.removeListener('close', closed);
        this.version = version;
        // in the same turn as CONNACK: a close right after it is not missed
        this.client = client;
        client.on('close', () => {
          this.lost(client, 'connection closed');
        });
        client.on('error', (err) => {
          this.lost(client, err.message);
        });
        resolve(client);
      });
      const closed = (): void => {
        fail(new RouterError(Errors.unavailable, 'connection closed before CONNACK'));
      };
      client.once('error', fail);
      client.once('close', closed);
    });
  }

  private subscribeAt(client: MqttClient, pattern: string): Promise<void> {
    const filter = linkPatternToMqttFilter(pattern);
    if (filter === null) return Promise.reject(new RouterError(Errors.invalidUri, `MQTT cannot name ${pattern}`));
    return this.acknowledged((done) =>
      // MQTT 5 "retain as published" [MQTT-3.3.1-13]: a retained publication stays
      // retained on our side too; without it (and in 3.1.1) only the replay on subscribe
      // carries the flag [MQTT-3.3.1-9]
      client.subscribe(filter, this.version === 5 ? { qos: 1, rap: true } : { qos: 1 }, (err, _granted, suback) => {
        // [MQTT-3.9.3] a SUBACK return code of 0x80 or more refuses that filter. mqtt.js
        // reports it as an error without the code (ErrorWithSubackPacket), so the code is
        // read from the SUBACK itself: 0x87 is not_authorized, not unavailable
        const codes: readonly unknown[] = suback?.granted ?? [];
        const refused = codes.find((code): code is number => typeof code === 'number' && code >= FAILURE);
        done(refused === undefined ? err : refusal(refused, `subscription to ${filter} refused`));
      }),
    );
  }

  /** Runs one request; settles on its acknowledgement, fails after timeoutMs and drops the connection. */
  private acknowledged(request: (done: (err?: Error | null) => void) => void): Promise<void> {
    return new Promise((resolve, reject) => {
      const entry: InFlight = {
        reject,
        timer: setTimeout(() => {
          this.inFlight.delete(entry);
          reject(new RouterError(Errors.timeout, `no acknowledgement within ${this.options.timeoutMs} ms`));
          // a peer that stops acknowledging is as good as gone: let the link reconnect
          if (this.client !== undefined) this.lost(this.client, 'acknowledgement timed out');
        }, this.options.timeoutMs),
      };
      this.inFlight.add(entry);
      request((err) => {
        if (!this.inFlight.delete(entry)) return; // already failed
        clearTimeout(entry.timer);
        if (err) reject(err instanceof RouterError ? err : refusal(reasonOf(err), err.message));
        else resolve();
      });
    });
  }

  private received(topic: string, body: Buffer, packet: IPublishPacket): void {
    const canonical = mqttTopicToCanonical(topic);
    if (canonical === null) return; // not a topic name (cannot happen from a broker)
    const { headers, messageId } = headersOf(packet.properties, Date.now());
    const message: LinkMessage = {
      topic: canonical,
      payload: payloadFromBytes(body, headers),
      retain: packet.retain,
      messageId,
      ...(headers === undefined ? {} : { headers }),
    };
    this.onMessage?.(message);
  }

  private lost(client: MqttClient, reason: string): void {
    if (this.client !== client) return; // an old connection, or closed by us
    this.client = undefined;
    client.end(true);
    this.failInFlight(reason);
    if (!this.connecting) this.onClose?.(reason);
  }

  private failInFlight(reason: string): void {
    for (const entry of this.inFlight) {
      clearTimeout(entry.timer);
      entry.reject(new RouterError(Errors.unavailable, reason));
    }
    this.inFlight.clear();
  }
}

class VersionRefused extends Error {}

function ignore(): void {
  // see open()
}

function reasonOf(err: Error): number {
  const code = (err as Error & { code?: unknown }).code;
  return typeof code === 'number' ? code : -1;
}

/** The catalogue's error for a CONNACK, PUBACK or SUBACK reason code [MQTT 5 §2.4]. */
function refusal(code: number, message: string): RouterError {
  switch (code) {
    case 0x04: // 3.1.1 bad user name or password
    case 0x05: // 3.1.1 not authorized
    case 0x86:
    case 0x87:
    case 0x8c:
      return new RouterError(Errors.notAuthorized, message);
    case 0x90:
    case 0x8f:
      return new RouterError(Errors.invalidUri, message);
    default:
      return new RouterError(Errors.unavailable, message);
  }
}

/** MQTT 5 PUBLISH properties of a message, mapped as the MQTT gate maps them
 *  (lib/mqtt/properties.ts) plus the message id; null when it expired before it could
 *  leave. */
function propertiesOf(m: LinkMessage, now: number): NonNullable<IPublishPacket['properties']> | null {
  const h = m.headers;
  const userProperties: Record<string, string | string[]> = { ...h?.userProperties, [MESSAGE_ID_HEADER]: m.messageId };
  const responseTopic = h?.responseTopic === undefined ? null : canonicalToMqtt(h.responseTopic);
  return headersToMqtt({ ...h, userProperties }, now, responseTopic ?? undefined);
}

/** Message headers and message id of a received PUBLISH's properties (MQTT 5; none with 3.1.1). */
function headersOf(p: IPublishPacket['properties'], now: number): { headers: MessageHeaders | undefined; messageId: string } {
  if (p === undefined) return { headers: undefined, messageId: '' };
  const { messageId, rest } = takeMessageId(p.userProperties);
  let h = headersFromMqtt({ ...p, userProperties: rest }, now);
  if (p.responseTopic !== undefined) {
    const t = mqttTopicToCanonical(p.responseTopic);
    if (t !== null) (h ??= {}).responseTopic = t;
  }
  return { headers: h, messageId };
}
