import { isUtf8 } from 'node:buffer';
import type { Duplex } from 'node:stream';
import mqttPacket, {
  type IPubackPacket,
  type IPubcompPacket,
  type IPubrecPacket,
  type IPubrelPacket,
  type Packet,
  type Parser,
} from 'mqtt-packet';
import type { Timer } from '../../lib/clock';
import { ConnectionFlow, type ConnectionFlowHooks } from '../../lib/connection-flow';
import type { OutboundFlow } from '../../lib/outbox';
import { WriteBatch } from '../../lib/write-batch';
import type { TransportInfo } from '../../lib/session';
import type { MqttGateContext } from './context';
import { handleConnect } from './handlers/connect';
import { handleDisconnect } from './handlers/disconnect';
import { handlePuback, handlePubcomp, handlePubrec } from './handlers/acks';
import { handlePublish, handlePubrel } from './handlers/publish';
import { handleSubscribe, handleUnsubscribe } from './handlers/subscribe';
import type { MqttLink, MqttSession, Outbound } from './mqtt-session';
import { outboundPublish } from './outbound';
import { PacketReader } from './packet-reader';
import { ACK, bodyOf, mqttTopicName, publishSize, writeAck, writePublish } from './publish-frame';
import { RC } from './reason-codes';
import { connectionClosed } from './lifecycle';

type State = 'connect' | 'connected' | 'closed';

const ignore = (): void => undefined;

/** packets a client may send between CONNECT and CONNACK before it is cut off */
const BACKLOG_MAX = 64;

/**
 * One MQTT network connection: the codec (mqtt-packet), the keep-alive, the order of
 * packets, and the send side with its backpressure. What a packet means is in
 * handlers/; the session state that outlives the connection is in MqttSession.
 */
export class MqttConnection implements MqttLink, ConnectionFlowHooks<undefined> {
  state: State = 'connect';
  version: 3 | 4 | 5 = 4;
  /** the client's receive maximum (MQTT 5 §3.1.2.11.3) */
  receiveMaximum = 65535;
  /** the client's maximum packet size; larger packets are not sent to it */
  clientMaxPacket = Infinity;
  /** the client's topic alias maximum: aliases we may use towards it */
  clientTopicAliasMax = 0;
  session: MqttSession | undefined;
  private _inboundAliases: Map<number, string> | undefined;
  /** inbound topic aliases (MQTT 5 §3.3.2.3.4); made on first use, as the collections below:
   *  an idle connection holds none (issue 15, footprint) */
  get inboundAliases(): Map<number, string> {
    return (this._inboundAliases ??= new Map<number, string>());
  }
  private _outboundAliases: Map<string, number> | undefined;
  /** outbound topic aliases we assigned, by MQTT topic name */
  get outboundAliases(): Map<string, number> {
    return (this._outboundAliases ??= new Map<string, number>());
  }
  /** inbound QoS 1 publications not yet acknowledged (receive maximum, our side) */
  inboundPending = 0;
  private _awaitingPubrel: Set<number> | undefined;
  /** inbound QoS 2 publications of this connection awaiting PUBREL: they count against our receive maximum until PUBCOMP */
  get awaitingPubrel(): Set<number> {
    return (this._awaitingPubrel ??= new Set<number>());
  }
  /** the last inbound topic name and its canonical topic (publishers repeat theirs) */
  lastTopicName = '';
  lastTopic = '';
  /** a DISCONNECT that suppresses the will was received */
  cleanDisconnect = false;
  private readonly parser: Parser;
  private readonly reader: PacketReader;
  /** input pause, the inbound rate limit (throttle, then DISCONNECT 0x96) and the outbox */
  private readonly flowControl: ConnectionFlow;
  /** what this turn writes, handed to the socket in one write */
  private readonly batch: WriteBatch;
  private keepAliveTimer: Timer | undefined;
  private keepAliveMs = 0;
  private connectTimer: Timer | undefined;
  private generateOpts: { protocolVersion: number } = { protocolVersion: 4 };
  /** a CONNECT was read (its version set the codec's): another one is a protocol error */
  private connectRead = false;
  /** packets that came while CONNECT was being authenticated; replayed after CONNACK */
  private backlog: Packet[] | undefined;

  constructor(
    readonly ctx: MqttGateContext,
    private readonly stream: Duplex,
    readonly info: TransportInfo,
  ) {
    this.parser = mqttPacket.parser({ protocolVersion: 4 });
    strictStrings(this.parser);
    this.parser.on('packet', (p: Packet) => {
      this.onPacket(p);
    });
    this.parser.on('error', (err: unknown) => {
      this.codecError(err);
    });
    this.reader = new PacketReader(
      this.parser,
      (p) => {
        this.onPacket(p);
      },
      ctx.config.limits.maxMessageSize,
      () => this.state !== 'closed',
    );
    this.batch = new WriteBatch((data) => stream.write(data));
    // the connection is its flow's hooks (methods, not a closure each: issue 15, footprint)
    this.flowControl = new ConnectionFlow(ctx, info.peer, stream, this);
    stream.on('data', (chunk: Buffer) => {
      this.onData(chunk);
    });
    stream.on('close', () => {
      this.onClose();
    });
    stream.on('error', ignore); // 'close' follows
    this.connectTimer = ctx.clock.setTimeout(() => {
      this.destroy();
    }, ctx.config.mqtt.connectTimeoutMs);
    this.connectTimer.unref();
  }

  // ConnectionFlowHooks
  queuedBytes(): number {
    return this.stream.writableLength + this.batch.length;
  }

  rateExceeded(): void {
    this.fail(RC.MESSAGE_RATE_TOO_HIGH, 'message rate too high');
  }

  onDrain(cb: () => void): void {
    this.stream.once('drain', cb);
  }

  kill(): void {
    this.ctx.log.warn({ peer: this.info.peer, client: this.session?.clientId }, 'slow consumer disconnected');
    this.destroy();
  }

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    this.touch();
    try {
      this.reader.push(chunk);
    } catch (err) {
      this.malformed(err instanceof Error ? err.message : 'malformed packet');
      return;
    }
    // the limit applies to the packet being read, before it is complete: to the
    // remaining length its fixed header declares (a peer that announces a huge packet
    // and sends nothing more is refused at once, not kept waiting for the rest) and to
    // what the codec holds of it
    const codec = this.parser as unknown as { _list?: { length: number }; packet?: { length?: number } };
    const max = this.ctx.config.limits.maxMessageSize;
    if ((codec.packet?.length ?? -1) > max || (codec._list?.length ?? 0) > max + 5) {
      this.fail(RC.PACKET_TOO_LARGE, 'packet exceeds the maximum packet size');
    }
  }

  private onPacket(p: Packet): void {
    if (this.state === 'closed') return;
    // a whole packet can arrive in one chunk, past the check in onData: our maximum
    // packet size (announced in CONNACK) applies to it as well
    const size = packetSize(p);
    // counted per packet, not per network chunk ($SYS and the metrics say messages)
    this.ctx.counters.in(size);
    if (size > this.ctx.config.limits.maxMessageSize) {
      this.fail(RC.PACKET_TOO_LARGE, 'packet exceeds the maximum packet size');
      return;
    }
    if (!this.flowControl.admit(size)) return;
    if (this.backlog) {
      // a client may send before CONNACK (MQTT 5 §3.1.4); a bounded few wait for the verdict
      if (this.backlog.length >= BACKLOG_MAX) {
        this.destroy();
        return;
      }
      this.backlog.push(p);
      return;
    }
    this.process(p);
  }

  /** CONNECT is being authenticated (password hash, dynamic authenticator): hold later packets. */
  holdPackets(): void {
    this.backlog ??= [];
  }

  /** The verdict is in: handle what was held (dropped if the connection was refused). */
  releasePackets(): void {
    // still deciding (the will's permission, asked after the password): keep holding
    if (this.state === 'connect') return;
    const held = this.backlog ?? [];
    this.backlog = undefined;
    for (const p of held) {
      if (this.state !== 'connected') return;
      this.process(p);
    }
  }

  private process(p: Packet): void {
    try {
      this.dispatch(p);
    } catch (err) {
      // a bug of ours must not take the process down: end this connection only
      this.ctx.log.error({ err, client: this.session?.clientId }, 'unexpected error handling an MQTT packet');
      this.fail(RC.UNSPECIFIED_ERROR, 'internal error');
    }
  }

  private dispatch(p: Packet): void {
    if (this.state === 'connect') {
      // [MQTT-3.1.0-1] the first packet must be CONNECT
      if (p.cmd !== 'connect') {
        this.destroy();
        return;
      }
      this.ctx.clock.clearTimeout(this.connectTimer);
      handleConnect(this, p);
      return;
    }
    switch (p.cmd) {
      case 'publish':
        handlePublish(this, p);
        return;
      case 'puback':
      case 'pubrec':
      case 'pubrel':
      case 'pubcomp':
        // [MQTT-2.3.1-1] these carry a packet identifier: with less than its two bytes
        // the packet is malformed (the codec reads it as id -1), and answering it would
        // send an acknowledgement for no packet (5.0 §4.13: DISCONNECT 0x81, 3.1.1 close)
        if ((p.length ?? 0) < 2) {
          this.fail(RC.MALFORMED_PACKET, `${p.cmd} without a packet identifier`);
          return;
        }
        this.dispatchAck(p);
        return;
      case 'subscribe':
        handleSubscribe(this, p);
        return;
      case 'unsubscribe':
        handleUnsubscribe(this, p);
        return;
      case 'pingreq':
        this.batch.push(PINGRESP);
        this.ctx.counters.out(PINGRESP.length);
        this.flowControl.wrote();
        return;
      case 'disconnect':
        handleDisconnect(this, p);
        return;
      case 'connect':
        // [MQTT-3.1.0-2] a second CONNECT is a protocol violation
        this.fail(RC.PROTOCOL_ERROR, 'second CONNECT');
        return;
      default:
        this.fail(RC.PROTOCOL_ERROR, `${p.cmd} is not sent by clients`);
        return;
    }
  }

  private dispatchAck(p: IPubackPacket | IPubrecPacket | IPubrelPacket | IPubcompPacket): void {
    switch (p.cmd) {
      case 'puback':
        handlePuback(this, p);
        return;
      case 'pubrec':
        handlePubrec(this, p);
        return;
      case 'pubrel':
        handlePubrel(this, p);
        return;
      case 'pubcomp':
        handlePubcomp(this, p);
        return;
    }
  }

  // ----- set up by CONNECT -----

  setVersion(v: 3 | 4 | 5): void {
    this.connectRead = true;
    this.version = v;
    this.generateOpts = { protocolVersion: v };
    this.reader.version = v;
    // the codec must read the rest of the stream with this version's packet layout
    (this.parser as unknown as { settings: { protocolVersion: number } }).settings.protocolVersion = v;
  }

  /** Keep alive: a client silent for 1.5 times its interval is gone ([MQTT-3.1.2-24]). */
  setKeepAlive(seconds: number): void {
    this.keepAliveMs = seconds * 1500;
    this.touch();
  }

  private touch(): void {
    if (this.keepAliveMs <= 0) return;
    if (this.keepAliveTimer) this.keepAliveTimer.refresh();
    else {
      this.keepAliveTimer = this.ctx.clock.setTimeout(() => {
        this.ctx.log.info({ client: this.session?.clientId, peer: this.info.peer }, 'keep alive timeout');
        this.fail(RC.KEEP_ALIVE_TIMEOUT, 'keep alive timeout');
      }, this.keepAliveMs);
      this.keepAliveTimer.unref();
    }
  }

  // ----- sending -----

  /** the socket side of the session's paced writes (retained replay): MqttSession adds its window */
  get flow(): OutboundFlow {
    return this.flowControl;
  }

  /** Sends a packet; the result is the outbox's "may write more". */
  send(packet: Packet): boolean {
    if (this.state === 'closed') return false;
    return this.write(packet) ? this.flowControl.wrote() : true;
  }

  /** Encodes and writes; false when the packet was not written (not encodable, too large for the client). */
  private write(packet: Packet): boolean {
    let buf: Buffer;
    try {
      buf = mqttPacket.generate(packet, this.generateOpts);
    } catch (err) {
      this.ctx.log.error({ err, cmd: packet.cmd }, 'cannot encode MQTT packet');
      return false;
    }
    if (buf.length === 0) {
      // mqtt-packet reports some invalid packets (an empty user property list, say) by
      // generating nothing rather than throwing
      this.ctx.log.error({ cmd: packet.cmd }, 'cannot encode MQTT packet');
      return false;
    }
    if (buf.length > this.clientMaxPacket) {
      // MQTT 5 §3.1.2.11.4: never send a packet above the client's maximum; it is dropped
      this.ctx.drop('client_max_packet_size');
      return false;
    }
    this.batch.push(buf);
    this.ctx.counters.out(buf.length);
    return true;
  }

  /** PUBACK, PUBREC, PUBREL or PUBCOMP (by its header byte, ACK) with success and no properties. */
  sendAck(headerByte: number, packetId: number): boolean {
    if (this.state === 'closed') return false;
    const v5 = this.version === 5;
    if ((v5 ? 6 : 4) > this.clientMaxPacket) {
      this.ctx.drop('client_max_packet_size');
      return true;
    }
    this.ctx.counters.out(writeAck(this.batch, headerByte, packetId, v5));
    return this.flowControl.wrote();
  }

  sendPublish(msg: Outbound, packetId: number, dup: boolean): void {
    if (this.state === 'closed') return;
    // no properties to send: written straight into the batch (publish-frame.ts)
    if (this.version !== 5 || (msg.headers === undefined && msg.subscriptionIds.length === 0 && this.clientTopicAliasMax === 0)) {
      if (this.writePlainPublish(msg, packetId, dup)) {
        this.flowControl.wrote();
        return;
      }
      if (packetId !== 0) this.session?.completed(packetId);
      return;
    }
    const packet = outboundPublish(this, msg, packetId, dup);
    if (packet) {
      if (this.write(packet)) {
        this.flowControl.wrote();
        return;
      }
      // not sent: an alias this packet was to introduce stays unknown to the client
      if (packet.topic !== '' && packet.properties?.topicAlias !== undefined) this.outboundAliases.delete(packet.topic);
    }
    // expired on the way, or discarded as too large [MQTT-3.1.2-25]: done with it, as if
    // sent, so it does not hold a place in the in-flight window
    if (packetId !== 0) this.session?.completed(packetId);
  }

  /** A PUBLISH without properties; false when it was not written (topic not expressible, too large). */
  private writePlainPublish(msg: Outbound, packetId: number, dup: boolean): boolean {
    const topic = mqttTopicName(msg.topic);
    if (topic === null) {
      this.ctx.drop('topic_not_expressible_in_mqtt');
      return false;
    }
    const body = bodyOf(msg.payload, msg.headers);
    const header = { qos: msg.qos, retain: msg.retain, dup, packetId, v5: this.version === 5 };
    const size = publishSize(topic, body, header);
    if (size > this.clientMaxPacket || size > MAX_PACKET) {
      // MQTT 5 §3.1.2.11.4: never send a packet above the client's maximum; it is dropped
      this.ctx.drop('client_max_packet_size');
      return false;
    }
    writePublish(this.batch, size, topic, body, header);
    this.ctx.counters.out(size);
    return true;
  }

  sendPubrel(packetId: number): void {
    this.sendAck(ACK.pubrel, packetId);
  }

  // ----- ending -----

  /** MQTT 5: DISCONNECT with a reason before closing; older versions just close. */
  disconnect(reasonCode: number, reason: string): void {
    if (this.state === 'closed') return;
    if (this.version === 5 && this.state === 'connected') {
      this.send({ cmd: 'disconnect', reasonCode, properties: { reasonString: reason } });
    }
    this.end();
  }

  /** A protocol error: counted, logged, answered per version, connection closed. */
  fail(reasonCode: number, reason: string): void {
    this.ctx.counters.errors(`mqtt_0x${reasonCode.toString(16)}`);
    this.ctx.log.info(
      { client: this.session?.clientId, peer: this.info.peer, reasonCode, reason },
      'MQTT connection closed on error',
    );
    this.disconnect(reasonCode, reason);
  }

  private codecError(err: unknown): void {
    const pending = (this.parser as unknown as { packet?: { cmd?: string; protocolVersion?: number } }).packet;
    if (pending?.cmd === 'connect' && this.connectRead) {
      // a second CONNECT while the first is still being handled ([MQTT-3.1.0-2])
      this.fail(RC.PROTOCOL_ERROR, 'second CONNECT');
      return;
    }
    if (
      this.state === 'connect' &&
      pending?.cmd === 'connect' &&
      pending.protocolVersion !== undefined &&
      ![3, 4, 5].includes(pending.protocolVersion)
    ) {
      this.unsupportedLevel();
      return;
    }
    this.malformed(err instanceof Error ? err.message : 'malformed packet');
  }

  /**
   * A CONNECT with a protocol level we do not speak: 3.1.1 [MQTT-3.1.2-2] CONNACK 0x01
   * then close; 5.0 [MQTT-3.1.2-2] MAY send a CONNACK, MUST close. The client's packet
   * layout is unknown: the 3.1.1 CONNACK (as mosquitto and EMQX answer), not 5.0's 0x84.
   */
  private unsupportedLevel(): void {
    this.ctx.counters.errors(`mqtt_connect_0x${RC.UNSUPPORTED_PROTOCOL_VERSION.toString(16)}`);
    this.send({ cmd: 'connack', sessionPresent: false, returnCode: 1 });
    this.end();
  }

  private malformed(message: string): void {
    if (this.state === 'closed') return; // one error per connection: the codec may report a second
    this.fail(RC.MALFORMED_PACKET, message);
  }

  end(): void {
    if (this.state === 'closed') return;
    this.batch.flush();
    this.stream.end();
    setTimeout(() => this.stream.destroy(), 1000).unref();
    this.onClose();
  }

  destroy(): void {
    this.batch.discard();
    this.stream.destroy();
    this.onClose();
  }

  private onClose(): void {
    if (this.state === 'closed') return;
    const wasConnected = this.state === 'connected';
    this.state = 'closed';
    this.ctx.clock.clearTimeout(this.keepAliveTimer);
    this.ctx.clock.clearTimeout(this.connectTimer);
    this.flowControl.dispose();
    this.batch.discard();
    if (wasConnected) connectionClosed(this);
  }
}

const PINGRESP = Buffer.from([0xd0, 0]);
/** the largest packet MQTT can frame: remaining length at most 268,435,455 (§1.5.5) */
const MAX_PACKET = 1 + 4 + 268_435_455;

/** Size of a parsed packet on the wire: fixed header byte, remaining length field, the rest. */
function packetSize(p: Packet): number {
  const remaining = p.length ?? 0;
  return 1 + (remaining < 128 ? 1 : remaining < 16384 ? 2 : remaining < 2097152 ? 3 : 4) + remaining;
}

interface CodecInternals {
  _list: { slice(start: number, end: number): Buffer };
  _pos: number;
  _parseString: (this: CodecInternals) => string | null;
  _emitError: (err: Error) => void;
}

/**
 * mqtt-packet decodes UTF-8 strings leniently (ill-formed bytes become U+FFFD) and lets
 * U+0000 through; MQTT makes a packet holding either malformed, whatever the string
 * (topic, filter, client identifier, property): [MQTT-1.5.3-1] [MQTT-1.5.3-2], 5.0
 * [MQTT-1.5.4-1] [MQTT-1.5.4-2]. The codec's string reader is checked on the bytes read.
 */
function strictStrings(parser: Parser): void {
  const codec = parser as unknown as CodecInternals;
  const lenient = codec._parseString;
  codec._parseString = function (this: CodecInternals): string | null {
    const start = this._pos + 2;
    const s = lenient.call(this);
    if (s === null) return s;
    const illFormed = s.includes('\uFFFD') && !isUtf8(this._list.slice(start, this._pos));
    if (!illFormed && !s.includes('\u0000')) return s;
    // not a catalogue error: the parser's error event, which codecError() answers as a protocol violation
    this._emitError(new Error(illFormed ? 'ill-formed UTF-8 string' : 'U+0000 in a string'));
    return null;
  };
}
