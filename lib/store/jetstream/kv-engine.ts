import { jetstream, JetStreamApiCodes, JetStreamApiError, type JetStreamClient } from '@nats-io/jetstream';
import { Kvm, KvWatchInclude, type KV, type KvEntry as NatsKvEntry } from '@nats-io/kv';
import { Empty, headers, type NatsConnection } from '@nats-io/transport-node';
import { Errors, RouterError } from '../../errors';
import type { Payload } from '../../payload';
import type { KvChange, KvDeleteOptions, KvEngine, KvEntry, KvPutOptions, KvRange, KvWatch, KvWatchOptions } from '../kv-engine';
import { decodeKey, encodeKey, prefixFilter } from './key-codec';
import { catchUp } from '../catch-up';
import { decodeValue, encodeValue } from './value-codec';

export interface JetStreamKvOptions {
  /** bucket name ([-_A-Za-z0-9]): one per realm, so revisions are per realm */
  bucket: string;
  /**
   * copies of each write (1, 3 or 5): an R3 bucket survives the loss of one node. Applies
   * when the bucket is created; an existing bucket is used as it is.
   */
  replicas?: number;
  /** how long a request waits for the server, ms */
  timeoutMs?: number;
}

/**
 * The JetStream KV engine: one bucket per realm, with the official client. A bucket's
 * revisions are its stream's sequence numbers: assigned by the stream leader, monotonic
 * per bucket, shared by every router on it, so they stay fencing tokens. A write is
 * acknowledged once JetStream acknowledged it (stored on a quorum of replicas); see the
 * README ("Store engines") for `sync_interval: always`.
 *
 * Works with nats-server 2.9 (Debian's): conditions use `Nats-Expected-Last-Subject-
 * Sequence` (KV update / create), TTL is per key in the value (kv-engine.ts), and every
 * listing goes through subject filters (one per call: several filters need 2.10).
 */
export class JetStreamKvEngine implements KvEngine {
  private readonly watches = new Set<KvWatch>();

  private constructor(
    private readonly kv: KV,
    private readonly js: JetStreamClient,
    private readonly bucket: string,
  ) {}

  /** opens the bucket, creating it when missing (idempotent for racing routers) */
  static async open(nc: NatsConnection, opts: JetStreamKvOptions): Promise<JetStreamKvEngine> {
    const js = jetstream(nc, opts.timeoutMs === undefined ? {} : { timeout: opts.timeoutMs });
    // a JetStream API request can go unanswered while the NATS cluster moves a leader:
    // asked again, not failed at once (the caller's start-up deadline bounds the whole)
    for (let attempt = 1; ; attempt++) {
      try {
        const kv = await new Kvm(js).create(opts.bucket, { replicas: opts.replicas ?? 1, history: 1 });
        return new JetStreamKvEngine(kv, js, opts.bucket);
      } catch (err) {
        if (attempt >= OPEN_ATTEMPTS || nc.isClosed() || !isTimeout(err)) throw err;
      }
    }
  }

  async get(key: string): Promise<KvEntry | undefined> {
    const raw = await this.kv.get(encodeKey(key));
    const entry = raw === null ? undefined : toEntry(key, raw);
    return entry !== undefined && isLive(entry, Date.now()) ? entry : undefined;
  }

  async put(key: string, value: Payload, opts?: KvPutOptions): Promise<number> {
    const data = encodeValue(value, opts);
    const k = encodeKey(key);
    const expect = opts?.expect;
    if (expect === undefined) return this.kv.put(k, data);
    if (expect === 'absent') {
      try {
        // create() also succeeds over a delete marker
        return await this.kv.create(k, data);
      } catch (err) {
        if (!isWrongSequence(err)) throw err;
      }
      // an expired entry not yet swept is absent too: replace it conditionally
      const raw = await this.kv.get(k);
      const current = raw === null ? undefined : toEntry(key, raw);
      if (current === undefined || isLive(current, Date.now())) throw conditionFailed(key);
      return this.conditional(() => this.kv.update(k, data, current.revision), key);
    }
    return this.conditional(() => this.kv.update(k, data, expect), key);
  }

  async delete(key: string, opts?: KvDeleteOptions): Promise<number | undefined> {
    const expect = opts?.expect;
    if (expect !== undefined) return this.conditional(() => this.deleteAt(key, expect), key);
    // "delete if present": read, then delete at that revision; a write in between retries
    for (;;) {
      const raw = await this.kv.get(encodeKey(key));
      const current = raw === null ? undefined : toEntry(key, raw);
      if (current === undefined) return undefined;
      try {
        const revision = await this.deleteAt(key, current.revision);
        return isLive(current, Date.now()) ? revision : undefined;
      } catch (err) {
        if (!isWrongSequence(err)) throw err;
      }
    }
  }

  async range(page: KvRange): Promise<KvEntry[]> {
    const out: KvEntry[] = [];
    if (page.limit <= 0) return out;
    // the server lists the keys under the filter (a headers-only pass, no values); the
    // values of one page are then read in parallel
    const keys: string[] = [];
    for await (const k of await this.kv.keys(prefixFilter(page.prefix))) {
      const key = decodeKey(k);
      if (key.startsWith(page.prefix) && (page.after === undefined || key > page.after)) keys.push(key);
    }
    keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    // an entry deleted or expired since the listing is skipped, and the page filled from
    // the next keys: fewer than `limit` must mean the range is exhausted
    for (let i = 0; i < keys.length && out.length < page.limit;) {
      const batch = keys.slice(i, i + page.limit - out.length);
      i += batch.length;
      for (const e of await Promise.all(batch.map((k) => this.get(k)))) if (e !== undefined) out.push(e);
    }
    return out;
  }

  async watch(prefix: string, opts: KvWatchOptions, onChange: (change: KvChange) => void): Promise<KvWatch> {
    let deliver: ((c: KvChange) => void) | undefined;
    const early: KvChange[] = [];
    const iter = await this.kv.watch({ key: prefixFilter(prefix), include: KvWatchInclude.UpdatesOnly });
    let stopped = false;
    const watch: KvWatch = {
      ready: Promise.resolve(),
      stop: () => {
        stopped = true;
        this.watches.delete(watch);
        iter.stop();
      },
    };
    this.watches.add(watch);
    void (async () => {
      for await (const e of iter) {
        const key = decodeKey(e.key);
        if (!key.startsWith(prefix)) continue;
        const change: KvChange =
          e.operation === 'PUT'
            ? { op: 'put', key, revision: e.revision, entry: toEntry(key, e) }
            : { op: 'delete', key, revision: e.revision };
        if (deliver === undefined) early.push(change);
        else deliver(change);
      }
    })().catch(() => undefined);
    const from = opts.fromRevision;
    if (from === undefined) {
      deliver = onChange;
      for (const c of early.splice(0)) onChange(c);
      return watch;
    }
    // catch-up: the live entries at or after `from`, merged with the changes the live
    // feed buffered meanwhile, in revision order (catch-up.ts)
    const ready = (async () => {
      const snapshot: KvEntry[] = [];
      for (let after: string | undefined; ;) {
        const page = await this.range({ prefix, after, limit: 500 });
        snapshot.push(...page);
        const last = page.at(-1);
        if (page.length < 500 || last === undefined) break;
        after = last.key;
      }
      // stop() may have run during the awaits (TypeScript cannot see that: microsoft/TypeScript#9998)
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
      if (stopped) return;
      const delivered = catchUp(snapshot, from, early.splice(0), onChange);
      deliver = (c) => {
        if ((delivered.get(c.key) ?? 0) < c.revision) onChange(c);
      };
    })();
    return {
      ready,
      stop: () => {
        watch.stop();
      },
    };
  }

  async sweep(now: number): Promise<string[]> {
    const removed: string[] = [];
    for await (const k of await this.kv.keys()) {
      const raw = await this.kv.get(k);
      if (raw === null || raw.operation !== 'PUT') continue;
      const key = decodeKey(k);
      const entry = toEntry(key, raw);
      if (entry === undefined || isLive(entry, now)) continue;
      try {
        // conditional: a rewrite that raced the sweep stays
        await this.deleteAt(key, entry.revision);
        removed.push(key);
      } catch (err) {
        if (!isWrongSequence(err)) throw err;
      }
    }
    return removed;
  }

  async revision(): Promise<number> {
    const status = await this.kv.status();
    return status.streamInfo.state.last_seq;
  }

  close(): Promise<void> {
    for (const w of [...this.watches]) w.stop();
    return Promise.resolve();
  }

  /**
   * A KV delete marker (what kv.delete() writes) published directly, for its sequence:
   * kv.delete() does not return the revision the deletion took.
   */
  private async deleteAt(key: string, revision: number): Promise<number> {
    const h = headers();
    h.set('KV-Operation', 'DEL');
    const ack = await this.js.publish(`$KV.${this.bucket}.${encodeKey(key)}`, Empty, {
      headers: h,
      expect: { lastSubjectSequence: revision },
    });
    return ack.seq;
  }

  private async conditional(write: () => Promise<number>, key: string): Promise<number> {
    try {
      return await write();
    } catch (err) {
      if (isWrongSequence(err)) throw conditionFailed(key);
      throw err;
    }
  }
}

function toEntry(key: string, raw: NatsKvEntry): KvEntry | undefined {
  if (raw.operation !== 'PUT') return undefined;
  return { key, revision: raw.revision, ...decodeValue(raw.value) };
}

function isLive(entry: KvEntry, now: number): boolean {
  return entry.expiresAt === undefined || entry.expiresAt > now;
}

function isWrongSequence(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

function conditionFailed(key: string): RouterError {
  return new RouterError(Errors.conditionFailed, `key ${key} is not at the expected revision`);
}

/** how often opening a bucket is tried when JetStream does not answer */
const OPEN_ATTEMPTS = 3;

function isTimeout(err: unknown): boolean {
  return err instanceof Error && (err.name === 'TimeoutError' || err.message === 'timeout');
}
