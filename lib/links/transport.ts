import type { MessageHeaders } from '../headers';
import type { Payload } from '../payload';

/**
 * What a link needs of its peer, whatever protocol the peer speaks (README "Links"). The
 * scheme of a link's url picks the transport: ws/wss -> WAMP (another Gatehouse or any
 * WAMP router), mqtt/mqtts -> MQTT (Mosquitto, EMQX, Gatehouse; QoS 1), stomp/stomps ->
 * STOMP (RabbitMQ, ActiveMQ, Gatehouse; SEND with receipt). The link (lib/links/) owns
 * the queue, retries, loop prevention and metrics; a transport only speaks the protocol.
 */

/** A message crossing a link. Topics are canonical (`a.b.c`, lib/notation.ts). */
export interface LinkMessage {
  readonly topic: string;
  readonly payload: Payload;
  /** keep it retained on the other side */
  readonly retain: boolean;
  /**
   * `<origin node>:<publication id>` (lib/publication-taps.ts messageIdOf): a Gatehouse
   * peer drops a message it has already seen by this id; other peers carry it as a header
   * or user property where the protocol has one, or not at all.
   */
  readonly messageId: string;
  readonly headers?: MessageHeaders;
}

/** Credentials and TLS of a link (config `links[].auth`, `links[].tls`). */
export interface LinkAuth {
  /** WAMP authid / MQTT username / STOMP login */
  user?: string;
  password?: string;
}

export interface LinkTls {
  /** PEM files; the peer's certificate is checked against caFile (never skipped) */
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** the name the peer's certificate must carry, when it differs from the url's host */
  serverName?: string;
}

export interface LinkTransportOptions {
  /** the peer, e.g. ws://host:8080/ws, mqtts://host:8883, stomps://host:61614 */
  url: string;
  /** the realm at the peer (WAMP realm; STOMP virtual host where the peer has them) */
  remoteRealm: string;
  auth?: LinkAuth;
  tls?: LinkTls;
  /** how long a connect or an acknowledgement may take before the link counts as down */
  timeoutMs: number;
  /**
   * The link's identity at the peer where the protocol keeps a session by it (the MQTT
   * client id): `gatehouse-link-<node>-<link name>`, stable while the node id is.
   */
  clientId?: string;
}

export interface LinkTransport {
  /** Connects; rejects when the peer cannot be reached or refuses us. */
  connect(): Promise<void>;
  /**
   * Sends one message; resolves once the peer acknowledged it (WAMP PUBLISHED with
   * `acknowledge`, MQTT PUBACK, STOMP RECEIPT). Several may be in flight; they are
   * acknowledged in order.
   */
  send(message: LinkMessage): Promise<void>;
  /** Subscribes at the peer to canonical patterns (fox-wamp wildcards `a.*.c`, `a.#`). */
  subscribe(pattern: string): Promise<void>;
  unsubscribe(pattern: string): Promise<void>;
  /** Calls a procedure at the peer (WAMP only; others reject with feature_not_supported). */
  call?(procedure: string, payload: Payload, timeoutMs: number): Promise<Payload>;
  /** what arrives from the peer's subscriptions */
  onMessage: ((message: LinkMessage) => void) | undefined;
  /** the connection is gone (after connect() resolved); the link reconnects */
  onClose: ((reason: string) => void) | undefined;
  /** closes without waiting for anything in flight */
  close(): Promise<void>;
}
