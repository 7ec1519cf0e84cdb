/**
 * TLS for every listener, in one place: the options a TLS server is made with (PEM files
 * for the daemon, buffers for an embedding application), the client certificate of a
 * connection as the core sees it, and certificate reload (SIGHUP) for running servers.
 */
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import type { TlsConfig } from './config';
import { Errors, RouterError } from './errors';
import type { Logger } from './log';
import type { ClientCertificate } from './session';

/** TLS for one listener. Files are read at start and again on reload; buffers are kept as given. */
export interface TlsOptions {
  certFile?: string;
  keyFile?: string;
  /** CA bundle client certificates are verified against */
  caFile?: string;
  cert?: string | Buffer;
  key?: string | Buffer;
  ca?: string | Buffer;
  /** default TLSv1.2 */
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** ask for a client certificate (implied by a CA; needs one); a client without one still connects */
  requestCert?: boolean;
  /** refuse clients without a certificate signed by the CA (needs one) */
  requireClientCert?: boolean;
}

/** The TlsOptions of a config block (http.tls, wamp.rawsocket.tls, ...), or undefined when it is off. */
export function tlsFromConfig(c: TlsConfig): TlsOptions | undefined {
  if (!c.enabled) return undefined;
  return {
    certFile: c.certFile,
    keyFile: c.keyFile,
    ...(c.caFile === '' ? {} : { caFile: c.caFile }),
    minVersion: c.minVersion,
    requestCert: c.requestCert,
    requireClientCert: c.requireClientCert,
  };
}

function material(given: string | Buffer | undefined, file: string | undefined): string | Buffer | undefined {
  if (given !== undefined) return given;
  return file ? readFileSync(file) : undefined;
}

/** Key material and protocol floor: what a secure context is made of (read from disk now). */
export function secureContextOptions(o: TlsOptions): tls.SecureContextOptions {
  const cert = material(o.cert, o.certFile);
  const key = material(o.key, o.keyFile);
  if (cert === undefined || key === undefined)
    throw new RouterError(Errors.invalidArgument, 'TLS needs a certificate and a private key');
  const ca = material(o.ca, o.caFile);
  return { cert, key, ...(ca === undefined ? {} : { ca }), minVersion: o.minVersion ?? 'TLSv1.2' };
}

/** Options for tls.createServer / https.createServer. */
export function tlsServerOptions(o: TlsOptions, handshakeTimeoutMs: number): tls.TlsOptions {
  const context = secureContextOptions(o);
  const require = o.requireClientCert === true;
  // no CA of our own: Node would verify client certificates against its public root store
  if ((require || o.requestCert === true) && context.ca === undefined)
    throw new RouterError(
      Errors.invalidArgument,
      'TLS client certificates (requestCert, requireClientCert) need a CA (ca or caFile)',
    );
  return {
    ...context,
    requestCert: require || o.requestCert === true || context.ca !== undefined,
    // with requestCert alone, an unverified certificate is reported (authorized: false), not refused
    rejectUnauthorized: require,
    handshakeTimeout: handshakeTimeoutMs,
  };
}

/** The certificate a TLS peer presented, or undefined (plain socket, or none sent). */
export function clientCertificateOf(socket: unknown): ClientCertificate | undefined {
  if (!(socket instanceof tls.TLSSocket)) return undefined;
  const cert = socket.getPeerCertificate();
  // Node returns an empty object when the peer sent no certificate
  if (!cert.fingerprint256) return undefined;
  const subject: Record<string, string> = {};
  for (const [k, v] of Object.entries(cert.subject as unknown as Record<string, string | string[]>)) {
    subject[k] = Array.isArray(v) ? v.join(',') : v;
  }
  return { subject, fingerprint256: cert.fingerprint256, authorized: socket.authorized };
}

interface Reloadable {
  server: tls.Server;
  options: TlsOptions;
  name: string;
}

/**
 * The running TLS servers of a router, so their certificates can be re-read without a
 * restart. A file that cannot be read or parsed keeps the server on its old context.
 */
export class CertificateReloader {
  private readonly servers = new Set<Reloadable>();

  /** Registers a server; the returned function unregisters it (at close). */
  add(server: tls.Server, options: TlsOptions, name: string): () => void {
    const entry = { server, options, name };
    this.servers.add(entry);
    return () => this.servers.delete(entry);
  }

  /** Re-reads every server's files and swaps in the new context. Returns the names that failed. */
  reload(log: Logger): { reloaded: string[]; failed: string[] } {
    const reloaded: string[] = [];
    const failed: string[] = [];
    for (const { server, options, name } of this.servers) {
      try {
        server.setSecureContext(secureContextOptions(options));
        reloaded.push(name);
        log.info({ listener: name, certFile: options.certFile }, 'TLS certificate reloaded');
      } catch (err) {
        failed.push(name);
        log.error(
          { listener: name, certFile: options.certFile, err: err instanceof Error ? err.message : String(err) },
          'TLS certificate reload failed: keeping the old certificate',
        );
      }
    }
    return { reloaded, failed };
  }
}
