/**
 * RPC across the nodes of a cluster (issue 12), over NATS core subjects (wire.ts).
 *
 * - Directory: each node announces the callees registered on it (local-directory.ts);
 *   every node installs the other nodes' callees in its dealers as proxy callees
 *   (remote-callees.ts), so a call on any node reaches a callee on any node and the
 *   dealer's policies, concurrency, queuing, cancel, timeouts and progressive calls
 *   apply over the whole cluster.
 * - Liveness: every node beats every `heartbeatMs`; a node not heard of for `leaseMs`
 *   is gone: calls in flight on its callees fail with wamp.error.unavailable (never a
 *   hang), its callees are removed, calls from its callers are canceled here.
 * - Session and subscription meta API across nodes: session-meta.ts.
 *
 * No consensus of its own: two nodes that register the same `single` procedure at the
 * same moment both accept it, and the later of the two is revoked once each has heard
 * of the other (remote-callees.ts, install).
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Counter } from 'prom-client';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { Errors, RouterError } from '../../errors';
import type { Logger } from '../../log';
import type { Metrics } from '../../metrics';
import type { Invocation } from '../../invocation';
import type { Realm } from '../../realm';
import type { RouterCore } from '../../router';
import { HomeCalls } from './home-calls';
import { LocalDirectory } from './local-directory';
import { registrationIdOf, subscriptionIdOf } from './registration-ids';
import { RemoteCallees } from './remote-callees';
import { clusterRpcMetrics } from './rpc-metrics';
import { metaReplyOf, metaRequestOf, SessionMeta } from './session-meta';
import {
  decodeObject,
  encode,
  failureOf,
  isBeat,
  isRecord,
  payloadOf,
  rpcSubjects,
  type RpcSubjects,
  toCalleeOf,
  type Beat,
  type CalleeRecord,
  type MetaReply,
  type MetaRequest,
} from './wire';

export interface ClusterRpcOptions {
  nc: NatsConnection;
  /** this node's id, unique in the cluster */
  node: string;
  /** first token of every subject (config cluster.prefix; default "gatehouse") */
  prefix?: string;
  router: RouterCore;
  log: Logger;
  metrics: Metrics;
  /** how often this node says it is alive (default 1000 ms) */
  heartbeatMs?: number;
  /**
   * A node not heard of for this long is gone: the bound on how long a call to a callee
   * on a dead or frozen node can wait for its error (default 3000 ms)
   */
  leaseMs?: number;
  /** how long the session meta API waits for the other nodes (default 1000 ms) */
  metaTimeoutMs?: number;
  /** how long a node waits for another's directory (default 2000 ms) */
  syncTimeoutMs?: number;
}

interface Peer {
  boot: string;
  /** last directory change applied */
  seq: number;
  lastSeen: number;
  syncing: boolean;
}

export class ClusterRpc {
  private readonly nc: NatsConnection;
  private readonly node: string;
  private readonly subjects: RpcSubjects;
  private readonly router: RouterCore;
  private readonly log: Logger;
  private readonly boot = randomUUID();
  /** this node's tie-break for callees registered in the same millisecond (Dealer.registeredAtFraction) */
  private readonly orderFraction: number;
  private readonly heartbeatMs: number;
  private readonly leaseMs: number;
  private readonly metaTimeoutMs: number;
  private readonly syncTimeoutMs: number;
  private readonly peers = new Map<string, Peer>();
  private readonly local: LocalDirectory;
  private readonly remote: RemoteCallees;
  private readonly home: HomeCalls;
  private readonly meta: SessionMeta;
  private readonly subs: Subscription[] = [];
  private readonly attached = new Set<Realm>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private readonly calls: Counter<'direction'>;
  private readonly failures: Counter<'reason'>;
  private readonly onRealm = (realm: Realm): void => {
    this.attach(realm);
  };

  constructor(options: ClusterRpcOptions) {
    this.nc = options.nc;
    this.node = options.node;
    this.subjects = rpcSubjects(options.prefix ?? 'gatehouse');
    this.router = options.router;
    this.log = options.log.child({ part: 'cluster-rpc', node: options.node });
    this.heartbeatMs = options.heartbeatMs ?? 1000;
    this.leaseMs = options.leaseMs ?? 3000;
    this.metaTimeoutMs = options.metaTimeoutMs ?? 1000;
    this.syncTimeoutMs = options.syncTimeoutMs ?? 2000;
    this.orderFraction = nodeFraction(options.node);
    const m = clusterRpcMetrics(options.metrics);
    this.calls = m.calls;
    this.failures = m.failures;
    m.peers.count = () => this.peers.size;
    this.local = new LocalDirectory(this.boot, (op, rec, seq) => {
      this.publish(this.subjects.dir, { node: this.node, boot: this.boot, seq, op, rec });
    });
    const count = (what: string): void => {
      if (what === 'call_out') this.calls.labels('out').inc();
      else if (what === 'call_in') this.calls.labels('in').inc();
      else this.failures.labels(what).inc();
    };
    this.remote = new RemoteCallees({
      node: this.node,
      router: this.router,
      log: this.log,
      subjects: this.subjects,
      send: (s, m) => {
        this.publish(s, m);
      },
      count,
    });
    this.home = new HomeCalls({
      router: this.router,
      subjects: this.subjects,
      send: (s, m) => {
        this.publish(s, m);
      },
      count,
    });
    this.meta = new SessionMeta({
      node: this.node,
      peers: () => [...this.peers.keys()],
      ask: (node, req) => this.askMeta(node, req),
    });
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const on = (subject: string, fn: (data: Uint8Array, reply: string | undefined) => void): void => {
      this.subs.push(
        this.nc.subscribe(subject, {
          callback: (err, msg) => {
            if (err) return;
            try {
              fn(msg.data, msg.reply);
            } catch (e) {
              // a message that breaks a handler must not take the node down
              this.failures.labels('bad_message').inc();
              this.log.error({ err: e, subject }, 'cluster rpc: message not handled');
            }
          },
        }),
      );
    };
    on(this.subjects.beat, (d) => {
      this.onBeat(d);
    });
    on(this.subjects.dir, (d) => {
      this.onDirChange(d);
    });
    on(this.subjects.bye, (d) => {
      this.onBye(d);
    });
    on(this.subjects.sync(this.node), (_d, reply) => {
      if (reply) this.nc.publish(reply, encode(this.local.snapshot()));
    });
    on(this.subjects.toCallee(this.node), (d) => {
      this.onToCallee(d);
    });
    on(this.subjects.toCaller(this.node), (d) => {
      this.onToCaller(d);
    });
    on(this.subjects.meta(this.node), (d, reply) => {
      this.onMeta(d, reply);
    });
    for (const name of this.router.realmNames()) {
      const realm = this.router.findRealm(name);
      if (realm) this.attach(realm);
    }
    this.router.realmHooks.add(this.onRealm);
    // the subscriptions are in place before anyone hears of this node
    await this.nc.flush();
    this.beat();
    this.timer = setInterval(() => {
      this.beat();
      this.expire();
    }, this.heartbeatMs);
    this.timer.unref();
  }

  /** Says goodbye (the others drop this node's callees at once) and lets go of the cluster. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    this.router.realmHooks.delete(this.onRealm);
    if (!this.nc.isClosed()) {
      this.nc.publish(this.subjects.bye, encode({ node: this.node, boot: this.boot, seq: this.local.seq }));
      await this.nc.flush().catch(() => undefined);
    }
    for (const s of this.subs.splice(0)) s.unsubscribe();
    for (const node of [...this.peers.keys()]) this.dropPeer(node, 'left the cluster');
    this.meta.detach();
    for (const realm of this.attached) {
      realm.dealer.registrationId = undefined;
      realm.dealer.registeredAtFraction = 0;
      realm.broker.subscriptionId = undefined;
      realm.dealer.forward = undefined;
    }
  }

  /** Other nodes alive now (tests and /health). */
  peerNodes(): string[] {
    return [...this.peers.keys()];
  }

  private attach(realm: Realm): void {
    if (this.attached.has(realm)) return;
    this.attached.add(realm);
    const dealer = realm.dealer;
    dealer.registrationId = (uri, match) => registrationIdOf(realm.name, uri, match);
    dealer.registeredAtFraction = this.orderFraction;
    realm.broker.subscriptionId = (pattern) => subscriptionIdOf(realm.name, pattern);
    dealer.forward = (reg, inv) => this.remote.forward(reg, inv);
    const prev = dealer.observer;
    // chained after the meta API's observer: its events stay as they are
    dealer.observer = {
      ...prev,
      onRegister: (s, reg) => {
        prev.onRegister?.(s, reg);
        this.local.registered(realm, s, reg);
      },
      onUnregister: (s, reg) => {
        prev.onUnregister?.(s, reg);
        this.local.unregistered(realm, s, reg);
        this.home.calleeLeft(s, reg);
      },
      onCallDone: (inv: Invocation, outcome) => {
        prev.onCallDone?.(inv, outcome);
        this.remote.callDone(inv);
        this.home.callDone(inv);
      },
    };
    this.meta.attach(realm);
  }

  private publish(subject: string, msg: unknown): void {
    if (!this.running || this.nc.isClosed()) return;
    try {
      this.nc.publish(subject, encode(msg));
    } catch (err) {
      // NATS unreachable and its buffer full: the peers' lease covers what is lost
      this.log.warn({ err, subject }, 'cluster rpc: message not sent');
    }
  }

  // ----- liveness -----

  private beat(): void {
    const b: Beat = { node: this.node, boot: this.boot, seq: this.local.seq };
    this.publish(this.subjects.beat, b);
  }

  private onBeat(data: Uint8Array): void {
    const b = decodeObject(data);
    if (!b || !isBeat(b) || b.node === this.node) return;
    let peer = this.peers.get(b.node);
    if (peer && peer.boot !== b.boot) {
      this.dropPeer(b.node, 'restarted');
      peer = undefined;
    }
    if (!peer) {
      peer = { boot: b.boot, seq: -1, lastSeen: Date.now(), syncing: false };
      this.peers.set(b.node, peer);
      this.log.info({ peer: b.node }, 'cluster rpc: node joined');
      // the newcomer learns of this node now, not a heartbeat later
      this.beat();
    }
    peer.lastSeen = Date.now();
    if (b.seq !== peer.seq) void this.sync(b.node, peer);
  }

  private onBye(data: Uint8Array): void {
    const b = decodeObject(data);
    if (!b || !isBeat(b) || b.node === this.node || this.peers.get(b.node)?.boot !== b.boot) return;
    this.dropPeer(b.node, 'left the cluster');
  }

  private expire(): void {
    const deadline = Date.now() - this.leaseMs;
    for (const [node, peer] of [...this.peers])
      if (peer.lastSeen < deadline) this.dropPeer(node, `stopped answering (no heartbeat for ${this.leaseMs} ms)`);
  }

  private dropPeer(node: string, why: string): void {
    if (!this.peers.delete(node)) return;
    this.log.warn({ peer: node, why }, 'cluster rpc: node gone');
    this.remote.dropNode(node, why);
    this.home.dropNode(node);
  }

  // ----- directory -----

  private async sync(node: string, peer: Peer): Promise<void> {
    if (peer.syncing) return;
    peer.syncing = true;
    try {
      const msg = await this.nc.request(this.subjects.sync(node), encode({}), { timeout: this.syncTimeoutMs });
      const snap = decodeObject(msg.data);
      if (
        this.peers.get(node) !== peer ||
        !snap ||
        snap['boot'] !== peer.boot ||
        typeof snap['seq'] !== 'number' ||
        !Array.isArray(snap['records'])
      )
        return;
      const records = (snap['records'] as unknown[]).filter(isRecord);
      peer.seq = snap['seq'];
      this.remote.replace(node, records);
    } catch (err) {
      // asked again at its next heartbeat
      this.log.debug({ err, peer: node }, 'cluster rpc: directory sync failed');
    } finally {
      peer.syncing = false;
    }
  }

  private onDirChange(data: Uint8Array): void {
    const c = decodeObject(data);
    if (!c || !isBeat(c) || c.node === this.node || !isRecord(c['rec'])) return;
    const peer = this.peers.get(c.node);
    // unknown yet, or a change during a sync: the next heartbeat's seq brings it in
    if (!peer || peer.boot !== c.boot || peer.syncing) return;
    if (c.seq !== peer.seq + 1) {
      void this.sync(c.node, peer);
      return;
    }
    peer.seq = c.seq;
    const rec: CalleeRecord = c['rec'];
    if (c['op'] === 'add') this.remote.add(c.node, rec);
    else this.remote.remove(c.node, `${rec.realm}\u0000${rec.match}\u0000${rec.uri}\u0000${rec.session}`);
  }

  // ----- calls -----

  private onToCallee(data: Uint8Array): void {
    const m = toCalleeOf(decodeObject(data));
    if (!m) {
      this.failures.labels('bad_message').inc();
      return;
    }
    // calls from a node this one does not know (yet, or any more) are taken all the
    // same: its callers wait for the answer
    this.home.handle(m);
  }

  private onToCaller(data: Uint8Array): void {
    const m = decodeObject(data);
    if (!m || typeof m['id'] !== 'number') {
      this.failures.labels('bad_message').inc();
      return;
    }
    if (m['k'] === 'result') {
      const payload = payloadOf(m['payload']);
      if (!payload) {
        this.failures.labels('bad_message').inc();
        return;
      }
      this.remote.result(m['id'], payload, m['progress'] === true);
    } else if (m['k'] === 'error') {
      this.remote.error(m['id'], failureOf(m['error']));
    } else {
      this.failures.labels('bad_message').inc();
    }
  }

  // ----- session meta -----

  private async askMeta(node: string, req: MetaRequest): Promise<MetaReply> {
    const msg = await this.nc.request(this.subjects.meta(node), encode(req), { timeout: this.metaTimeoutMs });
    const reply = metaReplyOf(decodeObject(msg.data));
    if (!reply) {
      // another node sent garbage: counted like every bad cluster message; the meta call
      // leaves that node out (SessionMeta.askAll), so no client sees this error
      this.failures.labels('bad_message').inc();
      throw new RouterError(Errors.internal, `node ${node} sent an unreadable meta reply`);
    }
    return reply;
  }

  private onMeta(data: Uint8Array, reply: string | undefined): void {
    const req = metaRequestOf(decodeObject(data));
    if (!req || !reply) return;
    void this.meta
      .answer(req, (name) => this.router.findRealm(name), 'cluster')
      .then((answer) => {
        if (!this.nc.isClosed()) this.nc.publish(reply, encode(answer));
      });
  }
}

/** A fraction in [0, 1) from the node id: the same on every node, different per node. */
function nodeFraction(node: string): number {
  return createHash('sha256').update(node).digest().readUInt32BE(0) / 2 ** 32;
}
