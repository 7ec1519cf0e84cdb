import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, configSchema, loadConfig, resolveConfig } from '../../lib/config';

function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

function withTempFile(content: string, fn: (file: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-config-'));
  try {
    const file = join(dir, 'config.json');
    writeFileSync(file, content);
    fn(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('config - empty input resolves to the documented defaults', () => {
  const c = resolveConfig({});
  const tls = {
    enabled: false,
    certFile: '',
    keyFile: '',
    caFile: '',
    minVersion: 'TLSv1.2',
    requestCert: false,
    requireClientCert: false,
  };
  assert.deepEqual(JSON.parse(JSON.stringify(c)), {
    http: {
      host: '127.0.0.1',
      port: 8080,
      tls,
      allowedOrigins: ['*'],
      headersTimeoutMs: 10000,
      requestTimeoutMs: 30000,
      protocols: { rawsocket: true, mqtt: true, stomp: true },
      sniffTimeoutMs: 5000,
      api: { enabled: true, path: '/api', anonymous: 'inherit', keepAliveMs: 15000 },
    },
    wamp: {
      path: '/ws',
      rawsocket: { enabled: false, host: '127.0.0.1', port: 8081, tls },
      serializers: ['json', 'msgpack', 'cbor'],
      pingIntervalMs: 30000,
      helloTimeoutMs: 10000,
      anonymous: 'inherit',
    },
    mqtt: {
      enabled: true,
      host: '127.0.0.1',
      port: 1883,
      wsPath: '/mqtt',
      tls: { ...tls, host: '127.0.0.1', port: 8883 },
      realm: 'realm1',
      keepAliveMaxSeconds: 0,
      receiveMaximum: 100,
      maxInflight: 100,
      topicAliasMaximum: 64,
      maxSessionExpirySeconds: 604800,
      persistentSessionExpirySeconds: 604800,
      maxQueuedMessages: 1000,
      maxQueuedBytes: 10485760,
      connectTimeoutMs: 10000,
      sysIntervalSeconds: 10,
      rpcTimeoutMs: 60000,
      anonymous: 'inherit',
    },
    stomp: {
      enabled: true,
      host: '127.0.0.1',
      port: 61613,
      wsPath: '/stomp',
      tls: { ...tls, host: '127.0.0.1', port: 61614 },
      realm: 'realm1',
      heartbeat: { send: 1000, receive: 1000 },
      connectTimeoutMs: 10000,
      limits: {
        maxHeaders: 64,
        maxHeaderLineBytes: 8192,
        maxBodyBytes: 0,
        framesPerSecond: 0,
        maxTransactionBytes: 16777216,
        maxTransactionBytesTotal: 268435456,
      },
      maxQueueMessages: 100000,
      maxQueueBytes: 104857600,
      defaultPrefetch: 100,
      anonymous: 'inherit',
    },
    realms: [{ name: 'realm1' }],
    autoCreateRealms: true,
    defaultRealm: 'realm1',
    cluster: null,
    auth: {
      anonymous: 'loopback',
      anonymousRole: 'anonymous',
      users: [],
      tls: { role: '' },
      throttle: {
        enabled: true,
        maxFailures: 10,
        windowMs: 60000,
        backoffMs: 1000,
        maxBackoffMs: 60000,
        authidMaxFailures: 20,
        authidMaxBackoffMs: 10000,
        concurrentChecksPerAddress: 2,
        exemptLoopback: false,
      },
      dynamic: { realm: '', procedure: '', timeoutMs: 5000, calleeRoles: [] },
      roles: null,
      authorizer: null,
    },
    limits: {
      maxMessageSize: 1048576,
      outboundQueueBytes: 4194304,
      outboundHighWaterBytes: 1048576,
      slowConsumerTimeoutMs: 30000,
      maxSessions: 10000,
      maxOfflineSessions: 10000,
      maxOfflineSessionsPerAuthid: 100,
      maxRealms: 100,
      maxSubscriptionsPerSession: 10000,
      maxTestamentsPerSession: 100,
      maxRegistrationsPerSession: 1000,
      maxPendingCallsPerSession: 1000,
      callTimeoutMs: 0,
      maxConnections: 10000,
      maxConnectionsPerIp: 1000,
      tlsHandshakeTimeoutMs: 10000,
      messagesPerSecond: 100000,
      bytesPerSecond: 67108864,
      rateLimitDisconnectMs: 10000,
      maxRetainedKeysPerRealm: 1000000,
      maxRetainedValueBytes: 0,
    },
    store: {
      engine: 'sqlite',
      path: './data/gatehouse.db',
      synchronous: 'full',
      nats: {
        servers: ['nats://127.0.0.1:4222'],
        bucket: 'gatehouse',
        replicas: 1,
        credentials: '',
        user: '',
        password: '',
        token: '',
        timeoutMs: 5000,
        leaseMs: 10000,
      },
    },
    aggregate: { dir: '', realm: 'realm1' },
    log: { level: 'info', format: 'auto' },
    metrics: { enabled: true, path: '/metrics' },
    dashboard: { enabled: true, path: '/dashboard' },
    proxy: {
      trusted: [],
      protocol: 'off',
      listeners: {
        http: 'inherit',
        rawsocket: 'inherit',
        mqtt: 'inherit',
        mqttTls: 'inherit',
        stomp: 'inherit',
        stompTls: 'inherit',
      },
      headerTimeoutMs: 5000,
      forwardedHeaders: true,
    },
    links: [],
  });
  assert.deepEqual(resolveConfig(undefined), c);
});

test('config - every schema property except $schema has a default that resolves', () => {
  // Walks the schema's object properties and checks each one is present after resolve.
  const c = resolveConfig({}) as unknown as Record<string, unknown>;
  const walk = (schema: Record<string, unknown>, value: Record<string, unknown>, at: string): void => {
    const props = (schema.properties ?? {}) as Record<string, Record<string, unknown>>;
    for (const [key, sub] of Object.entries(props)) {
      if (key === '$schema') continue;
      assert.ok(key in value, `${at}/${key} has no default`);
      const child = value[key];
      if (sub.type === 'object') walk(sub, child as Record<string, unknown>, `${at}/${key}`);
    }
  };
  walk(configSchema, c, '');
});

test('config - partial input keeps given values and fills the rest', () => {
  const c = resolveConfig({ http: { port: 0 }, wamp: { rawsocket: { enabled: true } } });
  assert.equal(c.http.port, 0);
  assert.equal(c.http.host, '127.0.0.1');
  assert.equal(c.wamp.rawsocket.enabled, true);
  assert.equal(c.wamp.rawsocket.port, 8081);
  assert.equal(c.wamp.path, '/ws');
});

test('config - a bad field is named by its JSON path', () => {
  const problems = problemsOf(() => resolveConfig({ wamp: { pingIntervalMs: 'soon' } }));
  assert.deepEqual(problems, ['/wamp/pingIntervalMs must be integer']);
  assert.throws(() => resolveConfig({ wamp: { pingIntervalMs: 1.5 } }), /\/wamp\/pingIntervalMs must be integer/);
});

test('config - every bad field is reported at once', () => {
  const problems = problemsOf(() =>
    resolveConfig({
      http: { port: 70000, prot: 1 },
      log: { level: 'loud' },
      realms: [{ eventHistory: [] }],
      wamp: { serializers: ['json', 'xml'] },
    }),
  );
  assert.ok(problems.includes('/http/port must be <= 65535'), problems.join('\n'));
  assert.ok(problems.includes('/http/prot is not a known option'), problems.join('\n'));
  assert.ok(
    problems.some((p) => p.startsWith('/log/level must be one of "fatal"')),
    problems.join('\n'),
  );
  assert.ok(problems.includes('/realms/0/name is required'), problems.join('\n'));
  assert.ok(
    problems.some((p) => p.startsWith('/wamp/serializers/1 must be one of')),
    problems.join('\n'),
  );
});

test('config - unknown top-level options are rejected, $schema is allowed', () => {
  assert.deepEqual(
    problemsOf(() => resolveConfig({ htp: {} })),
    ['/htp is not a known option'],
  );
  assert.equal(resolveConfig({ $schema: './schemas/config.schema.json' }).http.port, 8080);
  assert.deepEqual(
    problemsOf(() => resolveConfig([])),
    ['/ must be object'],
  );
});

test('config - rules across fields are checked', () => {
  assert.deepEqual(
    problemsOf(() => resolveConfig({ autoCreateRealms: false, defaultRealm: 'other' })),
    ['/defaultRealm must name a realm in /realms when /autoCreateRealms is false'],
  );
  assert.deepEqual(
    problemsOf(() => resolveConfig({ realms: [{ name: 'a' }, { name: 'a' }] })),
    ['/realms/1/name duplicates realm "a"'],
  );
  assert.deepEqual(
    problemsOf(() => resolveConfig({ limits: { outboundHighWaterBytes: 10, outboundQueueBytes: 5 } })),
    ['/limits/outboundHighWaterBytes must not exceed /limits/outboundQueueBytes'],
  );
});

test('config - the dashboard path must not shadow the other HTTP endpoints', () => {
  assert.deepEqual(
    problemsOf(() => resolveConfig({ dashboard: { path: '/ws' } })),
    ['/dashboard/path must not be or contain /wamp/path (/ws)'],
  );
  assert.deepEqual(
    problemsOf(() => resolveConfig({ dashboard: { path: '/app' }, metrics: { path: '/app/metrics' } })),
    ['/dashboard/path must not be or contain /metrics/path (/app/metrics)'],
  );
  assert.deepEqual(
    problemsOf(() => resolveConfig({ dashboard: { path: '/health' } })),
    ['/dashboard/path must not be or contain the health check (/health)'],
  );
  // a disabled dashboard claims no path; a path ending in / is refused by the schema
  assert.equal(resolveConfig({ dashboard: { enabled: false, path: '/ws' } }).dashboard.path, '/ws');
  assert.equal(resolveConfig({ dashboard: { path: '/ui/live' } }).dashboard.path, '/ui/live');
  assert.ok(problemsOf(() => resolveConfig({ dashboard: { path: '/' } }))[0]?.startsWith('/dashboard/path must match pattern'));
});

test('config - the result is deep-frozen and the input is not modified', () => {
  const input = { http: { port: 0 }, realms: [{ name: 'r', eventHistory: [{ uri: 'a.b', limit: 3 }] }] };
  const snapshot = structuredClone(input);
  const c = resolveConfig(input);
  assert.deepEqual(input, snapshot);
  assert.ok(Object.isFrozen(c));
  assert.ok(Object.isFrozen(c.http));
  assert.ok(Object.isFrozen(c.wamp.rawsocket));
  assert.ok(Object.isFrozen(c.wamp.serializers));
  assert.ok(Object.isFrozen(c.realms[0]?.eventHistory?.[0]));
  assert.equal(Reflect.set(c.http, 'port', 1), false);
  assert.equal(c.http.port, 0);
  // Defaults are fresh per call: one config's arrays are not another's.
  assert.notEqual(resolveConfig({}).wamp.serializers, resolveConfig({}).wamp.serializers);
});

test('config - file < environment < overrides', () => {
  const file = JSON.stringify({
    http: { host: '0.0.0.0', port: 1000 },
    log: { level: 'warn' },
    store: { path: '/file.db', synchronous: 'normal' },
  });
  withTempFile(file, (path) => {
    const fromFile = loadConfig({ file: path, env: {} });
    assert.equal(fromFile.http.port, 1000);
    assert.equal(fromFile.store.synchronous, 'normal');

    const env = {
      GATEHOUSE_HTTP_PORT: '2000',
      GATEHOUSE_LOG_LEVEL: 'debug',
      GATEHOUSE_STORE_PATH: '/env.db',
      GATEHOUSE_HTTP_HOST: '',
    };
    const fromEnv = loadConfig({ file: path, env });
    assert.equal(fromEnv.http.port, 2000);
    assert.equal(fromEnv.http.host, '0.0.0.0', 'an empty variable counts as unset');
    assert.equal(fromEnv.log.level, 'debug');
    assert.equal(fromEnv.store.path, '/env.db');
    assert.equal(fromEnv.store.synchronous, 'normal', 'objects merge, siblings survive');

    const fromFlags = loadConfig({ file: path, env, overrides: { http: { port: 3000 }, log: { level: 'error' } } });
    assert.equal(fromFlags.http.port, 3000);
    assert.equal(fromFlags.http.host, '0.0.0.0');
    assert.equal(fromFlags.log.level, 'error');
    assert.equal(fromFlags.store.path, '/env.db');
  });
});

test('config - GATEHOUSE_REALM sets the default realm and creates it', () => {
  const c = loadConfig({ env: { GATEHOUSE_REALM: 'com.example' } });
  assert.equal(c.defaultRealm, 'com.example');
  assert.deepEqual(
    c.realms.map((r) => r.name),
    ['com.example'],
  );
  const both = loadConfig({ env: {}, overrides: { defaultRealm: 'x', realms: [{ name: 'x' }, { name: 'y' }] } });
  assert.deepEqual(
    both.realms.map((r) => r.name),
    ['x', 'y'],
  );
});

test('config - GATEHOUSE_CLUSTER and GATEHOUSE_NODE join a cluster; the command line wins; a bad URL or node id names the field', () => {
  const c = loadConfig({ env: { GATEHOUSE_CLUSTER: 'nats://a:4222, nats://b:4222', GATEHOUSE_NODE: 'n-1' } });
  assert.deepEqual(c.cluster, {
    nats: ['nats://a:4222', 'nats://b:4222'],
    node: 'n-1',
    prefix: 'gatehouse',
    rpc: { heartbeatMs: 1000, leaseMs: 3000, metaTimeoutMs: 1000, syncTimeoutMs: 2000 },
    queues: { ackWaitMs: 30000 },
    mqtt: { handoverTimeoutMs: 2000 },
  });
  const flags = loadConfig({ env: { GATEHOUSE_NODE: 'n-1' }, overrides: { cluster: { nats: ['nats://c:4222'], node: 'n-2' } } });
  assert.deepEqual(flags.cluster, {
    nats: ['nats://c:4222'],
    node: 'n-2',
    prefix: 'gatehouse',
    rpc: { heartbeatMs: 1000, leaseMs: 3000, metaTimeoutMs: 1000, syncTimeoutMs: 2000 },
    queues: { ackWaitMs: 30000 },
    mqtt: { handoverTimeoutMs: 2000 },
  });
  // a node id alone names the router; with no servers there is no cluster
  assert.deepEqual(loadConfig({ env: { GATEHOUSE_NODE: 'solo' } }).cluster, {
    nats: [],
    node: 'solo',
    prefix: 'gatehouse',
    rpc: { heartbeatMs: 1000, leaseMs: 3000, metaTimeoutMs: 1000, syncTimeoutMs: 2000 },
    queues: { ackWaitMs: 30000 },
    mqtt: { handoverTimeoutMs: 2000 },
  });
  assert.deepEqual(
    problemsOf(() => loadConfig({ env: { GATEHOUSE_NODE: 'a.b' } })),
    ['/cluster/node must match pattern "^[A-Za-z0-9_-]{1,64}$" (from GATEHOUSE_NODE)'],
  );
  assert.match(
    problemsOf(() => loadConfig({ env: { GATEHOUSE_CLUSTER: 'http://x' } }))[0] ?? '',
    /^\/cluster\/nats\/0 must match pattern/,
  );
});

test("config - with a cluster the store engine defaults to jetstream on the cluster's servers; a named engine stays", () => {
  const clustered = resolveConfig({ cluster: { nats: ['nats://a:4222'] } });
  assert.equal(clustered.store.engine, 'jetstream');
  assert.deepEqual(clustered.store.nats.servers, ['nats://a:4222']);
  const elsewhere = resolveConfig({ cluster: { nats: ['nats://a:4222'] }, store: { nats: { servers: ['nats://b:4222'] } } });
  assert.deepEqual(elsewhere.store.nats.servers, ['nats://b:4222']);
  assert.equal(resolveConfig({ cluster: { nats: ['nats://a:4222'] }, store: { engine: 'sqlite' } }).store.engine, 'sqlite');
  assert.equal(resolveConfig({ cluster: { nats: [] } }).store.engine, 'sqlite', 'no servers, no cluster');
  assert.equal(resolveConfig({}).store.engine, 'sqlite');
});

test('config - a bad value from the environment names the field and the variable', () => {
  const problems = problemsOf(() => loadConfig({ env: { GATEHOUSE_HTTP_PORT: 'eighty' } }));
  assert.deepEqual(problems, ['/http/port must be integer (from GATEHOUSE_HTTP_PORT)']);
  const fromFlags = problemsOf(() => loadConfig({ env: {}, overrides: { log: { level: 'loud' } } }));
  assert.match(fromFlags[0] ?? '', /^\/log\/level must be one of .* \(from command line\)$/);
});

test('config - an unreadable or malformed file is a ConfigError naming the file', () => {
  assert.throws(
    () => loadConfig({ file: '/nonexistent/gatehouse.json', env: {} }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /\/nonexistent\/gatehouse\.json/);
      return true;
    },
  );
  withTempFile('{ "http": ', (path) => {
    assert.throws(() => loadConfig({ file: path, env: {} }), /not valid JSON/);
  });
  withTempFile('{ "wamp": { "helloTimeoutMs": 0 } }', (path) => {
    assert.throws(
      () => loadConfig({ file: path, env: {} }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.ok(err.message.includes(path));
        assert.deepEqual(err.problems, ['/wamp/helloTimeoutMs must be >= 1']);
        return true;
      },
    );
  });
});

test('config - an enabled TLS block needs its files, and requireClientCert needs a CA', () => {
  assert.deepEqual(
    problemsOf(() => resolveConfig({ http: { tls: { enabled: true, certFile: 'c.pem' } } })),
    ['/http/tls needs certFile and keyFile when enabled'],
  );
  assert.deepEqual(
    problemsOf(() =>
      resolveConfig({ wamp: { rawsocket: { tls: { enabled: true, certFile: 'c', keyFile: 'k', requireClientCert: true } } } }),
    ),
    ['/wamp/rawsocket/tls/requireClientCert needs /wamp/rawsocket/tls/caFile'],
  );
  // the router trusts these procedures with passwords and decisions: who may register them is required
  assert.deepEqual(
    problemsOf(() => resolveConfig({ auth: { dynamic: { procedure: 'app.authenticate' } } })),
    ['/auth/dynamic/calleeRoles must name the authroles that may register /auth/dynamic/procedure'],
  );
  assert.deepEqual(
    problemsOf(() => resolveConfig({ auth: { authorizer: { procedure: 'app.authorize' } } })),
    ['/auth/authorizer/calleeRoles must name the authroles that may register /auth/authorizer/procedure'],
  );
  assert.doesNotThrow(() => resolveConfig({ auth: { dynamic: { procedure: 'app.authenticate', calleeRoles: ['authn'] } } }));
  // requestCert without a CA would verify client certificates against the public root store
  assert.deepEqual(
    problemsOf(() => resolveConfig({ stomp: { tls: { enabled: true, certFile: 'c', keyFile: 'k', requestCert: true } } })),
    ['/stomp/tls/requestCert needs /stomp/tls/caFile'],
  );
  assert.doesNotThrow(() =>
    resolveConfig({ http: { tls: { enabled: true, certFile: 'c', keyFile: 'k', caFile: 'ca', requestCert: true } } }),
  );
  assert.doesNotThrow(() =>
    resolveConfig({ mqtt: { tls: { enabled: true, certFile: 'c', keyFile: 'k', caFile: 'ca', requireClientCert: true } } }),
  );
});
