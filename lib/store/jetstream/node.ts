import { closeNats } from '../../nats-close';
import { readFileSync } from 'node:fs';
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import type { NatsStoreConfig } from '../../config';
import { Errors, RouterError } from '../../errors';
import type { Logger } from '../../log';
import type { Payload } from '../../payload';
import type { TestamentRecord, TestamentRecorder } from '../../testaments';
import { timerDelay } from '../../timers';
import { Leases, type FiredWill } from '../leases';
import { metaBucket, realmBucket } from './bucket-name';
import { JetStreamKvEngine } from './kv-engine';
import { JetStreamRealmStore } from './realm-store';

/** applies a will claimed from a lease on the router (RetainedTopics.fireLeaseWill) */
export type WillFirer = (
  realm: string,
  key: string,
  owner: { node: string; session: number },
  value: Payload | null,
) => Promise<void>;

/** publishes a testament or MQTT will claimed from a lapsed lease (Router) */
export type TestamentFirer = (record: TestamentRecord) => void;

/** a testament recorded in the meta bucket: its id and the revision its write got (undefined: failed) */
interface RecordedTestament {
  readonly session: string;
  readonly id: string;
  readonly written: Promise<number | undefined>;
}

/**
 * The longest an MQTT will's delay is honoured on the node that claimed it, counted from
 * the claim: the claimant does not know the dead session's expiry, which bounds the delay
 * on its own node (MQTT 5 §3.1.3.2.2), so a delay is not held open without limit.
 */
const MAX_REMOTE_DELAY_MS = 60 * 60 * 1000;

/** A node id: host name, pid and a random part, new at every start (no '.': leases.ts). */
export { newNodeId } from '../../node-id';

/**
 * This router as a node of the JetStream store engine: one NATS connection, one bucket per
 * realm (a JetStreamRealmStore each), and the will leases (lib/store/leases.ts) in a meta
 * bucket: the node renews its lease every third of `leaseMs`, and every half of it checks
 * the other nodes' leases; the wills of a node whose lease lapsed fire once, on whichever
 * router claims it first. A router takes a new node id at every start, so the wills of a
 * router that crashed fire once its old lease lapsed (on itself after a restart, or on
 * any other router on the buckets).
 */
export class JetStreamNode {
  private readonly realms = new Map<string, JetStreamRealmStore>();
  private leases: Leases | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private checkTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** lease work in flight (renewals, checks, wills being claimed): close() lets it finish */
  private readonly inFlight = new Set<Promise<unknown>>();
  /** remote testaments waiting for their delay */
  private readonly delayed = new Set<NodeJS.Timeout>();
  private nextTestament = 0;

  get leaseMs(): number {
    return this.config.leaseMs;
  }

  private constructor(
    private readonly nc: NatsConnection,
    private readonly config: NatsStoreConfig,
    readonly node: string,
    private readonly log: Logger,
    private readonly fire: WillFirer,
    private readonly fireTestament: TestamentFirer | undefined,
  ) {}

  /** connects, opens the meta bucket and takes this node's lease */
  static async open(
    config: NatsStoreConfig,
    node: string,
    log: Logger,
    fire: WillFirer,
    fireTestament?: TestamentFirer,
  ): Promise<JetStreamNode> {
    const nc = await connect({
      servers: config.servers,
      name: 'gatehouse',
      timeout: config.timeoutMs,
      maxReconnectAttempts: -1,
      ...(config.credentials !== '' ? { authenticator: credsAuthenticator(readFileSync(config.credentials)) } : {}),
      ...(config.user !== '' ? { user: config.user, pass: config.password } : {}),
      ...(config.token !== '' ? { token: config.token } : {}),
    });
    const self = new JetStreamNode(nc, config, node, log, fire, fireTestament);
    try {
      await self.start();
    } catch (err) {
      await nc.close().catch(() => undefined);
      throw err;
    }
    return self;
  }

  private async start(): Promise<void> {
    const meta = await JetStreamKvEngine.open(this.nc, {
      bucket: metaBucket(this.config.bucket),
      replicas: this.config.replicas,
      timeoutMs: this.config.timeoutMs,
    });
    this.leases = new Leases(
      meta,
      () => Promise.reject(new RouterError(Errors.internal, 'wills are applied by the router')),
      0,
      (w: FiredWill) => this.fire(w.realm, w.key, { node: w.owner.node, session: Number(w.owner.session) }, w.value),
      (t: TestamentRecord) => {
        this.claimedTestament(t);
        return Promise.resolve();
      },
    );
    await this.leases.renew(this.node, this.config.leaseMs);
    this.renewTimer = setInterval(() => void this.renew(), Math.max(100, Math.floor(this.config.leaseMs / 3)));
    this.renewTimer.unref();
    this.checkTimer = setInterval(() => void this.check(), Math.max(100, Math.floor(this.config.leaseMs / 2)));
    this.checkTimer.unref();
  }

  /** the store of a realm, opened on first use (reads are empty until `ready`) */
  realm(name: string): JetStreamRealmStore {
    let store = this.realms.get(name);
    if (store === undefined) {
      const engine = JetStreamKvEngine.open(this.nc, {
        bucket: realmBucket(this.config.bucket, name),
        replicas: this.config.replicas,
        timeoutMs: this.config.timeoutMs,
      });
      store = new JetStreamRealmStore(name, engine, this);
      store.ready.catch((err: unknown) => {
        this.log.error({ realm: name, err }, 'jetstream store: realm bucket failed to open');
      });
      this.realms.set(name, store);
    }
    return store;
  }

  async setWill(realm: string, key: string, session: number, value: Payload | null): Promise<void> {
    await this.leasesOrFail().setWill({ node: this.node, session: String(session) }, realm, key, value);
  }

  fireSession(session: number): void {
    const firing = this.leasesOrFail()
      .fireSession({ node: this.node, session: String(session) })
      .catch((err: unknown) => {
        this.log.warn({ session, err }, 'jetstream store: wills of a lost session failed');
      });
    void this.track(firing);
  }

  /**
   * Records the testaments and MQTT wills of a realm's sessions in the meta bucket
   * (lib/testaments.ts TestamentRecorder): written when set, removed when dropped, claimed
   * before they fire here. A failed write is logged: the testament then fires here only.
   */
  testamentRecorder(): TestamentRecorder<RecordedTestament> {
    return {
      record: (rec) => {
        const session = String(rec.owner.session);
        const id = (this.nextTestament++).toString(36).padStart(8, '0');
        const written = this.track(
          this.leasesOrFail()
            .setTestament({ node: this.node, session }, id, rec)
            .catch((err: unknown) => {
              this.log.warn(
                { session: rec.owner.session, err },
                'jetstream store: a testament could not be recorded; it fires on this node only',
              );
              return undefined;
            }),
        );
        return { session, id, written };
      },
      drop: (h) => {
        void this.track(
          h.written
            .then((revision) =>
              revision === undefined
                ? undefined
                : this.leasesOrFail().clearTestament({ node: this.node, session: h.session }, h.id),
            )
            .catch((err: unknown) => {
              this.log.warn({ session: h.session, err }, 'jetstream store: a cancelled testament could not be removed');
            }),
        );
      },
      claim: (h) =>
        this.track(
          h.written.then(async (revision) => {
            if (revision === undefined) return true;
            try {
              return await this.leasesOrFail().claimTestament({ node: this.node, session: h.session }, h.id, revision);
            } catch (err) {
              // NATS unreachable: fire here rather than lose it (the session's clients are
              // here and this node lives); it fires twice only if this node's lease also
              // lapses meanwhile and another node claims the record
              this.log.warn({ session: h.session, err }, 'jetstream store: a testament could not be claimed; fired here');
              return true;
            }
          }),
        ),
    };
  }

  /**
   * A testament claimed from a lapsed lease: published after its delay (an MQTT will's,
   * counted from the claim, at most MAX_REMOTE_DELAY_MS), or now.
   */
  private claimedTestament(t: TestamentRecord): void {
    const fire = this.fireTestament;
    if (fire === undefined) return;
    const delay = Math.min(t.delayMs, MAX_REMOTE_DELAY_MS);
    if (delay <= 0) {
      fire(t);
      return;
    }
    const timer = setTimeout(() => {
      this.delayed.delete(timer);
      if (!this.closed) fire(t);
    }, timerDelay(delay));
    timer.unref();
    this.delayed.add(timer);
  }

  /** stops renewing: the lease lapses and another router fires this node's wills (tests: a router that died) */
  stopRenewing(): void {
    if (this.renewTimer) clearInterval(this.renewTimer);
    if (this.checkTimer) clearInterval(this.checkTimer);
    this.renewTimer = this.checkTimer = undefined;
  }

  /** one lease check now (tests; the timer runs it every half lease) */
  check(): Promise<void> {
    if (this.closed || this.leases === undefined) return Promise.resolve();
    return this.track(this.leases.check(Date.now())).then(
      (fired) => {
        if (fired.length > 0) this.log.info({ wills: fired.length }, 'jetstream store: fired the wills of a lapsed lease');
      },
      (err: unknown) => {
        this.log.warn({ err }, 'jetstream store: lease check failed');
      },
    );
  }

  private async renew(): Promise<void> {
    if (this.closed || this.leases === undefined) return;
    try {
      await this.track(this.leases.renew(this.node, this.config.leaseMs));
    } catch (err) {
      // lost (lapsed and claimed: this node's wills fired elsewhere) or NATS unreachable;
      // the next renewal takes the lease again
      this.log.warn({ node: this.node, err }, 'jetstream store: lease renewal failed');
    }
  }

  /** stops the timers and the feeds, keeps the lease: wills still standing fire once it lapses */
  async close(): Promise<void> {
    this.closed = true;
    this.stopRenewing();
    // a remote testament still waiting for its delay is lost with this node
    for (const t of this.delayed) clearTimeout(t);
    this.delayed.clear();
    for (const s of this.realms.values()) s.close();
    // a key listing cut by the connection's close leaves the client's heartbeat timer
    // running (nats.js 3): let the lease work end first, for at most the drain grace
    await settledWithin([...this.inFlight], CLOSE_GRACE_MS);
    await closeNats(this.nc, CLOSE_GRACE_MS);
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.inFlight.add(work);
    const done = (): void => void this.inFlight.delete(work);
    work.then(done, done);
    return work;
  }

  private leasesOrFail(): Leases {
    if (this.leases === undefined) throw new RouterError(Errors.unavailable, 'jetstream store is not open');
    return this.leases;
  }
}

const CLOSE_GRACE_MS = 2000;

/** resolves once every promise settled, or after `ms` */
async function settledWithin(work: Promise<unknown>[], ms: number): Promise<void> {
  if (work.length === 0) return;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
    timer.unref();
  });
  await Promise.race([Promise.allSettled(work), late]);
  clearTimeout(timer);
}
