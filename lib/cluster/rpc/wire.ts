/**
 * What the nodes of a cluster tell each other about RPC, and how it is encoded:
 * MessagePack without msgpackr records (like the store's codec, lib/store/codec.ts), so
 * binary in args, kwargs or an opaque body crosses the cluster byte for byte, and an
 * integer up to 2^53 stays exact. Everything decoded is checked before it is used: a
 * message from another node is input like any other.
 */
import { Packr } from 'msgpackr';
import { ApplicationError, Errors, RouterError, type CallFailure, type ErrorDef } from '../../errors';
import { isPlainObject, type Payload } from '../../payload';
import { payloadFromBytes } from '../../payload-bytes';
import type { InvokePolicy } from '../../registration';
import type { MatchPolicy } from '../../topic';

const packr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  // 'auto' is implemented by msgpackr 2.x but missing from its typings (lib/store/codec.ts)
  int64AsType: 'auto' as 'number',
});

/**
 * Subjects, under `<cluster.prefix>.rpc` (clusters sharing one NATS system keep apart). A
 * node id is escaped to one subject token.
 */
export function rpcSubjects(prefix: string) {
  const p = `${prefix}.rpc`;
  return {
    /** heartbeats of every node: liveness and the directory's sequence number */
    beat: `${p}.beat`,
    /** registration directory changes, broadcast */
    dir: `${p}.dir`,
    /** a node that stops says so: the others drop its callees at once */
    bye: `${p}.bye`,
    /** request/reply: a node's whole directory */
    sync: (node: string) => `${p}.node.${token(node)}.sync`,
    /** to the callee's node: invoke, progress, cancel */
    toCallee: (node: string) => `${p}.node.${token(node)}.in`,
    /** to the caller's node: results and errors */
    toCaller: (node: string) => `${p}.node.${token(node)}.out`,
    /** request/reply: session meta API on that node */
    meta: (node: string) => `${p}.node.${token(node)}.meta`,
  };
}

export type RpcSubjects = ReturnType<typeof rpcSubjects>;

/** A NATS subject token holds no '.', '*', '>' nor whitespace: anything else outside [A-Za-z0-9_-] becomes _XX. */
export function token(node: string): string {
  return node.replace(/[^A-Za-z0-9-]|_/g, (c) => `_${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** One callee's registration, as its node announces it. */
export interface CalleeRecord {
  realm: string;
  uri: string;
  match: MatchPolicy;
  invoke: InvokePolicy;
  /** the callee's session id (unique cluster-wide: 53-bit random, lib/ids.ts) */
  session: number;
  authid: string;
  authrole: string;
  /** fox-wamp concurrency; 0 = unlimited */
  concurrency: number;
  discloseCaller: boolean;
  /** the callee announced call canceling (it can be sent INTERRUPT) */
  canCancel: boolean;
  /** when it registered on its node: orders callees the same on every node */
  registeredAt: number;
}

export const recordKey = (r: CalleeRecord): string => `${r.realm}\u0000${r.match}\u0000${r.uri}\u0000${r.session}`;

export interface Beat {
  node: string;
  /** a fresh id per process: a restarted node with the same name is a new peer */
  boot: string;
  /** the sequence number of the node's last directory change */
  seq: number;
}

export interface DirChange extends Beat {
  op: 'add' | 'remove';
  rec: CalleeRecord;
}

export interface Snapshot {
  boot: string;
  seq: number;
  records: CalleeRecord[];
}

export interface CallerInfo {
  id: number;
  authid: string;
  authrole: string;
}

/** Caller's node -> callee's node. `id` is the call's id on the caller's node. */
export type ToCallee =
  | {
      k: 'invoke';
      from: string;
      id: number;
      realm: string;
      procedure: string;
      callee: number;
      payload: WirePayload;
      timeoutMs: number;
      receiveProgress: boolean;
      discloseMe: boolean;
      progress: boolean;
      caller: CallerInfo;
      /**
       * The node that keeps a roundrobin registration's turn picks the callee with its
       * own dealer (`callee` is only how the caller's node reached it): remote-callees.ts
       */
      route: boolean;
    }
  | { k: 'progress'; from: string; id: number; payload: WirePayload; final: boolean }
  | { k: 'cancel'; from: string; id: number; mode: 'kill' | 'killnowait'; reason: string };

/** Callee's node -> caller's node. */
export type ToCaller =
  { k: 'result'; id: number; payload: WirePayload; progress: boolean } | { k: 'error'; id: number; error: WireError };

/** A CallFailure on the wire: a router error by its catalogue code, an application error by its URI. */
export interface WireError {
  code?: string;
  uri: string;
  message?: string;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
}

export interface MetaRequest {
  realm: string;
  procedure: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
}

export type MetaReply = { ok: Payload } | { error: WireError };

export function encode(value: unknown): Uint8Array {
  return packr.pack(value);
}

/** Decodes a message; undefined when it is not a MessagePack object at all. */
export function decodeObject(data: Uint8Array): Record<string, unknown> | undefined {
  try {
    const v: unknown = packr.unpack(data);
    return isPlainObject(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A payload as it travels: structured values, or the opaque bytes alone. A body's lazy
 * JSON view (lib/payload-bytes.ts) is a getter, never sent: the receiving node builds
 * its own from the bytes.
 */
export function wirePayload(p: Payload): WirePayload {
  if (p.bytes !== undefined) {
    if (p.passthru) return { bytes: p.bytes, passthru: p.passthru, ...structured(p) };
    // how the body reads (an MQTT 5 UTF-8 body, a text/* content type) goes along, so a
    // callee on another node sees the same arguments as one on the caller's node
    const proto: unknown = Object.getPrototypeOf(p);
    if (proto === TEXT_BODY) return { bytes: p.bytes, reading: 'text' };
    if (proto === UTF8_BODY) return { bytes: p.bytes, reading: 'utf8' };
    return { bytes: p.bytes };
  }
  return structured(p);
}

/** A payload on the wire: a body also says how it reads (lib/payload-bytes.ts). */
export type WirePayload = Payload & { reading?: 'text' | 'utf8' };

const TEXT_HEADERS = { contentType: 'text/plain' };
const UTF8_HEADERS = { utf8: true };
const TEXT_BODY: unknown = Object.getPrototypeOf(payloadFromBytes(new Uint8Array(0), TEXT_HEADERS));
const UTF8_BODY: unknown = Object.getPrototypeOf(payloadFromBytes(new Uint8Array(0), UTF8_HEADERS));

function structured(p: Payload): Payload {
  const out: Payload = {};
  if (p.args !== undefined) out.args = p.args;
  if (p.kwargs !== undefined) out.kwargs = p.kwargs;
  if (p.passthru !== undefined) out.passthru = p.passthru;
  return out;
}

/** A payload received: checked, and an opaque body given back its lazy view. */
export function payloadOf(v: unknown): Payload | undefined {
  if (!isPlainObject(v)) return undefined;
  if (v['args'] !== undefined && !Array.isArray(v['args'])) return undefined;
  if (v['kwargs'] !== undefined && !isPlainObject(v['kwargs'])) return undefined;
  const bytes = v['bytes'];
  if (bytes !== undefined && !(bytes instanceof Uint8Array)) return undefined;
  const passthru = v['passthru'];
  if (passthru !== undefined && !(isPlainObject(passthru) && typeof passthru['scheme'] === 'string')) return undefined;
  if (bytes !== undefined && passthru === undefined) {
    const reading = v['reading'];
    return payloadFromBytes(bytes, reading === 'text' ? TEXT_HEADERS : reading === 'utf8' ? UTF8_HEADERS : undefined);
  }
  return v;
}

const DEF_BY_CODE: ReadonlyMap<string, ErrorDef> = new Map(Object.values<ErrorDef>(Errors).map((d) => [d.code, d]));

export function wireError(f: CallFailure): WireError {
  const out: WireError = { uri: f.uri };
  if (f instanceof RouterError) {
    out.code = f.def.code;
    out.message = f.message;
    if (f.kwargs !== undefined) out.kwargs = f.kwargs;
    return out;
  }
  if (f.args !== undefined) out.args = f.args;
  if (f.kwargs !== undefined) out.kwargs = f.kwargs;
  return out;
}

export function failureOf(v: unknown): CallFailure {
  if (!isPlainObject(v) || typeof v['uri'] !== 'string')
    return new RouterError(Errors.internal, 'a cluster node sent an unreadable error');
  const kwargs = isPlainObject(v['kwargs']) ? v['kwargs'] : undefined;
  const def = typeof v['code'] === 'string' ? DEF_BY_CODE.get(v['code']) : undefined;
  if (def) return new RouterError(def, typeof v['message'] === 'string' ? v['message'] : undefined, kwargs);
  return new ApplicationError(v['uri'], Array.isArray(v['args']) ? v['args'] : undefined, kwargs);
}

/** The catalogue error a cancel reason URI names (wamp.error.canceled, wamp.error.timeout, ...). */
export function reasonOf(uri: string): RouterError {
  for (const d of Object.values<ErrorDef>(Errors))
    if (d.wamp === uri) return new RouterError(d, uri === Errors.timeout.wamp ? 'call timed out' : 'call canceled');
  return new RouterError(Errors.canceled, 'call canceled');
}

const MATCHES: readonly string[] = ['exact', 'prefix', 'wildcard'];
const POLICIES: readonly string[] = ['single', 'roundrobin', 'random', 'first', 'last'];

export function isRecord(v: unknown): v is CalleeRecord {
  return (
    isPlainObject(v) &&
    typeof v['realm'] === 'string' &&
    typeof v['uri'] === 'string' &&
    typeof v['match'] === 'string' &&
    MATCHES.includes(v['match']) &&
    typeof v['invoke'] === 'string' &&
    POLICIES.includes(v['invoke']) &&
    typeof v['session'] === 'number' &&
    typeof v['authid'] === 'string' &&
    typeof v['authrole'] === 'string' &&
    typeof v['concurrency'] === 'number' &&
    typeof v['discloseCaller'] === 'boolean' &&
    typeof v['canCancel'] === 'boolean' &&
    typeof v['registeredAt'] === 'number'
  );
}

export function isBeat(v: Record<string, unknown>): v is Record<string, unknown> & Beat {
  return typeof v['node'] === 'string' && typeof v['boot'] === 'string' && typeof v['seq'] === 'number';
}

export function isCallerInfo(v: unknown): v is CallerInfo {
  return isPlainObject(v) && typeof v['id'] === 'number' && typeof v['authid'] === 'string' && typeof v['authrole'] === 'string';
}

/** A message to the callee's node, checked field by field; undefined when it is not one. */
export function toCalleeOf(m: Record<string, unknown> | undefined): ToCallee | undefined {
  if (!m || typeof m['from'] !== 'string' || typeof m['id'] !== 'number') return undefined;
  const from = m['from'];
  const id = m['id'];
  switch (m['k']) {
    case 'invoke': {
      const payload = payloadOf(m['payload']);
      const caller = m['caller'];
      if (
        !payload ||
        !isCallerInfo(caller) ||
        typeof m['realm'] !== 'string' ||
        typeof m['procedure'] !== 'string' ||
        typeof m['callee'] !== 'number'
      )
        return undefined;
      return {
        k: 'invoke',
        from,
        id,
        realm: m['realm'],
        procedure: m['procedure'],
        callee: m['callee'],
        payload,
        timeoutMs: typeof m['timeoutMs'] === 'number' ? m['timeoutMs'] : 0,
        receiveProgress: m['receiveProgress'] === true,
        discloseMe: m['discloseMe'] === true,
        progress: m['progress'] === true,
        caller,
        route: m['route'] === true,
      };
    }
    case 'progress': {
      const payload = payloadOf(m['payload']);
      return payload ? { k: 'progress', from, id, payload, final: m['final'] === true } : undefined;
    }
    case 'cancel': {
      const mode = m['mode'] === 'kill' ? 'kill' : 'killnowait';
      return { k: 'cancel', from, id, mode, reason: typeof m['reason'] === 'string' ? m['reason'] : 'wamp.error.canceled' };
    }
    default:
      return undefined;
  }
}
