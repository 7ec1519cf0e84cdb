/**
 * The address of the client at the other end of a connection: the socket's own peer,
 * unless a trusted proxy has said whom it speaks for (a PROXY protocol header,
 * lib/proxy-accept.ts; `Forwarded` / `X-Forwarded-For` on a WebSocket upgrade,
 * lib/listeners.ts). Everything that keys on a client's address asks here (peerOf):
 * connection limits, the login throttle, the anonymous loopback rule, logs, session meta.
 *
 * Keyed by the connection's address 4-tuple rather than by socket object: a TLS
 * listener's decrypted socket is another object than the raw socket the PROXY header
 * came on, and the two share the tuple. Entries go when the socket they were set on closes.
 */
import type net from 'node:net';

export interface ClientAddress {
  address: string;
  port: number;
}

const forwarded = new Map<string, ClientAddress>();

function keyOf(socket: net.Socket): string {
  return `${socket.remoteAddress ?? ''}|${socket.remotePort ?? 0}|${socket.localAddress ?? ''}|${socket.localPort ?? 0}`;
}

/** Records that `socket` carries `client`'s connection (the caller has checked the proxy is trusted). */
export function setClientAddress(socket: net.Socket, client: ClientAddress): void {
  if (socket.destroyed) return;
  const key = keyOf(socket);
  if (!forwarded.has(key)) socket.once('close', () => forwarded.delete(key));
  forwarded.set(key, client);
}

/** The client's address and port: forwarded by a trusted proxy, or the socket's peer. */
export function clientAddressOf(socket: net.Socket): ClientAddress {
  // the common case (no proxy anywhere) costs a size check
  const client = forwarded.size === 0 ? undefined : forwarded.get(keyOf(socket));
  return client ?? { address: socket.remoteAddress ?? '?', port: socket.remotePort ?? 0 };
}
