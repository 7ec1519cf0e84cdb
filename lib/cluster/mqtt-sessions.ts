/**
 * MQTT persistent sessions shared by the cluster (issue 12): one session per (realm,
 * client id) in the whole cluster, whichever node its client connects to. Loaded by
 * clustered routers only (gates/mqtt/gate.ts requires it): a single router never loads NATS.
 *
 * THE MODEL
 *
 * - The record (what gates/mqtt/session-records.ts saves, opaque here) lives in a KV
 *   bucket `<prefix>_mqtt`, key `s.<realm>.<client>` (tokens escaped by subjects.ts),
 *   with `holder`: the node that holds the session now. The bucket also holds every
 *   node's liveness lease (`lease.<node>`, lib/store/leases.ts): a holder whose lease
 *   lapsed is dead.
 * - The queue: one stream `<prefix>_mqtt` for every session, subject
 *   `<prefix>.ms.<realm>.<client>`, limits retention with a per-subject bound (the mqtt
 *   mailbox policy's maxMessages, oldest discarded). A message is durable once JetStream
 *   acknowledged its publish; acknowledged messages are purged below the lowest one
 *   still waiting (batched by the holder's mailbox).
 * - Handover: a node taking a session asks the holder on `<prefix>.mqs.<holder>`
 *   (request/reply). The holder closes the client's connection ([MQTT-3.1.4-3]), stops
 *   feeding the session, waits for its stream writes, writes its final record and
 *   answers. The taker then moves `holder` to itself with a conditional update on the
 *   record's revision: of two racing takeovers one wins, the other is refused. A holder
 *   that does not answer is dead if its lease lapsed (the record is taken as it is),
 *   else the CONNECT is refused as unavailable: never a hang.
 */
import {
  DiscardPolicy,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { RequestError, type NatsConnection, type Subscription as NatsSubscription } from '@nats-io/transport-node';
import { Errors, RouterError } from '../errors';
import type { MessageHeaders } from '../headers';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import { isPlainObject, type Payload } from '../payload';
import { Leases } from '../store/leases';
import { JetStreamKvEngine } from '../store/jetstream/kv-engine';
import { definedHeaders, packRecord, revivePayload, unpackRecord } from '../store/jetstream/queued-codec';
import { ensureStream } from '../store/jetstream/streams';
import type { ClusterPart } from './cluster';
import { encodeToken } from './subjects';
import { isHeaders, isPayload, ownPayload } from './wire';

export interface ClusterMqttSessionsOptions {
  prefix: string;
  node: string;
  replicas: number;
  /** a node not renewing its lease for this long is dead */
  leaseMs: number;
  /** how long a takeover waits for the holder's answer */
  handoverTimeoutMs: number;
  /** per session, the stream keeps at most this many messages (the oldest discarded) */
  maxMessagesPerSession: number;
  log: Logger;
  metrics: Metrics;
}

/** A QoS 1/2 message of a session, as the stream keeps it. */
export interface SessionMessage {
  readonly topic: string;
  readonly payload: Payload;
  readonly qos: 1 | 2;
  readonly retain: boolean;
  readonly headers: MessageHeaders | undefined;
  readonly subscriptionIds: readonly number[];
  /** cluster-unique publication id (origin node + publication id): duplicates are dropped by it */
  readonly publication: string;
}

export interface StoredSessionMessage {
  readonly seq: number;
  readonly msg: SessionMessage;
}

/** What the gate does when another node takes a session held here. */
export interface SessionHolder {
  /**
   * Gives the session up: connection closed (0x8E), feed stopped, stream writes waited
   * for, final record written (unless `discard`). False: not held here.
   */
  release(realm: string, clientId: string, discard: boolean): Promise<boolean>;
  /** takes over a session whose holder died (its lease lapsed and this node claimed it) */
  adopt(record: SharedRecord): Promise<void>;
}

export type TakeoverKind = 'local' | 'remote' | 'dead';

/** A session record as the bucket holds it. */
export interface SharedRecord {
  readonly holder: string;
  readonly record: Record<string, unknown>;
  readonly revision: number;
}

/** The write side of one session's queue on the stream (its holder's mailbox uses it). */
export interface SessionStream {
  /** stores a message; resolves with its stream sequence once JetStream acknowledged it */
  append(msg: SessionMessage): Promise<number>;
  /** removes every message below `seq` (acknowledged ones) */
  trimBelow(seq: number): Promise<void>;
  /** every message of the session, in order */
  load(): Promise<StoredSessionMessage[]>;
  /** removes every message */
  purge(): Promise<void>;
}

/** how long a session operation waits for the cluster's connection (and this part's start) */
const CONNECT_WAIT_MS = 5000;
/** records read per listing page */
const LIST_PAGE = 1024;

export class ClusterMqttSessions {
  private readonly stream: string;
  private kv: JetStreamKvEngine | undefined;
  private leases: Leases | undefined;
  private js: JetStreamClient | undefined;
  private jsm: JetStreamManager | undefined;
  private nc: NatsConnection | undefined;
  private sub: NatsSubscription | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private checkTimer: NodeJS.Timeout | undefined;
  private checking = false;
  private holder: SessionHolder | undefined;
  private readonly ready: Promise<void>;
  private markReady!: () => void;

  constructor(private readonly options: ClusterMqttSessionsOptions) {
    this.stream = `${options.prefix}_mqtt`;
    this.ready = new Promise((resolve) => (this.markReady = resolve));
  }

  setHolder(holder: SessionHolder): void {
    this.holder = holder;
  }

  /** The cluster's connection is up: bucket, stream, lease, handover subject. */
  async attach(nc: NatsConnection): Promise<ClusterPart> {
    const o = this.options;
    this.kv = await JetStreamKvEngine.open(nc, { bucket: this.stream, replicas: o.replicas });
    this.js = jetstream(nc);
    this.jsm = await jetstreamManager(nc);
    await this.ensureStream(this.jsm);
    this.leases = new Leases(this.kv, () => Promise.reject(new RouterError(Errors.internal, 'no wills here')));
    await this.leases.renew(o.node, o.leaseMs);
    this.renewTimer = setInterval(() => void this.renew(), Math.max(100, Math.floor(o.leaseMs / 3)));
    this.renewTimer.unref();
    this.checkTimer = setInterval(() => void this.adoptLapsed(), Math.max(100, o.leaseMs));
    this.checkTimer.unref();
    this.nc = nc;
    this.sub = nc.subscribe(`${o.prefix}.mqs.${encodeToken(o.node)}`, {
      callback: (err, msg) => {
        if (err) return;
        void this.answer(msg.data).then((held) => {
          try {
            msg.respond(packRecord({ held }));
          } catch {
            // the asker gave up (closed): nothing to tell
          }
        });
      },
    });
    this.markReady();
    return { stop: () => this.stop() };
  }

  private async ensureStream(jsm: JetStreamManager): Promise<void> {
    const config = {
      name: this.stream,
      subjects: [`${this.options.prefix}.ms.>`],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      num_replicas: this.options.replicas,
      // the mqtt mailbox policy's bound, per session; its own drops are counted by the holder
      max_msgs_per_subject: this.options.maxMessagesPerSession,
      discard: DiscardPolicy.Old,
    };
    // mqtt.maxQueuedMessages changed: the bound follows (the last node started decides)
    await ensureStream(jsm, config);
  }

  private async renew(): Promise<void> {
    try {
      await this.leases?.renew(this.options.node, this.options.leaseMs);
    } catch (err) {
      this.options.log.warn({ err }, 'cluster MQTT sessions: lease renewal failed');
    }
  }

  private async stop(): Promise<void> {
    if (this.renewTimer) clearInterval(this.renewTimer);
    if (this.checkTimer) clearInterval(this.checkTimer);
    this.sub?.unsubscribe();
    // a clean stop lapses the lease at once: takers need not wait, and the sessions held
    // here are adopted by another node (adoptLapsed) so they go on queueing
    await this.kv?.put(`lease.${this.options.node}`, { kwargs: { expiresAt: 0 } }).catch(() => undefined);
  }

  /**
   * Every lease period: a node whose lease lapsed is claimed (a conditional delete of its
   * lease: one claimant wins) and its sessions are taken over here, so messages for them
   * are queued again before their clients come back.
   */
  private async adoptLapsed(): Promise<void> {
    const kv = this.kv;
    const holder = this.holder;
    if (this.checking || !kv || !holder) return;
    this.checking = true;
    try {
      const now = Date.now();
      for (const lease of await kv.range({ prefix: 'lease.', limit: LIST_PAGE })) {
        const node = lease.key.slice('lease.'.length);
        const expiresAt = lease.value.kwargs?.['expiresAt'];
        if (node === this.options.node || (typeof expiresAt === 'number' && expiresAt >= now)) continue;
        try {
          await kv.delete(lease.key, { expect: lease.revision });
        } catch {
          continue; // renewed, or claimed by another node
        }
        const records = await this.heldBy(node);
        this.options.log.info(
          { node, sessions: records.length },
          'cluster MQTT sessions: adopting the sessions of a lapsed node',
        );
        for (const r of records) await holder.adopt(r).catch(() => undefined);
      }
    } catch (err) {
      this.options.log.warn({ err }, 'cluster MQTT sessions: lease check failed');
    } finally {
      this.checking = false;
    }
  }

  /** Another node asks for a session held here. */
  private async answer(data: Uint8Array): Promise<boolean> {
    const req = unpackRecord(data);
    if (req === undefined || typeof req['r'] !== 'string' || typeof req['c'] !== 'string') return false;
    try {
      return (await this.holder?.release(req['r'], req['c'], req['d'] === true)) ?? false;
    } catch (err) {
      this.options.log.warn({ err, client: req['c'] }, 'cluster MQTT sessions: handing a session over failed');
      return false;
    }
  }

  private async connected(): Promise<{ kv: JetStreamKvEngine; js: JetStreamClient; jsm: JetStreamManager; nc: NatsConnection }> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => {
          reject(new RouterError(Errors.unavailable, 'the cluster is not connected'));
        },
        Math.max(CONNECT_WAIT_MS, this.options.handoverTimeoutMs),
      );
      timer.unref();
    });
    await Promise.race([this.ready, late]).finally(() => {
      clearTimeout(timer);
    });
    const { kv, js, jsm, nc } = this;
    if (!kv || !js || !jsm || !nc) throw new RouterError(Errors.unavailable, 'the cluster is not connected');
    return { kv, js, jsm, nc };
  }

  // ----- records -----

  async read(realm: string, clientId: string): Promise<SharedRecord | undefined> {
    const { kv } = await this.connected();
    const e = await kv.get(recordKey(realm, clientId));
    const v = e?.value.kwargs;
    if (!e || !v || typeof v['holder'] !== 'string' || !isPlainObject(v['record'])) return undefined;
    return { holder: v['holder'], record: v['record'], revision: e.revision };
  }

  /**
   * The records a node holds: this node's after a restart under the same node id (its
   * own sessions of before, taken back at start), a lapsed node's (adopted).
   */
  async heldBy(node: string): Promise<SharedRecord[]> {
    const { kv } = await this.connected();
    const out: SharedRecord[] = [];
    for (let after: string | undefined; ;) {
      const page = await kv.range({ prefix: 's.', after, limit: LIST_PAGE });
      for (const e of page) {
        const v = e.value.kwargs;
        if (v?.['holder'] === node && isPlainObject(v['record']))
          out.push({ holder: node, record: v['record'], revision: e.revision });
      }
      const last = page.at(-1);
      if (page.length < LIST_PAGE || last === undefined) return out;
      after = last.key;
    }
  }

  /** The holder saves its session (unconditional: only the holder writes it). */
  async save(realm: string, clientId: string, record: Record<string, unknown>): Promise<void> {
    const { kv } = await this.connected();
    await kv.put(recordKey(realm, clientId), { kwargs: { holder: this.options.node, record } });
  }

  /** The session ended for good: its record and its messages go. */
  async forget(realm: string, clientId: string): Promise<void> {
    const { kv } = await this.connected();
    await kv.delete(recordKey(realm, clientId));
    await this.streamOf(realm, clientId).purge();
  }

  /**
   * Takes the session for this node: asks its holder to let go (or finds it dead), then
   * moves the record here at its revision. Resolves with the record as handed over and
   * how it was taken; throws unavailable when the holder neither answers nor is dead, or
   * another node took it meanwhile.
   */
  async takeOver(realm: string, clientId: string, seen: SharedRecord): Promise<{ record: SharedRecord; kind: TakeoverKind }> {
    const m = this.options.metrics;
    try {
      const kind = seen.holder === this.options.node ? 'local' : await this.letGo(realm, clientId, seen.holder, false);
      const now = await this.read(realm, clientId);
      const current = now ?? seen;
      const { kv } = await this.connected();
      const record = { ...current.record };
      const revision = await kv.put(
        recordKey(realm, clientId),
        { kwargs: { holder: this.options.node, record } },
        { expect: now ? now.revision : 'absent' },
      );
      m.mqttTakeovers.labels(kind).inc();
      return { record: { holder: this.options.node, record, revision }, kind };
    } catch (err) {
      m.mqttHandoverFailures.inc();
      if (err instanceof RouterError && err.def === Errors.conditionFailed)
        throw new RouterError(Errors.unavailable, 'the session was taken by another node meanwhile');
      throw err instanceof RouterError ? err : new RouterError(Errors.unavailable, `session handover failed: ${errorText(err)}`);
    }
  }

  /**
   * A session that ends with its connection is held here ([MQTT-3.1.4-2]: one client id
   * per realm across the cluster): a record marked clean, no queue. One write; resolves
   * with its revision, for the conditional removal when the connection ends.
   */
  async markClean(realm: string, clientId: string): Promise<number> {
    const { kv } = await this.connected();
    return kv.put(recordKey(realm, clientId), { kwargs: { holder: this.options.node, record: { clean: true } } });
  }

  /** The clean session's connection ended: its record goes, unless another node took it meanwhile (revision). */
  async dropClean(realm: string, clientId: string, revision: number): Promise<void> {
    const { kv } = await this.connected();
    try {
      await kv.delete(recordKey(realm, clientId), { expect: revision });
    } catch (err) {
      if (!(err instanceof RouterError && err.def === Errors.conditionFailed)) throw err;
    }
  }

  /** Clean start: the session goes on every node (its holder drops its copy first). */
  async discard(realm: string, clientId: string, seen: SharedRecord): Promise<void> {
    try {
      if (seen.holder !== this.options.node) {
        const kind = await this.letGo(realm, clientId, seen.holder, true);
        // a clean session taking the client id from another node ([MQTT-3.1.4-2])
        if (kind === 'remote') this.options.metrics.mqttTakeovers.labels('clean').inc();
      }
      // a clean session's record has no queue on the stream: nothing to purge
      if (seen.record['clean'] === true) await (await this.connected()).kv.delete(recordKey(realm, clientId));
      else await this.forget(realm, clientId);
    } catch (err) {
      this.options.metrics.mqttHandoverFailures.inc();
      throw err instanceof RouterError ? err : new RouterError(Errors.unavailable, `session discard failed: ${errorText(err)}`);
    }
  }

  /**
   * Asks the holder to let the session go: 'remote' when it did (or no longer has it),
   * 'dead' when its lease lapsed. A holder subscribed but silent is alive: unavailable at
   * once; one gone from NATS whose lease has not lapsed yet is waited for, one lease long.
   */
  private async letGo(realm: string, clientId: string, holder: string, discard: boolean): Promise<TakeoverKind> {
    const { nc } = await this.connected();
    const subject = `${this.options.prefix}.mqs.${encodeToken(holder)}`;
    const deadline = Date.now() + this.options.leaseMs;
    // this node's subscriptions for the session reach the server before the holder lets go
    await nc.flush();
    for (;;) {
      try {
        await nc.request(subject, packRecord({ r: realm, c: clientId, d: discard }), {
          timeout: this.options.handoverTimeoutMs,
        });
        return 'remote';
      } catch (err) {
        if (await this.lapsed(holder)) return 'dead';
        const gone = err instanceof RequestError && err.isNoResponders();
        if (!gone || Date.now() >= deadline)
          throw new RouterError(Errors.unavailable, `node ${holder} holds the session and does not answer`);
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(250, this.options.leaseMs / 4)).unref());
    }
  }

  private async lapsed(node: string): Promise<boolean> {
    const { kv } = await this.connected();
    const e = await kv.get(`lease.${node}`);
    const expiresAt = e?.value.kwargs?.['expiresAt'];
    return typeof expiresAt !== 'number' || expiresAt < Date.now();
  }

  // ----- the queue -----

  streamOf(realm: string, clientId: string): SessionStream {
    const subject = `${this.options.prefix}.ms.${encodeToken(realm)}.${encodeToken(clientId)}`;
    return {
      append: async (msg) => {
        const { js } = await this.connected();
        const ack = await js.publish(subject, encodeMessage(msg));
        return ack.seq;
      },
      trimBelow: async (seq) => {
        const { jsm } = await this.connected();
        await jsm.streams.purge(this.stream, { filter: subject, seq });
      },
      purge: async () => {
        const { jsm } = await this.connected();
        await jsm.streams.purge(this.stream, { filter: subject });
      },
      load: async () => {
        const { jsm } = await this.connected();
        const out: StoredSessionMessage[] = [];
        for (let seq = 1; ;) {
          // STREAM.MSG.GET with next_by_subj (nats-server 2.9): the next message of this subject
          const query = { seq, next_by_subj: subject } as unknown as { seq: number };
          const sm = await jsm.streams.getMessage(this.stream, query);
          if (sm === null) return out;
          const msg = decodeMessage(sm.data);
          if (msg) out.push({ seq: sm.seq, msg });
          seq = sm.seq + 1;
        }
      },
    };
  }
}

function recordKey(realm: string, clientId: string): string {
  return `s.${encodeToken(realm)}.${encodeToken(clientId)}`;
}

function encodeMessage(m: SessionMessage): Uint8Array {
  const w: Record<string, unknown> = { t: m.topic, p: ownPayload(m.payload), q: m.qos, r: m.retain, u: m.publication };
  if (m.subscriptionIds.length > 0) w['i'] = m.subscriptionIds;
  if (m.headers !== undefined) w['h'] = definedHeaders(m.headers) ?? {};
  return packRecord(w);
}

/** Undefined when the bytes are not ours (anyone on the subjects can write: SECURITY.md "Cluster"). */
function decodeMessage(data: Uint8Array): SessionMessage | undefined {
  const w = unpackRecord(data);
  if (
    w === undefined ||
    typeof w['t'] !== 'string' ||
    !isPayload(w['p']) ||
    (w['q'] !== 1 && w['q'] !== 2) ||
    typeof w['u'] !== 'string' ||
    (w['h'] !== undefined && !isHeaders(w['h']))
  )
    return undefined;
  const headers = w['h'];
  const ids = Array.isArray(w['i']) ? w['i'].filter((x): x is number => typeof x === 'number') : [];
  const payload = revivePayload(w['p'], headers);
  return { topic: w['t'], payload, qos: w['q'], retain: w['r'] === true, headers, subscriptionIds: ids, publication: w['u'] };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
