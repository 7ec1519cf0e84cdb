import type { KvChange, KvEntry } from './kv-engine';

/**
 * The catch-up of a watch with `fromRevision` on an engine that keeps no usable history
 * per key: the live entries at or after `from` (a snapshot read after the live feed was
 * opened), merged with the changes that feed buffered while the snapshot was read. Both
 * may hold the same change; merged in revision order and deduplicated by (key,
 * revision), nothing is missed and nothing is reported twice. Returns each key's last
 * reported revision: the live feed reports only what is newer.
 */
export function catchUp(
  snapshot: readonly KvEntry[],
  from: number,
  buffered: readonly KvChange[],
  onChange: (c: KvChange) => void,
): Map<string, number> {
  const all: KvChange[] = [];
  for (const entry of snapshot)
    if (entry.revision >= from) all.push({ op: 'put', key: entry.key, revision: entry.revision, entry });
  for (const c of buffered) if (c.revision >= from) all.push(c);
  all.sort((a, b) => a.revision - b.revision);
  const delivered = new Map<string, number>();
  for (const c of all) {
    if ((delivered.get(c.key) ?? 0) >= c.revision) continue;
    delivered.set(c.key, c.revision);
    onChange(c);
  }
  return delivered;
}
