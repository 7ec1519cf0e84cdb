import { valueOf } from './condition';
import { Errors, RouterError } from './errors';
import { isPlainObject, type Payload } from './payload';
import type { Realm } from './realm';
import type { RetainedTopics } from './retained';
import type { StoreEntry } from './store/types';
import type { Session } from './session';
import { after } from './settle';
import { isValidUri, parsePattern, type MatchPolicy, type TopicPattern } from './topic';

const MAX_PAGE = 1000;

/**
 * Store access by RPC, for clients of any protocol:
 *   gatehouse.store.get(key)                         -> entry | null
 *   gatehouse.store.list(pattern, {match, limit, after}) -> { entries, next }
 *   gatehouse.store.delete(key)                      -> { revision } | null
 * An entry is { key, value, headers?, revision, expiresAt? } where value is what a
 * retained publish stored (fox-wamp: Arguments[0], or the list, or the bytes).
 */
export function installStoreApi(realm: Realm, retained: RetainedTopics): void {
  // Calling a store procedure needs `call` on its URI (checked by the realm); the data
  // behind it needs what a topic would: subscribe to read a key, retain to delete one.
  realm.builtins.set('gatehouse.store.get', (caller, args) => {
    const key = keyArg(args[0]);
    return after(realm.authorize(caller, 'subscribe', key), () => {
      const e = retained.get(key);
      return { args: [e ? entryView(e) : null] };
    });
  });

  realm.builtins.set('gatehouse.store.list', (caller, args, kw) => {
    const options = isPlainObject(args[1]) ? args[1] : kw;
    const uri = typeof args[0] === 'string' ? args[0] : '';
    const match = (options['match'] ?? (uri === '' ? 'prefix' : 'exact')) as MatchPolicy;
    const pattern = parsePattern(uri, match);
    if (!pattern) throw new RouterError(Errors.invalidUri, `invalid key pattern: ${uri}`);
    return after(realm.authorize(caller, 'subscribe', pattern), () => listPage(realm, retained, caller, pattern, options));
  });

  realm.builtins.set('gatehouse.store.delete', (caller, args) => {
    const key = keyArg(args[0]);
    return after(realm.authorize(caller, 'retain', key), async () => {
      if (!retained.get(key)) return { args: [null] };
      const ack = await retained.delete(caller, key);
      realm.audit(caller, 'store.delete', { key, revision: ack.revision });
      return { args: [{ revision: ack.revision }] } satisfies Payload;
    });
  });
}

/**
 * One page of a key listing; keys the caller may not read (subscribe) are left out. Read
 * through the store's paged range read (keys in order after the cursor), so a page costs
 * the keys it passes, not a sort of the realm's whole key set; one key beyond the page
 * tells whether there is a next one.
 */
function listPage(
  realm: Realm,
  retained: RetainedTopics,
  caller: Session,
  pattern: TopicPattern,
  options: Record<string, unknown>,
): Payload {
  const limit = Math.min(typeof options['limit'] === 'number' && options['limit'] > 0 ? options['limit'] : 100, MAX_PAGE);
  let after = typeof options['after'] === 'string' ? options['after'] : undefined;
  const found: StoreEntry[] = [];
  for (;;) {
    const scan = retained.page(pattern, after, limit + 1);
    for (const e of scan.entries) {
      if (realm.mayReceive(caller, e.key)) found.push(e);
      if (found.length > limit) break;
    }
    if (found.length > limit || scan.next === undefined) break;
    after = scan.next;
  }
  const page = found.slice(0, limit);
  const next = found.length > limit ? (page[page.length - 1]?.key ?? null) : null;
  return { args: [{ entries: page.map(entryView), next }] };
}

function keyArg(v: unknown): string {
  if (typeof v !== 'string' || !isValidUri(v)) throw new RouterError(Errors.invalidUri, 'a key (topic URI) is required');
  return v;
}

function entryView(e: StoreEntry): Record<string, unknown> {
  const view: Record<string, unknown> = { key: e.key, value: valueOf(e.value), revision: e.revision };
  if (e.value.kwargs) view['headers'] = e.value.kwargs;
  if (e.expiresAt !== undefined) view['expiresAt'] = e.expiresAt;
  return view;
}
