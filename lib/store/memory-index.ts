import { ExpiryHeap } from './expiry-heap';
import type { Payload } from '../payload';
import { SortedKeys } from './sorted-keys';
import type { StoreEntry, StoreWill } from './types';

/**
 * The live state of the store, engine-neutral: one Map of entries per realm, the realm
 * revisions, which session owns which wills, and the expiry order. Engines make it
 * durable; this class never does I/O. Every change goes through `put` / `remove`, so
 * the secondary indexes cannot drift from the entries.
 */
export class MemoryIndex {
  private readonly realms = new Map<string, Map<string, StoreEntry>>();
  /** each realm's keys in order, for paged range reads */
  private readonly sorted = new Map<string, SortedKeys>();
  private readonly revisions = new Map<string, number>();
  /** session -> entries whose will it owns */
  private readonly wills = new Map<number, Set<StoreEntry>>();
  /** wills loaded from a previous process: their session ids mean nothing now */
  private readonly orphans = new WeakSet<StoreEntry>();
  private readonly expiry = new ExpiryHeap<StoreEntry>((e) => this.isCurrent(e));
  /** live entries with an expiresAt; bounds how many dead heap items we tolerate */
  private expiring = 0;
  private count = 0;

  get keys(): number {
    return this.count;
  }

  /** the stored entry, expired or not */
  current(realm: string, key: string): StoreEntry | undefined {
    return this.realms.get(realm)?.get(key);
  }

  isCurrent(entry: StoreEntry): boolean {
    return this.realms.get(entry.realm)?.get(entry.key) === entry;
  }

  /** entries stored in a realm (expired ones not yet removed included) */
  realmSize(realm: string): number {
    return this.realms.get(realm)?.size ?? 0;
  }

  realmEntries(realm: string): IterableIterator<StoreEntry> | undefined {
    return this.realms.get(realm)?.values();
  }

  /**
   * Stored entries (expired ones included) whose keys start with `prefix`, in key order,
   * strictly after `after` when given; the caller stops when it has enough.
   */
  *range(realm: string, prefix: string, after?: string): Generator<StoreEntry, void, undefined> {
    const map = this.realms.get(realm);
    const keys = this.sorted.get(realm);
    if (map === undefined || keys === undefined) return;
    for (const key of keys.from(prefix, after)) {
      if (!key.startsWith(prefix)) return;
      const entry = map.get(key);
      if (entry !== undefined) yield entry;
    }
  }

  revision(realm: string): number {
    return this.revisions.get(realm) ?? 0;
  }

  nextRevision(realm: string): number {
    const rev = (this.revisions.get(realm) ?? 0) + 1;
    this.revisions.set(realm, rev);
    return rev;
  }

  /** only raises a realm's revision: used when loading, where rows and meta may differ */
  raiseRevision(realm: string, rev: number): void {
    if (rev > (this.revisions.get(realm) ?? 0)) this.revisions.set(realm, rev);
  }

  /** stores an entry, replacing the key's previous one; `orphan` marks a loaded will */
  put(entry: StoreEntry, orphan = false): void {
    let realm = this.realms.get(entry.realm);
    if (realm === undefined) {
      realm = new Map();
      this.realms.set(entry.realm, realm);
    }
    const old = realm.get(entry.key);
    if (old !== undefined) this.unindex(old);
    else {
      this.count++;
      let keys = this.sorted.get(entry.realm);
      if (keys === undefined) this.sorted.set(entry.realm, (keys = new SortedKeys()));
      keys.add(entry.key);
    }
    realm.set(entry.key, entry);

    if (orphan) this.orphans.add(entry);
    if (entry.will !== undefined && !this.orphans.has(entry)) {
      let set = this.wills.get(entry.will.session);
      if (set === undefined) {
        set = new Set();
        this.wills.set(entry.will.session, set);
      }
      set.add(entry);
    }
    if (entry.expiresAt !== undefined) {
      this.expiring++;
      this.expiry.push(entry);
      if (this.expiry.size > 1024 + 2 * this.expiring) this.expiry.compact();
    }
  }

  remove(realm: string, key: string): StoreEntry | undefined {
    const map = this.realms.get(realm);
    const old = map?.get(key);
    if (map === undefined || old === undefined) return undefined;
    map.delete(key);
    this.sorted.get(realm)?.delete(key);
    if (map.size === 0) {
      this.realms.delete(realm);
      this.sorted.delete(realm);
    }
    this.unindex(old);
    this.count--;
    return old;
  }

  willsOf(session: number): IterableIterator<StoreEntry> | undefined {
    return this.wills.get(session)?.values();
  }

  /** earliest expiresAt among entries (dead heap items are dropped on the way) */
  nextExpiry(): number | undefined {
    return this.expiry.peek()?.expiresAt;
  }

  /** the earliest entry if it expired at `now` (still stored: the caller removes it) */
  firstExpired(now: number): StoreEntry | undefined {
    const top = this.expiry.peek();
    return top?.expiresAt !== undefined && top.expiresAt <= now ? top : undefined;
  }

  private unindex(old: StoreEntry): void {
    if (old.will !== undefined) {
      const set = this.wills.get(old.will.session);
      if (set !== undefined && set.delete(old) && set.size === 0) this.wills.delete(old.will.session);
    }
    // the heap item goes lazily: it is no longer current, so peek() discards it
    if (old.expiresAt !== undefined) this.expiring--;
  }
}

/** whether an entry is still alive at `now` */
export function isLive(entry: StoreEntry, now: number): boolean {
  return entry.expiresAt === undefined || entry.expiresAt > now;
}

/** builds an entry without undefined-valued properties, so entries compare cleanly */
export function makeEntry(
  realm: string,
  key: string,
  value: Payload,
  revision: number,
  expiresAt: number | undefined,
  will: StoreWill | undefined,
  meta?: Readonly<Record<string, unknown>>,
): StoreEntry {
  const entry: { -readonly [K in keyof StoreEntry]: StoreEntry[K] } = { realm, key, value, revision };
  if (expiresAt !== undefined) entry.expiresAt = expiresAt;
  if (will !== undefined) entry.will = { session: will.session, value: will.value };
  if (meta !== undefined) entry.meta = meta;
  return entry;
}
