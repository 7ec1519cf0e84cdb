/**
 * Router configuration: one JSON Schema (schemas/config.schema.json) holds every
 * option and its default; this module applies the defaults with ajv, validates,
 * checks the few rules that span fields, and freezes the result. An invalid option
 * fails start-up with a message naming its JSON path.
 *
 * Precedence, lowest first: schema defaults < config file < environment < overrides
 * (the command line). Environment variables read by loadConfig:
 *
 *   GATEHOUSE_HTTP_HOST   -> /http/host
 *   GATEHOUSE_HTTP_PORT   -> /http/port
 *   GATEHOUSE_LOG_LEVEL   -> /log/level
 *   GATEHOUSE_LOG_FORMAT  -> /log/format
 *   GATEHOUSE_STORE_PATH  -> /store/path
 *   GATEHOUSE_REALM       -> /defaultRealm (and the realm is added to /realms)
 *   GATEHOUSE_CLUSTER     -> /cluster/nats (comma-separated NATS URLs)
 *   GATEHOUSE_NODE        -> /cluster/node
 *
 * An empty variable counts as unset.
 */
import { readFileSync } from 'node:fs';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import schema from '../schemas/config.schema.json';
import type { Config, TlsConfig } from './config-types';
import { permissionProblems } from './auth/permissions';
import { trustedEntryProblem } from './trusted-proxies';

// The Config type and its parts are generated from schemas/config.schema.json
// (scripts/gen-config-types.ts, `npm run gen:config-types`); the schema is their one source.
export type {
  AnonymousSetting,
  AuthMethod,
  ClusterConfig,
  Config,
  DynamicAuthorizerConfig,
  EventHistoryConfig,
  LinkConfig,
  ListenerAnonymousSetting,
  LogFormat,
  LogLevel,
  MatchPolicy,
  NatsStoreConfig,
  ProxyProtocolMode,
  RealmConfig,
  Serializer,
  ThrottleConfig,
  TlsConfig,
  TlsPortConfig,
  UserRecord,
} from './config-types';

/** the listeners proxy.listeners names */
export type ProxiedListener = keyof Config['proxy']['listeners'];

type DeepPartial<T> = T extends (infer U)[] ? DeepPartial<U>[] : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

/** What callers may pass before defaults are applied (e.g. `new Router({ http: { port: 0 } })`). */
export type ConfigInput = DeepPartial<Config>;

/** Invalid configuration. `problems` holds one line per bad field, each starting with its JSON path. */
export class ConfigError extends Error {
  readonly problems: readonly string[];

  constructor(problems: string[], source?: string) {
    const head = source === undefined ? 'invalid configuration' : `invalid configuration (${source})`;
    super(`${head}:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
    this.problems = Object.freeze([...problems]);
  }
}

/** The JSON Schema the config is validated against. */
export const configSchema: Readonly<Record<string, unknown>> = schema;

let validator: ValidateFunction | undefined;

function validate(data: unknown): ErrorObject[] {
  if (validator === undefined) {
    // allErrors: report every bad field at once, not just the first.
    const ajv = new Ajv({ useDefaults: true, allErrors: true });
    validator = ajv.compile(schema);
  }
  return validator(data) ? [] : (validator.errors ?? []);
}

/** JSON-pointer escaping for a property name appended to a path (RFC 6901). */
function pointer(base: string, key: unknown): string {
  return `${base}/${String(key).replace(/~/g, '~0').replace(/\//g, '~1')}`;
}

function describe(error: ErrorObject): { path: string; text: string } {
  const at = error.instancePath;
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
      return { path: pointer(at, params.missingProperty), text: 'is required' };
    case 'additionalProperties':
      return { path: pointer(at, params.additionalProperty), text: 'is not a known option' };
    case 'enum': {
      const allowed = Array.isArray(params.allowedValues) ? params.allowedValues : [];
      return { path: at, text: `must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}` };
    }
    default:
      return { path: at, text: error.message ?? `fails ${error.keyword}` };
  }
}

/** Rules the schema cannot say: they relate two fields. */
function crossFieldProblems(c: Config): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  c.realms.forEach((realm, i) => {
    if (seen.has(realm.name)) problems.push(`/realms/${i}/name duplicates realm "${realm.name}"`);
    seen.add(realm.name);
  });
  if (!c.autoCreateRealms && !seen.has(c.defaultRealm)) {
    problems.push('/defaultRealm must name a realm in /realms when /autoCreateRealms is false');
  }
  const authids = new Set<string>();
  c.auth.users.forEach((u, i) => {
    if (authids.has(u.authid)) problems.push(`/auth/users/${i}/authid duplicates user "${u.authid}"`);
    authids.add(u.authid);
  });
  if (c.limits.outboundHighWaterBytes > c.limits.outboundQueueBytes) {
    problems.push('/limits/outboundHighWaterBytes must not exceed /limits/outboundQueueBytes');
  }
  const raw = c.wamp.rawsocket;
  if (raw.enabled && raw.port !== 0 && raw.port === c.http.port && raw.host === c.http.host) {
    problems.push('/wamp/rawsocket/port must differ from /http/port on the same host');
  }
  const st = c.stomp;
  if (st.enabled && c.mqtt.enabled && st.port !== 0 && st.port === c.mqtt.port && st.host === c.mqtt.host) {
    problems.push('/stomp/port must differ from /mqtt/port on the same host');
  }
  if (st.wsPath !== '' && (st.wsPath === c.wamp.path || st.wsPath === c.mqtt.wsPath)) {
    problems.push('/stomp/wsPath must differ from /wamp/path and /mqtt/wsPath');
  }
  const tlsBlocks: [string, TlsConfig][] = [
    ['/http/tls', c.http.tls],
    ['/wamp/rawsocket/tls', c.wamp.rawsocket.tls],
    ['/mqtt/tls', c.mqtt.tls],
    ['/stomp/tls', c.stomp.tls],
  ];
  // a procedure the router trusts with passwords or decisions: not registrable by anyone
  if (c.auth.dynamic.procedure !== '' && c.auth.dynamic.calleeRoles.length === 0) {
    problems.push('/auth/dynamic/calleeRoles must name the authroles that may register /auth/dynamic/procedure');
  }
  if (c.auth.authorizer && c.auth.authorizer.calleeRoles.length === 0) {
    problems.push('/auth/authorizer/calleeRoles must name the authroles that may register /auth/authorizer/procedure');
  }
  for (const [at, t] of tlsBlocks) {
    if (t.enabled && (t.certFile === '' || t.keyFile === '')) problems.push(`${at} needs certFile and keyFile when enabled`);
    // without a CA of their own, client certificates would be verified against Node's
    // public root store: "authorized" would mean "signed by any public CA"
    if (t.requireClientCert && t.caFile === '') problems.push(`${at}/requireClientCert needs ${at}/caFile`);
    if (t.requestCert && t.caFile === '') problems.push(`${at}/requestCert needs ${at}/caFile`);
  }
  if (c.metrics.enabled && c.metrics.path === c.wamp.path) {
    problems.push('/metrics/path must differ from /wamp/path');
  }
  if (c.metrics.enabled && c.metrics.path === '/health') {
    problems.push('/metrics/path must not be /health (served by the admin routes)');
  }
  for (const [role, rc] of Object.entries(c.auth.roles ?? {})) {
    for (const p of permissionProblems(rc.permissions))
      problems.push(`/auth/roles/${role.replace(/~/g, '~0').replace(/\//g, '~1')}${p}`);
  }
  if (c.dashboard.enabled) {
    const taken: [string, string][] = [
      ['/wamp/path', c.wamp.path],
      ['/mqtt/wsPath', c.mqtt.wsPath],
      ['/stomp/wsPath', c.stomp.wsPath],
      ['the health check', '/health'],
    ];
    if (c.metrics.enabled) taken.push(['/metrics/path', c.metrics.path]);
    for (const [name, path] of taken) {
      // the dashboard serves everything below its path too
      if (path !== '' && (path === c.dashboard.path || path.startsWith(`${c.dashboard.path}/`))) {
        problems.push(`/dashboard/path must not be or contain ${name} (${path})`);
      }
    }
  }
  const linkNames = new Set<string>();
  c.links.forEach((l, i) => {
    if (linkNames.has(l.name)) problems.push(`/links/${i}/name duplicates link "${l.name}"`);
    linkNames.add(l.name);
  });
  c.proxy.trusted.forEach((entry, i) => {
    const problem = trustedEntryProblem(entry);
    if (problem !== undefined) problems.push(`/proxy/trusted/${i} ${problem}`);
  });
  if (c.proxy.trusted.length === 0) {
    // nobody could connect: a required header is believed from trusted proxies only
    if (c.proxy.protocol === 'required') problems.push('/proxy/protocol "required" needs /proxy/trusted');
    for (const [name, mode] of Object.entries(c.proxy.listeners)) {
      if (mode === 'required') problems.push(`/proxy/listeners/${name} "required" needs /proxy/trusted`);
    }
  }
  return problems;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/**
 * With a cluster, the store engine defaults to JetStream (issue 12): the nodes share
 * one store, on the cluster's NATS servers unless store.nats.servers names others.
 * Applied before the schema's own defaults, and only where the user named nothing.
 */
function clusterStoreDefault(data: unknown): void {
  if (!isPlainObject(data)) return;
  const cluster = data.cluster;
  if (!isPlainObject(cluster) || !Array.isArray(cluster.nats) || cluster.nats.length === 0) return;
  if (!STORE_ENGINES.includes('jetstream')) return;
  if (data.store === undefined) data.store = {};
  const store = data.store;
  if (!isPlainObject(store)) return; // the schema reports it
  store.engine ??= 'jetstream';
  if (store.engine !== 'jetstream') return;
  if (store.nats === undefined) store.nats = {};
  const nats = store.nats;
  if (isPlainObject(nats)) nats.servers ??= [...(cluster.nats as unknown[])];
}

const STORE_ENGINES: readonly string[] = schema.properties.store.properties.engine.enum;

/** Where a value came from, keyed by JSON path, so a problem can name its source. */
type Origins = Map<string, string>;

function annotate(path: string, text: string, origins: Origins | undefined): string {
  let line = `${path === '' ? '/' : path} ${text}`;
  if (origins !== undefined) {
    for (const [origin, label] of origins) {
      if (path === origin || path.startsWith(`${origin}/`)) {
        line += ` (from ${label})`;
        break;
      }
    }
  }
  return line;
}

function resolve(input: unknown, origins?: Origins, source?: string): Config {
  let data: unknown;
  try {
    // Deep clone: defaults are written into the data, never into the caller's object.
    data = input === undefined ? {} : structuredClone(input);
  } catch {
    throw new ConfigError(['/ must be plain JSON data'], source);
  }
  clusterStoreDefault(data);
  const errors = validate(data);
  if (errors.length > 0) {
    const problems = errors.map((e) => {
      const { path, text } = describe(e);
      return annotate(path, text, origins);
    });
    throw new ConfigError([...new Set(problems)], source);
  }
  const config = data as Config;
  const problems = crossFieldProblems(config);
  if (problems.length > 0) throw new ConfigError(problems, source);
  return deepFreeze(config);
}

/**
 * Apply schema defaults to `input`, validate it and return a deep-frozen Config.
 * `input` is not modified. Throws ConfigError naming each bad field by JSON path.
 */
export function resolveConfig(input: unknown): Config {
  return resolve(input);
}

export interface LoadConfigOptions {
  /** JSON config file */
  file?: string;
  /** usually process.env; see the list at the top of this file */
  env: Readonly<Record<string, string | undefined>>;
  /** a partial config tree (from the command line) applied last; arrays replace */
  overrides?: Readonly<Record<string, unknown>>;
}

const ENV_VARS: readonly { name: string; path: readonly string[] }[] = [
  { name: 'GATEHOUSE_HTTP_HOST', path: ['http', 'host'] },
  { name: 'GATEHOUSE_HTTP_PORT', path: ['http', 'port'] },
  { name: 'GATEHOUSE_LOG_LEVEL', path: ['log', 'level'] },
  { name: 'GATEHOUSE_LOG_FORMAT', path: ['log', 'format'] },
  { name: 'GATEHOUSE_STORE_PATH', path: ['store', 'path'] },
  { name: 'GATEHOUSE_REALM', path: ['defaultRealm'] },
  { name: 'GATEHOUSE_CLUSTER', path: ['cluster', 'nats'] },
  { name: 'GATEHOUSE_NODE', path: ['cluster', 'node'] },
];

/** `--cluster` / GATEHOUSE_CLUSTER: a comma-separated list of NATS URLs. */
export function natsUrlList(text: string): string[] {
  return text
    .split(',')
    .map((u) => u.trim())
    .filter((u) => u !== '');
}

/**
 * Integers arrive as text from the environment and the command line. Anything that is
 * not plainly an integer stays a string, so validation names the field.
 */
export function parseScalar(text: string): string | number {
  return /^-?\d+$/.test(text.trim()) ? Number(text) : text;
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (isPlainObject(next)) {
      node = next;
    } else {
      const created: Record<string, unknown> = {};
      node[key] = created;
      node = created;
    }
  }
  const last = path[path.length - 1];
  if (last !== undefined) node[last] = value;
}

/** Merge `overlay` into `base` in place: objects merge, everything else replaces. */
function merge(
  base: Record<string, unknown>,
  overlay: Readonly<Record<string, unknown>>,
  at: string,
  origins: Origins,
  label: string,
): void {
  for (const [key, value] of Object.entries(overlay)) {
    if (value === undefined) continue;
    const path = pointer(at, key);
    const current = base[key];
    if (isPlainObject(value) && isPlainObject(current)) {
      merge(current, value, path, origins, label);
    } else {
      base[key] = isPlainObject(value) || Array.isArray(value) ? structuredClone(value) : value;
      origins.set(path, label);
    }
  }
}

/**
 * The named realm becomes the default realm and is created at start-up (added to
 * /realms when absent), so it works with autoCreateRealms false too.
 */
function ensureRealm(raw: Record<string, unknown>): void {
  const name = raw.defaultRealm;
  if (typeof name !== 'string') return;
  const realms: unknown[] = Array.isArray(raw.realms) ? raw.realms : [];
  const present = realms.some((r) => isPlainObject(r) && r.name === name);
  if (!present) raw.realms = [...realms, { name }];
}

function readFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`cannot read config file: ${(err as Error).message}`], file);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError([`config file is not valid JSON: ${(err as Error).message}`], file);
  }
  if (!isPlainObject(parsed)) throw new ConfigError(['/ must be object'], file);
  return parsed;
}

/** Read the config file (if any), apply environment variables, then overrides; resolve. */
export function loadConfig(opts: LoadConfigOptions): Config {
  const raw: Record<string, unknown> = opts.file === undefined ? {} : readFile(opts.file);
  const origins: Origins = new Map();
  let realmNamed = false;

  for (const { name, path } of ENV_VARS) {
    const value = opts.env[name];
    if (value === undefined || value === '') continue;
    const parsed =
      path[0] === 'http' && path[1] === 'port'
        ? parseScalar(value)
        : path[0] === 'cluster' && path[1] === 'nats'
          ? natsUrlList(value)
          : value;
    setPath(raw, path, parsed);
    origins.set(`/${path.join('/')}`, name);
    if (path[0] === 'defaultRealm') realmNamed = true;
  }
  if (opts.overrides !== undefined) {
    merge(raw, opts.overrides, '', origins, 'command line');
    if (opts.overrides.defaultRealm !== undefined && opts.overrides.realms === undefined) realmNamed = true;
  }
  if (realmNamed) ensureRealm(raw);

  return resolve(raw, origins, opts.file);
}
