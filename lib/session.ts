import { globalId } from './ids';
import type { BrokerEvent, Subscription } from './broker';
import type { RouterError } from './errors';
import type { OutboundFlow } from './outbox';
import type { Consumer } from './work-queues';

/** What the core knows about the transport a session arrived on. */
export interface TransportInfo {
  /** the gate: wamp, mqtt, stomp, http */
  gate: string;
  /** websocket, rawsocket, tcp, ... */
  type: string;
  /** remote address, e.g. "127.0.0.1:50312" */
  peer: string;
  /** serializer or protocol version, when the gate has one */
  protocol?: string;
  /** the certificate a TLS client presented (lib/tls-options.ts clientCertificateOf) */
  clientCertificate?: ClientCertificate;
}

/** A TLS client certificate as the core sees it. */
export interface ClientCertificate {
  /** subject fields, e.g. { CN: 'device-7', O: 'Example' }; repeated fields joined with ',' */
  subject: Record<string, string>;
  /** SHA-256 fingerprint, colon-separated hex as Node prints it */
  fingerprint256: string;
  /** verified against the listener's CA bundle */
  authorized: boolean;
}

export interface SessionIdentity {
  authid: string;
  authrole: string;
  authmethod: string;
  authprovider: string;
  authextra?: Record<string, unknown>;
}

/**
 * The gate's side of a session: how the core closes it (kill, slow consumer,
 * shutdown). Message delivery goes through per-subscription sinks and per-registration
 * callees, not through here.
 */
export interface SessionControl {
  close(reason: RouterError, message?: string): void;
  /**
   * Rights were taken away (a config reload): the core has already ended these
   * subscriptions and registrations, and the gate tells its client the way its protocol
   * can (README "Reloading the configuration"). A gate without this hook has the
   * session closed with `reason` instead.
   */
  revoked?(lost: readonly Revocation[], reason: RouterError): void;
}

/** A subscription, registration or queue consumer the core ended because it is no longer allowed. */
export interface Revocation {
  readonly kind: 'subscription' | 'registration' | 'queue';
  /** the core's subscription or registration ID (0 for a queue consumer) */
  readonly id: number;
  readonly uri: string;
  /** kind 'queue': the work-queue consumer that was cancelled */
  readonly consumer?: Consumer;
}

/** Tells the session's gate what it lost (SessionControl.revoked), or closes the session when the gate cannot. */
export function tellRevoked(session: Session, lost: readonly Revocation[], reason: RouterError): void {
  if (session.control.revoked) session.control.revoked(lost, reason);
  else session.control.close(reason);
}

/** Live events held back during a retained replay (lib/retained-replay.ts). */
export interface LiveHold {
  /** an event for one subscription (delivered through its sink at the time) */
  event(event: BrokerEvent, sub: Subscription): void;
  /** an event for a singleDelivery session: one copy for these subscriptions */
  events(event: BrokerEvent, subs: readonly Subscription[]): void;
}

/** A client session as the core sees it. Protocol details stay in the gate. */
export class Session {
  readonly id: number;
  /**
   * The connection the session is on. Replaced when a persistent session (MQTT) is
   * resumed by a new connection, so the session meta API shows where its client is now.
   */
  transport: TransportInfo;
  /**
   * Who the session is. Replaced only when a persistent session (MQTT) is resumed by a
   * new connection of the same authid: its freshly verified identity (role included).
   */
  identity: SessionIdentity;
  readonly control: SessionControl;
  readonly joinedAt = Date.now();
  /** set by the realm when the session has left; late callbacks check it */
  closed = false;
  /** kept for a client that is not connected (an MQTT persistent session); set by the router */
  parked = false;
  /** the realm the session belongs to; set on join */
  realmName = '';
  /**
   * Set by gates whose protocol wants one copy of an event however many of the
   * session's subscriptions match it (MQTT: overlapping subscriptions, highest QoS
   * wins). The broker then calls this once per event instead of each sink.
   */
  singleDelivery: ((event: BrokerEvent, subscriptions: readonly Subscription[]) => void) | undefined;
  /**
   * Set by the gate: its connection's outbound path, which paces a retained replay
   * (lib/retained-replay.ts). Without one a replay is written in one go.
   */
  flow: OutboundFlow | undefined;
  /**
   * Set while a retained replay runs for this session: the broker hands it the live
   * events meant for the session, delivered once the replay is done.
   */
  held: LiveHold | undefined;
  /**
   * Messages the realm accepted from the session (publishes and calls, after
   * authorization) and messages the core handed to it (events and call results), for
   * the admin console (gatehouse.admin.session.get). Plain counters: no per-message cost.
   */
  messagesIn = 0;
  messagesOut = 0;
  /**
   * Set by a gate whose session keeps a store queue while its client is away (MQTT
   * persistent session): that queue's store name, so the admin console can tell whether
   * the queue has a consumer (the session is connected) or none.
   */
  offlineQueue: string | undefined;

  /** `id`: one the gate already announced (WAMP-CRA challenges name the session to be) */
  constructor(transport: TransportInfo, identity: SessionIdentity, control: SessionControl, id: number = globalId()) {
    this.id = id;
    this.transport = transport;
    this.identity = identity;
    this.control = control;
  }

  /** the session details of the WAMP session meta API */
  details(): Record<string, unknown> {
    return {
      session: this.id,
      authid: this.identity.authid,
      authrole: this.identity.authrole,
      authmethod: this.identity.authmethod,
      authprovider: this.identity.authprovider,
      authextra: this.identity.authextra ?? {},
      // gate and joined: Gatehouse's additions (the admin console shows MQTT and STOMP
      // sessions beside WAMP ones, and since when they are connected)
      transport: {
        gate: this.transport.gate,
        type: this.transport.type,
        peer: this.transport.peer,
        protocol: this.transport.protocol,
      },
      realm: this.realmName,
      joined: new Date(this.joinedAt).toISOString(),
      offline: this.parked,
    };
  }
}
