import { valueOf } from './condition';
import { Errors, RouterError } from './errors';
import { isPlainObject, type Payload } from './payload';
import type { Realm } from './realm';
import type { RetainedTopics } from './retained';
import type { StoreEntry } from './store/types';
import { isValidUri, parsePattern, type MatchPolicy } from './topic';

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
  realm.builtins.set('gatehouse.store.get', (_caller, args) => {
    const key = keyArg(args[0]);
    const e = retained.get(key);
    return { args: [e ? entryView(e) : null] };
  });

  realm.builtins.set('gatehouse.store.list', (_caller, args, kw) => {
    const options = isPlainObject(args[1]) ? args[1] : kw;
    const uri = typeof args[0] === 'string' ? args[0] : '';
    const match = (options['match'] ?? (uri === '' ? 'prefix' : 'exact')) as MatchPolicy;
    const pattern = parsePattern(uri, match);
    if (!pattern) throw new RouterError(Errors.invalidUri, `invalid key pattern: ${uri}`);
    const limit = Math.min(typeof options['limit'] === 'number' && options['limit'] > 0 ? options['limit'] : 100, MAX_PAGE);
    const after = typeof options['after'] === 'string' ? options['after'] : undefined;
    const keys = retained
      .matching(pattern)
      .filter((e) => after === undefined || e.key > after)
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const page = keys.slice(0, limit);
    const next = keys.length > limit ? (page[page.length - 1]?.key ?? null) : null;
    return { args: [{ entries: page.map(entryView), next }] };
  });

  realm.builtins.set('gatehouse.store.delete', async (caller, args) => {
    const key = keyArg(args[0]);
    if (!retained.get(key)) return { args: [null] };
    const ack = await retained.delete(caller, key);
    return { args: [{ revision: ack.revision }] } satisfies Payload;
  });
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
