/**
 * One port for every protocol (as Crossbar.io's universal transport): the HTTP server
 * Gatehouse owns peeks at each connection's first bytes (lib/protocol-sniff.ts) and
 * hands the connection, those bytes put back unread, to the gate that speaks them (WAMP
 * RawSocket, MQTT, STOMP) or to Node's HTTP server (HTTP and WebSocket upgrades). On an
 * HTTPS server the peek happens after the TLS handshake, on the decrypted stream.
 *
 * The peek is bounded: a verdict needs at most SNIFF_MAX_BYTES, and a connection that has
 * not sent enough within the deadline is closed. First bytes no protocol here starts
 * with are closed at once. Both are counted in gatehouse_sniff_refused_total{reason}.
 */
import type http from 'node:http';
import type net from 'node:net';
import tls from 'node:tls';
import { drain } from './drain';
import type { GateContext } from './gate-context';
import { admitConnection, peerOf } from './listeners';
import { acceptedEvent } from './proxy-accept';
import { sniffProtocol, type SniffedProtocol, type SniffVerdict } from './protocol-sniff';
import type { Listener } from './router';

/** How long handed-off connections get to finish their closing handshake at shutdown. */
const DRAIN_MS = 2000;

/** A gate that takes connections from the shared port. */
export interface GateHandOff {
  /** connection limits are counted against this gate */
  readonly ctx: GateContext;
  /** the socket, its first bytes still unread */
  accept(socket: net.Socket, type: 'tcp' | 'tls'): void;
}

export interface UniversalPortOptions {
  /** the gates served beside HTTP, resolved when their first connection comes */
  gates: Partial<Record<SniffedProtocol, () => GateHandOff>>;
  /** a connection that has not been recognised by then is closed */
  timeoutMs: number;
  /** settles when the router can take sessions (its store is open) */
  ready: () => Promise<void>;
}

export type SniffRefusal = 'timeout' | 'unknown' | 'disabled';

const ignore = (): void => undefined;

/**
 * Makes `server` (made by createHttpServer, not yet listening or already) recognise the
 * protocols of `opts.gates` on its port. The returned Listener, closed by the router,
 * stops handing connections to gates (HTTP goes on: the server is its owner's to close)
 * and drains those it handed over.
 */
export function serveProtocolsOn(ctx: GateContext, server: http.Server, opts: UniversalPortOptions): Listener {
  const secure = server instanceof tls.Server;
  // Node's HTTP server takes plain sockets on 'connection', an HTTPS server decrypted
  // ones on 'secureConnection' (its 'connection' listener does the TLS handshake). A
  // PROXY header, when read, comes before either (acceptedEvent: lib/proxy-accept.ts).
  const event = secure ? 'secureConnection' : acceptedEvent(server);
  const type = secure ? 'tls' : 'tcp';
  const toHttp = server.listeners(event) as ((socket: net.Socket) => void)[];
  const handedOff = new Set<net.Socket>();
  let open = true;
  const refusals = ctx.router.metrics.sniffRefused;

  const refuse = (socket: net.Socket, reason: SniffRefusal, first: Buffer | undefined): void => {
    refusals.labels(reason).inc();
    ctx.log.debug(
      { peer: peerOf(socket), reason, first: first?.subarray(0, 16).toString('hex') },
      'connection refused: protocol not recognised',
    );
    socket.destroy();
  };

  const handOff = (socket: net.Socket, protocol: SniffedProtocol, first: Buffer): void => {
    if (!open) return void socket.destroy(); // the router is closing
    const gate = opts.gates[protocol];
    if (!gate) {
      refuse(socket, 'disabled', first);
      return;
    }
    socket.unshift(first);
    socket.on('error', ignore); // 'close' follows; the gate logs what matters
    opts.ready().then(
      () => {
        if (socket.destroyed || !open) return void socket.destroy();
        const g = gate();
        if (admitConnection(g.ctx, socket)) return void socket.destroy();
        handedOff.add(socket);
        socket.once('close', () => handedOff.delete(socket));
        socket.setNoDelay(true);
        g.accept(socket, type);
      },
      () => socket.destroy(),
    );
  };

  const sniff = (socket: net.Socket): void => {
    let first: Buffer | undefined;
    const done = (verdict: SniffVerdict | 'timeout' | 'gone'): void => {
      ctx.clock.clearTimeout(timer);
      socket.off('readable', onReadable);
      socket.off('close', onClose);
      socket.off('error', ignore);
      if (verdict === 'gone') return;
      if (verdict === 'http') {
        if (first) socket.unshift(first);
        // what server.emit(event, socket) would do, without coming back here
        for (const l of toHttp) l.call(server, socket);
      } else if (verdict === 'timeout' || verdict === 'unknown') refuse(socket, verdict, first);
      else if (verdict !== 'more') handOff(socket, verdict, first ?? Buffer.alloc(0));
    };
    const onReadable = (): void => {
      for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) {
        first = first ? Buffer.concat([first, chunk]) : chunk;
      }
      if (!first) return;
      const verdict = sniffProtocol(first);
      if (verdict !== 'more') done(verdict);
    };
    const onClose = (): void => {
      done('gone');
    };
    // HTTP clients and the gates' clients all speak first; one that does not is dropped
    // (on the router's clock: a test moves it instead of waiting for the deadline)
    const timer = ctx.clock.setTimeout(() => {
      done('timeout');
    }, opts.timeoutMs);
    timer.unref();
    socket.on('error', ignore);
    socket.once('close', onClose);
    socket.on('readable', onReadable);
  };

  server.removeAllListeners(event);
  server.on(event, sniff);
  return {
    get port(): number {
      const address = server.address();
      return typeof address === 'object' && address ? address.port : 0;
    },
    async close() {
      open = false;
      // the server goes on serving HTTP without the detour
      server.off(event, sniff);
      for (const l of toHttp) server.on(event, l);
      // sessions have had their GOODBYE / DISCONNECT from the router
      await drain(() => handedOff.size, DRAIN_MS);
      for (const s of handedOff) s.destroy();
    },
  };
}
