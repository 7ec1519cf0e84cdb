import { Errors, RouterError } from '../errors';
import type { Payload } from '../payload';
import type { TestamentRecord } from '../testaments';
import type { KvEngine, KvEntry } from './kv-engine';

/**
 * Wills as leases, on any KvEngine. A will belongs to `{node, session}`; each node holds a
 * lease (a key with an expiry) that it renews; when a lease lapses, whichever node sees
 * it first claims it (a conditional delete: exactly one claimant wins) and fires that
 * node's wills. Each will is claimed on its own the same way before it is applied, so a
 * will fires at most once even when claimants race. A claimant that crashes between
 * claiming a will and applying it loses that will (at most once, never twice).
 *
 * Keys, in the `meta` engine (a bucket of its own):
 *   lease.<node>                          {expiresAt}
 *   will.<node>.<session>.<realm>.<key>   {realm, key, value | null}
 *   will.<node>.<session>._t<id>          the testament's payload, its record in the meta
 * Node ids and session ids contain no '.', so `will.<node>.` lists exactly one node's
 * wills. A testament's key has no '.' after the session, a store will's has at least
 * one (between realm and key): they never collide. A node that restarts takes a new node
 * id (name + boot id): its predecessor's lease then lapses and its wills fire.
 *
 * Lapse is judged by the checker's clock against the holder's: `graceMs` absorbs clock
 * skew between routers.
 */
export interface WillOwner {
  readonly node: string;
  readonly session: string;
}

export interface FiredWill {
  readonly owner: WillOwner;
  readonly realm: string;
  readonly key: string;
  /** the value written, or null: the key was deleted */
  readonly value: Payload | null;
}

interface WillRecord {
  realm: string;
  key: string;
  session: string;
  value: Payload | null;
}

export class Leases {
  /** the revision of each lease this instance holds */
  private readonly held = new Map<string, number>();

  constructor(
    private readonly meta: KvEngine,
    /** the engine of a realm, where wills are applied */
    private readonly realmEngine: (realm: string) => KvEngine | Promise<KvEngine>,
    private readonly graceMs = 0,
    /**
     * Applies a claimed will instead of the plain put / delete on the realm's engine: the
     * router's own path (lib/retained.ts fireLeaseWill), which checks that the value still
     * carries the will and publishes the change to subscribers.
     */
    private readonly applyWill?: (will: FiredWill) => Promise<void>,
    /** fires a testament claimed after its node's lease lapsed (lib/store/jetstream/node.ts) */
    private readonly applyTestament?: (record: TestamentRecord) => Promise<void>,
  ) {}

  /**
   * Takes or renews the node's lease until now + ttlMs. Throws `condition_failed` when
   * the lease was lost meanwhile (it lapsed and its wills fired): the node's sessions
   * must then be treated as gone. `now` is the holder's clock, as `check`'s is the
   * checker's (a test moves both instead of waiting for a lease to lapse).
   */
  async renew(node: string, ttlMs: number, now = Date.now()): Promise<void> {
    checkId(node, 'node');
    // Not knowing our revision (the last renewal failed, or one timed out and may have
    // been written after all) is not the same as having no lease: a lease key still
    // there was never claimed (only this node writes it, claimants delete it), so it is
    // renewed at its revision. Expecting it absent would fail at every renewal until
    // the live lease lapsed and another node fired the wills of sessions still here.
    const held = this.held.get(node) ?? (await this.meta.get(leaseKey(node)))?.revision;
    try {
      const revision = await this.meta.put(leaseKey(node), { kwargs: { expiresAt: now + ttlMs } }, { expect: held ?? 'absent' });
      this.held.set(node, revision);
    } catch (err) {
      this.held.delete(node);
      throw err;
    }
  }

  /** gives the lease up without firing wills (a clean shutdown that cleared them first) */
  async release(node: string): Promise<void> {
    const held = this.held.get(node);
    this.held.delete(node);
    if (held === undefined) return;
    try {
      await this.meta.delete(leaseKey(node), { expect: held });
    } catch {
      // already claimed: its wills fired, nothing left to give up
    }
  }

  /** sets (replaces) the will a session holds on a realm key */
  async setWill(owner: WillOwner, realm: string, key: string, value: Payload | null): Promise<void> {
    checkId(owner.node, 'node');
    checkId(owner.session, 'session');
    const record: WillRecord = { realm, key, session: owner.session, value };
    await this.meta.put(willKey(owner, realm, key), { kwargs: { will: record } });
  }

  /** cancels a will (the session overwrote the key, or ended cleanly) */
  async clearWill(owner: WillOwner, realm: string, key: string): Promise<void> {
    await this.meta.delete(willKey(owner, realm, key));
  }

  /**
   * Records a WAMP testament or MQTT will (lib/testaments.ts), to be fired by whichever
   * node claims it once this node's lease lapsed. `id`: unique per node, no '.'. Returns
   * the record's revision: the local fire claims it at that revision (claimTestament).
   */
  async setTestament(owner: WillOwner, id: string, record: TestamentRecord): Promise<number> {
    checkId(owner.node, 'node');
    checkId(owner.session, 'session');
    checkId(id, 'testament');
    const { payload, ...rest } = record;
    // the payload as the value (bytes stay bytes), the rest kept as the record's meta
    return this.meta.put(testamentKey(owner, id), payload, { meta: { [TESTAMENT_META]: rest } });
  }

  /**
   * Claims a testament before its node fires it itself: true when this claim won (fire
   * it), false when it is gone already (another node claimed it after a lapse).
   */
  async claimTestament(owner: WillOwner, id: string, revision: number): Promise<boolean> {
    try {
      await this.meta.delete(testamentKey(owner, id), { expect: revision });
      return true;
    } catch (err) {
      if (err instanceof RouterError && err.def === Errors.conditionFailed) return false;
      throw err;
    }
  }

  /** removes a testament that will not fire (flushed, replaced, a clean MQTT DISCONNECT) */
  async clearTestament(owner: WillOwner, id: string): Promise<void> {
    await this.meta.delete(testamentKey(owner, id));
  }

  /**
   * The session was lost while its node lives: fires its store wills. Its testaments are
   * not claimed here: the node fires them itself (lib/testaments.ts), each claimed first.
   */
  fireSession(owner: WillOwner): Promise<FiredWill[]> {
    return this.fireUnder(`will.${owner.node}.${owner.session}.`, owner.node, false);
  }

  /**
   * Claims every lease lapsed at `now` (at most one checker wins each) and fires the
   * wills of its node. Returns the wills this instance fired.
   */
  async check(now: number): Promise<FiredWill[]> {
    const fired: FiredWill[] = [];
    for (const lease of await this.all('lease.')) {
      const expiresAt = lease.value.kwargs?.['expiresAt'];
      if (typeof expiresAt !== 'number' || expiresAt + this.graceMs > now) continue;
      const node = lease.key.slice('lease.'.length);
      try {
        await this.meta.delete(lease.key, { expect: lease.revision });
      } catch (err) {
        if (err instanceof RouterError && err.def === Errors.conditionFailed) continue; // renewed, or claimed by another
        throw err;
      }
      fired.push(...(await this.fireUnder(`will.${node}.`, node, true)));
    }
    return fired;
  }

  private async fireUnder(prefix: string, node: string, testaments: boolean): Promise<FiredWill[]> {
    const fired: FiredWill[] = [];
    for (const e of await this.all(prefix)) {
      const rest = e.meta?.[TESTAMENT_META] as Omit<TestamentRecord, 'payload'> | undefined;
      if (rest !== undefined) {
        if (testaments && this.applyTestament !== undefined && (await this.claim(e)))
          await this.applyTestament({ ...rest, payload: e.value });
        continue;
      }
      const record = e.value.kwargs?.['will'] as WillRecord | undefined;
      if (record === undefined) continue;
      try {
        await this.meta.delete(e.key, { expect: e.revision }); // the claim
      } catch (err) {
        if (err instanceof RouterError && err.def === Errors.conditionFailed) continue;
        throw err;
      }
      const will: FiredWill = {
        owner: { node, session: record.session },
        realm: record.realm,
        key: record.key,
        value: record.value,
      };
      if (this.applyWill !== undefined) {
        await this.applyWill(will);
      } else {
        const engine = await this.realmEngine(record.realm);
        if (record.value === null) await engine.delete(record.key);
        else await engine.put(record.key, record.value);
      }
      fired.push(will);
    }
    return fired;
  }

  /** a conditional delete at the entry's revision: exactly one claimant wins */
  private async claim(e: KvEntry): Promise<boolean> {
    try {
      await this.meta.delete(e.key, { expect: e.revision });
      return true;
    } catch (err) {
      if (err instanceof RouterError && err.def === Errors.conditionFailed) return false;
      throw err;
    }
  }

  private async all(prefix: string): Promise<KvEntry[]> {
    const out: KvEntry[] = [];
    for (let after: string | undefined; ;) {
      const page = await this.meta.range({ prefix, after, limit: 256 });
      out.push(...page);
      const last = page.at(-1);
      if (page.length < 256 || last === undefined) return out;
      after = last.key;
    }
  }
}

function leaseKey(node: string): string {
  return `lease.${node}`;
}

function willKey(owner: WillOwner, realm: string, key: string): string {
  return `will.${owner.node}.${owner.session}.${realm}.${key}`;
}

/** the meta field of a testament's record */
const TESTAMENT_META = 'testament';

function testamentKey(owner: WillOwner, id: string): string {
  return `will.${owner.node}.${owner.session}._t${id}`;
}

function checkId(id: string, what: string): void {
  if (id === '' || id.includes('.')) throw new RouterError(Errors.invalidArgument, `${what} id must be non-empty without '.'`);
}
