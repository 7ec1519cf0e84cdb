import { randomBytes } from 'node:crypto';
import { connect as mqttConnect, type IClientOptions, type IClientPublishOptions, type MqttClient } from 'mqtt';
import type { IPublishPacket } from 'mqtt-packet';
import { Errors, RouterError } from '../errors';
import type { MessageHeaders } from '../headers';
import { canonicalToMqtt, mqttTopicToCanonical } from '../notation';
import { payloadToBody } from '../payload-body';
import { payloadFromBytes } from '../payload-bytes';
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
    return new Promise((resolve) => client.end(true, () => { resolve(); }));
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
      client.on('message', (topic, body, packet) => { this.received(topic, body, packet); });
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
      // not a catalogue error: the broker's failure, read by the link as a lost connection (it reconnects and logs it)
      const timer = setTimeout(() => { fail(new Error(`no CONNACK within ${this.options.timeoutMs} ms`)); }, this.options.timeoutMs);
      client.once('connect', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        client.removeListener('error', fail);
        client.removeListener('close', closed);
        this.version = version;
        // in the same turn as CONNACK: a close right after it is not missed
        this.client = client;
        client.on('close', () => { this.lost(client, 'connection closed'); });
        client.on('error', (err) => { this.lost(client, err.message); });
        resolve(client);
      });
      // not a catalogue error: the broker's failure, read by the link as a lost connection (it reconnects and logs it)
      const closed = (): void => { fail(new Error('connection closed before CONNACK')); };
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
      client.subscribe(filter, this.version === 5 ? { qos: 1, rap: true } : { qos: 1 }, (err, granted) => {
        // [MQTT-3.9.3] a SUBACK return code of 0x80 or more refuses that filter
        const refused = granted?.find((g) => g.qos >= FAILURE);
        // not a catalogue error: the broker's failure, read by the link as a lost connection (it reconnects and logs it)
        done(err ?? (refused === undefined ? undefined : Object.assign(new Error(`subscription to ${filter} refused`), { code: refused.qos })));
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
        if (err) reject(refusal(reasonOf(err), err.message));
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

/** MQTT 5 PUBLISH properties of a message; null when it expired before it could leave. */
function propertiesOf(m: LinkMessage, now: number): NonNullable<IPublishPacket['properties']> | null {
  const h = m.headers;
  const userProperties: Record<string, string | string[]> = { ...h?.userProperties, [MESSAGE_ID_HEADER]: m.messageId };
  const props: NonNullable<IPublishPacket['properties']> = { userProperties };
  if (h === undefined) return props;
  if (h.expiresAt !== undefined) {
    const left = Math.ceil((h.expiresAt - now) / 1000);
    if (left <= 0) return null;
    // [MQTT-3.3.2-6] what is left of the interval goes on
    props.messageExpiryInterval = left;
  }
  if (h.contentType !== undefined) props.contentType = h.contentType;
  if (h.utf8 !== undefined) props.payloadFormatIndicator = h.utf8;
  if (h.correlationData !== undefined) props.correlationData = Buffer.from(h.correlationData);
  if (h.responseTopic !== undefined) {
    const t = canonicalToMqtt(h.responseTopic);
    if (t !== null) props.responseTopic = t;
  }
  return props;
}

/** Message headers and message id of a received PUBLISH's properties (MQTT 5; none with 3.1.1). */
function headersOf(p: IPublishPacket['properties'], now: number): { headers: MessageHeaders | undefined; messageId: string } {
  if (p === undefined) return { headers: undefined, messageId: '' };
  const { messageId, rest } = takeMessageId(p.userProperties);
  const h: MessageHeaders = {};
  if (rest !== undefined) h.userProperties = rest;
  if (p.contentType !== undefined) h.contentType = p.contentType;
  if (p.payloadFormatIndicator !== undefined) h.utf8 = p.payloadFormatIndicator;
  if (p.correlationData !== undefined) h.correlationData = p.correlationData;
  if (p.messageExpiryInterval !== undefined) h.expiresAt = now + p.messageExpiryInterval * 1000;
  if (p.responseTopic !== undefined) {
    const t = mqttTopicToCanonical(p.responseTopic);
    if (t !== null) h.responseTopic = t;
  }
  return { headers: Object.keys(h).length > 0 ? h : undefined, messageId };
}
