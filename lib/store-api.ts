import { valueOf } from './condition';
import { Errors, RouterError } from './errors';
import { isPlainObject, type Payload } from './payload';
import type { Realm } from './realm';
import type { RetainedTopics } from './retained';
import type { StoreEntry } from './store/types';
import type { Session } from './session';
import { after, type MaybePromise } from './settle';
import { isValidUri, parsePattern, type MatchPolicy, type TopicPattern } from './topic';

const MAX_PAGE = 1000;
const DEFAULT_PAGE = 100;

/** A stored key as store readers see it (RPC and the HTTP API). */
export interface EntryView {
  key: string;
  value: unknown;
  headers?: Record<string, unknown>;
  revision: number;
  expiresAt?: number;
}

export interface ListOptions {
  /** exact, prefix or wildcard; anything else is refused (invalid_uri) */
  match?: string;
  limit?: number;
  /** the cursor: keys after this one */
  after?: string;
}

export interface ListPage {
  entries: EntryView[];
  /** the cursor of the next page; null when this was the last */
  next: string | null;
}

/**
 * Store access by RPC, for clients of any protocol:
 *   gatehouse.store.get(key)                         -> entry | null
 *   gatehouse.store.list(pattern, {match, limit, after}) -> { entries, next }
 *   gatehouse.store.delete(key)                      -> { revision } | null
 * An entry is { key, value, headers?, revision, expiresAt? } where value is what a
 * retained publish stored (fox-wamp: Arguments[0], or the list, or the bytes).
 * The same reads serve the HTTP API (gates/http/handlers/store.ts): storeGet,
 * storeList, storeDelete below.
 */
export function installStoreApi(realm: Realm, retained: RetainedTopics): void {
  // Calling a store procedure needs `call` on its URI (checked by the realm); the data
  // behind it needs what a topic would: subscribe to read a key, retain to delete one.
  realm.builtins.set('gatehouse.store.get', (caller, args) => one(storeGet(realm, retained, caller, keyArg(args[0]))));

  realm.builtins.set('gatehouse.store.list', (caller, args, kw) => {
    const options = isPlainObject(args[1]) ? args[1] : kw;
    const uri = typeof args[0] === 'string' ? args[0] : '';
    return one(storeList(realm, retained, caller, uri, listOptions(options)));
  });

  realm.builtins.set('gatehouse.store.delete', (caller, args) => one(storeDelete(realm, retained, caller, keyArg(args[0]))));
}

function one<T>(v: MaybePromise<T>): MaybePromise<Payload> {
  return v instanceof Promise ? v.then((x) => ({ args: [x] })) : { args: [v] };
}

function listOptions(o: Record<string, unknown>): ListOptions {
  const out: ListOptions = {};
  const match = o['match'];
  if (match !== undefined) out.match = typeof match === 'string' ? match : JSON.stringify(match);
  if (typeof o['limit'] === 'number') out.limit = o['limit'];
  if (typeof o['after'] === 'string') out.after = o['after'];
  return out;
}

/** One key, or null; needs subscribe on the key. */
export function storeGet(realm: Realm, retained: RetainedTopics, caller: Session, key: string): MaybePromise<EntryView | null> {
  return after(realm.authorize(caller, 'subscribe', key), () => {
    const e = retained.get(key);
    return e ? entryView(e) : null;
  });
}

/** Deletes a key (published like an empty retained publish); null when it was absent. Needs retain on the key. */
export function storeDelete(
  realm: Realm,
  retained: RetainedTopics,
  caller: Session,
  key: string,
): MaybePromise<{ revision: number | undefined } | null> {
  return after(realm.authorize(caller, 'retain', key), async () => {
    if (!retained.get(key)) return null;
    const ack = await retained.delete(caller, key);
    realm.audit(caller, 'store.delete', { key, revision: ack.revision });
    return { revision: ack.revision };
  });
}

/**
 * One page of the keys matching `uri` (match: exact for a key, prefix when `uri` is
 * empty), in key order; keys the caller may not read (subscribe) are left out. Needs
 * subscribe on the pattern.
 */
export function storeList(
  realm: Realm,
  retained: RetainedTopics,
  caller: Session,
  uri: string,
  options: ListOptions,
): MaybePromise<ListPage> {
  const match = (options.match ?? (uri === '' ? 'prefix' : 'exact')) as MatchPolicy;
  // the empty prefix: every key (the whole listing)
  const pattern: TopicPattern | null =
    uri === '' && match === 'prefix' ? { uri: '', match, key: 'prefix:' } : parsePattern(uri, match);
  if (!pattern) throw new RouterError(Errors.invalidUri, `invalid key pattern: ${uri}`);
  return after(realm.authorize(caller, 'subscribe', pattern), () => listPage(realm, retained, caller, pattern, options));
}

/** Reads the store's paged range (RetainedTopics.page) until the page is full or the range ends. */
function listPage(
  realm: Realm,
  retained: RetainedTopics,
  caller: Session,
  pattern: TopicPattern,
  options: ListOptions,
): ListPage {
  const limit = Math.min(options.limit !== undefined && options.limit > 0 ? Math.floor(options.limit) : DEFAULT_PAGE, MAX_PAGE);
  const found: StoreEntry[] = [];
  let cursor = options.after;
  // one more than the page, to know whether a next page exists
  while (found.length <= limit) {
    const page = retained.page(pattern, cursor, limit + 1);
    for (const e of page.entries)
      if ((options.after === undefined || e.key > options.after) && realm.mayReceive(caller, e.key)) found.push(e);
    if (page.next === undefined) break;
    cursor = page.next;
  }
  const entries = found.slice(0, limit);
  const next = found.length > limit ? (entries[entries.length - 1]?.key ?? null) : null;
  return { entries: entries.map(entryView), next };
}

function keyArg(v: unknown): string {
  if (typeof v !== 'string' || !isValidUri(v)) throw new RouterError(Errors.invalidUri, 'a key (topic URI) is required');
  return v;
}

export function entryView(e: StoreEntry): EntryView {
  const view: EntryView = { key: e.key, value: valueOf(e.value), revision: e.revision };
  if (e.value.kwargs) view.headers = e.value.kwargs;
  if (e.expiresAt !== undefined) view.expiresAt = e.expiresAt;
  return view;
}
