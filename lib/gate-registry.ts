/**
 * The gates a router serves, behind one interface, so that the public API (index.ts)
 * and the daemon (lib/cli.ts) wire every protocol the same way: a gate says how it
 * listens on a port of its own (TCP, TLS) or a WebSocket path, which protocol it takes
 * from the shared HTTP port (lib/universal-port.ts), and which endpoints the daemon's
 * config asks for. The core never imports a gate: index.ts registers them.
 */
import type net from 'node:net';
import type { Config } from './config';
import type { GateContext } from './gate-context';
import type { WebSocketEndpointOptions } from './listeners';
import type { SniffedProtocol } from './protocol-sniff';
import type { QueueService } from './queue-service';
import type { Listener, RouterCore } from './router';
import type { TlsOptions } from './tls-options';
import type { GateHandOff } from './universal-port';

/** A port of a gate's own: TCP, or TLS with `tls`. */
export interface TcpEndpointOptions {
  port?: number;
  host?: string;
  tls?: TlsOptions;
}

/** One endpoint the daemon's config asks a gate for. */
export type GateEndpoint =
  | {
      readonly transport: 'tcp';
      /** its entry in the daemon's "listening" log line */
      readonly key: string;
      readonly options: TcpEndpointOptions;
      /** that entry, once it listens on `port` */
      describe(port: number): Record<string, unknown>;
    }
  | {
      /** a path on the daemon's HTTP server */
      readonly transport: 'websocket';
      readonly key: string;
      readonly path: string;
      /** that entry; `base` is the HTTP server's ws:// or wss:// origin */
      describe(base: string): Record<string, unknown>;
    };

/** What the router lends a gate when its context is made. */
export interface GateServices {
  /** work queues and durable subscriptions, made on first use */
  work(): QueueService;
  /** runs `fn` when the router closes */
  onClose(fn: () => void): void;
}

/** A protocol gate, as the router sees it. Each translates wire <-> core, nothing more. */
export interface Gate<C extends GateContext = GateContext> {
  /** metrics label and log field (`gate`) */
  readonly name: string;
  /** the protocol it takes from the shared HTTP port (a key of config http.protocols) */
  readonly sniffed?: SniffedProtocol;
  /** its shared state, made once per router on first use (sessions restored, timers started) */
  createContext(router: RouterCore, services: GateServices): C;
  /** a listener on a port of its own */
  listenTcp?(ctx: C, options: TcpEndpointOptions): Promise<Listener>;
  /** a WebSocket endpoint, mounted on a server or on a port of its own */
  listenWebSocket?(ctx: C, options: WebSocketEndpointOptions): Promise<Listener>;
  /** a connection handed over by the shared HTTP port, its first bytes still unread */
  accept?(ctx: C, socket: net.Socket, type: 'tcp' | 'tls'): void;
  /** the endpoints the daemon opens for it, per its config, in order */
  endpoints(config: Config): GateEndpoint[];
}

/** The gates of one router, in the order they were registered, each with its context. */
export class GateRegistry {
  private readonly gates = new Map<string, Gate>();
  private readonly contexts = new Map<string, GateContext>();

  constructor(private readonly makeContext: (gate: Gate) => GateContext) {}

  /** Adds a gate; a second gate with the same name or the same sniffed protocol is refused. */
  register(gate: Gate): this {
    // not a catalogue error: a wiring mistake in the code, met at start-up, never by a client
    if (this.gates.has(gate.name)) throw new Error(`gate ${gate.name} is registered already`);
    if (gate.sniffed !== undefined && (!gate.accept || this.bySniffed(gate.sniffed))) {
      // not a catalogue error: a wiring mistake in the code, met at start-up, never by a client
      throw new Error(`gate ${gate.name} cannot take ${gate.sniffed} from the shared port`);
    }
    this.gates.set(gate.name, gate);
    return this;
  }

  get names(): string[] {
    return [...this.gates.keys()];
  }

  get(name: string): Gate {
    const gate = this.gates.get(name);
    // not a catalogue error: a wiring mistake in the code, met at start-up, never by a client
    if (!gate) throw new Error(`no gate named ${name}`);
    return gate;
  }

  /** The gate's context, made on first use. */
  context(name: string): GateContext {
    let ctx = this.contexts.get(name);
    if (!ctx) {
      ctx = this.makeContext(this.get(name));
      this.contexts.set(name, ctx);
    }
    return ctx;
  }

  /** Whether the gate's context has been made (its sessions restored, its timers running). */
  started(name: string): boolean {
    return this.contexts.has(name);
  }

  listenTcp(name: string, options: TcpEndpointOptions): Promise<Listener> {
    const gate = this.get(name);
    // not a catalogue error: a wiring mistake in the code, met at start-up, never by a client
    if (!gate.listenTcp) throw new Error(`gate ${name} has no TCP listener`);
    return gate.listenTcp(this.context(name), options);
  }

  listenWebSocket(name: string, options: WebSocketEndpointOptions): Promise<Listener> {
    const gate = this.get(name);
    // not a catalogue error: a wiring mistake in the code, met at start-up, never by a client
    if (!gate.listenWebSocket) throw new Error(`gate ${name} has no WebSocket endpoint`);
    return gate.listenWebSocket(this.context(name), options);
  }

  /**
   * The gates the shared HTTP port hands connections to, for the protocols `enabled`
   * switches on (config http.protocols). A gate's context is made at its first connection.
   */
  handOffs(enabled: Readonly<Record<SniffedProtocol, boolean>>): Partial<Record<SniffedProtocol, () => GateHandOff>> {
    const out: Partial<Record<SniffedProtocol, () => GateHandOff>> = {};
    for (const gate of this.gates.values()) {
      const protocol = gate.sniffed;
      if (protocol === undefined || !gate.accept || !enabled[protocol]) continue;
      out[protocol] = () => {
        const ctx = this.context(gate.name);
        return { ctx, accept: (socket, type) => gate.accept?.(ctx, socket, type) };
      };
    }
    return out;
  }

  /** Every endpoint the config asks for, gate by gate in registration order. */
  endpoints(config: Config): { gate: string; endpoint: GateEndpoint }[] {
    const out: { gate: string; endpoint: GateEndpoint }[] = [];
    for (const gate of this.gates.values())
      for (const endpoint of gate.endpoints(config)) out.push({ gate: gate.name, endpoint });
    return out;
  }

  private bySniffed(protocol: SniffedProtocol): Gate | undefined {
    for (const g of this.gates.values()) if (g.sniffed === protocol) return g;
    return undefined;
  }
}

/** A host as it goes in a URL: an IPv6 address in brackets. */
export function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
