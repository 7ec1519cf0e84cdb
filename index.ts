/**
 * Gatehouse public API: the Router with its listen helpers, and the types an embedding
 * application needs.
 */
import type http from 'node:http';
import { createGateContext } from './lib/gate-context';
import { createHttpServer, type WebSocketEndpointOptions } from './lib/listeners';
import { tlsFromConfig, type TlsOptions } from './lib/tls-options';
import type express from 'express';
import { wampGate } from './gates/wamp/gate';
import { mqttGate } from './gates/mqtt/gate';
import { stompGate } from './gates/stomp/gate';
import { createHttpContext, type HttpGateContext } from './gates/http/context';
import { GateRegistry } from './lib/gate-registry';
import type { DashboardOptions } from './lib/dashboard/routes';
import type * as DashboardRoutes from './lib/dashboard/routes';
import type * as HttpApi from './gates/http/api';
import { createQueueService, type QueueService } from './lib/queue-service';
import { RouterCore, type Listener } from './lib/router';
import { serveProtocolsOn } from './lib/universal-port';

export type { Config } from './lib/config';
export type { Listener, RouterOptions } from './lib/router';
export type { Clock, Timer } from './lib/clock';
export type { WebSocketEndpointOptions } from './lib/listeners';
export type { TlsOptions } from './lib/tls-options';
export type { ClientCertificate, TransportInfo } from './lib/session';
export { Errors, RouterError, ApplicationError } from './lib/errors';
export type { DashboardOptions } from './lib/dashboard/routes';

// The console and the HTTP API are Express routers; Express (about 5 MB resident) is
// loaded when one of them is first asked for, not by every router (README "Footprint").
/* eslint-disable @typescript-eslint/no-require-imports -- modules loaded on first use */
const dashboardModule = (): typeof DashboardRoutes => require('./lib/dashboard/routes') as typeof DashboardRoutes;
const httpApiModule = (): typeof HttpApi => require('./gates/http/api') as typeof HttpApi;
/* eslint-enable @typescript-eslint/no-require-imports */

/** The admin console as an Express router, for an application's own Express app. */
export function dashboardRouter(opts: DashboardOptions): express.Router {
  return dashboardModule().dashboardRouter(opts);
}

export class Router extends RouterCore {
  private queueService: QueueService | undefined;
  private httpCtx: HttpGateContext | undefined;
  /** the protocol gates; each one's context is made on first use (lib/gate-registry.ts) */
  private readonly gates = new GateRegistry((gate) =>
    gate.createContext(this, {
      work: () => this.work,
      onClose: (fn) => {
        this.onClose(fn);
      },
    }),
  )
    .register(wampGate)
    .register(mqttGate)
    .register(stompGate);

  /** Work queues and durable subscriptions, shared by the gates that use them (restored on first use). */
  private get work(): QueueService {
    return this.queueService ?? this.openWork();
  }

  private openWork(): QueueService {
    const service = (this.queueService = createQueueService(this));
    this.onClose(() => {
      service.close();
    });
    this.onReload(() => service.revokeUnauthorized());
    return service;
  }

  /**
   * In a cluster every node feeds the durable subscriptions with what its clients publish
   * (lib/durable-subscriptions.ts), whatever protocols it serves: the queue service starts
   * with the router, not with the first STOMP connection.
   */
  override async start(): Promise<void> {
    await super.start();
    if (this.cluster && !this.queueService) this.openWork();
  }

  /** STOMP queues go through the work queues, which hold their consumers' in-flight state. */
  protected override purgeQueue(storeName: string, kind: string, realm: string, name: string): Promise<void> {
    if (kind === 'queue' || kind === 'durable' || kind === 'temp') return this.work.queues.deleteQueue({ kind, realm, name });
    return super.purgeQueue(storeName, kind, realm, name);
  }

  /** without a queue service yet nobody consumes: it is not created just to say so */
  protected override queueConsumers(storeName: string): number {
    return this.queueService ? this.queueService.queues.consumerCount(storeName) : 0;
  }

  /**
   * An HTTP server for the WebSocket endpoints (and `app`, e.g. Express), as the daemon
   * uses: HTTPS when config http.tls is on (its certificate reloads with
   * reloadCertificates()), with http.headersTimeoutMs / requestTimeoutMs against slow clients.
   * It also serves the protocols of config http.protocols (WAMP RawSocket, MQTT, STOMP;
   * all by default) on its port, after the TLS handshake when it is HTTPS.
   */
  createHttpServer(app?: http.RequestListener): http.Server {
    const ctx = createGateContext(this, 'http');
    const server = createHttpServer(ctx, tlsFromConfig(this.config.http.tls), 'HTTP', app);
    // the protocols of http.protocols on the same port, told apart by their first bytes.
    // Only on this server, which Gatehouse makes: a server of the application's own keeps
    // its 'connection' handling, and the gates mount only their WebSocket paths there.
    const gates = this.gates.handOffs(this.config.http.protocols);
    if (Object.keys(gates).length > 0) {
      this.addListener(
        serveProtocolsOn(ctx, server, { gates, timeoutMs: this.config.http.sniffTimeoutMs, ready: () => this.start() }),
      );
    }
    return server;
  }

  /** WAMP over WebSocket: on an existing http.Server (`server` + `path`), or its own port (wss:// with `tls`). */
  async listenWAMP(opts: WebSocketEndpointOptions = {}): Promise<Listener> {
    await this.start();
    return this.addListener(await this.gates.listenWebSocket('wamp', opts));
  }

  /** WAMP over RawSocket (TCP), over TLS with `tls`. */
  async listenRawSocket(opts: { port?: number; host?: string; tls?: TlsOptions } = {}): Promise<Listener> {
    await this.start();
    return this.addListener(await this.gates.listenTcp('wamp', opts));
  }

  /** MQTT over TCP, or over TLS with `tls` (PEM files or buffers). */
  async listenMQTT(opts: { port?: number; host?: string; tls?: TlsOptions } = {}): Promise<Listener> {
    await this.start();
    return this.addListener(await this.gates.listenTcp('mqtt', opts));
  }

  /** MQTT over WebSocket (subprotocol mqtt): on an existing http.Server (`server` + `path`), or its own port. */
  async listenMQTTWebSocket(opts: WebSocketEndpointOptions = {}): Promise<Listener> {
    await this.start();
    return this.addListener(await this.gates.listenWebSocket('mqtt', opts));
  }

  /** STOMP over TCP, or over TLS with `tls` (PEM files or buffers). */
  async listenSTOMP(opts: { port?: number; host?: string; tls?: TlsOptions } = {}): Promise<Listener> {
    await this.start();
    return this.addListener(await this.gates.listenTcp('stomp', opts));
  }

  /**
   * Every endpoint the config asks the gates for, as the daemon opens them: ports of
   * their own (wamp.rawsocket, mqtt, mqtt.tls, stomp, stomp.tls) listen now, WebSocket
   * paths (wamp.path, mqtt.wsPath, stomp.wsPath) mount on `server`. Returns, per
   * endpoint, its entry for a log line once `server` listens (`wsOrigin`: ws://host:port).
   */
  async listenConfigured(server: http.Server): Promise<{ key: string; describe(wsOrigin: string): Record<string, unknown> }[]> {
    await this.start();
    const out: { key: string; describe(wsOrigin: string): Record<string, unknown> }[] = [];
    for (const { gate, endpoint } of this.gates.endpoints(this.config)) {
      if (endpoint.transport === 'tcp') {
        const l = this.addListener(await this.gates.listenTcp(gate, endpoint.options));
        out.push({ key: endpoint.key, describe: () => endpoint.describe(l.port) });
      } else {
        this.addListener(await this.gates.listenWebSocket(gate, { server, path: endpoint.path }));
        out.push({ key: endpoint.key, describe: (origin) => endpoint.describe(origin) });
      }
    }
    return out;
  }

  /**
   * The HTTP API (README "HTTP API") as an Express router: `app.use('/api', router.httpApi())`.
   * `basePath` is where it is mounted, for its OpenAPI document (default config
   * http.api.path). Its event streams end when the router closes.
   */
  httpApi(opts: { basePath?: string } = {}): express.Router {
    if (!this.httpCtx) {
      const ctx = (this.httpCtx = createHttpContext(this));
      this.onClose(() => {
        for (const s of [...ctx.streams]) s.close();
      });
    }
    return httpApiModule().httpApiRouter(this.httpCtx, opts.basePath ?? this.config.http.api.path);
  }

  /**
   * The admin console (with the live table view) as an Express router:
   * `app.use('/dashboard', router.dashboard())`.
   * The page connects back over WAMP WebSocket on the same origin at `wampPath` (default
   * config wamp.path), to `realm` (default config aggregate.realm, where the tables are).
   */
  dashboard(opts: Partial<DashboardOptions> = {}): express.Router {
    return dashboardRouter({
      wampPath: opts.wampPath ?? this.config.wamp.path,
      realm: opts.realm ?? this.config.aggregate.realm,
    });
  }

  /** STOMP over WebSocket (subprotocols v12.stomp, v11.stomp, v10.stomp): on an existing http.Server (`server` + `path`), or its own port. */
  async listenSTOMPWebSocket(opts: WebSocketEndpointOptions = {}): Promise<Listener> {
    await this.start();
    return this.addListener(await this.gates.listenWebSocket('stomp', opts));
  }
}
