import { isPlainObject, type Payload } from '../../payload';

/**
 * The meta field a retained value carries its will in: who owns it (node and session)
 * and what it writes. Kept in the value itself, so any router that fires the will (the
 * owner's, or the one that finds the owner's lease lapsed, lib/store/leases.ts) sees
 * whether the will still stands: a later write without a will replaces the value and
 * with it the will.
 */
export const WILL_META = '$will';

export interface WillTag {
  node: string;
  session: number;
  value: Payload | null;
}

/** the will a stored value carries, if any */
export function willTagOf(entry: { readonly meta?: Readonly<Record<string, unknown>> }): WillTag | undefined {
  const raw = entry.meta?.[WILL_META];
  if (typeof raw !== 'object' || raw === null) return undefined;
  const t = raw as Record<string, unknown>;
  if (typeof t['node'] !== 'string' || typeof t['session'] !== 'number') return undefined;
  const value = t['value'];
  return { node: t['node'], session: t['session'], value: isPlainObject(value) ? value : null };
}
