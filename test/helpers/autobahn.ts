// autobahn has no type declarations; tests talk to it through this small typed surface.

const autobahn = require('autobahn') as AutobahnModule;

export interface AutobahnSession {
  id: number;
  features: unknown;
  publish(
    topic: string,
    args?: unknown[],
    kwargs?: Record<string, unknown>,
    options?: Record<string, unknown>,
  ): Promise<{ id: number }> | undefined;
  subscribe(
    topic: string,
    handler: (args: unknown[], kwargs: Record<string, unknown>, details: Record<string, unknown>) => void,
    options?: Record<string, unknown>,
  ): Promise<{ id: number; unsubscribe(): Promise<unknown> }>;
  unsubscribe(sub: unknown): Promise<unknown>;
  call<T = unknown>(
    procedure: string,
    args?: unknown[],
    kwargs?: Record<string, unknown>,
    options?: Record<string, unknown>,
  ): Promise<T>;
  register(
    procedure: string,
    endpoint: (args: unknown[], kwargs: Record<string, unknown>, details: Record<string, unknown>) => unknown,
    options?: Record<string, unknown>,
  ): Promise<{ id: number; unregister(): Promise<unknown> }>;
  leave(reason?: string, message?: string): void;
}

export interface AutobahnModule {
  Connection: new (opts: Record<string, unknown>) => {
    onopen: (s: AutobahnSession, details: Record<string, unknown>) => void;
    onclose: (reason: string, details: Record<string, unknown>) => boolean | void;
    open(): void;
    close(reason?: string, message?: string): void;
    transport?: unknown;
  };
  serializer: Record<'JSONSerializer' | 'MsgpackSerializer' | 'CBORSerializer', new () => unknown>;
  Error: new (uri: string, args?: unknown[], kwargs?: Record<string, unknown>) => Error;
  Result: new (args?: unknown[], kwargs?: Record<string, unknown>) => unknown;
}

export { autobahn };

export type Transport = { name: string; options: Record<string, unknown> };

/** Every WAMP transport x serializer autobahn speaks, for running a suite over each. */
export function autobahnTransports(wsUrl: string, rawSocketUrl: string): Transport[] {
  return [
    { name: 'websocket/json', options: wsOptions(wsUrl, 'json') },
    { name: 'websocket/msgpack', options: wsOptions(wsUrl, 'msgpack') },
    { name: 'websocket/cbor', options: wsOptions(wsUrl, 'cbor') },
    { name: 'rawsocket/json', options: { transports: [rawSocketTransport(rawSocketUrl)] } },
  ];
}

/**
 * Opens an autobahn session; resolves when it is joined. `close()` leaves and waits
 * for the connection to be closed.
 */
export function connect(
  options: Record<string, unknown>,
  realm = 'realm1',
): Promise<{
  session: AutobahnSession;
  details: Record<string, unknown>;
  close(): Promise<void>;
  onclose: Promise<{ reason: string; details: Record<string, unknown> }>;
}> {
  return new Promise((resolve, reject) => {
    const conn = new autobahn.Connection({ realm, max_retries: 0, retry_if_unreachable: false, ...options });
    let resolveClosed!: (v: { reason: string; details: Record<string, unknown> }) => void;
    const onclose = new Promise<{ reason: string; details: Record<string, unknown> }>((r) => (resolveClosed = r));
    let opened = false;
    conn.onopen = (session, details) => {
      opened = true;
      resolve({
        session,
        details,
        onclose,
        close: async () => {
          try {
            conn.close();
          } catch {
            // already closed
          }
          await onclose;
        },
      });
    };
    conn.onclose = (reason, details) => {
      resolveClosed({ reason, details });
      if (!opened) reject(new Error(`connection closed before open: ${reason} ${JSON.stringify(details)}`));
      return true; // no reconnect
    };
    conn.open();
  });
}

/** autobahn's RawSocket transport takes host and port, not a URL. */
export function rawSocketTransport(rawSocketUrl: string): Record<string, unknown> {
  const u = new URL(rawSocketUrl);
  return { type: 'rawsocket', host: u.hostname, port: Number(u.port) };
}

/**
 * autobahn over WebSocket with one serializer. autobahn picks its serializer from the
 * `serializers` list, not from `protocols`, so both are given.
 */
export function wsOptions(wsUrl: string, serializer: 'json' | 'msgpack' | 'cbor'): Record<string, unknown> {
  const ctor = { json: 'JSONSerializer', msgpack: 'MsgpackSerializer', cbor: 'CBORSerializer' } as const;
  return { url: wsUrl, serializers: [new autobahn.serializer[ctor[serializer]]()], protocols: [`wamp.2.${serializer}`] };
}
