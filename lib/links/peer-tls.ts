import { readFileSync } from 'node:fs';
import net from 'node:net';
import type tls from 'node:tls';
import { Errors, RouterError } from '../errors';
import type { LinkTls } from './transport';

/**
 * Client-side TLS of a link (mqtts://, stomps://): the peer's certificate is always
 * verified, against `caFile` when given (else the system's CAs), for `serverName` or the
 * url's host; a client certificate (`certFile` + `keyFile`) names this router to the
 * peer, which authorizes it like any client with that certificate (README "Links").
 * Files are read at each connect, so a renewed certificate is used on the next reconnect.
 */
export function peerTlsOptions(host: string, t: LinkTls | undefined): tls.ConnectionOptions {
  const o: tls.ConnectionOptions = { rejectUnauthorized: true, minVersion: 'TLSv1.2' };
  if ((t?.certFile === undefined) !== (t?.keyFile === undefined)) {
    throw new RouterError(Errors.invalidArgument, 'a link client certificate needs both certFile and keyFile');
  }
  if (t?.caFile !== undefined) o.ca = pem(t.caFile);
  if (t?.certFile !== undefined && t.keyFile !== undefined) {
    o.cert = pem(t.certFile);
    o.key = pem(t.keyFile);
  }
  // SNI carries host names only (RFC 6066 §3): an IP address is checked without it
  const name = t?.serverName ?? host;
  if (!net.isIP(name)) o.servername = name;
  return o;
}

/** host and port of a link url; the port defaults to the scheme's registered one. */
export function peerAddress(url: URL, defaultPort: number): { host: string; port: number } {
  // URL keeps brackets around an IPv6 host; sockets want the bare address
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { host, port: url.port === '' ? defaultPort : Number(url.port) };
}

/** A PEM file; a missing or unreadable one is a configuration error, named. */
function pem(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new RouterError(Errors.invalidArgument, `link TLS file ${file}: ${(err as Error).message}`);
  }
}
