/**
 * GENERATED from schemas/config.schema.json by scripts/gen-config-types.ts; do not edit.
 * Change the schema, then run `npm run gen:config-types`. lib/config.ts re-exports these.
 */

/** Every field has a default, so an empty object is a complete configuration. lib/config-types.ts (the Config type) is generated from this file: npm run gen:config-types. */
export interface Config {
  /** Lets a config file point editors at this schema; ignored by the router. */
  $schema?: string;
  /** The HTTP server that carries WebSocket upgrades, /health and metrics. */
  http: {
    host: string;
    /** 0 picks a free port (tests). */
    port: number;
    /** TLS for the HTTP server: every WebSocket endpoint on it (WAMP, MQTT, STOMP) becomes wss://, /health and metrics https://. */
    tls: TlsConfig;
    /** Origins allowed to open WebSockets (browser Origin header): exact origins like https://app.example.com, '*' in the host part (https://*.example.com), or '*' for any. Upgrades without an Origin header (non-browser clients) are always allowed. A refused upgrade gets HTTP 403. */
    allowedOrigins: string[];
    /** An HTTP request (or WebSocket upgrade) whose headers are not complete in this time is dropped (slowloris). */
    headersTimeoutMs: number;
    /** An HTTP request not complete in this time is dropped. */
    requestTimeoutMs: number;
    /** Protocols served on the HTTP port beside HTTP and WebSocket, each connection recognised by its first bytes (after the TLS handshake when http.tls is on): WAMP RawSocket (first octet 0x7F), MQTT (a CONNECT packet), STOMP (a CONNECT or STOMP frame). All off: the HTTP port is plain HTTP. The protocols' own listeners (wamp.rawsocket, mqtt, stomp) are not affected. */
    protocols: {
      /** WAMP RawSocket on the HTTP port. */
      rawsocket: boolean;
      /** MQTT on the HTTP port. */
      mqtt: boolean;
      /** STOMP on the HTTP port. */
      stomp: boolean;
    };
    /** With any of http.protocols on: a connection to the HTTP port whose first bytes do not name a protocol within this time is closed (clients of every protocol served there speak first). */
    sniffTimeoutMs: number;
    /** The HTTP API (README "HTTP API"): publish, call, the retained store and Server-Sent Events subscriptions as JSON over HTTP, on this server. */
    api: {
      enabled: boolean;
      /** Where the API is mounted. */
      path: string;
      /** Anonymous access to the HTTP API (requests without credentials): inherit uses auth.anonymous; loopback, always or never override it for this gate. */
      anonymous: ListenerAnonymousSetting;
      /** A Server-Sent Events stream gets a comment line this often, so proxies and clients see it alive. */
      keepAliveMs: number;
    };
  };
  wamp: {
    /** HTTP path that accepts WAMP WebSocket upgrades. */
    path: string;
    /** WAMP RawSocket over plain TCP. */
    rawsocket: {
      enabled: boolean;
      host: string;
      port: number;
      /** TLS on the RawSocket listener (same port). */
      tls: TlsConfig;
    };
    /** Serializers offered to clients, in order of preference. */
    serializers: Serializer[];
    /** WebSocket ping interval; 0 disables pings. */
    pingIntervalMs: number;
    /** A connection that has not sent HELLO within this time is closed. */
    helloTimeoutMs: number;
    /** Anonymous access on the WAMP (WebSocket and RawSocket) listeners: inherit uses auth.anonymous; loopback, always or never override it for this gate. */
    anonymous: ListenerAnonymousSetting;
  };
  /** The MQTT gate (MQTT 3.1, 3.1.1 and 5.0). */
  mqtt: {
    /** Listen for MQTT over TCP. */
    enabled: boolean;
    host: string;
    /** MQTT over TCP. */
    port: number;
    /** HTTP path that accepts MQTT WebSocket upgrades (subprotocol mqtt) on the HTTP listener; empty disables it. */
    wsPath: string;
    /** MQTT over TLS. */
    tls: TlsPortConfig;
    /** Realm of MQTT clients; a username user@realm picks another. */
    realm: string;
    /** Largest keep-alive the server accepts; a bigger or zero one is replaced by this in CONNACK (MQTT 5 server keep alive). 0: accept any. */
    keepAliveMaxSeconds: number;
    /** QoS 1/2 publications a client may have unacknowledged towards the server (MQTT 5 receive maximum). */
    receiveMaximum: number;
    /** QoS 1/2 messages in flight towards one client (further limited by the client's receive maximum). */
    maxInflight: number;
    /** Topic aliases a client may use towards the server (MQTT 5). */
    topicAliasMaximum: number;
    /** Upper bound on a session's expiry interval. */
    maxSessionExpirySeconds: number;
    /** Session expiry of an MQTT 3.1 / 3.1.1 session with clean session 0, which has no expiry of its own (Mosquitto's persistent_client_expiration); capped by maxSessionExpirySeconds. It runs from the disconnect, across restarts. */
    persistentSessionExpirySeconds: number;
    /** Messages queued for one offline or slow client; beyond, the oldest is dropped and counted. */
    maxQueuedMessages: number;
    /** Bytes queued for one offline or slow client; beyond, the oldest is dropped and counted. */
    maxQueuedBytes: number;
    /** A connection that sends no CONNECT within this time is closed. */
    connectTimeoutMs: number;
    /** Timeout of a call made by a PUBLISH to $rpc/<procedure> (shorter when the request's message expiry is); 0: limits.callTimeoutMs. Such a call outlives its requester's session (the reply goes to the response topic), so this bounds it. */
    rpcTimeoutMs: number;
    /** Interval of the \$SYS/broker/... counters; 0 disables them. */
    sysIntervalSeconds: number;
    /** Anonymous access on the MQTT (TCP, WebSocket and TLS) listeners: inherit uses auth.anonymous; loopback, always or never override it for this gate. */
    anonymous: ListenerAnonymousSetting;
  };
  /** The STOMP gate (STOMP 1.0, 1.1 and 1.2) and the work queues it uses. */
  stomp: {
    /** Listen for STOMP over TCP. */
    enabled: boolean;
    host: string;
    /** STOMP over TCP. */
    port: number;
    /** HTTP path that accepts STOMP WebSocket upgrades (subprotocols v12.stomp, v11.stomp, v10.stomp) on the HTTP listener; empty disables it. */
    wsPath: string;
    /** STOMP over TLS. */
    tls: TlsPortConfig;
    /** Realm of STOMP clients whose CONNECT names no existing realm in its host header (nor a login user@realm). */
    realm: string;
    /** Heart-beating offered in CONNECTED (STOMP 1.1+): the actual intervals are negotiated with the client's heart-beat header, each way the larger of the client's value and this one (so these are floors: RabbitMQ honours a client's wish down to 1 s). */
    heartbeat: {
      /** Smallest interval, in ms, at which the server sends heart-beats; a client asking for them less often gets them less often; 0: none. */
      send: number;
      /** Smallest interval, in ms, at which the server takes the client's heart-beats; 0: none. A client silent for twice the negotiated interval is disconnected. */
      receive: number;
    };
    /** A connection that sends no CONNECT (or STOMP) frame within this time is closed. */
    connectTimeoutMs: number;
    /** Frame limits (STOMP 1.2 §Size Limits); a frame over one gets an ERROR and the connection closes. */
    limits: {
      /** Header lines in one frame. */
      maxHeaders: number;
      /** Bytes of one header line. */
      maxHeaderLineBytes: number;
      /** Bytes of one frame body; 0: /limits/maxMessageSize. */
      maxBodyBytes: number;
      /** Frames one connection may send per second; past it the client gets ERROR and the connection closes. 0: no limit. */
      framesPerSecond: number;
      /** Bytes all open transactions of one connection may hold together (frames kept for COMMIT: body and header octets plus 256 per frame); a frame past it gets ERROR and the connection closes, releasing what it held. */
      maxTransactionBytes: number;
      /** Bytes the open transactions of all STOMP connections of the router may hold together, counted as for maxTransactionBytes; a frame past it gets ERROR and its connection closes. */
      maxTransactionBytesTotal: number;
    };
    /** Messages one work queue (or durable subscription) holds at most; a SEND to a full queue gets an ERROR. */
    maxQueueMessages: number;
    /** Bytes one work queue (or durable subscription) holds at most. */
    maxQueueBytes: number;
    /** Unacknowledged messages per queue subscription when SUBSCRIBE gives no prefetch-count; 0: unlimited. */
    defaultPrefetch: number;
    /** Anonymous access on the STOMP (TCP, WebSocket and TLS) listeners: inherit uses auth.anonymous; loopback, always or never override it for this gate. */
    anonymous: ListenerAnonymousSetting;
  };
  /** Realms created at start-up. */
  realms: RealmConfig[];
  /** Create a realm on the first HELLO that names an unknown one. */
  autoCreateRealms: boolean;
  /** Realm for protocols that carry no realm (MQTT, STOMP without host). */
  defaultRealm: string;
  auth: {
    /** When anonymous sessions are accepted: from loopback peers only, always, or never. A gate's own `anonymous` setting overrides it. */
    anonymous: AnonymousSetting;
    /** The role of anonymous sessions. */
    anonymousRole: string;
    /** User records (create them with `gatehouse user add`). Secrets are stored only as salted hashes or derived keys. */
    users: UserRecord[];
    /** Authentication by TLS client certificate: an authorized certificate's subject CN is the authid. */
    tls: {
      /** Role of a certificate whose CN matches no user record; empty: such certificates are refused. */
      role: string;
    };
    /** Password guessing, slowed (README "Authentication"): failed ticket, password and WAMP-CRA logins count per address (IPv6: per /64) and per authid; past a budget, attempts are refused without a check for a back-off that doubles up to a cap. The per-authid block refuses only addresses that have failed recently themselves. */
    throttle: ThrottleConfig;
    /** Dynamic authenticator: a WAMP procedure the router calls with (realm, authid, details) for WAMP ticket, MQTT and STOMP passwords of users that have no static record. It returns {role, authid?, extra?} or a role string; an error denies. */
    dynamic: {
      /** Realm where the procedure is registered; empty: the realm the client joins. */
      realm: string;
      /** Procedure URI; empty disables the dynamic authenticator. */
      procedure: string;
      /** A call not answered within this time denies the client. */
      timeoutMs: number;
      /** Authroles a session must have to register the procedure (or a pattern catching it); required with a procedure. Any other REGISTER of it is refused with wamp.error.not_authorized, so no other client can collect passwords. */
      calleeRoles: string[];
    };
    /** Authorization roles (README "Authorization"): per role, permissions on URI patterns. null: no authorization, every session may do everything. Once set, an action no rule of the session's role allows is denied (unless auth.authorizer decides it). The most specific matching pattern wins: exact > longest prefix > wildcard with most fixed components; deny wins a tie. */
    roles: Record<
      string,
      {
        permissions: {
          /** Canonical (WAMP-style, dot-separated) URI or pattern. Prefix "" matches everything; in an exact pattern a whole `*` component is one level and a final `#` any number (a wildcard pattern). */
          uri: string;
          /** How uri matches: exact (the default), prefix (on the string, WAMP style: `billing.` matches `billing.eu.x`), or wildcard (empty component = one level, final `#` = any number). */
          match: MatchPolicy;
          /** Actions allowed. retain covers every store write (retain, when, watch, will, gatehouse.store.delete); subscribe implies unsubscribe, register implies unregister; `*` is every action. */
          allow: ('publish' | 'subscribe' | 'call' | 'register' | 'retain' | 'unsubscribe' | 'unregister' | '*')[];
          /** Actions denied by this rule (to carve exceptions out of a broader allow). */
          deny: ('publish' | 'subscribe' | 'call' | 'register' | 'retain' | 'unsubscribe' | 'unregister' | '*')[];
        }[];
      }
    > | null;
    /** Dynamic authorizer: a procedure called as (session details, uri, action, {match}) for what no static rule decides; it answers true/false or {allow, cache}. null: none. */
    authorizer: DynamicAuthorizerConfig | null;
  };
  limits: {
    /** Largest accepted inbound message, in bytes. */
    maxMessageSize: number;
    /** A session whose queued outbound bytes exceed this is disconnected as a slow consumer. */
    outboundQueueBytes: number;
    /** Above this many queued outbound bytes, reading from that session pauses (throttling). Must not exceed outboundQueueBytes. */
    outboundHighWaterBytes: number;
    /** A peer that stays above the high water mark this long is disconnected. */
    slowConsumerTimeoutMs: number;
    /** Live sessions, every protocol. Offline MQTT sessions kept for their client do not count (see maxOfflineSessions). */
    maxSessions: number;
    /** MQTT sessions that outlive their connection (clean session 0, session expiry > 0), connected or not. A CONNECT that would create one more is refused: MQTT 5 CONNACK 0x97 quota exceeded, 3.1.1 return code 3 server unavailable. */
    maxOfflineSessions: number;
    /** The same, per authid (an anonymous client's authid is its user name, else its client id). */
    maxOfflineSessionsPerAuthid: number;
    /** Realms the router holds at most, configured ones included. With autoCreateRealms, a session naming an unknown realm beyond this count is refused as no such realm (realms are never dropped, so without a cap any client could grow the router by naming new realms). */
    maxRealms: number;
    maxSubscriptionsPerSession: number;
    /** Testaments (wamp.session.add_testament) one session may hold; past it add_testament is refused with gatehouse.error.limit_exceeded. */
    maxTestamentsPerSession: number;
    maxRegistrationsPerSession: number;
    maxPendingCallsPerSession: number;
    /** Timeout for calls that give none; 0 means no timeout. */
    callTimeoutMs: number;
    /** Open connections across all listeners (TCP, TLS and WebSocket); more are refused at accept (WebSocket: HTTP 503). */
    maxConnections: number;
    /** Open connections from one IP address; more are refused at accept (WebSocket: HTTP 429). */
    maxConnectionsPerIp: number;
    /** A TLS handshake not complete in this time is dropped. */
    tlsHandshakeTimeoutMs: number;
    /** Inbound messages per second per connection (token bucket, burst one second's worth); 0: unlimited. Over it, reading pauses; still over after rateLimitDisconnectMs, the connection is closed with the protocol's error. */
    messagesPerSecond: number;
    /** Inbound message bytes per second per connection, like messagesPerSecond; 0: unlimited. */
    bytesPerSecond: number;
    /** A connection throttled without a break this long is disconnected (WAMP wamp.error.rate_limit_exceeded, MQTT 0x96, STOMP ERROR). */
    rateLimitDisconnectMs: number;
    /** Retained keys per realm; a retained publish that would add one more is refused (limit_exceeded). */
    maxRetainedKeysPerRealm: number;
    /** Largest retained value in bytes; a larger retained publish is refused (payload_size_exceeded). 0: /limits/maxMessageSize. */
    maxRetainedValueBytes: number;
  };
  store: {
    /** Retained store engine: sqlite (embedded, one node) or jetstream (NATS JetStream KV, shared by several routers). Queues, requests and aggregate tables stay in the SQLite file either way. */
    engine: 'sqlite' | 'jetstream';
    /** Database file; relative paths resolve against the working directory. */
    path: string;
    /** SQLite synchronous pragma: full survives power loss, normal survives process crashes. */
    synchronous: 'full' | 'normal';
    /** The JetStream KV engine (store.engine jetstream): one bucket per realm. */
    nats: NatsStoreConfig;
  };
  /** Several Gatehouse nodes on NATS acting as one router (README "Cluster"). null: a single router. With nats set, store.engine defaults to jetstream. */
  cluster: ClusterConfig | null;
  /** Aggregate tables: schema-driven materialized tables fed by publications (README "Aggregate tables"). */
  aggregate: {
    /** Directory of table definitions, one JSON file per table (schemas/aggregate-definition.schema.json); relative paths resolve against the working directory. Empty: the engine is off. */
    dir: string;
    /** The realm whose topics and RPCs the tables use. */
    realm: string;
  };
  log: {
    level: LogLevel;
    /** json: one JSON object per line (for log shippers); pretty: one readable line per entry, colored on a terminal; auto: pretty when stdout is a terminal, json otherwise. */
    format: LogFormat;
  };
  metrics: {
    enabled: boolean;
    path: string;
  };
  /** The live table dashboard, a web page the daemon serves on its HTTP listener; it talks to the router over WAMP WebSocket (wamp.path). */
  dashboard: {
    /** Serve the dashboard page and its assets. */
    enabled: boolean;
    /** HTTP path of the dashboard (not ending in /); its assets are served below it. */
    path: string;
  };
  /** Proxies in front of the router (haproxy, nginx, a cloud load balancer) that may say whom they speak for: with a PROXY protocol header on TCP listeners, with Forwarded / X-Forwarded-For on HTTP and WebSocket requests. Believed only from the trusted addresses; see SECURITY.md. */
  proxy: {
    /** Addresses or CIDR blocks of the trusted proxies, e.g. ["127.0.0.1/32", "10.0.0.0/8", "fd00::/8"]. Empty: nobody speaks for anyone else. */
    trusted: string[];
    /** The PROXY protocol (v1 and v2) on every TCP listener unless proxy.listeners says otherwise. off: not read; optional: a trusted proxy may send a header, anyone else who does is refused; required: every connection must come from a trusted proxy with a valid header. */
    protocol: ProxyProtocolMode;
    /** proxy.protocol per listener; inherit: proxy.protocol. http covers the HTTP port (and what it serves beside HTTP) and WebSocket endpoints on ports of their own. */
    listeners: {
      http: 'inherit' | 'off' | 'optional' | 'required';
      rawsocket: 'inherit' | 'off' | 'optional' | 'required';
      mqtt: 'inherit' | 'off' | 'optional' | 'required';
      mqttTls: 'inherit' | 'off' | 'optional' | 'required';
      stomp: 'inherit' | 'off' | 'optional' | 'required';
      stompTls: 'inherit' | 'off' | 'optional' | 'required';
    };
    /** A connection whose PROXY header (or, from an untrusted address, whose first bytes) has not come in this time is closed. */
    headerTimeoutMs: number;
    /** Believe Forwarded (RFC 7239) or else X-Forwarded-For on WebSocket upgrades from trusted proxies. */
    forwardedHeaders: boolean;
  };
  /** Links to other routers and brokers: store-and-forward of publications both ways, and calls to the peer (README "Links"). The scheme of url picks the peer's protocol. */
  links: LinkConfig[];
}

export interface TlsConfig {
  enabled: boolean;
  /** PEM certificate chain. */
  certFile: string;
  /** PEM private key. */
  keyFile: string;
  /** PEM CA bundle that client certificates are verified against (optional). */
  caFile: string;
  /** Oldest TLS version accepted. */
  minVersion: 'TLSv1.2' | 'TLSv1.3';
  /** Ask clients for a certificate, verified against caFile (a client without one still connects). Implied by a non-empty caFile; needs caFile (never Node's public root store). */
  requestCert: boolean;
  /** Refuse clients without a certificate signed by caFile (needs caFile). */
  requireClientCert: boolean;
}

export type ListenerAnonymousSetting = 'inherit' | 'loopback' | 'always' | 'never';

export type Serializer = 'json' | 'msgpack' | 'cbor';

export interface TlsPortConfig {
  enabled: boolean;
  host: string;
  /** MQTT over TLS. */
  port: number;
  /** PEM certificate chain. */
  certFile: string;
  /** PEM private key. */
  keyFile: string;
  /** PEM CA bundle that client certificates are verified against (optional). */
  caFile: string;
  /** Oldest TLS version accepted. */
  minVersion: 'TLSv1.2' | 'TLSv1.3';
  /** Ask clients for a certificate, verified against caFile (a client without one still connects). Implied by a non-empty caFile; needs caFile (never Node's public root store). */
  requestCert: boolean;
  /** Refuse clients without a certificate signed by caFile (needs caFile). */
  requireClientCert: boolean;
}

export type MatchPolicy = 'exact' | 'prefix' | 'wildcard';

export interface EventHistoryConfig {
  uri: string;
  /** How uri matches topics; absent means exact. */
  match?: MatchPolicy;
  /** Events kept per topic. */
  limit: number;
}

export type AuthMethod = 'anonymous' | 'ticket' | 'wampcra' | 'cryptosign' | 'tls' | 'password';

export interface RealmConfig {
  /** A WAMP URI: dot-separated, non-empty components without whitespace or '#'. */
  name: string;
  /** Topics whose recent events the realm keeps for wamp.subscription.get_events. */
  eventHistory?: EventHistoryConfig[];
  /** Authentication for this realm. */
  auth?: {
    /** Methods this realm accepts (password: MQTT username/password and STOMP login/passcode); absent: every configured method. */
    methods?: AuthMethod[];
  };
}

export type AnonymousSetting = 'loopback' | 'always' | 'never';

export interface UserRecord {
  authid: string;
  role: string;
  /** scrypt$N$r$p$<salt base64>$<hash base64>: for WAMP ticket, MQTT and STOMP passwords. */
  password?: string;
  /** Salted WAMP-CRA: key is the PBKDF2-SHA256 key derived from the secret, base64. */
  wampcra?: {
    salt: string;
    iterations: number;
    keylen: number;
    key: string;
  };
  /** Ed25519 public keys, 64 hex digits each. */
  cryptosign?: string[];
  /** Realms this user may join; absent: every realm. */
  realms?: string[];
}

export interface ThrottleConfig {
  enabled: boolean;
  /** Failures of one address within windowMs that block it. */
  maxFailures: number;
  /** The window failures are counted in; a record is forgotten after this long without failures or blocks. */
  windowMs: number;
  /** The first block; each further failure after a block doubles it. */
  backoffMs: number;
  /** The longest block of an address. */
  maxBackoffMs: number;
  /** Failures for one authid within windowMs, from any addresses, that block it for addresses with failures of their own. */
  authidMaxFailures: number;
  /** The longest block of an authid (kept short: others' failures must not lock a user out). */
  authidMaxBackoffMs: number;
  /** Password checks of one address run at once; more wait their turn (scrypt's thread pool stays free for other clients). */
  concurrentChecksPerAddress: number;
  /** Loopback peers (127.0.0.0/8, ::1) are not counted. Off by default: a proxy on the same host makes every client loopback. */
  exemptLoopback: boolean;
}

export interface DynamicAuthorizerConfig {
  /** Realm the procedure is registered in. */
  realm: string;
  /** The procedure's URI. */
  procedure: string;
  /** Authroles a session must have to register the procedure (or a pattern catching it); required. Any other REGISTER of it is refused with wamp.error.not_authorized, so no other client can grant rights. */
  calleeRoles: string[];
  /** How long a decision is reused; 0: ask every time. */
  cacheMs: number;
  /** Decisions cached at most; the oldest go first. */
  cacheSize: number;
  /** An answer later than this denies. */
  timeoutMs: number;
  /** Share a decision among all sessions of a role, or keep it per session. */
  cacheBy: 'role' | 'session';
}

export interface NatsStoreConfig {
  /** nats:// URLs of the NATS servers. */
  servers: string[];
  /** Bucket name prefix: a realm's bucket is <bucket>_<realm, escaped>. */
  bucket: string;
  /** Copies of each write when a bucket is created: 3 survives the loss of one NATS node. */
  replicas: 1 | 3 | 5;
  /** NATS credentials file (JWT and nkey seed); empty: none. */
  credentials: string;
  user: string;
  password: string;
  token: string;
  /** How long a JetStream request waits for the server. */
  timeoutMs: number;
  /** This router's will lease: renewed every third of it; when a router stops renewing, another fires its sessions' wills once it lapsed. */
  leaseMs: number;
}

export interface ClusterConfig {
  /** NATS server URLs (nats://host:port); any one reachable is enough, the client learns the others. Empty: no cluster. */
  nats: string[];
  /** This node's id, unique in the cluster: names it in message ids and leases. Absent: the host name plus a boot suffix. */
  node?: string;
  /** First token of every NATS subject the cluster uses: clusters sharing one NATS system keep apart. */
  prefix: string;
  /** RPC across nodes (README "RPC across cluster nodes"). */
  rpc: {
    /** How often a node says it is alive. */
    heartbeatMs: number;
    /** A node not heard of for this long is gone: its callees leave the directory and calls in flight on them fail with wamp.error.unavailable. */
    leaseMs: number;
    /** How long the session and subscription meta API waits for the other nodes. */
    metaTimeoutMs: number;
    /** How long a node waits for another's registration directory. */
    syncTimeoutMs: number;
  };
  /** MQTT persistent sessions shared by the cluster, on JetStream (README "Cluster"). */
  mqtt: {
    /** How long a node taking over a session waits for the node holding it; a holder that does not answer and whose lease has not lapsed (cluster.rpc.leaseMs) gets the CONNECT refused as server unavailable. */
    handoverTimeoutMs: number;
  };
  /** Named STOMP work queues shared by the cluster, on JetStream (README "Cluster"). */
  queues: {
    /** A message handed to a consumer and not acknowledged within this long (its node died) is redelivered, to any node: JetStream's ack_wait. */
    ackWaitMs: number;
  };
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export type LogFormat = 'auto' | 'json' | 'pretty';

export type ProxyProtocolMode = 'off' | 'optional' | 'required';

export interface LinkConfig {
  /** Names the link in metrics, logs, gatehouse.link.list and its durable queue. */
  name: string;
  /** The peer: ws:// or wss:// (WAMP: another Gatehouse or any WAMP router), mqtt:// or mqtts://, stomp:// or stomps://. */
  url: string;
  /** The local realm the link serves. */
  realm: string;
  /** The realm at the peer; absent: the same as realm. */
  remoteRealm?: string;
  /** Canonical topic patterns (fox-wamp wildcards: site.#, a.*.c): local publications matching one are queued durably and sent to the peer. */
  out: string[];
  /** Patterns the link subscribes to at the peer, published locally; "auto": the local subscriptions are mirrored to the peer as they come and go. */
  in: string[] | 'auto';
  /** Procedure patterns the router registers locally and forwards to the peer (WAMP links only). */
  calls: string[];
  /** Credentials at the peer: WAMP ticket, MQTT username/password, STOMP login/passcode. */
  auth?: {
    user?: string;
    password?: string;
  };
  /** PEM files for wss/mqtts/stomps: the CA the peer's certificate is checked against, and a client certificate. */
  tls?: {
    caFile?: string;
    certFile?: string;
    keyFile?: string;
    serverName?: string;
  };
  /** The link's durable queue: when full the oldest message is dropped (counted in gatehouse_link_dropped_total). */
  queue: {
    maxMessages: number;
    maxBytes: number;
    /** Messages queued longer than this are dropped unsent; 0: never. */
    expirySeconds: number;
  };
  /** Messages sent and not yet acknowledged by the peer, at most. */
  window: number;
  /** How long a connect, an acknowledgement or a forwarded call without its own timeout may take. */
  timeoutMs: number;
  /** The longest wait between reconnect attempts (the wait doubles from 100 ms). */
  retryMaxMs: number;
}
